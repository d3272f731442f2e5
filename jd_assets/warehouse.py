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

Waiting is never silent and never mistaken: only DuckDB's own lock conflict ("Could not set lock on
file ... Conflicting lock is held in <process> (PID n)") is waited for, with a log line when the wait
starts and every ``wait_log_every_s`` after, naming the holder; any other DuckDB IO error (a damaged
file, a path that is not a database) fails at once naming the file and what to do. The path itself is
checked when a run starts (``setup_for_execution``), before any gateway call, naming ``JD_DUCKDB_PATH``.
"""

from __future__ import annotations

import fcntl
import os
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


PATH_ENV = "JD_DUCKDB_PATH"
#: DuckDB's text for a lock conflict (another process holds the file); nothing else is a lock to wait for.
DUCKDB_LOCK_CONFLICT = "could not set lock on file"
#: DuckDB's texts for a file that is damaged or is not a database: waiting cannot help.
DUCKDB_DAMAGED = ("corrupt database file", "not a valid duckdb database file", "checksum")
#: A wait for the package's own lock (another landing) is normal and short: logged only past this.
OWN_LOCK_QUIET_S = 1.0

log = dg.get_dagster_logger("jd_assets.warehouse")


class WarehouseLockTimeout(RuntimeError):
    """Another writer held the DuckDB file longer than the configured timeout."""


class WarehouseFileError(ConfigError):
    """The DuckDB file cannot be used (a bad ``JD_DUCKDB_PATH``, a damaged file): waiting cannot help."""


class _Busy(Exception):
    """The file is held by someone else; ``holder`` says who (DuckDB's message, or the lock's holders)."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


def damaged_file_error(file: Path, err: BaseException) -> WarehouseFileError:
    """The error for a DuckDB file that is damaged: what happened and what to do."""
    return WarehouseFileError(
        f"the DuckDB file {file} ({PATH_ENV}) is damaged, waiting cannot help: {str(err)[:300]}. "
        "Restore it from a backup, or move it aside and rebuild it: raw from the gateways (re-materialize "
        "the raw partitions; comments JD no longer serves are lost), then clean and marts, which are "
        "derived (derived_tables_job)"
    )


def is_damaged(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, duckdb.Error) and any(marker in text for marker in DUCKDB_DAMAGED)


def _flock_holders(lock_file: Path) -> str:
    """Who holds ``lock_file``'s flock, from /proc/locks (Linux); empty where that is not available."""
    try:
        inode = lock_file.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return ""
    pids = []
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            pids.append(fields[4])
    described = []
    for pid in dict.fromkeys(pids):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            command = "?"
        described.append(f"PID {pid} ({command.strip()[:80]})")
    return "held by " + ", ".join(described) if described else ""


class DuckDBWarehouse(DuckDBResource):
    """The analytics DuckDB file (``JD_DUCKDB_PATH``), with serialized, short write transactions."""

    database: str = Field(description="DuckDB file path (env JD_DUCKDB_PATH); its folder is created.")
    lock_timeout_s: float = Field(default=900.0, description="How long a writer waits for the file lock.")
    wait_log_every_s: float = Field(
        default=5.0, description="While waiting for the file, log who holds it this often (seconds)."
    )
    memory_limit: str = Field(
        default="3GB",
        description=(
            "DuckDB's memory limit (env JD_DUCKDB_MEMORY_LIMIT): past it, joins and aggregates spill to "
            "a temp folder beside the file, so rebuilding the marts stays within a small machine's RAM."
        ),
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At run start, before any asset fetches (and bills) anything: the path must be usable."""
        self.check_path()

    def _file(self) -> Path:
        if not self.database or self.database == ":memory:":
            raise WarehouseFileError(f"{PATH_ENV} is empty: set it to the DuckDB file to write")
        return Path(self.database)

    def check_path(self) -> Path:
        """The DuckDB file's path, checked: not a folder, its folder creatable and writable.

        Raises WarehouseFileError naming ``JD_DUCKDB_PATH`` and what is wrong, never a bare OSError.
        """
        file = self._file()
        if not self.single_file:  # a catalog URL (DuckLake, MotherDuck): no local folder to check
            return file
        where = f"{PATH_ENV}={file}"
        if file.is_dir():
            raise WarehouseFileError(
                f"{where} is a folder: set {PATH_ENV} to a file in it, e.g. {file / 'jd.duckdb'}"
            )
        for ancestor in (file.parent, *file.parent.parents):
            if ancestor.exists():
                if not ancestor.is_dir():
                    raise WarehouseFileError(f"{where}: {ancestor} is a file, not a folder")
                break
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WarehouseFileError(
                f"{where}: cannot create its folder {file.parent} ({err.strerror})"
            ) from None
        try:
            with open(f"{file}.lock", "a+"):
                pass
        except OSError as err:
            raise WarehouseFileError(
                f"{where}: cannot write in {file.parent} ({err.strerror}); DuckDB needs the file, its "
                f".wal and a .lock beside it"
            ) from None
        if file.exists() and not os.access(file, os.R_OK | os.W_OK):
            raise WarehouseFileError(f"{where}: the file is not writable")
        return file

    @property
    def single_file(self) -> bool:
        """True when the warehouse is one local DuckDB file (one writer, no reader beside it).

        Only then does a published read-only copy for analysts make sense. A catalog that takes many
        readers by itself (a DuckLake catalog, issue 11, or MotherDuck) is not one file.
        """
        return not self.database.startswith(("ducklake:", "md:", "motherduck:"))

    def _wait_for(self, attempt: Callable[[], T], what: str, quiet_s: float = 0.0) -> T:
        """Call ``attempt`` until it stops raising _Busy, or time out naming ``what`` and the holder.

        The wait is logged when it starts (past ``quiet_s``) and every ``wait_log_every_s`` after.
        """
        started = time.monotonic()
        next_log = quiet_s
        logged = False
        while True:
            try:
                result = attempt()
            except _Busy as busy:
                waited = time.monotonic() - started
                if waited > self.lock_timeout_s:
                    raise WarehouseLockTimeout(
                        f"waited {self.lock_timeout_s:.0f}s for {what} on {self._file()}: {busy.holder}"
                    ) from None
                if waited >= next_log:
                    state = "still waiting" if logged else "waiting"
                    log.warning(
                        f"{state} for {what} on {self._file()} ({waited:.0f}s of "
                        f"{self.lock_timeout_s:.0f}s): {busy.holder or 'holder unknown'}"
                    )
                    logged = True
                    next_log = waited + self.wait_log_every_s
                time.sleep(0.02)
            else:
                if logged:
                    log.info(f"got {what} on {self._file()} after {time.monotonic() - started:.1f}s")
                return result

    @contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        lock_file = Path(f"{self.check_path()}.lock")
        with open(lock_file, "a+") as handle:

            def attempt() -> None:
                try:
                    fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise _Busy(_flock_holders(lock_file) or "held by another jd_assets writer") from None

            self._wait_for(attempt, "the write lock", quiet_s=OWN_LOCK_QUIET_S)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Connect, waiting while a process outside the package (an analyst's session) holds the file.

        Only DuckDB's lock conflict is waited for; a damaged file or any other IO error fails at once.
        """
        file = self._file()

        def attempt() -> duckdb.DuckDBPyConnection:
            try:
                return duckdb.connect(
                    str(file),
                    read_only=read_only,
                    config={**self.connection_config, "memory_limit": self.memory_limit},
                )
            except duckdb.IOException as err:
                if DUCKDB_LOCK_CONFLICT in str(err).lower():
                    raise _Busy(f"DuckDB: {str(err)[:400]}") from None
                if is_damaged(err):
                    raise damaged_file_error(file, err) from None
                raise WarehouseFileError(
                    f"DuckDB cannot open {file} ({PATH_ENV}): {str(err)[:300]}"
                ) from None

        return self._wait_for(attempt, "DuckDB's file lock")

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """A damaged block met while working (not only when connecting) fails naming the file too."""
        try:
            yield
        except duckdb.Error as err:
            if is_damaged(err):
                raise damaged_file_error(self._file(), err) from None
            raise

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction under the exclusive lock: committed on success, rolled back on error."""
        with self._lock(fcntl.LOCK_EX), self._damage_named():
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
        with self._lock(fcntl.LOCK_EX), self._damage_named():
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
        with self._lock(fcntl.LOCK_SH), self._damage_named():
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
