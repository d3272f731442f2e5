"""A process-wide rate limiter per gateway: every client instance of a gateway in this process shares it.

The limiter is a token bucket written in its "virtual scheduling" form (GCRA): each request reserves
the next free slot under a lock, then sleeps *outside* the lock until its slot, so concurrent threads
are spaced ``1 / requests_per_second`` apart without holding each other up while they wait. A
rate-limited answer (HTTP 429, code 302, router code 2) pushes the next free slot back for every
thread of the gateway (``hold``), which is how ``Retry-After`` slows the whole run down, not just the
request that received it.

Scope: one Python process. Dagster's multiprocess executor runs steps in separate processes, so the
assets that call a gateway should also share a concurrency pool (the asset definitions own that).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from jd_assets.errors import ConfigError


class RateLimiter:
    """Spaces acquisitions ``1 / rate`` seconds apart, allowing ``burst`` back-to-back ones."""

    def __init__(self, rate: float, *, burst: int = 1):
        self._lock = threading.Lock()
        self._tat: float | None = None  # theoretical arrival time of the next request
        self.configure(rate, burst=burst)

    def configure(self, rate: float, *, burst: int = 1) -> None:
        if not rate > 0:
            raise ConfigError(f"requests_per_second must be > 0, got {rate!r}")
        if burst < 1:
            raise ConfigError(f"burst must be >= 1, got {burst!r}")
        with self._lock:
            self.rate = float(rate)
            self.burst = int(burst)

    def reserve(self, now: float) -> float:
        """Reserve the next slot; return how long to wait (seconds, >= 0) before using it."""
        with self._lock:
            interval = 1.0 / self.rate
            tat = now if self._tat is None else max(self._tat, now)
            wait = max(0.0, tat - (self.burst - 1) * interval - now)
            self._tat = tat + interval
            return wait

    def acquire(self, clock: Callable[[], float], sleep: Callable[[float], object]) -> float:
        """Block until this caller may send; return the time waited."""
        wait = self.reserve(clock())
        if wait > 0:
            sleep(wait)
        return wait

    def hold(self, seconds: float, now: float) -> None:
        """Let no request of this gateway start before ``now + seconds`` (after a rate-limited answer)."""
        with self._lock:
            until = now + max(0.0, seconds)
            self._tat = until if self._tat is None else max(self._tat, until)


_REGISTRY: dict[str, RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_limiter(gateway: str, rate: float) -> RateLimiter:
    """The one limiter of ``gateway`` in this process; the most recent configured rate applies."""
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(gateway)
        if limiter is None:
            limiter = _REGISTRY[gateway] = RateLimiter(rate)
        elif limiter.rate != rate:
            limiter.configure(rate, burst=limiter.burst)
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter (tests that swap clocks use this)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
