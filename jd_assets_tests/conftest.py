"""Shared fixtures: a sandbox on loopback, resources pointed at it, a DuckDB file in a tmp dir.

The DuckLake tests share one throwaway PostgreSQL per session (``lake_server``, started on first use and
stopped at the end); each test gets a new catalog database and data folder in it (``new_lake``).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from jd_assets.gateways.fengchao import FengchaoResource
from jd_assets.gateways.jos import JosResource
from jd_assets.gateways.justone import JustOneResource
from jd_assets.warehouse import LAKE_EXTENSIONS, DuckDBWarehouse, lake_extension_file
from jd_sandbox import Sandbox, SandboxConfig
from jd_sandbox.postgres import ThrowawayPostgres, find_binaries

#: Retry and polling waits shrunk so fault tests take milliseconds, not minutes.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "requests_per_second": 1000.0}


def gateway_resources(
    env: dict[str, str],
    db_path: Path | str | DuckDBWarehouse,
    *,
    justone: dict | None = None,
    jos: dict | None = None,
    fengchao: dict | None = None,
    **every_gateway,
) -> dict[str, object]:
    """The four resources, configured from a sandbox's ``env()`` as the definitions do from os.environ.

    ``every_gateway`` settings (e.g. ``max_attempts``) apply to the three clients; ``justone``, ``jos``
    and ``fengchao`` add settings of one client.
    """
    common = FAST | every_gateway
    return {
        "justone": JustOneResource(
            base_url=env["JD_JUSTONE_BASE_URL"],
            token=env["JD_JUSTONE_TOKEN"],
            **common | {"details_poll_interval_s": 0.01, "details_deadline_s": 5.0} | (justone or {}),
        ),
        "jos": JosResource(
            base_url=env["JD_JOS_BASE_URL"],
            app_key=env["JD_JOS_APP_KEY"],
            app_secret=env["JD_JOS_APP_SECRET"],
            access_token=env["JD_JOS_ACCESS_TOKEN"],
            dialect=env.get("JD_JOS_DIALECT", "live"),
            **common | (jos or {}),
        ),
        "fengchao": FengchaoResource(
            base_url=env["JD_FENGCHAO_BASE_URL"],
            app_id=env["JD_FENGCHAO_APP_ID"],
            app_secret=env["JD_FENGCHAO_APP_SECRET"],
            seller_nick=env["JD_FENGCHAO_SELLER_NICK"],
            **common | (fengchao or {}),
        ),
        "warehouse": as_warehouse(db_path),
    }


def mocked_gateways_env(base: str) -> dict[str, str]:
    """The settings of the three gateways under one ``base`` URL that respx answers for (no sandbox)."""
    return {
        "JD_JUSTONE_BASE_URL": base,
        "JD_JUSTONE_TOKEN": "token-mocked",
        "JD_JOS_BASE_URL": f"{base}/routerjson",
        "JD_JOS_APP_KEY": "key",
        "JD_JOS_APP_SECRET": "secret",
        "JD_JOS_ACCESS_TOKEN": "access",
        "JD_FENGCHAO_BASE_URL": f"{base}/fengchao",
        "JD_FENGCHAO_APP_ID": "app",
        "JD_FENGCHAO_APP_SECRET": "secret",
        "JD_FENGCHAO_SELLER_NICK": "seller",
    }


def land_record(con, table, record: dict, key: str):
    """Land one gateway record as partition ``key`` of ``table`` (a text-keyed table), as its asset does."""
    from jd_assets.raw.landing import batch, land

    return land(
        con,
        table,
        batch([record], request_key=key),
        partition_key=key,
        partition_value=key,
        run_id="r",
        fetched_at=datetime(2026, 3, 10, tzinfo=UTC),
    )


def as_warehouse(db: Path | str | DuckDBWarehouse) -> DuckDBWarehouse:
    """A DuckDB file's path, or a warehouse (a DuckLake one) as it is."""
    return db if isinstance(db, DuckDBWarehouse) else DuckDBWarehouse(database=str(db))


_lake_names = itertools.count(1)


def new_lake(server: ThrowawayPostgres, folder: Path) -> DuckDBWarehouse:
    """A new, empty DuckLake: its catalog a new database on ``server``, its data files in ``folder``."""
    name = f"lake{os.getpid()}_{next(_lake_names)}"
    return DuckDBWarehouse(
        database=f"ducklake:postgres:{server.create_database(name)}", data_path=str(folder / "lake_data")
    )


def _lake_missing() -> str | None:
    try:
        find_binaries()
    except FileNotFoundError as err:
        return str(err)
    missing = [name for name in LAKE_EXTENSIONS if lake_extension_file(name) is None]
    if missing or not shutil.which("setpriv"):
        return f"the lake extra's extension wheels for this duckdb are not installed: {missing}"
    return None


@pytest.fixture(scope="session")
def lake_server() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL for the session's lake tests, on a free loopback port; stopped and removed after.

    Without PostgreSQL or the lake extra the lake tests fail, saying what is missing: ``make test``
    installs both (a skipped test would prove nothing).
    """
    missing = _lake_missing()
    if missing:
        pytest.fail(f"the DuckLake tests cannot run ({missing}); make test installs what they need")
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def lake(lake_server: ThrowawayPostgres, tmp_path: Path) -> DuckDBWarehouse:
    return new_lake(lake_server, tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _rate_limit_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The clients' shared rate-limit files in this session's own folder, not the machine's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JD_RATE_LIMIT_DIR", str(tmp_path_factory.mktemp("rate_limits")))
        yield


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=1)) as running:
        yield running


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jd.duckdb"


@pytest.fixture
def resources(sandbox: Sandbox, db_path: Path) -> dict[str, object]:
    return gateway_resources(sandbox.env(), db_path)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance
