"""JOS router (``/routerjson``, GET or form POST): signature, timestamp, order methods (docs/GATEWAYS.md §2).

Checks, in this order, each answering ``{"error_response": {"code": "<str>", "zh_desc", "en_desc"}}``:
14 method missing · 15 ``jingdong.pop.order.ship`` refused (the sandbox and jd_assets are read-only) ·
15 unknown method · 19 app_key missing or unknown (**assumption**) · 4/5 ``v`` missing / not 2.0 ·
7/8 timestamp missing / unparsable or more than ``jos_timestamp_skew_s`` (default 360 s) from the
WALL clock (clients sign with the wall clock; they cannot know the simulated now); accepted forms are
the ones JD's SDKs send: ``yyyy-MM-dd HH:mm:ss`` (Beijing time) and ``yyyy-MM-dd HH:mm:ss.SSSZ`` (JD's
Python SDK ``jd-sdk``: local time with its zone, e.g. ``2026-11-26 20:01:59.000+0800``, the zone
honoured) ·
11/12 sign missing / wrong · 401 access_token wrong · 3001 parameter error (bad JSON, bad window,
window > 31 days live or > 7 days seed dialect, page < 1, page_size outside 1..100, missing
optional_fields on order.search, dateType other than 1, missing order_id).
Rate limit: code "2". Injected codes: 301/302 -> "2" (call limit, retry); 500/503 -> HTTP 500/503 with an
error_response body (code "500"/"503"); other forced codes are passed through as strings.

Dialects: ``jingdong.pop.order.search`` and ``jingdong.pop.order.get`` (live: camelCase, string ids and
money; ``apiResult`` inner layer, unknown order -> success false, code "402"); ``jingdong.pop.orders.get``
and ``jingdong.pop.order.track`` (seed 003: snake_case, JSON numbers; ``SandboxConfig.jos_seed_shape``
``documented`` answers exactly seed 003's shapes: a list without items, nested as ``{"order_info": [...]}``,
and ``order.get`` with ``items`` and ``receiver_info``). ``jingdong.pop.order.get`` answers in the seed
dialect when ``order_id`` is sent as a JSON number (as in seed 003's example), else live.
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import signing
from ._gateway import Gateway
from ._http import Ctx, Response, dumps
from ._time import parse, parse_router_timestamp

SEARCH = "jingdong.pop.order.search"
ORDER_GET = "jingdong.pop.order.get"
ORDERS_GET = "jingdong.pop.orders.get"
TRACK = "jingdong.pop.order.track"
SHIP = "jingdong.pop.order.ship"
METHODS = (SEARCH, ORDER_GET, ORDERS_GET, TRACK)

ERRORS = {
    "2": ("调用次数超限", "Call limit exceeded"),
    "4": ("缺少版本参数", "Missing version"),
    "5": ("不支持的版本号", "Unsupported version"),
    "7": ("缺少时间戳参数", "Missing timestamp"),
    "8": ("非法的时间戳参数", "Invalid timestamp"),
    "11": ("缺少签名参数", "Missing signature"),
    "12": ("无效签名", "Invalid Signature"),
    "14": ("缺少方法名参数", "Missing method"),
    "15": ("不存在的方法名", "Invalid method"),
    "19": ("无效的app_key", "Invalid app_key"),
    "400": ("参数格式错误或缺少必填参数", "Parameter format error or missing required parameter"),
    "401": ("access_token已过期或无效", "Invalid or expired access_token"),
    "403": ("权限不足或调用频率超限", "Insufficient permissions or rate limit exceeded"),
    "402": ("订单不存在或无权访问", "order not found"),
    "500": ("服务内部错误", "Internal server error"),
    "503": ("服务不可用", "Service unavailable"),
    "3001": ("参数错误", "Parameter error"),
    "409": ("状态冲突", "Status conflict"),
}
_SUCCESS = {"success": True, "code": "0", "chineseErrCode": "成功", "englishErrCode": "success"}
_INJECTED = {301: "2", 302: "2", 500: "500", 503: "503"}
_MAX_WINDOW = {SEARCH: 31 * 86400, ORDERS_GET: 7 * 86400}


def _wall_now() -> int:
    """Epoch seconds of the real clock (timestamps are parsed as Beijing time into epoch seconds)."""
    return int(time.time())


class ParamError(ValueError):
    pass


class Jos(Gateway):
    name = "jos"

    def endpoint(self, params: dict[str, str]) -> str:
        return "jos:" + (params.get("method") or "-")

    def item_id(self, params: dict[str, str]) -> str | None:
        try:
            biz = json.loads(params.get("360buy_param_json") or "{}")
        except ValueError:
            return None
        if isinstance(biz, dict):
            value = biz.get("order_id", biz.get("orderId"))
            return None if value is None else str(value)
        return None

    @staticmethod
    def error(
        code: str, en_desc: str | None = None, status: int = 200, zh_desc: str | None = None
    ) -> Response:
        zh, en = ERRORS.get(code, ("错误", "Error"))
        body = {"error_response": {"code": code, "zh_desc": zh_desc or zh, "en_desc": en_desc or en}}
        return Response.json(body, status=status)

    def code_response(self, ctx: Ctx, code: int | str) -> Response:
        text = str(code)
        mapped = _INJECTED.get(int(text)) if text.isdigit() else None
        if mapped in ("500", "503"):
            return self.error(mapped, status=int(mapped))
        return self.error(mapped or text)

    def rate_limited(self, ctx: Ctx, nth: int) -> Response:
        return self.error("2")

    def sample_json(self, ctx: Ctx) -> bytes:
        return dumps(
            {
                "jingdong_pop_order_search_responce": {
                    "code": "0",
                    "searchorderinfo_result": {
                        "apiResult": {"success": True, "code": "0"},
                        "orderInfoList": [],
                        "orderTotal": 0,
                    },
                }
            }
        )

    # ------------------------------------------------------------------ checks
    def handle(self, ctx: Ctx) -> tuple[Response, bool]:
        p, cfg = ctx.params, self.app.cfg
        method = p.get("method", "")
        if not method:
            return self.error("14"), False
        if method == SHIP:
            self.app.counters.refused(ctx.endpoint)
            return self.error(
                "15",
                f"Refused: {SHIP} changes an order; the sandbox (and jd_assets) is read-only",
                zh_desc="只读:拒绝修改订单的方法",
            ), False
        if method not in METHODS:
            return self.error("15"), False
        if p.get("app_key", "") != cfg.jos_app_key:
            return self.error("19"), False
        if not p.get("v"):
            return self.error("4"), False
        if p["v"] != "2.0":
            return self.error("5"), False
        if not p.get("timestamp"):
            return self.error("7"), False
        try:
            stamp = parse_router_timestamp(p["timestamp"])
        except ValueError:
            return self.error(
                "8", "Invalid timestamp: expected yyyy-MM-dd HH:mm:ss or yyyy-MM-dd HH:mm:ss.SSSZ"
            ), False
        skew = cfg.jos_timestamp_skew_s
        if skew is not None and abs(stamp - _wall_now()) > skew:
            return self.error("8", f"Invalid timestamp: more than {skew:g} s from server time"), False
        if not p.get("sign"):
            return self.error("11"), False
        if not signing.verify(p, cfg.jos_app_secret):
            return self.error("12"), False
        if p.get("access_token", "") != cfg.jos_access_token:
            return self.error("401"), False
        try:
            biz = json.loads(p.get("360buy_param_json") or "{}")
            if not isinstance(biz, dict):
                raise ParamError("360buy_param_json must be a JSON object")
            if method in (SEARCH, ORDERS_GET):
                return self.search(ctx, method, biz), True
            if method == ORDER_GET:
                return self.order_get(ctx, biz)
            return self.track(ctx, biz)
        except (ParamError, ValueError) as exc:
            return self.error("3001", f"Parameter error: {exc}"), False

    # ------------------------------------------------------------------ methods
    @staticmethod
    def _int(biz: dict, key: str, default: int) -> int:
        value = biz.get(key, default)
        if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
            raise ParamError(f"{key} must be an integer")
        return int(str(value).strip())

    def search(self, ctx: Ctx, method: str, biz: dict[str, Any]) -> Response:
        live = method == SEARCH
        for key in ("start_date", "end_date"):
            if not isinstance(biz.get(key), str):
                raise ParamError(f"{key} is required (yyyy-MM-dd HH:mm:ss)")
        try:
            start, end = parse(biz["start_date"]), parse(biz["end_date"])
        except ValueError as exc:
            raise ParamError("start_date/end_date must be yyyy-MM-dd HH:mm:ss") from exc
        if start > end:
            raise ParamError("start_date is after end_date")
        if end - start > _MAX_WINDOW[method]:
            raise ParamError(f"window longer than {_MAX_WINDOW[method] // 86400} days")
        if live:
            if not str(biz.get("optional_fields") or "").strip():
                raise ParamError("optional_fields is required")
            if str(biz.get("dateType", "1")) != "1":
                raise ParamError("only dateType 1 (creation time) is supported")
        page = self._int(biz, "page", 1)
        page_size = self._int(biz, "page_size", 20)
        if page < 1:
            raise ParamError("page must be >= 1")
        if not 1 <= page_size <= 100:
            raise ParamError("page_size must be within 1..100")
        states = {s.strip() for s in str(biz.get("order_state") or "").split(",") if s.strip()}
        book = self.app.orders
        found = book.in_window(start, end, ctx.now)
        if states:
            found = [o for o in found if book.state_at(o, ctx.now)[0] in states]
        chunk = found[(page - 1) * page_size : page * page_size]
        if live:
            result = {
                "apiResult": _SUCCESS,
                "orderInfoList": [book.live(o, ctx.now) for o in chunk],
                "orderTotal": len(found),
            }
            return Response.json(
                {"jingdong_pop_order_search_responce": {"code": "0", "searchorderinfo_result": result}}
            )
        listed: Any = [book.seed_list(o, ctx.now) for o in chunk]
        if book.seed_shape == "documented":  # as seed 003 nests it
            listed = {"order_info": listed}
        return Response.json(
            {
                "jingdong_pop_orders_get_responce": {
                    "code": "0",
                    "order_info_list": listed,
                    "order_total": len(found),
                }
            }
        )

    def _order_id(self, biz: dict[str, Any]) -> tuple[str, bool]:
        value = biz.get("order_id", biz.get("orderId"))
        if value is None or isinstance(value, bool) or not str(value).isdigit():
            raise ParamError("order_id is required (digits)")
        return str(value), isinstance(value, int)

    def order_get(self, ctx: Ctx, biz: dict[str, Any]) -> tuple[Response, bool]:
        order_id, numeric = self._order_id(biz)
        book = self.app.orders
        order = book.existing(book.find(order_id), ctx.now)
        if numeric and "optional_fields" not in biz:
            if order is None:
                return self.error("402"), False
            return Response.json(
                {
                    "jingdong_pop_order_get_responce": {
                        "code": "0",
                        "order_info": book.seed_get(order, ctx.now),
                    }
                }
            ), True
        if order is None:
            return Response.json(
                {
                    "jingdong_pop_order_get_responce": {
                        "code": "0",
                        "orderDetailInfo": {
                            "apiResult": {
                                "success": False,
                                "code": "402",
                                "chineseErrCode": "订单不存在",
                                "englishErrCode": "order not found",
                            }
                        },
                    }
                }
            ), False
        return Response.json(
            {
                "jingdong_pop_order_get_responce": {
                    "code": "0",
                    "orderDetailInfo": {
                        "apiResult": _SUCCESS,
                        "orderInfo": book.live(order, ctx.now),
                    },
                }
            }
        ), True

    def track(self, ctx: Ctx, biz: dict[str, Any]) -> tuple[Response, bool]:
        order_id, _ = self._order_id(biz)
        book = self.app.orders
        order = book.existing(book.find(order_id), ctx.now)
        if order is None:
            return self.error("402"), False
        return Response.json(
            {
                "jingdong_pop_order_track_responce": {
                    "code": "0",
                    "order_tracks": book.tracks_at(order, ctx.now),
                }
            }
        ), True
