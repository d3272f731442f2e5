"""The main job on the embedded default: the local sandbox in, ``data/jd.duckdb`` out.

Starts the sandbox on ``make dev``'s loopback port (a free one when taken), points every resource at it,
then drives Dagster as a user's deployment would: a backfill of the orders of the last two weeks, the
sensors that turn the tracked-items file, the ordered SKUs and the SKU→ware links into partitions (with
their runs), the daily comment refresh, then the clean and mart tables, published to the analysts'
read-only copy (``data/jd_analytics.duckdb``). Runs are created from the code location's jobs and tagged as
the daemon tags them, and recorded in ``data/dagster_home``, so ``make dev`` shows them where it shows its
own (timeline, job pages, backfills) and re-executes them. Running it twice gives the same tables.

The demo writes only its own files under ``data/`` (``data/jd.duckdb``, its published copy,
``data/dagster_home``), whatever the shell holds: every ``JD_*`` variable and ``DAGSTER_HOME`` of the shell
is set aside (and named), so a production file or instance is never touched and no made-up SKU reaches a
real schedule. SIGINT or SIGTERM stops it at once: the run in flight ends (Dagster's own handling),
nothing else is started, no run is left looking queued or running, and the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.execution.job_backfill import submit_backfill_runs
from dagster._core.instance.ref import InstanceRef
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemotePartitionSetOrigin
from dagster._core.remote_representation.external_data import partition_set_snap_name_for_job_name
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import PARTITION_NAME_TAG, RUN_KEY_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

from jd_assets.raw import schedules, sensors
from jd_sandbox import Sandbox, SandboxConfig, today_start
from jd_sandbox.server import CLIENT_RATES

SAMPLE_SQL = """SELECT sku_id, product_title, n_reviews, round(avg_score, 2) AS avg_score,
       round(bayes_score, 2) AS bayes_score, units_sold
FROM marts.product_review_summary
WHERE n_reviews >= 20
ORDER BY bayes_score, sku_id
LIMIT 5"""
#: Demo-only pseudonymisation key: real deployments set their own secret JD_PII_KEY.
DEMO_PII_KEY = "jd-assets-demo-pii-key"


#: The sandbox port of the README's ``make dev`` steps, taken when free: ``dagster dev`` pointed there loads
#: the resource configuration the demo's runs recorded, so re-executing one warns of no other version.
DEV_PORT = 8765
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


#: workspace.yaml's code location (named after its module) and its one repository: runs carry this origin,
#: so ``make dev`` places them on the Overview timeline and under their job, and re-executes them.
LOCATION = "jd_assets.definitions"
REPOSITORY = SINGLETON_REPOSITORY_NAME
#: The demo's own instance settings (in memory, never written to ``dagster.yaml``): a submitted run is
#: launched at once and executed in this process, where the daemon would start a process for it.
IN_PROCESS = {
    "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
    "run_launcher": {
        "module": "dagster._core.launcher.sync_in_memory_run_launcher",
        "class": "SyncInMemoryRunLauncher",
    },
}


class Launcher:
    """Submits runs as the daemon does, through the code location: each run records the job's origin and
    snapshot, so the UI treats it like a run it launched (timeline, the job's last run, re-execution)."""

    def __init__(self, instance: dg.DagsterInstance, workspace):
        self.instance = instance
        self.workspace = workspace
        self.location = workspace.get_code_location(LOCATION)

    def run(
        self, job_name: str, tags: dict[str, str], asset_selection=None, run_config=None
    ) -> dg.DagsterRun:
        """One run of ``job_name`` (the asset subset ``asset_selection``), submitted and finished."""
        run_config = {**(run_config or {}), **QUIET}
        selector = JobSubsetSelector(
            location_name=LOCATION,
            repository_name=REPOSITORY,
            job_name=job_name,
            op_selection=None,
            asset_selection=asset_selection,
        )
        job = self.location.get_job(selector)
        plan = self.location.get_execution_plan(
            job, run_config, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        run = self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=run_config,
            resolved_op_selection=None,
            step_keys_to_execute=None,
            status=dg.DagsterRunStatus.NOT_STARTED,
            op_selection=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**(job.run_tags or {}), **tags},
            job_snapshot=job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=job.parent_job_snapshot,
            remote_job_origin=job.get_remote_origin(),
            job_code_origin=job.get_python_origin(),
            asset_selection=frozenset(asset_selection) if asset_selection else None,
            asset_check_selection=None,
            asset_graph=self.location.get_repository(REPOSITORY).asset_graph,
        )
        self.instance.submit_run(run.run_id, self.workspace)
        SIGNALS.check()
        return self.instance.get_run_by_id(run.run_id)

    def requested(self, instigator, request: dg.RunRequest, job_name: str) -> dg.DagsterRun:
        """The run a schedule's or sensor's RunRequest asks for, tagged with its name, key and partition."""
        tags = dict(request.tags)
        if isinstance(instigator, dg.ScheduleDefinition):
            tags |= DagsterRun.tags_for_schedule(instigator)
        else:
            tags |= DagsterRun.tags_for_sensor(instigator)
        if request.run_key:
            tags[RUN_KEY_TAG] = request.run_key
        if request.partition_key:
            tags[PARTITION_NAME_TAG] = request.partition_key
        return self.run(job_name, tags, request.asset_selection, request.run_config)

    def backfill(self, job_name: str, keys: list[str]) -> tuple[PartitionBackfill, Iterator[dg.DagsterRun]]:
        """A backfill of ``job_name`` over ``keys`` as the UI's *Launch backfill* records it; its runs are
        submitted one partition at a time, as the daemon does (Dagster's own ``submit_backfill_runs``)."""
        origin = RemotePartitionSetOrigin(
            repository_origin=self.location.get_repository(REPOSITORY).get_remote_origin(),
            partition_set_name=partition_set_snap_name_for_job_name(job_name),
        )
        backfill = PartitionBackfill(
            backfill_id=make_new_backfill_id(),
            status=BulkActionStatus.REQUESTED,
            from_failure=False,
            tags={},
            backfill_timestamp=time.time(),
            partition_set_origin=origin,
            partition_names=keys,
            run_config=QUIET,
        )
        self.instance.add_backfill(backfill)

        def runs() -> Iterator[dg.DagsterRun]:
            for key in keys:
                (run_id,) = submit_backfill_runs(self.instance, lambda: self.workspace, backfill, [key])
                SIGNALS.check()
                yield self.instance.get_run_by_id(run_id)
            self.finish(backfill)

        return backfill, runs()

    def finish(self, backfill: PartitionBackfill) -> None:
        """Closes the backfill as the daemon would: failed if any of its runs failed or was canceled."""
        failed = self.instance.get_run_ids(
            dg.RunsFilter(
                tags=DagsterRun.tags_for_backfill_id(backfill.backfill_id),
                statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
            )
        )
        status = BulkActionStatus.COMPLETED_FAILED if failed else BulkActionStatus.COMPLETED_SUCCESS
        self.instance.update_backfill(backfill.with_status(status).with_end_timestamp(time.time()))


@contextmanager
def launcher(home: Path) -> Iterator[Launcher]:
    """The demo's instance on ``home`` with the code location loaded in this process (as ``make dev``
    names it, from the module already imported and configured)."""
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=IN_PROCESS))
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable, module_name=LOCATION, working_directory=os.getcwd()
        ),
        location_name=LOCATION,
    )
    with instance, WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as process:
        yield Launcher(instance, process.create_request_context())


def _events(instance, run: dg.DagsterRun, kind: DagsterEventType) -> list:
    return [entry.dagster_event for entry in instance.all_logs(run.run_id, of_type=kind)]


def _outcome(instance, run: dg.DagsterRun) -> tuple[str, bool, bool]:
    """What a finished run says: its status line, whether JD refused it, whether it failed unexpectedly.

    A partition that JD itself refuses (an unsupported product, an unknown item) fails alone, as it
    would in production: it is reported, and does not make the demo fail.
    """
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return "ok", False, False
    failures = _events(instance, run, DagsterEventType.STEP_FAILURE)
    if not failures:
        return "failed before any step ran", False, True
    refused, unexpected, status = False, False, ""
    for event in failures:
        failure = event.step_failure_data
        data = failure.user_failure_data
        metadata = data.metadata if data else {}
        scope = metadata.get("scope")
        message = (data.description if data else None) or failure.error.message.strip().splitlines()[0]
        status = f"failed ({getattr(scope, 'value', 'error')} scope): {message}"
        if "jd_refused" in metadata:
            refused = True
            status = f"refused by JD (code {metadata['jd_code'].value}): {metadata['jd_reason'].value}"
        unexpected |= getattr(scope, "value", None) != "partition"
    return status, refused, unexpected


def _report(instance, label: str, runs: Iterator[tuple[str, dg.DagsterRun]], total: int) -> list[str]:
    """Prints one line per finished run; returns the unexpected failures."""
    unexpected: list[str] = []
    refused = 0
    for index, (key, run) in enumerate(runs, start=1):
        status, was_refused, failed = _outcome(instance, run)
        refused += was_refused
        if failed:
            unexpected.append(f"{label} {key}: {status}")
        _say(f"  [{label} {index}/{total}] {key}: {status}")
    if refused:
        _say(f"  {label}: {refused} of {total} refused by JD (expected; the asset page says why)")
    return unexpected


def _backfill_orders(launch: Launcher, days: list[str]) -> list[str]:
    """The order history as one backfill of ``raw_orders_job``, one run per day (a day JD refuses fails
    alone, with its reason, as in production)."""
    backfill, runs = launch.backfill("raw_orders_job", days)
    _say(f"orders: backfill {backfill.backfill_id}, {len(days)} daily partitions {days[0]} .. {days[-1]}")
    return _report(
        launch.instance, "orders", ((run.tags[PARTITION_NAME_TAG], run) for run in runs), len(days)
    )


def _evaluate_sensor(defs, launch: Launcher, sensor: dg.SensorDefinition, label: str) -> list[str]:
    """One tick of a sensor, as the daemon runs it: its partition requests applied, then its runs (one per
    new key, tagged with the sensor's name); returns the unexpected failures."""
    instance = launch.instance
    resources = {"warehouse": defs.resources["warehouse"]}
    with dg.build_sensor_context(instance=instance, resources=resources, sensor_name=sensor.name) as context:
        result = sensor(context)
    sensed = result if isinstance(result, dg.SensorResult) else dg.SensorResult()  # or a SkipReason
    requests = list(sensed.run_requests or [])
    added = 0
    for request in sensed.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            added += len(request.partition_keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    _say(f"  sensor {sensor.name}: {added} new keys, {len(requests)} runs")
    runs = ((r.partition_key, launch.requested(sensor, r, IMPLICIT_ASSET_JOB_NAME)) for r in requests)
    return _report(instance, label, runs, len(requests))


def _tick_schedule(launch: Launcher, schedule: dg.ScheduleDefinition, label: str) -> list[str]:
    """One tick of a schedule at the demo's now: its RunRequests launched, each run tagged with its name."""
    now = datetime.now(UTC)
    with dg.build_schedule_context(instance=launch.instance, scheduled_execution_time=now) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    _say(f"  schedule {schedule.name}: {len(requests)} runs")
    runs = ((r.partition_key or label, launch.requested(schedule, r, schedule.job_name)) for r in requests)
    return _report(launch.instance, label, runs, len(requests))


def _build_derived(launch: Launcher) -> list[str]:
    """The derived tables in one run of ``derived_tables_job``, launched as from the job's page (under the
    daemon, the automation sensor rebuilds them after each raw materialization)."""
    run = launch.run("derived_tables_job", tags={})
    checks = [
        e.asset_check_evaluation_data
        for e in _events(launch.instance, run, DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    failed = [
        f"{c.asset_check_key.asset_key.to_user_string()}:{c.asset_check_key.name}"
        for c in checks
        if not c.passed
    ]
    built = [e.asset_key for e in _events(launch.instance, run, DagsterEventType.ASSET_MATERIALIZATION)]
    published = sum(key.to_user_string() == "published_copy" for key in built)
    _say(
        f"  {len(built) - published} tables built, {'published, ' if published else ''}"
        f"{len(checks) - len(failed)}/{len(checks)} checks passed"
    )
    for name in failed:
        _say(f"  check did not pass: {name}")
    return [] if run.status == dg.DagsterRunStatus.SUCCESS else ["derived_tables_job failed"]


def _summary(db_path: Path, published: Path) -> None:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables()"
            " WHERE schema_name <> 'meta' ORDER BY 1"
        ).fetchall()
        (bookkeeping,) = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta'"
        ).fetchone()
        _say(f"\nDuckDB file (the pipeline's): {db_path.resolve()}")
        for (name,) in rows:
            (count,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            _say(f"  {name:<32} {count:>8} rows")
        _say(f"  (and {bookkeeping} tables in meta: the derived tables' incremental state)")
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
        **CLIENT_RATES,
    }
    return environment, set_aside


def _start_sandbox(config: SandboxConfig) -> Sandbox:
    """The sandbox on ``DEV_PORT``, or on a free port when that one is taken (a sandbox of ``make dev``)."""
    try:
        return Sandbox(dataclasses.replace(config, port=DEV_PORT)).start()
    except OSError:
        return Sandbox(config).start()


def _cancel_unfinished(instance, since: float, why: str) -> int:
    """Runs of this demo that never finished (interrupted before or while starting) become CANCELED, and
    a backfill it left open is closed as canceled (no daemon resumes it without the demo's sandbox)."""
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
    for backfill in instance.get_backfills(
        filters=BulkActionsFilter(
            statuses=[BulkActionStatus.REQUESTED], created_after=datetime.fromtimestamp(since, UTC)
        )
    ):
        instance.update_backfill(
            backfill.with_status(BulkActionStatus.CANCELED).with_end_timestamp(time.time())
        )
    return len(unfinished)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--days", type=int, default=14, help="days of orders to land, ending yesterday")
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        help="the sandbox's now, ISO 8601 with a zone (default: the start of today in Beijing, so the newest "
        "order partitions of the Dagster UI hold data)",
    )
    args = parser.parse_args(argv)
    args.now = today_start() if args.now is None else args.now
    if args.now.tzinfo is None:
        parser.error("--now needs a zone, e.g. 2026-03-10T12:00+08:00")

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
    try:
        config = SandboxConfig(seed=args.seed, scale=args.scale, details_pending_polls=1, now=args.now)
        with _start_sandbox(config) as sandbox:
            _say(f"sandbox serving JD gateways at {sandbox.base_url} (seed {args.seed}, now {sandbox.now})")
            os.environ.update(sandbox.env())
            # The code location reads its configuration when it loads: load it after pointing it here.
            defs = importlib.import_module("jd_assets.definitions").defs
            with launcher(home) as launch:
                failures = _run_stages(defs, launch, sandbox, args.days)
                _say("clean and mart tables, with their asset checks, then the analysts' published copy:")
                failures += _build_derived(launch)
        _summary(db_path, Path(defs.resources["analytics"].path))
        SIGNALS.check()
    except Interrupted as stop:
        why = f"demo stopped by {stop}"
        with dg.DagsterInstance.from_config(str(home)) as instance:  # the demo's own one is closed by now
            canceled = _cancel_unfinished(instance, created_after, why)
        marked = f"; {canceled} unfinished run(s) marked canceled" if canceled else ""
        _say(f"\nstopped by {stop} after {time.monotonic() - started:.0f}s: nothing more was started{marked}")
        return 128 + stop.signum
    _say(f"\nfinished in {time.monotonic() - started:.0f}s")
    for failure in failures:
        _say(f"UNEXPECTED FAILURE {failure}")
    return 1 if failures else 0


def _run_stages(defs, launch: Launcher, sandbox, n_days: int) -> list[str]:
    today = sandbox.now.date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(n_days, 0, -1)]
    failures = _backfill_orders(launch, days)
    _say("partitions from the tracked-items file and the ordered SKUs, each new SKU's comments and details:")
    failures += _evaluate_sensor(defs, launch, sensors.tracked_items_sensor, "items")
    failures += _evaluate_sensor(defs, launch, sensors.order_skus_sensor, "items")
    _say("the morning's comment refresh of every SKU, in one run:")
    failures += _tick_schedule(launch, schedules.comments_daily_schedule, "comments")
    _say("wares linked to the SKUs:")
    failures += _evaluate_sensor(defs, launch, sensors.ware_links_sensor, "wares")
    return failures


if __name__ == "__main__":
    sys.exit(main())
