"""The main job into DuckLake, runs launched as a deployment launches them: ``make demo-lake``.

Starts a throwaway PostgreSQL (``jd_sandbox.postgres``) holding both the DuckLake catalog and Dagster's
instance (``deploy/dagster.yaml`` as it is shipped: run, event and schedule storage through dagster-postgres,
the queued run coordinator and the default run launcher), Parquet data in a temp folder, the sandbox, and
Dagster's daemon (``dagster-daemon run`` on ``workspace.yaml``). Runs are *submitted* to the instance and
the daemon launches them, each run a process of its own, up to 4 at once, all writing the lake:

1. the order days (one run per day);
2. the sensors turn the tracked-items file, ordered SKUs and SKU->ware links into partitions (evaluated
   here, as the daemon would);
3. the comment refresh (one launched run over every SKU) while this process runs the details and the
   wares (a run per partition: a launched process would cost more than such a run);
4. the clean and mart tables in one run on the multiprocess executor (each step its own process);
5. prints every table of the lake with its rows, the lake's snapshots and a time-travel query; stops the
   daemon and PostgreSQL and removes the temp folders; exits 0 unless something failed unexpectedly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import yaml
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from dagster._core.storage.tags import PARTITION_NAME_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from jd_sandbox import Sandbox, SandboxConfig
from jd_sandbox.demo import DEMO_PII_KEY, QUIET, _say
from jd_sandbox.postgres import ThrowawayPostgres
from jd_sandbox.processes import stop_process_group

REPO = Path(__file__).resolve().parents[2]
DAGSTER_YAML = REPO / "deploy" / "dagster.yaml"
WORKSPACE_YAML = REPO / "workspace.yaml"
SNAPSHOTS_SQL = """SELECT snapshot_id, strftime(snapshot_time, '%H:%M:%S') AS at, changes
FROM lake.snapshots() ORDER BY snapshot_id DESC LIMIT 5"""
#: Sensors the daemon would run by default: stopped here, the demo builds the derived tables itself once.
AUTOMATION_SENSORS = ("derived_tables_automation_sensor",)


#: The rebuild's run config: two steps at once (the machine's cores), each in its own process.
DERIVED_RUN_CONFIG = {**QUIET, "execution": {"config": {"max_concurrent": 2}}}


def derived_tables_job() -> dg.JobDefinition:
    """The rebuild job on the multiprocess executor, reconstructable in each step's process.

    The package's own job runs every step in one process (``jd_assets/derived/jobs.py`` says why); here the
    steps write the lake from processes of their own, as a deployment may choose to.
    """
    defs = importlib.import_module("jd_assets.definitions").defs
    return defs.resolve_job_def("derived_tables_job").with_executor_def(dg.multiprocess_executor)


@contextmanager
def daemon(home: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` on the workspace, in its own process group, stopped (by its id) after."""
    with open(home / "daemon.log", "w") as log_file:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(WORKSPACE_YAML)],
            cwd=REPO,
            env={**os.environ, "DAGSTER_HOME": str(home)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop_process_group(process, grace_s=60)


class Submitter:
    """Submits runs of the code location's jobs to the instance, where the daemon picks them up."""

    def __init__(self, instance: dg.DagsterInstance, workspace, defs) -> None:
        self.instance, self.workspace, self.defs = instance, workspace, defs
        (self.location,) = workspace.code_locations
        (self.repository,) = self.location.get_repositories().values()

    def stop_sensors(self, names: tuple[str, ...]) -> None:
        for name in names:
            sensor = self.repository.get_sensor(name)
            self.instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)

    def submit(self, job_name: str, partition_key: str | None = None) -> str:
        remote = self.repository.get_full_job(job_name)
        run = self.instance.create_run_for_job(
            self.defs.resolve_job_def(job_name),
            run_config=QUIET,
            tags={PARTITION_NAME_TAG: partition_key} if partition_key else None,
            remote_job_origin=remote.get_remote_origin(),
            job_code_origin=remote.get_python_origin(),
        )
        self.instance.submit_run(run.run_id, self.workspace)
        return run.run_id

    def wait(self, runs: list[tuple[str, str]], label: str, timeout_s: float = 1800) -> list[str]:
        """Wait until every (key, run id) finished; print one line each; return the unexpected failures."""
        deadline = time.monotonic() + timeout_s
        pending = dict(runs)
        while pending and time.monotonic() < deadline:
            time.sleep(1)
            for key, run_id in list(pending.items()):
                if self.instance.get_run_by_id(run_id).status in FINISHED_STATUSES:
                    del pending[key]
        unexpected = [f"{label} {key}: not finished after {timeout_s:.0f}s" for key in pending]
        refused = 0
        for index, (key, run_id) in enumerate(runs, start=1):
            if key in pending:
                continue
            status, was_refused, failed = self._outcome(run_id)
            refused += was_refused
            unexpected += [f"{label} {key}: {status}"] if failed else []
            _say(f"  [{label} {index}/{len(runs)}] {key}: {status}")
        if refused:
            _say(f"  {label}: {refused} of {len(runs)} refused by JD (expected; the asset page says why)")
        return unexpected

    def _outcome(self, run_id: str) -> tuple[str, bool, bool]:
        """A finished run's status line, whether JD refused its partition, whether it failed unexpectedly.

        A partition JD itself refuses fails alone, as in production: reported, not a failure of the demo.
        """
        if self.instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS:
            return "ok", False, False
        failures = self.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
        if not failures:
            return "failed before any step ran (see the run in the instance)", False, True
        status, refused, unexpected = "", False, False
        for entry in failures:
            failure = entry.dagster_event.step_failure_data
            data = failure.user_failure_data
            metadata = data.metadata if data else {}
            scope = getattr(metadata.get("scope"), "value", "error")
            status = (
                f"failed ({scope} scope): {(data.description if data else None) or failure.error.message}"
            )
            if "jd_refused" in metadata:
                refused = True
                status = f"refused by JD (code {metadata['jd_code'].value}): {metadata['jd_reason'].value}"
            unexpected |= scope != "partition"
        return status.strip().splitlines()[0], refused, unexpected

    def in_process(self, job_name: str, keys: list[str]) -> list[tuple[str, str]]:
        """A run per key executed in this process, beside the launched ones (a process costs seconds)."""
        job = self.defs.resolve_job_def(job_name)
        return [
            (key, job.execute_in_process(
                partition_key=key, instance=self.instance, raise_on_error=False, run_config=QUIET
            ).run_id)
            for key in keys
        ]  # fmt: skip

    def runs(self, job_name: str, keys: list[str], label: str) -> list[str]:
        return self.wait([(key, self.submit(job_name, key)) for key in keys], label)


def evaluate_sensor(defs, instance, sensor: dg.SensorDefinition) -> list[str]:
    """Evaluate a sensor once and add the partitions it asks for, as the daemon would; the new keys."""
    resources = {"warehouse": defs.resources["warehouse"]}
    with dg.build_sensor_context(instance=instance, resources=resources, sensor_name=sensor.name) as context:
        result = sensor(context)
    added: list[str] = []
    requests = (result.dynamic_partitions_requests or []) if isinstance(result, dg.SensorResult) else []
    for request in requests:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            added += list(request.partition_keys)
    _say(f"  sensor {sensor.name}: {len(added)} new keys")
    return added


def _summary(warehouse) -> None:
    with warehouse.read() as con:
        rows = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = 'lake' ORDER BY 1"
        ).fetchall()
        _say(f"\nDuckLake {warehouse.database.split(' password')[0]} (data in {warehouse.data_path}):")
        for (name,) in rows:
            (count,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            _say(f"  {name:<32} {count:>8} rows")
        _say(f"\nThe last snapshots:\n{SNAPSHOTS_SQL}")
        for row in con.execute(SNAPSHOTS_SQL).fetchall():
            _say(f"  {row[0]:>4} {row[1]} {json.dumps(row[2], ensure_ascii=False)[:110]}")
        (last,) = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()
        middle = last // 2  # half-way through the demo's commits: some order days, no derived table yet
        sql = f"SELECT count(*) FROM raw.orders AT (VERSION => {middle})"
        try:
            (then,) = con.execute(sql).fetchone()
        except duckdb.Error as err:  # raw.orders did not exist yet at that snapshot
            then = f"not there yet ({str(err).splitlines()[0][:60]})"
        (now,) = con.execute("SELECT count(*) FROM raw.orders").fetchone()
        _say(f"\nTime travel: {sql}\n  {then} (now {now})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--days", type=int, default=14, help="days of orders to land, ending yesterday")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="jd-demo-lake-"))
    failures: list[str] = []
    try:
        with ThrowawayPostgres() as pg:
            _say(f"PostgreSQL {pg.bin.parent.name} on 127.0.0.1:{pg.port} (throwaway, in {pg.folder})")
            catalog = pg.create_database("jd_lake")
            pg.create_database("dagster")
            home = work / "dagster_home"
            home.mkdir()
            instance_yaml = yaml.safe_load(DAGSTER_YAML.read_text())
            # The shipped settings, but the daemon looks at the queue every second instead of every 5: the
            # demo's runs are short.
            instance_yaml["run_coordinator"]["config"].update(
                dequeue_interval_seconds=1, dequeue_use_threads=True
            )
            (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
            os.environ.update(
                {
                    "DAGSTER_HOME": str(home),
                    "DAGSTER_PG_URL": f"postgresql+psycopg2://{pg.user}@127.0.0.1:{pg.port}/dagster",
                    "JD_DUCKLAKE_CATALOG": f"postgres:{catalog}",
                    "JD_DUCKLAKE_DATA_PATH": str(work / "lake_data"),
                    "JD_PII_KEY": os.environ.get("JD_PII_KEY", DEMO_PII_KEY),
                }
            )
            os.environ.setdefault("JD_TRACKED_ITEMS_PATH", str(REPO / "data" / "tracked_items.csv"))
            failures = _pipeline(args, home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    _say(f"\nPostgreSQL and the daemon stopped, temp folders removed; finished in {elapsed:.0f}s")
    for failure in failures:
        _say(f"UNEXPECTED FAILURE {failure}")
    return 1 if failures else 0


def _pipeline(args, home: Path) -> list[str]:
    failures: list[str] = []
    config = SandboxConfig(seed=args.seed, scale=args.scale, details_pending_polls=1)
    with Sandbox(config) as sandbox:
        _say(f"sandbox serving JD gateways at {sandbox.base_url} (seed {args.seed}, now {sandbox.now})")
        os.environ.update(sandbox.env())
        for variable in ("JD_JUSTONE_RPS", "JD_JOS_RPS", "JD_FENGCHAO_RPS"):
            os.environ.setdefault(variable, "25")
        defs = importlib.import_module("jd_assets.definitions").defs
        warehouse = defs.resources["warehouse"]
        with warehouse.write():  # create the catalog once, before the runs race for it
            pass
        instance = dg.DagsterInstance.get()
        with (
            WorkspaceProcessContext(instance, WorkspaceFileTarget([str(WORKSPACE_YAML)])) as workspace,
            daemon(home),
        ):
            submit = Submitter(instance, workspace.create_request_context(), defs)
            submit.stop_sensors(AUTOMATION_SENSORS)
            _say(
                "dagster-daemon: queued runs, launched by the default run launcher, a process each, 4 at once"
            )
            today = sandbox.now.date()
            days = [(today - timedelta(days=n)).isoformat() for n in range(args.days, 0, -1)]
            _say(f"orders: {len(days)} daily partitions, a run each")
            failures += submit.runs("raw_orders_job", days, "orders")
            _say("partitions from the tracked-items file and the ordered SKUs:")
            for sensor in (
                sensors().tracked_items_sensor,
                sensors().order_skus_sensor,
                sensors().ware_links_sensor,
            ):
                evaluate_sensor(defs, instance, sensor)
            items = sorted(instance.get_dynamic_partitions("jd_item"))
            wares = sorted(instance.get_dynamic_partitions("jd_ware"))
            _say(
                f"comments: one launched run over every SKU; meanwhile details of {len(items)} SKUs and "
                f"{len(wares)} wares in this process (a run each)"
            )
            comments = submit.submit("raw_comments_refresh_job")
            failures += submit.wait(submit.in_process("raw_item_details_job", items), "details")
            failures += submit.wait(submit.in_process("raw_wares_job", wares), "wares")
            failures += submit.wait([("all SKUs", comments)], "comments")
            evaluate_sensor(defs, instance, sensors().ware_links_sensor)
            late = sorted(set(instance.get_dynamic_partitions("jd_ware")) - set(wares))
            if late:
                failures += submit.wait(submit.in_process("raw_wares_job", late), "wares")
            _say(f"  {instance.get_runs_count()} runs recorded in the Dagster instance on PostgreSQL")
    _say("clean and mart tables on the multiprocess executor (each step its own process):")
    logging.getLogger("dagster").setLevel(logging.WARNING)  # the executor's own step-start lines
    result = dg.execute_job(
        dg.reconstructable(derived_tables_job),
        instance=instance,
        run_config=DERIVED_RUN_CONFIG,
        raise_on_error=False,
    )
    built = result.get_asset_materialization_events()
    checks = result.get_asset_check_evaluations()
    passed = sum(c.passed for c in checks)
    _say(f"  {len(built)} tables built, {passed}/{len(checks)} checks passed (no published copy on a lake)")
    failures += [] if result.success else ["derived_tables_job failed"]
    instance.dispose()
    _summary(warehouse)
    return failures


def sensors():
    return importlib.import_module("jd_assets.raw.sensors")


if __name__ == "__main__":
    sys.exit(main())
