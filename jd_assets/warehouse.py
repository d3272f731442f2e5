"""The DuckDB file: one writer at a time, short write transactions, readers never starved.

DuckDB lets a single process write a database file. Dagster runs steps in separate processes, so every
write goes through ``DuckDBWarehouse.write()``: an exclusive ``flock`` on a lock file beside the database,
one connection, one transaction, closed at once. The HTTP fetching of an asset happens *before* it asks
for the lock, so the lock is held only for the landing itself (a Dagster pool around the whole step would
serialize the slow HTTP part too). Readers inside the package take the same lock shared.

The warehouse *is* a ``dagster_duckdb.DuckDBResource``: a user's own asset takes it as
``duckdb: DuckDBResource`` and calls ``get_connection()`` as Dagster's DuckDB guide shows; that
connection takes the same exclusive lock, so it and the package's writers wait for each other instead of
failing on DuckDB's file lock.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field

from jd_assets.errors import ConfigError

T = TypeVar("T")
SCHEMAS = ("raw", "clean", "marts")
DEFAULT_DUCKDB_PATH = "data/jd.duckdb"


class WarehouseLockTimeout(RuntimeError):
    """Another writer held the DuckDB file longer than the configured timeout."""


class DuckDBWarehouse(DuckDBResource):
    """The analytics DuckDB file (``JD_DUCKDB_PATH``), with serialized, short write transactions."""

    database: str = Field(description="DuckDB file path (env JD_DUCKDB_PATH); its folder is created.")
    lock_timeout_s: float = Field(default=900.0, description="How long a writer waits for the file lock.")
    memory_limit: str = Field(
        default="3GB",
        description=(
            "DuckDB's memory limit (env JD_DUCKDB_MEMORY_LIMIT): past it, joins and aggregates spill to "
            "a temp folder beside the file, so rebuilding the marts stays within a small machine's RAM."
        ),
    )

    def _file(self) -> Path:
        if not self.database or self.database == ":memory:":
            raise ConfigError("JD_DUCKDB_PATH is empty: set it to the DuckDB file to write")
        return Path(self.database)

    @property
    def single_file(self) -> bool:
        """True when the warehouse is one local DuckDB file (one writer, no reader beside it).

        Only then does a published read-only copy for analysts make sense. A catalog that takes many
        readers by itself (a DuckLake catalog, issue 11, or MotherDuck) is not one file.
        """
        return not self.database.startswith(("ducklake:", "md:", "motherduck:"))

    def _wait_for(self, attempt: Callable[[], T], what: str) -> T:
        """Call ``attempt`` until it stops raising BlockingIOError, or time out naming ``what``."""
        started = time.monotonic()
        while True:
            try:
                return attempt()
            except BlockingIOError:
                if time.monotonic() - started > self.lock_timeout_s:
                    raise WarehouseLockTimeout(
                        f"waited {self.lock_timeout_s:.0f}s for {what} on {self._file()}"
                    ) from None
                time.sleep(0.02)

    @contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        file = self._file()
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{file}.lock", "a+") as handle:
            self._wait_for(lambda: fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB), "the write lock")
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Connect, waiting while a process outside the package (an analyst's session) holds the file."""

        def attempt() -> duckdb.DuckDBPyConnection:
            try:
                return duckdb.connect(
                    str(self._file()),
                    read_only=read_only,
                    config={**self.connection_config, "memory_limit": self.memory_limit},
                )
            except duckdb.IOException as err:
                if "lock" in str(err).lower():
                    raise BlockingIOError(str(err)) from None
                raise

        return self._wait_for(attempt, "DuckDB's file lock")

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction under the exclusive lock: committed on success, rolled back on error."""
        with self._lock(fcntl.LOCK_EX):
            con = self._connect(read_only=False)
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            finally:
                con.close()

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Dagster's ``DuckDBResource`` connection (read-write, autocommit), under the exclusive lock.

        For a user's own asset: it waits for the package's writers, and they wait for it, so neither
        fails on DuckDB's single-writer lock. Keep what runs inside it short.
        """
        with self._lock(fcntl.LOCK_EX):
            con = self._connect(read_only=False)
            try:
                ensure_schemas(con)
                yield con
            finally:
                con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, taken while no package writer holds the file."""
        if not self._file().exists():
            with self.write() as con:
                ensure_schemas(con)
        with self._lock(fcntl.LOCK_SH):
            con = self._connect(read_only=True)
            try:
                yield con
            finally:
                con.close()


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def markdown_preview(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None
) -> dg.MetadataValue:
    """A few rows as a markdown table for a materialization page (``|`` and line breaks made harmless).

    DuckDB renders every cell as text, polars builds the table's lines as columns: no loop over rows.
    """
    frame = con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM ({sql})", params or {}).pl()
    cells = [
        pl.col(name).fill_null("").str.replace_all("|", "/", literal=True).str.replace_all("\n", " ")
        for name in frame.columns
    ]
    rows = frame.select(pl.concat_str(cells, separator=" | ").alias("row"))["row"] if cells else []
    header = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return dg.MetadataValue.md("\n".join([*header, *(f"| {row} |" for row in rows)]))
