"""The landing path of every raw table: a batch of records in, one DuckDB transaction out.

A batch is an Arrow table of the records' JSON texts (plus the page they came from, the key that was
asked for, and, for orders, the ``order.get`` record fetched for it). Each text is the record as JD sent
it: every number keeps its received text (``899.00`` stays ``899.00``; jd_assets.http.jsontext), and a
record holding a literal JSON does not have (``NaN``, ``Infinity``) is rejected, naming it. DuckDB does
the rest on columns, in one statement each: extracts the typed key columns,
validates them, sends invalid records to ``raw.rejects`` with the reason, and writes the valid ones:
- *replace* tables (details, wares, orders, tracks) delete the partition and insert it again, so a
  re-run leaves the same rows and an order's new state replaces the old one;
- the *merge* table (comments) adds only keys it does not hold yet and marks the others as seen again,
  because the gateway serves only the newest 100 pages: what it no longer serves must never be deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import dagster as dg
import duckdb
import pyarrow as pa

from jd_assets.conventions import TIME_FORMAT_SQL
from jd_assets.http import jsontext
from jd_assets.warehouse import ensure_schemas, markdown_preview

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class RawTable:
    """How one source lands: its table, its typed key columns, and what makes a record invalid."""

    name: str
    source: str
    partition_column: str
    key_column: str
    columns: tuple[tuple[str, str], ...]
    """Typed columns (name, DuckDB type) kept before the common ``record`` and fetch-metadata columns."""
    preview: str
    """SELECT list for the metadata preview: typed columns and harmless fields, never buyer data."""
    extract: str
    """SELECT list over ``record`` (JSON) and ``request_key`` (what was asked for) giving ``columns``."""
    reject_reason: str
    """SQL expression over the extracted columns: NULL for a valid record, else the reason."""
    merge: bool = False
    detail: bool = False
    """The table also keeps a second record per row, ``detail`` (orders: the ``order.get`` answer)."""
    mark_column: str | None = None
    """A column whose newest value in the partition is reported after the landing (comments: the
    high-water mark ``commented_at``), read inside the landing transaction."""
    migrations: tuple[tuple[str, str], ...] = ()
    """(``needed``, ``statement``) pairs that bring a table created by an earlier version up to date: the
    statement runs only when the query ``needed`` answers true, so an up-to-date table is never altered (on
    DuckLake an ALTER is a schema change that conflicts with every concurrent landing of the table)."""

    @property
    def column_names(self) -> str:
        return ", ".join(name for name, _ in self.columns)


COMMON_COLUMNS = """
    record JSON NOT NULL,
    page INTEGER,
    partition_key VARCHAR NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
"""

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS raw.rejects (
    source VARCHAR NOT NULL,
    partition_key VARCHAR NOT NULL,
    record_key VARCHAR,
    reason VARCHAR NOT NULL,
    record VARCHAR NOT NULL,
    page INTEGER,
    fetched_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
)
"""


#: Partitions JD refused (an error code on a partition: unsupported product, unknown ware, refused
#: window), one row per source and partition until the partition lands; the assets report the count.
REFUSALS_DDL = """
CREATE TABLE IF NOT EXISTS raw.refusals (
    source VARCHAR NOT NULL,
    partition_key VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    refused_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
)
"""


def record_refusal(
    con: duckdb.DuckDBPyConnection,
    source: str,
    partition_key: str,
    *,
    code: str,
    reason: str,
    run_id: str,
    refused_at: datetime,
) -> int:
    """Remember that JD refused this partition; returns how many partitions of the source it refuses."""
    ensure_schemas(con)
    con.execute(REFUSALS_DDL)
    # one row per source and partition (delete, then insert: DuckLake has no keys to upsert on)
    con.execute("DELETE FROM raw.refusals WHERE source = ? AND partition_key = ?", [source, partition_key])
    con.execute(
        "INSERT INTO raw.refusals VALUES (?, ?, ?, ?, ?, ?)",
        [source, partition_key, code, reason, refused_at, run_id],
    )
    return refused_partitions(con, source)


def refused_partitions(con: duckdb.DuckDBPyConnection, source: str) -> int:
    return _count(con, "raw.refusals", "source = $source", {"source": source})


@dataclass(frozen=True)
class LandingCounts:
    received: int
    new: int
    already_known: int
    rejected: int
    partition_rows: int
    table_rows: int = 0
    """Rows of the whole table after the landing (every partition)."""
    preview: dg.MetadataValue | None = None
    """A markdown table of a few landed rows (typed columns only: no buyer data)."""
    refused_partitions: int = 0
    """Partitions of the same source JD currently refuses (raw.refusals)."""
    write_seconds: float = 0.0
    """How long the write transaction held the DuckDB file (a reader waits at most this long)."""
    wait_seconds: float = 0.0
    """How long the landing waited for the file first (another landing, or an analyst holding it)."""
    write_conflicts: int = 0
    """DuckLake only: commits refused by another writer's conflicting change, and run again."""
    partition_mark: str | None = None
    """The newest ``mark_column`` value of the partition after the landing (``TIME_FORMAT`` text)."""

    def held_for(self, seconds: float, *, waited: float = 0.0, conflicts: int = 0) -> LandingCounts:
        return replace(self, write_seconds=seconds, wait_seconds=waited, write_conflicts=conflicts)

    def as_metadata(self) -> dict[str, object]:
        return {
            "preview": self.preview or dg.MetadataValue.md(""),
            "write_seconds": round(self.write_seconds, 4),
            "wait_seconds": round(self.wait_seconds, 4),
            "write_conflicts_retried": self.write_conflicts,
            "records_received": self.received,
            "rows_new": self.new,
            "rows_already_known": self.already_known,
            "rows_rejected": self.rejected,
            "dagster/partition_row_count": self.partition_rows,
            "dagster/row_count": self.table_rows,
            "partitions_refused_by_jd": self.refused_partitions,
        }


def record_json(record: object) -> str:
    """The record as compact JSON text, every field and value kept as received (big integers exact,
    other numbers in their received text). See :func:`record_text` for the problem it may hold."""
    return record_text(record)[0]


def record_text(record: object) -> tuple[str, str | None]:
    """The record's JSON text and, if it is not JSON (a NaN or Infinity literal), why."""
    text, problem = jsontext.dumps(record)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone UTF-16 surrogate (a broken emoji) is valid JSON syntax but not text that UTF-8, Arrow
        # or DuckDB's JSON type can hold: it becomes U+FFFD, the rest of the record is kept as it came.
        text = LONE_SURROGATE.sub("\ufffd", text)
    return text, problem


def batch(
    records: Iterable[object],
    *,
    page: int | None = None,
    request_key: str | None = None,
    details: Sequence[object | None] | None = None,
) -> pa.Table:
    """An Arrow batch of records from one page (or one keyed request); ``details`` gives each record's
    second record (None where there is none), for a table that keeps one."""
    texts = [record_text(r) for r in records]
    detail_texts = [None if d is None else record_text(d) for d in (details or [None] * len(texts))]
    if len(detail_texts) != len(texts):
        raise ValueError(f"{len(detail_texts)} details for {len(texts)} records")
    problems = [
        problem or (f"order.get record: {detail[1]}" if detail and detail[1] else None)
        for (_, problem), detail in zip(texts, detail_texts, strict=True)
    ]
    return _arrow(
        [t for t, _ in texts],
        problems,
        page=page,
        request_key=request_key,
        details=[d and d[0] for d in detail_texts],
    )


def text_batch(texts: Sequence[tuple[str, str | None]], *, page: int, request_key: str) -> pa.Table:
    """An Arrow batch of a page's records in their JSON text as received, each with what makes it not
    JSON or None (jsontext.array_texts): nothing is parsed or written again in Python, DuckDB validates."""
    return _arrow([t for t, _ in texts], [p for _, p in texts], page=page, request_key=request_key)


def _arrow(
    texts: list[str],
    problems: list[str | None],
    *,
    page: int | None,
    request_key: str | None,
    details: list[str | None] | None = None,
) -> pa.Table:
    n = len(texts)
    return pa.table(
        {
            "record": pa.array(texts, pa.string()),
            "page": pa.array([page] * n, pa.int32()),
            "request_key": pa.array([request_key] * n, pa.string()),
            "detail": pa.array(details, pa.string()) if details is not None else pa.nulls(n, pa.string()),
            "problem": pa.array(problems, pa.string()),
        }
    )


def ensure_table(con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    ensure_schemas(con)
    con.execute(REJECTS_DDL)
    con.execute(REFUSALS_DDL)
    merge_columns = ",\n    last_seen_at TIMESTAMPTZ NOT NULL" if table.merge else ""
    detail_column = ",\n    detail JSON" if table.detail else ""
    typed = ",\n    ".join(f"{name} {kind}" for name, kind in table.columns)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {table.name} ({typed},{COMMON_COLUMNS}{merge_columns}{detail_column})"
    )
    if table.detail:  # a file created before the column existed
        con.execute(f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS detail JSON")
    for needed, statement in table.migrations:
        if con.execute(needed).fetchone()[0]:
            con.execute(statement)


def land(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    records: pa.Table,
    *,
    partition_key: str,
    partition_value: object,
    run_id: str,
    fetched_at: datetime,
    table_ready: bool = False,
) -> LandingCounts:
    """Land one partition's records inside the caller's transaction and count what happened.

    ``table_ready``: the caller already ran ``ensure_table`` on this connection (several partitions
    landed on one connection skip its DDL statements).
    """
    if not table_ready:
        ensure_table(con, table)
    params = {
        "source": table.source,
        "partition": partition_value,
        "partition_key": partition_key,
        "fetched_at": fetched_at,
        "run_id": run_id,
    }
    con.register("landing_batch", records)
    try:
        _stage(con, table)
    finally:
        con.unregister("landing_batch")
    received, rejected = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reject_reason IS NOT NULL) FROM landing_stage"
    ).fetchone()
    _write_rejects(con, table, params, rejected)
    con.execute(f"CREATE OR REPLACE TEMP TABLE landing_valid AS {_valid_rows(table)}")
    part, key = table.partition_column, table.key_column
    # The constant partition predicate lets DuckDB skip the row groups of other partitions.
    matches = f"t.{part} = $partition AND t.{part} = v.{part} AND t.{key} = v.{key}"
    valid, known = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {table.name} t WHERE {matches})) "
        "FROM landing_valid v",
        _only(params, "partition"),
    ).fetchone()
    new = valid - known
    if table.merge:
        _merge(con, table, params, matches, new=new, known=known)
    elif new + known or not rejected:
        # A batch whose every record was rejected replaces nothing: the previous version stays.
        _replace(con, table, params)
    partition_rows, table_rows, mark = _table_counts(con, table, partition_value)
    preview = _preview(con, table, partition_value)
    con.execute("DROP TABLE landing_stage; DROP TABLE landing_valid")
    return LandingCounts(
        received,
        new,
        known,
        rejected,
        partition_rows,
        table_rows,
        # a partition that lands is no longer refused
        refused_partitions=_clear_refusal(con, params),
        preview=preview,
        partition_mark=mark,
    )


def _stage(con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE landing_stage AS
        WITH parsed AS (
            SELECT CASE WHEN problem IS NULL THEN record::JSON ELSE TRY_CAST(record AS JSON) END AS record,
                   CASE WHEN problem IS NULL THEN detail::JSON ELSE TRY_CAST(detail AS JSON) END AS detail,
                   record AS record_text, page, request_key, problem,
                   row_number() OVER () AS arrival
            FROM landing_batch
        ), extracted AS (
            SELECT {table.extract}, record, detail, record_text, page, arrival, problem FROM parsed
        )
        SELECT *, coalesce(problem, {table.reject_reason}) AS reject_reason FROM extracted
        """
    )


def _write_rejects(con: duckdb.DuckDBPyConnection, table: RawTable, params: dict, rejected: int) -> None:
    if not table.merge:  # the partition is rewritten whole, and so are its rejects
        con.execute(
            "DELETE FROM raw.rejects WHERE source = $source AND partition_key = $partition_key",
            _only(params, "source", "partition_key"),
        )
    if not rejected:
        return
    con.execute(
        f"""
        INSERT INTO raw.rejects
        SELECT DISTINCT $source, $partition_key, {table.key_column}, reject_reason, record_text, page,
               $fetched_at, $run_id
        FROM landing_stage s
        WHERE reject_reason IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM raw.rejects r
            WHERE r.source = $source AND r.partition_key = $partition_key
              AND r.reason = s.reject_reason AND r.record = s.record_text)
        """,
        _only(params, "source", "partition_key", "fetched_at", "run_id"),
    )


def _valid_rows(table: RawTable) -> str:
    """Valid staged records, one per key (a record seen on two pages because pages shifted counts once)."""
    detail = ", detail" if table.detail else ""
    return f"""
        SELECT {table.column_names}, record, page{detail}
        FROM landing_stage
        WHERE reject_reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY {table.key_column} ORDER BY page, arrival) = 1
    """


def _replace(con: duckdb.DuckDBPyConnection, table: RawTable, params: dict) -> None:
    # Delete-then-insert inside the caller's transaction: a re-run or a retry rewrites the partition whole.
    con.execute(
        f"DELETE FROM {table.name} WHERE {table.partition_column} = $partition",
        _only(params, "partition"),
    )
    con.execute(
        f"""INSERT INTO {table.name} BY NAME
            SELECT *, $partition_key AS partition_key, $fetched_at AS fetched_at, $run_id AS run_id
            FROM landing_valid""",
        _only(params, "partition_key", "fetched_at", "run_id"),
    )


def _merge(
    con: duckdb.DuckDBPyConnection, table: RawTable, params: dict, matches: str, *, new: int, known: int
) -> None:
    # Comments the gateway no longer serves (beyond its 100 pages) stay: only new keys are added.
    if known:
        con.execute(
            f"UPDATE {table.name} t SET last_seen_at = $fetched_at FROM landing_valid v WHERE {matches}",
            _only(params, "fetched_at", "partition"),
        )
    if new:
        con.execute(
            f"""INSERT INTO {table.name}
                SELECT v.*, $partition_key, $fetched_at, $run_id, $fetched_at FROM landing_valid v
                WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {matches})""",
            _only(params, "partition_key", "fetched_at", "run_id", "partition"),
        )


def _preview(
    con: duckdb.DuckDBPyConnection, table: RawTable, partition_value: object, rows: int = 5
) -> dg.MetadataValue:
    return markdown_preview(
        con,
        f"SELECT {table.preview} FROM {table.name} WHERE {table.partition_column} = $partition "
        f"ORDER BY {table.key_column} DESC LIMIT {rows}",
        {"partition": partition_value},
    )


def _table_counts(
    con: duckdb.DuckDBPyConnection, table: RawTable, partition_value: object
) -> tuple[int, int, str | None]:
    """Rows of the partition, of the whole table, and the partition's newest ``mark_column``: one scan."""
    in_partition = f"{table.partition_column} = $partition"
    mark = (
        f"strftime(max({table.mark_column}) FILTER (WHERE {in_partition}), {TIME_FORMAT_SQL})"
        if table.mark_column
        else "NULL"
    )
    partition_rows, table_rows, newest = con.execute(
        f"SELECT count(*) FILTER (WHERE {in_partition}), count(*), {mark} FROM {table.name}",
        {"partition": partition_value},
    ).fetchone()
    return int(partition_rows), int(table_rows), newest


def _clear_refusal(con: duckdb.DuckDBPyConnection, params: dict) -> int:
    """Forget a refusal of the partition that just landed; returns the source's refused partitions."""
    this, refused = con.execute(
        "SELECT count(*) FILTER (WHERE partition_key = $partition_key), count(*) FROM raw.refusals "
        "WHERE source = $source",
        _only(params, "source", "partition_key"),
    ).fetchone()
    if this:
        con.execute(
            "DELETE FROM raw.refusals WHERE source = $source AND partition_key = $partition_key",
            _only(params, "source", "partition_key"),
        )
    return int(refused - this)


def _count(
    con: duckdb.DuckDBPyConnection, source: str, where: str = "true", params: dict | None = None
) -> int:
    return int(con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params or {}).fetchone()[0])


def _only(params: dict, *names: str) -> dict:
    """DuckDB refuses named parameters a statement does not use: pass each statement its own."""
    return {name: params[name] for name in names}
