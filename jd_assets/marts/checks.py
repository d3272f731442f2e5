"""Asset checks of the marts: keys, no review lost, score ranges, details coverage, PII, source freshness."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import duckdb

from jd_assets.clean.checks import no_buyer_pii
from jd_assets.derived.rules import Rule, checks_from_rules, keys_unique, reconciles, rows_satisfy
from jd_assets.marts import assets

#: Below this share of reviews whose SKU has product details, the joined marts are mostly NULLs: warn.
DETAILS_COVERAGE_MIN = 0.8
#: The newest comment crawl should be younger than this (comments are crawled daily).
CRAWL_MAX_AGE_HOURS = 48


def details_coverage(
    con: duckdb.DuckDBPyConnection, minimum: float = DETAILS_COVERAGE_MIN
) -> dg.AssetCheckResult:
    """Share of reviews whose SKU has details; a WARN (not an error) below ``minimum``."""
    reviews, covered, skus_missing = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE has_details),
                  count(DISTINCT sku_id) FILTER (WHERE NOT has_details)
           FROM marts.product_reviews"""
    ).fetchone()
    share = covered / reviews if reviews else 1.0
    passed = share >= minimum
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "reviews": reviews,
            "reviews_with_details": covered,
            "details_coverage": round(share, 4),
            "threshold": minimum,
            "skus_without_details": skus_missing,
        },
        description=None
        if passed
        else f"only {share:.1%} of reviews have product details (threshold {minimum:.0%}): "
        f"{skus_missing} SKUs need a raw_item_details run",
    )


def crawl_recent(
    con: duckdb.DuckDBPyConnection, now: datetime | None = None, max_age_hours: float = CRAWL_MAX_AGE_HOURS
) -> dg.AssetCheckResult:
    """The newest comment crawl behind the marts is recent (WARN): stale marts come from stale raw data."""
    (newest,) = con.execute("SELECT max(last_seen_at) FROM raw.comments").fetchone()
    current = now or datetime.now(UTC)
    age_hours = None if newest is None else (current - newest).total_seconds() / 3600
    passed = age_hours is not None and age_hours <= max_age_hours
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "newest_crawl": "never" if newest is None else newest.isoformat(),
            "age_hours": -1.0 if age_hours is None else round(age_hours, 2),
            "max_age_hours": max_age_hours,
        },
        description=None
        if passed
        else f"the newest comment crawl is {'missing' if newest is None else f'{age_hours:.0f} h old'}"
        f" (limit {max_age_hours} h): check the raw_comments schedule",
    )


def _pii(table: str) -> tuple[str, Rule]:
    return (
        f"No text in {table} equals or contains a buyer's account, name, phone or address from raw.orders.",
        lambda con: no_buyer_pii(con, table),
    )


product_reviews_checks = checks_from_rules(
    assets.product_reviews,
    {
        "keys_unique": (
            "comment_id is present and unique.",
            lambda con: keys_unique(con, "marts.product_reviews", ["comment_id"]),
        ),
        "every_review_kept": (
            "One row per clean review: a review without details, ware or sales is kept, not dropped.",
            lambda con: reconciles(
                con,
                "marts.product_reviews",
                expected_sql="SELECT comment_id, sku_id, score FROM clean.comments",
                actual_sql="SELECT comment_id, sku_id, score FROM marts.product_reviews",
            ),
        ),
        "no_buyer_pii": _pii("marts.product_reviews"),
    },
)

product_reviews_coverage_checks = checks_from_rules(
    assets.product_reviews,
    {
        "details_coverage": (
            f"At least {DETAILS_COVERAGE_MIN:.0%} of reviews have their SKU's product details (warns below).",
            details_coverage,
        ),
    },
    blocking=False,
)

_SHARES = (
    "positive_share",
    "neutral_share",
    "negative_share",
    "picture_share",
    "repeat_buyer_share",
    "default_text_share",
    "hidden_complaint_share",
    "template_share",
)

product_review_summary_checks = checks_from_rules(
    assets.product_review_summary,
    {
        "keys_unique": (
            "sku_id is present and unique.",
            lambda con: keys_unique(con, "marts.product_review_summary", ["sku_id"]),
        ),
        "scores_in_range": (
            "avg_score and bayes_score in 1..5, shares in 0..1 and sentiment shares summing to 1.",
            lambda con: rows_satisfy(
                con,
                "marts.product_review_summary",
                {
                    "avg_score in 1..5": "n_reviews = 0 OR avg_score BETWEEN 1 AND 5",
                    "bayes_score in 1..5": "n_reviews = 0 OR bayes_score BETWEEN 1 AND 5",
                    **{f"{s} in 0..1": f"n_reviews = 0 OR {s} BETWEEN 0 AND 1" for s in _SHARES},
                    # NULL when none of the SKU's texts is scorable (all empty or emoji only)
                    "text_negative_share in 0..1": "coalesce(text_negative_share, 0) BETWEEN 0 AND 1",
                    "sentiment shares sum to 1": (
                        "n_reviews = 0 OR abs(positive_share + neutral_share + negative_share - 1) < 1e-9"
                    ),
                },
                "sku_id, n_reviews, avg_score, bayes_score",
            ),
        ),
        "reviews_reconcile": (
            "n_reviews per SKU equals the SKU's clean reviews.",
            lambda con: reconciles(
                con,
                "marts.product_review_summary",
                expected_sql="SELECT sku_id, count(*) FROM clean.comments GROUP BY sku_id",
                actual_sql="SELECT sku_id, n_reviews FROM marts.product_review_summary WHERE n_reviews > 0",
            ),
        ),
        "no_buyer_pii": _pii("marts.product_review_summary"),
    },
)

product_review_summary_freshness_checks = checks_from_rules(
    assets.product_review_summary,
    {
        "comment_crawl_recent": (
            f"The newest comment crawl is at most {CRAWL_MAX_AGE_HOURS} h old (warns otherwise).",
            crawl_recent,
        ),
    },
    blocking=False,
)

review_daily_checks = checks_from_rules(
    assets.review_daily,
    {
        "keys_unique": (
            "(sku_id, day) is present and unique.",
            lambda con: keys_unique(con, "marts.review_daily", ["sku_id", "day"]),
        ),
        "reviews_reconcile": (
            "Reviews per SKU and day equal the clean reviews of that day; scores in 1..5.",
            lambda con: reconciles(
                con,
                "marts.review_daily",
                expected_sql="SELECT sku_id, comment_date, count(*) FROM clean.comments GROUP BY ALL",
                actual_sql="SELECT sku_id, day, reviews FROM marts.review_daily",
            ),
        ),
        "scores_in_range": (
            "avg_score in 1..5; negatives and with_pictures within reviews.",
            lambda con: rows_satisfy(
                con,
                "marts.review_daily",
                {
                    "avg_score in 1..5": "avg_score BETWEEN 1 AND 5",
                    "negatives <= reviews": "negatives BETWEEN 0 AND reviews",
                    "with_pictures <= reviews": "with_pictures BETWEEN 0 AND reviews",
                },
                "sku_id, day, reviews, avg_score",
            ),
        ),
        "no_buyer_pii": _pii("marts.review_daily"),
    },
)

MARTS_CHECKS = [
    *product_reviews_checks,
    *product_reviews_coverage_checks,
    *product_review_summary_checks,
    *product_review_summary_freshness_checks,
    *review_daily_checks,
]
