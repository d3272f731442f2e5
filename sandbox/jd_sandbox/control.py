"""The sandbox's mutable state, all thread-safe: simulated clock, counters, rate limits, fault plan,
forced codes and per-item failures.

Fault fates are reproducible: the k-th request of an endpoint draws ``unit(seed, "fault", endpoint, k)``
and walks the cumulative fault probabilities, so the same seed and the same request sequence give the
same faults; with p = 0.1, about 10% of requests get that fault.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from ._hash import unit
from .config import GATEWAYS, Faults


class SimClock:
    """The simulated "now" (epoch seconds). Records exist up to it; only Python or admin calls move it."""

    def __init__(self, start: int):
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return self._now

    def set(self, epoch: int) -> int:
        with self._lock:
            self._now = int(epoch)
            return self._now

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._now += int(seconds)
            return self._now


class Counters:
    """Requests per endpoint, billed calls per endpoint, faults per kind, rate-limited per gateway."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sequence: Counter[str] = Counter()  # never reset: fault fates keep their order
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._billed: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._rate_limited: Counter[str] = Counter()
            self._refused: Counter[str] = Counter()
            self._forced: Counter[str] = Counter()

    def request(self, endpoint: str) -> int:
        """Count a request; return its 0-based sequence number for the endpoint (for fault fates)."""
        with self._lock:
            self._requests[endpoint] += 1
            k = self._sequence[endpoint]
            self._sequence[endpoint] += 1
            return k

    def bill(self, endpoint: str) -> None:
        with self._lock:
            self._billed[endpoint] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def rate_limited(self, gateway: str) -> int:
        with self._lock:
            self._rate_limited[gateway] += 1
            return self._rate_limited[gateway]

    def refused(self, endpoint: str) -> None:
        with self._lock:
            self._refused[endpoint] += 1

    def forced(self, key: str) -> None:
        with self._lock:
            self._forced[key] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "billed": dict(self._billed),
                "faults": dict(self._faults),
                "rate_limited": dict(self._rate_limited),
                "refused": dict(self._refused),
                "forced": dict(self._forced),
            }


class TokenBucket:
    """``rps`` tokens a second, burst ``max(1, rps)``; ``None``/0 means unlimited. Uses the wall clock."""

    def __init__(self, rps: float | None):
        self._lock = threading.Lock()
        self.configure(rps)

    def configure(self, rps: float | None) -> None:
        with self._lock:
            self.rps = float(rps) if rps else 0.0
            self.capacity = max(1.0, self.rps)
            self._tokens = self.capacity
            self._stamp = time.monotonic()

    def take(self) -> bool:
        with self._lock:
            if self.rps <= 0:
                return True
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rps)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class FaultPlan:
    """Decides, reproducibly, which fault (if any) the k-th request of an endpoint gets."""

    def __init__(self, seed: int, faults: Faults):
        self.seed = seed
        self._lock = threading.Lock()
        self._faults = faults

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def decide(self, endpoint: str, k: int) -> str | None:
        faults = self.faults
        u = unit(self.seed, "fault", endpoint, k)
        edge = 0.0
        for kind, p in faults.rates().items():
            edge += p
            if p > 0 and u < edge:
                return kind
        return None


class Overrides:
    """Forced business codes per gateway (for quota/auth codes) and forced failures per item id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forced: dict[str, list[Any]] = {}  # gateway -> [code, remaining or None]
        self._items: dict[str, int] = {}

    def force_code(self, gateway: str, code: int | str, count: int | None = None) -> None:
        if gateway not in GATEWAYS:
            raise ValueError(f"unknown gateway {gateway!r}; choose one of {GATEWAYS}")
        with self._lock:
            self._forced[gateway] = [code, count]

    def clear_forced(self, gateway: str | None = None) -> None:
        with self._lock:
            if gateway is None:
                self._forced.clear()
            else:
                self._forced.pop(gateway, None)

    def take_forced(self, gateway: str) -> int | str | None:
        with self._lock:
            entry = self._forced.get(gateway)
            if entry is None:
                return None
            code, remaining = entry
            if remaining is not None:
                if remaining <= 1:
                    del self._forced[gateway]
                else:
                    entry[1] = remaining - 1
            return code

    def fail_item(self, item_id: str, code: int = 301) -> None:
        with self._lock:
            self._items[str(item_id)] = int(code)

    def clear_item_failures(self) -> None:
        with self._lock:
            self._items.clear()

    def item_failure(self, item_id: str | None) -> int | None:
        if not item_id:
            return None
        with self._lock:
            return self._items.get(item_id)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "forced": {g: {"code": c, "remaining": n} for g, (c, n) in self._forced.items()},
                "failing_items": dict(self._items),
            }
