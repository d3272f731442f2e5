"""Raw records keep each value's text exactly as the gateway sent it (README: "every field and value as
received"), through the one parser of gateway answers (jd_assets.http.jsontext, behind Reply.json) and
the landing: one test per way Python's json would have changed it, and non-JSON literals rejected with
their reason."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pytest

from jd_assets.http import jsontext
from jd_assets.raw import tables
from jd_assets.raw.landing import batch, land, text_batch

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


# A comments page lands its records cut out of the answer's own text (jsontext.array_texts), never
# written again: whatever the gateway's spacing, escapes and number spellings, the stored text is the
# answer's slice.

PAGE = (
    '{"code":0, "data": {"pageInfo":{"maxPage":"1"},\n "data": [\n'
    '  {"commentId":"1","productId":"100","commentDate":"2026-03-01 10:00:00","commentScore":5,'
    '"price":899.00,"big":123456789012345678901234567890,"text":"\\u597d \u8bc4"} ,\n'
    '  {"commentId":"2","productId":"100","commentDate":"2026-03-01 11:00:00","commentScore":"5",'
    '"rate":NaN}\n]}}'
)


def land_page(con, body: str):
    return land(
        con,
        tables.COMMENTS,
        text_batch([(1, jsontext.array_texts(body.encode(), ("data", "data")))], request_key="100"),
        partition_key="100",
        partition_value="100",
        run_id="r",
        fetched_at=FETCHED,
    )


def test_a_page_lands_each_record_as_the_slice_of_the_answer_it_was_sent_in(con):
    counts = land_page(con, PAGE)

    first = PAGE[PAGE.index('{"commentId":"1"') : PAGE.index(" ,\n")]
    assert (counts.new, counts.rejected) == (1, 1)
    assert con.execute("SELECT record::VARCHAR FROM raw.comments").fetchall() == [(first,)]
    assert con.execute("SELECT record->>'$.text' FROM raw.comments").fetchone() == ("好 评",)
    assert con.execute("SELECT reason FROM raw.rejects").fetchall() == [
        ("not JSON: the literal NaN (JSON has no NaN or Infinity)",)
    ]


NAN_PROBLEM = "not JSON: the literal NaN (JSON has no NaN or Infinity)"


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        ('{"data":{"data":[]}}', []),
        ('{"data":{"data":[1],"data":[ {"a" :[2]} ]}}', [('{"a" :[2]}', None)]),  # the last key counts
        ('{"data":{"data":null}}', None),  # no array there
        ('{"data":[{"data":[1]}]}', None),
        ('{"data":{"data":[{"t":"\\ud800"}]}}', None),  # DuckDB refuses a lone surrogate: written again
        ('{"data":{"data":[1,}}', None),  # not JSON
        ('\ufeff {"data":{"data":[ 1 ]}}', [("1", None)]),  # a BOM before the answer
        ('{"data":null,"data":{"data":[1]}}', [("1", None)]),  # a key repeated before the array
        ('{"data":{"data":[1]},"data":{"x":1}}', None),  # ... and after it: no array there any more
        ('{"d\\u0061ta":{"data":[1]}}', [("1", None)]),  # a key spelt with an escape
        ('{"data":{"data":[1, NaN]}}', [("1", None), ("NaN", NAN_PROBLEM)]),
        ('{"data":{"data":[' + "1" * 5000 + "]}}", [("1" * 5000, None)]),  # longer than int() reads
    ],
)
def test_texts_are_cut_out_only_where_the_array_is(body, texts):
    cut = jsontext.array_texts(body.encode(), ("data", "data"))
    assert (cut if cut is None else list(cut)) == texts


@pytest.mark.parametrize(
    "body",
    [
        b'{"msg":"\xff","data":{"data":[1]}}',  # in the envelope, where msgspec does not look
        b'{"data":{"data":["\xff"]}}',
        b'{"data":{"data":[1]},"msg":"\xe5\xa5"}',
    ],
)
def test_an_answer_that_is_not_utf8_anywhere_gives_no_texts(body):
    assert jsontext.array_texts(body, ("data", "data")) is None


def test_texts_are_the_ones_pythons_scanner_cuts_out_of_real_pages():
    """The msgspec path and the Python scanner agree on the sandbox's comment pages, however spaced
    and escaped (emoji, Chinese, URLs, numbers as sent)."""
    import json

    from jd_sandbox._http import dumps
    from jd_sandbox.catalog import Catalog
    from jd_sandbox.config import SandboxConfig

    catalog = Catalog(SandboxConfig(seed=3))
    pages = [catalog.comments_newest_first(i, catalog.anchor, 0, 10) for i in range(20)]
    pages = [{"code": 0, "data": {"data": page, "pageInfo": {"maxPage": "1"}}} for page in pages if page]
    bodies = [dumps(page) for page in pages] + [
        json.dumps(page, indent=1, ensure_ascii=True, default=str).encode() for page in pages
    ]
    cut = [jsontext.array_texts(body, ("data", "data")) for body in bodies]

    # (an emoji escaped as a surrogate pair gives None on both ways: see the surrogate case above)
    assert sum(len(texts) for texts in cut if texts) >= 100
    assert cut == [jsontext._scanned_texts(body, ("data", "data")) for body in bodies]


def test_a_text_that_is_not_json_fails_the_landing_and_nothing_lands(con):
    """DuckDB validates each text once, while extracting its fields; a malformed one (no problem named:
    the cutting never gives one) stops the landing instead of being written unchecked."""
    good = '{"commentId":"1","productId":"100","commentDate":"2026-03-01 10:00:00","commentScore":5}'
    texts = [(good, None), ('{"commentId":"2","productId":"100",', None)]

    with pytest.raises(duckdb.InvalidInputException, match="Malformed JSON"):
        land(
            con,
            tables.COMMENTS,
            text_batch([(1, jsontext.Texts.of(texts))], request_key="100"),
            partition_key="100",
            partition_value="100",
            run_id="r",
            fetched_at=FETCHED,
        )

    assert con.execute("SELECT count(*) FROM raw.comments").fetchone() == (0,)


@pytest.mark.parametrize(
    ("table", "key", "value", "good"),
    [
        (tables.WARES, "9", "9", '{"wareId":"9","wareStatus":8,"title":"t"}'),
        (tables.ITEM_DETAILS, "100", "100", '{"itemId":"100","wareId":"9","title":"t"}'),
        (tables.ORDERS, "2026-03-01", date(2026, 3, 1), '{"orderId":"1","orderState":"FINISHED_L"}'),
    ],
    ids=["wares", "item_details", "orders"],
)
def test_every_table_that_extracts_fields_fails_its_landing_on_a_text_that_is_not_json(
    con, table, key, value, good
):
    """The stage stores only typed columns: each of them is read from the parsed fields, so every text
    is still parsed (and a malformed one refused) before its JSON is written unparsed."""
    texts = [(good, None), ('{"wareId":"9",', None)]

    with pytest.raises(duckdb.InvalidInputException, match="Malformed JSON"):
        land(
            con,
            table,
            text_batch([(1, jsontext.Texts.of(texts))], request_key=key),
            partition_key=key,
            partition_value=value,
            run_id="r",
            fetched_at=FETCHED,
        )

    assert con.execute(f"SELECT count(*) FROM {table.name}").fetchone() == (0,)
