"""After a day's new data, the incremental update of clean and marts equals a full rebuild, row for row.

The demo catalog (seed 7) of the real sandbox, through the real raw assets: the comments of a few SKUs
(the refresh job, one run), their details and wares, one order day; then every clean and mart table is
built (whole: nothing was built before). The sandbox then moves on one day: the refresh lands the new
reviews (and moves ``last_seen_at`` on the ones it sees again), the new order day lands with its tracks,
and yesterday is landed again (its tracks moved on). The demo's few SKUs get few new reviews in a day, so
a dozen reviews naming aspects are also copied in raw under new ids, a day later (their clauses merge
into the clauses the marts already rank); and one review, an alert naming an aspect, is removed from raw
by hand (its SKU's aspects and alerts are redone whole, the other SKUs' take the new reviews as
increments). A copy of the file gets a full rebuild (run tag
``jd/full_rebuild``); the file itself the default, incremental, run. Every clean and mart table of the two
must hold the same rows (``EXCEPT ALL`` both ways; ``scored_at`` is when a review was scored, not what).
"""

import shutil
from datetime import timedelta

import dagster as dg
import duckdb

from jd_assets.derived.incremental import FULL_REBUILD_TAG
from jd_assets.marts import assets as mart_assets
from jd_assets.raw.assets import raw_item_details, raw_orders, raw_wares
from jd_assets.raw.refresh import raw_comments_refresh_job
from jd_assets_tests.clean.raw_fixture import build_derived
from jd_assets_tests.conftest import gateway_resources
from jd_sandbox import Sandbox, SandboxConfig

UNLIMITED = {"justone": None, "jos": None, "fengchao": None}
#: The SKUs whose comments, details and wares are landed: a few keep the test to seconds.
SKUS = 4
INCREMENTAL_TABLES = {
    "clean_comments", "clean_products", "clean_wares", "clean_sku_ware_links", "clean_order_tracks",
    "clean_orders", "clean_order_items", "product_reviews", "review_daily", "sku_aspects", "review_alerts",
}  # fmt: skip


def _land(resources, instance, *runs) -> None:
    for asset, key in runs:
        if isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition):
            instance.add_dynamic_partitions(asset.partitions_def.name, [key])
        dg.materialize([asset], partition_key=key, resources=resources, instance=instance)


def _refresh_comments(resources, instance, skus) -> None:
    instance.add_dynamic_partitions("jd_item", skus)
    result = raw_comments_refresh_job.execute_in_process(
        resources=resources, instance=instance, run_config={"ops": {"refresh_comment_partitions": {}}}
    )
    assert result.success


def _differences(a, b) -> dict[str, tuple[int, int, int]]:
    """Per clean and mart table: rows, rows only in a, rows only in b."""
    con = duckdb.connect(str(a), read_only=True)
    con.execute(f"ATTACH '{b}' AS other (READ_ONLY)")
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name IN ('clean', 'marts') ORDER BY ALL"
        ).fetchall()
        out = {}
        for schema, name in tables:
            columns = con.execute(
                "SELECT string_agg('\"' || column_name || '\"', ', ' ORDER BY column_index) "
                "FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
                "AND table_name = ? AND column_name <> 'scored_at'",
                [schema, name],
            ).fetchone()[0]
            mine = f"SELECT {columns} FROM {schema}.{name}"
            theirs = f"SELECT {columns} FROM other.{schema}.{name}"
            out[f"{schema}.{name}"] = tuple(
                con.execute(sql).fetchone()[0]
                for sql in (
                    f"SELECT count(*) FROM {schema}.{name}",
                    f"SELECT count(*) FROM ({mine} EXCEPT ALL {theirs})",
                    f"SELECT count(*) FROM ({theirs} EXCEPT ALL {mine})",
                )
            )
        return out
    finally:
        con.close()


def test_a_days_incremental_update_equals_a_full_rebuild(tmp_path, monkeypatch):
    # a day's orders on a few SKUs change the sales of all of them, which product_reviews would rewrite
    # whole (REWRITE_SHARE); the test keeps it on the column updates, the path that must equal the rebuild
    monkeypatch.setattr(mart_assets, "REWRITE_SHARE", 1.0)
    db, full = tmp_path / "jd.duckdb", tmp_path / "full.duckdb"
    config = SandboxConfig(seed=7, scale="demo", rate_limit_rps=dict(UNLIMITED), details_pending_polls=0)
    with Sandbox(config) as sandbox, dg.instance_for_test() as instance:
        resources = gateway_resources(sandbox.env(), db)
        skus = sandbox.truth.sku_ids()[:SKUS]
        today = sandbox.now.date()
        detailed = [s for s in skus if sandbox.truth.detail_supported(s)]
        wares = sorted({sandbox.truth.sku_to_ware()[s] for s in detailed})
        _refresh_comments(resources, instance, skus)
        _land(
            resources,
            instance,
            *((raw_item_details, s) for s in detailed),
            *((raw_wares, w) for w in wares),
            (raw_orders, (today - timedelta(days=1)).isoformat()),
        )
        assert build_derived(db, with_checks=False, instance=instance).success
        with duckdb.connect(str(db), read_only=True) as con:
            before = con.execute("SELECT count(*) FROM clean.comments").fetchone()[0]

        sandbox.advance(days=1)
        _refresh_comments(resources, instance, skus)
        _land(resources, instance, *((raw_orders, (today - timedelta(days=n)).isoformat()) for n in (1, 0)))
        with duckdb.connect(str(db)) as con:
            con.execute(
                """INSERT INTO raw.comments BY NAME
                   SELECT * REPLACE ('9' || comment_id AS comment_id,
                                     commented_at + INTERVAL 1 DAY AS commented_at,
                                     json_merge_patch(record, json_object('commentId', '9' || comment_id))
                                         AS record)
                   FROM raw.comments WHERE comment_id IN (
                       SELECT comment_id FROM clean.review_signals WHERE len(aspects) > 0
                       ORDER BY comment_id LIMIT 12)"""
            )
            (removed,) = con.execute(
                """SELECT comment_id FROM marts.review_alerts WHERE len(negative_aspects) > 0
                   ORDER BY comment_id LIMIT 1"""
            ).fetchone()
            con.execute("DELETE FROM raw.comments WHERE comment_id = ?", [removed])
        shutil.copy(db, full)

        updated = build_derived(db, with_checks=False, instance=instance)
        rebuilt = build_derived(full, with_checks=False, instance=instance, tags={FULL_REBUILD_TAG: "true"})

    builds = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in updated.get_asset_materialization_events()
    }
    assert {k for k, m in builds.items() if m.get("build") and m["build"].value == "incremental"} == (
        INCREMENTAL_TABLES
    )
    assert builds["clean_comments"]["changed_keys"].value > 0
    assert builds["clean_comments"]["dagster/row_count"].value > before + 12 - 1
    assert builds["clean_orders"]["changed_keys"].value > 0
    assert {
        e.asset_key.to_user_string(): e.materialization.metadata["build"].value
        for e in rebuilt.get_asset_materialization_events()
        if "build" in e.materialization.metadata
    } == dict.fromkeys(INCREMENTAL_TABLES, "full")
    differences = _differences(db, full)
    assert len(differences) == 13
    assert all(rows for rows, _, _ in differences.values()), differences
    assert {t: d for t, d in differences.items() if d[1] or d[2]} == {}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM marts.product_reviews WHERE comment_id = ?", [removed]
        ).fetchone() == (0,)
