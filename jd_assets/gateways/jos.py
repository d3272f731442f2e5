"""JD Open Platform (JOS) router: order windows, one order, logistics tracks. Read-only.

What is this gateway's own (retries, rate limit, timeouts and redaction are the shared layer's):
- signing (jd_assets.gateways.signing.jos_sign) of every request, with a Beijing-time ``timestamp``
  computed again for every attempt (the router refuses more than 6 minutes of skew);
- the two dialects of the order methods (docs/GATEWAYS.md §2): ``live`` (``jingdong.pop.order.search``,
  camelCase fields, ids and money as strings) and ``seed`` (``jingdong.pop.orders.get``, snake_case
  fields); the methods are named in one place, ``JOS_METHODS``, the record fields in another,
  jd_assets.jos_fields;
- the router's error table (``ROUTER_CODES``), the ``<method>_responce`` wrapper (sic), and the live
  ``apiResult.success`` layer;
- window splitting and paging.

**Read-only.** The package never changes an order: ``JOS_METHODS`` has no ship (or any other write)
method, and ``JosClient`` refuses to send any method that is not in it (``jingdong.pop.order.ship``
is named in ``FORBIDDEN_METHODS`` so that the refusal says why).

Router error choices (see ``ROUTER_CODES``): codes 7/8 (timestamp missing or rejected) are not retried:
the client computes the timestamp itself, so a rejection means the local clock is off by more than 6
minutes, a ConfigError that stops the run (retrying would fail the same way). Signature (11/12) and
access-token (19/401) rejections are AuthErrors; the call limit (2) is a RateLimitedError; a parameter
error (3001) or an invalid order (402) fails the partition; 500/503 (or any unknown code on an HTTP 5xx
answer) are transient; any other unknown code fails the partition, naming the code.

Windows are inclusive to the second, ``[start, end]``, like the router's ``start_date``/``end_date``,
in Beijing time (naive datetimes are taken as Beijing time, aware ones are converted; fractions of a
second are dropped). A daily partition is the one window ``[day 00:00:00, day 23:59:59]`` (docs/DESIGN.md);
a longer range is split into consecutive windows of at most ``max_window_days`` days that neither
overlap nor leave a second out. (A caller holding a half-open ``[start, end)`` passes ``end - 1 s``.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import dagster as dg
from pydantic import Field, field_validator

from jd_assets import jos_fields
from jd_assets.conventions import BEIJING, TIME_FORMAT, require_jd_id
from jd_assets.errors import (
    AuthError,
    ConfigError,
    GatewayError,
    PartitionError,
    RateLimitedError,
    TransientError,
)
from jd_assets.gateways.signing import jos_sign
from jd_assets.http.layer import CallStats, GatewayHttp, Reply, error_for_code
from jd_assets.http.resource import GatewayResource

GATEWAY = "jos"
PAGE_SIZE = 100
MAX_PAGES_PER_WINDOW = 1000
API_VERSION = "2.0"

# The one place naming the order methods of each dialect. Read-only: no write method is listed.
JOS_METHODS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        jos_fields.LIVE: MappingProxyType(
            {
                "search": "jingdong.pop.order.search",
                "get": "jingdong.pop.order.get",
                "track": "jingdong.pop.order.track",
            }
        ),
        jos_fields.SEED: MappingProxyType(
            {
                "search": "jingdong.pop.orders.get",
                "get": "jingdong.pop.order.get",
                "track": "jingdong.pop.order.track",
            }
        ),
    }
)
DIALECTS = jos_fields.DIALECTS
READ_ONLY_METHODS = frozenset(m for methods in JOS_METHODS.values() for m in methods.values())
FORBIDDEN_METHODS = frozenset({"jingdong.pop.order.ship"})

#: The order states the router documents, with their Chinese labels: the one list of them.
ORDER_STATE_LABELS = {
    "WAIT_SELLER_STOCK_OUT": "等待出库",
    "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
    "WAIT_SELLER_DELIVERY": "等待发货",
    "PAUSE": "暂停",
    "FINISHED_L": "完成",
    "TRADE_CANCELED": "取消",
    "LOCKED": "已锁定",
    "POP_ORDER_PAUSE": "POP暂停",
}
ORDER_STATES = tuple(ORDER_STATE_LABELS)
# Live dialect: the router returns only the fields asked for (``optional_fields`` is required).
LIVE_OPTIONAL_FIELDS = ",".join(
    (
        "orderId",
        "venderId",
        "orderType",
        "payType",
        "orderTotalPrice",
        "orderSellerPrice",
        "orderPayment",
        "freightPrice",
        "sellerDiscount",
        "orderState",
        "orderStateRemark",
        "deliveryType",
        "orderRemark",
        "orderStartTime",
        "orderEndTime",
        "paymentConfirmTime",
        "modified",
        "consigneeInfo",
        "itemInfoList",
        "waybill",
        "logisticsId",
    )
)

# Router error codes (docs/GATEWAYS.md §2 and seed 003) → (error class, message). ``{what}`` names the window
# or order, ``{code}`` the code. Anything else fails the partition, naming the code.
ROUTER_CODES: Mapping[str, tuple[type[GatewayError], str]] = {
    "2": (RateLimitedError, "call limit reached (router code 2)"),
    "4": (ConfigError, "API version missing (router code 4): check JD_JOS_BASE_URL"),
    "5": (ConfigError, "API version not supported (router code 5): check JD_JOS_BASE_URL"),
    "7": (ConfigError, "timestamp missing (router code 7): the local clock is off by more than 6 minutes"),
    "8": (ConfigError, "timestamp rejected (router code 8): the local clock is off by more than 6 minutes"),
    "11": (AuthError, "signature missing (router code 11): check JD_JOS_APP_SECRET and JD_JOS_APP_KEY"),
    "12": (AuthError, "invalid signature (router code 12): check JD_JOS_APP_SECRET and JD_JOS_APP_KEY"),
    "14": (ConfigError, "method missing (router code 14) calling {method}"),
    "15": (
        ConfigError,
        "method {method} refused (router code 15): check the app's API permissions and the dialect",
    ),
    "19": (AuthError, "access token invalid (router code 19): refresh JD_JOS_ACCESS_TOKEN"),
    "401": (
        AuthError,
        "access token expired or invalid, or a signature error (code 401): refresh JD_JOS_ACCESS_TOKEN, "
        "and check JD_JOS_APP_KEY and JD_JOS_APP_SECRET",
    ),
    # seed 002: "403 Insufficient permissions or rate limit exceeded": retried as a rate limit; what is
    # still refused after the retries fails the partition, saying which permission may be missing.
    "403": (
        RateLimitedError,
        "insufficient permissions or rate limit exceeded (code 403) calling {method}: if it persists, add "
        "the {method} permission to the app",
    ),
    "400": (PartitionError, "parameter format error or missing required parameter (code 400) for {what}"),
    "409": (PartitionError, "status conflict (code 409) for {what}"),
    "500": (TransientError, "router internal error (code 500) for {what}"),
    "503": (TransientError, "router unavailable (code 503) for {what}"),
    "3001": (PartitionError, "parameter error (code 3001) for {what}"),
    "402": (PartitionError, "invalid order id or no access (code 402) for {what}"),
}


@dataclass(frozen=True)
class OrderPage:
    """One page of orders of one window; ``orders`` as received. The window bounds are the inclusive
    ``start_date``/``end_date`` sent to the router, Beijing time (naive)."""

    window_start: datetime
    window_end: datetime
    page: int
    orders: list[dict]
    total: int | None


@dataclass(frozen=True)
class OrderKeys:
    """The keys of an order record, whatever the dialect; ids as exact digit strings."""

    order_id: str
    created_at: str | None  # Beijing time "yyyy-MM-dd HH:mm:ss"; None when the record carries none
    state: str
    modified: str | None


class JosResource(GatewayResource):
    """JOS router (orders, read-only). Credentials from ``JD_JOS_APP_KEY``, ``JD_JOS_APP_SECRET``,
    ``JD_JOS_ACCESS_TOKEN``; router URL from ``JD_JOS_BASE_URL`` (the full ``.../routerjson`` URL).

    ``dialect`` picks the method names and field names: ``live`` (the production router) or ``seed``
    (the seed document's). A requested window is split into windows of at most ``max_window_days``
    (the live router allows one month, the seed advises under 7 days); a daily partition is one window.
    """

    ENV_VARS: ClassVar[Mapping[str, str]] = {
        "base_url": "JD_JOS_BASE_URL",
        "app_key": "JD_JOS_APP_KEY",
        "app_secret": "JD_JOS_APP_SECRET",
        "access_token": "JD_JOS_ACCESS_TOKEN",
    }

    base_url: str = Field(default="https://api.jd.com/routerjson", description="Full router URL.")
    app_key: str = Field(description="JOS app key (JD_JOS_APP_KEY).")
    app_secret: str = Field(description="JOS app secret (JD_JOS_APP_SECRET); signs requests, never sent.")
    access_token: str = Field(description="Store OAuth access token (JD_JOS_ACCESS_TOKEN).")
    dialect: str = Field(default="live", description="Order method dialect: 'live' or 'seed'.")
    timeout_s: float = Field(default=60.0, description="Timeout of one router call, seconds.")
    requests_per_second: float = Field(
        default=10.0, description="Requests per second to the router, for every run on the machine together."
    )
    max_window_days: int = Field(default=1, description="Longest window of one order search, days.")

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if isinstance(value, dg.EnvVar) or value in JOS_METHODS:  # an EnvVar is checked when resolved
            return value
        raise ValueError(f"JOS dialect must be one of {', '.join(DIALECTS)}, got {str(value)[:40]!r}")

    def open(self, **overrides: Any) -> JosClient:
        """A client (also a context manager); ``overrides`` inject test doubles into the HTTP layer."""
        app_key = self.required("app_key")
        app_secret = self.required("app_secret")
        access_token = self.required("access_token")
        base_url = self.required_url("base_url")
        dialect = _check_dialect(self.dialect)
        if self.max_window_days < 1:
            raise ConfigError(f"max_window_days must be >= 1, got {self.max_window_days}")
        stats = CallStats()
        http = self.build_http(
            GATEWAY, timeout_s=self.timeout_s, secrets=(app_secret, access_token), stats=stats, **overrides
        )
        return JosClient(
            http,
            base_url=base_url,
            app_key=app_key,
            app_secret=app_secret,
            access_token=access_token,
            dialect=dialect,
            max_window_days=self.max_window_days,
        )


class JosClient:
    """Calls the JOS router's read-only order methods through the shared HTTP layer."""

    def __init__(
        self,
        http: GatewayHttp,
        *,
        base_url: str,
        app_key: str,
        app_secret: str,
        access_token: str,
        dialect: str = "live",
        max_window_days: int = 1,
    ):
        self._http = http
        self._base_url = base_url
        self._app_key = app_key
        self._app_secret = app_secret
        self._access_token = access_token
        self.dialect = _check_dialect(dialect)
        self._methods = JOS_METHODS[self.dialect]
        self._max_window_days = max_window_days

    @property
    def stats(self) -> CallStats:
        return self._http.stats

    # -- orders -------------------------------------------------------------------------------------

    def order_pages(self, start: datetime, end: datetime) -> Iterator[OrderPage]:
        """Pages of the orders created in ``[start, end]`` (inclusive, Beijing time), window by window.

        Each window is paged with ``page_size`` 100 until a short or empty page, or the reported
        total is reached.

        Raises:
            PartitionError: the router refused the window's parameters, or ``apiResult`` said no.
            RunStopError: signature, access token, clock or method problems.
            TransientError: still failing after the retry budget.
        """
        for window_start, window_end in split_windows(start, end, self._max_window_days):
            yield from self._window_pages(window_start, window_end)

    def order(self, order_id: str) -> dict:
        """One order's record, as received (``orderInfo`` live, ``order_info`` seed)."""
        order_id = require_jd_id("order id", order_id)
        what = f"order {order_id}"
        param: dict[str, Any] = {"order_id": self._order_id_value(order_id)}
        if self.dialect == "live":
            param["optional_fields"] = LIVE_OPTIONAL_FIELDS
        inner = self._call(self._methods["get"], param, what)
        # Either wrapper is read in either dialect: which one a router answers with is only known from
        # JD's SDK (live) and seed 003's example (seed), not from a rule of the router's.
        detail = inner.get("orderDetailInfo")
        if isinstance(detail, dict):
            _check_api_result(detail, what)
            record = detail.get("orderInfo")
        elif self.dialect == "live" and "order_info" not in inner:
            raise TransientError(
                f"{what}: no orderDetailInfo in the answer", gateway=GATEWAY, reason="malformed"
            )
        else:
            record = inner.get("order_info")
        if not isinstance(record, dict) or not record:
            raise PartitionError(f"{what} not found (no order record in the answer)", gateway=GATEWAY)
        return record

    def order_tracks(self, order_id: str) -> list[dict]:
        """The order's logistics tracks ``[{"time", "content"}, ...]``, as received (may be empty)."""
        order_id = require_jd_id("order id", order_id)
        what = f"tracks of order {order_id}"
        inner = self._call(self._methods["track"], {"order_id": self._order_id_value(order_id)}, what)
        tracks = inner.get("order_tracks") or []
        if not isinstance(tracks, list) or not all(isinstance(t, dict) for t in tracks):
            raise TransientError(
                f"{what}: order_tracks is not a list of objects", gateway=GATEWAY, reason="malformed"
            )
        return tracks

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JosClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    def _window_pages(self, start: datetime, end: datetime) -> Iterator[OrderPage]:
        first, last = start.strftime(TIME_FORMAT), end.strftime(TIME_FORMAT)
        what = f"orders window {first} .. {last}"
        for page in range(1, MAX_PAGES_PER_WINDOW + 1):
            param: dict[str, str | int] = {"start_date": first, "end_date": last}
            if self.dialect == "live":  # as JD's SDK sends them: every value a string
                param |= {"order_state": ",".join(ORDER_STATES), "optional_fields": LIVE_OPTIONAL_FIELDS}
                param |= {"dateType": "1", "page": str(page), "page_size": str(PAGE_SIZE)}
            else:  # as seed 003's example and parameter table send them: page numbers as JSON ints
                param |= {"page": page, "page_size": PAGE_SIZE}
            inner = self._call(self._methods["search"], param, f"{what} page {page}")
            orders, total = self._search_result(inner, f"{what} page {page}")
            self.stats.add(pages=1)
            yield OrderPage(window_start=start, window_end=end, page=page, orders=orders, total=total)
            if len(orders) < PAGE_SIZE or (total is not None and page * PAGE_SIZE >= total):
                return
        raise PartitionError(
            f"{what}: more than {MAX_PAGES_PER_WINDOW} pages of {PAGE_SIZE}; lower max_window_days",
            gateway=GATEWAY,
        )

    def _order_id_value(self, order_id: str) -> str | int:
        """Live sends ids as strings; the seed dialect as JSON numbers, as seed 003's examples do (a
        Python int is exact at any size, and the router answers ``order.get`` in the seed's snake_case
        only for a numeric ``order_id``)."""
        return int(order_id) if self.dialect == "seed" else order_id

    def _search_result(self, inner: dict, what: str) -> tuple[list[dict], int | None]:
        if self.dialect == "live":
            result = inner.get("searchorderinfo_result")
            if not isinstance(result, dict):
                raise TransientError(
                    f"{what}: no searchorderinfo_result", gateway=GATEWAY, reason="malformed"
                )
            _check_api_result(result, what)
            orders, total = result.get("orderInfoList"), result.get("orderTotal")
        else:
            orders, total = inner.get("order_info_list"), inner.get("order_total")
            if isinstance(orders, dict):  # seed 003's example nests the list: {"order_info": [...]}
                orders = orders.get("order_info")
        orders = orders or []
        if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
            raise TransientError(
                f"{what}: the order list is not a list of objects", gateway=GATEWAY, reason="malformed"
            )
        return orders, _optional_int(total)

    def _call(self, method: str, param: Mapping[str, Any], what: str) -> dict:
        """Send one signed router call; return the ``<method>_responce`` object."""
        if method in FORBIDDEN_METHODS or method not in READ_ONLY_METHODS:
            raise ConfigError(
                f"refusing to call {method}: jd_assets is read-only towards a store "
                "(only the methods in JOS_METHODS are ever sent)",
                gateway=GATEWAY,
            )
        param_json = compact_json(param)
        wall_clock = self._http.wall_clock

        def build() -> dict[str, str]:  # again for every attempt: a fresh timestamp, a fresh sign
            return signed_params(
                method,
                param_json,
                app_key=self._app_key,
                access_token=self._access_token,
                app_secret=self._app_secret,
                timestamp=beijing_timestamp(wall_clock()),
            )

        inner = self._http.call(
            "POST", self._base_url, data=build, interpret=lambda reply: _interpret(reply, method, what)
        )
        self.stats.add(billed_calls=1)  # every answered call counts against the app's router call limit
        return inner


# -- request building (pure) --------------------------------------------------------------------------


def compact_json(value: Any) -> str:
    """The exact ``360buy_param_json`` text that is signed and sent (compact, raw UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def beijing_timestamp(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, BEIJING).strftime(TIME_FORMAT)


def signed_params(
    method: str, param_json: str, *, app_key: str, access_token: str, app_secret: str, timestamp: str
) -> dict[str, str]:
    """All router parameters of one call, ``sign`` included."""
    params = {
        "method": method,
        "app_key": app_key,
        "access_token": access_token,
        "timestamp": timestamp,
        "v": API_VERSION,
        "360buy_param_json": param_json,
    }
    params["sign"] = jos_sign(params, app_secret)
    return params


def to_beijing(value: datetime) -> datetime:
    """A naive Beijing-time datetime (naive input is taken as Beijing time already)."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(BEIJING).replace(tzinfo=None)
    return value.replace(tzinfo=None)


def split_windows(start: datetime, end: datetime, max_days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` (inclusive, to the second) as consecutive inclusive windows of at most
    ``max_days`` days, Beijing time: each window ends one second before the next one starts."""
    if max_days < 1:
        raise ValueError(f"max_days must be >= 1, got {max_days}")
    start, end = to_beijing(start).replace(microsecond=0), to_beijing(end).replace(microsecond=0)
    if end < start:
        raise ValueError(f"empty order window: end {end} is before start {start}")
    span, second = timedelta(days=max_days), timedelta(seconds=1)
    windows = []
    cursor = start
    while cursor <= end:
        stop = min(cursor + span - second, end)
        windows.append((cursor, stop))
        cursor = stop + second
    return windows


# -- response checks ----------------------------------------------------------------------------------


def _interpret(reply: Reply, method: str, what: str) -> dict:
    body = reply.json()
    if not isinstance(body, dict):
        raise reply.unexpected("not a JSON object")
    if "error_response" in body:
        raise router_error(body["error_response"], method, what, reply)
    key = method.replace(".", "_") + "_responce"
    inner = body.get(key)
    if not isinstance(inner, dict):
        raise reply.unexpected(f"no {key}")
    code = inner.get("code")
    if code is not None and str(code) != "0":
        raise router_error(inner, method, what, reply)
    return inner


def router_error(error: object, method: str, what: str, reply: Reply) -> GatewayError:
    """The typed error of a router ``error_response`` (or a wrapper with a non-zero ``code``)."""
    if not isinstance(error, dict):
        return reply.unexpected("error_response is not an object")
    code = str(error.get("code", "")).strip() or "?"
    said = error.get("en_desc") or error.get("zh_desc") or error.get("msg")
    if code not in ROUTER_CODES and reply.status_code >= 500:
        return reply.status_error() or reply.unexpected("server error")  # a fault, whatever its code
    return error_for_code(ROUTER_CODES, code, reply, subject=what, said=said, what=what, method=method)


def _check_api_result(result: Mapping[str, Any], what: str) -> None:
    """Live order results carry ``apiResult``: ``success`` false fails the partition."""
    api = result.get("apiResult")
    if not isinstance(api, dict):
        return
    success = api.get("success")
    if success is True or str(success).lower() == "true":
        return
    err = api.get("englishErrCode") or api.get("chineseErrCode") or "no error text"
    raise PartitionError(
        f"{what}: apiResult.success is false ({str(err)[:200]}, code {str(api.get('code', '?'))[:20]})",
        gateway=GATEWAY,
        code=api.get("code"),
    )


def _optional_int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _check_dialect(value: str) -> str:
    if value not in JOS_METHODS:
        raise ConfigError(f"JOS dialect must be one of {', '.join(DIALECTS)}, got {str(value)[:40]!r}")
    return value


# -- record keys --------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d{1,9})?")


def order_keys(record: Mapping[str, Any], dialect: str) -> OrderKeys:
    """The keys of an order record of ``dialect`` ("live" camelCase or "seed" snake_case), field names
    from the one map (jd_assets.jos_fields).

    The order id comes back as an exact digit string even when the JSON carried an integer; the
    creation time as ``yyyy-MM-dd HH:mm:ss`` (a fractional second is dropped), or None when the dialect
    may leave it out (seed 003's records carry none). Raises ValueError naming a missing or malformed
    field as the dialect spells it.
    """
    if dialect not in jos_fields.DIALECTS:
        known = ", ".join(jos_fields.DIALECTS)
        raise ValueError(f"unknown JOS dialect {dialect!r} (expected one of {known})")

    def field(key: str) -> Any:
        spec = jos_fields.ORDER[key]
        value = jos_fields.value(record, spec, dialect)
        if value == "":
            value = None
        if value is None and dialect in spec.required_in:
            raise ValueError(f"order record ({dialect} dialect) has no {spec.spelled(dialect)!r}")
        return value

    order_id = require_jd_id("order id", field("order_id"))
    created = field("created_at")
    state = field("state")
    if not isinstance(state, str):
        spelled = jos_fields.ORDER["state"].spelled(dialect)
        raise ValueError(f"order {order_id}: {spelled!r} is not a string: {state!r:.40}")
    modified = field("modified")
    return OrderKeys(
        order_id=order_id,
        created_at=None if created is None else _timestamp(created, "created_at", dialect),
        state=state,
        modified=None if modified is None else _timestamp(modified, "modified", dialect),
    )


def _timestamp(value: object, key: str, dialect: str) -> str:
    match = _TIMESTAMP.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        name = jos_fields.ORDER[key].spelled(dialect)
        raise ValueError(f"order field {name!r} is not 'yyyy-MM-dd HH:mm:ss': {str(value)[:40]!r}")
    return match.group(1)
