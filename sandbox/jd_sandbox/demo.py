"""The main job on the embedded default: the local sandbox in, ``data/jd.duckdb`` out.

Starts the sandbox on a free loopback port, points every resource at it, then drives Dagster as a user's
deployment would: the orders of the last two weeks, the sensors that turn the tracked-items file, the
ordered SKUs and the SKU→ware links into partitions, every raw asset of those partitions, then the clean
and mart tables, published to the analysts' read-only copy (``data/jd_analytics.duckdb``). Runs are
recorded in ``data/dagster_home``, so ``make dev`` shows them afterwards. Running it twice gives the same
tables.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from datetime import timedelta
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
        status = "ok"
        for event in result.all_events:
            if event.is_step_failure:
                failure = event.step_failure_data
                scope = failure.user_failure_data.metadata.get("scope") if failure.user_failure_data else None
                described = failure.user_failure_data.description if failure.user_failure_data else None
                message = described or failure.error.message.strip().splitlines()[0]
                status = f"failed ({getattr(scope, 'value', 'error')} scope): {message}"
                if getattr(scope, "value", None) != "partition":
                    unexpected.append(f"{label} {key}: {message}")
        _say(f"  [{label} {index}/{len(keys)}] {key}: {status}")
    return unexpected


def _refresh_comments(defs, instance) -> list[str]:
    """Every SKU's comments in one run, as the daily schedule does: each SKU its own partition."""
    result = defs.resolve_job_def("raw_comments_refresh_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    landed = result.get_asset_materialization_events()
    rows = sum(e.materialization.metadata["rows_new"].value for e in landed)
    _say(f"  comments: {len(landed)} SKU partitions, {rows} new comments, in one run")
    return [] if result.success else ["raw_comments_refresh_job failed"]


def _build_derived(defs, instance) -> list[str]:
    """The derived tables in one run (the automation sensor does this by itself under the daemon)."""
    result = defs.resolve_job_def("derived_tables_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", default="demo")
    parser.add_argument("--days", type=int, default=14, help="days of orders to land, ending yesterday")
    parser.add_argument("--duckdb", default=os.environ.get("JD_DUCKDB_PATH", "data/jd.duckdb"))
    args = parser.parse_args(argv)

    started = time.monotonic()
    db_path = Path(args.duckdb)
    os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve()))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ.setdefault("JD_TRACKED_ITEMS_PATH", "data/tracked_items.csv")
    with Sandbox(SandboxConfig(seed=args.seed, scale=args.scale, details_pending_polls=1)) as sandbox:
        _say(f"sandbox serving JD gateways at {sandbox.base_url} (seed {args.seed}, now {sandbox.now})")
        os.environ.update(sandbox.env())
        # The sandbox allows 50 requests/s per gateway; the production defaults are more careful.
        for variable in ("JD_JUSTONE_RPS", "JD_JOS_RPS", "JD_FENGCHAO_RPS"):
            os.environ.setdefault(variable, "25")
        os.environ["JD_DUCKDB_PATH"] = str(db_path)
        os.environ.setdefault("JD_PII_KEY", DEMO_PII_KEY)
        # The code location reads its configuration when it loads: load it after pointing it here.
        defs = importlib.import_module("jd_assets.definitions").defs
        instance = dg.DagsterInstance.get()
        today = sandbox.now.date()
        days = [(today - timedelta(days=n)).isoformat() for n in range(args.days, 0, -1)]
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
    _say("clean and mart tables, with their asset checks, then the analysts' published copy:")
    failures += _build_derived(defs, instance)
    _summary(db_path, Path(defs.resources["analytics"].path))
    _say(f"\nfinished in {time.monotonic() - started:.0f}s")
    for failure in failures:
        _say(f"UNEXPECTED FAILURE {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
