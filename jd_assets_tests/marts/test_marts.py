"""The marts against an independent computation (polars over the hand-written raw records, not the SQL),
the reviews-are-never-dropped rule, the plotted metadata, the README's SQL cookbook, and the automation
that rebuilds clean and marts after a raw materialization."""

from __future__ import annotations

import re
import statistics
import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.checks import CLEAN_CHECKS
from jd_assets.marts import MART_ASSETS
from jd_assets.marts.assets import BAYES_PRIOR_REVIEWS
from jd_assets.partitions import jd_item_partitions, jd_ware_partitions, orders_daily_partitions
from jd_assets_tests.clean.raw_fixture import COMMENTS, DETAILS, ORDERS, TRACKS, derived_resources

README = Path(__file__).parents[2] / "README.md"
FILLERS = {"此用户未填写评价内容", unicodedata.normalize("NFKC", "此用户未及时填写评价内容，系统默认好评！")}
TIME = "%Y-%m-%d %H:%M:%S"


def frame(path, sql) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).pl()
    finally:
        con.close()


def expected_reviews() -> pl.DataFrame:
    """Valid reviews straight from the records (scores outside 1..5 are what raw rejects)."""
    rows = []
    for records in COMMENTS.values():
        for c in records:
            score = int(c["commentScore"])
            if not 1 <= score <= 5:
                continue
            text = unicodedata.normalize("NFKC", c["commentData"] or "").strip()
            media = c["pictureInfoList"] or []
            rows.append(
                {
                    "comment_id": c["commentId"],
                    "sku_id": c["productId"],
                    "commented_at": datetime.strptime(c["commentDate"], TIME),
                    "score": score,
                    "pictures": sum(m["mediaType"] == "1" for m in media),
                    "repeat": (c.get("buyCount") or 0) > 1,
                    "default": text == "" or text in FILLERS,
                }
            )
    return pl.DataFrame(rows)


def expected_sales() -> pl.DataFrame:
    rows = []
    for records in ORDERS.values():
        for o in records:
            state = o.get("orderState") or o.get("order_state")
            items = o.get("itemInfoList") or o.get("item_info_list")
            if not items or not (o.get("orderStartTime") or o.get("order_start_time")):
                continue  # rejected in raw
            oid = str(o.get("orderId") or o.get("order_id"))
            for i in items:
                rows.append(
                    {
                        "order_id": oid,
                        "sku_id": str(i.get("skuId") or i.get("sku_id")),
                        "units": int(i.get("itemTotal") or i.get("item_total")),
                        "price": Decimal(str(i.get("jdPrice") or i.get("jd_price"))),
                        "cancelled": state == "TRADE_CANCELED",
                    }
                )
    return pl.DataFrame(rows)


def expected_delivery_hours() -> dict[str, float]:
    hours = {}
    for (_, oid), events in TRACKS.items():
        times = [datetime.strptime(e["time"], TIME) for e in events]
        done = [
            t for t, e in zip(times, events, strict=True) if re.search("签收|delivered", e["content"], re.I)
        ]
        if done:
            hours[oid] = (done[0] - times[0]).total_seconds() / 3600
    return hours


def test_summary_matches_an_independent_computation(built_db):
    reviews = expected_reviews()
    global_avg = reviews["score"].mean()
    as_of = reviews["commented_at"].max()  # the newest review of any SKU
    per_sku = reviews.group_by("sku_id").agg(
        n=pl.len(),
        total=pl.col("score").sum(),
        avg=pl.col("score").mean(),
        positive=(pl.col("score") >= 4).mean(),
        neutral=(pl.col("score") == 3).mean(),
        negative=(pl.col("score") <= 2).mean(),
        pictures=(pl.col("pictures") > 0).mean(),
        repeat=pl.col("repeat").mean(),
        default=pl.col("default").mean(),
        first=pl.col("commented_at").min(),
        last=pl.col("commented_at").max(),
        last_30d=(pl.col("commented_at") > as_of - timedelta(days=30)).sum(),
    )
    sales = expected_sales().filter(~pl.col("cancelled"))
    sold = {
        r["sku_id"]: r
        for r in sales.group_by("sku_id").agg(units=pl.col("units").sum()).iter_rows(named=True)
    }
    revenue = {
        sku: sum(
            (r["price"] * r["units"] for r in sales.iter_rows(named=True) if r["sku_id"] == sku), Decimal(0)
        )
        for sku in sold
    }
    delivery = expected_delivery_hours()
    summary = {
        r["sku_id"]: r for r in frame(built_db, "SELECT * FROM marts.product_review_summary").to_dicts()
    }

    assert sorted(summary) == sorted(set(reviews["sku_id"]) | set(sales["sku_id"]) | {"100001", "100002"})
    for want in per_sku.iter_rows(named=True):
        got = summary[want["sku_id"]]
        m = BAYES_PRIOR_REVIEWS
        assert got["n_reviews"] == want["n"]
        assert got["avg_score"] == pytest.approx(want["avg"])
        assert got["bayes_score"] == pytest.approx((m * global_avg + want["total"]) / (m + want["n"]))
        for column, key in [("positive_share", "positive"), ("neutral_share", "neutral"),
                            ("negative_share", "negative"), ("picture_share", "pictures"),
                            ("repeat_buyer_share", "repeat"), ("default_text_share", "default")]:  # fmt: skip
            assert got[column] == pytest.approx(want[key]), column
        assert (got["first_review_at"], got["last_review_at"]) == (want["first"], want["last"])
        assert got["reviews_last_30d"] == want["last_30d"]
        units = sold.get(want["sku_id"], {}).get("units", 0)
        assert got["units_sold"] == units
        assert got["revenue"] == revenue.get(want["sku_id"], Decimal(0))
        assert got["reviews_per_100_units"] == (pytest.approx(100 * want["n"] / units) if units else None)
        orders_of_sku = {r["order_id"] for r in sales.iter_rows(named=True) if r["sku_id"] == want["sku_id"]}
        hours = [delivery[o] for o in orders_of_sku if o in delivery]
        assert got["median_delivery_hours"] == (pytest.approx(statistics.median(hours)) if hours else None)
    assert summary["100001"]["product_title"] == DETAILS["100001"]["title"]
    assert summary["100002"]["ware_link_source"] == "order"  # its details name no ware
    assert summary["100003"]["product_title"] is None and summary["100003"]["units_sold"] == 0


def test_review_daily_matches_an_independent_computation(built_db):
    want = (
        expected_reviews()
        .with_columns(day=pl.col("commented_at").dt.date())
        .group_by("sku_id", "day")
        .agg(
            reviews=pl.len(),
            avg_score=pl.col("score").mean(),
            negatives=(pl.col("score") <= 2).sum().cast(pl.Int64),
            with_pictures=(pl.col("pictures") > 0).sum().cast(pl.Int64),
        )
        .sort("sku_id", "day")
    )
    got = frame(built_db, "SELECT * FROM marts.review_daily ORDER BY sku_id, day")

    columns = ["sku_id", "day", "reviews", "negatives", "with_pictures"]
    assert (
        got.select(columns).rows()
        == want.with_columns(pl.col("reviews").cast(pl.Int64)).select(columns).rows()
    )
    assert got["avg_score"].to_list() == pytest.approx(want["avg_score"].to_list())


def test_product_reviews_keep_every_review_with_left_joined_facts(built_db):
    got = {r["comment_id"]: r for r in frame(built_db, "SELECT * FROM marts.product_reviews").to_dicts()}
    expected = expected_reviews()

    assert sorted(got) == sorted(expected["comment_id"])
    # each review names the variant JD says it reviews (its productId), as clean.comments does
    assert {cid: r["reviewed_sku_id"] for cid, r in got.items()} == dict(
        zip(expected["comment_id"], expected["sku_id"], strict=True)
    )
    orphan = got["701"]  # no details, no ware, no sales: kept with NULLs and zeros
    assert (
        orphan["has_details"],
        orphan["product_title"],
        orphan["ware_id"],
        orphan["ware_link_source"],
    ) == (
        False,
        None,
        None,
        None,
    )
    # a review carries its product and ware, not its SKU's sales: those are the summary's (one row a SKU)
    assert not {"sku_orders", "sku_units_sold", "sku_revenue"} & set(orphan)
    lancome = got["501"]
    assert (lancome["product_title"], lancome["ware_id"], lancome["ware_link_source"]) == (
        DETAILS["100001"]["title"],
        "900001",
        "detail",
    )
    assert lancome["ware_status_label"] == "上架"
    sales = frame(
        built_db, "SELECT units_sold, revenue FROM marts.product_review_summary WHERE sku_id = '100001'"
    ).rows()
    assert sales == [(3, Decimal("387.00"))]  # 2 + 1; the cancelled order's 5 do not count
    mouse = got["601"]
    assert (mouse["ware_link_source"], mouse["ware_status_label"], mouse["brand_name"]) == (
        "order",
        "自主下架",
        "罗技",
    )


def test_marts_record_numeric_metadata_for_the_plots(built_db, tmp_path):
    import shutil

    path = tmp_path / "jd.duckdb"
    shutil.copy(built_db, path)
    result = dg.materialize(MART_ASSETS, resources=derived_resources(path))

    by_asset = {}
    for event in result.get_asset_materialization_events():
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        by_asset[event.asset_key.to_user_string()] = metadata
        assert isinstance(metadata["dagster/row_count"], int)
        assert "|" in metadata["preview"]
    con = duckdb.connect(str(path), read_only=True)

    def one(sql):
        return con.execute(sql).fetchone()[0]

    # each mart describes its own table, not clean.comments: the counts differ from mart to mart
    for asset, table in [
        ("product_reviews", "marts.product_reviews"),
        ("product_review_summary", "marts.product_review_summary"),
        ("review_daily", "marts.review_daily"),
        ("sku_aspects", "marts.sku_aspects"),
        ("review_alerts", "marts.review_alerts"),
    ]:
        assert by_asset[asset]["dagster/row_count"] == one(f"SELECT count(*) FROM {table}"), asset
    for stale in ("reviews", "avg_score", "skus_covered"):
        assert all(stale not in metadata for metadata in by_asset.values())
    reviews, summary, daily = (
        by_asset[a] for a in ("product_reviews", "product_review_summary", "review_daily")
    )
    assert reviews["dagster/row_count"] == 7
    assert reviews["skus"] == 3
    assert reviews["negative_share"] == pytest.approx(3 / 7, abs=1e-4)
    assert reviews["hidden_complaints"] == one(
        "SELECT count(*) FROM clean.review_signals WHERE is_hidden_complaint"
    )
    assert summary["dagster/row_count"] == one("SELECT count(*) FROM marts.product_review_summary")
    assert summary["skus_with_reviews"] == 3
    assert summary["reviews_last_30d"] == reviews["reviews_last_30d"] == daily["reviews_last_30d"]
    assert summary["negative_share"] == pytest.approx(reviews["negative_share"], abs=1e-4)
    assert daily["days"] == one("SELECT count(DISTINCT day) FROM marts.review_daily")
    con.close()
    assert by_asset["review_alerts"]["alerts: negative_review"] == 3  # rated 1-2: 502, 603, 701


def cookbook() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text.split("## SQL cookbook", 1)[1].split("\n## ", 1)[0]  # up to the next section
    return re.findall(r"### (.+?)\n.*?```sql\n(.*?)```", section, flags=re.S)


def test_the_readme_has_the_eight_cookbook_queries():
    titles = [title for title, _ in cookbook()]

    assert titles == [
        "Worst-rated SKUs with enough reviews",
        "Score trend of one SKU, by week",
        "Reviews per 100 units sold",
        "Negative reviews with pictures",
        "Slowest deliveries",
        "Pain points: the aspects buyers complain about most",
        "Newest alerts per SKU (negative reviews and hidden complaints)",
        "Stars against text: SKUs whose good ratings hide complaints",
    ]


@pytest.mark.parametrize(("title", "sql"), cookbook(), ids=[t for t, _ in cookbook()])
def test_cookbook_query_runs(built_db, title, sql):
    rows = frame(built_db, sql)

    if title != "Worst-rated SKUs with enough reviews":  # the fixture has no SKU with 10 reviews
        assert rows.height > 0, title


def test_cookbook_slowest_delivery_first(built_db):
    sql = dict(cookbook())["Slowest deliveries"]

    assert frame(built_db, sql)["order_id"].to_list() == ["3004", "3001"]


# --- automation ---------------------------------------------------------------------------------------

RAW_SPECS = [
    dg.AssetSpec("raw_comments", partitions_def=jd_item_partitions),
    dg.AssetSpec("raw_item_details", partitions_def=jd_item_partitions),
    dg.AssetSpec("raw_wares", partitions_def=jd_ware_partitions),
    dg.AssetSpec("raw_orders", partitions_def=orders_daily_partitions),
    dg.AssetSpec("raw_order_tracks", partitions_def=orders_daily_partitions, deps=["raw_orders"]),
]
DERIVED = [*CLEAN_ASSETS, *MART_ASSETS]


def requested(result) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def passed_checks(instance, asset_key: dg.AssetKey) -> None:
    for check in CLEAN_CHECKS:
        for key in check.check_keys:
            if key.asset_key == asset_key:
                instance.report_runless_asset_event(
                    dg.AssetCheckEvaluation(asset_key=asset_key, check_name=key.name, passed=True)
                )


def test_a_raw_materialization_brings_clean_then_marts_up_to_date(tmp_path):
    defs = dg.Definitions(
        assets=[*RAW_SPECS, *DERIVED], asset_checks=CLEAN_CHECKS, resources=derived_resources(tmp_path / "x")
    )
    with dg.instance_for_test() as instance:
        # Most SKU partitions were never fetched: that must not hold the clean tables back.
        instance.add_dynamic_partitions("jd_item", ["100001", "100002", "100003"])
        for asset in DERIVED:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset.key))
            passed_checks(instance, asset.key)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert requested(tick) == set()

        instance.report_runless_asset_event(dg.AssetMaterialization("raw_comments", partition="100001"))
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        # the clean table and the marts that read it, in one run (its checks passed last time)
        assert requested(tick) == {
            "clean_comments",
            "clean_review_signals",
            "product_reviews",
            "product_review_summary",
            "review_daily",
            "sku_aspects",
            "review_alerts",
        }

        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == set()  # requested once, not on every tick


def test_a_failed_blocking_check_keeps_the_marts_from_following(tmp_path):
    defs = dg.Definitions(
        assets=[*RAW_SPECS, *DERIVED], asset_checks=CLEAN_CHECKS, resources=derived_resources(tmp_path / "x")
    )
    with dg.instance_for_test() as instance:
        for asset in DERIVED:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset.key))
            passed_checks(instance, asset.key)
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)

        # clean_orders was rebuilt (say, from the UI) and its key check failed
        instance.report_runless_asset_event(dg.AssetMaterialization("clean_orders"))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("clean_orders"), check_name="keys_unique", passed=False
            )
        )
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == set()

        # fixed and rebuilt: the marts that read clean.orders follow
        instance.report_runless_asset_event(dg.AssetMaterialization("clean_orders"))
        passed_checks(instance, dg.AssetKey("clean_orders"))
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == {"product_reviews", "product_review_summary"}
