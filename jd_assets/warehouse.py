"""The DuckDB file: one writer at a time, short write transactions, readers never starved.

DuckDB lets a single process write a database file. Dagster runs steps in separate processes, so every
write goes through ``DuckDBWarehouse.write()``: an exclusive ``flock`` on a lock file beside the database,
one connection, one transaction, closed at once. The HTTP fetching of an asset happens *before* it asks
for the lock, so the lock is held only for the landing itself (a Dagster pool around the whole step would
serialize the slow HTTP part too). Readers inside the package take the same lock shared.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from jd_assets.http.errors import ConfigError

SCHEMAS = ("raw", "clean", "marts")
DEFAULT_DUCKDB_PATH = "data/jd.duckdb"


class WarehouseLockTimeout(RuntimeError):
    """Another writer held the DuckDB file longer than the configured timeout."""


class DuckDBWarehouse(dg.ConfigurableResource):
    """The analytics DuckDB file (``JD_DUCKDB_PATH``), with serialized, short write transactions."""

    path: str = Field(description="DuckDB file path (env JD_DUCKDB_PATH); its folder is created.")
    lock_timeout_s: float = Field(default=900.0, description="How long a writer waits for the file lock.")

    def _file(self) -> Path:
        if not self.path:
            raise ConfigError("JD_DUCKDB_PATH is empty: set it to the DuckDB file to write")
        return Path(self.path)

    @contextmanager
    def _lock(self, mode: int) -> Iterator[float]:
        file = self._file()
        file.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(f"{file}.lock", "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() - started > self.lock_timeout_s:
                        raise WarehouseLockTimeout(
                            f"waited {self.lock_timeout_s:.0f}s for the write lock on {file}"
                        ) from None
                    time.sleep(0.02)
            try:
                yield time.monotonic() - started
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction under the exclusive lock: committed on success, rolled back on error."""
        with self._lock(fcntl.LOCK_EX):
            con = duckdb.connect(str(self._file()))
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
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, taken while no package writer holds the file."""
        if not self._file().exists():
            with self.write() as con:
                ensure_schemas(con)
        with self._lock(fcntl.LOCK_SH):
            con = duckdb.connect(str(self._file()), read_only=True)
            try:
                yield con
            finally:
                con.close()


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
