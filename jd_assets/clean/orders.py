"""Orders: ``clean.orders`` (with delivery facts), ``clean.order_items``, ``clean.order_tracks``.

Both router dialects land in the same tables: the live one (camelCase, ids and money as strings) and the
seed's (snake_case, ids and money as JSON numbers), in every shape seed 003 shows (a list record without
items completed by its ``order.get`` record); the field names come from the one map, jd_assets.jos_fields.
Money is cast from the JSON *text* to DECIMAL, so a JSON number never passes through a float; money a
record does not carry is NULL. Buyer PII stays in raw: ``clean.orders`` keeps province and city,
and keyed hashes (HMAC-SHA256, key ``JD_PII_KEY``) that stand for the buyer and the consignee.
"""

import dagster as dg

from jd_assets import jos_fields
from jd_assets.clean.pii import PiiKey, hmac_sql
from jd_assets.conventions import TIME_FORMAT_SQL
from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.derived.building import (
    BEIJING,
    KINDS,
    Column,
    label_case,
    rebuild,
    row_count,
    select_of,
    table_metadata,
)
from jd_assets.derived.incremental import (
    DerivedConfig,
    begin,
    changed_partitions,
    changed_upstream,
    digest,
    finish,
    full_requested,
    replace_keys,
    reset_seen,
)
from jd_assets.gateways.jos import ORDER_STATE_LABELS
from jd_assets.raw import tables
from jd_assets.raw.assets import RAW_ORDER_TRACKS, RAW_ORDERS
from jd_assets.raw.discovery import ORDER_ITEMS_SQL
from jd_assets.warehouse import DuckDBWarehouse

GROUP = "clean"

#: Orders in these states did not sell anything (excluded from units sold and revenue in the marts).
CANCELLED_STATES = ("TRADE_CANCELED",)

#: The one rule that says a track event is the delivery: its text says the parcel was signed for.
DELIVERED_SQL = "regexp_matches(content, '已签收|签收成功|妥投|(?i:delivered)')"


_RAW = ("o.record", "o.detail")  # the list record, then its order.get record


def _text(name: str) -> str:
    """An order field as text, whatever the dialect and shape (jd_assets.jos_fields)."""
    return jos_fields.order_text(name, _RAW)


def _money(name: str) -> str:
    return f"TRY_CAST({_text(name)} AS DECIMAL(18,2))"


ORDER_TRACKS_COLUMNS = (
    Column("order_id", "VARCHAR", "The order."),
    Column(
        "seq",
        "INTEGER",
        "Position of the event in the order's track list, from 1 (the list is in time order).",
    ),
    Column("tracked_at", "TIMESTAMP", f"When the event happened, {BEIJING}."),
    Column("content", "VARCHAR", "The logistics message, trimmed."),
    Column(
        "is_delivery", "BOOLEAN", f"True when the message says the parcel was delivered: {DELIVERED_SQL}."
    ),
)

ORDER_TRACKS_SQL = f"""
CREATE OR REPLACE TABLE clean.order_tracks AS
WITH events AS (
    SELECT t.order_id,
           unnest(CAST(t.record AS JSON[])) AS event,
           generate_subscripts(CAST(t.record AS JSON[]), 1) AS seq
    FROM raw.order_tracks t
    /*where*/
)
SELECT
    order_id,
    CAST(seq AS INTEGER) AS seq,
    try_strptime(event->>'$.time', {TIME_FORMAT_SQL}) AS tracked_at,
    trim(event->>'$.content') AS content,
    coalesce({DELIVERED_SQL}, false) AS is_delivery
FROM events
ORDER BY order_id, seq
"""
ORDER_TRACKS_SELECT = select_of(ORDER_TRACKS_SQL)

ORDERS_COLUMNS = (
    Column("order_id", "VARCHAR", "JD order id (digit string); unique."),
    Column("order_date", "DATE", "The Beijing day the order was created (its raw partition)."),
    Column(
        "dialect",
        "VARCHAR",
        "Which router dialect the record came in: live (camelCase) or seed (snake_case).",
    ),
    Column("state", "VARCHAR", "Order state code (orderState), as of fetched_at."),
    Column(
        "state_label",
        "VARCHAR",
        "State label: " + ", ".join(f"{k} {v}" for k, v in ORDER_STATE_LABELS.items()) + ".",
    ),
    Column("is_cancelled", "BOOLEAN", f"State is one of {', '.join(CANCELLED_STATES)}."),
    Column(
        "created_at",
        "TIMESTAMP",
        f"Order created (orderStartTime), {BEIJING}; NULL when the record carries none (seed 003's).",
    ),
    Column("modified_at", "TIMESTAMP", f"Order last modified, {BEIJING}."),
    Column("paid_at", "TIMESTAMP", f"Payment confirmed (paymentConfirmTime), {BEIJING}, when given."),
    Column("order_total_price", "DECIMAL(18,2)", "Order total before discounts (orderTotalPrice), CNY."),
    Column("order_seller_price", "DECIMAL(18,2)", "Amount due to the seller (orderSellerPrice), CNY."),
    Column("order_payment", "DECIMAL(18,2)", "Amount the buyer paid (orderPayment), CNY."),
    Column("freight_price", "DECIMAL(18,2)", "Freight (freightPrice), CNY."),
    Column("seller_discount", "DECIMAL(18,2)", "Seller discount (sellerDiscount), CNY, when given."),
    Column("pay_type", "VARCHAR", "Payment type as given, e.g. 1-货到付款, 4-在线支付."),
    Column("province", "VARCHAR", "Consignee province (not PII at this grain)."),
    Column("city", "VARCHAR", "Consignee city."),
    Column(
        "buyer_key",
        "VARCHAR",
        "HMAC-SHA256 (key JD_PII_KEY, hex) of the buyer account (pin): same buyer, same key; not reversible.",
    ),
    Column(
        "consignee_key",
        "VARCHAR",
        "HMAC-SHA256 (key JD_PII_KEY, hex) of trim(name) | digits of mobile | trim(full address), "
        "whichever spelling the dialect uses (fullname/name, fullAddress/full_address/address).",
    ),
    Column("item_lines", "INTEGER", "Number of item lines in the order."),
    Column(
        "shipped_at", "TIMESTAMP", f"First logistics event (first track time), {BEIJING}; NULL if no track."
    ),
    Column("delivered_at", "TIMESTAMP", f"First track event that says delivered, {BEIJING}."),
    Column("delivery_hours", "DOUBLE", "Hours from shipped_at to delivered_at (2 decimals)."),
    Column("fetched_at", "TIMESTAMPTZ", "When this version of the order was fetched (instant)."),
)

#: What identifies a consignee: trimmed name, the mobile's digits, trimmed full address (every spelling).
_CONSIGNEE_KEY_TEXT = f"""
        coalesce(trim({jos_fields.consignee_text("name", _RAW)}), '') || '|'
        || regexp_replace(coalesce({jos_fields.consignee_text("mobile", _RAW)}, ''), '[^0-9]', '', 'g') || '|'
        || coalesce(trim({jos_fields.consignee_text("address", _RAW)}), '')"""

ORDERS_SQL = f"""
CREATE OR REPLACE TABLE clean.orders AS
WITH latest AS (
    SELECT o.*
    FROM raw.orders o
    /*where*/
    QUALIFY row_number() OVER (PARTITION BY o.order_id ORDER BY o.fetched_at DESC, o.order_date DESC) = 1
), deliveries AS (
    SELECT order_id,
           min(tracked_at) AS shipped_at,
           min(tracked_at) FILTER (WHERE is_delivery) AS delivered_at
    FROM clean.order_tracks
    /*where*/
    GROUP BY order_id
)
SELECT
    o.order_id,
    o.order_date,
    o.dialect,
    o.order_state AS state,
    {label_case("o.order_state", ORDER_STATE_LABELS)} AS state_label,
    o.order_state IN ({", ".join(f"'{s}'" for s in CANCELLED_STATES)}) AS is_cancelled,
    o.created_at,
    o.modified_at,
    try_strptime({_text("paid_at")}, {TIME_FORMAT_SQL}) AS paid_at,
    {_money("order_total_price")} AS order_total_price,
    {_money("order_seller_price")} AS order_seller_price,
    {_money("order_payment")} AS order_payment,
    {_money("freight_price")} AS freight_price,
    {_money("seller_discount")} AS seller_discount,
    {_text("pay_type")} AS pay_type,
    {jos_fields.consignee_text("province", _RAW)} AS province,
    {jos_fields.consignee_text("city", _RAW)} AS city,
    {hmac_sql(f"nullif(trim({_text('pin')}), '')")} AS buyer_key,
    CASE WHEN json_type({jos_fields.consignee_sql(_RAW)}) = 'OBJECT'
         THEN {hmac_sql(_CONSIGNEE_KEY_TEXT)} END AS consignee_key,
    CAST(json_array_length({jos_fields.items_sql(_RAW)}) AS INTEGER) AS item_lines,
    d.shipped_at,
    d.delivered_at,
    round(date_diff('second', d.shipped_at, d.delivered_at) / 3600.0, 2) AS delivery_hours,
    o.fetched_at
FROM latest o
LEFT JOIN deliveries d USING (order_id)
ORDER BY o.order_date, o.order_id
"""
ORDERS_SELECT = select_of(ORDERS_SQL)

ORDER_ITEMS_COLUMNS = (
    Column("order_id", "VARCHAR", "The order."),
    Column("order_date", "DATE", "The Beijing day the order was created."),
    Column("sku_id", "VARCHAR", "The SKU bought; (order_id, sku_id) is unique."),
    Column("ware_id", "VARCHAR", "The ware of the SKU, as the order item gives it."),
    Column("sku_name", "VARCHAR", "SKU name at the time of the order."),
    Column("unit_price", "DECIMAL(18,2)", "Unit price (jdPrice; seed: jd_price or price), CNY."),
    Column("quantity", "INTEGER", "Units bought (itemTotal; seed: item_total or num)."),
    Column("line_total", "DECIMAL(18,2)", "unit_price * quantity, CNY."),
    Column("outer_sku_id", "VARCHAR", "Seller's SKU id (outerSkuId), when given."),
)

#: The orders are filtered (``/*where*/``) before their items are unnested.
_ITEMS_OF_ORDERS = ORDER_ITEMS_SQL.replace(
    "FROM raw.orders o,", "FROM (SELECT * FROM raw.orders /*where*/) o,"
)
if "/*where*/" not in _ITEMS_OF_ORDERS:
    raise RuntimeError(
        "ORDER_ITEMS_SQL no longer reads 'FROM raw.orders o,': clean.order_items needs its filter"
    )

ORDER_ITEMS_SQL_CLEAN = f"""
CREATE OR REPLACE TABLE clean.order_items AS
WITH items AS ({_ITEMS_OF_ORDERS})
SELECT
    order_id,
    order_date,
    sku_id,
    ware_id,
    {jos_fields.item_text("sku_name")} AS sku_name,
    TRY_CAST({jos_fields.item_text("unit_price")} AS DECIMAL(18,2)) AS unit_price,
    TRY_CAST({jos_fields.item_text("quantity")} AS INTEGER) AS quantity,
    CAST(unit_price * quantity AS DECIMAL(18,2)) AS line_total,
    {jos_fields.item_text("outer_sku_id")} AS outer_sku_id
FROM items
ORDER BY order_date, order_id, sku_id
"""
ORDER_ITEMS_SELECT = select_of(ORDER_ITEMS_SQL_CLEAN)

#: (part, key, fetched_at) of the order tables: both are landed one order day at a time.
ORDERS_STATE = "SELECT order_date AS part, order_id AS key, fetched_at FROM raw.orders"
TRACKS_STATE = "SELECT order_date AS part, order_id AS key, fetched_at FROM raw.order_tracks"
_CHANGED = "WHERE order_id IN (SELECT key FROM changed_keys)"


def _update(con, build, select_sql: str, state_sql: str, sku: str | None = None, log: bool = True) -> int:
    """Whole, or only the orders of the order days landed again since the last build; how many orders."""
    if build.full:
        con.execute(f"CREATE OR REPLACE TABLE {build.table} AS " + select_sql.replace("/*where*/", ""))
        reset_seen(con, build.table, state_sql)
        finish(con, build)
        return 0
    changed = changed_partitions(con, build.table, state_sql)
    insert = f"INSERT INTO {build.table} " + select_sql.replace("/*where*/", _CHANGED)
    replace_keys(con, build, "order_id", insert, sku=sku, log=log)
    finish(con, build)
    return changed


@dg.asset(
    deps=[RAW_ORDER_TRACKS],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.order_tracks", ORDER_TRACKS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_order_tracks(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Logistics events of the shipped orders, one row per event, in time order per order."""
    with rebuild(warehouse, [tables.ORDER_TRACKS]) as con:
        build = begin(
            con, "clean.order_tracks", digest(ORDER_TRACKS_SQL), full=full_requested(context, config)
        )
        changed = _update(con, build, ORDER_TRACKS_SELECT, TRACKS_STATE)
        # Orders counted by their first event: seq runs from 1 in every order's list and (order_id, seq)
        # is unique (check keys_unique), so this equals count(DISTINCT order_id) without hashing 5M ids.
        rows, orders, deliveries = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE seq = 1), count(*) FILTER (WHERE is_delivery) "
            "FROM clean.order_tracks"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "orders": int(orders),
            "delivery_events": int(deliveries),
            **build.metadata(changed),
        }
    )


@dg.asset(
    deps=[RAW_ORDERS, clean_order_tracks],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.orders", ORDERS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_orders(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse, pii_key: PiiKey
) -> dg.MaterializeResult:
    """Orders, one row per order in its latest state: DECIMAL money, keyed buyer hash, delivery times."""
    params = pii_key.hmac_params()
    with rebuild(warehouse, [tables.ORDERS]) as con:
        key_metadata = pii_key.hold_to_stored_key(con)
        # another key (a rotation) changes every buyer_key: the digest then asks for a whole rebuild
        build = begin(
            con,
            "clean.orders",
            digest(ORDERS_SQL, pii_key.fingerprint()),
            full=full_requested(context, config),
            upstreams=("clean.order_tracks",),
        )
        changed = _update_orders(con, build, params)
        rows = row_count(con, "clean.orders")
        live, seed, delivered, revenue = con.execute(
            """SELECT count(*) FILTER (WHERE dialect = 'live'), count(*) FILTER (WHERE dialect = 'seed'),
                      count(delivered_at), coalesce(sum(order_payment) FILTER (WHERE NOT is_cancelled), 0)
               FROM clean.orders"""
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "live_dialect": int(live),
            "seed_dialect": int(seed),
            "delivered": int(delivered),
            "payment_not_cancelled": float(revenue),
            **key_metadata,
            **build.metadata(changed),
        }
    )


def _update_orders(con, build, params: dict[str, str]) -> int:
    """Whole, or the orders of re-landed order days and those whose tracks changed; how many orders."""
    if build.full:
        con.execute(ORDERS_SQL, params)
        reset_seen(con, build.table, ORDERS_STATE)
        finish(con, build)
        return 0
    changed_partitions(con, build.table, ORDERS_STATE, into="changed_days")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE changed_keys AS
        SELECT key FROM changed_days
        UNION SELECT key FROM ({changed_upstream(build, "clean.order_tracks")}) WHERE key IS NOT NULL"""
    )
    insert = "INSERT INTO clean.orders " + ORDERS_SELECT.replace("/*where*/", _CHANGED)
    con.execute("DELETE FROM clean.orders WHERE order_id IN (SELECT key FROM changed_keys)")
    con.execute(insert, params)
    finish(con, build)
    return int(con.execute("SELECT count(*) FROM changed_keys").fetchone()[0])


@dg.asset(
    deps=[RAW_ORDERS],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.order_items", ORDER_ITEMS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_order_items(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Order lines, one row per order and SKU: unit price, quantity and line total as DECIMAL."""
    with rebuild(warehouse, [tables.ORDERS]) as con:
        build = begin(
            con, "clean.order_items", digest(ORDER_ITEMS_SQL_CLEAN), full=full_requested(context, config)
        )
        changed = _update(con, build, ORDER_ITEMS_SELECT, ORDERS_STATE, sku="sku_id")
        rows = row_count(con, "clean.order_items")
        units, skus = con.execute(
            "SELECT coalesce(sum(quantity), 0), count(DISTINCT sku_id) FROM clean.order_items"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "units": int(units),
            "skus": int(skus),
            **build.metadata(changed),
        }
    )
