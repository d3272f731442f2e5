"""The request pipeline shared by the three gateways, and the ``/_sandbox/`` admin endpoints.

For every gateway request, in order: count it (per endpoint) -> latency (fixed + seeded jitter) ->
a forced failure of its item (``fail_item``) -> a forced code for its gateway (``force_code``) ->
the gateway's token bucket (rate limit) -> the seeded fault plan -> the gateway itself. A successful
business answer is counted as billed. Admin endpoints skip all of that (no faults, no limits).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

from ._hash import unit
from ._http import Ctx, Response
from ._time import fmt, from_datetime, to_datetime
from .catalog import Catalog
from .config import BEIJING, GATEWAYS, Faults, SandboxConfig
from .control import Counters, FaultPlan, Overrides, SimClock, TokenBucket
from .fengchao import Fengchao
from .jos import Jos
from .justone import ENDPOINTS, JustOne
from .orders import OrderBook
from .truth import Truth, UnknownRecordError

ROUTES: dict[str, tuple[str, str | None]] = {
    **{path: ("justone", name) for path, name in ENDPOINTS.items()},
    "/routerjson": ("jos", None),
    "/fengchao/findWareById": ("fengchao", "findWareById"),
}


class App:
    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg
        self.seed = cfg.seed
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.catalog = Catalog(cfg)
        self.orders = OrderBook(self.catalog, cfg.pii_marker, cfg.jos_seed_shape)
        self.clock = SimClock(self.catalog.anchor)
        self.counters = Counters()
        self.buckets = {g: TokenBucket(cfg.rate_limit_rps.get(g)) for g in GATEWAYS}
        self.fault_plan = FaultPlan(cfg.seed, cfg.faults)
        self.overrides = Overrides()
        self.gateways = {"justone": JustOne(self), "jos": Jos(self), "fengchao": Fengchao(self)}
        self.truth = Truth(self)

    # ------------------------------------------------------------------ gateway pipeline
    def handle(self, method: str, path: str, params: dict[str, str]) -> Response:
        if path.startswith("/_sandbox/"):
            return self.admin(method, path, params)
        route = ROUTES.get(path)
        if route is None or method not in ("GET", "POST"):
            return Response.json(
                {"code": 404, "message": f"no such endpoint: {method} {path}", "data": None}, status=404
            )
        gateway = self.gateways[route[0]]
        endpoint = route[1] or gateway.endpoint(params)
        seq = self.counters.request(endpoint)
        ctx = Ctx(gateway.name, endpoint, seq, self.clock.now(), params)
        self._latency(endpoint, seq)
        item = gateway.item_id(params)
        code = self.overrides.item_failure(item)
        if code is not None:
            self.counters.forced(f"item:{item}")
            return gateway.code_response(ctx, code)
        forced = self.overrides.take_forced(gateway.name)
        if forced is not None:
            self.counters.forced(f"{gateway.name}:{forced}")
            return gateway.code_response(ctx, forced)
        if not self.buckets[gateway.name].take():
            return gateway.rate_limited(ctx, self.counters.rate_limited(gateway.name))
        kind = self.fault_plan.decide(endpoint, seq)
        if kind is not None:
            self.counters.fault(kind)
            return gateway.fault(ctx, kind)
        response, billed = gateway.handle(ctx)
        if billed:
            self.counters.bill(endpoint)
        return response

    def _latency(self, endpoint: str, seq: int) -> None:
        cfg = self.cfg
        if cfg.latency_ms <= 0 and cfg.jitter_ms <= 0:
            return
        jitter = (2 * unit(self.seed, "latency", endpoint, seq) - 1) * cfg.jitter_ms
        delay = max(0.0, cfg.latency_ms + jitter) / 1000
        if delay:
            self.stopping.wait(delay)

    # ------------------------------------------------------------------ operations (Python and admin)
    def set_faults(self, faults: Faults) -> None:
        self.fault_plan.set(faults)

    def set_rate_limit(self, gateway: str, rps: float | None) -> None:
        if gateway not in self.buckets:
            raise ValueError(f"unknown gateway {gateway!r}")
        self.buckets[gateway].configure(rps)

    def state(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "now": fmt(now),
            "now_iso": to_datetime(now).isoformat(),
            "epoch": now,
            "seed": self.seed,
            "scale": asdict(self.catalog.scale),
            "faults": self.fault_plan.faults.rates() | {"hang_seconds": self.fault_plan.faults.hang_seconds},
            "rate_limit_rps": {g: b.rps or None for g, b in self.buckets.items()},
            **self.overrides.snapshot(),
        }

    # ------------------------------------------------------------------ admin endpoints
    def admin(self, method: str, path: str, p: dict[str, str]) -> Response:
        name = path.removeprefix("/_sandbox/").rstrip("/")
        try:
            if name.startswith("truth/"):
                if method != "GET":
                    raise _MethodError
                return Response.json(self._truth(name.removeprefix("truth/"), p))
            handler = _ADMIN.get(name)
            if handler is None:
                return Response.json({"error": f"no such admin endpoint: {path}"}, status=404)
            verb, fn = handler
            if method != verb and not (verb == "GET" and method == "POST"):
                raise _MethodError
            return Response.json(fn(self, p))
        except _MethodError:
            return Response.json({"error": f"{path} does not accept {method}"}, status=405)
        except UnknownRecordError as exc:
            return Response.json({"error": str(exc.args[0])}, status=404)
        except (KeyError, ValueError, TypeError) as exc:
            return Response.json({"error": f"bad request: {exc}"}, status=400)

    def _truth(self, what: str, p: dict[str, str]) -> Any:
        t = self.truth
        if what == "skus":
            return t.sku_ids()
        if what == "wares":
            return t.ware_ids()
        if what == "sku_to_ware":
            return t.sku_to_ware()
        if what == "comments":
            limit = int(p["limit"]) if p.get("limit") else None
            return t.comments(p["sku"], limit)
        if what == "comment_ids":
            return t.comment_ids(p["sku"])
        if what == "comment_texts":
            return t.comment_texts(p["sku"])
        if what == "comment_counts":
            if p.get("sku"):
                return {
                    "sku": p["sku"],
                    "total": t.comment_count(p["sku"]),
                    "by_day": t.comment_counts_by_day(p["sku"]),
                }
            return {"total": t.total_comments()}
        if what == "detail":
            return t.detail(p["sku"])
        if what == "ware":
            return t.ware(p["ware"])
        if what == "orders":
            return t.orders(date.fromisoformat(p["day"]), p.get("dialect", "live"))
        if what == "order":
            return t.order(p["order"], p.get("dialect", "live"))
        if what == "tracks":
            return t.order_tracks(p["order"])
        raise UnknownRecordError(f"no such truth view: {what}")


class _MethodError(Exception):
    pass


def _advance(app: App, p: dict[str, str]) -> dict[str, Any]:
    seconds = (
        float(p.get("days", 0)) * 86400
        + float(p.get("hours", 0)) * 3600
        + float(p.get("minutes", 0)) * 60
        + float(p.get("seconds", 0))
    )
    app.clock.advance(seconds)
    return app.state()


def _set_now(app: App, p: dict[str, str]) -> dict[str, Any]:
    dt = datetime.fromisoformat(p["now"])
    app.clock.set(from_datetime(dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)))
    return app.state()


def _faults(app: App, p: dict[str, str]) -> dict[str, Any]:
    current = app.fault_plan.faults
    values = {k: float(p.get(k, getattr(current, k))) for k in (*Faults.KINDS, "hang_seconds")}
    app.set_faults(Faults(**values))
    return app.state()


def _force_code(app: App, p: dict[str, str]) -> dict[str, Any]:
    code: int | str = int(p["code"]) if p["code"].lstrip("-").isdigit() else p["code"]
    count = int(p["count"]) if p.get("count") else None
    app.overrides.force_code(p["gateway"], code, count)
    return app.state()


def _clear_forced(app: App, p: dict[str, str]) -> dict[str, Any]:
    app.overrides.clear_forced(p.get("gateway") or None)
    return app.state()


def _fail_item(app: App, p: dict[str, str]) -> dict[str, Any]:
    app.overrides.fail_item(p["item"], int(p.get("code", 301)))
    return app.state()


def _clear_items(app: App, p: dict[str, str]) -> dict[str, Any]:
    app.overrides.clear_item_failures()
    return app.state()


def _rate_limit(app: App, p: dict[str, str]) -> dict[str, Any]:
    rps = p.get("rps")
    app.set_rate_limit(p["gateway"], float(rps) if rps not in (None, "", "0", "none") else None)
    return app.state()


def _reset_counters(app: App, p: dict[str, str]) -> dict[str, Any]:
    app.counters.reset()
    return app.counters.snapshot()


_ADMIN: dict[str, tuple[str, Any]] = {
    "now": ("GET", lambda app, p: app.state()),
    "state": ("GET", lambda app, p: app.state()),
    "counters": ("GET", lambda app, p: app.counters.snapshot()),
    "counters/reset": ("POST", _reset_counters),
    "advance": ("POST", _advance),
    "set_now": ("POST", _set_now),
    "faults": ("POST", _faults),
    "force_code": ("POST", _force_code),
    "clear_forced": ("POST", _clear_forced),
    "fail_item": ("POST", _fail_item),
    "clear_item_failures": ("POST", _clear_items),
    "rate_limit": ("POST", _rate_limit),
}


def parse_params(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """Query string merged with a form body (form wins); blank values kept (they are signed as absent)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        if "json" in content_type:
            loaded = json.loads(body.decode("utf-8"))
            if isinstance(loaded, dict):
                params.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in loaded.items()})
        else:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params
