"""Sandbox → raw assets → clean and marts, compared with the sandbox's ground truth.

Every SKU's comments and details, every linked ware, and four order days — two fetched in the live
dialect, two in the seed dialect — go through the real raw assets and clients; then every clean and mart
asset with its checks. The clean tables hold exactly the ground truth's records (counts and values per
table, both dialects), the marts count what the truth counts, the sandbox's PII marker appears in raw
only, and a rebuild changes nothing. Every test runs on both backends: the DuckDB file and a DuckLake
(PostgreSQL catalog, Parquet data).
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import pytest

from jd_assets.clean.comments import DEFAULT_TEXTS
from jd_assets.derived.building import halfwidth_py
from jd_assets.raw.assets import raw_comments, raw_item_details, raw_orders, raw_wares
from jd_assets.warehouse import DuckDBWarehouse
from jd_assets_tests.clean.raw_fixture import PII_KEY, build_derived, table_rows
from jd_assets_tests.conftest import as_warehouse, gateway_resources, new_lake
from jd_sandbox import Sandbox, SandboxConfig

MARKER = "PIIMARK"
DERIVED_TABLES = [
    "clean.comments", "clean.products", "clean.wares", "clean.sku_ware_links", "clean.order_tracks",
    "clean.orders", "clean.order_items", "marts.product_reviews", "marts.product_review_summary",
    "marts.review_daily",
]  # fmt: skip


def materialize(asset, key, resources, instance):
    if isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition):
        instance.add_dynamic_partitions(asset.partitions_def.name, [key])
    return dg.materialize(
        [asset], partition_key=key, resources=resources, instance=instance, raise_on_error=False
    )


def query(db: DuckDBWarehouse, sql, params=None) -> list[dict]:
    with db.read() as con:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module", params=["file", "lake"])
def landed(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    if request.param == "lake":
        db = new_lake(request.getfixturevalue("lake_server"), folder)
    else:
        db = as_warehouse(folder / "jd.duckdb")
    home = tmp_path_factory.mktemp("dagster_home")
    with (
        Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=0, pii_marker=MARKER)) as sandbox,
        dg.instance_for_test(temp_dir=str(home)) as instance,
    ):
        env = sandbox.env()
        live = gateway_resources(env, db)
        seed = gateway_resources({**env, "JD_JOS_DIALECT": "seed"}, db)
        truth = sandbox.truth
        skus = truth.sku_ids()
        for sku in skus:
            assert materialize(raw_comments, sku, live, instance).success
            materialize(raw_item_details, sku, live, instance)  # unsupported products fail, as they should
        wares = sorted(set(truth.sku_to_ware().values()))
        for ware in wares:
            assert materialize(raw_wares, ware, live, instance).success
        today = sandbox.now.date()
        days = {(today - timedelta(days=n)): ("live" if n % 2 else "seed") for n in range(1, 5)}
        for day, dialect in days.items():
            resources = live if dialect == "live" else seed
            assert materialize(raw_orders, day.isoformat(), resources, instance).success
        result = build_derived(db, instance=instance)
        assert result.success
        yield {
            "db": db,
            "truth": truth,
            "skus": skus,
            "wares": wares,
            "days": days,
            "result": result,
            "dagster_files": [p for p in home.rglob("*") if p.is_file()],
        }


def test_every_check_passes_on_sandbox_data(landed):
    evaluations = [
        e.asset_check_evaluation_data
        for e in landed["result"].all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    failed = [
        e.asset_check_key.to_user_string()
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert evaluations and failed == []


def test_clean_comments_match_the_truth(landed):
    truth, db = landed["truth"], landed["db"]
    got = {r["comment_id"]: r for r in query(db, "SELECT * FROM clean.comments")}
    expected = {c["commentId"]: (sku, c) for sku in landed["skus"] for c in truth.comments(sku)}

    assert sorted(got) == sorted(expected)
    defaults = {halfwidth_py(t) for t in DEFAULT_TEXTS}
    for cid, (sku, c) in expected.items():
        row = got[cid]
        text = (
            halfwidth_py(unicodedata.normalize("NFC", c["commentData"] or "")).replace("\r\n", "\n").strip()
        )
        media = c.get("pictureInfoList") or []
        assert row["sku_id"] == sku
        assert row["score"] == int(c["commentScore"])
        assert row["commented_at"].strftime("%Y-%m-%d %H:%M:%S") == c["commentDate"]
        assert row["text"] == text
        assert row["is_default_text"] == (text == "" or text in defaults)
        assert row["picture_count"] == sum(str(m.get("mediaType")) == "1" for m in media)
        assert row["video_count"] == sum(str(m.get("mediaType")) == "2" for m in media)
        assert row["is_repeat_buyer"] == ((c.get("buyCount") or 0) > 1)
        assert row["nickname"] == c["userNickName"]


def test_clean_products_and_wares_match_the_truth(landed):
    truth, db = landed["truth"], landed["db"]
    products = {r["sku_id"]: r for r in query(db, "SELECT * FROM clean.products")}
    wares = {r["ware_id"]: r for r in query(db, "SELECT * FROM clean.wares")}

    assert sorted(products) == sorted(s for s in landed["skus"] if truth.detail_supported(s))
    for sku, row in products.items():
        detail = truth.detail(sku)
        assert row["title"] == detail["title"]
        assert row["price"] == Decimal(str(detail["price"]))
        assert row["ware_id"] == str(detail["wareId"]) == truth.sku_to_ware()[sku]
    assert sorted(wares) == landed["wares"]
    for ware_id, row in wares.items():
        ware = truth.ware(ware_id)
        assert row["status_code"] == ware["wareStatus"]
        assert row["status_label"] is not None
        assert row["title"] == ware.get("title")
        assert all(u.startswith("https://img12.360buyimg.com/n5/") for u in row["image_urls"])


@pytest.mark.parametrize("dialect", ["live", "seed"])
def test_clean_orders_match_the_truth_in_both_dialects(landed, dialect):
    truth, db = landed["truth"], landed["db"]
    days = [d for d, how in landed["days"].items() if how == dialect]
    orders = {r["order_id"]: r for r in query(db, "SELECT * FROM clean.orders")}
    items = {(r["order_id"], r["sku_id"]): r for r in query(db, "SELECT * FROM clean.order_items")}
    tracks = query(
        db, "SELECT order_id, count(*) AS n, bool_or(is_delivery) AS done FROM clean.order_tracks GROUP BY 1"
    )
    tracks = {r["order_id"]: r for r in tracks}

    for day in days:
        expected = truth.orders(day, "live")  # the live form of the same orders: strings, camelCase
        assert expected, day
        for o in expected:
            row = orders[o["orderId"]]
            assert row["dialect"] == dialect
            assert row["state"] == o["orderState"]
            assert row["created_at"].strftime("%Y-%m-%d %H:%M:%S") == o["orderStartTime"]
            assert row["order_payment"] == Decimal(o["orderPayment"])
            assert row["order_total_price"] == Decimal(o["orderTotalPrice"])
            assert row["freight_price"] == Decimal(o["freightPrice"])
            assert row["province"] == o["consigneeInfo"]["province"]
            assert row["buyer_key"] and len(row["buyer_key"]) == 64
            for item in o["itemInfoList"]:
                line = items[o["orderId"], item["skuId"]]
                assert line["ware_id"] == item["wareId"]
                assert line["quantity"] == int(item["itemTotal"])
                assert line["unit_price"] == Decimal(item["jdPrice"])
            events = truth.order_tracks(o["orderId"])
            if events:
                assert tracks[o["orderId"]]["n"] == len(events)
                assert (row["delivered_at"] is not None) == any("签收" in e["content"] for e in events)
    day_ids = {o["orderId"] for day in landed["days"] for o in truth.orders(day, "live")}
    assert set(orders) == day_ids


def test_the_same_buyer_has_the_same_key_in_both_dialects(landed):
    keys = query(
        landed["db"],
        "SELECT count(DISTINCT dialect) AS dialects FROM clean.orders GROUP BY buyer_key ORDER BY 1 DESC",
    )
    assert keys[0]["dialects"] == 2  # some buyer ordered on a live day and on a seed day


def test_marts_count_what_the_truth_counts(landed):
    truth, db = landed["truth"], landed["db"]
    summary = {r["sku_id"]: r for r in query(db, "SELECT * FROM marts.product_review_summary")}
    daily = query(db, "SELECT sku_id, strftime(day, '%Y-%m-%d') AS day, reviews FROM marts.review_daily")

    for sku in landed["skus"]:
        assert summary[sku]["n_reviews"] == truth.comment_count(sku)
        assert {r["day"]: r["reviews"] for r in daily if r["sku_id"] == sku} == truth.comment_counts_by_day(
            sku
        )
    (row,) = query(db, "SELECT count(*) AS n FROM marts.product_reviews")
    assert row["n"] == truth.total_comments()


def test_pii_stays_in_raw(landed):
    db = landed["db"]
    assert query(db, f"SELECT count(*) AS n FROM raw.orders WHERE contains(record::VARCHAR, '{MARKER}')")[0][
        "n"
    ]
    for table in DERIVED_TABLES:
        cells = [str(v) for row in table_rows(db, table) for v in row]
        assert not [c for c in cells if MARKER in c or PII_KEY in c], table


def test_pii_never_reaches_run_metadata_event_logs_or_compute_logs(landed):
    files = landed["dagster_files"]
    metadata = [
        str(value.value)
        for event in landed["result"].get_asset_materialization_events()
        for value in event.materialization.metadata.values()
    ]

    assert any(f.suffix == ".db" for f in files) and metadata
    assert not [text for text in metadata if MARKER in text]
    assert not [f for f in files if MARKER.encode() in f.read_bytes()]


def test_rebuilding_changes_nothing(landed, tmp_path):
    import shutil

    if landed["db"].is_lake:  # a rebuild in place is a new snapshot; the one before stays readable
        copy = landed["db"]
    else:
        copy = tmp_path / "jd.duckdb"
        shutil.copy(landed["db"].database, copy)
    before = {t: table_rows(copy, t) for t in DERIVED_TABLES}

    assert build_derived(copy, with_checks=False).success

    assert {t: table_rows(copy, t) for t in DERIVED_TABLES} == before
