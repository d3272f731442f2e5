"""Checks on the raw tables: schema drift (a field JD starts sending, or stops sending, is reported) on
every record table, and track coverage (every shipped order has its logistics track) on the tracks.

Drift never breaks a run (the raw JSON keeps every field as received); these checks make it visible.
They look at what the latest run landed and warn, they do not block.

Every check runs whenever its asset lands, whatever lands it: an asset job runs them as steps after the
asset (Dagster includes an asset's checks in its selection); the daily comment refresh
(``raw_comments_refresh_job``, an op job) evaluates the same functions once its SKUs have landed and logs
the results (:func:`evaluations`). ``jd_assets_tests/raw/test_checks_evaluated.py`` fails when a job lands
an asset without evaluating one of its checks.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from jd_assets.raw import tables
from jd_assets.raw.assets import UNSHIPPED_STATES
from jd_assets.warehouse import DuckDBWarehouse

SCHEMA_DRIFT = "schema_drift"
TRACKS_COVER_SHIPPED = "tracks_cover_shipped_orders"
#: How many order ids a failed coverage check names.
EXAMPLES = 5


def drift_sql(table_name: str) -> str:
    """Per top-level field: in how many of the latest run's records it appears, and of how many."""
    dialect = "dialect" if table_name == tables.ORDERS.name else "'live'"
    return f"""
        WITH latest AS (
            SELECT record, {dialect} AS dialect FROM {table_name}
            WHERE run_id = (SELECT arg_max(run_id, fetched_at) FROM {table_name})
        )
        SELECT dialect, field, count(*) AS present, (SELECT count(*) FROM latest) AS records
        FROM (SELECT dialect, unnest(json_keys(record)) AS field FROM latest)
        GROUP BY ALL ORDER BY ALL
    """


def schema_drift(table_name: str, rows: list[tuple[str, str, int, int]]) -> dict[str, list[str]]:
    """New fields (never documented) and missing ones (documented as always sent, absent somewhere);
    seed-dialect orders are compared with the seed's own spellings (jd_assets.jos_fields)."""
    new: set[str] = set()
    missing: set[str] = set()
    for dialect in {row[0] for row in rows}:
        by_dialect = tables.KNOWN_SEED_FIELDS if dialect == "seed" else tables.KNOWN_FIELDS
        known_always, sometimes = by_dialect[table_name]
        known = known_always | sometimes
        present = {field: count for d, field, count, _ in rows if d == dialect}
        records = max((r for d, _, _, r in rows if d == dialect), default=0)
        new |= set(present) - known
        missing |= {f for f in known_always if present.get(f, 0) < records}
    return {"new_fields": sorted(new), "missing_fields": sorted(missing)}


def _missing(con, *names: str) -> list[str]:
    """The raw tables of ``names`` not created yet (nothing landed): a check has nothing to look at."""
    sql = "SELECT 'raw.' || table_name FROM duckdb_tables() WHERE schema_name = 'raw'"
    existing = {name for (name,) in con.execute(sql).fetchall()}
    return [name for name in names if name not in existing]


def drift_result(warehouse: DuckDBWarehouse, table: tables.RawTable) -> dg.AssetCheckResult:
    with warehouse.read() as con:
        rows = [] if _missing(con, table.name) else con.execute(drift_sql(table.name)).fetchall()
    drift = schema_drift(table.name, rows)
    passed = not (drift["new_fields"] or drift["missing_fields"])
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={**drift, "records_checked": max((r[3] for r in rows), default=0)},
        description=None
        if passed
        else f"{table.name}: new fields {drift['new_fields']}, missing fields {drift['missing_fields']}",
    )


def _unshipped_sql() -> str:
    return ", ".join(f"'{s}'" for s in sorted(UNSHIPPED_STATES))


TRACK_COVERAGE_SQL = f"""
    WITH shipped AS (
        SELECT order_date, order_id FROM raw.orders WHERE order_state NOT IN ({_unshipped_sql()})
    )
    SELECT
        (SELECT count(*) FROM shipped) AS shipped_orders,
        (SELECT count(*) FROM raw.order_tracks) AS tracks,
        (SELECT count(*) FROM shipped s ANTI JOIN raw.order_tracks t USING (order_date, order_id))
            AS shipped_without_track,
        (SELECT count(*) FROM raw.order_tracks t ANTI JOIN raw.orders o USING (order_date, order_id))
            AS tracks_without_order,
        (SELECT count(*) FROM raw.rejects WHERE source = 'orders') AS orders_rejected,
        (SELECT list(order_id ORDER BY order_date, order_id)[1:{EXAMPLES}]
         FROM shipped s ANTI JOIN raw.order_tracks t USING (order_date, order_id)) AS examples
"""


def track_coverage_result(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    """Every shipped order kept in raw.orders has its track; a track whose order is not kept is counted
    (an order raw rejected still had its track fetched: see raw.rejects)."""
    with warehouse.read() as con:
        if _missing(con, tables.ORDERS.name, tables.ORDER_TRACKS.name, "raw.rejects"):
            shipped, tracks, missing, orphans, rejected, examples = 0, 0, 0, 0, 0, []
        else:
            shipped, tracks, missing, orphans, rejected, examples = con.execute(TRACK_COVERAGE_SQL).fetchone()
    return dg.AssetCheckResult(
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "shipped_orders": shipped,
            "tracks": tracks,
            "shipped_without_track": missing,
            "tracks_without_order": orphans,
            "orders_rejected": rejected,
            "examples": ", ".join(examples or []),
        },
        description=None if missing == 0 else f"{missing} shipped orders have no track in raw.order_tracks",
    )


#: Every raw check: (asset, check name, description, how it is computed).
RAW_CHECKS: list[tuple[str, str, str, Callable[[DuckDBWarehouse], dg.AssetCheckResult]]] = [
    *(
        (
            asset,
            SCHEMA_DRIFT,
            f"Fields of {table.name} that JD started or stopped sending (latest run's records).",
            lambda warehouse, table=table: drift_result(warehouse, table),
        )
        for asset, table in (
            ("raw_comments", tables.COMMENTS),
            ("raw_item_details", tables.ITEM_DETAILS),
            ("raw_wares", tables.WARES),
            ("raw_orders", tables.ORDERS),
        )
    ),
    (
        "raw_order_tracks",
        TRACKS_COVER_SHIPPED,
        "Every shipped order in raw.orders has its logistics track in raw.order_tracks (orders not yet "
        "shipped have none).",
        track_coverage_result,
    ),
]


def _check(asset: str, name: str, description: str, compute) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=name, description=description)
    def check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        return compute(warehouse)

    return check


raw_checks = [_check(*spec) for spec in RAW_CHECKS]


def evaluations(warehouse: DuckDBWarehouse, asset: str) -> list[dg.AssetCheckEvaluation]:
    """The results of every check of ``asset``, as events an op logs (``context.log_event``) after it
    landed the asset outside an asset job."""
    results = []
    for target, name, _, compute in RAW_CHECKS:
        if target != asset:
            continue
        result = compute(warehouse)
        results.append(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(asset),
                check_name=name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
            )
        )
    return results
