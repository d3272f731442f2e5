"""Asset checks of the derived tables: the rules as SQL, and the checks of each clean table.

Every rule is a function of a DuckDB connection that returns an ``AssetCheckResult`` whose metadata says
what was counted and why it failed, so the same rule serves every table (marts included) and a test can
run it on a table broken on purpose. Correctness checks are *blocking*: a failure stops the downstream
assets in the same run, and the automation condition keeps later ticks from building on it.

No check ever puts a PII value in its metadata (the event log is outside ``raw``): it names the table,
the column and how many values matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagster as dg
import duckdb

from jd_assets.clean import catalog, comments, orders
from jd_assets.raw.discovery import ORDER_ITEMS_SQL, SKU_WARE_LINKS_SQL
from jd_assets.warehouse import DuckDBWarehouse

#: JD's online retail opened in 2004: an earlier JD time is a parsing or source error.
EARLIEST_PLAUSIBLE = "2004-01-01"
#: How many offending keys a failed check shows.
EXAMPLES = 5

Rule = Callable[[duckdb.DuckDBPyConnection], dg.AssetCheckResult]


def _examples(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    rows = con.execute(f"{sql} LIMIT {EXAMPLES}").fetchall()
    return "; ".join(" / ".join("NULL" if v is None else str(v) for v in row) for row in rows)


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
        ).fetchone()[0]
    )


def keys_unique(con: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str]) -> dg.AssetCheckResult:
    """Every row has its key, and no key occurs twice."""
    key_list = ", ".join(keys)
    any_null = " OR ".join(f"{k} IS NULL" for k in keys)
    rows, null_keys = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {any_null}) FROM {table}"
    ).fetchone()
    duplicates_sql = f"SELECT {key_list}, count(*) AS n FROM {table} GROUP BY ALL HAVING count(*) > 1"
    (duplicate_keys,) = con.execute(f"SELECT count(*) FROM ({duplicates_sql})").fetchone()
    passed = null_keys == 0 and duplicate_keys == 0
    metadata: dict[str, object] = {
        "key": key_list,
        "rows": rows,
        "rows_with_null_key": null_keys,
        "duplicate_keys": duplicate_keys,
    }
    if duplicate_keys:
        metadata["duplicate_examples"] = _examples(con, f"{duplicates_sql} ORDER BY n DESC, {key_list}")
    return dg.AssetCheckResult(
        passed=passed,
        metadata=metadata,
        description=None
        if passed
        else f"{table}: {null_keys} rows without ({key_list}), {duplicate_keys} repeated keys",
    )


def rows_satisfy(
    con: duckdb.DuckDBPyConnection, table: str, rules: dict[str, str], show: str
) -> dg.AssetCheckResult:
    """Every row satisfies every rule (a SQL condition; NULL counts as a violation). ``show`` names a row."""
    counts = ", ".join(f"count(*) FILTER (WHERE NOT coalesce({cond}, false))" for cond in rules.values())
    violations = dict(zip(rules, con.execute(f"SELECT {counts} FROM {table}").fetchone(), strict=True))
    failing = {name: n for name, n in violations.items() if n}
    metadata: dict[str, object] = {f"violations: {name}": n for name, n in violations.items()}
    for name in failing:
        metadata[f"examples: {name}"] = _examples(
            con, f"SELECT {show} FROM {table} WHERE NOT coalesce({rules[name]}, false) ORDER BY ALL"
        )
    return dg.AssetCheckResult(
        passed=not failing,
        metadata=metadata,
        description=None
        if not failing
        else f"{table}: " + ", ".join(f"{n} rows break '{k}'" for k, n in failing.items()),
    )


def timestamps_plausible(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    *,
    fetched: str,
    required: Sequence[str] = (),
    show: str,
) -> dg.AssetCheckResult:
    """JD times fall between 2004 and one day after the row was fetched (a time after its own fetch is a
    parsing error: wrong zone, wrong unit, wrong format). ``required`` columns must not be NULL."""
    upper = f"timezone('Asia/Shanghai', {fetched}) + INTERVAL 1 DAY"
    rules = {
        f"{c} in [{EARLIEST_PLAUSIBLE}, fetch + 1 day]": (
            f"{c} IS NULL OR ({c} >= TIMESTAMP '{EARLIEST_PLAUSIBLE}' AND {c} <= {upper})"
        )
        for c in columns
    }
    rules |= {f"{c} not null": f"{c} IS NOT NULL" for c in required}
    return rows_satisfy(con, table, rules, show)


def reconciles(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    expected_sql: str,
    actual_sql: str,
    source: str | None = None,
) -> dg.AssetCheckResult:
    """The table holds exactly the keys its upstream gives (as multisets: a doubled or lost row fails).

    ``source`` names the raw source whose rejects explain what raw did not keep: they are counted by
    reason in the metadata, and each must carry a reason.
    """
    (expected,) = con.execute(f"SELECT count(*) FROM ({expected_sql})").fetchone()
    (actual,) = con.execute(f"SELECT count(*) FROM ({actual_sql})").fetchone()
    missing_sql = f"({expected_sql}) EXCEPT ALL ({actual_sql})"
    extra_sql = f"({actual_sql}) EXCEPT ALL ({expected_sql})"
    (missing,) = con.execute(f"SELECT count(*) FROM ({missing_sql})").fetchone()
    (extra,) = con.execute(f"SELECT count(*) FROM ({extra_sql})").fetchone()
    metadata: dict[str, object] = {
        "expected_rows": expected,
        "rows": actual,
        "missing_in_table": missing,
        "unexpected_in_table": extra,
    }
    if missing:
        metadata["missing_examples"] = _examples(con, f"SELECT * FROM ({missing_sql}) ORDER BY ALL")
    if extra:
        metadata["unexpected_examples"] = _examples(con, f"SELECT * FROM ({extra_sql}) ORDER BY ALL")
    unexplained = 0
    if source:
        rejects = con.execute(
            """SELECT regexp_replace(reason, '[0-9]{3,}', '<id>', 'g') AS reason, count(*) AS n
               FROM raw.rejects WHERE source = ? GROUP BY ALL ORDER BY n DESC, reason LIMIT 10""",
            [source],
        ).fetchall()
        (unexplained,) = con.execute(
            "SELECT count(*) FROM raw.rejects WHERE source = ? AND coalesce(trim(reason), '') = ''", [source]
        ).fetchone()
        metadata["raw_rejects"] = sum(n for _, n in rejects)
        metadata["raw_rejects_by_reason"] = dg.MetadataValue.json({reason: n for reason, n in rejects})
        metadata["raw_rejects_without_reason"] = unexplained
    passed = missing == 0 and extra == 0 and unexplained == 0
    return dg.AssetCheckResult(
        passed=passed,
        metadata=metadata,
        description=None
        if passed
        else f"{table}: {missing} upstream records missing, {extra} unexpected rows, "
        f"{unexplained} rejects without a reason",
    )


#: Every buyer identifier in raw orders, both dialects: account, consignee name, phones, street address.
#: Values shorter than 2 characters cannot identify anyone and would match everywhere.
RAW_PII_SQL = """
SELECT DISTINCT trim(v) AS v
FROM (
    SELECT unnest([
        record->>'$.pin',
        c->>'$.fullname', c->>'$.mobile', c->>'$.telephone',
        coalesce(c->>'$.fullAddress', c->>'$.full_address')
    ]) AS v
    FROM (SELECT record, coalesce(record->'$.consigneeInfo', record->'$.consignee_info') AS c FROM raw.orders)
)
WHERE length(trim(v)) >= 2
"""


#: Most (text, PII value) pairs the containment scan compares; above it, a fixed sample of texts.
PII_CONTAINS_BUDGET = 50_000_000


def no_buyer_pii(
    con: duckdb.DuckDBPyConnection, table: str, budget: int | None = None
) -> dg.AssetCheckResult:
    """No text value of the table equals or contains a buyer identifier found in raw orders.

    Every VARCHAR (and VARCHAR[]) column is compared, distinct values only, with the distinct PII values.
    Equality is a hash join over every value, whatever the size. Containment compares every pair, which
    grows as texts x buyers: up to ``PII_CONTAINS_BUDGET`` pairs (well under a second in DuckDB; the demo
    needs about 6 million) every text is scanned, above it a repeatable reservoir sample of texts is, and
    the metadata says so.
    """
    budget = PII_CONTAINS_BUDGET if budget is None else budget
    schema, name = table.split(".")
    columns = [
        c
        for (c,) in con.execute(
            """SELECT column_name FROM duckdb_columns()
               WHERE schema_name = ? AND table_name = ? AND data_type IN ('VARCHAR', 'VARCHAR[]')
               ORDER BY column_index""",
            [schema, name],
        ).fetchall()
    ]
    if not _table_exists(con, "raw.orders") or not columns:
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
        f"""WITH pii AS ({RAW_PII_SQL})
            SELECT col, count(DISTINCT v) FROM (
                SELECT t.col, t.v FROM pii_texts t JOIN pii p ON t.v = p.v
                UNION ALL
                SELECT t.col, t.v FROM {probe} t JOIN pii p ON contains(t.v, p.v)
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


def checks_from_rules(
    asset: dg.AssetsDefinition, rules: dict[str, tuple[str, Rule]], *, blocking: bool = True
) -> list[dg.AssetChecksDefinition]:
    """One asset check per named rule, each reading the warehouse under the shared read lock."""

    def build(check_name: str, description: str, rule: Rule) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=asset, name=check_name, description=description, blocking=blocking)
        def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
            with warehouse.read() as con:
                return rule(con)

        return _check

    return [build(name, description, rule) for name, (description, rule) in rules.items()]


def _keys(table: str, *keys: str) -> tuple[str, Rule]:
    return f"({', '.join(keys)}) is present and unique in {table}.", lambda con: keys_unique(con, table, keys)


def _pii(table: str) -> tuple[str, Rule]:
    return (
        f"No text in {table} equals or contains a buyer's account, name, phone or address from raw.orders.",
        lambda con: no_buyer_pii(con, table),
    )


def _reconcile(table: str, expected_sql: str, actual_sql: str, source: str | None) -> tuple[str, Rule]:
    return (
        f"{table} holds exactly the valid upstream records (raw rejects counted by reason).",
        lambda con: reconciles(con, table, expected_sql=expected_sql, actual_sql=actual_sql, source=source),
    )


#: One (order_id, seq) per event of each raw track list.
_TRACK_EVENTS = """
    SELECT order_id, CAST(unnest(range(1, CAST(json_array_length(record) AS BIGINT) + 1)) AS INTEGER) AS seq
    FROM raw.order_tracks"""

clean_comments_checks = checks_from_rules(
    comments.clean_comments,
    {
        "keys_unique": _keys("clean.comments", "comment_id"),
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
        "reconciles_with_raw": _reconcile(
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
        "keys_unique": _keys("clean.products", "sku_id"),
        "reconciles_with_raw": _reconcile(
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
        "keys_unique": _keys("clean.wares", "ware_id"),
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
        "reconciles_with_raw": _reconcile(
            "clean.wares", "SELECT ware_id FROM raw.wares", "SELECT ware_id FROM clean.wares", "wares"
        ),
        "no_buyer_pii": _pii("clean.wares"),
    },
)

clean_sku_ware_links_checks = checks_from_rules(
    catalog.clean_sku_ware_links,
    {
        "keys_unique": _keys("clean.sku_ware_links", "sku_id", "ware_id", "source"),
        "reconciles_with_raw": _reconcile(
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
        "keys_unique": _keys("clean.order_tracks", "order_id", "seq"),
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
        "reconciles_with_raw": _reconcile(
            "clean.order_tracks",
            _TRACK_EVENTS,
            "SELECT order_id, seq FROM clean.order_tracks",
            "order_tracks",
        ),
        "no_buyer_pii": _pii("clean.order_tracks"),
    },
)

_MONEY = ("order_total_price", "order_seller_price", "order_payment", "freight_price")

clean_orders_checks = checks_from_rules(
    orders.clean_orders,
    {
        "keys_unique": _keys("clean.orders", "order_id"),
        "values_valid": (
            "Known state with its label, money present and not negative, delivery after shipping.",
            lambda con: rows_satisfy(
                con,
                "clean.orders",
                {
                    "state labelled": "state_label IS NOT NULL",
                    **{f"{m} >= 0": f"{m} >= 0" for m in _MONEY},
                    "delivered_at >= shipped_at": "delivered_at IS NULL OR delivered_at >= shipped_at",
                },
                "order_id, state, " + ", ".join(_MONEY),
            ),
        ),
        "timestamps_plausible": (
            "created_at is set; order times are after 2004 and not after the fetch.",
            lambda con: timestamps_plausible(
                con,
                "clean.orders",
                ["created_at", "modified_at", "paid_at", "shipped_at", "delivered_at"],
                fetched="fetched_at",
                required=["created_at"],
                show="order_id, created_at, modified_at, shipped_at, delivered_at",
            ),
        ),
        "reconciles_with_raw": _reconcile(
            "clean.orders",
            "SELECT DISTINCT order_id FROM raw.orders",
            "SELECT order_id FROM clean.orders",
            "orders",
        ),
        "no_buyer_pii": _pii("clean.orders"),
    },
)

clean_order_items_checks = checks_from_rules(
    orders.clean_order_items,
    {
        "keys_unique": _keys("clean.order_items", "order_id", "sku_id"),
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
        "reconciles_with_raw": _reconcile(
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
