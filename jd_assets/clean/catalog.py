"""The catalog: ``clean.products`` (SKU details), ``clean.wares`` (seller wares), ``clean.sku_ware_links``.

The detail payload's fields are not published (docs/GATEWAYS.md §1): the SQL reads the fields it knows,
a missing one is NULL, and the raw JSON stays the source of truth.
"""

import dagster as dg

from jd_assets.clean.orders import clean_order_items
from jd_assets.conventions import JD_ID_RE
from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.derived.building import (
    BEIJING,
    IMAGE_PREFIX,
    KINDS,
    Column,
    image_url,
    jd_time,
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
from jd_assets.gateways.fengchao import WARE_STATUS_LABELS
from jd_assets.raw import tables
from jd_assets.raw.assets import raw_item_details, raw_wares
from jd_assets.warehouse import DuckDBWarehouse

GROUP = "clean"


PRODUCTS_COLUMNS = (
    Column("sku_id", "VARCHAR", "The SKU (details' itemId); unique."),
    Column(
        "ware_id", "VARCHAR", "The seller ware grouping this SKU (details' wareId), when the details give it."
    ),
    Column("title", "VARCHAR", "Product title."),
    Column("brand_id", "VARCHAR", "Brand id."),
    Column("brand_name", "VARCHAR", "Brand name."),
    Column("shop_id", "VARCHAR", "Shop id."),
    Column("shop_name", "VARCHAR", "Shop name."),
    Column(
        "category_path",
        "VARCHAR",
        "Category path, levels joined with ' > ' (e.g. 美妆护肤 > 面部护肤 > 精华).",
    ),
    Column("category_id", "VARCHAR", "Leaf (third-level) category id."),
    Column("price", "DECIMAL(18,2)", "Current price in CNY (yuan)."),
    Column("original_price", "DECIMAL(18,2)", "List price before discount in CNY, when given."),
    Column("main_image_url", "VARCHAR", "Main image, as an absolute https URL."),
    Column("fetched_at", "TIMESTAMPTZ", "When these details were fetched (instant)."),
)

PRODUCTS_SQL = f"""
CREATE OR REPLACE TABLE clean.products AS
SELECT
    d.sku_id,
    d.ware_id,
    nullif(trim(d.record->>'$.title'), '') AS title,
    d.record->>'$.brandId' AS brand_id,
    nullif(trim(d.record->>'$.brandName'), '') AS brand_name,
    d.record->>'$.shopId' AS shop_id,
    nullif(trim(d.record->>'$.shopName'), '') AS shop_name,
    CASE json_type(d.record->'$.categoryPath')
        WHEN 'ARRAY' THEN array_to_string(CAST((d.record->'$.categoryPath') AS VARCHAR[]), ' > ')
        ELSE d.record->>'$.categoryPath'
    END AS category_path,
    d.record->>'$.categoryId' AS category_id,
    TRY_CAST(d.record->>'$.price' AS DECIMAL(18,2)) AS price,
    TRY_CAST(d.record->>'$.originalPrice' AS DECIMAL(18,2)) AS original_price,
    {image_url("(d.record->>'$.mainImageUrl')")} AS main_image_url,
    d.fetched_at
FROM raw.item_details d
/*where*/
ORDER BY d.sku_id
"""
PRODUCTS_SELECT = select_of(PRODUCTS_SQL)

WARES_COLUMNS = (
    Column("ware_id", "VARCHAR", "Seller ware id (exact digits, never through a float); unique."),
    Column("title", "VARCHAR", "Ware title."),
    Column("brand_id", "VARCHAR", "Brand id."),
    Column("brand_name", "VARCHAR", "Brand name, when the gateway returns it."),
    Column("category_id", "VARCHAR", "Third-level category id."),
    Column("multi_category_id", "VARCHAR", "Leaf category id (multiCategoryId)."),
    Column("shop_id", "VARCHAR", "Shop id, when returned."),
    Column("status_code", "INTEGER", "wareStatus code."),
    Column(
        "status_label",
        "VARCHAR",
        "wareStatus label: -1 删除, 1 从未上架, 2 自主下架, 4 系统下架, 8 上架, 513 从未上架待审, "
        "514 自主下架待审, 516 系统下架待审, 520 上架待审核, 1028 系统下架审核失败.",
    ),
    Column("outer_id", "VARCHAR", "Seller's external id (outerId)."),
    Column("item_num", "VARCHAR", "Seller's item number (itemNum, 货号)."),
    Column("bar_code", "VARCHAR", "Bar code."),
    Column("ware_location", "INTEGER", "Origin code (wareLocation)."),
    Column("col_type", "INTEGER", "Cooperation mode (colType)."),
    Column(
        "logo_url", "VARCHAR", f"Main image (logo) as an absolute URL: {IMAGE_PREFIX} + the relative path."
    ),
    Column("image_urls", "VARCHAR[]", "All images as absolute URLs, in imgIndex order."),
    Column(
        "created_at", "TIMESTAMP", f"Ware created, {BEIJING}; the source gives epoch ms or text, both parsed."
    ),
    Column("modified_at", "TIMESTAMP", f"Ware last modified, {BEIJING}."),
    Column("online_at", "TIMESTAMP", f"Last listed (onlineTime), {BEIJING}."),
    Column("offline_at", "TIMESTAMP", f"Last delisted (offlineTime), {BEIJING}."),
    Column("jd_price", "DECIMAL(18,2)", "JD price in CNY, when returned."),
    Column("market_price", "DECIMAL(18,2)", "Market price in CNY, when returned."),
    Column("stock_num", "BIGINT", "Total stock, when returned."),
    Column("fetched_at", "TIMESTAMPTZ", "When the ware was fetched (instant)."),
)


def _ware_text(field: str) -> str:
    return f"(w.record->>'$.{field}')"


WARES_SQL = f"""
CREATE OR REPLACE TABLE clean.wares AS
WITH images AS (
    SELECT w.ware_id,
           list_sort(list_transform(
               coalesce(TRY_CAST((w.record->'$.images') AS JSON[]), []),
               lambda i: {{'idx': TRY_CAST(i->>'$.imgIndex' AS INTEGER), 'path': i->>'$.imgUrl'}}
           )) AS ordered
    FROM raw.wares w
    /*where*/
)
SELECT
    w.ware_id,
    nullif(trim(w.record->>'$.title'), '') AS title,
    w.record->>'$.brandId' AS brand_id,
    nullif(trim(w.record->>'$.brandName'), '') AS brand_name,
    w.record->>'$.categoryId' AS category_id,
    w.record->>'$.multiCategoryId' AS multi_category_id,
    w.record->>'$.shopId' AS shop_id,
    w.ware_status AS status_code,
    {label_case("w.ware_status", WARE_STATUS_LABELS)} AS status_label,
    w.record->>'$.outerId' AS outer_id,
    w.record->>'$.itemNum' AS item_num,
    w.record->>'$.barCode' AS bar_code,
    TRY_CAST(w.record->>'$.wareLocation' AS INTEGER) AS ware_location,
    TRY_CAST(w.record->>'$.colType' AS INTEGER) AS col_type,
    {image_url(_ware_text("logo"))} AS logo_url,
    list_filter(list_transform(i.ordered, lambda o: {image_url("o.path")}), lambda u: u IS NOT NULL)
        AS image_urls,
    {jd_time(_ware_text("created"))} AS created_at,
    {jd_time(_ware_text("modified"))} AS modified_at,
    {jd_time(_ware_text("onlineTime"))} AS online_at,
    {jd_time(_ware_text("offlineTime"))} AS offline_at,
    TRY_CAST(w.record->>'$.jdPrice' AS DECIMAL(18,2)) AS jd_price,
    TRY_CAST(w.record->>'$.marketPrice' AS DECIMAL(18,2)) AS market_price,
    TRY_CAST(w.record->>'$.stockNum' AS BIGINT) AS stock_num,
    w.fetched_at
FROM raw.wares w
JOIN images i USING (ware_id)
ORDER BY w.ware_id
"""
WARES_SELECT = select_of(WARES_SQL)

SKU_WARE_LINKS_COLUMNS = (
    Column("sku_id", "VARCHAR", "The SKU."),
    Column("ware_id", "VARCHAR", "The ware it belongs to."),
    Column(
        "source", "VARCHAR", "Which raw table gives the link: order (an order item) or detail (SKU details)."
    ),
    Column(
        "first_seen_at",
        "TIMESTAMPTZ",
        "Earliest fetch (instant) among the raw rows that currently give the link.",
    ),
)

#: The order links come from clean.order_items (the same items ORDER_ITEMS_SQL unnests, already parsed),
#: with the fetch time of their raw order; ``/*and*/`` restricts both sources to some SKUs.
SKU_WARE_LINKS_SQL_CLEAN = f"""
CREATE OR REPLACE TABLE clean.sku_ware_links AS
SELECT i.sku_id, i.ware_id, 'order' AS source, min(o.fetched_at) AS first_seen_at
FROM clean.order_items i
JOIN raw.orders o USING (order_date, order_id)
WHERE regexp_matches(i.sku_id, {JD_ID_RE}) AND regexp_matches(i.ware_id, {JD_ID_RE}) /*and*/
GROUP BY ALL
UNION ALL
SELECT sku_id, ware_id, 'detail' AS source, min(fetched_at) AS first_seen_at
FROM raw.item_details
WHERE ware_id IS NOT NULL /*and*/
GROUP BY ALL
ORDER BY sku_id, ware_id, source
"""
SKU_WARE_LINKS_SELECT = select_of(SKU_WARE_LINKS_SQL_CLEAN)

#: (part, key, fetched_at) of the raw tables the catalog reads, landed one partition at a time.
DETAILS_STATE = "SELECT sku_id AS part, sku_id AS key, fetched_at FROM raw.item_details"
WARES_STATE = "SELECT ware_id AS part, ware_id AS key, fetched_at FROM raw.wares"


def _update_by_partition(con, build, key: str, select_sql: str, state_sql: str) -> int:
    """Whole, or only the keys of the raw partitions landed again since the last build; how many."""
    if build.full:
        con.execute(f"CREATE OR REPLACE TABLE {build.table} AS " + select_sql.replace("/*where*/", ""))
        reset_seen(con, build.table, state_sql)
        finish(con, build)
        return 0
    changed = changed_partitions(con, build.table, state_sql)
    where = f"WHERE {key} IN (SELECT key FROM changed_keys)"
    insert = f"INSERT INTO {build.table} " + select_sql.replace("/*where*/", where)
    replace_keys(con, build, key, insert, log=False)
    finish(con, build)
    return changed


@dg.asset(
    deps=[raw_item_details],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.products", PRODUCTS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_products(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Products, one row per SKU from its details: ware, title, brand, shop, category path, price, image."""
    with rebuild(warehouse, [tables.ITEM_DETAILS]) as con:
        build = begin(con, "clean.products", digest(PRODUCTS_SQL), full=full_requested(context, config))
        changed = _update_by_partition(con, build, "sku_id", PRODUCTS_SELECT, DETAILS_STATE)
        rows = row_count(con, "clean.products")
        with_ware, with_price = con.execute(
            "SELECT count(ware_id), count(price) FROM clean.products"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "with_ware_id": int(with_ware),
            "with_price": int(with_price),
            **build.metadata(changed),
        }
    )


@dg.asset(
    deps=[raw_wares],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.wares", WARES_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_wares(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Seller wares, one row per ware: status with its label, item number, image URLs, parsed times."""
    with rebuild(warehouse, [tables.WARES]) as con:
        build = begin(con, "clean.wares", digest(WARES_SQL), full=full_requested(context, config))
        changed = _update_by_partition(con, build, "ware_id", WARES_SELECT, WARES_STATE)
        rows = row_count(con, "clean.wares")
        (on_sale,) = con.execute("SELECT count(*) FROM clean.wares WHERE status_code = 8").fetchone()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "on_sale": int(on_sale), **build.metadata(changed)}
    )


@dg.asset(
    deps=[clean_order_items, raw_item_details],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.sku_ware_links", SKU_WARE_LINKS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_sku_ware_links(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Which ware each SKU belongs to, and which source (order item or details) says so."""
    with rebuild(warehouse, [tables.ORDERS, tables.ITEM_DETAILS]) as con:
        build = begin(
            con,
            "clean.sku_ware_links",
            digest(SKU_WARE_LINKS_SQL_CLEAN),
            full=full_requested(context, config),
            upstreams=("clean.order_items",),
        )
        changed = _update_links(con, build)
        rows = row_count(con, "clean.sku_ware_links")
        skus, conflicts = con.execute(
            """SELECT count(DISTINCT sku_id),
                      (SELECT count(*) FROM (SELECT sku_id FROM clean.sku_ware_links
                                             GROUP BY sku_id HAVING count(DISTINCT ware_id) > 1))
               FROM clean.sku_ware_links"""
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "skus": int(skus),
            "skus_with_conflicting_wares": int(conflicts),
            **build.metadata(changed),
        }
    )


def _update_links(con, build) -> int:
    """Whole, or the links of the SKUs whose order items or details changed; returns how many SKUs."""
    if build.full:
        con.execute(SKU_WARE_LINKS_SQL_CLEAN)
        reset_seen(con, build.table, DETAILS_STATE)
        finish(con, build)
        return 0
    changed_partitions(con, build.table, DETAILS_STATE, into="changed_details")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE changed_keys AS
        SELECT key FROM changed_details
        UNION SELECT sku_id FROM ({changed_upstream(build, "clean.order_items")}) WHERE sku_id IS NOT NULL"""
    )
    insert = "INSERT INTO clean.sku_ware_links " + SKU_WARE_LINKS_SELECT.replace(
        "/*and*/", "AND sku_id IN (SELECT key FROM changed_keys)"
    )
    replace_keys(con, build, "sku_id", insert, log=False)
    finish(con, build)
    return row_count(con, "changed_keys")
