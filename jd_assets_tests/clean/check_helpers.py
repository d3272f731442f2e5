"""Calling asset checks directly on a DuckDB file, and breaking a table on purpose first."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from jd_assets.clean.checks import CLEAN_CHECKS
from jd_assets.marts.checks import MARTS_CHECKS
from jd_assets.warehouse import DuckDBWarehouse

ALL_CHECKS = {key: check for check in [*CLEAN_CHECKS, *MARTS_CHECKS] for key in check.check_keys}


def check_def(asset: str, name: str) -> dg.AssetChecksDefinition:
    return ALL_CHECKS[dg.AssetCheckKey(dg.AssetKey(asset), name)]


def run_check(path: Path, asset: str, name: str) -> dg.AssetCheckResult:
    return check_def(asset, name)(warehouse=DuckDBWarehouse(database=str(path)))


def execute(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
    finally:
        con.close()


def metadata_value(result: dg.AssetCheckResult, key: str):
    value = result.metadata[key]
    return getattr(value, "value", value)
