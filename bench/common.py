"""Shared helpers of the benchmarks: work dirs, child processes (for honest peak memory), resources, timing.

Every contender whose memory is reported runs in its own child process (``bench/child.py``), so two
contenders never share one process's high-water mark; the child reports its own ``ru_maxrss``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
PY = sys.executable


def workdir(name: str, *, fresh: bool = True) -> Path:
    path = WORK / name
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB.

    ``VmHWM`` of /proc/self/status belongs to the process's own address space (reset by exec);
    ``ru_maxrss`` is not used on Linux because it keeps the parent's high-water mark across exec.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(target: str, args: dict, *, timeout: float = 3600) -> dict:
    """Run ``module:function(**args)`` in a fresh Python process; return its JSON result.

    The child adds ``peak_rss_mib`` (its own high-water mark, VmHWM) and ``child_wall_s`` (inside the child,
    imports excluded) to the result.
    """
    # the caller's own path (an extra folder holding the bench extra, say) stays after the package's
    inherited = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(BENCH), str(ROOT), inherited) if p)}
    proc = subprocess.run(
        [PY, str(BENCH / "child.py"), target, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-30:])
        raise RuntimeError(f"child {target} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len("BENCH_RESULT ") :])


#: The code a cached input can depend on: all of the sandbox's and the package's (broader than any one
#: input needs, so that no change that matters can leave a stale cache behind).
CODE = sorted([*(ROOT / "sandbox" / "jd_sandbox").glob("*.py"), *(ROOT / "jd_assets").rglob("*.py")])


def cached_input(name: str, key: object, make) -> Path:
    """The file ``make(path)`` writes, made once per ``key``, the code and duckdb's version, and kept in
    ``bench/.work/inputs/`` (older versions of ``name`` removed); untimed set-up the benchmarks copy from."""
    import duckdb

    digest = hashlib.sha256(repr([key, duckdb.__version__]).encode())
    for source in CODE:
        digest.update(source.read_bytes())
    folder = WORK / "inputs"
    path = folder / f"{name}_{digest.hexdigest()[:16]}.duckdb"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{name}_*"):
            old.unlink()
        scratch = folder / f"{name}.tmp"
        scratch.unlink(missing_ok=True)
        make(scratch)
        duckdb.connect(str(scratch)).close()  # folds a write-ahead log left beside it into the file
        scratch.rename(path)  # last: a crash while making it leaves no half-made cache behind
        for leftover in folder.glob(f"{name}.tmp*"):  # the warehouse's lock file beside it
            leftover.unlink()
    return path


@dataclass
class Row:
    """One line of the results table."""

    number: int
    benchmark: str
    measured: str
    baseline: str
    ratio: str
    bar: str
    met: str  # "yes", "no", "n/a" (context row)
    details: list[str] = field(default_factory=list)


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def fake_context(partition_key: str, run_id: str = "bench") -> types.SimpleNamespace:
    """What the raw assets read from their context (partition key, run id), for calling the asset's own
    function without Dagster's per-run machinery (same code as the asset, minus the run)."""
    return types.SimpleNamespace(partition_key=partition_key, run=types.SimpleNamespace(run_id=run_id))


def justone_resource(env: dict[str, str], **overrides):
    from jd_assets.gateways.justone import JustOneResource

    return JustOneResource(base_url=env["JD_JUSTONE_BASE_URL"], token=env["JD_JUSTONE_TOKEN"], **overrides)


def warehouse_resource(path: Path):
    from jd_assets.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(database=str(path))


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def http_wait_meter():
    """Patch the shared HTTP layer's ``_send`` (bench process only) to add up the time spent waiting on
    HTTP answers; returns a dict whose ``s`` grows. The package is not changed."""
    from jd_assets.http import layer

    meter = {"s": 0.0, "n": 0}
    original = layer.GatewayHttp._send
    if getattr(original, "_bench_wrapped", False):
        return original._bench_meter

    def timed(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            meter["s"] += time.perf_counter() - t0
            meter["n"] += 1

    timed._bench_wrapped = True  # type: ignore[attr-defined]
    timed._bench_meter = meter  # type: ignore[attr-defined]
    layer.GatewayHttp._send = timed
    return meter
