"""The main job on the embedded default: the local sandbox in, ``data/jd.duckdb`` out.

Starts the sandbox on a free loopback port, points every resource at it, then drives Dagster as a user's
deployment would: the orders of the last two weeks, the sensors that turn the tracked-items file, the
ordered SKUs and the SKU→ware links into partitions, every raw asset of those partitions, then the clean
and mart tables, published to the analysts' read-only copy (``data/jd_analytics.duckdb``). Runs are
recorded in ``data/dagster_home``, so ``make dev`` shows them afterwards. Running it twice gives the same
tables.

The demo writes only its own files under ``data/`` (``data/jd.duckdb``, its published copy,
``data/dagster_home``), whatever the shell holds: every ``JD_*`` variable and ``DAGSTER_HOME`` of the shell
is set aside (and named), so a production file or instance is never touched and no made-up SKU reaches a
real schedule. SIGINT or SIGTERM stops it at once: the run in flight ends (Dagster's own handling),
nothing else is started, no run is left looking queued or running, and the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from jd_assets.raw import sensors
from jd_sandbox import Sandbox, SandboxConfig

SAMPLE_SQL = """SELECT sku_id, product_title, n_reviews, round(avg_score, 2) AS avg_score,
       round(bayes_score, 2) AS bayes_score, units_sold
FROM marts.product_review_summary
WHERE n_reviews >= 20
ORDER BY bayes_score, sku_id
LIMIT 5"""
#: Demo-only pseudonymisation key: real deployments set their own secret JD_PII_KEY.
DEMO_PII_KEY = "jd-assets-demo-pii-key"


#: Where the demo writes, relative to the folder it runs in (the repository's root for ``make demo``).
DATA = Path("data")
#: The shell's variables the demo never reads: they may point at a production file, instance or gateway.
SHELL_PREFIXES = ("JD_",)
SHELL_NAMES = ("DAGSTER_HOME",)


class Interrupted(BaseException):
    """SIGINT or SIGTERM: stop the demo at once (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Signals:
    """SIGINT and SIGTERM stop the demo, also when they arrive while Dagster runs a job.

    Dagster's in-process execution takes over both signals while a run is in flight (the run then ends
    as failed, and execution returns normally); the wakeup pipe still sees every signal, so the demo
    learns of it after the run and stops instead of starting the next one.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.received: int | None = None

    def install(self) -> None:
        signal.set_wakeup_fd(self._write)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._raise)

    def _raise(self, signum: int, _frame) -> None:
        self.received = self.received or signum
        raise Interrupted(signum)

    def check(self) -> None:
        """Raise Interrupted if SIGINT or SIGTERM arrived since the last check (even inside a run)."""
        try:
            seen = os.read(self._read, 512)
        except BlockingIOError:
            seen = b""
        for signum in seen:
            if signum in (signal.SIGINT, signal.SIGTERM):
                self.received = self.received or signum
        if self.received:
            raise Interrupted(self.received)


SIGNALS = _Signals()


#: Progress lines come from the demo itself; Dagster's own events stay in the run log (``make dev``).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _say(message: str) -> None:
    print(message, flush=True)


def _run_partitions(defs, instance, job_name: str, keys: list[str], label: str) -> list[str]:
    """One run per partition, as a backfill from the UI launches them; returns the unexpected failures.

    A partition that JD itself refuses (an unsupported product, an unknown item) fails alone, as it
    would in production: it is reported, and does not make the demo fail.
    """
    job = defs.resolve_job_def(job_name)
    unexpected: list[str] = []
    for index, key in enumerate(keys, start=1):
        result = job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET
        )
        SIGNALS.check()
        status = "ok" if result.success else "failed before any step ran"
        for event in result.all_events:
            if event.is_step_failure:
                failure = event.step_failure_data
                scope = failure.user_failure_data.metadata.get("scope") if failure.user_failure_data else None
                described = failure.user_failure_data.description if failure.user_failure_data else None
                message = described or failure.error.message.strip().splitlines()[0]
                status = f"failed ({getattr(scope, 'value', 'error')} scope): {message}"
                if getattr(scope, "value", None) != "partition":
                    unexpected.append(f"{label} {key}: {message}")
        if not result.success and status == "failed before any step ran":
            unexpected.append(f"{label} {key}: {status}")
        _say(f"  [{label} {index}/{len(keys)}] {key}: {status}")
    return unexpected


def _refresh_comments(defs, instance) -> list[str]:
    """Every SKU's comments in one run, as the daily schedule does: each SKU its own partition."""
    result = defs.resolve_job_def("raw_comments_refresh_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    SIGNALS.check()
    landed = result.get_asset_materialization_events()
    rows = sum(e.materialization.metadata["rows_new"].value for e in landed)
    _say(f"  comments: {len(landed)} SKU partitions, {rows} new comments, in one run")
    return [] if result.success else ["raw_comments_refresh_job failed"]


def _build_derived(defs, instance) -> list[str]:
    """The derived tables in one run (the automation sensor does this by itself under the daemon)."""
    result = defs.resolve_job_def("derived_tables_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    SIGNALS.check()
    checks = result.get_asset_check_evaluations()
    failed = [
        f"{c.asset_check_key.asset_key.to_user_string()}:{c.asset_check_key.name}"
        for c in checks
        if not c.passed
    ]
    built = [e.asset_key for e in result.get_asset_materialization_events()]
    published = sum(key.to_user_string() == "published_copy" for key in built)
    _say(
        f"  {len(built) - published} tables built, {'published, ' if published else ''}"
        f"{len(checks) - len(failed)}/{len(checks)} checks passed"
    )
    for name in failed:
        _say(f"  check did not pass: {name}")
    return [] if result.success else ["derived_tables_job failed"]


def _evaluate_sensor(defs, instance, sensor: dg.SensorDefinition) -> list[str]:
    """Evaluate a sensor once and apply its partition requests, as the daemon would; return new keys."""
    name = sensor.name
    resources = {"warehouse": defs.resources["warehouse"]}
    with dg.build_sensor_context(instance=instance, resources=resources, sensor_name=name) as context:
        result = sensor(context)
    added: list[str] = []
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
                added += list(request.partition_keys)
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    _say(f"  sensor {name}: {len(added)} new keys")
    return added


def _summary(db_path: Path, published: Path) -> None:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables() ORDER BY 1"
        ).fetchall()
        _say(f"\nDuckDB file (the pipeline's): {db_path.resolve()}")
        for name, _ in rows:
            (count,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            _say(f"  {name:<32} {count:>8} rows")
    finally:
        con.close()
    if not published.exists():
        _say(f"\nno published copy at {published}: the derived tables did not all build")
        return
    con = duckdb.connect(str(published), read_only=True)
    try:
        published_at, tables = con.execute("SELECT published_at, tables FROM meta.publish").fetchone()
        _say(f"\nPublished read-only copy for analysts: {published.resolve()}")
        _say(f"  {tables} clean and mart tables, published at {published_at:%Y-%m-%d %H:%M:%S %Z}")
        _say(f"\nSample query (duckdb -readonly {published}):\n{SAMPLE_SQL}")
        for row in con.execute(SAMPLE_SQL).fetchall():
            _say(f"  {row}")
    finally:
        con.close()


def demo_environment(shell: dict[str, str], data: Path = DATA) -> tuple[dict[str, str], list[str]]:
    """The environment the demo runs in, and the shell variables it set aside (named to the user).

    Every ``JD_*`` variable and ``DAGSTER_HOME`` of the shell is dropped: the demo's file, instance,
    tracked items, key and gateways are its own, under ``data``, whatever the shell holds.
    """
    set_aside = sorted(name for name in shell if name.startswith(SHELL_PREFIXES) or name in SHELL_NAMES)
    environment = {name: value for name, value in shell.items() if name not in set_aside}
    environment |= {
        "DAGSTER_HOME": str((data / "dagster_home").resolve()),
        "JD_DUCKDB_PATH": str(data / "jd.duckdb"),
        "JD_ANALYTICS_PATH": str(data / "jd_analytics.duckdb"),
        "JD_TRACKED_ITEMS_PATH": str(data / "tracked_items.csv"),
        "JD_PII_KEY": DEMO_PII_KEY,
        # The sandbox allows 50 requests/s per gateway; the production defaults are more careful.
        "JD_JUSTONE_RPS": "25",
        "JD_JOS_RPS": "25",
        "JD_FENGCHAO_RPS": "25",
    }
    return environment, set_aside


def _cancel_unfinished_runs(instance, since: float, why: str) -> int:
    """Runs of this demo that never finished (interrupted before or while starting) become CANCELED."""
    unfinished = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
            created_after=datetime.fromtimestamp(since, UTC),
        )
    )
    for run in unfinished:
        instance.report_run_canceled(run, message=why)
    return len(unfinished)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--days", type=int, default=14, help="days of orders to land, ending yesterday")
    args = parser.parse_args(argv)

    SIGNALS.install()
    started, created_after = time.monotonic(), time.time()
    environment, set_aside = demo_environment(dict(os.environ))
    if set_aside:
        _say(f"ignoring {', '.join(set_aside)} from your shell: the demo writes only under {DATA}/")
    os.environ.clear()
    os.environ.update(environment)
    db_path = Path(environment["JD_DUCKDB_PATH"])
    home = Path(environment["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    instance = None
    try:
        with Sandbox(SandboxConfig(seed=args.seed, scale=args.scale, details_pending_polls=1)) as sandbox:
            _say(f"sandbox serving JD gateways at {sandbox.base_url} (seed {args.seed}, now {sandbox.now})")
            os.environ.update(sandbox.env())
            # The code location reads its configuration when it loads: load it after pointing it here.
            defs = importlib.import_module("jd_assets.definitions").defs
            instance = dg.DagsterInstance.get()
            failures = _run_stages(defs, instance, sandbox, args.days)
        _say("clean and mart tables, with their asset checks, then the analysts' published copy:")
        failures += _build_derived(defs, instance)
        _summary(db_path, Path(defs.resources["analytics"].path))
        SIGNALS.check()
    except Interrupted as stop:
        why = f"demo stopped by {stop}"
        canceled = _cancel_unfinished_runs(instance, created_after, why) if instance else 0
        marked = f"; {canceled} unfinished run(s) marked canceled" if canceled else ""
        _say(f"\nstopped by {stop} after {time.monotonic() - started:.0f}s: nothing more was started{marked}")
        return 128 + stop.signum
    _say(f"\nfinished in {time.monotonic() - started:.0f}s")
    for failure in failures:
        _say(f"UNEXPECTED FAILURE {failure}")
    return 1 if failures else 0


def _run_stages(defs, instance, sandbox, n_days: int) -> list[str]:
    today = sandbox.now.date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(n_days, 0, -1)]
    failures: list[str] = []
    _say(f"orders: {len(days)} daily partitions {days[0]} .. {days[-1]}")
    failures += _run_partitions(defs, instance, "raw_orders_job", days, "orders")
    _say("partitions from the tracked-items file and the ordered SKUs:")
    _evaluate_sensor(defs, instance, sensors.tracked_items_sensor)
    _evaluate_sensor(defs, instance, sensors.order_skus_sensor)
    items = sorted(instance.get_dynamic_partitions("jd_item"))
    _say(f"comments and details: {len(items)} SKUs")
    failures += _refresh_comments(defs, instance)
    failures += _run_partitions(defs, instance, "raw_item_details_job", items, "details")
    _evaluate_sensor(defs, instance, sensors.ware_links_sensor)
    wares = sorted(instance.get_dynamic_partitions("jd_ware"))
    _say(f"wares: {len(wares)}")
    failures += _run_partitions(defs, instance, "raw_wares_job", wares, "wares")
    return failures


if __name__ == "__main__":
    sys.exit(main())
