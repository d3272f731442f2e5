"""Fixtures of the gateway tests: a fake clock (every sleep instant and recorded), fresh rate limiters,
distinctive secrets (so a leak is easy to spot), and resources pointing at respx-mocked hosts."""

from __future__ import annotations

import random

import pytest

from jd_assets.gateways.fengchao import FengchaoResource
from jd_assets.gateways.jos import JosResource
from jd_assets.gateways.justone import JustOneResource
from jd_assets.http.limiter import reset_shared_limiters

JUSTONE_URL = "https://justone.test"
JOS_URL = "https://jos.test/routerjson"
FENGCHAO_URL = "https://fengchao.test/api"

TOKEN = "tok-LEAKCHECK-7f3a9c1e"
JOS_APP_KEY = "APPKEY123"
JOS_SECRET = "jos-SECRET-LEAKCHECK-5b8d"
JOS_ACCESS = "jos-ACCESS-LEAKCHECK-2c4e"
FC_SECRET = "fc-SECRET-LEAKCHECK-9a1f"
ALL_SECRETS = (TOKEN, JOS_SECRET, JOS_ACCESS, FC_SECRET)

# 2024-01-02 03:04:05 Beijing time, as epoch seconds.
WALL_START = 1704135845.0


class FakeClock:
    """Monotonic and wall time that only move when something sleeps; every sleep is recorded."""

    def __init__(self, start: float = 1000.0, wall: float = WALL_START):
        self.start = start
        self.now = start
        self.wall = wall
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + (self.now - self.start)

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def waits(self) -> list[float]:
        """The sleeps longer than the millisecond spacing of a fast test limiter (backoffs, Retry-After)."""
        return [round(s, 6) for s in self.sleeps if s > 0.01]


class MaxRandom(random.Random):
    """A random source whose uniform() returns the upper bound: backoff waits become deterministic."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture(autouse=True)
def _fresh_limiters():
    reset_shared_limiters()
    yield
    reset_shared_limiters()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def inject(clock: FakeClock) -> dict:
    """Test doubles for ``resource.open(**inject)``: instant sleeps, a fake clock, max-bound backoff."""
    return {"sleep": clock.sleep, "clock": clock.monotonic, "wall_clock": clock.time, "rng": MaxRandom()}


@pytest.fixture
def justone_resource() -> JustOneResource:
    return JustOneResource(
        base_url=JUSTONE_URL,
        token=TOKEN,
        requests_per_second=1000.0,
        max_attempts=4,
        backoff_base_s=0.5,
        backoff_max_s=4.0,
        details_first_poll_s=3.0,
        details_poll_interval_s=3.0,
        details_deadline_s=30.0,
    )


@pytest.fixture
def jos_resource() -> JosResource:
    return JosResource(
        base_url=JOS_URL,
        app_key=JOS_APP_KEY,
        app_secret=JOS_SECRET,
        access_token=JOS_ACCESS,
        requests_per_second=1000.0,
        max_attempts=4,
        backoff_base_s=0.5,
        backoff_max_s=4.0,
    )


@pytest.fixture
def fengchao_resource() -> FengchaoResource:
    return FengchaoResource(
        base_url=FENGCHAO_URL,
        app_id="fc-app-1",
        app_secret=FC_SECRET,
        seller_nick="38173182",
        requests_per_second=1000.0,
        max_attempts=4,
        backoff_base_s=0.5,
        backoff_max_s=4.0,
    )


def exception_texts(exc: BaseException) -> str:
    """str and repr of an exception and of every exception chained to it (cause and context)."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 40:
        seen += [str(current), repr(current), *(repr(a) for a in current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


def assert_no_secret(text: str) -> None:
    for secret in ALL_SECRETS:
        assert secret not in text, f"secret {secret[:8]}… leaked"
        assert "LEAKCHECK" not in text
