"""Analysts never block the pipeline: they read the published copy, which the pipeline swaps, never locks.

- an analyst's session held open on the published copy across a full comment refresh and a rebuild:
  DuckDB never refuses the pipeline's file to a landing or a rebuild, the session keeps answering (from
  the copy it opened), and a new session sees the new copy;
- why: the same session on the pipeline's own file locks every writer out;
- a publish killed (SIGKILL) half way leaves the previous copy whole and readable; the next publish
  removes what the killed one left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.checks import CLEAN_CHECKS
from jd_assets.clean.pii import PiiKey
from jd_assets.derived.jobs import derived_tables_job
from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS
from jd_assets.publish import PUBLISH_ASSETS
from jd_assets.publish.checks import PUBLISH_CHECKS
from jd_assets.publish.copy import AnalyticsFile, publish
from jd_assets.raw import assets as raw_assets
from jd_assets.raw.schedules import raw_comments_refresh_job, raw_orders_job
from jd_assets.warehouse import DuckDBWarehouse, WarehouseLockTimeout, ensure_schemas
from jd_assets_tests.clean.check_helpers import execute
from jd_assets_tests.clean.raw_fixture import PII_KEY
from jd_assets_tests.conftest import gateway_resources
from jd_assets_tests.marts.test_marts import cookbook
from jd_sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.reliability

#: An analyst's SQL session in its own process (as the duckdb CLI would be): opened once, asked the same
#: question every 50 ms until a line arrives on stdin, then the README's cookbook, then a report.
ANALYST = textwrap.dedent(
    """
    import json, sys, threading, time
    import duckdb

    con = duckdb.connect(sys.argv[1], read_only=True)
    question = '''SELECT (SELECT count(*) FROM marts.product_reviews),
                         (SELECT CAST(published_at AS VARCHAR) FROM meta.publish)'''
    print(json.dumps(con.execute(question).fetchone()), flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    answers, errors, slowest = set(), [], 0.0
    asked = 0
    while not stop.wait(0.05):
        started = time.monotonic()
        try:
            answers.add(json.dumps(con.execute(question).fetchone()))
        except Exception as err:
            errors.append(repr(err))
        asked += 1
        slowest = max(slowest, time.monotonic() - started)
    cookbook = [len(con.execute(sql).fetchall()) for sql in json.loads(sys.argv[2])]
    print(json.dumps({"asked": asked, "answers": sorted(answers), "errors": errors,
                      "slowest_s": slowest, "cookbook_rows": cookbook}), flush=True)
    """
)

#: The same analyst on any file, holding it open until a line arrives on stdin.
HOLDER = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); input()"
)

#: A publish in its own process, to be killed.
PUBLISHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from jd_assets.publish.copy import publish
    from jd_assets.warehouse import DuckDBWarehouse
    publish(DuckDBWarehouse(database=sys.argv[1]), Path(sys.argv[2]), run_id="killed")
    """
)


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def lock_refusals(monkeypatch) -> list[str]:
    """Every time DuckDB refuses a file because another process holds it (the warehouse then waits)."""
    refusals: list[str] = []
    connect = duckdb.connect

    def recording_connect(database=":memory:", *args, **kwargs):
        try:
            return connect(database, *args, **kwargs)
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                refusals.append(f"{database}: {err}")
            raise

    monkeypatch.setattr(duckdb, "connect", recording_connect)
    return refusals


def test_an_analyst_session_on_the_copy_never_stalls_a_full_refresh_and_rebuild(tmp_path, lock_refusals):
    db, published = tmp_path / "jd.duckdb", tmp_path / "jd_analytics.duckdb"
    with (
        Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=0)) as sandbox,
        dg.instance_for_test() as instance,
    ):
        defs = dg.Definitions(
            assets=[*dg.load_assets_from_modules([raw_assets]), *CLEAN_ASSETS, *MART_ASSETS, *PUBLISH_ASSETS],
            asset_checks=[*CLEAN_CHECKS, *MARTS_CHECKS, *PUBLISH_CHECKS],
            jobs=[raw_comments_refresh_job, raw_orders_job, derived_tables_job],
            resources={
                **gateway_resources(sandbox.env(), db),
                "pii_key": PiiKey(key=PII_KEY),
                "analytics": AnalyticsFile(path=str(published)),
            },
        )
        instance.add_dynamic_partitions("jd_item", sandbox.truth.sku_ids())

        def land_and_rebuild(full_refresh: bool) -> dg.ExecuteInProcessResult:
            config = {"ops": {"refresh_comment_partitions": {"config": {"full_refresh": full_refresh}}}}
            refresh = defs.resolve_job_def("raw_comments_refresh_job")
            assert refresh.execute_in_process(run_config=config, instance=instance).success
            yesterday = (sandbox.now.date() - timedelta(days=1)).isoformat()
            orders = defs.resolve_job_def("raw_orders_job")
            assert orders.execute_in_process(partition_key=yesterday, instance=instance).success
            rebuild = defs.resolve_job_def("derived_tables_job").execute_in_process(instance=instance)
            assert rebuild.success
            return rebuild

        land_and_rebuild(full_refresh=False)
        analyst = subprocess.Popen(
            [sys.executable, "-c", ANALYST, str(published), json.dumps([sql for _, sql in cookbook()])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        reviews_before, published_before = json.loads(analyst.stdout.readline())

        sandbox.advance(days=2)  # new reviews and a new order day
        started = time.monotonic()
        rebuild = land_and_rebuild(full_refresh=True)
        took = time.monotonic() - started
        analyst.stdin.write("stop\n")
        analyst.stdin.flush()
        session = json.loads(analyst.stdout.readline())
        assert analyst.wait(timeout=30) == 0
        reviews_now = query(db, "SELECT count(*) FROM marts.product_reviews")[0][0]

    print(f"refresh + rebuild + publish with the session open: {took:.1f}s; session: {session}")
    # no landing, rebuild or publish was refused the pipeline's file: nothing waited on the analyst
    assert lock_refusals == []
    # the session answered all along, from the copy it opened, and the cookbook still runs on it
    assert session["errors"] == [] and session["asked"] >= 10
    assert session["answers"] == [json.dumps([reviews_before, published_before])]
    assert len(session["cookbook_rows"]) == len(cookbook())
    # a new session sees the new copy: the rebuild's rows, published by the rebuild's run
    ((reviews, published_at, run_id),) = query(
        published,
        """SELECT (SELECT count(*) FROM marts.product_reviews), CAST(published_at AS VARCHAR), run_id
           FROM meta.publish""",
    )
    assert reviews == reviews_now > reviews_before
    assert published_at > published_before and run_id == rebuild.run_id


def test_the_same_session_on_the_pipelines_own_file_locks_every_writer_out(tmp_path, lock_refusals):
    db = tmp_path / "jd.duckdb"
    warehouse = DuckDBWarehouse(database=str(db), lock_timeout_s=1.0)
    with warehouse.write() as con:
        ensure_schemas(con)
    analyst = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert analyst.stdout.readline().strip() == "open"

    with pytest.raises(WarehouseLockTimeout, match="DuckDB's file lock"), warehouse.write():
        pass
    assert len(lock_refusals) > 10  # refused again and again for the whole timeout

    analyst.communicate("done\n", timeout=30)
    with warehouse.write() as con:  # closed: writers go on
        con.execute("CREATE TABLE raw.after AS SELECT 1 AS i")


def test_a_publish_killed_half_way_leaves_the_previous_copy_whole_and_the_next_one_clears_up(tmp_path):
    db, target = tmp_path / "jd.duckdb", tmp_path / "jd_analytics.duckdb"
    warehouse = DuckDBWarehouse(database=str(db))
    execute(
        db,
        """CREATE SCHEMA clean; CREATE SCHEMA marts;
           CREATE TABLE clean.comments AS SELECT range AS comment_id, 'good' AS text FROM range(1000);
           CREATE TABLE marts.review_daily AS SELECT range % 7 AS sku_id, range AS reviews FROM range(100)""",
    )
    publish(warehouse, target, run_id="previous")
    previous = {t: query(target, f"FROM {t} ORDER BY ALL") for t in ("clean.comments", "marts.review_daily")}
    previous_meta = query(target, "FROM meta.publish")
    # a table big enough that copying it takes a while (about 100 MB, a few seconds here)
    execute(
        db,
        "CREATE TABLE clean.big AS SELECT range AS i, md5(CAST(range AS VARCHAR)) AS s FROM range(3000000)",
    )

    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(db), str(target)])
    partial = target.with_name(f"{target.name}.tmp-{publisher.pid}")
    deadline = time.monotonic() + 120
    # the new table is being written: the partial file outgrew the file copy of the previous copy it began as
    while not (partial.exists() and partial.stat().st_size > target.stat().st_size + 2**20):
        assert publisher.poll() is None and time.monotonic() < deadline, "the publish ended before the kill"
        time.sleep(0.005)
    publisher.send_signal(signal.SIGKILL)
    assert publisher.wait(timeout=30) == -signal.SIGKILL

    assert partial.exists()  # what the killed publish left behind
    assert {t: query(target, f"FROM {t} ORDER BY ALL") for t in previous} == previous
    assert query(target, "FROM meta.publish") == previous_meta
    assert query(target, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'big'") == [(0,)]

    done = publish(warehouse, target, run_id="next")

    assert done.stale_files_removed >= 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(target.name)) == [
        "jd_analytics.duckdb",
        "jd_analytics.duckdb.lock",
    ]
    assert query(target, "SELECT count(*), count(DISTINCT s) FROM clean.big") == [(3000000, 3000000)]
    assert query(target, "SELECT run_id FROM meta.publish") == [("next",)]
