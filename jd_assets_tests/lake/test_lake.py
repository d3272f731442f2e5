"""The DuckLake backend: configuration, time travel, concurrent writers across processes, kills.

All of it runs against a real PostgreSQL (the session's throwaway ``lake_server``) holding the DuckLake
catalog, Parquet files in a tmp folder, and, for the concurrent runs, the Dagster instance too
(dagster-postgres: run, event and schedule storage in the same server).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime

import dagster as dg
import pytest

from jd_assets.errors import ConfigError
from jd_assets.lake_maintenance import lake_maintenance_job
from jd_assets.raw import tables
from jd_assets.raw.landing import batch, land
from jd_assets.resources import build_resources, warehouse_from_env
from jd_assets.warehouse import LAKE_COMMIT_RETRY, DuckDBWarehouse, lake_connection
from jd_assets_tests.clean.raw_fixture import build_derived, land_all, table_rows
from jd_assets_tests.conftest import new_lake
from jd_sandbox import Sandbox, SandboxConfig, demo_lake

pytestmark = pytest.mark.lake


def lake_args(lake: DuckDBWarehouse) -> list[str]:
    return [lake.database, lake.data_path]


# --- configuration --------------------------------------------------------------------------------------


def test_the_two_settings_select_the_lake_and_the_file_stays_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("JD_DUCKLAKE_CATALOG", raising=False)
    monkeypatch.setenv("JD_DUCKDB_PATH", str(tmp_path / "jd.duckdb"))
    assert warehouse_from_env().database == str(tmp_path / "jd.duckdb")
    assert warehouse_from_env().single_file and not warehouse_from_env().is_lake

    monkeypatch.setenv("JD_DUCKLAKE_CATALOG", "postgres:dbname=jd host=127.0.0.1")
    monkeypatch.setenv("JD_DUCKLAKE_DATA_PATH", "s3://bucket/jd/")
    lake = build_resources()["warehouse"]
    assert lake.database == "ducklake:postgres:dbname=jd host=127.0.0.1"
    assert lake.data_path == "s3://bucket/jd/"
    assert lake.is_lake and not lake.single_file  # so the analysts' copy is not written: they read the lake


def test_a_lake_without_a_data_path_fails_naming_the_variable(tmp_path):
    lake = DuckDBWarehouse(database=f"ducklake:{tmp_path / 'catalog.ducklake'}")
    with pytest.raises(ConfigError, match="JD_DUCKLAKE_DATA_PATH"), lake.write():
        pass


def test_a_catalog_in_a_duckdb_file_takes_a_landing_and_a_read_in_one_process(tmp_path):
    """Landings on a PostgreSQL catalog get a one-thread database of their own; a DuckDB-file catalog can
    be attached once per process, so there the landing shares the reads' connection instead of failing."""
    lake = DuckDBWarehouse(
        database=f"ducklake:{tmp_path / 'catalog.ducklake'}", data_path=str(tmp_path / "data")
    )
    lake.transact(lambda con: con.execute("CREATE TABLE raw.t AS SELECT 42 AS x"))
    with lake.read() as con:
        assert con.execute("SELECT x FROM raw.t").fetchall() == [(42,)]


def test_a_commit_that_lost_the_race_for_the_next_snapshot_is_committed_again_at_once(lake_server, lake):
    """Two writers of different partitions start from the same snapshot; the second to commit finds the
    next snapshot id taken (PostgreSQL refuses its duplicate key) and DuckLake commits it again on the new
    snapshot, after the warehouse's short wait: both rows land, nothing reaches transact() as a conflict."""
    lake.transact(lambda con: con.execute("CREATE TABLE raw.t (partition_key VARCHAR, x INTEGER)"))
    log = lake_server.folder / "server.log"
    collisions = log.read_text(errors="replace").count("ducklake_snapshot_pkey")
    first, second = lake_connection(lake, landing=True), lake_connection(lake, landing=True)
    for con in (first, second):
        con.execute("BEGIN TRANSACTION")
        assert con.execute("SELECT count(*) FROM raw.t").fetchone() == (0,)  # both on the same snapshot
    first.execute("INSERT INTO raw.t VALUES ('a', 1)")
    second.execute("INSERT INTO raw.t VALUES ('b', 2)")
    first.execute("COMMIT")
    second.execute("COMMIT")
    assert log.read_text(errors="replace").count("ducklake_snapshot_pkey") > collisions
    assert second.execute(
        "SELECT current_setting('ducklake_retry_wait_ms'), current_setting('ducklake_max_retry_count')"
    ).fetchone() == tuple(LAKE_COMMIT_RETRY.values())
    with lake.read() as con:
        assert con.execute("SELECT * FROM raw.t ORDER BY ALL").fetchall() == [("a", 1), ("b", 2)]


# --- the same tables, and time travel --------------------------------------------------------------------


def test_a_mart_as_of_an_earlier_snapshot_reproduces_the_earlier_table(lake):
    """Build everything, note the snapshot; land more, rebuild; the mart AT that snapshot is the old one."""
    with lake.write() as con:
        land_all(con)
    assert build_derived(lake, with_checks=False).success
    with lake.read() as con:
        (first,) = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()
    before = table_rows(lake, "marts.product_review_summary ORDER BY ALL")

    with lake.write() as con:  # a new review for SKU 100003, and a rebuild
        con.execute(
            """INSERT INTO raw.comments
               SELECT * REPLACE ('709' AS comment_id, json_merge_patch(record, '{"commentId": "709"}')
                                 AS record)
               FROM raw.comments WHERE comment_id = '701'"""
        )
    assert build_derived(lake, with_checks=False).success

    now = table_rows(lake, "marts.product_review_summary ORDER BY ALL")
    then = table_rows(lake, f"marts.product_review_summary AT (VERSION => {first}) ORDER BY ALL")
    assert now != before
    assert then == before


def _land_skus(lake: DuckDBWarehouse, skus: range) -> None:
    """One landing (one transaction, one small Parquet file) of 20 comments per SKU: DuckLake keeps
    inserts of up to 10 rows in the catalog instead (its data inlining), which leaves no file to merge."""
    for sku in map(str, skus):
        records = batch(
            [
                {"commentId": f"{sku}{i:02d}", "productId": sku, "commentScore": "5", "userNickName": "b***1",
                 "commentDate": f"2026-03-0{1 + i % 9} 10:00:00", "commentData": "很好"}
                for i in range(20)
            ],
            page=1,
            request_key=sku,
        )  # fmt: skip
        lake.transact(
            lambda con, sku=sku, records=records: land(
                con, tables.COMMENTS, records, partition_key=sku, partition_value=sku, run_id="t",
                fetched_at=datetime.now(UTC),
            )
        )  # fmt: skip


def test_the_maintenance_job_merges_the_landings_files_and_every_snapshot_reads_the_same(lake):
    """Twelve landings leave twelve small files; lake_maintenance_job merges them into one. The table reads
    the same rows after it, and so does a snapshot taken half-way (time travel survives the merge)."""
    _land_skus(lake, range(100, 106))
    with lake.read() as con:
        (half_way,) = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()
    _land_skus(lake, range(106, 112))

    def files_and_rows() -> tuple[int, list[tuple], list[tuple]]:
        with lake.read() as con:
            files = "SELECT count(*) FROM ducklake_list_files('lake', 'comments', schema => 'raw')"
            return (
                con.execute(files).fetchone()[0],
                con.execute("SELECT * FROM raw.comments ORDER BY ALL").fetchall(),
                con.execute(f"SELECT * FROM raw.comments AT (VERSION => {half_way}) ORDER BY ALL").fetchall(),
            )

    files, now, then = files_and_rows()
    assert files == 12 and len(now) == 240 and len(then) == 120

    result = lake_maintenance_job.execute_in_process(resources={"warehouse": lake})

    assert result.success
    (output,) = [event for event in result.all_node_events if event.is_successful_output]
    assert output.step_output_data.metadata["files_merged"].value == 12
    assert files_and_rows() == (1, now, then)


def test_the_maintenance_job_on_the_single_file_does_nothing(tmp_path):
    """The schedule may be on whatever the warehouse: on the DuckDB file the job succeeds, touches nothing."""
    result = lake_maintenance_job.execute_in_process(
        resources={"warehouse": DuckDBWarehouse(database=str(tmp_path / "jd.duckdb"))}
    )
    assert result.success
    (output,) = [event for event in result.all_node_events if event.is_successful_output]
    assert output.step_output_data.metadata["maintained"].value is False
    assert not (tmp_path / "jd.duckdb").exists()


def test_the_lake_demos_rebuild_runs_each_step_in_its_own_process_with_a_valid_config(monkeypatch):
    """``make demo-lake`` rebuilds on the multiprocess executor: its run config must fit the job it builds
    (a change of the package's own job once made the demo fail at this step)."""
    monkeypatch.setenv("JD_PII_KEY", demo_lake.DEMO_PII_KEY)  # the demo sets it; resources are validated too
    job = demo_lake.derived_tables_job()
    assert job.executor_def.name == dg.multiprocess_executor.name
    config = dg.validate_run_config(job, demo_lake.DERIVED_RUN_CONFIG)
    assert config["execution"]["multiprocess"]["max_concurrent"] == 2


# --- many writers at once ---------------------------------------------------------------------------------

DAGSTER_YAML = """
storage:
  postgres:
    postgres_db:
      hostname: 127.0.0.1
      port: {port}
      username: postgres
      password: ""
      db_name: dagster
      scheme: postgresql+psycopg2
telemetry:
  enabled: false
"""

WRITER = textwrap.dedent(
    """
    import json, sys, dagster as dg
    from jd_assets.raw.assets import raw_comments
    from jd_assets.warehouse import LAKE_COMMIT_RETRY, DuckDBWarehouse, lake_connection
    from jd_assets_tests.conftest import gateway_resources
    catalog, data_path, skus = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    env = dict(arg.split("=", 1) for arg in sys.argv[4:])
    lake = DuckDBWarehouse(database=catalog, data_path=data_path)
    conflicts, failed = 0, []
    instance = dg.DagsterInstance.get()  # DAGSTER_HOME: the shared instance on PostgreSQL
    for sku in skus:
        result = dg.materialize([raw_comments], partition_key=sku, instance=instance,
                                resources=gateway_resources(env, lake), raise_on_error=False)
        if not result.success:
            failed.append(sku)
            continue
        (event,) = result.get_asset_materialization_events()
        conflicts += event.materialization.metadata["write_conflicts_retried"].value
    print(json.dumps({"conflicts": conflicts, "failed": failed}))
    """
)


@pytest.mark.timeout(240)
def test_four_processes_land_different_partitions_at_once_and_a_reader_sees_only_whole_snapshots(
    lake_server, lake, tmp_path
):
    """Four processes, each its own Dagster runs on the shared PostgreSQL instance, land disjoint SKUs.

    Each SKU is landed twice (the second time every comment is known, a re-landing that updates them):
    none fails, no comment is lost or doubled, and a reader polling meanwhile only ever sees each
    partition whole or absent, in snapshots that only move forward.
    """
    lake_server.create_database("dagster")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(port=lake_server.port))
    with Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=0)) as sandbox:
        truth = sandbox.truth
        skus = [s for s in truth.sku_ids() if truth.comments(s)][:8]
        env_args = [f"{k}={v}" for k, v in sandbox.env().items()]
        with lake.write():  # the catalog and schemas exist before the race (as in any deployment)
            pass
        instance = dg.DagsterInstance.from_config(str(home))
        instance.add_dynamic_partitions("jd_item", skus)
        expected = {s: len(truth.comments(s)) for s in skus}
        seen: list[str] = []
        stop = threading.Event()

        def reader():
            last = -1
            while not stop.is_set():
                with lake.read() as con:
                    (snapshot,) = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()
                    tables = con.execute(
                        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' "
                        "AND table_name = 'comments'"
                    ).fetchone()[0]
                    counts = (
                        dict(con.execute("SELECT sku_id, count(*) FROM raw.comments GROUP BY 1").fetchall())
                        if tables
                        else {}
                    )
                assert snapshot >= last, "a reader went back in time"
                last = snapshot
                partial = {s: n for s, n in counts.items() if n != expected.get(s)}
                assert not partial, f"snapshot {snapshot} shows partial partitions {partial}"
                seen.append(f"{snapshot}:{len(counts)}")
                time.sleep(0.25)  # a poll costs CPU the four writers share on two cores

        errors: list[BaseException] = []

        def guarded():
            try:
                reader()
            except BaseException as err:  # reported below, in the test's thread
                errors.append(err)

        thread = threading.Thread(target=guarded)
        thread.start()
        quarters = [skus[i::4] for i in range(4)]
        try:
            writers = [
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, *lake_args(lake), ",".join(q + q), *env_args],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={**os.environ, "DAGSTER_HOME": str(home)},
                )
                for q in quarters
            ]
            outputs = [w.communicate(timeout=200) for w in writers]
        finally:
            stop.set()
            thread.join()
        assert [w.returncode for w in writers] == [0] * 4, [err.decode()[-2000:] for _, err in outputs]
        reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
        assert [r["failed"] for r in reports] == [[]] * 4
        assert not errors, errors[0]
        with lake.read() as con:
            landed = dict(con.execute("SELECT sku_id, count(*) FROM raw.comments GROUP BY 1").fetchall())
            (distinct,) = con.execute("SELECT count(DISTINCT comment_id) FROM raw.comments").fetchone()
        assert landed == expected
        assert distinct == sum(expected.values())
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        assert len(runs) == 2 * len(skus)  # every run recorded in the shared instance
        instance.dispose()
        print(
            f"4 writers: {2 * len(skus)} runs, conflicts retried {sum(r['conflicts'] for r in reports)}, "
            f"reader polls {len(seen)}"
        )
        assert len(seen) > 5


# --- kills ------------------------------------------------------------------------------------------------

KILLABLE = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from jd_assets.raw import tables
    from jd_assets.raw.landing import batch, land
    from jd_assets.warehouse import LAKE_COMMIT_RETRY, DuckDBWarehouse, lake_connection
    catalog, data_path, n_skus, per_sku = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    lake = DuckDBWarehouse(database=catalog, data_path=data_path)
    for k in range(n_skus):
        sku = str(500000 + k)
        pages = [batch([{"commentId": f"{sku}{p:03d}{i:02d}", "productId": sku, "commentScore": "5",
                          "commentDate": "2026-03-01 10:00:00", "commentData": "好评" * 30}
                         for i in range(10)], page=p, request_key=sku) for p in range(per_sku // 10)]
        import pyarrow as pa
        records = pa.concat_tables(pages)
        lake.transact(lambda con: land(con, tables.COMMENTS, records, partition_key=sku, partition_value=sku,
                                       run_id="kill", fetched_at=datetime.now(UTC)))
        print(sku, flush=True)
    """
)


@pytest.mark.timeout(240)
def test_a_process_killed_mid_landing_leaves_no_partial_partition_and_the_next_run_converges(lake):
    n_skus, per_sku = 8, 400
    args = [sys.executable, "-c", KILLABLE, *lake_args(lake), str(n_skus), str(per_sku)]
    rng = random.Random(13)
    with lake.write():
        pass
    killed_mid_run = 0
    for _ in range(3):
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = process.stdout.readline()  # one partition landed: the process is mid-way through its loop
        time.sleep(rng.uniform(0.0, 0.6))
        if process.poll() is None:
            killed_mid_run += 1
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert first.strip()
        with lake.read() as con:
            counts = dict(con.execute("SELECT sku_id, count(*) FROM raw.comments GROUP BY 1").fetchall())
        assert set(counts.values()) <= {per_sku}, f"a partial partition: {counts}"

    finished = subprocess.run(args, capture_output=True, timeout=200)
    assert finished.returncode == 0, finished.stderr.decode()[-3000:]
    assert killed_mid_run >= 2
    with lake.read() as con:
        counts = dict(con.execute("SELECT sku_id, count(*) FROM raw.comments GROUP BY 1").fetchall())
        (distinct,) = con.execute("SELECT count(DISTINCT comment_id) FROM raw.comments").fetchone()
    assert counts == {str(500000 + k): per_sku for k in range(n_skus)}
    assert distinct == n_skus * per_sku


def test_each_lake_test_gets_its_own_catalog(lake_server, tmp_path):
    one, two = new_lake(lake_server, tmp_path / "a"), new_lake(lake_server, tmp_path / "b")
    assert one.database != two.database and one.data_path != two.data_path
