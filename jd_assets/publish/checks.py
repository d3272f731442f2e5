"""Checks of the published copy, made on the file as analysts open it (re-opened read-only after the rename).

- ``row_counts_match``: the copy holds exactly the tables ``meta.tables`` lists, each with the rows the
  pipeline's table had when it was read (counted under the same read lock as the copy) and the same
  content fingerprint: a table kept from the previous copy (not copied again) is proven to hold what the
  pipeline's table held, as a copied one is;
- ``no_buyer_pii``: no ``raw`` schema, and no text value of any table equals or contains a buyer
  identifier of the pipeline's ``raw.orders`` (the clean layer's rule, run on the attached copy).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from jd_assets.clean.checks import no_buyer_pii
from jd_assets.derived.building import sql_text
from jd_assets.publish.assets import published_copy
from jd_assets.publish.copy import (
    ALIAS,
    META_SCHEMA,
    PUBLISHED_SCHEMAS,
    AnalyticsFile,
    fingerprints,
    published_tables,
)
from jd_assets.warehouse import DuckDBWarehouse


@contextmanager
def attached_copy(con: duckdb.DuckDBPyConnection, target: Path) -> Iterator[str]:
    """The published copy attached read-only to a connection of the pipeline's file, as ``published``."""
    con.execute(f"ATTACH {sql_text(str(target))} AS {ALIAS} (READ_ONLY)")
    try:
        yield ALIAS
    finally:
        con.execute(f"DETACH {ALIAS}")


def row_counts_match(con: duckdb.DuckDBPyConnection, catalog: str) -> dg.AssetCheckResult:
    """Every table of the copy is in ``meta.tables`` with its rows and fingerprint, and vice versa."""
    recorded = {
        f"{schema}.{table}": (n, fingerprint)
        for schema, table, n, fingerprint in con.execute(
            f"SELECT schema_name, table_name, row_count, fingerprint FROM {catalog}.{META_SCHEMA}.tables"
        ).fetchall()
    }
    present = fingerprints(con, published_tables(con, catalog), catalog)
    missing = (None, None)
    wrong = {t: (recorded.get(t, missing), present.get(t, missing)) for t in recorded.keys() | present.keys()}
    wrong = {t: (read, copied) for t, (read, copied) in wrong.items() if read != copied}
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={
            "tables": len(present),
            "rows": sum(n for n, _ in present.values()),
            **{f"rows at publish / in copy: {t}": f"{a[0]} / {b[0]}" for t, (a, b) in sorted(wrong.items())},
        },
        description=None
        if not wrong
        else "published copy differs from the tables it was made of: "
        + ", ".join(
            f"{t} ({a[0]} rows read, {b[0]} in the copy)"
            if a[0] != b[0]
            else f"{t} ({a[0]} rows, content differs from its fingerprint)"
            for t, (a, b) in sorted(wrong.items())
        ),
    )


def copy_has_no_buyer_pii(con: duckdb.DuckDBPyConnection, catalog: str) -> dg.AssetCheckResult:
    """No ``raw`` schema in the copy, and ``no_buyer_pii`` passes on each of its tables."""
    schemas = sorted(
        s
        for (s,) in con.execute(
            "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = ?", [catalog]
        ).fetchall()
    )
    unexpected = [s for s in schemas if s not in (*PUBLISHED_SCHEMAS, META_SCHEMA)]
    results = {t: no_buyer_pii(con, f"{catalog}.{t}") for t in published_tables(con, catalog)}
    leaking = {t: r for t, r in results.items() if not r.passed}
    return dg.AssetCheckResult(
        passed=not unexpected and not leaking,
        metadata={
            "schemas": ", ".join(schemas),
            "tables_checked": len(results),
            "columns_checked": sum(r.metadata["columns_checked"].value for r in results.values()),
            **{f"leak: {t}": r.description for t, r in sorted(leaking.items())},
        },
        description=None
        if not unexpected and not leaking
        else "; ".join(
            [*(f"schema {s} must not be published" for s in unexpected)]
            + [r.description for r in leaking.values()]
        ),
    )


def _on_published(rule):
    def check(warehouse: DuckDBWarehouse, analytics: AnalyticsFile) -> dg.AssetCheckResult:
        with warehouse.read() as con, attached_copy(con, analytics.target()) as catalog:
            return rule(con, catalog)

    return check


PUBLISH_CHECKS = [
    dg.asset_check(
        asset=published_copy,
        name="row_counts_match",
        description=(
            "The copy holds every table it lists in meta.tables, with the rows and content fingerprint "
            "read at publish time."
        ),
        blocking=True,
    )(_on_published(row_counts_match)),
    dg.asset_check(
        asset=published_copy,
        name="no_buyer_pii",
        description="No raw schema; no text in the copy equals or contains a buyer identifier of raw.orders.",
        blocking=True,
    )(_on_published(copy_has_no_buyer_pii)),
]
