"""Seller gateway ("Fengchao"): ``/fengchao/findWareById``, GET or form POST (seed 004, docs/GATEWAYS.md §3).

Params ``appid``, ``timestamp`` (unix seconds), ``seller_nick``, ``sign``, ``wareId``, optional ``field``
(comma list: only those fields, plus ``wareId``). Sign = the JOS rule over every parameter except
``sign`` (**assumption** of docs/GATEWAYS.md §3). Success: ``{"code": 0, "message": "ok", "data": {...}}``.

Error codes (**assumption**, nothing public documents them), all HTTP 200 unless noted:
1003 unknown appid or seller_nick · 1002 timestamp missing, not an integer, or more than
``fengchao_timestamp_skew_s`` (600 s) from the wall clock · 1001 sign missing or wrong ·
1004 wareId missing or not digits · 2001 ware not found · 429 rate limited (HTTP 429, ``Retry-After``).
Injected codes: 302 -> HTTP 429 + code 429; 301/500/503 -> code 500; other forced codes as given.
"""

from __future__ import annotations

import time

from . import signing
from ._gateway import Gateway
from ._http import Ctx, Response, dumps


class Fengchao(Gateway):
    name = "fengchao"

    def item_id(self, params: dict[str, str]) -> str | None:
        return params.get("wareId")

    @staticmethod
    def answer(code: int, message: str, data: object = None, status: int = 200) -> Response:
        headers = {"Retry-After": "1"} if status == 429 else None
        return Response.json({"code": code, "message": message, "data": data}, status=status, headers=headers)

    def code_response(self, ctx: Ctx, code: int | str) -> Response:
        code = int(code)
        if code in (302, 429):
            return self.answer(429, "rate limit exceeded", status=429)
        if code in (301, 500, 503):
            return self.answer(500, "internal error, please retry")
        return self.answer(code, "forced error")

    def rate_limited(self, ctx: Ctx, nth: int) -> Response:
        return self.answer(429, "rate limit exceeded", status=429)

    def sample_json(self, ctx: Ctx) -> bytes:
        return dumps({"code": 0, "message": "ok", "data": {"wareId": 10022660724067, "title": "样例"}})

    def handle(self, ctx: Ctx) -> tuple[Response, bool]:
        p, cfg = ctx.params, self.app.cfg
        if p.get("appid") != cfg.fengchao_app_id or p.get("seller_nick") != cfg.fengchao_seller_nick:
            return self.answer(1003, "unknown appid or seller_nick"), False
        stamp = p.get("timestamp", "")
        if not (stamp.isascii() and stamp.isdigit()):
            return self.answer(1002, "timestamp must be unix seconds"), False
        skew = cfg.fengchao_timestamp_skew_s
        if skew is not None and abs(int(stamp) - time.time()) > skew:
            return self.answer(1002, f"timestamp more than {skew:g} s from server time"), False
        if not signing.verify(p, cfg.fengchao_app_secret):
            return self.answer(1001, "invalid sign"), False
        ware_id = p.get("wareId", "")
        if not (ware_id.isascii() and ware_id.isdigit() and len(ware_id) <= 20):
            return self.answer(1004, "invalid parameter: wareId must be digits"), False
        w = self.app.catalog.ware_index(ware_id)
        if w is None:
            return self.answer(2001, "ware not found"), False
        data = self.app.catalog.ware(w)
        wanted = {f.strip() for f in (p.get("field") or "").split(",") if f.strip()}
        if wanted:
            data = {k: v for k, v in data.items() if k in wanted or k == "wareId"}
        return self.answer(0, "ok", data), True
