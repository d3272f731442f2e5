"""The raw tables: one row per source record, its typed keys, and what makes a record invalid.

Timestamps in ``raw`` are naive Beijing wall time, as JD sends them; ``fetched_at`` is an instant.
"""

from __future__ import annotations

import dagster as dg

from jd_assets import jos_fields
from jd_assets.conventions import JD_ID_RE, TIME_FORMAT_SQL
from jd_assets.gateways.fengchao import WARE_STATUS_LABELS
from jd_assets.gateways.jos import ORDER_STATES
from jd_assets.gateways.justone import PENDING_STATUSES
from jd_assets.raw.landing import RawTable

WARE_STATUSES = tuple(WARE_STATUS_LABELS)


def _sql_list(values: tuple) -> str:
    return ", ".join(f"'{v}'" for v in values)


# A comment whose productId is not the SKU asked for is kept, not rejected. Seed 000's page shows them
# equal but never says they must be; JD's product pages show the reviews of every colour and size of a
# product on each variant's page, so a page may well carry a sibling SKU's reviews (an assumption: no seed
# shows one). clean.comments keeps both: sku_id (asked for) and reviewed_sku_id (productId).
COMMENTS = RawTable(
    name="raw.comments",
    source="comments",
    partition_column="sku_id",
    key_column="comment_id",
    merge=True,
    mark_column="commented_at",
    preview="""comment_id, commented_at, record->>'$.commentScore' AS score,
               left(record->>'$.commentData', 40) AS text""",
    columns=(
        ("sku_id", "VARCHAR NOT NULL"),
        ("comment_id", "VARCHAR NOT NULL"),
        ("commented_at", "TIMESTAMP NOT NULL"),
    ),
    extract=f"""
        request_key AS sku_id,
        record->>'$.commentId' AS comment_id,
        try_strptime(record->>'$.commentDate', {TIME_FORMAT_SQL}) AS commented_at,
        record->>'$.commentScore' AS score_text
    """,
    reject_reason=f"""CASE
        WHEN comment_id IS NULL THEN 'missing commentId'
        WHEN NOT regexp_matches(comment_id, {JD_ID_RE})
            THEN 'commentId ' || comment_id || ' is not a digit id'
        WHEN commented_at IS NULL
            THEN 'commentDate ' || coalesce(record->>'$.commentDate', 'null') || ' is not yyyy-MM-dd HH:mm:ss'
        WHEN score_text IS NULL OR score_text NOT IN ('1', '2', '3', '4', '5')
            THEN 'commentScore ' || coalesce(score_text, 'null') || ' is not 1..5'
    END""",
)

ITEM_DETAILS = RawTable(
    name="raw.item_details",
    source="item_details",
    partition_column="sku_id",
    key_column="sku_id",
    preview="sku_id, ware_id, record->>'$.title' AS title, record->>'$.price' AS price",
    columns=(("sku_id", "VARCHAR NOT NULL"), ("ware_id", "VARCHAR")),
    extract=f"""
        request_key AS sku_id,
        record->>'$.itemId' AS item_id,
        CASE WHEN regexp_matches(record->>'$.wareId', {JD_ID_RE}) THEN record->>'$.wareId' END AS ware_id
    """,
    reject_reason=f"""CASE
        WHEN json_type(record) <> 'OBJECT' THEN 'detail payload is not an object'
        WHEN item_id IS NOT NULL AND item_id <> sku_id
            THEN 'itemId ' || item_id || ' is not the requested SKU ' || sku_id
        WHEN upper(coalesce(record->>'$.taskStatus', record->>'$.status', record->>'$.state', ''))
            IN {tuple(sorted(PENDING_STATUSES))}
            THEN 'pending task payload, not a product'
    END""",
)

WARES = RawTable(
    name="raw.wares",
    source="wares",
    partition_column="ware_id",
    key_column="ware_id",
    preview="ware_id, ware_status, record->>'$.title' AS title",
    columns=(("ware_id", "VARCHAR NOT NULL"), ("ware_status", "INTEGER")),
    extract="""
        request_key AS ware_id,
        record->>'$.wareId' AS answered_ware_id,
        TRY_CAST(record->>'$.wareStatus' AS INTEGER) AS ware_status
    """,
    reject_reason=f"""CASE
        WHEN answered_ware_id IS DISTINCT FROM ware_id
            THEN 'wareId ' || coalesce(answered_ware_id, 'null') || ' is not the requested ware ' || ware_id
        WHEN ware_status IS NULL OR ware_status NOT IN ({", ".join(map(str, WARE_STATUSES))})
            THEN 'unknown wareStatus ' || coalesce(record->>'$.wareStatus', 'null')
    END""",
)

_DIALECT = jos_fields.dialect_sql("record")
_ORDER_FIELD = jos_fields.ORDER


def _spelled(name: str) -> str:
    return jos_fields.spelled_sql(_ORDER_FIELD[name])


_REQUIRED_CREATION = " OR ".join(f"dialect = '{d}'" for d in _ORDER_FIELD["created_at"].required_in)

ORDERS = RawTable(
    name="raw.orders",
    source="orders",
    partition_column="order_date",
    key_column="order_id",
    preview="order_id, created_at, order_state, dialect",
    columns=(
        ("order_date", "DATE NOT NULL"),
        ("order_id", "VARCHAR NOT NULL"),
        ("created_at", "TIMESTAMP"),
        ("modified_at", "TIMESTAMP"),
        ("order_state", "VARCHAR NOT NULL"),
        ("dialect", "VARCHAR NOT NULL"),
    ),
    detail=True,
    migrations=(
        # files created before seed 003's records (no creation time) and order.get details were kept
        (
            "SELECT count(*) > 0 FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'raw' AND table_name = 'orders' AND column_name = 'created_at' "
            "AND NOT is_nullable",
            "ALTER TABLE raw.orders ALTER COLUMN created_at DROP NOT NULL",
        ),
    ),
    # Both router dialects, every documented spelling (jd_assets.jos_fields); the list record first,
    # then its order.get record (``detail``, fetched when the list record carries no items).
    extract=f"""
        CAST(request_key AS DATE) AS order_date,
        {jos_fields.order_text("order_id")} AS order_id,
        {jos_fields.order_text("created_at")} AS created_text,
        try_strptime(created_text, {TIME_FORMAT_SQL}) AS created_at,
        try_strptime({jos_fields.order_text("modified")}, {TIME_FORMAT_SQL}) AS modified_at,
        {jos_fields.order_text("state")} AS order_state,
        {_DIALECT} AS dialect,
        {jos_fields.items_sql()} AS items
    """,
    reject_reason=f"""CASE
        WHEN order_id IS NULL THEN 'missing ' || {_spelled("order_id")}
        WHEN NOT regexp_matches(order_id, {JD_ID_RE})
            THEN {_spelled("order_id")} || ' ' || order_id || ' is not a digit id'
        WHEN created_text IS NULL AND ({_REQUIRED_CREATION}) THEN 'missing ' || {_spelled("created_at")}
        WHEN created_text IS NOT NULL AND created_at IS NULL
            THEN {_spelled("created_at")} || ' ' || created_text || ' is not yyyy-MM-dd HH:mm:ss'
        WHEN CAST(created_at AS DATE) <> order_date
            THEN 'created ' || created_at || ' outside the partition day ' || order_date
        WHEN order_state IS NULL OR order_state NOT IN ({_sql_list(ORDER_STATES)})
            THEN 'unknown ' || {_spelled("state")} || ' ' || coalesce(order_state, 'null')
        WHEN items IS NULL
            THEN 'missing ' || {_spelled("items")}
                 || CASE WHEN detail IS NULL THEN '' ELSE ' (also in its order.get record)' END
    END""",
)

ORDER_TRACKS = RawTable(
    name="raw.order_tracks",
    source="order_tracks",
    partition_column="order_date",
    key_column="order_id",
    preview="order_id, json_array_length(record) AS events",
    columns=(("order_date", "DATE NOT NULL"), ("order_id", "VARCHAR NOT NULL")),
    # request_key is "<day>/<order id>": the track answer itself does not repeat the order id.
    extract="""
        CAST(split_part(request_key, '/', 1) AS DATE) AS order_date,
        split_part(request_key, '/', 2) AS order_id
    """,
    reject_reason="""CASE
        WHEN json_type(record) <> 'ARRAY' THEN 'order_tracks is not a list'
    END""",
)


#: Top-level fields each source is known to send (seed documents and docs/GATEWAYS.md), as
#: (always present, sometimes present), in the live dialect; the schema-drift checks compare landed
#: records against them (orders of the seed dialect against ``KNOWN_SEED_FIELDS``).
KNOWN_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    COMMENTS.name: (
        frozenset(
            [
                "userNickName",
                "userImgURL",
                "commentId",
                "productId",
                "buyCount",
                "commentDate",
                "commentData",
                "pictureInfoList",
                "commentScore",
                "guid",
            ]
        ),
        frozenset(),
    ),
    ITEM_DETAILS.name: (
        frozenset(
            [
                "itemId",
                "wareId",
                "title",
                "brandName",
                "brandId",
                "shopId",
                "shopName",
                "categoryPath",
                "categoryId",
                "price",
                "originalPrice",
                "mainImageUrl",
                "updateTime",
            ]
        ),
        frozenset({"colorSize"}),
    ),
    WARES.name: (
        frozenset({"wareId", "title", "wareStatus"}),
        frozenset(
            [
                "categoryId",
                "brandId",
                "brandName",
                "templateId",
                "transportId",
                "outerId",
                "itemNum",
                "barCode",
                "wareLocation",
                "modified",
                "created",
                "offlineTime",
                "onlineTime",
                "colType",
                "delivery",
                "logo",
                "images",
                "jdPrice",
                "marketPrice",
                "costPrice",
                "stockNum",
                "multiCategoryId",
                "shopId",
                "categorySecId",
                "promiseId",
                # the rest of seed 004's field table (findWareById's Ware object): documented, so a
                # record carrying them is not schema drift
                "adWords",
                "wrap",
                "packListing",
                "weight",
                "width",
                "height",
                "length",
                "props",
                "features",
                "shopCategorys",
                "mobileDesc",
                "introduction",
                "zhuangBaIntroduction",
                "zhuangBaId",
                "introductionUseFlag",
                "afterSales",
                "multiCateProps",
                "sellPoint",
                "wareTax",
                "afterSaleDesc",
                "zhuangBaMobileDesc",
                "mobileZhuangBaId",
                "mobileDescUseFlag",
                "fitCaseHtmlPc",
                "fitCaseHtmlApp",
                "specialServices",
                "parentId",
                "wareGroupId",
                "businessType",
                "designConcept",
                "isArchival",
                "templateIds",
            ]
        ),
    ),
    ORDERS.name: (jos_fields.ALWAYS_IN_LIST[jos_fields.LIVE], jos_fields.known_fields(jos_fields.LIVE)),
}

#: Seed-dialect records (orders only), from the one field map.
KNOWN_SEED_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    ORDERS.name: (jos_fields.ALWAYS_IN_LIST[jos_fields.SEED], jos_fields.known_fields(jos_fields.SEED)),
}


#: What each column of the raw tables holds (the asset pages show it as the table's columns).
COLUMN_DOCS: dict[str, dict[str, str]] = {
    COMMENTS.name: {
        "sku_id": "The SKU asked for (the partition key). A comment's productId may name another SKU "
        "(a variant of the same product whose reviews JD shows on this SKU's page): it lands here too.",
        "comment_id": "JD commentId, a digit string; unique per SKU (comments merge on it).",
        "commented_at": "commentDate, Beijing wall time (no zone).",
        "last_seen_at": "When a refresh last saw the comment served (comments JD stops serving are kept).",
    },
    ITEM_DETAILS.name: {
        "sku_id": "The SKU asked for (the partition key); one row each.",
        "ware_id": "The wareId the details name (NULL when it is not a digit id).",
    },
    WARES.name: {
        "ware_id": "The ware asked for (the partition key); one row each.",
        "ware_status": "wareStatus as JD sends it (-1, 1, 2, 4, 8, 513, ...).",
    },
    ORDERS.name: {
        "order_date": "Beijing day the order was listed for (the partition key).",
        "order_id": "JD order id, a digit string; unique per day.",
        "created_at": "Creation time, Beijing wall time (NULL when a seed-dialect record has none).",
        "modified_at": "Last modification time, Beijing wall time.",
        "order_state": "JD order state (WAIT_SELLER_STOCK_OUT, FINISHED_L, TRADE_CANCELED, ...).",
        "dialect": "Which router dialect answered: live or seed (jd_assets/jos_fields.py).",
        "detail": "The order.get record fetched for a listed order without items (buyer PII), else NULL.",
    },
    ORDER_TRACKS.name: {
        "order_date": "Beijing day of the order (the partition key).",
        "order_id": "The shipped order the track belongs to.",
    },
}
COMMON_COLUMN_DOCS = (
    ("record", "JSON", "The record exactly as JD sent it: every field, numbers in their received text."),
    ("page", "INTEGER", "Result page the record came from (NULL for a one-record answer)."),
    ("partition_key", "VARCHAR", "The Dagster partition that landed the row."),
    ("fetched_at", "TIMESTAMPTZ", "When the partition was fetched (an instant)."),
    ("run_id", "VARCHAR", "The Dagster run that landed the row."),
)


def column_schema(table: RawTable) -> dg.TableSchema:
    """The table's columns, typed and described, as Dagster shows them (``dagster/column_schema``)."""
    docs = COLUMN_DOCS[table.name]
    columns = [(name, kind.replace(" NOT NULL", ""), docs[name]) for name, kind in table.columns]
    columns += COMMON_COLUMN_DOCS
    if table.merge:
        columns.append(("last_seen_at", "TIMESTAMPTZ", docs["last_seen_at"]))
    if table.detail:
        columns.append(("detail", "JSON", docs["detail"]))
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=kind, description=text) for name, kind, text in columns]
    )


def table_metadata(table: RawTable) -> dict[str, object]:
    """Definition metadata of a raw asset: its table and its documented columns (shown in the UI)."""
    return {"dagster/table_name": table.name, "dagster/column_schema": column_schema(table)}
