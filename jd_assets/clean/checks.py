"""Asset checks of the clean tables, made of the generic rules in ``jd_assets/derived/rules.py``.

No check ever puts a PII value in its metadata (the event log is outside ``raw``): it names the table,
the column and how many values matched.
"""

from __future__ import annotations

import dagster as dg
import duckdb

from jd_assets import jos_fields
from jd_assets.clean import catalog, comments, orders
from jd_assets.derived.rules import (
    Rule,
    checks_from_rules,
    key_rule,
    reconcile_rule,
    rows_satisfy,
    table_exists,
    timestamps_plausible,
)
from jd_assets.raw.discovery import ORDER_ITEMS_SQL, SKU_WARE_LINKS_SQL

#: Every buyer identifier in raw orders, every documented field of both dialects and both calls (the list
#: record and its order.get record; jd_assets.jos_fields): account, consignee name, phones, address.
#: Values shorter than 2 characters cannot identify anyone and would match everywhere.
RAW_PII_SQL = f"""
SELECT DISTINCT trim(v) AS v
FROM (SELECT unnest([{", ".join(jos_fields.pii_values_sql())}]) AS v FROM raw.orders)
WHERE length(trim(v)) >= 2
"""

#: Every buyer phone in raw orders as its national digits (a leading 86 / 0086 country code dropped), so
#: that a phone written with separators or a country code in free text (138-1234-5678, 138 1234 5678,
#: +86 13812345678) is still found: texts are compared with their separators removed.
RAW_PHONE_DIGITS_SQL = f"""
SELECT DISTINCT regexp_replace(regexp_replace(v, '[^0-9]', '', 'g'), '^(0086|86)(1[0-9]{{10}})$', '\\2') AS v
FROM (SELECT unnest([{", ".join(jos_fields.phone_values_sql())}]) AS v FROM raw.orders)
WHERE length(regexp_replace(v, '[^0-9]', '', 'g')) >= 7
"""
#: A text with the separators people write inside phone numbers removed (spaces, dashes, dots, brackets, +).
PHONE_TEXT_SQL = "regexp_replace(v, '[\\s\\-.()+\u3000]', '', 'g')"

#: Most (text, PII value) pairs the containment scan compares; above it, a fixed sample of texts.
PII_CONTAINS_BUDGET = 50_000_000


def no_buyer_pii(
    con: duckdb.DuckDBPyConnection, table: str, budget: int | None = None
) -> dg.AssetCheckResult:
    """No text value of the table equals or contains a buyer identifier found in raw orders.

    ``table`` is ``schema.table`` of the connection's own file, or ``catalog.schema.table`` of a file
    attached to it (the published copy is checked so, against the pipeline's ``raw.orders``).

    Every VARCHAR (and VARCHAR[]) column is compared, distinct values only, with the distinct PII values.
    Equality is a hash join over every value, whatever the size. Containment compares every pair, which
    grows as texts x buyers: up to ``PII_CONTAINS_BUDGET`` pairs (well under a second in DuckDB; the demo
    needs about 6 million) every text is scanned, above it a repeatable reservoir sample of texts is, and
    the metadata says so.
    """
    budget = PII_CONTAINS_BUDGET if budget is None else budget
    *catalog, schema, name = table.split(".")
    (database,) = catalog or con.execute("SELECT current_database()").fetchone()
    columns = [
        c
        for (c,) in con.execute(
            """SELECT column_name FROM duckdb_columns()
               WHERE database_name = ? AND schema_name = ? AND table_name = ?
                 AND data_type IN ('VARCHAR', 'VARCHAR[]')
               ORDER BY column_index""",
            [database, schema, name],
        ).fetchall()
    ]
    if not table_exists(con, "raw.orders") or not columns:
        return dg.AssetCheckResult(
            passed=True, metadata={"columns_checked": len(columns), "raw_pii_values": 0}
        )
    (pii_values,) = con.execute(f"SELECT count(*) FROM ({RAW_PII_SQL})").fetchone()
    texts = " UNION ALL ".join(
        f"SELECT '{c}' AS col, CAST({c} AS VARCHAR) AS v FROM {table}" for c in columns
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE pii_texts AS SELECT DISTINCT col, v FROM ({texts}) WHERE v IS NOT NULL"
    )
    (n_texts,) = con.execute("SELECT count(*) FROM pii_texts").fetchone()
    sampled = n_texts * pii_values > budget
    probe = (
        f"(SELECT * FROM pii_texts USING SAMPLE reservoir({max(budget // max(pii_values, 1), 1)} ROWS) "
        "REPEATABLE (7))"
        if sampled
        else "pii_texts"
    )
    leaks = con.execute(
        f"""WITH pii AS ({RAW_PII_SQL}), phones AS ({RAW_PHONE_DIGITS_SQL})
            SELECT col, count(DISTINCT v) FROM (
                SELECT t.col, t.v FROM pii_texts t JOIN pii p ON t.v = p.v
                UNION ALL
                SELECT t.col, t.v FROM {probe} t JOIN pii p ON contains(t.v, p.v)
                UNION ALL
                SELECT t.col, t.v
                FROM (SELECT col, v, {PHONE_TEXT_SQL} AS digits FROM {probe}
                      WHERE regexp_matches(v, '[0-9][\\s\\-.()\u3000]+[0-9]|[+][0-9]')) t
                JOIN phones p ON contains(t.digits, p.v)
            )
            GROUP BY col ORDER BY col"""
    ).fetchall()
    con.execute("DROP TABLE pii_texts")
    metadata: dict[str, object] = {
        "columns_checked": len(columns),
        "raw_pii_values": pii_values,
        "distinct_texts": n_texts,
        "containment_sampled": sampled,
    }
    metadata |= {f"values holding PII: {col}": n for col, n in leaks}
    return dg.AssetCheckResult(
        passed=not leaks,
        metadata=metadata,
        description=None
        if not leaks
        else f"{table}: buyer PII from raw.orders found in "
        + ", ".join(f"{c} ({n} values)" for c, n in leaks),
    )


def _pii(table: str) -> tuple[str, Rule]:
    return (
        f"No text in {table} equals or contains a buyer's account, name, phone or address from raw.orders.",
        lambda con: no_buyer_pii(con, table),
    )


#: One (order_id, seq) per event of each raw track list.
_TRACK_EVENTS = """
    SELECT order_id, CAST(unnest(range(1, CAST(json_array_length(record) AS BIGINT) + 1)) AS INTEGER) AS seq
    FROM raw.order_tracks"""

clean_comments_checks = checks_from_rules(
    comments.clean_comments,
    {
        "keys_unique": key_rule("clean.comments", "comment_id"),
        "score_in_range": (
            "score is 1..5 and score_sentiment agrees with it.",
            lambda con: rows_satisfy(
                con,
                "clean.comments",
                {
                    "score in 1..5": "score BETWEEN 1 AND 5",
                    "sentiment matches score": """score_sentiment = CASE WHEN score >= 4 THEN 'positive'
                        WHEN score = 3 THEN 'neutral' ELSE 'negative' END""",
                },
                "comment_id, score, score_sentiment",
            ),
        ),
        "timestamps_plausible": (
            "commented_at is set, after 2004 and not after the crawl that first saw the review.",
            lambda con: timestamps_plausible(
                con,
                "clean.comments",
                ["commented_at"],
                fetched="first_seen_at",
                required=["commented_at"],
                show="comment_id, commented_at, first_seen_at",
            ),
        ),
        "reconciles_with_raw": reconcile_rule(
            "clean.comments",
            "SELECT DISTINCT comment_id FROM raw.comments",
            "SELECT comment_id FROM clean.comments",
            "comments",
        ),
        "no_buyer_pii": _pii("clean.comments"),
    },
)

clean_products_checks = checks_from_rules(
    catalog.clean_products,
    {
        "keys_unique": key_rule("clean.products", "sku_id"),
        "reconciles_with_raw": reconcile_rule(
            "clean.products",
            "SELECT sku_id FROM raw.item_details",
            "SELECT sku_id FROM clean.products",
            "item_details",
        ),
        "no_buyer_pii": _pii("clean.products"),
    },
)

clean_wares_checks = checks_from_rules(
    catalog.clean_wares,
    {
        "keys_unique": key_rule("clean.wares", "ware_id"),
        "status_labelled": (
            "Every status_code has its label from the seed's table.",
            lambda con: rows_satisfy(
                con, "clean.wares", {"status_label known": "status_label IS NOT NULL"}, "ware_id, status_code"
            ),
        ),
        "timestamps_plausible": (
            "created/modified/online/offline times are after 2004 and not after the fetch.",
            lambda con: timestamps_plausible(
                con,
                "clean.wares",
                ["created_at", "modified_at", "online_at", "offline_at"],
                fetched="fetched_at",
                show="ware_id, created_at, modified_at, online_at, offline_at",
            ),
        ),
        "reconciles_with_raw": reconcile_rule(
            "clean.wares", "SELECT ware_id FROM raw.wares", "SELECT ware_id FROM clean.wares", "wares"
        ),
        "no_buyer_pii": _pii("clean.wares"),
    },
)

clean_sku_ware_links_checks = checks_from_rules(
    catalog.clean_sku_ware_links,
    {
        "keys_unique": key_rule("clean.sku_ware_links", "sku_id", "ware_id", "source"),
        "reconciles_with_raw": reconcile_rule(
            "clean.sku_ware_links",
            f"{SKU_WARE_LINKS_SQL['orders']} UNION ALL {SKU_WARE_LINKS_SQL['item_details']}",
            "SELECT sku_id, ware_id, source FROM clean.sku_ware_links",
            None,
        ),
        "no_buyer_pii": _pii("clean.sku_ware_links"),
    },
)

clean_order_tracks_checks = checks_from_rules(
    orders.clean_order_tracks,
    {
        "keys_unique": key_rule("clean.order_tracks", "order_id", "seq"),
        "timestamps_plausible": (
            "tracked_at is set and after 2004 (and not in the future).",
            lambda con: timestamps_plausible(
                con,
                "clean.order_tracks",
                ["tracked_at"],
                fetched="now()",
                required=["tracked_at"],
                show="order_id, seq, tracked_at",
            ),
        ),
        "reconciles_with_raw": reconcile_rule(
            "clean.order_tracks",
            _TRACK_EVENTS,
            "SELECT order_id, seq FROM clean.order_tracks",
            "order_tracks",
        ),
        "no_buyer_pii": _pii("clean.order_tracks"),
    },
)

_MONEY = ("order_total_price", "order_seller_price", "order_payment", "freight_price", "seller_discount")

#: Money JD sent that is not a number (present in a raw record, but no DECIMAL): NULL in clean.orders would
#: otherwise look like money the record did not carry.
_MONEY_UNREADABLE = " OR ".join(
    f"({jos_fields.order_text(m, ('r.record', 'r.detail'))} IS NOT NULL AND "
    f"TRY_CAST({jos_fields.order_text(m, ('r.record', 'r.detail'))} AS DECIMAL(18,2)) IS NULL)"
    for m in _MONEY
)

clean_orders_checks = checks_from_rules(
    orders.clean_orders,
    {
        "keys_unique": key_rule("clean.orders", "order_id"),
        "values_valid": (
            "Known state with its label; money not negative, consistent and a number where the record "
            "carries it (missing money is NULL and passes); delivery after shipping.",
            lambda con: rows_satisfy(
                con,
                "clean.orders",
                {
                    "state labelled": "state_label IS NOT NULL",
                    **{f"{m} >= 0": f"{m} IS NULL OR {m} >= 0" for m in _MONEY},
                    "order_seller_price <= order_total_price": (
                        "order_seller_price IS NULL OR order_total_price IS NULL "
                        "OR order_seller_price <= order_total_price"
                    ),
                    "order_payment <= order_total_price + freight_price": (
                        "order_payment IS NULL OR order_total_price IS NULL "
                        "OR order_payment <= order_total_price + coalesce(freight_price, 0)"
                    ),
                    "money sent is a number": f"""NOT EXISTS (
                        SELECT 1 FROM raw.orders r
                        WHERE r.order_id = clean.orders.order_id AND ({_MONEY_UNREADABLE}))""",
                    "delivered_at >= shipped_at": "delivered_at IS NULL OR delivered_at >= shipped_at",
                },
                "order_id, state, " + ", ".join(_MONEY),
            ),
        ),
        "timestamps_plausible": (
            "created_at is set (live dialect: seed 003's records carry none); order times are after 2004 "
            "and not after the fetch.",
            lambda con: _order_times_plausible(con),
        ),
        "reconciles_with_raw": reconcile_rule(
            "clean.orders",
            "SELECT DISTINCT order_id FROM raw.orders",
            "SELECT order_id FROM clean.orders",
            "orders",
        ),
        "no_buyer_pii": _pii("clean.orders"),
    },
)


def _order_times_plausible(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    times = timestamps_plausible(
        con,
        "clean.orders",
        ["created_at", "modified_at", "paid_at", "shipped_at", "delivered_at"],
        fetched="fetched_at",
        show="order_id, created_at, modified_at, shipped_at, delivered_at",
    )
    required = " OR ".join(f"dialect <> '{d}'" for d in jos_fields.ORDER["created_at"].required_in)
    created = rows_satisfy(
        con,
        "clean.orders",
        {"created_at not null": f"created_at IS NOT NULL OR {required}"},
        "order_id, dialect, created_at",
    )
    return dg.AssetCheckResult(
        passed=times.passed and created.passed,
        metadata={**times.metadata, **created.metadata},
        description=times.description or created.description,
    )


clean_order_items_checks = checks_from_rules(
    orders.clean_order_items,
    {
        "keys_unique": key_rule("clean.order_items", "order_id", "sku_id"),
        "values_valid": (
            "quantity > 0, unit_price >= 0 and line_total = unit_price * quantity.",
            lambda con: rows_satisfy(
                con,
                "clean.order_items",
                {
                    "quantity > 0": "quantity > 0",
                    "unit_price >= 0": "unit_price >= 0",
                    "line_total = unit_price * quantity": "line_total = unit_price * quantity",
                },
                "order_id, sku_id, unit_price, quantity, line_total",
            ),
        ),
        "reconciles_with_raw": reconcile_rule(
            "clean.order_items",
            f"SELECT order_id, sku_id FROM ({ORDER_ITEMS_SQL})",
            "SELECT order_id, sku_id FROM clean.order_items",
            None,
        ),
        "no_buyer_pii": _pii("clean.order_items"),
    },
)

CLEAN_CHECKS = [
    *clean_comments_checks,
    *clean_products_checks,
    *clean_wares_checks,
    *clean_sku_ware_links_checks,
    *clean_order_tracks_checks,
    *clean_orders_checks,
    *clean_order_items_checks,
]
