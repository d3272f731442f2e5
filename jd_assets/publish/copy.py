"""How the analysts' copy is published: clean and marts copied to a new file, swapped in by a rename.

DuckDB lets one process write a file and no other process hold it meanwhile, read-only or not: an analyst's
session on the pipeline's file would stall every landing for as long as it stays open. So analysts read a
separate file (``JD_ANALYTICS_PATH``, ``data/jd_analytics.duckdb`` by default) that the pipeline never
opens again once it is written:

1. under a publish lock beside the target (two publishes run one after the other, so the newer snapshot
   always lands last), files left by a publish that was killed (``<target>.tmp-<pid>``) are removed;
2. under the warehouse's *shared* read lock (other readers go on; a writer waits for the copy only), one
   read-only connection to the pipeline's file attaches a new file ``<target>.tmp-<pid>`` and copies every
   table of the ``clean`` and ``marts`` schemas found in the file (``duckdb_tables()``: a table added
   later is published without a code change), with a ``meta`` schema saying when, from where and how
   many rows; ``raw`` is never copied (it holds buyer PII);
3. the new file is checkpointed, closed, fsynced and made read-only (mode 0444), then ``os.replace``\\ d
   onto the target (atomic on one filesystem) and the folder fsynced.

A session open on the previous copy keeps reading it (the old inode lives while it is open); the next
connection opens the new one. A process killed at any point leaves the previous copy whole.
"""

from __future__ import annotations

import fcntl
import os
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
    read_lock_s: float  # how long the pipeline's file was held (shared) for the copy
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


def _copy(con: duckdb.DuckDBPyConnection, tmp: Path, run_id: str, source: Path) -> tuple[datetime, dict]:
    """Copy clean and marts into the new file ``tmp`` through the pipeline's read connection ``con``."""
    con.execute("SET enable_progress_bar = false")  # a copy of a few seconds must not draw on stdout
    con.execute(f"ATTACH {sql_text(str(tmp))} AS {ALIAS} (READ_WRITE)")
    try:
        (published_at,) = con.execute("SELECT get_current_timestamp()").fetchone()
        tables = published_tables(con)
        counts: dict[str, int] = {}
        con.execute("BEGIN TRANSACTION")
        try:
            for schema in (*PUBLISHED_SCHEMAS, META_SCHEMA):
                con.execute(f"CREATE SCHEMA {ALIAS}.{schema}")
            for table in tables:
                con.execute(f"CREATE TABLE {ALIAS}.{table} AS FROM {table}")
                (counts[table],) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            con.execute(META_DDL)
            con.execute(
                f"INSERT INTO {ALIAS}.{META_SCHEMA}.publish VALUES (?, ?, ?, ?, ?, version())",
                [published_at, str(source.resolve()), run_id, len(tables), sum(counts.values())],
            )
            con.executemany(
                f"INSERT INTO {ALIAS}.{META_SCHEMA}.tables VALUES (?, ?, ?)",
                [[*table.split("."), n] for table, n in counts.items()],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute(f"CHECKPOINT {ALIAS}")
    finally:
        con.execute(f"DETACH {ALIAS}")
    return published_at, counts


def publish(warehouse: DuckDBWarehouse, target: Path, run_id: str) -> Published:
    """Publish the pipeline's clean and marts tables to ``target``: built beside it, renamed onto it."""
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _publish_lock(target):
        stale = _remove_stale(target)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        try:
            with warehouse.read() as con:
                locked = time.monotonic()
                published_at, counts = _copy(con, tmp, run_id, Path(warehouse.database))
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
    return Published(
        target=target,
        published_at=published_at,
        row_counts=counts,
        read_lock_s=read_lock_s,
        total_s=time.monotonic() - started,
        bytes=target.stat().st_size,
        stale_files_removed=stale,
    )
