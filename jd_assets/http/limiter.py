"""One rate limit per gateway and credentials, shared by every thread and every process on the machine.

The limiter is a token bucket written in its "virtual scheduling" form (GCRA): each request reserves
the next free slot (the theoretical arrival time, TAT), then sleeps *outside* any lock until its slot,
so concurrent callers are spaced ``1 / requests_per_second`` apart without holding each other up while
they wait. A rate-limited answer (HTTP 429, code 302, router code 2) pushes the next free slot back for
every caller of the gateway (``hold``), which is how ``Retry-After`` slows every run down, not just the
request that received it.

Across processes. JD's quota belongs to the credentials, not to a run, and Dagster starts each run (and,
with the multiprocess executor, each step) in a process of its own: a UI backfill of one run per
partition, the schedule's run and a manual run all crawl at once. Each with its own limiter at R, two
runs overshot the plan (55 rate-limited answers per 1,000 pages, bench/RESULTS.md row 3). So the
resources' clients keep the TAT in a small file (8 bytes, a float on the system-wide monotonic clock)
and reserve their slot under an ``fcntl`` lock on it: every process reserves from the same schedule,
and together they send at R, never above. Why not Dagster's concurrency pools: a pool bounds how many
steps run at once, not how fast they send; a pool of 1 would serialise the runs (one partition's pages
at a time, ~0.9 of R at 50 ms latency, and nothing of the other runs' work in parallel), and a larger
pool is back to R per run. A file lock costs a few microseconds per request (bench/RESULTS.ratelimit.md)
and needs neither the daemon nor a database.

The file is named by the gateway and a hash of its base URL and credentials (never the secrets
themselves) and the boot (the monotonic clock restarts at a reboot); it lives in ``JD_RATE_LIMIT_DIR``,
by default a folder of the user's own in the system's temp dir, so every Dagster instance and shell on
the machine that uses the same credentials shares it. Runs on *other* hosts do not: give each host its
share of the plan (``JD_*_RPS``) there.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import stat
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from jd_assets.errors import ConfigError

RATE_LIMIT_DIR_ENV = "JD_RATE_LIMIT_DIR"
_TAT = struct.Struct("<d")


class RateLimiter:
    """Spaces acquisitions ``1 / rate`` seconds apart, allowing ``burst`` back-to-back ones (this process)."""

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
            tat = self._load()
            try:
                interval = 1.0 / self.rate
                tat = now if tat is None else max(tat, now)
                self._store(tat + interval)
                return max(0.0, tat - (self.burst - 1) * interval - now)
            finally:
                self._release()

    def acquire(self, clock: Callable[[], float], sleep: Callable[[float], object]) -> float:
        """Block until this caller may send; return the time waited."""
        wait = self.reserve(clock())
        if wait > 0:
            sleep(wait)
        return wait

    def hold(self, seconds: float, now: float) -> None:
        """Let no request of this gateway start before ``now + seconds`` (after a rate-limited answer)."""
        with self._lock:
            tat = self._load()
            try:
                until = now + max(0.0, seconds)
                self._store(until if tat is None else max(tat, until))
            finally:
                self._release()

    # The TAT's storage, called under ``self._lock``: ``_load`` may take a lock that ``_release`` gives back.
    def _load(self) -> float | None:
        return self._tat

    def _store(self, tat: float) -> None:
        self._tat = tat

    def _release(self) -> None:
        pass

    def close(self) -> None:
        """Release what the limiter holds (nothing in this process-only form)."""


class FileRateLimiter(RateLimiter):
    """The same limiter with its TAT in ``path``, reserved under an ``fcntl`` lock by every process.

    ``now`` must be ``time.monotonic()`` (system-wide, so comparable between processes). The file stays
    open for the life of the process: a reservation is one lock, an 8-byte read and an 8-byte write.
    ``lockf`` locks belong to the process, so a forked child inheriting the descriptor still excludes
    its parent; the threading lock excludes this process's own threads.
    """

    def __init__(self, path: Path, rate: float, *, burst: int = 1):
        super().__init__(rate, burst=burst)
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise ConfigError(
                f"cannot open the shared rate-limit file {path} ({err.strerror}); set {RATE_LIMIT_DIR_ENV} "
                "to a folder this user can write"
            ) from None

    def _load(self) -> float | None:
        if self._fd is None:
            raise ConfigError(f"the shared rate-limit file {self.path} was closed")
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(self._fd, _TAT.size, 0)
        except OSError:
            self._release()
            raise
        return _TAT.unpack(raw)[0] if len(raw) == _TAT.size else None

    def _store(self, tat: float) -> None:
        os.pwrite(self._fd, _TAT.pack(tat), 0)

    def _release(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def rate_limit_dir(configured: str = "") -> Path:
    """The folder of the shared rate-limit files: ``configured``, else ``JD_RATE_LIMIT_DIR``, else a folder
    of this user's own in the temp dir. Created (mode 0700) if missing; one that another user owns or
    that others may write is refused, since whoever writes it can stall or speed up every crawl."""
    chosen = configured.strip() or os.environ.get(RATE_LIMIT_DIR_ENV, "").strip()
    folder = Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"jd_assets-rate-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as err:
        raise ConfigError(
            f"cannot create the rate-limit folder {folder} ({err.strerror}); set {RATE_LIMIT_DIR_ENV}"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ConfigError(
            f"the rate-limit folder {folder} is not a folder of this user's that only it may write; "
            f"set {RATE_LIMIT_DIR_ENV} to one"
        )
    return folder


@functools.cache
def _boot_id() -> str:
    """This boot's id (Linux): the monotonic clock starts again at a reboot, so old slots must not count."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return "boot"


def slot_file_name(gateway: str, identity: Iterable[str]) -> str:
    """``<gateway>-<hash of base URL and credentials>-<boot>.slot``: the same plan, the same file."""
    digest = hashlib.sha256("\0".join((gateway, *identity)).encode()).hexdigest()[:20]
    return f"{gateway}-{digest}-{_boot_id()}.slot"


_REGISTRY: dict[tuple[str, Path | None], RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_limiter(
    gateway: str, rate: float, *, identity: Iterable[str] | None = None, folder: str = ""
) -> RateLimiter:
    """The one limiter of ``gateway`` in this process; the most recent configured rate applies.

    With ``identity`` (base URL and credentials) it is also shared with every other process on the
    machine that uses the same identity (a ``FileRateLimiter`` in ``rate_limit_dir(folder)``);
    without, it is this process's alone.
    """
    path = None if identity is None else rate_limit_dir(folder) / slot_file_name(gateway, identity)
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get((gateway, path))
        if limiter is None:
            limiter = _REGISTRY[(gateway, path)] = (
                RateLimiter(rate) if path is None else FileRateLimiter(path, rate)
            )
        elif limiter.rate != rate:
            limiter.configure(rate, burst=limiter.burst)
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter of this process (tests that swap clocks use this)."""
    with _REGISTRY_LOCK:
        for limiter in _REGISTRY.values():
            limiter.close()
        _REGISTRY.clear()
