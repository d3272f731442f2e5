"""The demo misused (issue 15, items 1 and 5): run from a shell that points at a production setup, and
stopped with Ctrl-C or SIGTERM. The demo runs as a subprocess on the tiny catalog, stopped early."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_sandbox.demo import demo_environment

pytestmark = pytest.mark.reliability


def start_demo(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "jd_sandbox.demo", "--scale", "tiny", "--days", "3"],
        cwd=workdir,
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen, marker: str, timeout_s: float = 60) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    process.kill()
    raise AssertionError(f"{marker!r} never printed:\n" + "\n".join(lines[-30:]))


def stop(process: subprocess.Popen, signum: int, timeout_s: float = 30) -> tuple[int, list[str], float]:
    signalled = time.monotonic()
    process.send_signal(signum)
    try:
        rest, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate()
        raise AssertionError(
            f"the demo went on after {signal.Signals(signum).name}:\n{rest[-3000:]}"
        ) from None
    return process.returncode, rest.splitlines(), time.monotonic() - signalled


def runs_of(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("JD_") and k != "DAGSTER_HOME"}


# -- item 1: the demo never writes into the user's real setup ------------------------------------------


def test_the_demo_environment_sets_aside_every_jd_variable_and_dagster_home(tmp_path):
    shell = {
        "PATH": "/usr/bin",
        "DAGSTER_HOME": "/srv/dagster",
        "JD_DUCKDB_PATH": "/srv/prod.duckdb",
        "JD_TRACKED_ITEMS_PATH": "/srv/tracked.csv",
        "JD_PII_KEY": "the-production-pii-key",
        "JD_JUSTONE_TOKEN": "production-token",
        "JD_ORDERS_START_DATE": "2020-01-01",
    }

    environment, set_aside = demo_environment(shell, tmp_path / "data")

    assert set_aside == sorted(name for name in shell if name != "PATH")
    assert environment["PATH"] == "/usr/bin"
    assert environment["DAGSTER_HOME"] == str(tmp_path / "data" / "dagster_home")
    assert environment["JD_DUCKDB_PATH"] == str(tmp_path / "data" / "jd.duckdb")
    assert environment["JD_TRACKED_ITEMS_PATH"] == str(tmp_path / "data" / "tracked_items.csv")
    assert "production" not in "".join(environment.values())
    assert "JD_ORDERS_START_DATE" not in environment and "JD_JUSTONE_TOKEN" not in environment


def digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass
class StoppedDemo:
    workdir: Path
    printed: list[str]
    status: int
    after_signal: list[str]
    took_s: float


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A production setup the shell points at: a DuckDB file, an instance, a tracked-items file."""
    production = tmp_path_factory.mktemp("production")
    (production / "dagster_home").mkdir()
    (production / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    con = duckdb.connect(str(production / "jd.duckdb"))
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.orders AS SELECT 'real order' AS order_id")
    con.close()
    (production / "tracked_items.csv").write_text("sku_id\n100000000001\n")
    return production, digest(production)


@pytest.fixture(scope="module")
def demo_stopped_by(tmp_path_factory, production):
    """The tiny demo, run from a shell pointing at ``production``, stopped by a signal while the second
    order day's run is in flight (one run per signal, shared by the tests)."""
    folder, _ = production
    shell = clean_env() | {
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "JD_DUCKDB_PATH": str(folder / "jd.duckdb"),
        "JD_TRACKED_ITEMS_PATH": str(folder / "tracked_items.csv"),
        "JD_PII_KEY": "the-production-pii-key-0123",
    }
    stopped: dict[int, StoppedDemo] = {}

    def run(signum: int) -> StoppedDemo:
        if signum not in stopped:
            workdir = tmp_path_factory.mktemp(f"checkout_{signal.Signals(signum).name}")
            demo = start_demo(workdir, shell)
            printed = read_until(demo, "[orders 1/3]")  # one partition landed: where did it go?
            time.sleep(0.3)  # the second order day's run is in flight
            stopped[signum] = StoppedDemo(workdir, printed, *stop(demo, signum))
        return stopped[signum]

    return run


def test_the_demo_writes_only_its_own_files_whatever_the_shell_holds(production, demo_stopped_by):
    folder, before = production
    demo = demo_stopped_by(signal.SIGTERM)

    assert demo.printed[0] == (
        "ignoring DAGSTER_HOME, JD_DUCKDB_PATH, JD_PII_KEY, JD_TRACKED_ITEMS_PATH from your shell: "
        "the demo writes only under data/"
    )
    assert digest(folder) == before, "the production file, instance and tracked items are untouched"
    assert runs_of(folder / "dagster_home") == []
    assert runs_of(demo.workdir / "data" / "dagster_home")[-1].job_name == "raw_orders_job"
    con = duckdb.connect(str(demo.workdir / "data" / "jd.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM raw.orders").fetchone()[0] > 0
    con.close()


# -- item 5: Ctrl-C and SIGTERM stop the demo ----------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_demo_at_once_leaving_no_run_unfinished(demo_stopped_by, signum):
    demo = demo_stopped_by(signum)

    name = signal.Signals(signum).name
    print(f"{name}: exit {demo.status} after {demo.took_s:.1f}s; " + " | ".join(demo.after_signal))
    assert demo.status == 128 + signum, "\n".join(demo.after_signal)
    assert demo.took_s < 10
    assert any(line.startswith(f"stopped by {name}") for line in demo.after_signal)
    assert not any(
        "UNEXPECTED FAILURE" in line or "comments and details" in line for line in demo.after_signal
    )
    runs = runs_of(demo.workdir / "data" / "dagster_home")
    assert {r.job_name for r in runs} == {"raw_orders_job"}, "no stage after the signal was started"
    assert len(runs) <= 3
    assert all(r.is_finished for r in runs), [(r.run_id, r.status) for r in runs]


def test_a_stopped_demo_leaves_its_orders_backfill_closed_as_canceled(demo_stopped_by):
    from dagster._core.execution.backfill import BulkActionStatus

    demo = demo_stopped_by(signal.SIGTERM)

    with dg.DagsterInstance.from_config(str(demo.workdir / "data" / "dagster_home")) as instance:
        (backfill,) = instance.get_backfills()
        runs = instance.get_runs()
    assert backfill.status == BulkActionStatus.CANCELED, "no daemon resumes it without the demo's sandbox"
    assert backfill.partition_names == sorted(backfill.partition_names) and len(backfill.partition_names) == 3
    assert {run.tags["dagster/backfill"] for run in runs} == {backfill.backfill_id}
    assert all(run.remote_job_origin.location_name == "jd_assets.definitions" for run in runs)
