"""The main job into DuckLake, several runs at once: ``make demo-lake``.

Starts a throwaway PostgreSQL (``jd_sandbox.postgres``) holding both the DuckLake catalog and Dagster's
instance (``deploy/dagster.yaml``: run, event and schedule storage through dagster-postgres), Parquet
data in a temp folder, and the sandbox. Then, as a deployment with several workers would:

1. the order days, split over 3 worker processes that run at the same time (one run per day each);
2. the sensors turn the tracked-items file, ordered SKUs and SKU→ware links into partitions;
3. the comment refresh (one run), the details and the wares, in 3 processes at once;
4. the clean and mart tables in one run on the multiprocess executor (each step its own process);
5. prints every table of the lake with its rows, the lake's snapshots and a time-travel query; stops
   PostgreSQL and removes the temp folders; exits 0 unless something failed unexpectedly.
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
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb

from jd_sandbox import Sandbox, SandboxConfig
from jd_sandbox.demo import DEMO_PII_KEY, QUIET, _evaluate_sensor, _refresh_comments, _run_partitions, _say
from jd_sandbox.postgres import ThrowawayPostgres

DAGSTER_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
SNAPSHOTS_SQL = """SELECT snapshot_id, strftime(snapshot_time, '%H:%M:%S') AS at, changes
FROM lake.snapshots() ORDER BY snapshot_id DESC LIMIT 5"""


def derived_tables_job() -> dg.JobDefinition:
    """The rebuild job, reconstructable in each step's process (the multiprocess executor)."""
    defs = importlib.import_module("jd_assets.definitions").defs
    return defs.resolve_job_def("derived_tables_job")


def _worker(job: str, keys: list[str], label: str) -> int:
    """One worker process: a run per partition key, recorded in the shared instance."""
    defs = importlib.import_module("jd_assets.definitions").defs
    with dg.DagsterInstance.get() as instance:
        if job == "raw_comments_refresh_job":
            failures = _refresh_comments(defs, instance)
        else:
            failures = _run_partitions(defs, instance, job, keys, label)
    print(json.dumps(failures), flush=True)
    return 0


def _at_once(jobs: list[tuple[str, list[str], str]]) -> list[str]:
    """Run each (job, keys, label) in its own process, all at the same time; their unexpected failures."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jd_sandbox.demo_lake", "worker", job, ",".join(keys), label],
            stdout=subprocess.PIPE,
            text=True,
        )
        for job, keys, label in jobs
    ]
    failures: list[str] = []
    for proc, (_, _, label) in zip(procs, jobs, strict=True):
        out, _ = proc.communicate()
        lines = out.rstrip().splitlines()
        for line in lines[:-1]:
            _say(line)
        if proc.returncode != 0 or not lines:
            failures.append(f"{label} worker exited {proc.returncode}")
        else:
            failures += json.loads(lines[-1])
    return failures


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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return _worker(argv[1], [k for k in argv[2].split(",") if k], argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--days", type=int, default=14, help="days of orders to land, ending yesterday")
    args = parser.parse_args(argv)

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
            shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
            os.environ.update(
                {
                    "DAGSTER_HOME": str(home),
                    "DAGSTER_PG_URL": f"postgresql+psycopg2://{pg.user}@127.0.0.1:{pg.port}/dagster",
                    "JD_DUCKLAKE_CATALOG": f"postgres:{catalog}",
                    "JD_DUCKLAKE_DATA_PATH": str(work / "lake_data"),
                    "JD_PII_KEY": os.environ.get("JD_PII_KEY", DEMO_PII_KEY),
                }
            )
            os.environ.setdefault("JD_TRACKED_ITEMS_PATH", "data/tracked_items.csv")
            failures = _pipeline(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say(f"\nPostgreSQL stopped, temp folders removed; finished in {time.monotonic() - started:.0f}s")
    for failure in failures:
        _say(f"UNEXPECTED FAILURE {failure}")
    return 1 if failures else 0


def _pipeline(args) -> list[str]:
    failures: list[str] = []
    config = SandboxConfig(seed=args.seed, scale=args.scale, details_pending_polls=1)
    with Sandbox(config) as sandbox:
        _say(f"sandbox serving JD gateways at {sandbox.base_url} (seed {args.seed}, now {sandbox.now})")
        os.environ.update(sandbox.env())
        for variable in ("JD_JUSTONE_RPS", "JD_JOS_RPS", "JD_FENGCHAO_RPS"):
            os.environ.setdefault(variable, "25")
        defs = importlib.import_module("jd_assets.definitions").defs
        warehouse = defs.resources["warehouse"]
        with warehouse.write():  # create the catalog once, before the workers race for it
            pass
        instance = dg.DagsterInstance.get()
        today = sandbox.now.date()
        days = [(today - timedelta(days=n)).isoformat() for n in range(args.days, 0, -1)]
        _say(f"orders: {len(days)} daily partitions in 3 processes at once")
        failures += _at_once([("raw_orders_job", days[i::3], f"orders/{i + 1}") for i in range(3)])
        _say("partitions from the tracked-items file and the ordered SKUs:")
        _evaluate_sensor(defs, instance, sensors().tracked_items_sensor)
        _evaluate_sensor(defs, instance, sensors().order_skus_sensor)
        _evaluate_sensor(defs, instance, sensors().ware_links_sensor)  # links from the orders
        items = sorted(instance.get_dynamic_partitions("jd_item"))
        wares = sorted(instance.get_dynamic_partitions("jd_ware"))
        _say(f"comments (one run), details of {len(items)} SKUs and {len(wares)} wares: 4 processes at once")
        failures += _at_once(
            [
                ("raw_comments_refresh_job", [], "comments"),
                ("raw_item_details_job", items[0::2], "details/1"),
                ("raw_item_details_job", items[1::2], "details/2"),
                ("raw_wares_job", wares, "wares"),
            ]
        )
        _evaluate_sensor(defs, instance, sensors().ware_links_sensor)
        late = sorted(set(instance.get_dynamic_partitions("jd_ware")) - set(wares))
        if late:
            failures += _run_partitions(defs, instance, "raw_wares_job", late, "wares")
    _say("clean and mart tables on the multiprocess executor (each step its own process):")
    logging.getLogger("dagster").setLevel(logging.WARNING)  # the executor's own step-start lines
    result = dg.execute_job(
        dg.reconstructable(derived_tables_job),
        instance=instance,
        run_config={**QUIET, "execution": {"config": {"multiprocess": {"max_concurrent": 2}}}},
        raise_on_error=False,
    )
    built = result.get_asset_materialization_events()
    checks = result.get_asset_check_evaluations()
    passed = sum(c.passed for c in checks)
    _say(f"  {len(built)} tables built, {passed}/{len(checks)} checks passed (no published copy on a lake)")
    failures += [] if result.success else ["derived_tables_job failed"]
    runs = instance.get_runs_count()
    _say(f"  {runs} runs recorded in the Dagster instance on PostgreSQL")
    instance.dispose()
    _summary(warehouse)
    return failures


def sensors():
    return importlib.import_module("jd_assets.raw.sensors")


if __name__ == "__main__":
    sys.exit(main())
