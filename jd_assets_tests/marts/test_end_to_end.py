"""Sandbox → raw assets → clean and marts, compared with the sandbox's ground truth.

Every SKU's comments and details, every linked ware, and four order days — two fetched in the live
dialect, two in the seed dialect, one of those from a router answering exactly as seed 003 shows (a list
without items, ``order.get`` with ``items`` and ``receiver_info``) — go through the real raw assets and
clients; then every clean and mart asset with its checks. The clean tables hold exactly the ground
truth's records (counts and values per table, every dialect and shape), the marts count what the truth
counts, the sandbox's PII marker (in every documented buyer field) appears in raw only, the README's
purge recipe removes every one of them, and a rebuild changes nothing. Every test runs on both backends:
the DuckDB file and a DuckLake (PostgreSQL catalog, Parquet data).
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
import unicodedata
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_assets import jos_fields
from jd_assets.clean.comments import DEFAULT_TEXTS
from jd_assets.raw.assets import raw_comments, raw_item_details, raw_orders, raw_wares
from jd_assets.warehouse import DuckDBWarehouse
from jd_assets_tests.clean.raw_fixture import (
    PII_KEY,
    build_derived,
    failed_blocking_checks,
    halfwidth_py,
    table_rows,
)
from jd_assets_tests.conftest import as_warehouse, gateway_resources, new_lake
from jd_sandbox import Sandbox, SandboxConfig

MARKER = "PIIMARK"
DERIVED_TABLES = [
    "clean.comments", "clean.products", "clean.wares", "clean.sku_ware_links", "clean.order_tracks",
    "clean.orders", "clean.order_items", "clean.review_signals", "marts.product_reviews",
    "marts.product_review_summary", "marts.review_daily", "marts.sku_aspects", "marts.review_alerts",
]  # fmt: skip


def materialize(asset, key, resources, instance):
    if isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition):
        instance.add_dynamic_partitions(asset.partitions_def.name, [key])
    return dg.materialize(
        [asset], partition_key=key, resources=resources, instance=instance, raise_on_error=False
    )


def query(db: DuckDBWarehouse | Path, sql, params=None) -> list[dict]:
    with as_warehouse(db).read() as con:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module", params=["file", pytest.param("lake", marks=pytest.mark.lake)])
def landed(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    if request.param == "lake":
        db = new_lake(request.getfixturevalue("lake_server"), folder)
    else:
        db = as_warehouse(folder / "jd.duckdb")
    home = tmp_path_factory.mktemp("dagster_home")
    config = SandboxConfig(seed=11, scale="tiny", details_pending_polls=0, pii_marker=MARKER)
    with (
        Sandbox(config) as sandbox,
        Sandbox(dataclasses.replace(config, jos_seed_shape="documented")) as as_documented,
        dg.instance_for_test(temp_dir=str(home)) as instance,
    ):
        env = sandbox.env()
        live = gateway_resources(env, db)
        seed = gateway_resources({**env, "JD_JOS_DIALECT": "seed"}, db)
        documented = gateway_resources({**as_documented.env(), "JD_JOS_DIALECT": "seed"}, db)
        truth = sandbox.truth
        skus = truth.sku_ids()
        for sku in skus:
            assert materialize(raw_comments, sku, live, instance).success
            materialize(raw_item_details, sku, live, instance)  # unsupported products fail, as they should
        wares = sorted(set(truth.sku_to_ware().values()))
        for ware in wares:
            assert materialize(raw_wares, ware, live, instance).success
        today = sandbox.now.date()
        shapes = {1: "live", 2: "seed", 3: "live", 4: "documented"}
        days = {today - timedelta(days=n): shape for n, shape in shapes.items()}
        order_runs = {}
        for day, shape in days.items():
            resources = {"live": live, "seed": seed, "documented": documented}[shape]
            order_runs[shape] = materialize(raw_orders, day.isoformat(), resources, instance)
            assert order_runs[shape].success
        result = build_derived(db, instance=instance)
        assert result.success
        yield {
            "db": db,
            "truth": truth,
            "skus": skus,
            "wares": wares,
            "days": days,
            "documented_truth": as_documented.truth,
            "order_runs": order_runs,
            "result": result,
            "dagster_files": [p for p in home.rglob("*") if p.is_file()],
        }


def test_every_check_passes_on_sandbox_data(landed):
    evaluated, failed = failed_blocking_checks(landed["result"])
    assert evaluated and failed == []


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


@pytest.mark.parametrize("shape", ["live", "seed", "documented"])
def test_clean_orders_match_the_truth_in_every_dialect_and_shape(landed, shape):
    truth, db = landed["truth"], landed["db"]
    days = [d for d, how in landed["days"].items() if how == shape]
    orders = {r["order_id"]: r for r in query(db, "SELECT * FROM clean.orders")}
    items = {(r["order_id"], r["sku_id"]): r for r in query(db, "SELECT * FROM clean.order_items")}
    tracks = query(
        db, "SELECT order_id, count(*) AS n, bool_or(is_delivery) AS done FROM clean.order_tracks GROUP BY 1"
    )
    tracks = {r["order_id"]: r for r in tracks}
    documented = shape == "documented"  # seed 003's records: no creation time, payment, pin or ware

    for day in days:
        expected = truth.orders(day, "live")  # the live form of the same orders: strings, camelCase
        assert expected, day
        for o in expected:
            row = orders[o["orderId"]]
            assert row["dialect"] == ("live" if shape == "live" else "seed")
            assert row["state"] == o["orderState"]
            assert row["order_total_price"] == Decimal(o["orderTotalPrice"])
            assert row["freight_price"] == Decimal(o["freightPrice"])
            if documented:
                assert (row["created_at"], row["order_payment"], row["province"], row["buyer_key"]) == (
                    (None,) * 4
                )
                assert row["consignee_key"] and len(row["consignee_key"]) == 64
            else:
                assert row["created_at"].strftime("%Y-%m-%d %H:%M:%S") == o["orderStartTime"]
                assert row["order_payment"] == Decimal(o["orderPayment"])
                assert row["province"] == o["consigneeInfo"]["province"]
                assert row["buyer_key"] and len(row["buyer_key"]) == 64
            assert row["item_lines"] == len(o["itemInfoList"])
            for item in o["itemInfoList"]:
                line = items[o["orderId"], item["skuId"]]
                assert line["ware_id"] == (None if documented else item["wareId"])
                assert line["sku_name"] == item["skuName"]
                assert line["quantity"] == int(item["itemTotal"])
                assert line["unit_price"] == Decimal(item["jdPrice"])
            events = truth.order_tracks(o["orderId"])
            if events:
                assert tracks[o["orderId"]]["n"] == len(events)
                assert (row["delivered_at"] is not None) == any("签收" in e["content"] for e in events)
    day_ids = {o["orderId"] for day in landed["days"] for o in truth.orders(day, "live")}
    assert set(orders) == day_ids


def test_a_router_answering_as_seed_003_shows_costs_one_order_get_per_order(landed):
    (day,) = [d for d, how in landed["days"].items() if how == "documented"]
    metadata = landed["order_runs"]["documented"].get_asset_materialization_events()[0]
    metadata = {k: v.value for k, v in metadata.materialization.metadata.items()}

    assert metadata["order_details_fetched"] == len(landed["truth"].orders(day, "live"))
    assert metadata["rows_rejected"] == 0


def test_seed_003_records_land_as_sent_and_their_money_stays_exact(landed):
    (day,) = [d for d, how in landed["days"].items() if how == "documented"]
    truth = landed["documented_truth"]
    rows = query(
        landed["db"],
        "SELECT order_id, record::VARCHAR AS record, detail::VARCHAR AS detail FROM raw.orders "
        "WHERE order_date = ? ORDER BY order_id",
        [day],
    )
    listed = {str(o["order_id"]): o for o in truth.orders(day, "seed")}

    assert [r["order_id"] for r in rows] == sorted(listed)
    for row in rows:
        sent = json.loads(row["record"], parse_float=Decimal)
        assert sent == listed[row["order_id"]]  # the list record: no items
        assert "items" not in sent and "item_info_list" not in sent
        assert json.loads(row["detail"], parse_float=Decimal) == truth.order(row["order_id"], "seed")
        # money as seed 003 writes it, two decimals, kept as text (Python's json would write 8.0)
        assert re.search(r'"order_total_price":\d+\.\d\d[,}]', row["record"])
        assert re.search(r'"freight_price":\d+\.\d\d[,}]', row["detail"])
        assert re.search(r'"price":\d+\.\d\d[,}]', row["detail"])


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
    before = {t: _without_scored_at(table_rows(copy, t)) for t in DERIVED_TABLES}

    assert build_derived(copy, with_checks=False).success

    assert {t: _without_scored_at(table_rows(copy, t)) for t in DERIVED_TABLES} == before


def _without_scored_at(rows: list[tuple]) -> list[tuple]:
    """Rows with every instant dropped (clean.review_signals.scored_at is when, not what), sorted."""
    return sorted(
        (tuple(v for v in row if not (hasattr(v, "tzinfo") and v.tzinfo is not None)) for row in rows),
        key=repr,
    )


def test_review_signals_match_the_hand_labelled_truth(landed):
    """Each review's aspects (with polarity), JD tag lines and hidden-complaint flag are exactly what the
    sandbox's hand-made labels say; its templates are flagged and its one-off texts are not."""
    labels = {cid: lab for sku in landed["skus"] for cid, lab in landed["truth"].comment_texts(sku).items()}
    got = {
        r["comment_id"]: r
        for r in query(
            landed["db"],
            """SELECT s.comment_id, c.text, s.is_templated, s.is_hidden_complaint, s.text_sentiment,
                      list_distinct(list_transform(s.aspects, a -> [a.aspect, a.polarity])) AS aspects,
                      list_transform(s.tags, t -> [t.tag, t.value]) AS tags,
                      CASE WHEN s.template_key IS NULL THEN 1
                           ELSE count(*) OVER (PARTITION BY s.template_key) END AS copies
               FROM clean.review_signals s JOIN clean.comments c USING (comment_id)""",
        )
    }
    assert set(got) == set(labels)
    wrong = []
    for cid, label in labels.items():
        row = got[cid]
        expected = {
            "aspects": sorted(map(tuple, label["aspects"])),
            "tags": [tuple(t) for t in label["tags"]],
            "hidden": label["score"] >= 4 and any(p == "negative" for _, p in label["aspects"]),
        }
        actual = {
            "aspects": sorted(map(tuple, row["aspects"])),
            "tags": [tuple(t) for t in row["tags"]],
            "hidden": row["is_hidden_complaint"],
        }
        if actual != expected:
            wrong.append((row["text"], row["text_sentiment"], expected, actual))
        if label["filler"] or (label["template"] and row["copies"] >= 3):
            assert row["is_templated"], row["text"]
        elif row["copies"] == 1:
            assert not row["is_templated"], row["text"]
    assert wrong == [], f"{len(wrong)} of {len(labels)} reviews differ, e.g. {wrong[:5]}"


def test_review_marts_count_what_the_signals_say(landed):
    db = landed["db"]
    aspects = query(
        db,
        """SELECT sku_id, a.aspect AS aspect, count(DISTINCT comment_id) AS n,
                  count(DISTINCT comment_id) FILTER (WHERE a.polarity = 'negative') AS neg
           FROM (SELECT sku_id, comment_id, unnest(aspects) AS a FROM clean.review_signals)
           GROUP BY ALL ORDER BY ALL""",
    )
    mart = query(
        db,
        """SELECT sku_id, aspect, mentions AS n, negative_mentions AS neg
           FROM marts.sku_aspects ORDER BY ALL""",
    )
    assert mart == aspects and mart
    alerts = query(db, "SELECT comment_id, reason, score FROM marts.review_alerts ORDER BY 1")
    assert {"negative_review", "hidden_complaint"} <= {a["reason"] for a in alerts}
    assert all((a["score"] <= 2) == (a["reason"] == "negative_review") for a in alerts)


#: Every documented buyer field (jd_assets.jos_fields) where the sandbox's data holds one: the live
#: dialect, the seed dialect's full shape, and seed 003's shapes (list record and order.get record).
EVERY_BUYER_FIELD = [
    ("record", "$.pin"),
    *[("record", f"$.consigneeInfo.{f}") for f in ("fullname", "mobile", "telephone", "fullAddress")],
    *[("record", f"$.consignee_info.{f}") for f in ("fullname", "mobile", "telephone", "full_address")],
    ("record", "$.consignee_info.name"),
    ("detail", "$.receiver_info.name"),
    ("detail", "$.receiver_info.address"),
]


def readme_purge_recipe() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```sql\n(.*?)```", readme, re.S) if "json_merge_patch" in b]
    return textwrap.dedent(block)


def test_the_marker_is_in_every_documented_buyer_field(landed):
    for column, path in EVERY_BUYER_FIELD:
        (row,) = query(
            landed["db"],
            f"SELECT count(*) AS n FROM raw.orders WHERE contains({column}->>'{path}', '{MARKER}')",
        )
        assert row["n"], (column, path)


def test_the_readme_purge_recipe_is_the_one_the_field_map_generates():
    assert readme_purge_recipe().startswith(jos_fields.purge_sql() + "\n")


# The recipe is the single file's (it ends in CHECKPOINT); a lake keeps old snapshots until they are
# expired, which the README's lake section says how to do.
@pytest.mark.parametrize("landed", ["file"], indirect=True)
def test_the_readme_purge_recipe_removes_every_buyer_field_and_keeps_the_facts(landed, tmp_path):
    import shutil

    copy = tmp_path / "jd.duckdb"
    shutil.copy(landed["db"].database, copy)
    facts = "SELECT order_id, order_state, json_array_length(coalesce(record, detail)) FROM raw.orders"
    before = query(copy, facts)

    con = duckdb.connect(str(copy))
    try:
        con.execute(readme_purge_recipe())
    finally:
        con.close()

    texts = "record::VARCHAR || coalesce(detail::VARCHAR, '')"
    left = f"SELECT count(*) AS n FROM raw.orders WHERE contains({texts}, '{MARKER}')"
    assert query(copy, left) == [{"n": 0}]
    assert query(copy, "SELECT count(*) AS n FROM raw.rejects WHERE source = 'orders'") == [{"n": 0}]
    assert query(copy, facts) == before
    provinces = "SELECT count(*) AS n FROM raw.orders WHERE record->>'$.consigneeInfo.province' IS NOT NULL"
    assert query(copy, provinces) == query(landed["db"], provinces) != [{"n": 0}]
