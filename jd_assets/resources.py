"""The resources of the code location, configured from the environment (names in docs/DESIGN.md).

Secrets are ``EnvVar``s: Dagster reads them when a run starts and never shows their values. A missing one
fails the run with an error that names the variable. Base URLs default to the real gateways; the demo and
the tests point them at the local sandbox. Nothing falls back to the sandbox silently.
"""

from __future__ import annotations

import os

import dagster as dg

from jd_assets.clean.pii import PiiKey
from jd_assets.gateways.fengchao import FengchaoResource
from jd_assets.gateways.jos import JosResource
from jd_assets.gateways.justone import JustOneResource
from jd_assets.http.limiter import RATE_LIMIT_DIR_ENV
from jd_assets.http.resource import CLEAR_TEXT_ENV
from jd_assets.publish.copy import AnalyticsFile, analytics_path_beside
from jd_assets.warehouse import DEFAULT_DUCKDB_PATH, DuckDBWarehouse

JUSTONE_DEFAULT_URL = "https://api.justoneapi.com"
JOS_DEFAULT_URL = "https://api.jd.com/routerjson"


def _rate(name: str, default: float) -> float:
    """A gateway's request rate (requests/s) from ``name``: set it to what your plan allows."""
    return float(os.environ.get(name, default))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def warehouse_from_env() -> DuckDBWarehouse:
    """The DuckDB file of ``JD_DUCKDB_PATH`` (the default), or the DuckLake of ``JD_DUCKLAKE_CATALOG``.

    ``JD_DUCKLAKE_CATALOG`` is DuckLake's catalog (``postgres:dbname=jd host=...``; a ``ducklake:`` prefix
    is optional) and ``JD_DUCKLAKE_DATA_PATH`` the folder or ``s3://`` path of its Parquet files.
    """
    env = os.environ.get
    memory_limit = env("JD_DUCKDB_MEMORY_LIMIT", "3GB")
    catalog = env("JD_DUCKLAKE_CATALOG", "").strip()
    if catalog:
        return DuckDBWarehouse(
            database=catalog if catalog.startswith("ducklake:") else f"ducklake:{catalog}",
            data_path=env("JD_DUCKLAKE_DATA_PATH", ""),
            memory_limit=memory_limit,
        )
    return DuckDBWarehouse(database=env("JD_DUCKDB_PATH", DEFAULT_DUCKDB_PATH), memory_limit=memory_limit)


def build_resources() -> dict[str, dg.ConfigurableResource]:
    env = os.environ.get
    warehouse = warehouse_from_env()
    clear_text = _flag(CLEAR_TEXT_ENV)
    rate_dir = env(RATE_LIMIT_DIR_ENV, "")
    database = env("JD_DUCKDB_PATH", DEFAULT_DUCKDB_PATH)
    return {
        "justone": JustOneResource(
            base_url=env("JD_JUSTONE_BASE_URL", JUSTONE_DEFAULT_URL),
            token=dg.EnvVar("JD_JUSTONE_TOKEN"),
            requests_per_second=_rate("JD_JUSTONE_RPS", 5.0),
            rate_limit_dir=rate_dir,
            allow_clear_text=clear_text,
        ),
        "jos": JosResource(
            base_url=env("JD_JOS_BASE_URL", JOS_DEFAULT_URL),
            app_key=dg.EnvVar("JD_JOS_APP_KEY"),
            app_secret=dg.EnvVar("JD_JOS_APP_SECRET"),
            access_token=dg.EnvVar("JD_JOS_ACCESS_TOKEN"),
            dialect=env("JD_JOS_DIALECT", "live"),
            requests_per_second=_rate("JD_JOS_RPS", 10.0),
            rate_limit_dir=rate_dir,
            allow_clear_text=clear_text,
        ),
        "fengchao": FengchaoResource(
            base_url=env("JD_FENGCHAO_BASE_URL", ""),
            app_id=dg.EnvVar("JD_FENGCHAO_APP_ID"),
            app_secret=dg.EnvVar("JD_FENGCHAO_APP_SECRET"),
            seller_nick=dg.EnvVar("JD_FENGCHAO_SELLER_NICK"),
            requests_per_second=_rate("JD_FENGCHAO_RPS", 5.0),
            rate_limit_dir=rate_dir,
            allow_clear_text=clear_text,
        ),
        # The warehouse twice: the package's assets take ``warehouse: DuckDBWarehouse``, a user's own asset
        # takes ``duckdb: DuckDBResource`` as Dagster's DuckDB guide shows; both are this one resource.
        "warehouse": warehouse,
        "duckdb": warehouse,
        "pii_key": PiiKey(key=dg.EnvVar("JD_PII_KEY"), rotate_from=env("JD_PII_KEY_ROTATE_FROM", "")),
        # The read-only copy analysts open: beside the pipeline's file unless JD_ANALYTICS_PATH says where
        # (never written on a DuckLake warehouse: analysts read the lake itself).
        "analytics": AnalyticsFile(path=env("JD_ANALYTICS_PATH") or analytics_path_beside(database)),
    }
