"""Seller gateway ("Fengchao"): one ware by id (``findWareById``).

What is this gateway's own (retries, rate limit, timeouts and redaction are the shared layer's):
- signing: public params ``appid``, ``timestamp`` (unix seconds, computed again for every attempt),
  ``seller_nick``, business params ``wareId`` and ``field``, and ``sign`` computed by the configured
  signer over every other parameter. The rule is not public: the **assumption** (docs/GATEWAYS.md §3) is the
  JOS rule, ``signer="jos_md5"``; other rules plug in through jd_assets.gateways.signing.SIGNERS.
- the envelope ``{"code": 0, "message": "ok", "data": {...}}``: ``code`` 0 is success; a non-zero code
  carries the reason in ``message``;
- the code table ``CODES`` below. The seed publishes no codes, so the whole table is our
  **assumption**, kept in this one place: 1001 invalid sign → AuthError; 1002 timestamp skew →
  ConfigError (the local clock is off: retrying cannot help); 1003 unknown appid or seller → AuthError;
  1004 invalid parameter → PartitionError; 2001 ware not found → PartitionError naming the ware; 429
  (as a code or as HTTP 429) → RateLimitedError; 500, HTTP 5xx, timeouts and malformed bodies →
  TransientError; any other non-zero code → PartitionError with the gateway's ``message``.

The request is sent as a form POST (the signature and the ware id stay out of URLs and logs).
``data`` is returned exactly as parsed: ``wareId`` can be a JSON number above 2^53 and stays an exact
Python int (the raw layer keeps it; never convert it through float).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from jd_assets.conventions import require_jd_id
from jd_assets.errors import (
    AuthError,
    ConfigError,
    GatewayError,
    PartitionError,
    RateLimitedError,
    TransientError,
)
from jd_assets.gateways.signing import SIGNERS, Signer
from jd_assets.http.layer import CallStats, GatewayHttp, Reply, error_for_code, int_code
from jd_assets.http.resource import GatewayResource

GATEWAY = "fengchao"
#: wareStatus codes of findWareById (seed 004's field table) with their labels: the one list of them.
WARE_STATUS_LABELS = {
    -1: "删除",
    1: "从未上架",
    2: "自主下架",
    4: "系统下架",
    8: "上架",
    513: "从未上架待审",
    514: "自主下架待审",
    516: "系统下架待审",
    520: "上架待审核",
    1028: "系统下架审核失败",
}
FIND_WARE_PATH = "/findWareById"

DEFAULT_FIELDS = (
    "wareId,title,categoryId,brandId,brandName,wareStatus,outerId,itemNum,barCode,wareLocation,colType,"
    "modified,created,onlineTime,offlineTime,logo,images,jdPrice,marketPrice,stockNum,multiCategoryId,shopId"
)

# Business code → (error class, message); ``{ware}`` is the ware id. **Assumption** (see the docstring).
CODES: Mapping[int, tuple[type[GatewayError], str]] = {
    1001: (AuthError, "invalid sign (code 1001): check JD_FENGCHAO_APP_SECRET and the signer setting"),
    1002: (ConfigError, "timestamp rejected (code 1002): the local clock is off; fix it (NTP)"),
    1003: (
        AuthError,
        "unknown appid or seller (code 1003): check JD_FENGCHAO_APP_ID and JD_FENGCHAO_SELLER_NICK",
    ),
    1004: (PartitionError, "invalid parameter (code 1004) for ware {ware}"),
    2001: (PartitionError, "ware {ware} not found (code 2001)"),
    429: (RateLimitedError, "rate limited (code 429)"),
    500: (TransientError, "server error (code 500) for ware {ware}"),
}


class FengchaoResource(GatewayResource):
    """Seller gateway (findWareById). ``JD_FENGCHAO_BASE_URL``, ``JD_FENGCHAO_APP_ID``,
    ``JD_FENGCHAO_APP_SECRET``, ``JD_FENGCHAO_SELLER_NICK``.

    The base URL has no default: the seed names no public address, so it must be configured.
    ``signer`` names the signing rule in jd_assets.gateways.signing.SIGNERS.
    """

    ENV_VARS: ClassVar[Mapping[str, str]] = {
        "base_url": "JD_FENGCHAO_BASE_URL",
        "app_id": "JD_FENGCHAO_APP_ID",
        "app_secret": "JD_FENGCHAO_APP_SECRET",
        "seller_nick": "JD_FENGCHAO_SELLER_NICK",
    }

    base_url: str = Field(description="Gateway base URL (JD_FENGCHAO_BASE_URL); no default.")
    app_id: str = Field(description="Partner app id (JD_FENGCHAO_APP_ID).")
    app_secret: str = Field(description="Partner app secret (JD_FENGCHAO_APP_SECRET); signs, never sent.")
    seller_nick: str = Field(description="The JD seller account (JD_FENGCHAO_SELLER_NICK).")
    signer: str = Field(default="jos_md5", description="Signing rule, a key of signing.SIGNERS.")
    fields: str = Field(default=DEFAULT_FIELDS, description="Comma list of ware fields to ask for.")
    timeout_s: float = Field(default=30.0, description="Timeout of one call, seconds.")

    def open(self, **overrides: Any) -> FengchaoClient:
        """A client (also a context manager); ``overrides`` inject test doubles into the HTTP layer."""
        base_url = self.required_url("base_url")
        app_id = self.required("app_id")
        app_secret = self.required("app_secret")
        seller_nick = self.required("seller_nick")
        signer = SIGNERS.get(self.signer)
        if signer is None:
            raise ConfigError(f"unknown Fengchao signer {self.signer!r}; known: {', '.join(sorted(SIGNERS))}")
        stats = CallStats()
        http = self.build_http(
            GATEWAY, timeout_s=self.timeout_s, secrets=(app_secret,), stats=stats, **overrides
        )
        return FengchaoClient(
            http,
            base_url=base_url,
            app_id=app_id,
            app_secret=app_secret,
            seller_nick=seller_nick,
            signer=signer,
            fields=self.fields,
        )


class FengchaoClient:
    """Calls the seller gateway through the shared HTTP layer; see the module docstring."""

    def __init__(
        self,
        http: GatewayHttp,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        seller_nick: str,
        signer: Signer = SIGNERS["jos_md5"],
        fields: str = DEFAULT_FIELDS,
    ):
        self._http = http
        self._url = base_url.rstrip("/") + FIND_WARE_PATH
        self._app_id = app_id
        self._app_secret = app_secret
        self._seller_nick = seller_nick
        self._signer = signer
        self._fields = fields

    @property
    def stats(self) -> CallStats:
        return self._http.stats

    def find_ware(self, ware_id: str) -> dict:
        """The ware's ``data`` object, exactly as parsed (big integer ids stay exact ints).

        Raises:
            PartitionError: the ware is unknown or the parameters were refused.
            RunStopError: signature, app id, seller or clock problems.
            TransientError: still failing after the retry budget.
        """
        ware_id = require_jd_id("ware id", ware_id)
        wall_clock = self._http.wall_clock

        def build() -> dict[str, str]:  # again for every attempt: a fresh timestamp, a fresh sign
            params = {
                "appid": self._app_id,
                "timestamp": str(int(wall_clock())),
                "seller_nick": self._seller_nick,
                "wareId": ware_id,
            }
            if self._fields:
                params["field"] = self._fields
            params["sign"] = self._signer(params, self._app_secret)
            return params

        return self._http.call(
            "POST", self._url, data=build, interpret=lambda reply: _interpret(reply, ware_id)
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FengchaoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _interpret(reply: Reply, ware_id: str) -> dict:
    body = reply.json()
    code = int_code(body.get("code")) if isinstance(body, dict) else None
    if code is None:
        raise reply.unexpected("no integer 'code' in the envelope")
    if code != 0:
        raise error_for_code(
            CODES, code, reply, subject=f"ware {ware_id}", said=body.get("message"), ware=ware_id
        )
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        raise TransientError(
            f"ware {ware_id}: code 0 without a data object: {reply.describe()}",
            gateway=GATEWAY,
            reason="malformed",
        )
    return data
