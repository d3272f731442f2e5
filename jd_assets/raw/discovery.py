"""What the landed raw data says about which partitions should exist: SKUs in orders, SKU→ware links."""

from __future__ import annotations

import duckdb

from jd_assets import jos_fields
from jd_assets.conventions import JD_ID_RE
from jd_assets.warehouse import DuckDBWarehouse

# Both router dialects, every documented shape (jd_assets.jos_fields): the list record's items, or the
# order.get record's when the list carried none. Seed ids may be JSON numbers; ->> gives their digits.
ORDER_ITEMS_SQL = f"""
SELECT o.order_id, o.order_date,
       {jos_fields.item_text("sku_id", "i")} AS sku_id,
       {jos_fields.item_text("ware_id", "i")} AS ware_id,
       i AS item
FROM raw.orders o,
     unnest(CAST({jos_fields.items_sql(["o.record", "o.detail"])} AS JSON[])) AS t(i)
"""


#: SKU→ware links, by the raw table that gives them.
SKU_WARE_LINKS_SQL = {
    "orders": f"""SELECT DISTINCT sku_id, ware_id, 'order' AS source FROM ({ORDER_ITEMS_SQL})
                  WHERE regexp_matches(sku_id, {JD_ID_RE}) AND regexp_matches(ware_id, {JD_ID_RE})""",
    "item_details": """SELECT DISTINCT sku_id, ware_id, 'detail' AS source FROM raw.item_details
                       WHERE ware_id IS NOT NULL""",
}


def _has_tables(con: duckdb.DuckDBPyConnection, *names: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND list_contains(?, table_name)",
        [list(names)],
    ).fetchone()[0]
    return found == len(names)


def skus_in_orders(warehouse: DuckDBWarehouse) -> set[str]:
    """Every SKU id bought in a landed order."""
    with warehouse.read() as con:
        if not _has_tables(con, "orders"):
            return set()
        rows = con.execute(
            f"SELECT DISTINCT sku_id FROM ({ORDER_ITEMS_SQL}) WHERE regexp_matches(sku_id, {JD_ID_RE})"
        ).fetchall()
    return {sku for (sku,) in rows}


def linked_ware_ids(warehouse: DuckDBWarehouse) -> set[str]:
    """Every ware id linked to a SKU by a landed order item or product detail."""
    with warehouse.read() as con:
        queries = [sql for table, sql in SKU_WARE_LINKS_SQL.items() if _has_tables(con, table)]
        if not queries:
            return set()
        rows = con.execute(f"SELECT DISTINCT ware_id FROM ({' UNION '.join(queries)})").fetchall()
    return {ware for (ware,) in rows}
