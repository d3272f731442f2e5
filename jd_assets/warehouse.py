"""The warehouse: one DuckDB file (the default) or a DuckLake catalog, behind one resource.

**One file** (``JD_DUCKDB_PATH``, the default).

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

**A DuckLake catalog** (``JD_DUCKLAKE_CATALOG`` + ``JD_DUCKLAKE_DATA_PATH``): the catalog in a database
(PostgreSQL for many machines), the data as Parquet files in a folder or object store. Every connection
is an in-memory DuckDB that attaches the lake as ``lake`` and makes it the default (``USE``), so the same
SQL reads and writes ``raw.*``, ``clean.*`` and ``marts.*`` there. There is no flock: each ``write()`` is
one DuckLake transaction (one snapshot), concurrent writers from any process or host commit side by side
(DuckLake retries a commit that raced another one without a logical conflict), and a reader sees the last
snapshot committed when its transaction began. The two extensions come from PyPI wheels (the ``lake``
extra) and are loaded from their files: nothing is downloaded at run time.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
#: The catalog name a DuckLake warehouse is attached under (and made the default with ``USE``).
LAKE_ALIAS = "lake"
#: The DuckDB extensions a DuckLake warehouse loads (PyPI wheels ``duckdb-extension-<name>``, extra ``lake``).
LAKE_EXTENSIONS = ("ducklake", "postgres_scanner")


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


def is_lake_conflict(err: BaseException) -> bool:
    """A DuckLake commit refused because another writer committed a conflicting change meanwhile.

    (For example, in DuckLake 1.5.5, an insert into a table that another transaction deleted from: two
    re-landings of different partitions of one table.) Nothing of the refused transaction was written.
    """
    return isinstance(err, duckdb.TransactionException) and "conflict" in str(err).lower()


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
    """The analytics DuckDB file (``JD_DUCKDB_PATH``), with serialized, short write transactions; or a
    DuckLake catalog (``JD_DUCKLAKE_CATALOG``), where writers commit side by side."""

    database: str = Field(
        description=(
            "DuckDB file path (env JD_DUCKDB_PATH; its folder is created), or a DuckLake catalog "
            "``ducklake:<catalog>`` (env JD_DUCKLAKE_CATALOG, e.g. ``ducklake:postgres:dbname=jd host=...``)."
        )
    )
    data_path: str = Field(
        default="",
        description=(
            "DuckLake only: where the Parquet data files go (env JD_DUCKLAKE_DATA_PATH), a folder "
            "(created) or an object-store URL such as ``s3://bucket/jd/``."
        ),
    )
    lock_timeout_s: float = Field(default=900.0, description="How long a writer waits for the file lock.")
    wait_log_every_s: float = Field(
        default=5.0, description="While waiting for the file, log who holds it this often (seconds)."
    )
    conflict_retries: int = Field(
        default=50,
        description=(
            "DuckLake only: how often transact() runs a write again after a conflicting commit of another "
            "writer (with a growing, jittered wait; the HTTP fetch is never repeated)."
        ),
    )
    memory_limit: str = Field(
        default="3GB",
        description=(
            "DuckDB's memory limit (env JD_DUCKDB_MEMORY_LIMIT): past it, joins and aggregates spill to "
            "a temp folder beside the file, so rebuilding the marts stays within a small machine's RAM."
        ),
    )

    @property
    def is_lake(self) -> bool:
        """True when the warehouse is a DuckLake catalog (no file lock: DuckLake's transactions)."""
        return self.database.startswith("ducklake:")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At run start, before any asset fetches (and bills) anything: the path must be usable."""
        if self.is_lake:
            require_data_path(self)
        else:
            self.check_path()

    def _file(self) -> Path:
        if self.is_lake:
            raise ConfigError("a DuckLake warehouse has no single DuckDB file")
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
    def _session(
        self, *, read_only: bool, lock: int, landing: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one unit of work: the lake's (no lock), or the file's under ``lock``.

        ``landing``: a small write of one partition; on the lake it runs on one DuckDB thread (see
        ``LANDING_THREADS``).
        """
        if self.is_lake:
            con = lake_connection(self, landing=landing)
            try:
                yield con
            finally:
                con.close()
            return
        with self._lock(lock), self._damage_named():
            con = self._connect(read_only=read_only)
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: committed on success, rolled back on error.

        On the file, under the exclusive lock; on a DuckLake catalog, one snapshot, beside other writers.
        """
        with self._write() as con:
            yield con

    @contextmanager
    def _write(self, *, landing: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._session(read_only=False, lock=fcntl.LOCK_EX, landing=landing) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            # A COMMIT that fails (a DuckLake conflict) has rolled the transaction back itself.
            con.execute("COMMIT")

    def transact(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, int]:
        """Run ``work`` in one write transaction; returns its result and how many conflicts were retried.

        On the file there is never a conflict (writers take turns). On a DuckLake catalog a commit can be
        refused because another writer committed a conflicting change meanwhile: nothing was written, and
        ``work`` runs again in a new transaction on the newer snapshot. This is optimistic concurrency as
        DuckLake defines it, not a lock: writers never wait for each other, only a refused one repeats.
        ``work`` is one partition's landing: on the lake it runs on one DuckDB thread.
        """
        retried = 0
        while True:
            try:
                with self._write(landing=True) as con:
                    return work(con), retried
            except duckdb.TransactionException as err:
                if not (self.is_lake and is_lake_conflict(err)) or retried >= self.conflict_retries:
                    raise
                retried += 1
                time.sleep(random.uniform(0.0, min(2.0, 0.05 * 1.5**retried)))

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Dagster's ``DuckDBResource`` connection (read-write, autocommit), under the exclusive lock.

        For a user's own asset: it waits for the package's writers, and they wait for it, so neither
        fails on DuckDB's single-writer lock. Keep what runs inside it short. On a DuckLake catalog there
        is no lock: each statement is its own transaction, beside the package's writers.
        """
        with self._session(read_only=False, lock=fcntl.LOCK_EX) as con:
            ensure_schemas(con)
            yield con

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only view of one state: the file while no package writer holds it, or one lake snapshot.

        On a DuckLake catalog every query inside sees the snapshot committed when the read began.
        """
        if self.is_lake:
            with self._session(read_only=True, lock=fcntl.LOCK_SH) as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                finally:
                    con.execute("ROLLBACK")
            return
        if not self._file().exists():
            with self.write() as con:
                ensure_schemas(con)
        with self._session(read_only=True, lock=fcntl.LOCK_SH) as con:
            yield con


def lake_extension_file(name: str) -> Path | None:
    """The extension file that the PyPI wheel ``duckdb-extension-<name>`` ships for this DuckDB, if any."""
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        return None
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return path if path.exists() else None


def load_lake_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckLake and the Postgres scanner offline: from the wheels' files, signature check on.

    Without the wheels (the ``lake`` extra), an extension already installed in DuckDB's own folder is
    loaded by name; anything else fails naming the extra to install. Nothing is downloaded.
    """
    for name in LAKE_EXTENSIONS:
        path = lake_extension_file(name)
        try:
            con.execute(f"LOAD '{path}'" if path else f"LOAD {name}")
        except duckdb.Error as err:
            raise ConfigError(
                f"the DuckDB extension {name} for duckdb {duckdb.__version__} is not available ({err}); "
                f"install the lake extra: pip install 'jd_assets[lake]' (its wheels need duckdb==1.5.5)"
            ) from None


#: DuckDB threads of the lake connection that lands partitions. A landing is a few small statements, each
#: dominated by DuckLake reading its catalog; more threads only add scheduling (bench/RESULTS.lake.md:
#: 12-31% more CPU per landing with 2), and the parallelism of landings is across runs and processes.
LANDING_THREADS = 1

#: DuckLake's own retry of a commit that lost the race for the next snapshot id to another writer's commit
#: (no logical conflict: landings of different partitions). Its default first wait, 100 ms (then x1.5), is
#: about half a landing, and with four writers nearly every commit loses once (bench/RESULTS.lake.md): the
#: retry re-reads the latest snapshot and commits again, so a short wait is enough. More retries than its
#: default 10 because more writers lose more often; a real conflict is not retried here (transact() does).
LAKE_COMMIT_RETRY = {"ducklake_retry_wait_ms": 10, "ducklake_max_retry_count": 100}


class _LakeDatabases:
    """One in-memory DuckDB per process, lake and kind of work, with the lake attached; connections are
    its cursors.

    Loading the two extensions and attaching the catalog costs a few hundred milliseconds: done once per
    process, not per write. A forked child (a new pid) opens its own. On a PostgreSQL catalog, landings get
    a database of their own because DuckDB's thread count is per database, not per connection: one thread
    for a landing, all of them for a rebuild.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._open: dict[tuple[int, str, str, str, bool], duckdb.DuckDBPyConnection] = {}

    def cursor(self, warehouse: DuckDBWarehouse, *, landing: bool = False) -> duckdb.DuckDBPyConnection:
        # A catalog in a DuckDB file can be attached by one database of a process only: landings share it.
        landing = landing and warehouse.database.startswith("ducklake:postgres:")
        key = (os.getpid(), warehouse.database, warehouse.data_path, warehouse.memory_limit, landing)
        with self._guard:
            root = self._open.get(key)
            if root is None:
                root = self._open[key] = _attach_lake(warehouse, threads=LANDING_THREADS if landing else None)
            return root.cursor()


def require_data_path(warehouse: DuckDBWarehouse) -> str:
    if not warehouse.data_path:
        raise ConfigError(
            "JD_DUCKLAKE_DATA_PATH is empty: set it to the folder (or s3:// path) of the lake's Parquet files"
        )
    return warehouse.data_path


def _attach_lake(warehouse: DuckDBWarehouse, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    data_path = require_data_path(warehouse)
    if "://" not in data_path:
        Path(data_path).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            **warehouse.connection_config,
            **({"threads": threads} if threads else {}),
            "memory_limit": warehouse.memory_limit,
            # Offline: never reach for DuckDB's extension site; what is needed is loaded from files.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        load_lake_extensions(con)
        for setting, value in LAKE_COMMIT_RETRY.items():
            con.execute(f"SET GLOBAL {setting} = {value}")
        attach = f"ATTACH {_sql_text(warehouse.database)} AS {LAKE_ALIAS} (DATA_PATH {_sql_text(data_path)})"
        for attempt in range(1, 11):
            # The first processes to open a new catalog all create DuckLake's tables in it: all but one
            # fail on the catalog's unique keys, and find the catalog made when they try again.
            try:
                con.execute(attach)
                break
            except duckdb.Error as err:
                if "initialize ducklake" not in str(err).lower() or attempt == 10:
                    raise
                time.sleep(random.uniform(0.05, 0.3))
        con.execute(f"USE {LAKE_ALIAS}")

        def create_schemas() -> None:  # racing like the catalog's tables, once
            con.execute("BEGIN TRANSACTION")
            ensure_schemas(con)
            con.execute("COMMIT")

        again_on_lake_conflict(create_schemas)
    except BaseException:
        con.close()
        raise
    return con


def again_on_lake_conflict(attempt: Callable[[], T], tries: int = 10) -> T:
    """``attempt()``, run again after a short random pause while a conflicting DuckLake commit refuses it
    (up to ``tries`` times): for the lake's own upkeep (schemas, maintenance). A landing's retries are
    :meth:`DuckDBWarehouse.transact`'s, which counts them."""
    tried = 1
    while True:
        try:
            return attempt()
        except duckdb.Error as err:
            if not is_lake_conflict(err) or tried >= tries:
                raise
            tried += 1
            time.sleep(random.uniform(0.05, 0.3))


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


LAKES = _LakeDatabases()


def lake_connection(warehouse: DuckDBWarehouse, *, landing: bool = False) -> duckdb.DuckDBPyConnection:
    """A new connection (its own transactions) to the warehouse's lake, with ``lake`` as the default."""
    con = LAKES.cursor(warehouse, landing=landing)
    con.execute(f"USE {LAKE_ALIAS}")
    return con


#: How far back maintenance keeps a lake's snapshots, so time travel (``AT (VERSION => n)``) reaches a week
#: back. Assumed enough for the analysts' questions and any backfill that compares with the past; a lake
#: that needs more passes its own ``keep_snapshots``.
LAKE_KEEP_SNAPSHOTS = timedelta(days=7)
#: Files that merging or expiring left unused are deleted this long after, not at once: a read that began
#: before may still be scanning them. Assumed: no read of the lake lasts a day (a 5M rebuild takes minutes).
LAKE_UNUSED_FILE_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class LakeMaintenance:
    """What one :func:`maintain_lake` did."""

    files_merged: int
    files_written: int
    snapshots_expired: int
    files_deleted: int


def maintain_lake(
    warehouse: DuckDBWarehouse, *, keep_snapshots: timedelta = LAKE_KEEP_SNAPSHOTS
) -> LakeMaintenance:
    """DuckLake's maintenance of the warehouse's lake: small files merged, old snapshots expired, files
    that nothing uses any more deleted.

    Every landing adds a Parquet file of its own, and DuckLake reads every file's entry and statistics from
    the catalog for each statement that reads the table, so without this a landing's CPU grows with the
    landings before it (bench/RESULTS.lake-writers.md). Merging keeps every snapshot: the tables and time
    travel read the same. Each step is its own DuckLake transaction beside the writers; one refused by a
    conflicting commit (a landing that deleted rows of a file being merged) runs again.
    """
    now = datetime.now(UTC)
    con = lake_connection(warehouse)
    try:

        def call(sql: str) -> list[tuple]:
            return again_on_lake_conflict(lambda: con.execute(sql).fetchall())

        merged = call(f"CALL ducklake_merge_adjacent_files({_sql_text(LAKE_ALIAS)})")
        expired = call(
            f"CALL ducklake_expire_snapshots({_sql_text(LAKE_ALIAS)}, "
            f"older_than => {_sql_text((now - keep_snapshots).isoformat())}::TIMESTAMPTZ)"
        )
        deleted = call(
            f"CALL ducklake_cleanup_old_files({_sql_text(LAKE_ALIAS)}, "
            f"older_than => {_sql_text((now - LAKE_UNUSED_FILE_GRACE).isoformat())}::TIMESTAMPTZ)"
        )
    finally:
        con.close()
    # ducklake_merge_adjacent_files: one row per table (schema, table, files merged, files written)
    return LakeMaintenance(
        files_merged=sum(int(row[2]) for row in merged),
        files_written=sum(int(row[3]) for row in merged),
        snapshots_expired=len(expired),
        files_deleted=len(deleted),
    )


def never_written_lake_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """True when ``con`` is on a DuckLake whose ``schema.table`` no row was ever inserted into: then the
    table is empty in every snapshot, and a landing skips reading it (on DuckLake 1.5.5 a filtered read of
    an empty table costs 16-20 ms of CPU, DuckLake reading its catalog; this costs 2-3 ms).

    DuckLake's catalog gives every inserted row a row id and keeps the next one in ``ducklake_table_stats``
    (DuckLake's spec: ``next_row_id``): it only grows (a delete did not lower it; merged files keep
    their rows' ids), and a table never inserted into has no statistics row yet. The catalog is read at
    or after the transaction's snapshot, so nothing inserted before the snapshot is missed. Assumed: the
    caller's transaction has not inserted into the table itself (uncommitted rows are not in the catalog
    yet). False on the single file, where a read costs little.
    """
    name, kind = con.execute(
        "SELECT database_name, type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    if kind != "ducklake":
        return False
    meta = f"__ducklake_metadata_{name}"  # where DuckLake attaches a lake's catalog
    (next_row_id,) = con.execute(
        f"""SELECT coalesce(max(s.next_row_id), 0)
            FROM {meta}.ducklake_schema c JOIN {meta}.ducklake_table t USING (schema_id)
              LEFT JOIN {meta}.ducklake_table_stats s USING (table_id)
            WHERE c.end_snapshot IS NULL AND t.end_snapshot IS NULL
              AND c.schema_name = {_sql_text(schema)} AND t.table_name = {_sql_text(table)}"""
    ).fetchone()
    return next_row_id == 0


def delete_returning(
    con: duckdb.DuckDBPyConnection, table: str, where: str, returning: str, params: dict | None = None
) -> pl.DataFrame:
    """``DELETE FROM table WHERE where RETURNING returning``, on both backends, inside the caller's
    transaction: DuckLake 1.5.5 has no RETURNING for a delete, so the rows are read first, then deleted.
    """
    removed = con.execute(f"SELECT {returning} FROM {table} WHERE {where}", params or {}).pl()
    con.execute(f"DELETE FROM {table} WHERE {where}", params or {})
    return removed


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
    header, rows = _markdown_rows(frame, frame.columns)
    return dg.MetadataValue.md("\n".join([*header, *(f"| {row} |" for row in rows["row"])]))


def markdown_previews(
    con: duckdb.DuckDBPyConnection, sql: str, *, by: str
) -> dict[str | None, dg.MetadataValue]:
    """:func:`markdown_preview` of each value of the column ``by`` (not shown) in one query; under None,
    the table without rows (for a value the query did not return)."""
    frame = con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM ({sql})").pl()
    header, rows = _markdown_rows(frame, [name for name in frame.columns if name != by], by)
    previews: dict[str | None, dg.MetadataValue] = {None: dg.MetadataValue.md("\n".join(header))}
    for value, lines in rows.group_by(by, maintain_order=True).agg(pl.col("row")).iter_rows():
        previews[value] = dg.MetadataValue.md("\n".join([*header, *(f"| {row} |" for row in lines)]))
    return previews


def _markdown_rows(frame: pl.DataFrame, names: list[str], *keep: str) -> tuple[list[str], pl.DataFrame]:
    """The markdown header of ``names`` and each row's cells joined (column ``row``), with ``keep``."""
    cells = [
        pl.col(name).fill_null("").str.replace_all("|", "/", literal=True).str.replace_all("\n", " ")
        for name in names
    ]
    rows = frame.select(*keep, pl.concat_str(cells, separator=" | ").alias("row"))
    header = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    return header, rows
