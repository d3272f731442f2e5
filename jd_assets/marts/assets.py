"""The marts people query: reviews joined to product and ware facts; per-SKU summary and sales; daily counts.

Every join from a review is a LEFT join: a review whose SKU has no details, no known ware or no sales yet
is kept, with NULLs (or 0 for counts), never dropped. Sales facts count non-cancelled orders only.
"""

from datetime import timedelta

import dagster as dg

from jd_assets.clean import (
    clean_comments,
    clean_order_items,
    clean_orders,
    clean_products,
    clean_review_signals,
    clean_sku_ware_links,
    clean_wares,
)
from jd_assets.clean.review_signals import TABLE as SIGNALS_LOG
from jd_assets.clean.review_signals import TEXTS_LOG
from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.derived.building import (
    BEIJING,
    KINDS,
    Column,
    rebuild,
    row_count,
    select_of,
    table_metadata,
)
from jd_assets.derived.incremental import (
    DerivedConfig,
    begin,
    changed_upstream,
    digest,
    finish,
    full_requested,
    replace_keys,
)
from jd_assets.warehouse import DuckDBWarehouse, markdown_preview

GROUP = "marts"
#: Prior weight of the Bayesian score: a SKU's mean is shrunk toward the mean of all reviews as if it had
#: this many extra reviews at the global mean.
BAYES_PRIOR_REVIEWS = 20
#: The comment crawl is daily: a mart older than this is late (warn), or stale (fail).
FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26))

#: SKU → ware: the details' link first (it names the SKU itself), else the earliest order link.
WARE_OF_SKU_SQL = """
    SELECT sku_id, ware_id, source AS ware_link_source
    FROM clean.sku_ware_links
    QUALIFY row_number() OVER (
        PARTITION BY sku_id ORDER BY source = 'detail' DESC, first_seen_at, ware_id) = 1
"""

#: Units, revenue and orders per SKU from non-cancelled orders.
SKU_SALES_SQL = """
    SELECT i.sku_id,
           count(DISTINCT i.order_id) AS orders,
           CAST(sum(i.quantity) AS BIGINT) AS units_sold,
           CAST(sum(i.line_total) AS DECIMAL(18,2)) AS revenue
    FROM clean.order_items i
    JOIN clean.orders o USING (order_id)
    WHERE NOT o.is_cancelled
    GROUP BY i.sku_id
"""

PRODUCT_REVIEWS_COLUMNS = (
    Column("comment_id", "VARCHAR", "JD commentId; unique: one row per review in clean.comments."),
    Column("sku_id", "VARCHAR", "The reviewed SKU: the one whose comment pages served the review."),
    Column(
        "reviewed_sku_id",
        "VARCHAR",
        "The SKU JD names in the review (productId): a sibling variant of sku_id when JD shows every "
        "variant's reviews on each variant's page.",
    ),
    Column("commented_at", "TIMESTAMP", f"When the review was posted, {BEIJING}."),
    Column("comment_date", "DATE", "Beijing day of the review."),
    Column("score", "TINYINT", "Star rating 1..5."),
    Column("score_sentiment", "VARCHAR", "positive (4-5), neutral (3), negative (1-2)."),
    Column("text", "VARCHAR", "Normalised review text (see clean.comments)."),
    Column("text_len", "INTEGER", "Text length in code points."),
    Column("is_default_text", "BOOLEAN", "Empty or JD's default filler text."),
    Column("picture_count", "INTEGER", "Pictures attached."),
    Column("video_count", "INTEGER", "Videos attached."),
    Column("has_live_shot", "BOOLEAN", "Any media marked as shot live."),
    Column("buy_count", "INTEGER", "Reviewer's purchases of the item."),
    Column("is_repeat_buyer", "BOOLEAN", "buy_count > 1."),
    Column("nickname", "VARCHAR", "Reviewer nickname as JD masks it."),
    Column("has_details", "BOOLEAN", "True when the SKU has a row in clean.products."),
    Column("product_title", "VARCHAR", "Product title from the details (NULL when no details yet)."),
    Column("brand_name", "VARCHAR", "Brand: the details' brand, else the ware's."),
    Column("shop_name", "VARCHAR", "Shop name from the details."),
    Column("category_path", "VARCHAR", "Category path from the details."),
    Column("price", "DECIMAL(18,2)", "Current price (CNY) from the details."),
    Column(
        "ware_id", "VARCHAR", "The SKU's ware: from the details if they name it, else from an order item."
    ),
    Column("ware_link_source", "VARCHAR", "Which source gave ware_id: detail or order (NULL when unknown)."),
    Column("ware_title", "VARCHAR", "Ware title from the seller gateway."),
    Column("ware_status_code", "INTEGER", "The ware's wareStatus."),
    Column("ware_status_label", "VARCHAR", "The ware's status label (e.g. 上架)."),
    Column("text_positive_prob", "DOUBLE", "Probability that the text is positive (clean.review_signals)."),
    Column("text_sentiment", "VARCHAR", "positive / neutral / negative from the text; NULL when unscorable."),
    Column(
        "aspects",
        "STRUCT(aspect VARCHAR, polarity VARCHAR, clause VARCHAR)[]",
        "Aspects the text names, each with its polarity and clause (clean.review_signals).",
    ),
    Column("is_hidden_complaint", "BOOLEAN", "Rated 4-5 stars, but the text or an aspect is negative."),
    Column("is_templated", "BOOLEAN", "A copy-paste text shared by several reviews, or JD's default filler."),
    Column(
        "mentions_repurchase",
        "BOOLEAN",
        "The text mentions buying again (回购, 多次购买); see buy_count beside it.",
    ),
)

#: Per SKU, what product_reviews repeats on each of its reviews: product and ware facts. Kept in
#: ``meta.product_reviews_skus`` (not published) so that a build can tell which SKUs' facts changed. The
#: SKU's sales are not among them (they are product_review_summary's ``orders``, ``units_sold``,
#: ``revenue``): a day's orders change the sales of the SKUs holding most reviews, and repeating them on
#: every review made each day's update rewrite most of the table.
SKU_FACTS_SQL = f"""
WITH ware_of_sku AS ({WARE_OF_SKU_SQL})
SELECT
    k.sku_id,
    p.sku_id IS NOT NULL AS has_details,
    p.title AS product_title,
    coalesce(p.brand_name, wa.brand_name) AS brand_name,
    p.shop_name,
    p.category_path,
    p.price,
    w.ware_id,
    w.ware_link_source,
    wa.title AS ware_title,
    wa.status_code AS ware_status_code,
    wa.status_label AS ware_status_label
FROM (SELECT sku_id FROM clean.products UNION SELECT sku_id FROM ware_of_sku) k
LEFT JOIN clean.products p USING (sku_id)
LEFT JOIN ware_of_sku w USING (sku_id)
LEFT JOIN clean.wares wa ON wa.ware_id = w.ware_id
"""
SKU_FACTS_TABLE = "meta.product_reviews_skus"
#: The SKU facts columns of product_reviews, in their order (a SKU without any fact: false, NULLs).
_FACTS = (
    ("has_details", "false"),
    *(
        (c, None)
        for c in (
            "product_title",
            "brand_name",
            "shop_name",
            "category_path",
            "price",
            "ware_id",
            "ware_link_source",
            "ware_title",
            "ware_status_code",
            "ware_status_label",
        )
    ),
)
_FACT_VALUES = ",\n    ".join(f"coalesce(f.{c}, {d}) AS {c}" if d else f"f.{c}" for c, d in _FACTS)

PRODUCT_REVIEWS_SQL = f"""
CREATE OR REPLACE TABLE marts.product_reviews AS
SELECT
    c.comment_id, c.sku_id, c.reviewed_sku_id, c.commented_at, c.comment_date, c.score, c.score_sentiment,
    c.text, c.text_len, c.is_default_text, c.picture_count, c.video_count, c.has_live_shot,
    c.buy_count, c.is_repeat_buyer, c.nickname,
    {_FACT_VALUES},
    g.text_positive_prob,
    g.text_sentiment,
    g.aspects,
    g.is_hidden_complaint,
    g.is_templated,
    g.mentions_repurchase
FROM clean.comments c
LEFT JOIN (
    SELECT comment_id, text_positive_prob, text_sentiment, aspects, is_hidden_complaint, is_templated,
           mentions_repurchase
    FROM clean.review_signals
    /*signals*/
) g USING (comment_id)
LEFT JOIN {SKU_FACTS_TABLE} f USING (sku_id)
/*where*/
ORDER BY c.sku_id, c.commented_at, c.comment_id
"""
PRODUCT_REVIEWS_SELECT = select_of(PRODUCT_REVIEWS_SQL)

#: Above this share of reviews whose SKU facts changed, rewriting product_reviews whole (from clean tables,
#: no JSON) is cheaper than updating their columns (bench 4 at 5M: an update of most reviews' SKU columns
#: took 73 s against 25 s for the whole table).
REWRITE_SHARE = 0.25

#: The SKUs whose facts differ from the stored ones (new, changed or gone), with their new facts.
CHANGED_FACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE changed_facts AS
WITH changed AS (
    SELECT sku_id FROM (SELECT * FROM sku_facts EXCEPT SELECT * FROM {SKU_FACTS_TABLE})
    UNION SELECT sku_id FROM (SELECT * FROM {SKU_FACTS_TABLE} EXCEPT SELECT * FROM sku_facts)
)
SELECT k.sku_id, {", ".join(f"n.{c}" for c, _ in _FACTS)}
FROM changed k
LEFT JOIN sku_facts n USING (sku_id)
"""

SUMMARY_COLUMNS = (
    Column("sku_id", "VARCHAR", "The SKU: every SKU with reviews, details or order items; unique."),
    Column("product_title", "VARCHAR", "Product title from the details."),
    Column("brand_name", "VARCHAR", "Brand: the details' brand, else the ware's."),
    Column("shop_name", "VARCHAR", "Shop name."),
    Column("category_path", "VARCHAR", "Category path."),
    Column("price", "DECIMAL(18,2)", "Current price, CNY."),
    Column("ware_id", "VARCHAR", "The SKU's ware (details first, else order items)."),
    Column("ware_link_source", "VARCHAR", "detail or order: which source gave ware_id."),
    Column("ware_status_label", "VARCHAR", "The ware's status label."),
    Column("n_reviews", "BIGINT", "Reviews of the SKU (0 when none)."),
    Column("avg_score", "DOUBLE", "Mean star rating (NULL without reviews)."),
    Column(
        "bayes_score",
        "DOUBLE",
        f"Bayesian (shrunk) score: (m * global_avg + sum of scores) / (m + n_reviews), prior weight "
        f"m = {BAYES_PRIOR_REVIEWS} reviews at global_avg, the mean score of all reviews of all SKUs. "
        "Few reviews stay near the global mean; many reviews approach avg_score. NULL without reviews.",
    ),
    Column("positive_share", "DOUBLE", "Share of reviews scored 4-5."),
    Column("neutral_share", "DOUBLE", "Share of reviews scored 3."),
    Column("negative_share", "DOUBLE", "Share of reviews scored 1-2."),
    Column("picture_share", "DOUBLE", "Share of reviews with at least one picture."),
    Column("repeat_buyer_share", "DOUBLE", "Share of reviews by repeat buyers (buy_count > 1)."),
    Column("default_text_share", "DOUBLE", "Share of reviews whose text is empty or JD's filler."),
    Column("first_review_at", "TIMESTAMP", f"Oldest review, {BEIJING}."),
    Column("last_review_at", "TIMESTAMP", f"Newest review, {BEIJING}."),
    Column(
        "reviews_last_30d",
        "BIGINT",
        "Reviews posted in the 30 days up to reviews_as_of (a fixed point: a rebuild gives the same count).",
    ),
    Column("reviews_as_of", "TIMESTAMP", f"The newest review of any SKU (max commented_at), {BEIJING}."),
    Column("orders", "BIGINT", "Non-cancelled orders containing the SKU."),
    Column("units_sold", "BIGINT", "Units sold in non-cancelled orders (0 when none)."),
    Column("revenue", "DECIMAL(18,2)", "Revenue in non-cancelled orders, CNY (0 when none)."),
    Column("reviews_per_100_units", "DOUBLE", "100 * n_reviews / units_sold (NULL when nothing sold)."),
    Column(
        "median_delivery_hours",
        "DOUBLE",
        "Median hours from first track event to delivery over the SKU's delivered non-cancelled orders.",
    ),
    Column(
        "text_negative_share",
        "DOUBLE",
        "Share of the SKU's scorable review texts that read negative (text_sentiment), whatever the stars.",
    ),
    Column("hidden_complaint_share", "DOUBLE", "Share of reviews: 4-5 stars, negative text or aspect."),
    Column("template_share", "DOUBLE", "Share of copy-paste templates and JD's fillers."),
    Column(
        "top_pain_point",
        "VARCHAR",
        "The aspect most often negative in the SKU's reviews (ties: aspect id order); NULL when none is.",
    ),
    Column("top_pain_point_reviews", "BIGINT", "Reviews in which top_pain_point is negative (0 when none)."),
)

#: Per SKU and aspect: reviews in which the aspect is negative (a review counts once per aspect), which
#: marts.sku_aspects keeps up to date: unnesting every review's aspects again took half the summary's time.
PAIN_POINTS_SQL = """
    SELECT sku_id, aspect, negative_mentions AS reviews FROM marts.sku_aspects WHERE negative_mentions > 0"""

SUMMARY_SQL = f"""
CREATE OR REPLACE TABLE marts.product_review_summary AS
WITH prior AS (
    SELECT avg(score) AS global_avg,
           max(commented_at) AS as_of
    FROM clean.comments
), reviews AS (
    SELECT c.sku_id,
           count(*) AS n_reviews,
           sum(c.score) AS score_sum,
           avg(c.score) AS avg_score,
           avg(CAST(c.score_sentiment = 'positive' AS INTEGER)) AS positive_share,
           avg(CAST(c.score_sentiment = 'neutral' AS INTEGER)) AS neutral_share,
           avg(CAST(c.score_sentiment = 'negative' AS INTEGER)) AS negative_share,
           avg(CAST(c.picture_count > 0 AS INTEGER)) AS picture_share,
           avg(CAST(c.is_repeat_buyer AS INTEGER)) AS repeat_buyer_share,
           avg(CAST(c.is_default_text AS INTEGER)) AS default_text_share,
           min(c.commented_at) AS first_review_at,
           max(c.commented_at) AS last_review_at,
           count(*) FILTER (WHERE c.commented_at > prior.as_of - INTERVAL 30 DAY) AS reviews_last_30d
    FROM clean.comments c, prior
    GROUP BY c.sku_id
), skus AS (
    -- the reviewed SKUs are the groups above: a second pass over every review's sku_id cost 7% more
    SELECT sku_id FROM reviews
    UNION SELECT sku_id FROM clean.products
    UNION SELECT sku_id FROM clean.order_items WHERE sku_id IS NOT NULL
), ware_of_sku AS ({WARE_OF_SKU_SQL}),
sales AS ({SKU_SALES_SQL}),
deliveries AS (
    SELECT i.sku_id, median(o.delivery_hours) AS median_delivery_hours
    FROM clean.order_items i
    JOIN clean.orders o USING (order_id)
    WHERE NOT o.is_cancelled AND o.delivery_hours IS NOT NULL
    GROUP BY i.sku_id
), texts AS (
    SELECT sku_id,
           avg(CAST(text_sentiment = 'negative' AS INTEGER)) AS text_negative_share,
           avg(CAST(is_hidden_complaint AS INTEGER)) AS hidden_complaint_share,
           avg(CAST(is_templated AS INTEGER)) AS template_share
    FROM clean.review_signals
    GROUP BY sku_id
), pain AS ({PAIN_POINTS_SQL}
    QUALIFY row_number() OVER (PARTITION BY sku_id ORDER BY reviews DESC, aspect) = 1
)
SELECT
    k.sku_id,
    p.title AS product_title,
    coalesce(p.brand_name, wa.brand_name) AS brand_name,
    p.shop_name,
    p.category_path,
    p.price,
    w.ware_id,
    w.ware_link_source,
    wa.status_label AS ware_status_label,
    coalesce(r.n_reviews, 0) AS n_reviews,
    r.avg_score,
    ({BAYES_PRIOR_REVIEWS} * prior.global_avg + r.score_sum) / ({BAYES_PRIOR_REVIEWS} + r.n_reviews)
        AS bayes_score,
    r.positive_share,
    r.neutral_share,
    r.negative_share,
    r.picture_share,
    r.repeat_buyer_share,
    r.default_text_share,
    r.first_review_at,
    r.last_review_at,
    coalesce(r.reviews_last_30d, 0) AS reviews_last_30d,
    prior.as_of AS reviews_as_of,
    coalesce(s.orders, 0) AS orders,
    coalesce(s.units_sold, 0) AS units_sold,
    coalesce(s.revenue, 0) AS revenue,
    100.0 * coalesce(r.n_reviews, 0) / nullif(s.units_sold, 0) AS reviews_per_100_units,
    d.median_delivery_hours,
    t.text_negative_share,
    t.hidden_complaint_share,
    t.template_share,
    pain.aspect AS top_pain_point,
    coalesce(pain.reviews, 0) AS top_pain_point_reviews
FROM skus k
CROSS JOIN prior
LEFT JOIN reviews r USING (sku_id)
LEFT JOIN clean.products p USING (sku_id)
LEFT JOIN ware_of_sku w USING (sku_id)
LEFT JOIN clean.wares wa ON wa.ware_id = w.ware_id
LEFT JOIN sales s USING (sku_id)
LEFT JOIN deliveries d USING (sku_id)
LEFT JOIN texts t USING (sku_id)
LEFT JOIN pain USING (sku_id)
ORDER BY k.sku_id
"""

REVIEW_DAILY_COLUMNS = (
    Column("sku_id", "VARCHAR", "The SKU; (sku_id, day) is unique."),
    Column("day", "DATE", "Beijing calendar day (only days with at least one review)."),
    Column("reviews", "BIGINT", "Reviews posted that day."),
    Column("avg_score", "DOUBLE", "Mean star rating of that day's reviews."),
    Column("negatives", "BIGINT", "Reviews scored 1-2."),
    Column("with_pictures", "BIGINT", "Reviews with at least one picture."),
    Column("text_negatives", "BIGINT", "Reviews whose text reads negative (whatever the stars)."),
    Column("hidden_complaints", "BIGINT", "Reviews rated 4-5 whose text or an aspect is negative."),
)

REVIEW_DAILY_SQL = """
CREATE OR REPLACE TABLE marts.review_daily AS
SELECT
    c.sku_id,
    c.comment_date AS day,
    count(*) AS reviews,
    avg(c.score) AS avg_score,
    count(*) FILTER (WHERE c.score_sentiment = 'negative') AS negatives,
    count(*) FILTER (WHERE c.picture_count > 0) AS with_pictures,
    count(*) FILTER (WHERE g.text_sentiment = 'negative') AS text_negatives,
    count(*) FILTER (WHERE g.is_hidden_complaint) AS hidden_complaints
FROM clean.comments c
LEFT JOIN (
    SELECT comment_id, text_sentiment, is_hidden_complaint FROM clean.review_signals /*signals*/
) g USING (comment_id)
/*where*/
GROUP BY c.sku_id, c.comment_date
ORDER BY sku_id, day
"""
REVIEW_DAILY_SELECT = select_of(REVIEW_DAILY_SQL)

#: Figures each mart reports about its own table, plotted by the UI across materializations. "Last 30
#: days" counts back from the table's newest review (not the clock): a rebuild of the same rows gives the
#: same figures. Every figure is a number (or a short label) people watch over time.
PRODUCT_REVIEWS_FIGURES_SQL = """
    WITH t AS (SELECT * FROM marts.product_reviews), as_of AS (SELECT max(commented_at) AS newest FROM t)
    SELECT
        count(DISTINCT sku_id) AS skus,
        coalesce(avg(CAST(score_sentiment = 'negative' AS INTEGER)), 0) AS negative_share,
        count(*) FILTER (WHERE commented_at > (SELECT newest FROM as_of) - INTERVAL 30 DAY)
            AS reviews_last_30d,
        count(*) FILTER (WHERE is_hidden_complaint) AS hidden_complaints,
        coalesce(avg(CAST(has_details AS INTEGER)), 0) AS details_coverage
    FROM t
"""

SUMMARY_FIGURES_SQL = f"""
    SELECT
        count(*) FILTER (WHERE n_reviews > 0) AS skus_with_reviews,
        count(*) FILTER (WHERE units_sold > 0) AS skus_with_sales,
        coalesce(sum(reviews_last_30d), 0) AS reviews_last_30d,
        coalesce(sum(n_reviews * negative_share) / nullif(sum(n_reviews), 0), 0) AS negative_share,
        coalesce(round(sum(n_reviews * hidden_complaint_share)), 0) AS hidden_complaints,
        (SELECT sku_id FROM marts.product_review_summary WHERE n_reviews >= {BAYES_PRIOR_REVIEWS}
         ORDER BY bayes_score, sku_id LIMIT 1) AS worst_sku,
        (SELECT min(bayes_score) FROM marts.product_review_summary WHERE n_reviews >= {BAYES_PRIOR_REVIEWS})
            AS worst_bayes_score
    FROM marts.product_review_summary
"""

REVIEW_DAILY_FIGURES_SQL = """
    WITH t AS (SELECT * FROM marts.review_daily), as_of AS (SELECT max(day) AS day FROM t)
    SELECT
        count(DISTINCT day) AS days,
        coalesce(sum(reviews) FILTER (WHERE day > (SELECT day FROM as_of) - 30), 0) AS reviews_last_30d,
        coalesce(sum(negatives) FILTER (WHERE day > (SELECT day FROM as_of) - 30)
            / nullif(sum(reviews) FILTER (WHERE day > (SELECT day FROM as_of) - 30), 0), 0)
            AS negative_share_last_30d,
        coalesce(sum(hidden_complaints) FILTER (WHERE day > (SELECT day FROM as_of) - 30), 0)
            AS hidden_complaints_last_30d,
        CAST((SELECT day FROM as_of) AS VARCHAR) AS last_day
    FROM t
"""


def _figures(con, sql: str) -> dict[str, object]:
    """The one row of a figures query, as metadata: floats rounded, NULL labels as "none"."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    figures: dict[str, object] = {}
    for name, value in zip(names, cursor.fetchone(), strict=True):
        if value is None:
            figures[name] = "none"
        elif isinstance(value, float):
            figures[name] = round(value, 4)
        elif isinstance(value, int | str):
            figures[name] = value
        else:
            figures[name] = round(float(value), 4)
    return figures


def _mart_metadata(con, table: str, figures_sql: str, preview_sql: str) -> dict[str, object]:
    """A mart's own row count and figures (plotted across materializations), plus a small preview."""
    return {
        "dagster/row_count": row_count(con, table),
        **_figures(con, figures_sql),
        "preview": markdown_preview(con, preview_sql),
    }


#: The clean tables a review is joined to (product, ware, links, sales, delivery).
JOINED_CLEAN_TABLES = [
    clean_comments,
    clean_review_signals,
    clean_products,
    clean_wares,
    clean_sku_ware_links,
    clean_order_items,
    clean_orders,
]

#: What every mart shares: its group, kinds, automation and freshness policy.
MART_OPTIONS = {
    "group_name": GROUP,
    "kinds": KINDS,
    "automation_condition": FOLLOW_UPSTREAM,
    "freshness_policy": FRESHNESS,
}


@dg.asset(
    deps=JOINED_CLEAN_TABLES,
    metadata=table_metadata("marts.product_reviews", PRODUCT_REVIEWS_COLUMNS),
    **MART_OPTIONS,
)
def product_reviews(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """One row per review, joined (left) to its product and ware facts (the SKU's sales: the summary)."""
    with rebuild(warehouse) as con:
        build = begin(
            con,
            "marts.product_reviews",
            digest(SKU_FACTS_SQL, PRODUCT_REVIEWS_SQL),
            full=full_requested(context, config),
            upstreams=("clean.comments", TEXTS_LOG, SIGNALS_LOG),
        )
        changed = _update_product_reviews(con, build)
        metadata = _mart_metadata(
            con,
            "marts.product_reviews",
            PRODUCT_REVIEWS_FIGURES_SQL,
            """SELECT comment_id, sku_id, score, left(text, 30) AS text, product_title, ware_link_source
               FROM marts.product_reviews ORDER BY commented_at DESC, comment_id LIMIT 5""",
        )
    return dg.MaterializeResult(metadata={**metadata, **build.metadata(changed)})


def _update_review_daily(con, build) -> int:
    """Whole, or only the (SKU, day) groups of the reviews that changed; returns how many groups."""
    if build.full:
        con.execute(REVIEW_DAILY_SQL)
        finish(con, build)
        return 0
    logs = " UNION ".join(
        f"SELECT sku_id, day FROM ({changed_upstream(build, u)}) WHERE key IS NOT NULL"
        for u in build.upstreams
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE changed_groups AS {logs}")
    # the reviews of those groups, so that the signals are read for them only
    con.execute(
        """CREATE OR REPLACE TEMP TABLE group_reviews AS
           SELECT c.comment_id FROM clean.comments c
           SEMI JOIN changed_groups g ON g.sku_id = c.sku_id AND g.day = c.comment_date"""
    )
    con.execute(
        """DELETE FROM marts.review_daily d USING changed_groups g
           WHERE g.sku_id = d.sku_id AND g.day = d.day"""
    )
    con.execute(
        "INSERT INTO marts.review_daily "
        + REVIEW_DAILY_SELECT.replace(
            "/*where*/", "WHERE c.comment_id IN (SELECT comment_id FROM group_reviews)"
        ).replace("/*signals*/", "WHERE comment_id IN (SELECT comment_id FROM group_reviews)")
    )
    finish(con, build)
    return row_count(con, "changed_groups")


def _update_product_reviews(con, build) -> int:
    """Whole, or: the reviews whose comment or text signals changed are replaced, those whose template
    flag alone changed get it updated, and the SKUs whose product or ware facts changed get their new
    facts on every review (an update of those columns only). Returns how many reviews and SKUs changed."""
    if not build.full:
        con.execute(f"CREATE OR REPLACE TEMP TABLE sku_facts AS {SKU_FACTS_SQL}")
        con.execute(CHANGED_FACTS_SQL)
        (share,) = con.execute(
            """SELECT count(*) FILTER (WHERE sku_id IN (SELECT sku_id FROM changed_facts))
                      / greatest(count(*), 1)
               FROM clean.comments"""
        ).fetchone()
        if share > REWRITE_SHARE:
            build.full, build.reason = True, f"facts of SKUs with {share:.0%} of the reviews changed"
    if build.full:
        con.execute(f"CREATE OR REPLACE TABLE {SKU_FACTS_TABLE} AS {SKU_FACTS_SQL}")
        con.execute(PRODUCT_REVIEWS_SQL)
        finish(con, build)
        return 0
    assignments = ", ".join(f"{c} = coalesce(n.{c}, {d})" if d else f"{c} = n.{c}" for c, d in _FACTS)
    con.execute(
        f"UPDATE marts.product_reviews p SET {assignments} FROM changed_facts n WHERE p.sku_id = n.sku_id"
    )
    con.execute(f"DELETE FROM {SKU_FACTS_TABLE} WHERE sku_id IN (SELECT sku_id FROM changed_facts)")
    con.execute(
        f"INSERT INTO {SKU_FACTS_TABLE} SELECT * FROM sku_facts "
        "WHERE sku_id IN (SELECT sku_id FROM changed_facts)"
    )
    replaced = " UNION ".join(
        f"SELECT key FROM ({changed_upstream(build, u)}) WHERE key IS NOT NULL"
        for u in ("clean.comments", TEXTS_LOG)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE changed_keys AS {replaced}")
    # A review whose signals changed only in is_templated (a template recount, logged to the signals'
    # table log and not to its texts log) gets that column updated in place: replacing it would read
    # every column of clean.comments and clean.review_signals, as such reviews lie all over the tables.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE recounted AS
            SELECT comment_id, is_templated FROM clean.review_signals
            WHERE comment_id IN (SELECT key FROM ({changed_upstream(build, SIGNALS_LOG)})
                                 WHERE key IS NOT NULL EXCEPT SELECT key FROM changed_keys)"""
    )
    con.execute(
        """UPDATE marts.product_reviews p SET is_templated = r.is_templated
           FROM recounted r WHERE p.comment_id = r.comment_id"""
    )
    insert = (
        "INSERT INTO marts.product_reviews "
        + PRODUCT_REVIEWS_SELECT.replace("/*where*/", "WHERE c.comment_id IN (SELECT key FROM changed_keys)")
        # the signals too, or the join reads the aspects of every review
        .replace("/*signals*/", "WHERE comment_id IN (SELECT key FROM changed_keys)")
    )
    replace_keys(con, build, "comment_id", insert, log=False)
    finish(con, build)
    return row_count(con, "changed_keys") + row_count(con, "recounted") + row_count(con, "changed_facts")


@dg.asset(
    # sku_aspects (defined beside the review insights, which import this module) gives the pain points
    deps=[*JOINED_CLEAN_TABLES, dg.AssetKey("sku_aspects")],
    metadata=table_metadata("marts.product_review_summary", SUMMARY_COLUMNS),
    **MART_OPTIONS,
)
def product_review_summary(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    # Rebuilt whole on every run: the prior (mean of all scores) and the newest review move with every
    # day's reviews, so every SKU's bayes_score and 30-day count change; it reads clean tables and the
    # pain points of marts.sku_aspects.
    """One row per SKU: product and ware facts, review scores (mean and Bayesian), shares, sales, delivery."""
    with rebuild(warehouse) as con:
        con.execute(SUMMARY_SQL)
        metadata = _mart_metadata(
            con,
            "marts.product_review_summary",
            SUMMARY_FIGURES_SQL,
            """SELECT sku_id, product_title, n_reviews, round(avg_score, 2) AS avg_score,
                      round(bayes_score, 2) AS bayes_score, units_sold
               FROM marts.product_review_summary ORDER BY n_reviews DESC, sku_id LIMIT 5""",
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[clean_comments, clean_review_signals],
    metadata=table_metadata("marts.review_daily", REVIEW_DAILY_COLUMNS),
    **MART_OPTIONS,
)
def review_daily(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """One row per SKU and day with reviews: count, mean score, negatives, reviews with pictures."""
    with rebuild(warehouse) as con:
        build = begin(
            con,
            "marts.review_daily",
            digest(REVIEW_DAILY_SQL),
            full=full_requested(context, config),
            upstreams=("clean.comments", TEXTS_LOG),
        )
        changed = _update_review_daily(con, build)
        metadata = _mart_metadata(
            con,
            "marts.review_daily",
            REVIEW_DAILY_FIGURES_SQL,
            """SELECT sku_id, day, reviews, round(avg_score, 2) AS avg_score, negatives, with_pictures
               FROM marts.review_daily ORDER BY day DESC, sku_id LIMIT 5""",
        )
    return dg.MaterializeResult(metadata={**metadata, **build.metadata(changed)})
