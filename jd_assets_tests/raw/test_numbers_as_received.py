"""Raw records keep each value's text exactly as the gateway sent it (README: "every field and value as
received"), through the one parser of gateway answers (jd_assets.http.jsontext, behind Reply.json) and
the landing: one test per way Python's json would have changed it, and non-JSON literals rejected with
their reason."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from jd_assets.http import jsontext
from jd_assets.raw import tables
from jd_assets.raw.landing import batch, land

FETCHED = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "numbers.duckdb"))
    yield connection
    connection.close()


def land_answer(con, body: str):
    """A findWareById answer's record, parsed as the gateway layer parses it, landed as raw.wares."""
    record = jsontext.loads(body)
    return land(
        con,
        tables.WARES,
        batch([record], request_key="9"),
        partition_key="9",
        partition_value="9",
        run_id="r",
        fetched_at=FETCHED,
    )


def stored(con) -> str:
    return con.execute("SELECT record::VARCHAR FROM raw.wares").fetchone()[0]


@pytest.mark.parametrize(
    "number",
    [
        "899.00",  # seed 003's order.get price: Python's json writes 899.0
        "12.30",  # trailing zero
        "199.99",  # seed 003's order total: exact as text, not a binary float
        "1e400",  # beyond a double: Python's json writes Infinity (not JSON)
        "0.12345678901234567890123456789",  # more digits than a double keeps (~17)
        "-0",  # an integer whose sign int() drops
        "123456789012345678901234567890",  # an integer beyond 2^64
    ],
)
def test_a_number_lands_in_the_text_it_was_sent_in(con, number):
    land_answer(con, f'{{"wareId":9,"wareStatus":8,"jdPrice":{number}}}')

    assert stored(con) == f'{{"wareId":9,"wareStatus":8,"jdPrice":{number}}}'


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_record_holding_a_non_json_literal_is_rejected_naming_it(con, literal):
    counts = land_answer(con, f'{{"wareId":9,"wareStatus":8,"jdPrice":{literal}}}')

    assert (counts.new, counts.rejected) == (0, 1)
    assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [
        (f"not JSON: the literal {literal} (JSON has no NaN or Infinity)",)
    ]
    assert con.execute("SELECT count(*) FROM raw.wares").fetchone() == (0,)
