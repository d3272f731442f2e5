"""What a landing on the lake reports: the table's rows and the partitions JD refuses, both as the table
reads after the commit, however the landing found them (a lake whose ``raw.refusals`` never held a row
is not read at all); and a replaced partition's rejects, replaced with it (a lake whose ``raw.rejects``
never held a row has none to delete)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from jd_assets.raw import tables
from jd_assets.raw.landing import LandingCounts, batch, land, record_refusal
from jd_assets.warehouse import DuckDBWarehouse, never_written_lake_table

pytestmark = pytest.mark.lake
NOW = datetime(2026, 3, 10, tzinfo=UTC)


def _comments(sku: str, ids: range) -> list[dict]:
    return [
        {"commentId": f"{sku}{i:03d}", "productId": sku, "commentScore": "4", "userNickName": "b***1",
         "commentDate": "2026-03-01 10:00:00", "commentData": "很好"}
        for i in ids
    ]  # fmt: skip


def _orders(ids: str, day: str = "2026-03-01") -> list[dict]:
    return [
        {"orderId": i, "orderStartTime": f"{day} 09:00:00", "orderState": "FINISHED_L",
         "modified": f"{day} 09:00:00",
         "itemInfoList": [{"skuId": "100", "wareId": "9", "itemTotal": "1", "jdPrice": "9.90"}]}
        for i in ids
    ]  # fmt: skip


def _land(lake: DuckDBWarehouse, table, records: list[dict], key: str, value: object = None) -> LandingCounts:
    counts, _ = lake.transact(
        lambda con: land(
            con, table, batch(records, page=1, request_key=key), partition_key=key,
            partition_value=key if value is None else value, run_id="t", fetched_at=NOW,
        )
    )  # fmt: skip
    return counts


def _refuse(lake: DuckDBWarehouse, key: str) -> None:
    lake.transact(
        lambda con: record_refusal(
            con, "comments", key, code="202", reason="not supported", run_id="t", refused_at=NOW
        )
    )


def _read(lake: DuckDBWarehouse, sql: str) -> list[tuple]:
    with lake.read() as con:
        return con.execute(sql).fetchall()


def _never_written(lake: DuckDBWarehouse, table: str = "refusals") -> bool:
    with lake.read() as con:
        return never_written_lake_table(con, "raw", table)


def test_a_lake_landing_reports_the_tables_rows_after_merges_and_replacements(lake):
    assert _land(lake, tables.COMMENTS, _comments("1", range(20)), "1").table_rows == 20
    assert _land(lake, tables.COMMENTS, _comments("2", range(20)), "2").table_rows == 40
    # merged: 10 known comments seen again, 5 new ones added, the 10 not served any more kept
    again = _land(lake, tables.COMMENTS, _comments("1", range(10, 25)), "1")
    assert (again.new, again.already_known, again.partition_rows, again.table_rows) == (5, 10, 25, 45)
    assert _read(lake, "SELECT count(*) FROM raw.comments") == [(45,)]

    # replaced: a day's orders deleted and written again (other orders now), the other day's kept
    day1, day2 = date(2026, 3, 1), date(2026, 3, 2)
    assert _land(lake, tables.ORDERS, _orders("123"), "2026-03-01", day1).table_rows == 3
    assert _land(lake, tables.ORDERS, _orders("45", "2026-03-02"), "2026-03-02", day2).table_rows == 5
    replaced = _land(lake, tables.ORDERS, _orders("36"), "2026-03-01", day1)
    assert (replaced.new, replaced.already_known, replaced.partition_rows, replaced.table_rows) == (
        1,
        1,
        2,
        4,
    )
    # every record rejected: the day's previous version stays, and so does the count
    rejected = _land(
        lake, tables.ORDERS, [{"orderId": "8", "orderStartTime": "not a time"}], "2026-03-02", day2
    )
    assert (rejected.rejected, rejected.partition_rows, rejected.table_rows) == (1, 2, 4)
    assert _read(lake, "SELECT order_date, order_id FROM raw.orders ORDER BY ALL") == [
        (day1, "3"),
        (day1, "6"),
        (day2, "4"),
        (day2, "5"),
    ]


def test_refusals_recorded_by_other_transactions_are_counted_and_cleared_by_the_landings(lake):
    assert _never_written(lake)  # a new lake: the landings do not read raw.refusals
    assert _land(lake, tables.COMMENTS, _comments("1", range(3)), "1").refused_partitions == 0
    assert _never_written(lake)

    _refuse(lake, "3")
    _refuse(lake, "4")
    assert not _never_written(lake)
    assert _land(lake, tables.COMMENTS, _comments("2", range(3)), "2").refused_partitions == 2
    assert _land(lake, tables.COMMENTS, _comments("3", range(3)), "3").refused_partitions == 1
    assert _read(lake, "SELECT partition_key FROM raw.refusals") == [("4",)]
    assert _land(lake, tables.COMMENTS, _comments("4", range(3)), "4").refused_partitions == 0
    assert _read(lake, "SELECT count(*) FROM raw.refusals") == [(0,)]

    # emptied again, but it held rows once: read, and still counted right
    assert not _never_written(lake)
    assert _land(lake, tables.COMMENTS, _comments("5", range(3)), "5").refused_partitions == 0
    _refuse(lake, "6")
    assert _land(lake, tables.COMMENTS, _comments("7", range(3)), "7").refused_partitions == 1


def test_a_replaced_day_on_the_lake_keeps_only_its_new_rejects(lake):
    day1, day2 = date(2026, 3, 1), date(2026, 3, 2)
    bad = {"orderId": "8", "orderStartTime": "not a time"}
    _land(lake, tables.ORDERS, _orders("12"), "2026-03-01", day1)
    assert _never_written(lake, "rejects")  # nothing rejected yet: no delete was needed

    assert _land(lake, tables.ORDERS, [*_orders("12"), bad], "2026-03-01", day1).rejected == 1
    _land(lake, tables.ORDERS, [*_orders("3", "2026-03-02"), {**bad, "orderId": "9"}], "2026-03-02", day2)
    rejects = "SELECT partition_key, record_key FROM raw.rejects ORDER BY ALL"
    assert _read(lake, rejects) == [("2026-03-01", "8"), ("2026-03-02", "9")]

    # each day landed again replaces its rejects: none left for day 1, day 2's new one instead of its old
    assert _land(lake, tables.ORDERS, _orders("12"), "2026-03-01", day1).rejected == 0
    _land(lake, tables.ORDERS, [*_orders("3", "2026-03-02"), {**bad, "orderId": "7"}], "2026-03-02", day2)
    assert _read(lake, rejects) == [("2026-03-02", "7")]
    assert _read(lake, "SELECT count(*) FROM raw.orders") == [(3,)]


def test_on_the_single_file_refusals_are_always_read(tmp_path):
    warehouse = DuckDBWarehouse(database=str(tmp_path / "jd.duckdb"))
    with warehouse.write() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        assert not never_written_lake_table(con, "raw", "refusals")
