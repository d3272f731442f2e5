"""How the analysts' copy is published: only what changed is copied, into a new file swapped in by a rename.

DuckDB lets one process write a file and no other process hold it meanwhile, read-only or not: an analyst's
session on the pipeline's file would stall every landing for as long as it stays open. So analysts read a
separate file (``JD_ANALYTICS_PATH``, ``data/jd_analytics.duckdb`` by default) that the pipeline never
opens again once it is written:

1. under a publish lock beside the target (two publishes run one after the other, so the newer snapshot
   always lands last), files left by a publish that was killed (``<target>.tmp-<pid>``) are removed, and
   the current copy, when it records fingerprints, is copied as a plain file to ``<target>.tmp-<pid>``
   (at disk speed: no DuckDB work, the pipeline's file not held);
2. under the warehouse's *shared* read lock (other readers go on; a writer waits for the publish only),
   one read-only connection to the pipeline's file takes a fingerprint of every table of the ``clean``
   and ``marts`` schemas found in the file (``duckdb_tables()``: a table added later is published without
   a code change): its columns and types, its row count and the sum of a hash of every row. A table whose
   fingerprint equals the one the current copy recorded is kept as the file copy holds it; every other
   table is dropped there and copied anew (all of them when there is no copy to start from), and the
   ``meta`` schema says when, from where, how many rows and which fingerprints; ``raw`` is never copied
   (it holds buyer PII). The fingerprint is content, not a guess from timestamps or build logs: any
   change to a table's rows or columns changes it, whoever made it;
3. the new file is checkpointed, closed, fsynced and made read-only (mode 0444), then ``os.replace``\\ d
   onto the target (atomic on one filesystem) and the folder fsynced.

A session open on the previous copy keeps reading it (the old inode lives while it is open); the next
connection opens the new one. A process killed at any point leaves the previous copy whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from jd_assets.derived.building import sql_text
from jd_assets.warehouse import DuckDBWarehouse

#: The schemas analysts get; ``raw`` (buyer PII, JSON as received) stays in the pipeline's file.
PUBLISHED_SCHEMAS = ("clean", "marts")
#: Where the copy says what it holds: ``meta.publish`` (one row) and ``meta.tables`` (one per table).
META_SCHEMA = "meta"
#: The name of the new file inside the pipeline's connection while it is written.
ALIAS = "published"

META_DDL = f"""
CREATE TABLE {ALIAS}.{META_SCHEMA}.publish (
    published_at TIMESTAMPTZ NOT NULL,  -- the instant the tables were read (the data is as of then)
    source_path VARCHAR NOT NULL,       -- the pipeline's DuckDB file they were read from
    run_id VARCHAR NOT NULL,            -- the Dagster run that published them
    tables INTEGER NOT NULL,
    total_rows BIGINT NOT NULL,
    duckdb_version VARCHAR NOT NULL
);
CREATE TABLE {ALIAS}.{META_SCHEMA}.tables (
    schema_name VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,          -- rows of the pipeline's table when it was read
    fingerprint VARCHAR NOT NULL,       -- columns, rows and row-hash sum: an equal one is not copied again
    copied_at TIMESTAMPTZ NOT NULL,     -- the publish that last copied it (its content unchanged since)
    PRIMARY KEY (schema_name, table_name)
);
"""


class AnalyticsFile(dg.ConfigurableResource):
    """The read-only copy analysts open (``JD_ANALYTICS_PATH``)."""

    path: str = Field(
        description=(
            "File of the published copy (env JD_ANALYTICS_PATH; default beside JD_DUCKDB_PATH, "
            "data/jd_analytics.duckdb). Its folder must be on the same filesystem as the file itself: "
            "the copy is built beside it and renamed onto it."
        )
    )

    def target(self) -> Path:
        return Path(self.path)


def analytics_path_beside(database: str) -> str:
    """The default copy of ``data/jd.duckdb``: ``data/jd_analytics.duckdb``."""
    file = Path(database)
    return str(file.with_name(f"{file.stem}_analytics{file.suffix or '.duckdb'}"))


@dataclass(frozen=True)
class Published:
    """What one publish wrote."""

    target: Path
    published_at: datetime
    row_counts: dict[str, int]  # schema.table -> rows
    copied: list[str]  # the tables written anew; the others were kept from the previous copy
    full_reason: str | None  # why every table was copied (no usable previous copy), None when incremental
    read_lock_s: float  # how long the pipeline's file was held (shared) for the publish
    total_s: float
    bytes: int
    stale_files_removed: int


def published_tables(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[str]:
    """Every ``clean`` and ``marts`` table of a catalog (default: the connection's own), as schema.table."""
    (database,) = (catalog,) if catalog else con.execute("SELECT current_database()").fetchone()
    return [
        f"{schema}.{table}"
        for schema, table in con.execute(
            f"""SELECT schema_name, table_name FROM duckdb_tables()
                WHERE database_name = ? AND schema_name IN {PUBLISHED_SCHEMAS} AND NOT temporary
                ORDER BY schema_name, table_name""",
            [database],
        ).fetchall()
    ]


@contextmanager
def _publish_lock(target: Path) -> Iterator[None]:
    """One publish at a time per target (a second one waits: it then copies a newer snapshot)."""
    with open(f"{target}.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_stale(target: Path) -> int:
    """Remove what killed publishes left (``<target>.tmp-<pid>`` and its WAL); call under the lock."""
    stale = list(target.parent.glob(f"{target.name}.tmp-*"))
    for file in stale:
        file.unlink(missing_ok=True)
    return len(stale)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fingerprints(
    con: duckdb.DuckDBPyConnection, tables: list[str], catalog: str | None = None
) -> dict[str, tuple[int, str]]:
    """Rows and fingerprint of each table: its columns and types, row count and the sum of its rows' hashes.

    Equal fingerprints mean the same columns holding the same rows (up to a 64-bit hash collision): a sum,
    unlike XOR, does not cancel duplicate rows, and any changed, added or removed row moves it. The same
    table in the pipeline's file and in the copy has the same fingerprint (``catalog``: the copy's alias).
    """
    (database,) = (catalog,) if catalog else con.execute("SELECT current_database()").fetchone()
    columns = dict(
        con.execute(
            f"""SELECT schema_name || '.' || table_name,
                       string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index)
                FROM duckdb_columns()
                WHERE database_name = ? AND schema_name IN {PUBLISHED_SCHEMAS}
                GROUP BY ALL""",
            [database],
        ).fetchall()
    )
    prints = {}
    for table in tables:
        rows, hashed = con.execute(
            f"SELECT count(*), coalesce(sum(hash(*COLUMNS(*))::HUGEINT), 0) FROM {database}.{table}"
        ).fetchone()
        prints[table] = (rows, f"{rows}:{hashed}:{hashlib.sha256(columns[table].encode()).hexdigest()[:16]}")
    return prints


def _previous(target: Path) -> tuple[dict[str, tuple[str, datetime]], str | None]:
    """The fingerprints (and copy times) the current copy records, or why it cannot be started from.

    A copy whose file is more free space than data (tables replaced again and again) is not reused, so a
    full publish compacts it.
    """
    if not target.exists():
        return {}, "no previous copy"
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_text(str(target))} AS previous (READ_ONLY)")
        (recorded,) = con.execute(
            """SELECT count(*) FROM duckdb_columns() WHERE database_name = 'previous'
               AND schema_name = ? AND table_name = 'tables' AND column_name = 'fingerprint'""",
            [META_SCHEMA],
        ).fetchone()
        if not recorded:
            return {}, "the previous copy records no fingerprints"
        used, free = con.execute(
            "SELECT used_blocks, free_blocks FROM pragma_database_size() WHERE database_name = 'previous'"
        ).fetchone()
        if free > used:
            return {}, f"compacting the previous copy ({free} free blocks, {used} used)"
        rows = con.execute(
            f"""SELECT schema_name || '.' || table_name, fingerprint, copied_at
                FROM previous.{META_SCHEMA}.tables"""
        ).fetchall()
        return {table: (fingerprint, copied_at) for table, fingerprint, copied_at in rows}, None
    except duckdb.Error as err:
        return {}, f"the previous copy is unreadable ({type(err).__name__})"
    finally:
        con.close()


def _start_from_previous(con: duckdb.DuckDBPyConnection, kept: set[str]) -> None:
    """In the attached file copy of the previous copy, drop every table that is not kept, and ``meta``."""
    for table in published_tables(con, ALIAS):
        if table not in kept:
            con.execute(f"DROP TABLE {ALIAS}.{table}")
    for (schema,) in con.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND NOT internal",
        [ALIAS],
    ).fetchall():
        if schema not in PUBLISHED_SCHEMAS:  # meta is written anew; anything else never belonged there
            con.execute(f"DROP SCHEMA {ALIAS}.{schema} CASCADE")


def _copy(
    con: duckdb.DuckDBPyConnection, tmp: Path, previous: dict, run_id: str, source: Path
) -> tuple[datetime, dict[str, int], list[str]]:
    """Bring ``tmp`` (a file copy of the previous copy, or absent) to the pipeline's clean and marts tables.

    ``con`` is the pipeline's read connection: fingerprints and copies see one state of the file.
    """
    con.execute("SET enable_progress_bar = false")  # a copy of a few seconds must not draw on stdout
    (published_at,) = con.execute("SELECT get_current_timestamp()").fetchone()
    tables = published_tables(con)
    prints = fingerprints(con, tables)
    kept = {t for t in tables if t in previous and previous[t][0] == prints[t][1]}
    if not kept:
        tmp.unlink(missing_ok=True)  # nothing to keep: a fresh file, without the old one's free blocks
    con.execute(f"ATTACH {sql_text(str(tmp))} AS {ALIAS} (READ_WRITE)")
    try:
        copied = [t for t in tables if t not in kept]
        con.execute("BEGIN TRANSACTION")
        try:
            _start_from_previous(con, kept)
            for schema in (*PUBLISHED_SCHEMAS, META_SCHEMA):
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.{schema}")
            for table in copied:
                con.execute(f"CREATE TABLE {ALIAS}.{table} AS FROM {table}")
            con.execute(META_DDL)
            counts = {t: prints[t][0] for t in tables}
            con.execute(
                f"INSERT INTO {ALIAS}.{META_SCHEMA}.publish VALUES (?, ?, ?, ?, ?, version())",
                [published_at, str(source.resolve()), run_id, len(tables), sum(counts.values())],
            )
            con.executemany(
                f"INSERT INTO {ALIAS}.{META_SCHEMA}.tables VALUES (?, ?, ?, ?, ?)",
                [
                    [*t.split("."), prints[t][0], prints[t][1], previous[t][1] if t in kept else published_at]
                    for t in tables
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute(f"CHECKPOINT {ALIAS}")
    finally:
        con.execute(f"DETACH {ALIAS}")
    return published_at, counts, copied


def publish(warehouse: DuckDBWarehouse, target: Path, run_id: str) -> Published:
    """Publish clean and marts to ``target``: the changed tables copied, the new file renamed onto it."""
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _publish_lock(target):
        stale = _remove_stale(target)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        try:
            previous, full_reason = _previous(target)
            if previous:
                shutil.copyfile(target, tmp)  # the kernel copies the bytes; the mode is ours (writable)
            with warehouse.read() as con:
                locked = time.monotonic()
                published_at, counts, copied = _copy(con, tmp, previous, run_id, Path(warehouse.database))
                read_lock_s = time.monotonic() - locked
            if Path(f"{tmp}.wal").exists():  # a checkpointed, closed database has no WAL left
                raise RuntimeError(f"{tmp}.wal remains after the checkpoint: not publishing {tmp}")
            _fsync(tmp)
            tmp.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # analysts read; nobody writes it
            os.replace(tmp, target)
            _fsync(target.parent)
        except BaseException:
            for leftover in (tmp, Path(f"{tmp}.wal")):
                leftover.unlink(missing_ok=True)
            raise
    if full_reason is None and len(copied) == len(counts) and counts:
        full_reason = "every table changed"
    return Published(
        target=target,
        published_at=published_at,
        row_counts=counts,
        copied=copied,
        full_reason=full_reason,
        read_lock_s=read_lock_s,
        total_s=time.monotonic() - started,
        bytes=target.stat().st_size,
        stale_files_removed=stale,
    )
