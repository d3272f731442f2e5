"""Incremental upkeep of the derived tables: what changed upstream, and only those keys rebuilt.

A full rebuild of clean and marts re-reads every raw JSON record; after a day's new data almost all of it
is unchanged. So each derived table, inside its one write transaction, finds what changed since it was
last built and deletes then re-inserts only those keys (or groups: a SKU, an order day). The state that
makes this exact lives in schema ``meta`` (never published), in tables of each derived table's own
(``meta.derived_<kind>_<schema>_<table>``), so that builds of different tables never write the same table
(on a DuckLake, where writers run side by side, they never conflict):

- ``build``: a digest of the table's SQL and a change counter ``seq``. A table whose SQL changed (a new
  column, a new rule) is rebuilt whole by itself, as is a missing table.
- ``log``: the keys (and their SKU and day) each build of a clean table changed, tagged with its ``seq``;
  a whole rebuild writes one row with a NULL key instead, which sends every reader to a whole rebuild
  too. A table prunes the rows every reader has consumed when it builds.
- ``cursor``: per upstream table, the ``seq`` this table has consumed.
- ``seen``: for a reader of a raw table whose landings replace whole partitions (an order day, a SKU's
  details, a ware), the (partition, key, fetched_at) it consumed. A partition whose rows, or whose fetch
  times, differ from it was re-landed: all its keys are rebuilt, old and new, so a row that left raw
  leaves the derived table too.

``raw.comments`` is merged, not replaced (new reviews appended, ``last_seen_at`` moved on the ones seen
again): it is read through a watermark on ``last_seen_at`` instead, see ``clean/comments.py``.

``DerivedConfig.full_rebuild`` (run config), or the run tag ``jd/full_rebuild=true`` for every table of a
run, forces the whole rebuild.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import dagster as dg
import duckdb

#: Run tag that makes every derived table of the run rebuild whole.
FULL_REBUILD_TAG = "jd/full_rebuild"

_COLUMNS = {
    "build": "sql_digest VARCHAR, seq BIGINT, watermark TIMESTAMPTZ",
    "log": "seq BIGINT, key VARCHAR, sku_id VARCHAR, day DATE",
    "cursor": "upstream VARCHAR, seq BIGINT",
    "seen": "part VARCHAR, key VARCHAR, fetched_at TIMESTAMPTZ",
}


def state(kind: str, table: str) -> str:
    """The ``meta`` table of one kind of state of one derived table (see the module docstring)."""
    return f"meta.derived_{kind}_{re.sub('[^a-z0-9]', '_', table.lower())}"


def _ensure(con: duckdb.DuckDBPyConnection, table: str, *kinds: str) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS meta")
    for kind in kinds:
        con.execute(f"CREATE TABLE IF NOT EXISTS {state(kind, table)} ({_COLUMNS[kind]})")


class DerivedConfig(dg.Config):
    full_rebuild: bool = False
    """Rebuild the table whole from its inputs instead of only what changed (a changed SQL does so
    by itself)."""


def full_requested(context: dg.AssetExecutionContext, config: DerivedConfig) -> bool:
    return config.full_rebuild or context.run.tags.get(FULL_REBUILD_TAG, "").lower() == "true"


def digest(*sql: str) -> str:
    """What identifies the SQL a table is built with: a changed statement means a whole rebuild."""
    return hashlib.sha256("\n".join(sql).encode()).hexdigest()[:16]


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


@dataclass
class Build:
    """One build of a derived table: whole or incremental, and what it read of each upstream log."""

    table: str
    sql_digest: str
    seq: int
    full: bool
    reason: str
    #: upstream table -> (consumed seq, current seq)
    upstreams: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    #: how far a merged raw table was read (its newest last_seen_at), for the next build
    watermark: object = None

    def metadata(self, changed: int | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "build": "full" if self.full else "incremental",
            "build_reason": self.reason,
        }
        if changed is not None and not self.full:
            out["changed_keys"] = int(changed)
        return out


def _seq(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int | None, str | None, object]:
    if not table_exists(con, state("build", table)):
        return None, None, None
    row = con.execute(f"SELECT seq, sql_digest, watermark FROM {state('build', table)}").fetchone()
    return (int(row[0]), row[1], row[2]) if row else (None, None, None)


def begin(
    con: duckdb.DuckDBPyConnection,
    table: str,
    sql_digest: str,
    *,
    full: bool,
    upstreams: tuple[str, ...] = (),
) -> Build:
    """Decide whole or incremental for ``table`` (inside its write transaction) and take its next seq."""
    _ensure(con, table, "build", "log", "cursor")
    seq, stored_digest, watermark = _seq(con, table)
    reason = "only what changed"
    if full:
        reason = "full rebuild requested"
    elif not table_exists(con, table):
        reason, full = "table missing", True
    elif seq is None:
        reason, full = "no build state yet", True
    elif stored_digest != sql_digest:
        reason, full = "its SQL changed", True
    states: dict[str, tuple[int | None, int | None]] = {}
    for upstream in upstreams:
        cursor = con.execute(
            f"SELECT seq FROM {state('cursor', table)} WHERE upstream = ?", [upstream]
        ).fetchone()
        consumed = int(cursor[0]) if cursor else None
        current = _seq(con, upstream)[0]
        states[upstream] = (consumed, current)
        if full:
            continue
        if current is None or consumed is None:
            reason, full = f"no change log of {upstream} to follow", True
        elif con.execute(
            f"SELECT count(*) FROM {state('log', upstream)} WHERE seq > ? AND key IS NULL", [consumed]
        ).fetchone()[0]:
            reason, full = f"{upstream} was rebuilt whole", True
    return Build(table, sql_digest, (seq or 0) + 1, full, reason, states, watermark)


def changed_upstream(build: Build, upstream: str) -> str:
    """SQL: the log rows (key, sku_id, day) of ``upstream`` this build has not consumed yet."""
    consumed, current = build.upstreams[upstream]
    return (
        f"SELECT key, sku_id, day FROM {state('log', upstream)} "
        f"WHERE seq > {consumed or 0} AND seq <= {current or 0}"
    )


def log_rows(con: duckdb.DuckDBPyConnection, build: Build, rows_sql: str) -> None:
    """Record the rows (key, sku_id, day) of ``rows_sql`` as changed by this build."""
    con.execute(
        f"INSERT INTO {state('log', build.table)} "
        f"SELECT ?, CAST(key AS VARCHAR), sku_id, day FROM ({rows_sql})",
        [build.seq],
    )


def _nothing_to_store(con: duckdb.DuckDBPyConnection, build: Build) -> bool:
    """True for an incremental build that consumed no upstream change, logged no row and kept its
    watermark: the stored state already says all of it (a reader sees the same log under the old seq).

    Writing it again would make the session checkpoint the whole file on close, 0.1-0.25 s at 5M, for a
    step with nothing to do; a session that wrote nothing closes in milliseconds.
    """
    if build.full or any(consumed != current for consumed, current in build.upstreams.values()):
        return False
    log, stored = state("log", build.table), state("build", build.table)
    (same,) = con.execute(
        f"""SELECT NOT EXISTS (SELECT 1 FROM {log} WHERE seq = $seq)
                   AND (SELECT watermark IS NOT DISTINCT FROM $watermark FROM {stored})""",
        {"seq": build.seq, "watermark": build.watermark},
    ).fetchone()
    return bool(same)


def finish(con: duckdb.DuckDBPyConnection, build: Build) -> None:
    """Store the build's seq and digest, its cursors, a whole-rebuild marker; prune the log rows every
    reader of this table has consumed. A build with nothing new stores nothing (see _nothing_to_store)."""
    if _nothing_to_store(con, build):
        return
    log = state("log", build.table)
    if build.full:
        con.execute(f"DELETE FROM {log}")
        con.execute(f"INSERT INTO {log} VALUES (?, NULL, NULL, NULL)", [build.seq])
    con.execute(f"DELETE FROM {state('build', build.table)}")
    con.execute(
        f"INSERT INTO {state('build', build.table)} VALUES (?, ?, ?)",
        [build.sql_digest, build.seq, build.watermark],
    )
    con.execute(f"DELETE FROM {state('cursor', build.table)}")
    for upstream, (_, current) in build.upstreams.items():
        if current is not None:
            con.execute(f"INSERT INTO {state('cursor', build.table)} VALUES (?, ?)", [upstream, current])
    readers = [
        f"SELECT seq FROM meta.{name} WHERE upstream = $me"
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'meta' AND starts_with(table_name, 'derived_cursor_')"
        ).fetchall()
    ]
    con.execute(
        f"DELETE FROM {log} WHERE seq <= (SELECT min(seq) FROM ({' UNION ALL '.join(readers)}))",
        {"me": build.table},
    )


def log_step(con: duckdb.DuckDBPyConnection, table: str, rows_sql: str) -> None:
    """For a table written in several transactions (review signals): one seq per transaction.

    A table with no state yet gets a whole-rebuild marker first: its earlier changes were never logged.
    """
    _ensure(con, table, "build", "log", "cursor")
    seq, stored, _ = _seq(con, table)
    build = Build(table, stored or "", (seq or 0) + 1, seq is None, "")
    if build.full:
        finish(con, build)
        build = Build(table, stored or "", build.seq + 1, False, "")
    log_rows(con, build, rows_sql)
    finish(con, build)


def follow(con: duckdb.DuckDBPyConnection, reader: str, upstream: str) -> tuple[int | None, int | None]:
    """For a ``reader`` that keeps its own cursor on ``upstream``'s log outside :func:`begin`: (consumed,
    current) seq. ``consumed`` is None when the log cannot be followed from the cursor (no cursor yet, no
    log, or a whole rebuild of ``upstream`` since): the reader must then look at the whole table."""
    _ensure(con, reader, "cursor")
    cursor = con.execute(
        f"SELECT seq FROM {state('cursor', reader)} WHERE upstream = ?", [upstream]
    ).fetchone()
    current = _seq(con, upstream)[0]
    if cursor is None or current is None:
        return None, current
    consumed = int(cursor[0])
    (rebuilt,) = con.execute(
        f"SELECT count(*) FROM {state('log', upstream)} WHERE seq > ? AND key IS NULL", [consumed]
    ).fetchone()
    return (None if rebuilt else consumed), current


def advance(con: duckdb.DuckDBPyConnection, reader: str, upstream: str, current: int | None) -> None:
    """Move ``reader``'s cursor on ``upstream`` to ``current`` (see :func:`follow`)."""
    con.execute(f"DELETE FROM {state('cursor', reader)} WHERE upstream = ?", [upstream])
    if current is not None:
        con.execute(f"INSERT INTO {state('cursor', reader)} VALUES (?, ?)", [upstream, current])


def log_keys(upstream: str, consumed: int, current: int | None) -> str:
    """SQL: the distinct keys (column ``key``) of ``upstream``'s log rows in (consumed, current]."""
    return (
        f"SELECT DISTINCT key FROM {state('log', upstream)} "
        f"WHERE seq > {consumed} AND seq <= {current or 0} AND key IS NOT NULL"
    )


def changed_partitions(
    con: duckdb.DuckDBPyConnection, consumer: str, raw_sql: str, into: str = "changed_keys"
) -> int:
    """Keys of the partitions of a replaced-per-partition raw table that changed since ``consumer`` read it.

    ``raw_sql`` gives (part, key, fetched_at) of every raw row. A partition whose row count or fetch times
    differ from what ``consumer`` consumed (its ``seen`` table) was landed again, or dropped: its keys,
    old and new, go to temp table ``into`` (column ``key``), and the consumed state is moved on. Returns
    how many keys.
    """
    seen = state("seen", consumer)
    _ensure(con, consumer, "seen")
    # raw is summed up per partition first: only the rows of changed partitions are copied (a day's
    # orders, not the million before them)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE changed_parts AS
        WITH now_ AS (SELECT CAST(part AS VARCHAR) AS part, n, lo, hi FROM (
                          SELECT part, count(*) AS n, min(fetched_at) AS lo, max(fetched_at) AS hi
                          FROM ({raw_sql}) GROUP BY part)),
        seen AS (SELECT part, count(*) AS n, min(fetched_at) AS lo, max(fetched_at) AS hi
                 FROM {seen} GROUP BY part)
        SELECT part FROM (SELECT * FROM now_ EXCEPT SELECT * FROM seen)
        UNION SELECT part FROM (SELECT * FROM seen EXCEPT SELECT * FROM now_)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE raw_state AS
        SELECT * FROM (SELECT CAST(part AS VARCHAR) AS part, CAST(key AS VARCHAR) AS key, fetched_at
                       FROM ({raw_sql}))
        WHERE part IN (SELECT part FROM changed_parts)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT key FROM raw_state WHERE part IN (SELECT part FROM changed_parts)
        UNION SELECT key FROM {seen} WHERE part IN (SELECT part FROM changed_parts)"""
    )
    con.execute(f"DELETE FROM {seen} WHERE part IN (SELECT part FROM changed_parts)")
    con.execute(
        f"INSERT INTO {seen} SELECT part, key, fetched_at FROM raw_state "
        "WHERE part IN (SELECT part FROM changed_parts)"
    )
    return int(con.execute(f"SELECT count(*) FROM {into}").fetchone()[0])


def reset_seen(con: duckdb.DuckDBPyConnection, consumer: str, raw_sql: str) -> None:
    """After a whole rebuild: ``consumer`` has consumed every row of ``raw_sql`` (part, key, fetched_at)."""
    seen = state("seen", consumer)
    _ensure(con, consumer, "seen")
    con.execute(f"DELETE FROM {seen}")
    con.execute(
        f"INSERT INTO {seen} SELECT CAST(part AS VARCHAR), CAST(key AS VARCHAR), fetched_at FROM ({raw_sql})"
    )


def replace_keys(
    con: duckdb.DuckDBPyConnection,
    build: Build,
    key: str,
    insert_sql: str,
    keys: str = "changed_keys",
    sku: str | None = None,
    log: bool = True,
    day: str | None = None,
) -> None:
    """Delete the rows of ``build.table`` whose ``key`` is in temp table ``keys``, run ``insert_sql`` (which
    inserts exactly those keys' new rows), and, when a reader follows the table (``log``), log the keys
    (with their SKU, old and new, when ``sku``)."""
    changed = f"{key} IN (SELECT key FROM {keys})"
    old_and_new = (
        f"SELECT {key} AS key, {sku} AS sku_id, {day or 'CAST(NULL AS DATE)'} AS day "
        f"FROM {build.table} WHERE {changed}"
    )
    if log and sku:
        log_rows(con, build, old_and_new)
    elif log:
        log_rows(
            con, build, f"SELECT key, CAST(NULL AS VARCHAR) AS sku_id, CAST(NULL AS DATE) AS day FROM {keys}"
        )
    con.execute(f"DELETE FROM {build.table} WHERE {changed}")
    con.execute(insert_sql)
    if log and sku:
        log_rows(con, build, old_and_new)


def changed_reviews(con: duckdb.DuckDBPyConnection, build: Build) -> None:
    """Temp table ``changed_reviews`` (key, sku_id, versions): the keys of the upstream logs this build has
    not consumed, one row per log row, with how many log rows the key has (2 = an old and a new version)."""
    logs = " UNION ALL ".join(
        f"SELECT key, sku_id FROM ({changed_upstream(build, u)}) WHERE key IS NOT NULL"
        for u in build.upstreams
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE changed_reviews AS "
        f"SELECT key, sku_id, count(*) OVER (PARTITION BY key) AS versions FROM ({logs})"
    )
