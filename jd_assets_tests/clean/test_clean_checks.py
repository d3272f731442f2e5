"""Every clean-table check passes on the built data, and fails — saying why — on a table broken to break it.
A failed blocking check stops the marts in the same run."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.checks import CLEAN_CHECKS, no_buyer_pii
from jd_assets.clean.pii import PiiKey
from jd_assets.derived.jobs import derived_tables_job
from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS
from jd_assets.raw import assets as raw_assets
from jd_assets.resources import build_resources
from jd_assets_tests.clean.check_helpers import execute, metadata_value, run_check
from jd_assets_tests.clean.raw_fixture import ORDERS, build_derived, build_raw

CLEAN_CHECK_KEYS = sorted(
    (key for check in CLEAN_CHECKS for key in check.check_keys), key=lambda k: k.to_user_string()
)

BREAKS = [
    # (asset, check, statement that breaks the table, metadata key, expected value)
    ("clean_comments", "keys_unique",
     "INSERT INTO clean.comments SELECT * FROM clean.comments WHERE comment_id = '501'", "duplicate_keys", 1),
    ("clean_comments", "keys_unique",
     "UPDATE clean.comments SET comment_id = NULL WHERE comment_id = '501'", "rows_with_null_key", 1),
    ("clean_comments", "score_in_range",
     "UPDATE clean.comments SET score = 7 WHERE comment_id = '501'", "violations: score in 1..5", 1),
    ("clean_comments", "score_in_range",
     "UPDATE clean.comments SET score_sentiment = 'positive' WHERE comment_id = '502'",
     "violations: sentiment matches score", 1),
    ("clean_comments", "timestamps_plausible",
     "UPDATE clean.comments SET commented_at = TIMESTAMP '2099-01-01' WHERE comment_id = '502'",
     "violations: commented_at in [2004-01-01, fetch + 1 day]", 1),
    ("clean_comments", "timestamps_plausible",
     "UPDATE clean.comments SET commented_at = NULL", "violations: commented_at not null", 7),
    ("clean_comments", "reconciles_with_raw",
     "DELETE FROM clean.comments WHERE comment_id = '502'", "missing_in_table", 1),
    ("clean_comments", "reconciles_with_raw",
     "INSERT INTO clean.comments SELECT * FROM clean.comments WHERE comment_id = '502'",
     "unexpected_in_table", 1),
    ("clean_comments", "no_buyer_pii",
     "UPDATE clean.comments SET text = text || ' call 13800138000' WHERE comment_id = '601'",
     "values holding PII: text", 1),
    *[("clean_comments", "no_buyer_pii",  # a buyer's phone written with separators or a country code
       f"UPDATE clean.comments SET text = text || ' 电话{phone}。' WHERE comment_id = '601'",
       "values holding PII: text", 1)
      for phone in ("138-0013-8000", "138 0013 8000", "+86 13800138000", "+86 139-1234-5678",
                    "(139)12345678")],
    ("clean_products", "no_buyer_pii",  # seed 003's order.get receiver_info is buyer PII too
     """UPDATE raw.orders
            SET detail = '{"receiver_info": {"name": "王小二", "address": "南京市鼓楼区中山路1号"}}'
            WHERE order_id = '3003';
        UPDATE clean.products SET title = title || ' 南京市鼓楼区中山路1号' WHERE sku_id = '100001'""",
     "values holding PII: title", 1),
    ("clean_products", "keys_unique",
     "INSERT INTO clean.products SELECT * FROM clean.products", "duplicate_keys", 2),
    ("clean_products", "reconciles_with_raw",
     "DELETE FROM clean.products WHERE sku_id = '100002'", "missing_in_table", 1),
    ("clean_products", "no_buyer_pii",
     "UPDATE clean.products SET shop_name = '张晓明的店'", "values holding PII: shop_name", 1),
    ("clean_wares", "keys_unique",
     "UPDATE clean.wares SET ware_id = '900001'", "duplicate_keys", 1),
    ("clean_wares", "status_labelled",
     "UPDATE clean.wares SET status_label = NULL WHERE status_code = 8", "violations: status_label known", 1),
    ("clean_wares", "timestamps_plausible",  # epoch seconds read as milliseconds land in 1970
     "UPDATE clean.wares SET created_at = TIMESTAMP '1970-01-20 03:25:38' WHERE ware_id = '900001'",
     "violations: created_at in [2004-01-01, fetch + 1 day]", 1),
    ("clean_wares", "reconciles_with_raw",
     "DELETE FROM clean.wares WHERE ware_id = '900001'", "missing_in_table", 1),
    ("clean_wares", "no_buyer_pii",
     "UPDATE clean.wares SET image_urls = ['jd_buyer_bob.jpg']", "values holding PII: image_urls", 1),
    ("clean_sku_ware_links", "keys_unique",
     "INSERT INTO clean.sku_ware_links SELECT * FROM clean.sku_ware_links LIMIT 1", "duplicate_keys", 1),
    ("clean_sku_ware_links", "reconciles_with_raw",
     "DELETE FROM clean.sku_ware_links WHERE source = 'detail'", "missing_in_table", 1),
    ("clean_sku_ware_links", "no_buyer_pii",
     "UPDATE clean.sku_ware_links SET source = '13912345678'", "values holding PII: source", 1),
    ("clean_order_tracks", "keys_unique",
     "UPDATE clean.order_tracks SET seq = 1 WHERE order_id = '3001' AND seq = 2", "duplicate_keys", 1),
    ("clean_order_tracks", "timestamps_plausible",
     "UPDATE clean.order_tracks SET tracked_at = NULL WHERE order_id = '3003'",
     "violations: tracked_at not null", 1),
    ("clean_order_tracks", "reconciles_with_raw",
     "DELETE FROM clean.order_tracks WHERE order_id = '3004' AND seq = 2", "missing_in_table", 1),
    ("clean_order_tracks", "no_buyer_pii",
     "UPDATE clean.order_tracks SET content = content || ',签收人:李秀英' WHERE is_delivery",
     "values holding PII: content", 2),
    ("clean_orders", "keys_unique",
     "INSERT INTO clean.orders SELECT * FROM clean.orders WHERE order_id = '3003'", "duplicate_keys", 1),
    ("clean_orders", "values_valid",
     "UPDATE clean.orders SET order_payment = -1 WHERE order_id = '3001'",
     "violations: order_payment >= 0", 1),
    ("clean_orders", "values_valid",
     "UPDATE clean.orders SET state_label = NULL WHERE order_id = '3001'", "violations: state labelled", 1),
    ("clean_orders", "values_valid",
     "UPDATE clean.orders SET order_seller_price = order_total_price + 1 WHERE order_id = '3001'",
     "violations: order_seller_price <= order_total_price", 1),
    ("clean_orders", "values_valid",
     "UPDATE clean.orders SET order_payment = 10000 WHERE order_id = '3001'",
     "violations: order_payment <= order_total_price + freight_price", 1),
    ("clean_orders", "values_valid",  # JD sent money that is no number: NULL in clean, but not "missing"
     """UPDATE raw.orders SET record = json_merge_patch(record, '{"orderPayment": "12.3.4"}')
        WHERE order_id = '3001'""",
     "violations: money sent is a number", 1),
    ("clean_orders", "timestamps_plausible",
     "UPDATE clean.orders SET created_at = NULL WHERE order_id = '3001'",
     "violations: created_at not null", 1),
    ("clean_orders", "timestamps_plausible",
     "UPDATE clean.orders SET created_at = TIMESTAMP '2099-03-01 10:00:00' WHERE order_id = '3001'",
     "violations: created_at in [2004-01-01, fetch + 1 day]", 1),
    ("clean_orders", "reconciles_with_raw",
     "DELETE FROM clean.orders WHERE dialect = 'seed'", "missing_in_table", 2),
    ("clean_orders", "no_buyer_pii",
     "UPDATE clean.orders SET city = '北京市朝阳区望京街道阳光花园3号楼2单元501' WHERE order_id = '3001'",
     "values holding PII: city", 1),
    ("clean_orders", "no_buyer_pii",
     "UPDATE clean.orders SET buyer_key = 'jd_buyer_alice'", "values holding PII: buyer_key", 1),
    ("clean_order_items", "keys_unique",
     "UPDATE clean.order_items SET sku_id = '100001' WHERE order_id = '3001'", "duplicate_keys", 1),
    ("clean_order_items", "values_valid",
     "UPDATE clean.order_items SET quantity = 0 WHERE order_id = '3002'", "violations: quantity > 0", 1),
    ("clean_order_items", "values_valid",
     "UPDATE clean.order_items SET line_total = 1 WHERE order_id = '3002'",
     "violations: line_total = unit_price * quantity", 1),
    ("clean_order_items", "reconciles_with_raw",
     "DELETE FROM clean.order_items WHERE order_id = '3003'", "missing_in_table", 1),
    ("clean_order_items", "no_buyer_pii",
     "UPDATE clean.order_items SET sku_name = sku_name || ' for 李秀英'", "values holding PII: sku_name", 2),
]  # fmt: skip


@pytest.mark.parametrize("key", CLEAN_CHECK_KEYS, ids=lambda k: k.to_user_string())
def test_check_passes_on_the_built_data(built_db, key):
    result = run_check(built_db, key.asset_key.to_user_string(), key.name)

    assert result.passed, (key, result.metadata)


@pytest.mark.parametrize(("asset", "check", "sql", "meta_key", "expected"), BREAKS, ids=lambda v: str(v)[:40])
def test_check_fails_on_a_broken_table(scratch_db, asset, check, sql, meta_key, expected):
    execute(scratch_db, sql)

    result = run_check(scratch_db, asset, check)

    assert result.passed is False
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert metadata_value(result, meta_key) == expected
    assert result.description  # says what broke, in words


def test_money_a_record_does_not_carry_is_null_and_passes(scratch_db):
    execute(
        scratch_db,
        """UPDATE clean.orders SET order_payment = NULL, order_seller_price = NULL, freight_price = NULL,
                                   seller_discount = NULL""",
    )

    result = run_check(scratch_db, "clean_orders", "values_valid")

    assert result.passed, result.metadata


def test_a_seed_003_order_without_a_creation_time_passes(scratch_db):
    execute(scratch_db, "UPDATE clean.orders SET created_at = NULL WHERE dialect = 'seed'")

    assert run_check(scratch_db, "clean_orders", "timestamps_plausible").passed


def test_every_clean_check_is_shown_failing():
    shown = {(asset, check) for asset, check, *_ in BREAKS}

    assert shown == {(k.asset_key.to_user_string(), k.name) for k in CLEAN_CHECK_KEYS}


def test_every_clean_check_is_blocking():
    assert all(spec.blocking for check in CLEAN_CHECKS for spec in check.check_specs)


def test_reconciliation_explains_raw_rejects_by_reason(built_db):
    result = run_check(built_db, "clean_comments", "reconciles_with_raw")

    assert metadata_value(result, "raw_rejects") == 1
    assert metadata_value(result, "raw_rejects_by_reason") == {"commentScore 6 is not 1..5": 1}
    assert metadata_value(result, "raw_rejects_without_reason") == 0


def test_pii_failure_never_shows_the_value(scratch_db):
    execute(scratch_db, "UPDATE clean.comments SET text = '13800138000'")

    result = run_check(scratch_db, "clean_comments", "no_buyer_pii")

    shown = " ".join([result.description or "", *(str(v) for v in result.metadata.values())])
    assert not result.passed and "13800138000" not in shown


def test_a_failed_blocking_check_stops_the_marts_in_the_same_run(tmp_path):
    # The same SKU twice in one order breaks clean.order_items' key.
    broken = {day: [dict(r) for r in records] for day, records in ORDERS.items()}
    first = broken["2026-03-01"][0]
    first["itemInfoList"] = [*first["itemInfoList"], first["itemInfoList"][0]]
    path = build_raw(tmp_path / "jd.duckdb", orders=broken)

    result = build_derived(path, raise_on_error=False)

    evaluations = {
        e.asset_check_evaluation_data.asset_check_key.to_user_string(): e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert evaluations["clean_order_items:keys_unique"] is False
    assert "clean_order_items" in materialized and "clean_comments" in materialized
    assert not {"product_reviews", "product_review_summary"} & materialized  # they read clean.order_items
    assert "review_daily" in materialized  # it does not


def test_pii_scan_over_budget_samples_containment_but_still_matches_every_exact_value(scratch_db):
    execute(scratch_db, "UPDATE clean.orders SET city = '13912345678' WHERE order_id = '3001'")
    con = duckdb.connect(str(scratch_db), read_only=True)
    try:
        result = no_buyer_pii(con, "clean.orders", budget=1)
    finally:
        con.close()

    assert result.passed is False
    assert metadata_value(result, "containment_sampled") is True
    assert metadata_value(result, "values holding PII: city") == 1


def test_derived_assets_wire_onto_the_raw_assets():
    defs = dg.Definitions(
        assets=[*dg.load_assets_from_modules([raw_assets]), *CLEAN_ASSETS, *MART_ASSETS],
        asset_checks=[*CLEAN_CHECKS, *MARTS_CHECKS],
        resources={**build_resources(), "pii_key": PiiKey(key=dg.EnvVar("JD_PII_KEY"))},
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()

    upstream = {dep for asset in [*CLEAN_ASSETS, *MART_ASSETS] for dep in graph.get(asset.key).parent_keys}
    assert all(graph.get(key).is_materializable for key in upstream)  # no dangling external assets
    assert {k.to_user_string() for k in upstream if k.path[0].startswith("raw_")} == {
        "raw_comments", "raw_item_details", "raw_wares", "raw_orders", "raw_order_tracks",
    }  # fmt: skip


def test_the_rebuild_job_selects_every_derived_asset_and_check():
    defs = dg.Definitions(
        assets=[*dg.load_assets_from_modules([raw_assets]), *CLEAN_ASSETS, *MART_ASSETS],
        asset_checks=[*CLEAN_CHECKS, *MARTS_CHECKS],
        jobs=[derived_tables_job],
        resources={**build_resources(), "pii_key": PiiKey(key=dg.EnvVar("JD_PII_KEY"))},
    )
    job = defs.resolve_job_def("derived_tables_job")

    assert job.asset_layer.selected_asset_keys == {a.key for a in [*CLEAN_ASSETS, *MART_ASSETS]}
    assert job.asset_check_selection is None  # every check of the selected assets runs with them
    nodes = set(job.graph.node_names())
    assert {check.node_def.name for check in [*CLEAN_CHECKS, *MARTS_CHECKS]} <= nodes
