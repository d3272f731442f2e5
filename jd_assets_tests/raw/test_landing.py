"""The landing path on a real DuckDB file: typed keys, rejects with reasons, replace vs merge, no doubles."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest

from jd_assets.raw import tables
from jd_assets.raw.landing import Partition, batch, land, land_partitions
from jd_assets_tests.conftest import land_record

FETCHED = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def comment(comment_id: str, when: str, score: object = "5", sku: str = "100") -> dict:
    return {"commentId": comment_id, "productId": sku, "commentDate": when, "commentScore": score}


def order(order_id: str, created: str, state: str = "FINISHED_L", **extra) -> dict:
    record = {
        "orderId": order_id,
        "orderStartTime": created,
        "orderState": state,
        "modified": created,
        "itemInfoList": [{"skuId": "100", "wareId": "9", "itemTotal": "1", "jdPrice": "9.90"}],
    }
    return record | extra


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "land.duckdb"))
    yield connection
    connection.close()


def land_comments(con, records, *, page=1, run_id="run-1"):
    return land(
        con,
        tables.COMMENTS,
        batch(records, page=page, request_key="100"),
        partition_key="100",
        partition_value="100",
        run_id=run_id,
        fetched_at=FETCHED,
    )


def land_orders(con, records, day="2026-03-01"):
    return land(
        con,
        tables.ORDERS,
        batch(records, page=1, request_key=day),
        partition_key=day,
        partition_value=date.fromisoformat(day),
        run_id="run-1",
        fetched_at=FETCHED,
    )


def test_comments_merge_adds_new_keys_and_never_duplicates_on_rerun(con):
    first = land_comments(con, [comment("1", "2026-03-01 10:00:00"), comment("2", "2026-03-02 10:00:00")])
    again = land_comments(con, [comment("2", "2026-03-02 10:00:00"), comment("3", "2026-03-03 10:00:00")])

    assert (first.new, first.already_known) == (2, 0)
    assert (again.new, again.already_known, again.partition_rows) == (1, 1, 3)
    ids = con.execute("SELECT comment_id FROM raw.comments ORDER BY comment_id").fetchall()
    assert ids == [("1",), ("2",), ("3",)]


def test_comments_no_longer_served_are_kept(con):
    land_comments(con, [comment("1", "2026-03-01 10:00:00")])
    land_comments(con, [comment("2", "2026-03-02 10:00:00")])

    assert con.execute("SELECT count(*) FROM raw.comments").fetchone() == (2,)


def test_a_comment_seen_on_two_pages_lands_once(con):
    records = pa.concat_tables(
        [
            batch([comment("1", "2026-03-01 10:00:00")], page=1, request_key="100"),
            batch([comment("1", "2026-03-01 10:00:00")], page=2, request_key="100"),
        ]
    )
    counts = land(
        con,
        tables.COMMENTS,
        records,
        partition_key="100",
        partition_value="100",
        run_id="r",
        fetched_at=FETCHED,
    )

    assert counts.new == 1
    assert con.execute("SELECT page FROM raw.comments").fetchall() == [(1,)]


def test_a_sibling_variants_comment_lands_under_the_sku_asked_for(con):
    """JD shows a product's reviews on each of its variants' pages: a productId other than the SKU asked
    for is a review of a sibling SKU, kept (with its productId in the record), never rejected."""
    counts = land_comments(
        con, [comment("1", "2026-03-01 10:00:00"), comment("2", "2026-03-01 11:00:00", sku="999")]
    )

    assert (counts.new, counts.rejected) == (2, 0)
    assert con.execute(
        "SELECT sku_id, comment_id, record->>'$.productId' FROM raw.comments ORDER BY comment_id"
    ).fetchall() == [("100", "1", "100"), ("100", "2", "999")]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            {"productId": "100", "commentDate": "2026-03-01 10:00:00", "commentScore": "5"},
            "missing commentId",
        ),
        (comment("12a", "2026-03-01 10:00:00"), "commentId 12a is not a digit id"),
        (comment("7", "yesterday"), "commentDate yesterday is not yyyy-MM-dd HH:mm:ss"),
        (comment("7", "2026-03-01 10:00:00", score="0"), "commentScore 0 is not 1..5"),
        (comment("7", "2026-03-01 10:00:00", score=6), "commentScore 6 is not 1..5"),
    ],
)
def test_invalid_comment_goes_to_rejects_with_reason_and_the_rest_lands(con, bad, reason):
    counts = land_comments(con, [comment("1", "2026-03-01 10:00:00"), bad])

    assert (counts.new, counts.rejected) == (1, 1)
    assert con.execute("SELECT source, reason FROM raw.rejects").fetchall() == [("comments", reason)]


def test_numeric_score_is_accepted_and_the_json_keeps_its_type(con):
    land_comments(con, [comment("1", "2026-03-01 10:00:00", score=4)])

    (record,) = con.execute("SELECT record->'$.commentScore' FROM raw.comments").fetchone()
    assert record == "4"


def test_rejects_are_not_doubled_by_a_rerun(con):
    bad = comment("7", "not a date")
    land_comments(con, [bad])
    land_comments(con, [bad], run_id="run-2")

    assert con.execute("SELECT count(*) FROM raw.rejects").fetchone() == (1,)


def test_emoji_are_kept_and_a_lone_surrogate_becomes_the_replacement_character(con):
    text = "好评👍\ud800 end"
    land_comments(con, [comment("1", "2026-03-01 10:00:00") | {"commentData": text}])

    (stored,) = con.execute("SELECT record->>'$.commentData' FROM raw.comments").fetchone()
    assert stored == "好评👍\ufffd end"


def test_orders_partition_is_replaced_whole(con):
    land_orders(
        con, [order("1", "2026-03-01 09:00:00", "WAIT_SELLER_STOCK_OUT"), order("2", "2026-03-01 10:00:00")]
    )
    counts = land_orders(con, [order("1", "2026-03-01 09:00:00", "FINISHED_L")])

    assert counts.partition_rows == 1
    assert con.execute("SELECT order_id, order_state FROM raw.orders").fetchall() == [("1", "FINISHED_L")]


def test_big_integer_order_ids_keep_every_digit(con):
    seed_dialect = {
        "order_id": 12345678901234567891,
        "order_start_time": "2026-03-01 10:00:00",
        "order_state": "FINISHED_L",
        "item_info_list": [{"sku_id": 100, "ware_id": 9}],
    }
    land_orders(con, [seed_dialect])

    assert con.execute("SELECT order_id, dialect FROM raw.orders").fetchall() == [
        ("12345678901234567891", "seed")
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (order("5", "2026-03-01 10:00:00", "DELIVERED_BY_DRONE"), "unknown orderState DELIVERED_BY_DRONE"),
        (order("5", "2026-03-01 10:00:00") | {"itemInfoList": None}, "missing itemInfoList"),
        (
            order("5", "2026-03-02 00:00:01"),
            "created 2026-03-02 00:00:01 outside the partition day 2026-03-01",
        ),
    ],
)
def test_invalid_order_is_rejected_with_reason(con, bad, reason):
    counts = land_orders(con, [order("1", "2026-03-01 09:00:00"), bad])

    assert (counts.new, counts.rejected) == (1, 1)
    assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [(reason,)]


def test_a_batch_whose_every_record_is_rejected_replaces_nothing(con):
    land_record(con, tables.WARES, {"wareId": 9, "wareStatus": 8}, "9")
    counts = land_record(con, tables.WARES, {"wareId": 9, "wareStatus": 77}, "9")

    assert counts.rejected == 1
    assert con.execute("SELECT ware_status FROM raw.wares").fetchall() == [(8,)]
    assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [("unknown wareStatus 77",)]


@pytest.mark.parametrize(
    ("task", "landed"),
    [({"taskStatus": "SUCCESS", "taskId": "t-1"}, True), ({"status": "RUNNING", "taskId": "t-1"}, False)],
    ids=["a finished task's status beside the product", "a pending status"],
)
def test_a_detail_is_rejected_for_a_pending_status_not_for_carrying_its_task(con, task, landed):
    counts = land_record(con, tables.ITEM_DETAILS, {"itemId": "100", "title": "洗面奶", **task}, "100")

    assert (counts.new, counts.rejected) == ((1, 0) if landed else (0, 1))
    if not landed:
        assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [
            ("pending task payload, not a product",)
        ]


def _comments_of(sku: str, *records: dict, page: int = 1) -> pa.Table:
    return batch([r | {"productId": sku} for r in records], page=page, request_key=sku)


def _group() -> list[Partition]:
    """Three SKUs: one with a known, a new and a doubled comment, one with a reject, one with nothing."""
    a = [
        _comments_of("100", comment("2", "2026-03-02 10:00:00"), comment("3", "2026-03-03 10:00:00")),
        _comments_of("100", comment("3", "2026-03-03 10:00:00"), page=2),
    ]
    return [
        Partition("100", "100", pa.concat_tables(a)),
        Partition(
            "200", "200", _comments_of("200", comment("5", "2026-03-05 10:00:00"), comment("6", "bad"))
        ),
        Partition("300", "300", batch([])),
    ]


def test_partitions_landed_together_end_as_each_landed_alone(tmp_path):
    """The refresh job lands 16 SKUs in one land_partitions: rows, rejects and each SKU's counts are the
    ones a landing of each SKU alone gives (only the whole table's row count is the group's)."""
    alone, together = (duckdb.connect(str(tmp_path / f"{name}.duckdb")) for name in ("alone", "together"))
    for con in (alone, together):  # the same history: SKU 100 holds comment 1 and 2 already
        land(
            con,
            tables.COMMENTS,
            _comments_of("100", comment("1", "2026-03-01 10:00:00"), comment("2", "2026-03-02 10:00:00")),
            partition_key="100",
            partition_value="100",
            run_id="r0",
            fetched_at=FETCHED,
        )
    each = [
        land(
            alone,
            tables.COMMENTS,
            p.records,
            partition_key=p.key,
            partition_value=p.value,
            run_id="r1",
            fetched_at=FETCHED,
        )
        for p in _group()
    ]
    group = land_partitions(together, tables.COMMENTS, _group(), run_id="r1", fetched_at=FETCHED)

    def counted(c):
        return (c.received, c.new, c.already_known, c.rejected, c.partition_rows, c.partition_mark)

    assert (
        [counted(c) for c in group]
        == [counted(c) for c in each]
        == [
            (3, 1, 1, 0, 3, "2026-03-03 10:00:00"),
            (2, 1, 0, 1, 1, "2026-03-05 10:00:00"),
            (0, 0, 0, 0, 0, None),
        ]
    )
    assert group[0].table_rows == each[-1].table_rows == 4
    for table in ("raw.comments", "raw.rejects"):
        rows = f"SELECT * EXCLUDE (fetched_at) FROM {table} ORDER BY ALL"
        assert together.execute(rows).fetchall() == alone.execute(rows).fetchall()
    # each SKU's preview shows its own landed rows; the SKU with none shows the columns only
    assert "| 3 | 2026-03-03 10:00:00 |" in group[0].preview.value
    assert "| 5 | 2026-03-05 10:00:00 |" in group[1].preview.value
    assert group[2].preview.value.count("\n") == 1


def test_partitions_new_to_the_table_are_counted_as_when_landed_again(con):
    """A partition the table holds nothing of (the common case) is counted from its staged records alone:
    received, new, rejected, rows and mark are what a landing over its rows gives, every record beside
    its own keys."""

    def group() -> list[Partition]:
        return [
            Partition(
                "100",
                "100",
                _comments_of("100", comment("1", "2026-03-01 10:00:00"), comment("2", "2026-03-02 10:00:00")),
            ),
            Partition(
                "200", "200", _comments_of("200", comment("5", "2026-03-05 10:00:00"), comment("6", "bad"))
            ),
            Partition("300", "300", batch([])),
        ]

    def counted(c):
        return (c.received, c.new, c.already_known, c.rejected, c.partition_rows, c.partition_mark)

    first = land_partitions(con, tables.COMMENTS, group(), run_id="r1", fetched_at=FETCHED)
    again = land_partitions(con, tables.COMMENTS, group(), run_id="r2", fetched_at=FETCHED)

    assert [counted(c) for c in first] == [
        (2, 2, 0, 0, 2, "2026-03-02 10:00:00"),
        (2, 1, 0, 1, 1, "2026-03-05 10:00:00"),
        (0, 0, 0, 0, 0, None),
    ]
    assert [counted(c) for c in again] == [
        (2, 0, 2, 0, 2, "2026-03-02 10:00:00"),
        (2, 0, 1, 1, 1, "2026-03-05 10:00:00"),
        (0, 0, 0, 0, 0, None),
    ]
    assert first[0].table_rows == again[0].table_rows == 3
    assert "| 2 | 2026-03-02 10:00:00 |" in first[0].preview.value
    assert con.execute(
        "SELECT sku_id, comment_id, record->>'$.productId', record->>'$.commentId', run_id FROM raw.comments "
        "ORDER BY ALL"
    ).fetchall() == [
        ("100", "1", "100", "1", "r1"),
        ("100", "2", "100", "2", "r1"),
        ("200", "5", "200", "5", "r1"),
    ]
    assert con.execute("SELECT partition_key, record_key FROM raw.rejects").fetchall() == [("200", "6")]


def test_a_batch_of_many_slices_lands_every_record_beside_its_own_keys(con):
    """A big batch is staged and inserted in slices by several DuckDB threads: each row keeps its record,
    its page and its keys."""
    records = [comment(str(i), f"2026-03-{1 + i % 28:02d} 10:00:00") for i in range(70_000)]
    pages = [
        _comments_of("100", *records[i : i + 10_000], page=i // 10_000 + 1) for i in range(0, 70_000, 10_000)
    ]

    counts = land(
        con,
        tables.COMMENTS,
        pa.concat_tables(pages),
        partition_key="100",
        partition_value="100",
        run_id="r",
        fetched_at=FETCHED,
    )

    assert (counts.new, counts.partition_rows, counts.partition_mark) == (
        70_000,
        70_000,
        "2026-03-28 10:00:00",
    )
    assert con.execute(
        "SELECT count(*), count(*) FILTER (WHERE record->>'$.commentId' = comment_id "
        "AND page = CAST(comment_id AS INTEGER) // 10000 + 1 "
        "AND commented_at = strptime(record->>'$.commentDate', '%Y-%m-%d %H:%M:%S')) FROM raw.comments"
    ).fetchone() == (70_000, 70_000)


def test_a_group_of_replaced_partitions_keeps_the_one_whose_every_record_is_rejected(con):
    day1, day2 = date(2026, 3, 1), date(2026, 3, 2)
    land_orders(con, [order("1", "2026-03-01 09:00:00")])
    land_orders(con, [order("7", "2026-03-02 09:00:00")], day="2026-03-02")
    counts = land_partitions(
        con,
        tables.ORDERS,
        [
            Partition(
                "2026-03-01", day1, batch([order("2", "2026-03-01 10:00:00")], request_key="2026-03-01")
            ),
            Partition("2026-03-02", day2, batch([order("8", "not a time")], request_key="2026-03-02")),
        ],
        run_id="run-2",
        fetched_at=FETCHED,
    )

    assert [(c.new, c.rejected, c.partition_rows) for c in counts] == [(1, 0, 1), (0, 1, 1)]
    assert con.execute("SELECT order_id FROM raw.orders ORDER BY 1").fetchall() == [("2",), ("7",)]


@pytest.mark.parametrize(
    "keys_and_values", [[("100", "100"), ("100", "200")], [("100", "100"), ("1", "100")]]
)
def test_a_group_that_names_a_partition_twice_is_refused_before_anything_lands(con, keys_and_values):
    """A group's counts match rows by partition key and by value: either twice would count rows twice."""
    group = [Partition(k, v, _comments_of(v, comment(k, "2026-03-01 10:00:00"))) for k, v in keys_and_values]
    with pytest.raises(ValueError, match="may be landed once per group"):
        land_partitions(con, tables.COMMENTS, group, run_id="r1", fetched_at=FETCHED)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'comments'").fetchone() == (
        0,
    )


@pytest.mark.parametrize("threads", [2, 3])
def test_a_landing_gives_the_connection_its_threads_back(con, threads):
    """A small landing runs on one DuckDB thread (a setting of the whole database): the caller's
    setting is back once it returns, rows landed or rejected."""
    con.execute(f"SET threads = {threads}")

    landed = land_comments(con, [comment("1", "2026-03-01 10:00:00"), comment("x", "2026-03-01 10:00:00")])

    assert (landed.new, landed.rejected) == (1, 1)
    assert con.execute("SELECT current_setting('threads')").fetchone() == (threads,)
