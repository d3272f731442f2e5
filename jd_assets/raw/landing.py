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

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import chain

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa

from jd_assets.conventions import TIME_FORMAT_SQL
from jd_assets.http import jsontext
from jd_assets.warehouse import SCHEMAS, ensure_schemas, markdown_previews, never_written_lake_table

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
    if not texts and not details:
        return _empty_batch()
    detail_texts = [None if d is None else record_text(d) for d in (details or [None] * len(texts))]
    if len(detail_texts) != len(texts):
        raise ValueError(f"{len(detail_texts)} details for {len(texts)} records")
    problems = [
        problem or (f"order.get record: {detail[1]}" if detail and detail[1] else None)
        for (_, problem), detail in zip(texts, detail_texts, strict=True)
    ]
    return _arrow(
        pa.array([t for t, _ in texts], pa.string()),
        problems,
        page=page,
        request_key=request_key,
        details=[d and d[0] for d in detail_texts],
    )


@functools.cache
def _empty_batch() -> pa.Table:
    """The batch of no record (each SKU's batch starts with one): Arrow tables are immutable, one serves."""
    return _arrow(pa.array([], pa.string()), [], page=None, request_key=None)


def text_batch(pages: Sequence[tuple[int, jsontext.Texts]], *, request_key: str) -> pa.Table:
    """One Arrow batch of pages' records (page number, records) in their JSON text as received, each with
    what makes it not JSON or None (jsontext.array_texts): nothing is parsed or written again in Python,
    DuckDB validates. The texts' bytes become the Arrow array's data buffer as they are (one copy, no
    text per record in Python); all the pages of a request in one batch: an Arrow table a page costs
    ~100 µs."""
    lengths = np.fromiter(chain.from_iterable(texts.lengths for _, texts in pages), np.int64)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # Assumed: one request's texts stay under 2 GiB (a SKU's pages are at most 100 of ~20 records); the
    # batches of many requests are combined with 64-bit offsets where needed (_keyed).
    if offsets[-1] >= 2**31:
        raise ValueError(f"{offsets[-1]:,} bytes of text in one request's batch")
    data = b"".join(texts.data for _, texts in pages)
    records = pa.StringArray.from_buffers(
        len(lengths), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)
    )
    problems = pa.nulls(len(lengths), pa.string())
    if any(texts.problems for _, texts in pages):  # rare: a NaN literal, found by the Python scanner
        problems = pa.array(
            list(chain.from_iterable(texts.problems or [None] * len(texts) for _, texts in pages)),
            pa.string(),
        )
    counts = [len(texts) for _, texts in pages]
    return _arrow(
        records,
        problems,
        page=pa.array(np.repeat(np.array([number for number, _ in pages], np.int32), counts)),
        request_key=request_key,
    )


def _arrow(
    records: pa.Array,
    problems: list[str | None] | pa.Array,
    *,
    page: int | pa.Array | None,
    request_key: str | None,
    details: list[str | None] | None = None,
) -> pa.Table:
    n = len(records)
    return pa.table(
        {
            "record": records,
            "page": page if isinstance(page, pa.Array) else pa.array([page] * n, pa.int32()),
            "request_key": pa.repeat(pa.scalar(request_key, pa.string()), n),
            "detail": pa.array(details, pa.string()) if details is not None else pa.nulls(n, pa.string()),
            "problem": problems if isinstance(problems, pa.Array) else pa.array(problems, pa.string()),
        }
    )


def ensure_table(con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    """Create what a landing writes into, if missing: one call for the statements (each call costs the
    DuckDB client ~0.5 ms, and a SKU's landing runs this every time)."""
    merge_columns = ",\n    last_seen_at TIMESTAMPTZ NOT NULL" if table.merge else ""
    detail_column = ",\n    detail JSON" if table.detail else ""
    typed = ",\n    ".join(f"{name} {kind}" for name, kind in table.columns)
    statements = [
        *(f"CREATE SCHEMA IF NOT EXISTS {schema}" for schema in SCHEMAS),
        REJECTS_DDL,
        REFUSALS_DDL,
        f"CREATE TABLE IF NOT EXISTS {table.name} ({typed},{COMMON_COLUMNS}{merge_columns}{detail_column})",
    ]
    if table.detail:  # a file created before the column existed
        statements.append(f"ALTER TABLE {table.name} ADD COLUMN IF NOT EXISTS detail JSON")
    con.execute(";\n".join(statements))
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
    return land_partitions(
        con,
        table,
        [Partition(partition_key, partition_value, records)],
        run_id=run_id,
        fetched_at=fetched_at,
        table_ready=table_ready,
    )[0]


@dataclass(frozen=True)
class Partition:
    """One partition's records to land: its Dagster key and the value of the table's partition column."""

    key: str
    value: object
    records: pa.Table


def land_partitions(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    partitions: Sequence[Partition],
    *,
    run_id: str,
    fetched_at: datetime,
    table_ready: bool = False,
) -> list[LandingCounts]:
    """Land several partitions inside the caller's transaction, each counted as if landed alone.

    The partitions go through the same statements together (staged, validated, deduplicated, merged or
    replaced, counted grouped by partition), and the table's rows of those partitions are read once, into
    a small temp table: the keys already known, the counts and the mark after the landing all come from
    it. So the cost of a group grows with its own rows, not with the table times the statements. Values
    are written into the SQL as literals: a parameter costs the DuckDB client ~1 ms of its own.
    """
    if not partitions:
        return []
    # the counts match a partition's rows by its value: two keys of one value would count them twice
    distinct = min(len({p.key for p in partitions}), len({p.value for p in partitions}))
    if distinct != len(partitions):
        raise ValueError("a partition (key or value) may be landed once per group")
    keyed = _keyed(partitions)
    with _one_thread(con, keyed):
        if not table_ready:
            ensure_table(con, table)
        con.register("landing_batch", keyed)
        try:
            return _land_registered(con, table, partitions, run_id=run_id, fetched_at=fetched_at)
        finally:
            con.unregister("landing_batch")


@contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection, keyed: pa.Table) -> Iterator[None]:
    """Run a landing of one Arrow slice on one DuckDB thread, then give the connection its threads back.

    DuckDB scans an Arrow table one slice per thread and a temp table of that size is one row group, so a
    second thread mostly adds scheduling: 5-15 ms less CPU a partition on one thread, the same wall time
    on an idle machine (bench/RESULTS.landing6.md). ``threads`` is the database's setting, not the
    connection's: a reader sharing it in this process runs on one thread meanwhile (on the file, writers
    take turns).
    """
    if keyed.num_rows > _SLICE_ROWS:
        yield
        return
    (threads,) = con.execute("SELECT current_setting('threads')").fetchone()
    if threads == 1:  # a lake landing's connection already runs on one thread
        yield
        return
    con.execute("SET threads = 1")
    try:
        yield
    except BaseException:
        # A failed statement aborts the caller's transaction, which refuses any SET until its ROLLBACK:
        # the setting then stays at 1 until the caller closes the connection (and with it the database, if
        # no other connection of this process shares it). Assumed acceptable: it only slows, never changes.
        with suppress(duckdb.TransactionException):
            con.execute(f"SET threads = {threads}")
        raise
    con.execute(f"SET threads = {threads}")


def _land_registered(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    partitions: Sequence[Partition],
    *,
    run_id: str,
    fetched_at: datetime,
) -> list[LandingCounts]:
    """:func:`land_partitions` once their records are registered as ``landing_batch``: the records' texts
    stay there (in Arrow) and are read again only by the statements that write them (rows, rejects,
    preview); the temp tables hold the typed columns and each record's place (``arrival``)."""
    part, key = table.partition_column, table.key_column
    values = ", ".join(_literal(p.value) for p in partitions)
    source, run, fetched = _literal(table.source), _literal(run_id), _literal(fetched_at)
    _stage(con, table)
    # a key on two pages (pages shifted while crawling) is rare: look for one before paying for a window;
    # each partition's newest valid mark too, for a partition new to the table
    stage_mark = table.mark_column or "NULL"
    rows = con.execute(
        f"""SELECT partition_key, sum(n), sum(n) FILTER (WHERE rejected), bool_or(n > 1 AND NOT rejected),
                   strftime(max(mark) FILTER (WHERE NOT rejected), {TIME_FORMAT_SQL})
            FROM (
                SELECT partition_key, {key}, reject_reason IS NOT NULL AS rejected, count(*) AS n,
                       max({stage_mark}) AS mark
                FROM landing_stage GROUP BY ALL
            ) GROUP BY partition_key"""
    ).fetchall()
    staged: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    staged.update({k: (int(received), int(rejected or 0)) for k, received, rejected, *_ in rows})
    doubled = any(twice for *_, twice, _ in rows)
    _write_rejects(
        con,
        table,
        source=source,
        keys=", ".join(_literal(p.key) for p in partitions),
        fetched=fetched,
        run=run,
        any_rejected=any(rejected for _, rejected in staged.values()),
    )
    # A count first: partitions new to the table (the common case) need no copy of the table's rows.
    (existing,) = con.execute(f"SELECT count(*) FROM {table.name} WHERE {part} IN ({values})").fetchone()
    valid = f"""SELECT partition_key, {table.column_names}, page, arrival
                FROM landing_stage WHERE reject_reason IS NULL"""
    # landing_valid is always a view (a landing that failed outside a transaction leaves it behind, and
    # CREATE OR REPLACE cannot turn a table into a view).
    if existing or doubled:
        table_mark = f"t.{table.mark_column}" if table.mark_column else "NULL"
        parts = ", ".join(f"({_literal(p.key)}, {_literal(p.value)})" for p in partitions)
        # The table's rows of these partitions, then one row per key and partition (a record seen on two
        # pages because pages shifted counts once), in one call.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE landing_existing AS
            SELECT landing_key AS partition_key, {", ".join(dict.fromkeys([f"t.{part}", f"t.{key}"]))},
                   {table_mark} AS landing_mark
            FROM {table.name} t JOIN (VALUES {parts}) AS landing_parts(landing_key, landing_value)
              ON t.{part} = landing_value
            WHERE t.{part} IN ({values});
            CREATE OR REPLACE TEMP TABLE landing_valid_rows AS
            SELECT v.*, EXISTS (
                       SELECT 1 FROM landing_existing e WHERE e.{part} = v.{part} AND e.{key} = v.{key}
                   ) AS landing_known
            FROM ({valid} {_dedup(table) if doubled else ""}) v;
            CREATE OR REPLACE TEMP VIEW landing_valid AS SELECT * FROM landing_valid_rows
            """
        )
        counts = _partition_counts(con, table)
    else:
        # Partitions new to the table, each key once (the common case): the valid rows are the stage's,
        # not a copy of them, and the staged counts are the partitions' counts.
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW landing_valid AS SELECT *, false AS landing_known FROM ({valid})"
        )
        counts = defaultdict(_Counts)
        counts.update(
            {k: _Counts(valid=n - (bad or 0), new_mark=m, valid_mark=m) for k, n, bad, _, m in rows}
        )
    # The table's rows before the landing writes, plus each partition's change (below): on DuckLake that
    # count is answered from the snapshot's statistics, one after the writes scans them too (profiled:
    # 3.5-6 against 6-11 ms CPU; bench/RESULTS.lake-writers5.md).
    (table_rows,) = con.execute(f"SELECT count(*) FROM {table.name}").fetchone()
    replaced: set[str] = set()
    if table.merge:
        _merge(
            con,
            table,
            values=values,
            fetched=fetched,
            run=run,
            known=any(c.known for c in counts.values()),
            new=any(c.valid > c.known for c in counts.values()),
        )
    else:
        # A partition whose every record was rejected replaces nothing: its previous version stays.
        replaced = {p.key for p in partitions if counts[p.key].valid or not staged[p.key][1]}
        _replace(con, table, [p for p in partitions if p.key in replaced], fetched=fetched, run=run)
    previews = _previews(con, table, len(partitions))
    con.execute(
        "DROP VIEW landing_valid; DROP TABLE IF EXISTS landing_valid_rows; "
        "DROP TABLE landing_stage; DROP TABLE IF EXISTS landing_existing"
    )
    refused = _clear_refusals(con, table.source, [p.key for p in partitions])
    # each partition's change: a replaced one loses its rows before, a merged one gains its new keys
    table_rows += sum(
        counts[p.key].valid - (counts[p.key].rows if p.key in replaced else counts[p.key].known)
        for p in partitions
    )
    out = []
    for p in partitions:
        c, (received, rejected) = counts[p.key], staged[p.key]
        if p.key in replaced:
            rows, mark = c.valid, c.valid_mark
        else:  # merged: the rows before and the new ones
            rows, mark = c.rows + c.valid - c.known, max(filter(None, (c.mark, c.new_mark)), default=None)
        out.append(
            LandingCounts(
                received,
                c.valid - c.known,
                c.known,
                rejected,
                rows,
                int(table_rows),
                refused_partitions=refused,
                preview=previews.get(p.key, previews[None]),
                partition_mark=mark,
            )
        )
    return out


@dataclass(frozen=True)
class _Counts:
    """One partition in a landing: its rows before and their newest mark, its valid staged records, how
    many of them the table holds already, and the newest mark of the new ones and of all of them."""

    rows: int = 0
    mark: str | None = None
    valid: int = 0
    known: int = 0
    new_mark: str | None = None
    valid_mark: str | None = None


def _partition_counts(con: duckdb.DuckDBPyConnection, table: RawTable) -> dict[str, _Counts]:
    """Each partition's rows and mark before the landing, and its valid records (new and known)."""

    def newest(where: str) -> str:
        if not table.mark_column:
            return "NULL"
        return f"strftime(max(landing_mark) FILTER (WHERE {where}), {TIME_FORMAT_SQL})"

    rows = con.execute(
        f"""SELECT partition_key, count(*) FILTER (WHERE NOT valid), {newest("NOT valid")},
                   count(*) FILTER (WHERE valid), count(*) FILTER (WHERE known),
                   {newest("valid AND NOT known")}, {newest("valid")}
            FROM (
                SELECT partition_key, landing_mark, false AS valid, false AS known FROM landing_existing
                UNION ALL
                SELECT partition_key, {table.mark_column or "NULL"}, true, landing_known FROM landing_valid
            ) GROUP BY partition_key"""
    ).fetchall()
    counts = defaultdict(_Counts)
    counts.update({k: _Counts(int(n), m, int(v), int(kn), nm, vm) for k, n, m, v, kn, nm, vm in rows})
    return counts


def _literal(value: object) -> str:
    """``value`` as a DuckDB literal (text quoted, dates and instants typed)."""
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::TIMESTAMPTZ"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if "\0" in text:
        raise ValueError("a landing value holds a NUL character")
    return "'" + text.replace("'", "''") + "'"


def _keyed(partitions: Sequence[Partition]) -> pa.Table:
    """The partitions' batches as one, each row with its partition's key and its place (``arrival``)."""
    tables = [
        p.records.append_column("partition_key", pa.repeat(pa.scalar(p.key, pa.string()), p.records.num_rows))
        for p in partitions
    ]
    keyed = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    keyed = keyed.append_column("arrival", pa.array(np.arange(keyed.num_rows, dtype=np.int64)))
    # DuckDB scans an Arrow table chunk by chunk: a page's 10 records a chunk would run each statement
    # on 10 rows at a time (x10 the time of one chunk at 200k rows), so the pages become one chunk; a big
    # batch is then cut into slices (no copy) that DuckDB's threads stage and insert side by side.
    try:
        keyed = keyed.combine_chunks()
    except pa.ArrowInvalid:  # over 2 GiB of text: 32-bit string offsets overflow, 64-bit ones do not
        keyed = keyed.cast(_large_strings(keyed.schema)).combine_chunks()
    # The texts typed as Arrow's JSON: DuckDB reads them as its JSON type without parsing them, so the
    # INSERT writes them into the JSON column as they are, once the stage has parsed each (_insert_rows).
    records = keyed.column("record").combine_chunks()
    keyed = keyed.set_column(
        keyed.schema.get_field_index("record"),
        "record",
        pa.ExtensionArray.from_storage(pa.json_(records.type), records),
    )
    return pa.Table.from_batches(keyed.to_batches(max_chunksize=_SLICE_ROWS), keyed.schema)


#: Rows of one Arrow slice of a landing batch: DuckDB scans a registered Arrow table one slice per thread.
_SLICE_ROWS = 2**16


def _large_strings(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(pa.large_string()) if f.type == pa.string() else f for f in schema])


_FIELD = re.compile(r"record->>'(\$\.[A-Za-z_][A-Za-z0-9_]*)'")


@functools.cache
def _one_parse(extract: str) -> tuple[str, str | None]:
    """``extract`` with its ``record->>'$.field'`` reads taken from one list, and the SELECT item making
    that list (None: ``extract`` reads no field): DuckDB parses the record again for each ``->>``, once
    for one ``json_extract_string`` of every path (same function, same results)."""
    paths = list(dict.fromkeys(_FIELD.findall(extract)))
    if not paths:
        return extract, None
    rewritten = _FIELD.sub(lambda m: f"landing_fields[{paths.index(m.group(1)) + 1}]", extract)
    listed = ", ".join(f"'{p}'" for p in paths)
    return rewritten, f"json_extract_string(record, [{listed}]) AS landing_fields"


def _stage(con: duckdb.DuckDBPyConnection, table: RawTable) -> None:
    extract, fields = _one_parse(table.extract)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE landing_stage AS
        WITH parsed AS (
            -- A record with a problem (a NaN literal) may not be JSON: NULL then, as TRY_CAST gave. The
            -- others are parsed once, by the fields' extraction, which every stored typed column reads
            -- (each table's extract reads a field unconditionally: assumed, and tested for every table), so
            -- it runs on every one: a malformed text fails the landing here (_insert_rows relies on
            -- it). Only what later statements read is stored: no text, no list of fields.
            SELECT CASE WHEN problem IS NULL THEN record WHEN json_valid(record) THEN record END AS record,
                   CASE WHEN problem IS NULL THEN detail WHEN json_valid(detail) THEN detail END AS detail,
                   page, request_key, problem, partition_key, arrival
            FROM landing_batch
        ), fields AS (
            SELECT *, {fields or "NULL AS landing_fields"} FROM parsed
        ), extracted AS (
            SELECT {extract}, record, detail, page, arrival, problem, partition_key, landing_fields
            FROM fields
        )
        SELECT partition_key, {table.column_names}, page, arrival,
               coalesce(problem, {table.reject_reason}) AS reject_reason
        FROM extracted
        """
    )


def _dedup(table: RawTable) -> str:
    """The QUALIFY keeping the first of a key's records in a partition (by page, then arrival)."""
    return (
        f"QUALIFY row_number() OVER (PARTITION BY partition_key, {table.key_column} "
        "ORDER BY page, arrival) = 1"
    )


def _write_rejects(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    *,
    source: str,
    keys: str,
    fetched: str,
    run: str,
    any_rejected: bool,
) -> None:
    # The partition is rewritten whole, and so are its rejects; on a lake whose raw.rejects never held a
    # row there are none to delete (that DELETE costs ~27 ms of CPU on DuckLake 1.5.5, the question 2-3;
    # bench/RESULTS.lake-writers6.md). Assumed, as for the refusals: no landing earlier in this transaction
    # inserted rejects of this source and these keys (a group lands a key once; raw/assets.py lands each
    # source's partition once per transaction), since uncommitted rows are not in the catalog yet.
    if not table.merge and not never_written_lake_table(con, "raw", "rejects"):
        con.execute(f"DELETE FROM raw.rejects WHERE source = {source} AND partition_key IN ({keys})")
    if not any_rejected:
        return
    con.execute(
        f"""
        INSERT INTO raw.rejects
        SELECT DISTINCT {source}, s.partition_key, {table.key_column}, reject_reason, record_text, s.page,
               {fetched}, {run}
        FROM landing_stage s JOIN (SELECT arrival, record AS record_text FROM landing_batch) USING (arrival)
        WHERE reject_reason IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM raw.rejects r
            WHERE r.source = {source} AND r.partition_key IN ({keys}) AND r.partition_key = s.partition_key
              AND r.reason = s.reject_reason AND r.record = record_text)
        """
    )


def _replace(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    partitions: Sequence[Partition],
    *,
    fetched: str,
    run: str,
) -> None:
    # Delete-then-insert inside the caller's transaction: a re-run or a retry rewrites the partition whole.
    if not partitions:
        return
    values = ", ".join(_literal(p.value) for p in partitions)
    con.execute(f"DELETE FROM {table.name} WHERE {table.partition_column} IN ({values})")
    _insert_rows(con, table, "true", f"{fetched} AS fetched_at, {run} AS run_id")


def _merge(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    *,
    values: str,
    fetched: str,
    run: str,
    known: bool,
    new: bool,
) -> None:
    # Comments the gateway no longer serves (beyond its 100 pages) stay: only new keys are added.
    part, key = table.partition_column, table.key_column
    if known:
        con.execute(
            f"""UPDATE {table.name} t SET last_seen_at = {fetched} FROM landing_valid v
                WHERE v.landing_known AND t.{part} IN ({values})
                  AND t.{part} = v.{part} AND t.{key} = v.{key}"""
        )
    if new:
        _insert_rows(
            con,
            table,
            "NOT landing_known",
            f"{fetched} AS fetched_at, {run} AS run_id, {fetched} AS last_seen_at",
        )


def _insert_rows(con: duckdb.DuckDBPyConnection, table: RawTable, where: str, common: str) -> None:
    """Insert the valid rows matching ``where``: their typed columns from ``landing_valid``, their texts
    joined from the batch by ``arrival`` (no copy of them in Python, no statement to read the rows out).
    The stage parsed each text (and failed on a malformed one), so the JSON ones are written as they are;
    a text it did not parse (a ``detail``; a table extracting no field) is parsed by the JSON cast."""
    parsed = _one_parse(table.extract)[1] is not None
    record = "b.record" if parsed else "b.record::VARCHAR::JSON AS record"
    detail = ", b.detail" if table.detail else ""
    con.execute(
        f"""INSERT INTO {table.name} BY NAME
            SELECT v.* EXCLUDE (arrival, landing_known), {record}{detail}, {common}
            FROM landing_valid v JOIN landing_batch b USING (arrival)
            WHERE {where}"""
    )


def _previews(
    con: duckdb.DuckDBPyConnection, table: RawTable, partitions: int, rows: int = 5
) -> dict[str | None, dg.MetadataValue]:
    """A few of each partition's landed rows, new or seen again (None: the table of a partition without).
    One partition takes the top rows (no window over a big batch)."""
    newest = f"ORDER BY partition_key, {table.key_column} DESC"
    top = (
        f"SELECT * FROM landing_valid {newest} LIMIT {rows}"
        if partitions == 1
        else f"""SELECT * FROM landing_valid QUALIFY
            row_number() OVER (PARTITION BY partition_key ORDER BY {table.key_column} DESC) <= {rows}"""
    )
    return markdown_previews(
        con,
        f"""SELECT partition_key, {table.preview}
            FROM ({top}) JOIN (SELECT arrival, record, detail FROM landing_batch) USING (arrival) {newest}""",
        by="partition_key",
    )


def _clear_refusals(con: duckdb.DuckDBPyConnection, source: str, keys: list[str]) -> int:
    """Forget the refusals of partitions that just landed; returns the source's refused partitions.

    A refusal recorded by another process after this transaction's snapshot is not seen here (nor by
    the read below): it stays, as it would if it came after the landing's commit."""
    if never_written_lake_table(con, "raw", "refusals"):  # record_refusal writes in its own transaction
        return 0
    listed = ", ".join(_literal(k) for k in keys)
    # no WHERE: DuckLake pushes one into the scan of its catalog's inlined rows, which costs ~1.5x more
    # CPU than reading the few rows of the table (one per refused partition) and filtering them here
    of_source = f"source = {_literal(source)}"
    these, refused = con.execute(
        f"SELECT count(*) FILTER (WHERE {of_source} AND partition_key IN ({listed})), "
        f"count(*) FILTER (WHERE {of_source}) FROM raw.refusals"
    ).fetchone()
    if these:
        con.execute(
            f"DELETE FROM raw.refusals WHERE source = {_literal(source)} AND partition_key IN ({listed})"
        )
    return int(refused - these)


def _count(
    con: duckdb.DuckDBPyConnection, source: str, where: str = "true", params: dict | None = None
) -> int:
    return int(con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params or {}).fetchone()[0])
