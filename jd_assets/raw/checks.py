"""Schema-drift checks on the raw tables: a field JD starts sending, or stops sending, is reported.

Drift never breaks a run (the raw JSON keeps every field as received); these checks make it visible.
They look at the records landed by the latest run of each table and warn, they do not block.
"""

import dagster as dg

from jd_assets.raw import tables
from jd_assets.warehouse import DuckDBWarehouse


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


def _drift_check(asset_key: str, table_name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name="schema_drift",
        description=f"Fields of {table_name} that JD started or stopped sending (latest run's records).",
    )
    def check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
        with warehouse.read() as con:
            rows = con.execute(drift_sql(table_name)).fetchall()
        drift = schema_drift(table_name, rows)
        return dg.AssetCheckResult(
            passed=not (drift["new_fields"] or drift["missing_fields"]),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**drift, "records_checked": max((r[3] for r in rows), default=0)},
        )

    return check


drift_checks = [
    _drift_check("raw_comments", tables.COMMENTS.name),
    _drift_check("raw_item_details", tables.ITEM_DETAILS.name),
    _drift_check("raw_wares", tables.WARES.name),
    _drift_check("raw_orders", tables.ORDERS.name),
]
