"""The shape every gateway emulation shares, and the fault kinds that are the same on all of them.

Per-gateway mapping of the injected business codes is in each gateway's ``code_response``; the
transport-level kinds are common:
- ``http_5xx``: HTTP 500/502/503/504 (chosen from the hash), an nginx HTML page or an empty body;
- ``timeout``: hang ``hang_seconds``, then close the connection without an answer;
- ``malformed``: HTTP 200 with the first half of a JSON body, or an HTML page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._hash import h64
from ._http import HTML_TYPE, Ctx, Response, html_error

if TYPE_CHECKING:
    from .app import App


class Gateway:
    name = ""

    def __init__(self, app: App):
        self.app = app

    # -- to override
    def endpoint(self, params: dict[str, str]) -> str:
        """The counter name of a request whose path alone does not name it (JOS: per method)."""
        return self.name

    def item_id(self, params: dict[str, str]) -> str | None:
        return None

    def handle(self, ctx: Ctx) -> tuple[Response, bool]:
        """The answer and whether it is billed (a successful business answer)."""
        raise NotImplementedError

    def code_response(self, ctx: Ctx, code: int | str) -> Response:
        raise NotImplementedError

    def rate_limited(self, ctx: Ctx, nth: int) -> Response:
        raise NotImplementedError

    def sample_json(self, ctx: Ctx) -> bytes:
        raise NotImplementedError

    # -- shared
    def fault(self, ctx: Ctx, kind: str) -> Response:
        pick = h64(self.app.seed, "faultshape", ctx.endpoint, ctx.seq)
        if kind == "timeout":
            return Response(hang_seconds=self.app.fault_plan.faults.hang_seconds, drop=True)
        if kind == "http_5xx":
            status = (500, 502, 503, 504)[pick % 4]
            if (pick >> 8) % 3 == 0:
                return Response(status=status, body=b"", content_type="text/plain")
            return Response(status=status, body=html_error(status), content_type=HTML_TYPE)
        if kind == "malformed":
            if pick % 2:
                body = self.sample_json(ctx)
                return Response(body=body[: max(1, len(body) // 2)])
            page = html_error(502).replace(b"502 Bad Gateway", b"Welcome")
            return Response(body=page, content_type=HTML_TYPE)
        return self.code_response(ctx, int(kind.removeprefix("code_")))
