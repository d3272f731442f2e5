"""The declared stack is real: the warehouse is Dagster's DuckDBResource, shared safely with users' assets.

A user's own asset takes ``duckdb: DuckDBResource`` as Dagster's DuckDB guide shows; the package's
writers run in other processes (Dagster's steps do). Neither may fail on DuckDB's single-writer lock.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from jd_assets.definitions import defs
from jd_assets.warehouse import DuckDBWarehouse

#: A package writer in another process: many short write transactions in a row, as landings are.
WRITER = textwrap.dedent(
    """
    import sys, time
    from jd_assets.warehouse import DuckDBWarehouse, ensure_schemas
    warehouse = DuckDBWarehouse(database=sys.argv[1])
    with warehouse.write() as con:
        ensure_schemas(con)
        con.execute("CREATE TABLE IF NOT EXISTS raw.writer_rows (i INTEGER)")
    print("ready", flush=True)
    for i in range(int(sys.argv[2])):
        with warehouse.write() as con:
            con.execute("INSERT INTO raw.writer_rows VALUES (?)", [i])
            time.sleep(0.02)
    """
)


def _start_writer(db: Path, writes: int) -> subprocess.Popen:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(writes)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "ready"
    return writer


@dg.asset
def users_own_table(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """A user's asset written exactly as Dagster's DuckDB guide shows."""
    with duckdb.get_connection() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS main.user_rows (i INTEGER)")
        conn.execute("INSERT INTO main.user_rows SELECT range FROM range(100)")
        (rows,) = conn.execute("SELECT count(*) FROM main.user_rows").fetchone()
    return dg.MaterializeResult(metadata={"dagster/row_count": rows})


def test_definitions_offer_the_warehouse_as_a_duckdb_resource():
    warehouse = defs.resources["duckdb"]
    assert isinstance(warehouse, DuckDBResource)
    assert warehouse is defs.resources["warehouse"]


def test_plain_duckdb_resource_asset_and_package_writer_do_not_fail_on_locks(tmp_path: Path):
    db = tmp_path / "jd.duckdb"
    writer = _start_writer(db, writes=60)
    for _ in range(5):
        result = dg.materialize([users_own_table], resources={"duckdb": DuckDBResource(database=str(db))})
        assert result.success
    assert writer.wait(timeout=120) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.writer_rows").fetchone()[0] == 60
        assert con.execute("SELECT count(*) FROM main.user_rows").fetchone()[0] == 500


def test_users_asset_on_the_warehouse_waits_for_writers_and_they_wait_for_it(tmp_path: Path):
    db = tmp_path / "jd.duckdb"
    warehouse = DuckDBWarehouse(database=str(db))
    writer = _start_writer(db, writes=40)

    @dg.asset
    def slow_users_table(duckdb: DuckDBResource) -> None:
        with duckdb.get_connection() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS main.slow_rows AS SELECT 1 AS i")
            # held long enough that the writer must wait on it at least once
            conn.execute("SELECT count(*) FROM range(20000000)").fetchone()

    for _ in range(3):
        assert dg.materialize([slow_users_table], resources={"duckdb": warehouse}).success
    assert writer.wait(timeout=120) == 0
    with warehouse.read() as con:
        assert con.execute("SELECT count(*) FROM raw.writer_rows").fetchone()[0] == 40
