"""Sandbox configuration: scale presets, demo credentials, rate limits, latency and fault rates.

Everything that shapes the sandbox's answers is here, so one ``SandboxConfig`` (and its seed) fully
determines every byte it serves. The default simulated "now" is a fixed date, never the wall clock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

try:  # the package pins tzdata indirectly (dagster); fall back to the fixed offset China uses.
    from zoneinfo import ZoneInfo

    BEIJING = ZoneInfo("Asia/Shanghai")
except Exception:  # pragma: no cover - only without any tz database
    BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

#: The simulated "now" when none is given: fixed, so runs are reproducible.
DEFAULT_NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=BEIJING)


def today_start(wall: datetime | None = None) -> datetime:
    """The start (00:00) of today's Beijing day by the real clock: the "now" of ``make demo`` and
    ``python -m jd_sandbox serve``, so their catalog's history is the weeks before today, yesterday is the
    newest complete day, and the Dagster UI's newest order partitions hold data. The same all day long,
    so two runs on one day give the same tables."""
    wall = (wall or datetime.now(BEIJING)).astimezone(BEIJING)
    return wall.replace(hour=0, minute=0, second=0, microsecond=0)


#: Demo credentials (also printed by ``python -m jd_sandbox --help``).
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_JOS_APP_KEY = "SANDBOXAPPKEY"
DEFAULT_JOS_APP_SECRET = "sandbox-jos-secret"
DEFAULT_JOS_ACCESS_TOKEN = "sandbox-access-token"
DEFAULT_FENGCHAO_APP_ID = "sandbox-appid"
DEFAULT_FENGCHAO_APP_SECRET = "sandbox-fengchao-secret"
DEFAULT_FENGCHAO_SELLER_NICK = "sandbox-seller"

GATEWAYS = ("justone", "jos", "fengchao")
#: How the seed dialect (seed 003's ``jingdong.pop.orders.get`` / ``order.get``) answers: ``full`` (every
#: field of the live record in snake_case, items in the list) or ``documented`` (exactly the fields seed
#: 003's examples show: a list without items, ``order.get`` with ``items`` and ``receiver_info``).
JOS_SEED_SHAPES = ("full", "documented")


@dataclass(frozen=True)
class Faults:
    """Per-request probabilities of each injected fault kind (their sum must be <= 1).

    - ``code_301``/``code_302``/``code_500``/``code_503``: an HTTP 200 envelope with that business code
      (mapped per gateway, see ``faults.py``);
    - ``http_5xx``: HTTP 500/502/503/504 with an HTML or empty body;
    - ``timeout``: the server hangs ``hang_seconds`` and then closes the connection without answering;
    - ``malformed``: HTTP 200 with a truncated JSON body or an HTML page.
    """

    code_301: float = 0.0
    code_302: float = 0.0
    code_500: float = 0.0
    code_503: float = 0.0
    http_5xx: float = 0.0
    timeout: float = 0.0
    malformed: float = 0.0
    hang_seconds: float = 3.0

    KINDS = ("code_301", "code_302", "code_500", "code_503", "http_5xx", "timeout", "malformed")

    def __post_init__(self) -> None:
        for kind in self.KINDS:
            p = getattr(self, kind)
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"fault probability {kind}={p!r} must be within [0, 1]")
        if sum(self.rates().values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must sum to at most 1")
        if self.hang_seconds < 0:
            raise ValueError("hang_seconds must be >= 0")

    def rates(self) -> dict[str, float]:
        return {kind: float(getattr(self, kind)) for kind in self.KINDS}


@dataclass(frozen=True)
class Scale:
    """The resolved size of a catalog (a preset with any individual overrides applied)."""

    name: str
    n_skus: int
    n_comments: int  # target total of comments existing at the initial "now"
    order_days: int  # days of orders before (and including) the initial "now"
    orders_per_day: int
    unsupported_ratio: float  # share of SKUs whose details answer code 202
    top_sku_min_comments: int  # the busiest SKU gets at least this many comments
    zero_comment_ratio: float  # share of SKUs with no comments at all


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 8, 300, 5, 6, 0.0, 0, 0.125),
    "demo": Scale("demo", 40, 4000, 14, 25, 0.05, 1200, 0.15),
    "large": Scale("large", 100_000, 10_000_000, 30, 400, 0.01, 0, 0.30),
}


def _default_rps() -> dict[str, float | None]:
    return {"justone": 50.0, "jos": 50.0, "fengchao": 50.0}


@dataclass
class SandboxConfig:
    """Everything that determines a sandbox. See the package README for what each knob does."""

    seed: int = 7
    scale: str = "demo"
    now: datetime | None = None
    n_skus: int | None = None
    n_comments: int | None = None
    order_days: int | None = None
    orders_per_day: int | None = None
    unsupported_ratio: float | None = None
    token: str = DEFAULT_TOKEN
    jos_app_key: str = DEFAULT_JOS_APP_KEY
    jos_app_secret: str = DEFAULT_JOS_APP_SECRET
    jos_access_token: str = DEFAULT_JOS_ACCESS_TOKEN
    fengchao_app_id: str = DEFAULT_FENGCHAO_APP_ID
    fengchao_app_secret: str = DEFAULT_FENGCHAO_APP_SECRET
    fengchao_seller_nick: str = DEFAULT_FENGCHAO_SELLER_NICK
    rate_limit_rps: dict[str, float | None] = field(default_factory=_default_rps)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    details_pending_polls: int = 2
    faults: Faults = field(default_factory=Faults)
    jos_timestamp_skew_s: float | None = 360  # None disables the check
    fengchao_timestamp_skew_s: float | None = 600  # None disables the check
    pii_marker: str | None = None
    jos_seed_shape: str = "full"
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; choose one of {sorted(SCALES)}")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("SandboxConfig.now must be an aware datetime (Asia/Shanghai)")
        if self.details_pending_polls < 0:
            raise ValueError("details_pending_polls must be >= 0")
        if self.jos_seed_shape not in JOS_SEED_SHAPES:
            raise ValueError(f"jos_seed_shape must be one of {JOS_SEED_SHAPES}, got {self.jos_seed_shape!r}")
        unknown = set(self.rate_limit_rps) - set(GATEWAYS)
        if unknown:
            raise ValueError(f"unknown gateway(s) in rate_limit_rps: {sorted(unknown)}")

    def resolved_scale(self) -> Scale:
        base = SCALES[self.scale]
        overrides = {
            name: value
            for name, value in (
                ("n_skus", self.n_skus),
                ("n_comments", self.n_comments),
                ("order_days", self.order_days),
                ("orders_per_day", self.orders_per_day),
                ("unsupported_ratio", self.unsupported_ratio),
            )
            if value is not None
        }
        scale = dataclasses.replace(base, **overrides)
        if scale.n_skus < 1 or scale.n_skus > 1_000_000:
            raise ValueError("n_skus must be within 1..1,000,000")
        if scale.n_comments < 0 or scale.order_days < 1 or scale.orders_per_day < 0:
            raise ValueError("n_comments and orders_per_day must be >= 0, order_days >= 1")
        return scale

    def start_now(self) -> datetime:
        """The initial simulated now (also the catalog's anchor: history is generated up to it)."""
        return (self.now or DEFAULT_NOW).astimezone(BEIJING)
