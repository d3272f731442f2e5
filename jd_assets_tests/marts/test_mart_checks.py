"""Every mart check passes on the built data and fails — saying why — on a table broken to break it; the
coverage and crawl checks warn rather than block; the marts carry a freshness policy."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb
import pytest

from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS, crawl_recent
from jd_assets_tests.clean.check_helpers import execute, metadata_value, run_check
from jd_assets_tests.clean.raw_fixture import FETCHED

MART_CHECK_KEYS = sorted((k for c in MARTS_CHECKS for k in c.check_keys), key=lambda k: k.to_user_string())
WARN_ONLY = {("product_reviews", "details_coverage"), ("product_review_summary", "comment_crawl_recent")}

BREAKS = [
    ("product_reviews", "keys_unique",
     "INSERT INTO marts.product_reviews SELECT * FROM marts.product_reviews LIMIT 1", "duplicate_keys", 1),
    ("product_reviews", "every_review_kept",
     "DELETE FROM marts.product_reviews WHERE NOT has_details", "missing_in_table", 1),
    ("product_reviews", "no_buyer_pii",
     "UPDATE marts.product_reviews SET nickname = 'jd_buyer_alice'", "values holding PII: nickname", 1),
    ("product_review_summary", "keys_unique",
     "UPDATE marts.product_review_summary SET sku_id = NULL WHERE sku_id = '100003'",
     "rows_with_null_key", 1),
    ("product_review_summary", "scores_in_range",
     "UPDATE marts.product_review_summary SET bayes_score = 5.5 WHERE sku_id = '100001'",
     "violations: bayes_score in 1..5", 1),
    ("product_review_summary", "scores_in_range",
     "UPDATE marts.product_review_summary SET negative_share = 0.9 WHERE sku_id = '100001'",
     "violations: sentiment shares sum to 1", 1),
    ("product_review_summary", "reviews_reconcile",
     "UPDATE marts.product_review_summary SET n_reviews = n_reviews + 1 WHERE sku_id = '100002'",
     "missing_in_table", 1),
    ("product_review_summary", "no_buyer_pii",
     "UPDATE marts.product_review_summary SET shop_name = '13912345678'", "values holding PII: shop_name", 1),
    ("review_daily", "keys_unique",
     "INSERT INTO marts.review_daily SELECT * FROM marts.review_daily LIMIT 2", "duplicate_keys", 2),
    ("review_daily", "reviews_reconcile",
     "DELETE FROM marts.review_daily WHERE sku_id = '100003'", "missing_in_table", 1),
    ("review_daily", "scores_in_range",
     "UPDATE marts.review_daily SET avg_score = 0 WHERE sku_id = '100003'",
     "violations: avg_score in 1..5", 1),
    ("review_daily", "no_buyer_pii",
     "UPDATE marts.review_daily SET sku_id = sku_id || '李秀英'", "values holding PII: sku_id", 3),
]  # fmt: skip


@pytest.mark.parametrize("key", MART_CHECK_KEYS, ids=lambda k: k.to_user_string())
def test_check_passes_on_the_built_data(scratch_db, key):
    if key.name == "comment_crawl_recent":
        execute(scratch_db, "UPDATE raw.comments SET last_seen_at = now()")  # the fixture crawled in March
    result = run_check(scratch_db, key.asset_key.to_user_string(), key.name)

    assert result.passed, (key, result.metadata)


@pytest.mark.parametrize(("asset", "check", "sql", "meta_key", "expected"), BREAKS, ids=lambda v: str(v)[:40])
def test_check_fails_on_a_broken_table(scratch_db, asset, check, sql, meta_key, expected):
    execute(scratch_db, sql)

    result = run_check(scratch_db, asset, check)

    assert result.passed is False
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert metadata_value(result, meta_key) == expected
    assert result.description


def test_low_details_coverage_warns(scratch_db):
    execute(scratch_db, "UPDATE marts.product_reviews SET has_details = false WHERE sku_id = '100002'")

    result = run_check(scratch_db, "product_reviews", "details_coverage")

    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert metadata_value(result, "details_coverage") == pytest.approx(3 / 7, abs=1e-4)
    assert metadata_value(result, "skus_without_details") == 2
    assert "raw_item_details" in result.description


def test_a_stale_comment_crawl_warns(scratch_db):
    execute(scratch_db, "UPDATE raw.comments SET last_seen_at = now() - INTERVAL 3 DAY")

    result = run_check(scratch_db, "product_review_summary", "comment_crawl_recent")

    assert (result.passed, result.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert metadata_value(result, "age_hours") == pytest.approx(72, abs=0.1)


def test_crawl_age_is_measured_from_the_newest_crawl(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    try:
        assert crawl_recent(con, now=FETCHED + timedelta(hours=47)).passed
        assert not crawl_recent(con, now=FETCHED + timedelta(hours=49)).passed
    finally:
        con.close()


def test_every_mart_check_is_shown_failing():
    shown = {(asset, check) for asset, check, *_ in BREAKS} | WARN_ONLY

    assert shown == {(k.asset_key.to_user_string(), k.name) for k in MART_CHECK_KEYS}


def test_only_the_warnings_are_non_blocking():
    for check in MARTS_CHECKS:
        for spec in check.check_specs:
            assert spec.blocking is ((spec.asset_key.to_user_string(), spec.name) not in WARN_ONLY)


def test_marts_carry_a_freshness_policy():
    for asset in MART_ASSETS:
        spec = next(iter(asset.specs))
        assert spec.freshness_policy is not None
        assert spec.freshness_policy.fail_window.to_timedelta() == timedelta(hours=48)
