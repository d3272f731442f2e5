"""The clean tables built by real materializations over raw tables landed through the real landing path:
typed and decoded values per table, both order dialects cleaning to the same rows, keyed buyer hashes and
no PII in the clear, documented columns that match the tables, and rebuilds that change nothing."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from decimal import Decimal

import dagster as dg
import duckdb
import pytest

from jd_assets.clean import CLEAN_ASSETS, clean_comments
from jd_assets.clean.pii import PiiKey
from jd_assets.derived.building import halfwidth
from jd_assets.errors import ConfigError
from jd_assets.marts import MART_ASSETS
from jd_assets.raw.landing import batch, land
from jd_assets.raw.tables import COMMENTS
from jd_assets.warehouse import DuckDBWarehouse
from jd_assets_tests.clean.raw_fixture import (
    BIG_WARE,
    ORDERS,
    PII,
    PII_KEY,
    build_derived,
    build_raw,
    derived_resources,
    halfwidth_py,
    live_order,
    seed_order,
    table_rows,
)

DERIVED_TABLES = [
    asset.metadata_by_key[asset.key]["dagster/table_name"] for asset in [*CLEAN_ASSETS, *MART_ASSETS]
]


TYPE_ALIASES = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}


def query(path, sql, params=None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def one(path, sql, params=None):
    (row,) = query(path, sql, params)
    return row


def test_comments_are_typed_and_decoded(built_db):
    c = {r["comment_id"]: r for r in query(built_db, "SELECT * FROM clean.comments")}

    assert sorted(c) == ["501", "502", "503", "601", "602", "603", "701"]  # 504 (score 6) was rejected in raw
    first = c["501"]
    assert first["commented_at"] == datetime(2026, 3, 9, 15, 21, 20)
    assert first["comment_date"] == date(2026, 3, 9)
    assert (first["score"], first["score_sentiment"]) == (5, "positive")
    assert first["text"] == "非常好!ABC 很棒\n推荐"
    assert first["text_len"] == len("非常好!ABC 很棒\n推荐")
    assert (first["picture_count"], first["video_count"], first["has_live_shot"]) == (2, 1, True)
    assert (first["buy_count"], first["is_repeat_buyer"], first["nickname"]) == (3, True, "发***桑")
    assert first["first_seen_at"] == first["last_seen_at"] == datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    # a JSON-number score, JD's filler text and a null media list
    assert (c["502"]["score"], c["502"]["score_sentiment"], c["502"]["is_default_text"]) == (
        1,
        "negative",
        True,
    )
    assert (c["502"]["picture_count"], c["502"]["has_live_shot"]) == (0, False)
    # an empty text is a default text; no buyCount means unknown, not a repeat buyer
    assert (c["503"]["text"], c["503"]["is_default_text"], c["503"]["score_sentiment"]) == (
        "",
        True,
        "neutral",
    )
    assert (c["503"]["buy_count"], c["503"]["is_repeat_buyer"]) == (None, False)
    # trimmed, CRLF to LF, emoji kept
    assert c["601"]["text"] == "还行吧 👍\n第二行"
    assert c["601"]["is_default_text"] is False
    # the other filler, whose full-width punctuation is normalised like the text
    assert c["701"]["is_default_text"] is True
    assert c["701"]["text"] == "此用户未及时填写评价内容,系统默认好评!"


def test_fullwidth_mapping_in_sql_matches_python(tmp_path):
    sample = "ＡＢＣ１２３！？（）　～＂＇－＋"
    (mapped,) = duckdb.connect().execute(f"SELECT {halfwidth('$t')}", {"t": sample}).fetchone()

    assert mapped == halfwidth_py(sample) == "ABC123!?() ~\"'-+"


def test_products_read_the_details_tolerantly(built_db):
    p = {r["sku_id"]: r for r in query(built_db, "SELECT * FROM clean.products")}

    assert sorted(p) == ["100001", "100002"]  # the pending payload of 100004 was rejected in raw
    assert p["100001"]["ware_id"] == "900001"
    assert p["100001"]["category_path"] == "美妆护肤 > 面部护肤 > 精华"
    assert (p["100001"]["price"], p["100001"]["original_price"]) == (Decimal("129.00"), Decimal("159.00"))
    assert p["100001"]["main_image_url"] == "https://img14.360buyimg.com/n1/jfs/t1/main.jpg"
    assert (p["100001"]["brand_name"], p["100001"]["shop_name"]) == ("兰蔻", "京选优品旗舰店")
    # missing fields are NULL; a JSON-number price is exact; a relative image gets JD's prefix
    assert (p["100002"]["ware_id"], p["100002"]["brand_id"], p["100002"]["original_price"]) == (
        None,
        None,
        None,
    )
    assert p["100002"]["price"] == Decimal("59.90")
    assert p["100002"]["main_image_url"] == "https://img12.360buyimg.com/n5/jfs/t1/mouse.jpg"


def test_wares_parse_both_time_forms_and_prefix_images(built_db):
    w = {r["ware_id"]: r for r in query(built_db, "SELECT * FROM clean.wares")}

    assert sorted(w) == ["900001", BIG_WARE]  # 900003 (unknown status) was rejected in raw
    lancome = w["900001"]
    assert (lancome["status_code"], lancome["status_label"]) == (8, "上架")
    assert lancome["created_at"] == datetime(2022, 5, 31, 3, 18, 34)  # epoch ms 1653938314000 = 19:18:34Z
    assert lancome["modified_at"] == datetime(2026, 2, 1, 10, 0, 0)  # the text form
    assert lancome["online_at"] == datetime(2022, 5, 31, 3, 39, 21)
    assert lancome["logo_url"] == "https://img12.360buyimg.com/n5/jfs/t1/55102/logo.jpg"
    assert lancome["image_urls"] == [  # in imgIndex order, not list order
        "https://img12.360buyimg.com/n5/jfs/t1/a.jpg",
        "https://img12.360buyimg.com/n5/jfs/t1/b.jpg",
    ]
    assert (lancome["item_num"], lancome["bar_code"], lancome["brand_id"]) == (
        "LC-50",
        "3614272623545",
        "9547",
    )
    assert (lancome["jd_price"], lancome["market_price"]) == (Decimal("129.00"), Decimal("159.00"))
    mouse = w[BIG_WARE]
    assert (mouse["status_label"], mouse["created_at"], mouse["offline_at"]) == (
        "自主下架",
        datetime(2025, 6, 1, 9, 30),
        datetime(2026, 3, 1, 0, 0),
    )
    assert (mouse["logo_url"], mouse["image_urls"], mouse["jd_price"]) == (None, [], None)


def test_orders_from_both_dialects(built_db):
    o = {r["order_id"]: r for r in query(built_db, "SELECT * FROM clean.orders")}

    assert sorted(o) == ["3001", "3002", "3003", "3004"]  # 3999 (no start time) was rejected in raw
    live = o["3001"]
    assert (live["dialect"], live["state"], live["state_label"], live["is_cancelled"]) == (
        "live",
        "FINISHED_L",
        "完成",
        False,
    )
    assert (live["created_at"], live["paid_at"]) == (datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 10))
    assert (live["order_total_price"], live["order_seller_price"], live["order_payment"]) == (
        Decimal("318.00"),
        Decimal("310.00"),
        Decimal("318.00"),
    )
    assert (live["freight_price"], live["seller_discount"], live["pay_type"]) == (
        Decimal("0.00"),
        Decimal("8.00"),
        "4-在线支付",
    )
    assert (live["province"], live["city"], live["item_lines"]) == ("北京", "北京市", 2)
    assert (o["3002"]["state_label"], o["3002"]["is_cancelled"]) == ("取消", True)
    seed = o["3003"]
    assert (seed["dialect"], seed["state_label"]) == ("seed", "等待确认收货")
    # JSON numbers become exact decimals: 0.1 and 59.7 without float noise
    assert (seed["order_payment"], seed["freight_price"], seed["seller_discount"]) == (
        Decimal("59.70"),
        Decimal("0.10"),
        None,
    )
    assert (seed["province"], seed["city"]) == ("上海", "上海市")


def test_order_items_from_both_dialects(built_db):
    items = {(r["order_id"], r["sku_id"]): r for r in query(built_db, "SELECT * FROM clean.order_items")}

    assert sorted(items) == [("3001", "100001"), ("3001", "100002"), ("3002", "100001"), ("3003", "100002"),
                             ("3004", "100001")]  # fmt: skip
    assert items["3001", "100001"] | {} == {
        "order_id": "3001",
        "order_date": date(2026, 3, 1),
        "sku_id": "100001",
        "ware_id": "900001",
        "sku_name": "兰蔻小黑瓶 50ml",
        "unit_price": Decimal("129.00"),
        "quantity": 2,
        "line_total": Decimal("258.00"),
        "outer_sku_id": "LC-50",
    }
    seed = items["3003", "100002"]
    assert (seed["ware_id"], seed["unit_price"], seed["quantity"], seed["line_total"]) == (
        BIG_WARE,  # a JSON number above 2^53, exact
        Decimal("19.90"),
        3,
        Decimal("59.70"),
    )


def test_tracks_give_shipping_and_delivery_times(built_db):
    tracks = query(built_db, "SELECT * FROM clean.order_tracks WHERE order_id = '3001' ORDER BY seq")
    orders = {r["order_id"]: r for r in query(built_db, "SELECT * FROM clean.orders")}

    assert [(t["seq"], t["is_delivery"]) for t in tracks] == [(1, False), (2, False), (3, True)]
    assert tracks[0]["tracked_at"] == datetime(2026, 3, 1, 18)
    assert (
        orders["3001"]["shipped_at"],
        orders["3001"]["delivered_at"],
        orders["3001"]["delivery_hours"],
    ) == (
        datetime(2026, 3, 1, 18),
        datetime(2026, 3, 2, 20, 30),
        26.5,
    )
    assert orders["3004"]["delivery_hours"] == 50.0  # "Delivered to the recipient"
    assert (orders["3003"]["shipped_at"], orders["3003"]["delivered_at"]) == (datetime(2026, 3, 2, 21), None)
    assert orders["3002"]["shipped_at"] is None  # no track


def test_sku_ware_links_say_their_source(built_db):
    links = query(built_db, "SELECT sku_id, ware_id, source FROM clean.sku_ware_links")

    assert [tuple(r.values()) for r in links] == [
        ("100001", "900001", "detail"),
        ("100001", "900001", "order"),
        ("100002", BIG_WARE, "order"),
    ]


def test_buyer_and_consignee_keys_are_keyed_hashes(built_db):
    orders = {r["order_id"]: r for r in query(built_db, "SELECT * FROM clean.orders")}

    def mac(text: str) -> str:
        return hmac.new(PII_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()

    assert orders["3001"]["buyer_key"] == mac("jd_buyer_alice")
    assert orders["3001"]["consignee_key"] == mac(f"张晓明|13800138000|{PII['addresses'][0]}")
    # the same buyer in the other dialect has the same keys
    assert orders["3004"]["buyer_key"] == orders["3001"]["buyer_key"]
    assert orders["3004"]["consignee_key"] == orders["3001"]["consignee_key"]
    assert orders["3002"]["buyer_key"] == orders["3003"]["buyer_key"] != orders["3001"]["buyer_key"]


def test_a_longer_key_is_hashed_first_as_hmac_requires(tmp_path):
    key = "k" * 100
    params = PiiKey(key=key).hmac_params()
    from jd_assets.clean.pii import hmac_sql

    (value,) = duckdb.connect().execute(f"SELECT {hmac_sql('$v')}", {**params, "v": "jd_pin"}).fetchone()

    assert value == hmac.new(key.encode(), b"jd_pin", hashlib.sha256).hexdigest()


def test_no_buyer_pii_in_clean_or_marts_nor_the_key(built_db):
    values = [v for group in PII.values() for v in group] + [PII_KEY]
    con = duckdb.connect(str(built_db), read_only=True)
    try:
        for table in DERIVED_TABLES:
            texts = [str(cell) for row in con.execute(f"SELECT * FROM {table}").fetchall() for cell in row]
            assert not [v for v in values for t in texts if v in t], table
    finally:
        con.close()
    assert PII_KEY.encode() not in built_db.read_bytes()


def test_both_dialects_clean_to_the_same_rows(tmp_path):
    items_live = [
        {"skuId": "100001", "wareId": "900001", "skuName": "兰蔻", "jdPrice": "19.90", "itemTotal": "3"}
    ]
    items_seed = [
        {"sku_id": 100001, "ware_id": 900001, "sku_name": "兰蔻", "jd_price": 19.9, "item_total": 3}
    ]
    buyer = ("jd_buyer_alice", "张晓明", "13800138000", PII["addresses"][0])
    live = live_order("4001", "2026-03-01 10:00:00", "FINISHED_L", items_live, *buyer, payment="59.70")
    seed = seed_order(4001, "2026-03-01 10:00:00", "FINISHED_L", items_seed, *buyer, payment=59.7)
    # same amounts in both dialects
    seed |= {"order_total_price": 318, "order_seller_price": 310, "freight_price": 0, "seller_discount": 8,
             "payment_confirm_time": "2026-03-01 10:00:00"}  # fmt: skip
    tables = {}
    for dialect, record in (("live", live), ("seed", seed)):
        path = build_raw(tmp_path / f"{dialect}.duckdb", orders={"2026-03-01": [record]})
        assert build_derived(path, with_checks=False).success
        tables[dialect] = {
            t: query(path, "SELECT * EXCLUDE (dialect) FROM clean.orders WHERE order_id = '4001'")
            if t == "orders"
            else query(path, f"SELECT * FROM clean.{t} WHERE order_id = '4001'")
            for t in ("orders", "order_items")
        }

    assert tables["live"] == tables["seed"]
    assert tables["live"]["order_items"][0]["line_total"] == Decimal("59.70")


def test_documented_columns_match_the_tables(built_db):
    con = duckdb.connect(str(built_db), read_only=True)
    try:
        for asset in [*CLEAN_ASSETS, *MART_ASSETS]:
            metadata = asset.metadata_by_key[asset.key]
            schema, table = metadata["dagster/table_name"].split(".")
            actual = con.execute(
                """SELECT column_name, data_type FROM duckdb_columns()
                   WHERE schema_name = ? AND table_name = ? ORDER BY column_index""",
                [schema, table],
            ).fetchall()
            actual = [(name, TYPE_ALIASES.get(kind, kind)) for name, kind in actual]
            documented = [(c.name, c.type) for c in metadata["dagster/column_schema"].columns]
            assert documented == actual, asset.key
            assert all(c.description for c in metadata["dagster/column_schema"].columns)
            assert asset.descriptions_by_key[asset.key]
            assert asset.group_names_by_key[asset.key] == schema
    finally:
        con.close()


def test_rebuilding_changes_nothing(scratch_db):
    before = {t: table_rows(scratch_db, t) for t in DERIVED_TABLES}

    assert build_derived(scratch_db, with_checks=False).success

    assert {t: table_rows(scratch_db, t) for t in DERIVED_TABLES} == before


def test_a_run_with_nothing_new_stores_no_new_build_state(scratch_db):
    # an incremental build that found nothing to do writes nothing: its seq, cursors and log stay, so
    # its session does not checkpoint the file for nothing; what it would have stored is already there
    meta = """SELECT table_name FROM duckdb_tables()
              WHERE schema_name = 'meta' AND starts_with(table_name, 'derived_') ORDER BY 1"""
    states = [f"meta.{row['table_name']}" for row in query(scratch_db, meta)]
    before = {t: sorted(table_rows(scratch_db, t), key=str) for t in states}

    result = build_derived(scratch_db, with_checks=False)

    builds = {
        e.asset_key.to_user_string(): e.materialization.metadata["build"].value
        for e in result.get_asset_materialization_events()
        if "build" in e.materialization.metadata
    }
    assert builds and set(builds.values()) == {"incremental"}
    assert {t: sorted(table_rows(scratch_db, t), key=str) for t in states} == before


def test_clean_tables_build_before_any_raw_partition_landed(tmp_path):
    path = tmp_path / "empty.duckdb"

    assert build_derived(path).success

    assert all(table_rows(path, t) == [] for t in DERIVED_TABLES)


def test_a_missing_pii_key_is_an_error_that_names_it(tmp_path):
    path = build_raw(tmp_path / "jd.duckdb")
    resources = {**derived_resources(path), "pii_key": PiiKey(key="")}
    clean_orders = next(a for a in CLEAN_ASSETS if a.key == dg.AssetKey("clean_orders"))
    clean_tracks = next(a for a in CLEAN_ASSETS if a.key == dg.AssetKey("clean_order_tracks"))

    with pytest.raises(ConfigError, match="JD_PII_KEY"):
        dg.materialize([clean_tracks, clean_orders], resources=resources)


# -- the PII key (issue 15, item 7) ---------------------------------------------------------------------


def build_clean_orders(path, key: str, rotate_from: str = ""):
    resources = {**derived_resources(path), "pii_key": PiiKey(key=key, rotate_from=rotate_from)}
    clean_orders = next(a for a in CLEAN_ASSETS if a.key == dg.AssetKey("clean_orders"))
    clean_tracks = next(a for a in CLEAN_ASSETS if a.key == dg.AssetKey("clean_order_tracks"))
    return dg.materialize([clean_tracks, clean_orders], resources=resources, raise_on_error=False)


def buyer_keys(path) -> dict[str, str]:
    return {
        r["order_id"]: r["buyer_key"] for r in query(path, "SELECT order_id, buyer_key FROM clean.orders")
    }


def build_error(result) -> str:
    return "\n".join(str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure)


def test_a_changed_pii_key_fails_the_build_unless_a_rotation_from_the_stored_key_is_asked(scratch_db):
    before = buyer_keys(scratch_db)
    stored = PiiKey(key=PII_KEY).fingerprint()

    changed = build_clean_orders(scratch_db, PII_KEY + " ")  # a trailing space from a copy and paste

    assert not changed.success
    message = build_error(changed)
    assert "JD_PII_KEY is not the key clean.orders was built with" in message
    assert f"stored {stored}" in message and "leading or trailing white space" in message
    assert f"set JD_PII_KEY_ROTATE_FROM={stored} for one build" in message
    assert buyer_keys(scratch_db) == before, "the pseudonyms stay as they were"

    rotated = build_clean_orders(scratch_db, PII_KEY + " ", rotate_from=stored)

    assert rotated.success, build_error(rotated)
    after = buyer_keys(scratch_db)
    assert after.keys() == before.keys() and all(after[o] != before[o] for o in before if before[o])
    metadata = rotated.asset_materializations_for_node("clean_orders")[0].metadata
    assert metadata["pii_key"].value == "rotated"
    # the same request left set lets no further change through: it names a key no longer stored
    again = build_clean_orders(scratch_db, "yet-another-key-0123456789", rotate_from=stored)
    assert not again.success and "is not the key clean.orders was built with" in build_error(again)


def test_the_stored_fingerprint_never_reveals_the_key(scratch_db):
    (row,) = query(scratch_db, "SELECT * FROM meta.pii_key_fingerprint")
    assert row["fingerprint"] == PiiKey(key=PII_KEY).fingerprint() and len(row["fingerprint"]) == 16
    assert PII_KEY.encode() not in scratch_db.read_bytes()
    assert row["fingerprint"] not in (hashlib.sha256(PII_KEY.encode()).hexdigest(), PII_KEY)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("k", "JD_PII_KEY is 1 bytes: use at least 16"),
        ("fifteen-bytes!!", "JD_PII_KEY is 15 bytes: use at least 16"),
        ("choose-a-secret", "JD_PII_KEY is the documentation's placeholder"),
    ],
)
def test_short_and_placeholder_pii_keys_are_refused(tmp_path, key, says):
    path = build_raw(tmp_path / "jd.duckdb")
    result = build_clean_orders(path, key)
    assert not result.success and says in build_error(result)
    assert f"'{key}'" not in build_error(result) and f"={key}" not in build_error(result)


def test_a_failed_rebuild_leaves_the_previous_table(scratch_db, monkeypatch):
    from jd_assets.clean import comments

    before = table_rows(scratch_db, "clean.comments")
    monkeypatch.setattr(comments, "COMMENTS_SQL", comments.COMMENTS_SQL.replace("ORDER BY", "ORDER BY nope,"))

    result = dg.materialize(
        [comments.clean_comments], resources=derived_resources(scratch_db), raise_on_error=False
    )

    assert not result.success
    assert table_rows(scratch_db, "clean.comments") == before


def test_raw_orders_are_the_only_pii_holder(built_db):
    assert ORDERS  # the fixture's buyers are in raw, and only there
    rows = query(
        built_db, "SELECT count(*) AS n FROM raw.orders WHERE contains(record::VARCHAR, '13800138000')"
    )
    assert rows[0]["n"] == 2


def test_a_review_shown_on_two_variants_pages_is_one_review_naming_both_skus(tmp_path):
    """JD shows a product's reviews on every variant's page: tracked SKUs 100 and 200 both serve review 9,
    a review of variant 200. clean.comments holds it once, under the page first landed (sku_id) and
    naming the variant reviewed (reviewed_sku_id)."""
    db = tmp_path / "jd.duckdb"
    review = {"commentId": "9", "productId": "200", "commentDate": "2026-03-01 10:00:00", "commentScore": "4"}
    own = review | {"commentId": "8", "productId": "100"}
    con = duckdb.connect(str(db))
    for sku, records, fetched in (("100", [own, review], 1), ("200", [review], 2)):
        land(
            con,
            COMMENTS,
            batch(records, request_key=sku),
            partition_key=sku,
            partition_value=sku,
            run_id="r",
            fetched_at=datetime(2026, 3, 10, fetched, tzinfo=UTC),
        )
    con.close()

    assert dg.materialize(
        [clean_comments], resources={"warehouse": DuckDBWarehouse(database=str(db))}
    ).success
    assert [
        tuple(r.values())
        for r in query(db, "SELECT comment_id, sku_id, reviewed_sku_id FROM clean.comments ORDER BY 1")
    ] == [("8", "100", "100"), ("9", "100", "200")]
