"""The raw tables: one row per source record, its typed keys, and what makes a record invalid.

Timestamps in ``raw`` are naive Beijing wall time, as JD sends them; ``fetched_at`` is an instant.
"""

from __future__ import annotations

from jd_assets.conventions import JD_ID_RE, TIME_FORMAT_SQL
from jd_assets.gateways.jos import ORDER_STATES
from jd_assets.raw.landing import RawTable

WARE_STATUSES = (-1, 1, 2, 4, 8, 513, 514, 516, 520, 1028)


def _sql_list(values: tuple) -> str:
    return ", ".join(f"'{v}'" for v in values)


COMMENTS = RawTable(
    name="raw.comments",
    source="comments",
    partition_column="sku_id",
    key_column="comment_id",
    merge=True,
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
        record->>'$.productId' AS product_id,
        record->>'$.commentScore' AS score_text
    """,
    reject_reason=f"""CASE
        WHEN comment_id IS NULL THEN 'missing commentId'
        WHEN NOT regexp_matches(comment_id, {JD_ID_RE})
            THEN 'commentId ' || comment_id || ' is not a digit id'
        WHEN product_id IS DISTINCT FROM sku_id
            THEN 'productId ' || coalesce(product_id, 'null') || ' is not the partition SKU ' || sku_id
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
    reject_reason="""CASE
        WHEN json_type(record) <> 'OBJECT' THEN 'detail payload is not an object'
        WHEN item_id IS NOT NULL AND item_id <> sku_id
            THEN 'itemId ' || item_id || ' is not the requested SKU ' || sku_id
        WHEN (record->'$.taskStatus') IS NOT NULL THEN 'pending task payload, not a product'
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

ORDERS = RawTable(
    name="raw.orders",
    source="orders",
    partition_column="order_date",
    key_column="order_id",
    preview="order_id, created_at, order_state, dialect",
    columns=(
        ("order_date", "DATE NOT NULL"),
        ("order_id", "VARCHAR NOT NULL"),
        ("created_at", "TIMESTAMP NOT NULL"),
        ("modified_at", "TIMESTAMP"),
        ("order_state", "VARCHAR NOT NULL"),
        ("dialect", "VARCHAR NOT NULL"),
    ),
    # Both router dialects: the live one is camelCase, the seed's is snake_case.
    extract=f"""
        CAST(request_key AS DATE) AS order_date,
        coalesce(record->>'$.orderId', record->>'$.order_id') AS order_id,
        try_strptime(coalesce(record->>'$.orderStartTime', record->>'$.order_start_time'), {TIME_FORMAT_SQL})
            AS created_at,
        try_strptime(record->>'$.modified', {TIME_FORMAT_SQL}) AS modified_at,
        coalesce(record->>'$.orderState', record->>'$.order_state') AS order_state,
        CASE WHEN (record->'$.orderId') IS NOT NULL THEN 'live' ELSE 'seed' END AS dialect,
        coalesce(record->'$.itemInfoList', record->'$.item_info_list') AS items
    """,
    reject_reason=f"""CASE
        WHEN order_id IS NULL THEN 'missing orderId'
        WHEN NOT regexp_matches(order_id, {JD_ID_RE}) THEN 'orderId ' || order_id || ' is not a digit id'
        WHEN created_at IS NULL THEN 'orderStartTime is missing or not yyyy-MM-dd HH:mm:ss'
        WHEN CAST(created_at AS DATE) <> order_date
            THEN 'created ' || created_at || ' outside the partition day ' || order_date
        WHEN order_state IS NULL OR order_state NOT IN ({_sql_list(ORDER_STATES)})
            THEN 'unknown orderState ' || coalesce(order_state, 'null')
        WHEN items IS NULL OR json_type(items) <> 'ARRAY' OR json_array_length(items) = 0
            THEN 'missing itemInfoList'
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
#: (always present, sometimes present). The schema-drift checks compare landed records against them.
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
            ]
        ),
    ),
    ORDERS.name: (
        frozenset(
            [
                "orderId",
                "venderId",
                "orderType",
                "payType",
                "orderTotalPrice",
                "orderSellerPrice",
                "orderPayment",
                "freightPrice",
                "sellerDiscount",
                "orderState",
                "orderStateRemark",
                "orderStartTime",
                "modified",
                "paymentConfirmTime",
                "pin",
                "consigneeInfo",
                "itemInfoList",
            ]
        ),
        frozenset({"waybill", "logisticsId", "orderEndTime", "orderRemark", "invoiceInfo", "deliveryType"}),
    ),
}
