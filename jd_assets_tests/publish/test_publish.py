"""The published copy: every clean and mart table, row for row, in a read-only file without buyer PII.

The copy is what analysts open (``duckdb -readonly data/jd_analytics.duckdb``): its tables are found in
the pipeline's file, not listed in code; ``meta`` says when, from where and by which run it was made; the
README's cookbook runs on it; its checks catch a copy that lost rows or holds PII; it follows every
rebuild in the lineage, the rebuild job and the automation; a warehouse that is not one file skips it.
"""

from __future__ import annotations

import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.checks import CLEAN_CHECKS
from jd_assets.derived.automation import FOLLOW_UPSTREAM, derived_tables_automation_sensor
from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS
from jd_assets.publish import PUBLISH_ASSETS, published_copy
from jd_assets.publish.checks import PUBLISH_CHECKS
from jd_assets.publish.copy import AnalyticsFile, publish
from jd_assets.resources import build_resources
from jd_assets.warehouse import DuckDBWarehouse
from jd_assets_tests.clean.check_helpers import execute
from jd_assets_tests.clean.raw_fixture import PII, PII_KEY, derived_resources
from jd_assets_tests.marts.test_marts import RAW_SPECS, cookbook, requested

DERIVED = [*CLEAN_ASSETS, *MART_ASSETS]


def query(path: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def tables_of(path: Path, schemas=("clean", "marts", "raw", "meta")) -> list[str]:
    return [
        f"{s}.{t}"
        for s, t in query(
            path,
            """SELECT schema_name, table_name FROM duckdb_tables()
               WHERE list_contains(?, schema_name) ORDER BY ALL""",
            [list(schemas)],
        )
    ]


def publish_to(db: Path, target: Path, run_id: str = "test-run"):
    return publish(DuckDBWarehouse(database=str(db)), target, run_id=run_id)


def resources(db: Path, target: Path) -> dict[str, object]:
    return {**derived_resources(db), "analytics": AnalyticsFile(path=str(target))}


def make_writable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture(scope="module")
def published(built_db, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("published") / "jd_analytics.duckdb"
    publish_to(built_db, target)
    return target


# --- what the copy holds --------------------------------------------------------------------------------


def test_every_clean_and_mart_table_is_published_row_for_row_and_raw_is_not(built_db, published):
    source_tables = tables_of(built_db, ("clean", "marts"))

    assert len(source_tables) == len(CLEAN_ASSETS) + len(MART_ASSETS)
    assert tables_of(published) == [*source_tables, "meta.publish", "meta.tables"]
    for table in source_tables:
        assert query(published, f"FROM {table}") == query(built_db, f"FROM {table}"), table


def test_a_table_added_to_clean_or_marts_is_published_without_a_code_change(scratch_db, tmp_path):
    execute(
        scratch_db,
        """CREATE TABLE clean.my_signals AS
               SELECT comment_id, 'fast delivery' AS signal FROM clean.comments;
           CREATE TABLE marts.my_alerts AS
               SELECT sku_id, 3 AS alerts FROM marts.product_review_summary""",
    )
    target = tmp_path / "jd_analytics.duckdb"

    done = publish_to(scratch_db, target)

    assert {"clean.my_signals", "marts.my_alerts"} <= set(tables_of(target))
    assert done.row_counts["clean.my_signals"] == 7
    assert query(target, "FROM marts.my_alerts ORDER BY ALL") == query(
        scratch_db, "FROM marts.my_alerts ORDER BY ALL"
    )


def test_meta_says_when_from_which_file_and_run_and_how_many_rows(built_db, tmp_path):
    target = tmp_path / "jd_analytics.duckdb"
    before = datetime.now(UTC)

    done = publish_to(built_db, target, run_id="run-42")

    ((published_at, source, run_id, tables, rows),) = query(
        target, "SELECT published_at, source_path, run_id, tables, total_rows FROM meta.publish"
    )
    assert before <= published_at <= datetime.now(UTC) and published_at == done.published_at
    assert (source, run_id, tables) == (
        str(built_db.resolve()),
        "run-42",
        len(CLEAN_ASSETS) + len(MART_ASSETS),
    )
    counts = {
        f"{s}.{t}": n
        for s, t, n in query(target, "SELECT schema_name, table_name, row_count FROM meta.tables")
    }
    assert counts == {
        t: query(built_db, f"SELECT count(*) FROM {t}")[0][0] for t in tables_of(built_db, ("clean", "marts"))
    }
    assert rows == sum(counts.values()) == 56


def test_the_published_copy_holds_no_buyer_pii(built_db, published):
    identifiers = [value for values in PII.values() for value in values]
    raw_orders = " ".join(str(row) for row in query(built_db, "SELECT record FROM raw.orders"))
    assert all(value in raw_orders for value in identifiers)  # the pipeline's file does hold them

    cells = [
        str(v) for table in tables_of(published) for row in query(published, f"FROM {table}") for v in row
    ]

    assert len(cells) > 400
    assert [c for c in cells if any(value in c for value in [*identifiers, PII_KEY])] == []
    assert not [t for t in tables_of(published) if t.startswith("raw.")]


def test_the_copy_is_a_read_only_file_without_leftovers(published):
    assert stat.S_IMODE(published.stat().st_mode) == 0o444
    assert sorted(p.name for p in published.parent.iterdir()) == [
        "jd_analytics.duckdb",
        "jd_analytics.duckdb.lock",  # the publish lock: one publish at a time per copy
    ]


@pytest.mark.parametrize(("title", "sql"), cookbook(), ids=[t for t, _ in cookbook()])
def test_the_cookbook_runs_against_the_published_copy(built_db, published, title, sql):
    assert query(published, sql) == query(built_db, sql)
    if title != "Worst-rated SKUs with enough reviews":  # the fixture has no SKU with 10 reviews
        assert query(published, sql), title


# --- the asset and its checks ----------------------------------------------------------------------------


def test_the_publish_and_its_checks_pass_in_one_run(built_db, tmp_path):
    target = tmp_path / "jd_analytics.duckdb"

    result = dg.materialize([*PUBLISH_ASSETS, *PUBLISH_CHECKS], resources=resources(built_db, target))

    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    source_rows = sum(
        query(built_db, f"SELECT count(*) FROM {t}")[0][0] for t in tables_of(built_db, ("clean", "marts"))
    )
    assert metadata["tables"].value == len(CLEAN_ASSETS) + len(MART_ASSETS)
    assert metadata["dagster/row_count"].value == source_rows
    assert metadata["path"].value == str(target.resolve())
    assert query(target, "SELECT run_id FROM meta.publish") == [(result.run_id,)]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"row_counts_match": True, "no_buyer_pii": True}


def check(name: str, db: Path, target: Path) -> dg.AssetCheckResult:
    (definition,) = [c for c in PUBLISH_CHECKS if c.check_key.name == name]
    return definition(warehouse=DuckDBWarehouse(database=str(db)), analytics=AnalyticsFile(path=str(target)))


def test_the_row_count_check_fails_on_a_copy_that_lost_rows(built_db, published, tmp_path):
    broken = tmp_path / "jd_analytics.duckdb"
    shutil.copy(published, broken)
    make_writable(broken)
    assert check("row_counts_match", built_db, broken).passed

    execute(broken, "DELETE FROM marts.product_reviews WHERE comment_id = '501'")
    result = check("row_counts_match", built_db, broken)

    assert not result.passed
    assert "marts.product_reviews (7 rows read, 6 in the copy)" in result.description


def test_the_pii_check_reads_the_published_copy_itself(built_db, published, tmp_path):
    broken = tmp_path / "jd_analytics.duckdb"
    shutil.copy(published, broken)
    make_writable(broken)
    assert check("no_buyer_pii", built_db, broken).passed

    execute(
        broken,
        f"""UPDATE clean.comments SET text = text || ' call {PII["mobiles"][0]}' WHERE comment_id = '601';
            CREATE SCHEMA raw; CREATE TABLE raw.orders AS SELECT 1 AS order_id""",
    )
    result = check("no_buyer_pii", built_db, broken)

    assert not result.passed
    assert "schema raw must not be published" in result.description
    assert (
        "published.clean.comments: buyer PII from raw.orders found in text (1 values)" in result.description
    )
    assert PII["mobiles"][0] not in str(result.metadata)  # the check names the column, never the value


def test_a_warehouse_that_is_not_one_file_skips_the_publish_saying_why(tmp_path):
    lake = DuckDBWarehouse(
        database=f"ducklake:{tmp_path / 'catalog.ducklake'}", data_path=str(tmp_path / "lake_files")
    )
    target = tmp_path / "jd_analytics.duckdb"

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*PUBLISH_ASSETS, *PUBLISH_CHECKS],
            resources={"warehouse": lake, "analytics": AnalyticsFile(path=str(target))},
            instance=instance,
        )
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]

    assert result.success
    assert result.get_asset_materialization_events() == []
    assert result.get_asset_check_evaluations() == []  # nothing published, nothing to check
    assert [m for m in messages if "not publishing" in m and "is not a single DuckDB file" in m]
    assert not target.exists()


# --- lineage, job, automation, configuration -------------------------------------------------------------


def test_the_publish_follows_every_clean_and_mart_table_in_the_lineage_job_and_sensor():
    from jd_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(published_copy.key)

    assert node.parent_keys == {asset.key for asset in DERIVED}
    assert node.automation_condition == FOLLOW_UPSTREAM
    job = defs.resolve_job_def("derived_tables_job")
    # the job also draws the review report, after the marts (jd_assets/reports/)
    report = dg.AssetKey("review_report")
    assert job.asset_layer.selected_asset_keys == {published_copy.key, report, *(a.key for a in DERIVED)}
    assert published_copy.key in derived_tables_automation_sensor.asset_selection.resolve(graph)
    assert isinstance(defs.resources["analytics"], AnalyticsFile)


def test_a_rebuild_is_followed_by_a_publish_in_the_same_tick_and_a_failing_check_holds_it(tmp_path):
    defs = dg.Definitions(
        assets=[*RAW_SPECS, *DERIVED, *PUBLISH_ASSETS],
        asset_checks=[*CLEAN_CHECKS, *MARTS_CHECKS],
        resources=resources(tmp_path / "x", tmp_path / "y"),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("jd_item", ["100001"])
        for asset in [*DERIVED, *PUBLISH_ASSETS]:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset.key))
            for key in asset.check_keys | {k for c in [*CLEAN_CHECKS, *MARTS_CHECKS] for k in c.check_keys}:
                if key.asset_key == asset.key:
                    instance.report_runless_asset_event(
                        dg.AssetCheckEvaluation(asset_key=asset.key, check_name=key.name, passed=True)
                    )
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(tick) == set()

        instance.report_runless_asset_event(dg.AssetMaterialization("raw_comments", partition="100001"))
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == {
            "clean_comments", "clean_review_signals", "product_reviews", "product_review_summary",
            "review_daily", "sku_aspects", "review_alerts", "published_copy",
        }  # fmt: skip

        # review_daily was rebuilt by hand and failed a blocking check: analysts keep the last good copy
        instance.report_runless_asset_event(dg.AssetMaterialization("review_daily"))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("review_daily"), check_name="keys_unique", passed=False
            )
        )
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert "published_copy" not in requested(tick)

        # fixed and rebuilt: the copy follows
        instance.report_runless_asset_event(dg.AssetMaterialization("review_daily"))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("review_daily"), check_name="keys_unique", passed=True
            )
        )
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == {"published_copy"}


def test_the_copy_lives_beside_the_pipelines_file_unless_JD_ANALYTICS_PATH_says(monkeypatch, tmp_path):
    monkeypatch.delenv("JD_ANALYTICS_PATH", raising=False)
    monkeypatch.delenv("JD_DUCKDB_PATH", raising=False)
    assert build_resources()["analytics"].path == "data/jd_analytics.duckdb"

    monkeypatch.setenv("JD_DUCKDB_PATH", "/srv/jd/warehouse.duckdb")
    assert build_resources()["analytics"].path == "/srv/jd/warehouse_analytics.duckdb"

    monkeypatch.setenv("JD_ANALYTICS_PATH", str(tmp_path / "for_analysts.duckdb"))
    assert build_resources()["analytics"].path == str(tmp_path / "for_analysts.duckdb")


def test_a_second_publish_replaces_the_copy_with_the_newer_tables(scratch_db, tmp_path):
    target = tmp_path / "jd_analytics.duckdb"
    first = publish_to(scratch_db, target)
    execute(scratch_db, "DELETE FROM marts.review_daily WHERE day < DATE '2026-03-08'")

    second = publish_to(scratch_db, target)

    assert second.published_at > first.published_at
    assert query(target, "SELECT count(*) FROM marts.review_daily") == [
        (second.row_counts["marts.review_daily"],)
    ]
    assert second.row_counts["marts.review_daily"] < first.row_counts["marts.review_daily"]
