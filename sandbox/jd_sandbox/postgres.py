"""A throwaway PostgreSQL server for the lake tests and ``make demo-lake``: started, used, stopped.

``ThrowawayPostgres`` runs Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``; package ``postgresql``)
on a free loopback port, with its cluster, socket and log in a new temp folder that it removes when it
stops. Nothing is left running: the context manager stops the server (``pg_ctl stop -m fast``), and so
does an ``atexit`` hook if the caller forgets. Authentication is ``trust`` for the loopback only, the
superuser is ``postgres``. ``fsync`` is off: this server holds test data for minutes, not anything to
keep across a power cut.

PostgreSQL refuses to run as root. Run as root (CI does), the cluster belongs to the unprivileged user
``nobody`` and the binaries are started as it with ``setpriv`` (util-linux); the temp folder is made
for it. As any other user, they run as that user.

    with ThrowawayPostgres() as pg:
        pg.create_database("jd")
        pg.dsn("jd")         # 'dbname=jd host=127.0.0.1 port=... user=postgres'
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: The unprivileged user a root caller runs the cluster as.
SERVER_USER = "nobody"


def find_binaries() -> Path:
    """The folder of ``initdb``/``pg_ctl``: on PATH, else the newest ``/usr/lib/postgresql/*/bin``."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if not versions:
        raise FileNotFoundError(
            "PostgreSQL's initdb and pg_ctl were not found (on PATH or under /usr/lib/postgresql/*/bin): "
            "install Debian's postgresql package (apt-get install -y postgresql)"
        )
    return Path(versions[-1]).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temp folder, served on 127.0.0.1 until ``stop()``."""

    def __init__(self, *, user: str = "postgres", fsync: bool = False) -> None:
        self.bin = find_binaries()
        self.user = user
        self.fsync = fsync
        self.port = 0
        self.folder: Path | None = None
        self._started = False

    # -- running the binaries as a user PostgreSQL accepts ------------------------------------------
    def _as_server(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={self._gid}", "--clear-groups", *args]

    def _run(self, args: list[str], timeout: float = 120) -> None:
        done = subprocess.run(self._as_server(args), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> ThrowawayPostgres:
        self.folder = Path(tempfile.mkdtemp(prefix="jd-postgres-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            self._gid = entry.pw_gid
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        os.chmod(self.folder, 0o700)
        data = self.folder / "data"
        self._run(
            [str(self.bin / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"]
        )  # fmt: skip
        for attempt in range(5):  # a free port can be taken between the probe and the bind: try another
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
                f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200"
            )
            try:
                self._run(
                    [str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "server.log"),
                     "-w", "-t", "60", "-o", options, "start"]
                )  # fmt: skip
                break
            except RuntimeError:
                if attempt == 4:
                    log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                    self._remove()
                    raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1: {log}") from None
                time.sleep(0.2)
        self._started = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self._started:
            self._started = False
            try:
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "stop"])
            finally:
                self._remove()
        atexit.unregister(self.stop)

    def _remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- using it ----------------------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string (what DuckLake's ``postgres:`` catalog and psql take)."""
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(dbname),
             "-c", sql],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr[-2000:]}")
        return done.stdout

    def create_database(self, name: str) -> str:
        """A new empty database; returns its connection string."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)
