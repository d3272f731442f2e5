"""Token gateway ("Just One API"): comments v1 and details v2 (docs/GATEWAYS.md §1, seeds 000/001).

Envelope ``{"code", "data", "message", "recordTime", "requestId"}``; ``recordTime`` is the simulated
now, ``requestId`` is derived from (seed, endpoint, request sequence) so bytes are reproducible.

Codes: 0 success (billed) · 100 bad or missing token · 400 itemId missing/non-digit or bad page ·
404 SKU not in the catalog (both endpoints; **assumption**) · 202 product not supported (details only) ·
302 rate limited: the limiter alternates, the 1st, 3rd, ... limited request gets HTTP 429 with
``Retry-After: 1`` and an envelope with code 302, the 2nd, 4th, ... HTTP 200 with code 302 ·
301/500/503 injected faults (HTTP 200) · 101/303/600/601/602 only when forced.
"""

from __future__ import annotations

from typing import Any

from ._gateway import Gateway
from ._hash import hex_digest
from ._http import Ctx, Response, dumps
from ._time import fmt

MESSAGES = {
    0: None,
    100: "Invalid or Inactive Token",
    101: "Token Has No Permission For This API",
    202: "product not supported",
    301: "Collection Failed. Please Retry.",
    302: "Rate Limit Exceeded",
    303: "Daily Quota Exceeded",
    400: "Invalid Parameters",
    404: "item not found",
    500: "Internal Server Error",
    503: "Service Unavailable",
    600: "Permission Denied",
    601: "Insufficient Balance",
    602: "Token Budget Exceeded",
}
ENDPOINTS = {"/api/jd/get-item-comments/v1": "comments", "/api/jd/get-item-detail/v2": "details"}


def _is_id(text: str) -> bool:
    return 0 < len(text) <= 20 and text.isascii() and text.isdigit()


class JustOne(Gateway):
    name = "justone"

    def __init__(self, app):
        super().__init__(app)
        self._polls: dict[str, int] = {}

    def item_id(self, params: dict[str, str]) -> str | None:
        return params.get("itemId")

    def envelope(self, ctx: Ctx, code: int, data: Any = None, message: str | None = None) -> dict:
        return {
            "code": code,
            "data": data,
            "message": message if message is not None else MESSAGES.get(code, "error"),
            "recordTime": fmt(ctx.now),
            "requestId": hex_digest(32, self.app.seed, "req", ctx.endpoint, ctx.seq),
        }

    def code_response(self, ctx: Ctx, code: int | str) -> Response:
        code = int(code)
        if code == 429:
            return Response.json(self.envelope(ctx, 302), status=429, headers={"Retry-After": "1"})
        return Response.json(self.envelope(ctx, code))

    def rate_limited(self, ctx: Ctx, nth: int) -> Response:
        if nth % 2:
            return Response.json(self.envelope(ctx, 302), status=429, headers={"Retry-After": "1"})
        return Response.json(self.envelope(ctx, 302))

    def sample_json(self, ctx: Ctx) -> bytes:
        data = {
            "data": [{"userNickName": "jd_sample", "commentId": "0", "commentData": "好"}],
            "pageInfo": {"maxPage": "1", "nowPage": "1"},
        }
        return dumps(self.envelope(ctx, 0, data))

    def handle(self, ctx: Ctx) -> tuple[Response, bool]:
        p = ctx.params
        if p.get("token") != self.app.cfg.token:
            return Response.json(self.envelope(ctx, 100)), False
        item = p.get("itemId", "")
        if not _is_id(item):
            return Response.json(self.envelope(ctx, 400, message="itemId must be a JD id (digits)")), False
        i = self.app.catalog.sku_index(item)
        if ctx.endpoint == "comments":
            page_text = p.get("page") or "1"
            if not _is_id(page_text) or int(page_text) < 1:
                return Response.json(self.envelope(ctx, 400, message="page must be an integer >= 1")), False
            if i is None:
                return Response.json(self.envelope(ctx, 404)), False
            page = int(page_text)
            rows, max_page = self.app.catalog.comment_page(i, ctx.now, page)
            data = {"data": rows, "pageInfo": {"maxPage": str(max_page), "nowPage": str(page)}}
            return Response.json(self.envelope(ctx, 0, data)), True
        if i is None:
            return Response.json(self.envelope(ctx, 404)), False
        if not self.app.catalog.is_detail_supported(i):
            return Response.json(self.envelope(ctx, 202)), False
        with self.app.lock:
            polls = self._polls.get(item, 0)
            pending = polls < self.app.cfg.details_pending_polls
            if pending:
                self._polls[item] = polls + 1
        if pending:
            data = {"taskStatus": "PENDING" if polls == 0 else "RUNNING", "taskId": self.task_id(item)}
            return Response.json(self.envelope(ctx, 0, data)), True
        return Response.json(self.envelope(ctx, 0, self.app.catalog.detail(i))), True

    def task_id(self, item: str) -> str:
        return "task_" + hex_digest(24, self.app.seed, "task", item)

    def reset_tasks(self) -> None:
        with self.app.lock:
            self._polls.clear()
