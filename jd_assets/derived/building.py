"""What every derived table shares: documented columns, one rebuild transaction, small SQL snippets.

A derived table (``clean.*``, ``marts.*``) is built by one ``CREATE OR REPLACE TABLE ... AS SELECT ...``
inside one write transaction: a failure leaves the previous version, a re-run over the same raw rows gives
the same table. After the first build only what changed upstream is rebuilt, by the same query
(``jd_assets/derived/incremental.py``).

Timestamps named ``*_at`` that come from JD are **Beijing wall time** (UTC+8, stored as ``TIMESTAMP``
without a zone, as JD sends them); the fetch times (``fetched_at``, ``first_seen_at``, ``last_seen_at``)
are instants (``TIMESTAMPTZ``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import NamedTuple

import dagster as dg
import duckdb

from jd_assets.conventions import TIME_FORMAT_SQL
from jd_assets.raw.landing import RawTable, ensure_table
from jd_assets.warehouse import DuckDBWarehouse, ensure_schemas

KINDS = {"duckdb", "sql"}
BEIJING = "Beijing wall time (UTC+8, no zone)"
#: Prefix of JD's image server for the relative paths of seller-gateway images (seed 004).
IMAGE_PREFIX = "https://img12.360buyimg.com/n5/"

#: Full-width ASCII forms U+FF01..U+FF5E map to U+0021..U+007E; the ideographic space U+3000 to a space.
#: This is the part of NFKC that matters for review texts (DuckDB has NFC but not NFKC built in).
FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "


class Column(NamedTuple):
    name: str
    type: str
    description: str


def table_schema(columns: Iterable[Column]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.type, description=c.description) for c in columns]
    )


def table_metadata(table: str, columns: Iterable[Column]) -> dict[str, object]:
    """Definition metadata of a derived asset: its table and its documented columns (shown in the UI)."""
    return {"dagster/table_name": table, "dagster/column_schema": table_schema(columns)}


@contextmanager
def rebuild(
    warehouse: DuckDBWarehouse, reads: Iterable[RawTable] = ()
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One write transaction in which a derived table is rebuilt.

    The raw tables it reads are created (empty) if no partition was landed yet, so a derived table is
    always buildable: an empty raw table gives an empty derived table, not an error.
    """
    with warehouse.write() as con:
        ensure_schemas(con)
        for table in reads:
            ensure_table(con, table)
        yield con


def select_of(create_sql: str) -> str:
    """The query of a ``CREATE OR REPLACE TABLE t AS <query>`` statement: an incremental build inserts
    some keys' rows with it (its ``/*where*/`` comment replaced by their filter)."""
    return create_sql.split(" AS\n", 1)[1]


def row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


#: Any character of FULLWIDTH (U+FF01..U+FF5E, U+3000), as a regular expression.
_ANY_FULLWIDTH = "[\uff01-\uff5e\u3000]"


def halfwidth(expr: str) -> str:
    """SQL: ``expr`` in NFC with full-width ASCII and the ideographic space mapped to plain ASCII.

    ``translate`` is only called on a text that has such a character: it costs about 1 us a character
    whether or not it maps any (bench 4's reviews: 96% have none; a day's 50k reviews took 0.5-1 s).
    """
    text = f"nfc_normalize({expr})"
    return f"""CASE WHEN regexp_matches({text}, {sql_text(_ANY_FULLWIDTH)})
            THEN translate({text}, {sql_text(FULLWIDTH)}, {sql_text(HALFWIDTH)}) ELSE {text} END"""


def image_url(expr: str) -> str:
    """SQL: an image path made absolute (JD's relative paths get the image-server prefix)."""
    return f"""CASE
            WHEN nullif(trim({expr}), '') IS NULL THEN NULL
            WHEN regexp_matches({expr}, '^https?://') THEN {expr}
            WHEN starts_with({expr}, '//') THEN 'https:' || {expr}
            ELSE {sql_text(IMAGE_PREFIX)} || ltrim({expr}, '/')
        END"""


def jd_time(expr: str) -> str:
    """SQL: a JD time given as epoch milliseconds *or* ``yyyy-MM-dd HH:mm:ss`` (Beijing), as Beijing time.

    Epoch milliseconds are an instant: ``epoch_ms`` gives it in UTC, and Beijing is UTC+8 all year (China
    has had no daylight saving time since 1991).
    """
    return f"""CASE
            WHEN regexp_matches({expr}, '^[0-9]{{11,13}}$')
                THEN epoch_ms(CAST({expr} AS BIGINT)) + INTERVAL 8 HOUR
            ELSE try_strptime({expr}, {TIME_FORMAT_SQL})
        END"""


def label_case(expr: str, labels: Mapping[object, str]) -> str:
    """SQL: the label of a code from a small constant table (NULL for an unknown code)."""
    whens = " ".join(
        f"WHEN {code if isinstance(code, int) else sql_text(str(code))} THEN {sql_text(label)}"
        for code, label in labels.items()
    )
    return f"CASE {expr} {whens} END"
