"""``clean.comments``: one row per review, typed and decoded from ``raw.comments``."""

import dagster as dg

from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.derived.building import (
    BEIJING,
    KINDS,
    Column,
    halfwidth,
    rebuild,
    row_count,
    select_of,
    sql_text,
    table_metadata,
)
from jd_assets.derived.incremental import (
    DerivedConfig,
    begin,
    digest,
    finish,
    full_requested,
    log_rows,
    replace_keys,
)
from jd_assets.raw import tables
from jd_assets.raw.assets import raw_comments
from jd_assets.warehouse import DuckDBWarehouse

GROUP = "clean"

#: What JD writes when a buyer wrote nothing (compared after the same full-width mapping as the text).
DEFAULT_TEXTS = ("此用户未填写评价内容", "此用户未及时填写评价内容，系统默认好评！")

COMMENTS_COLUMNS = (
    Column("comment_id", "VARCHAR", "JD commentId, a digit string; unique."),
    Column("sku_id", "VARCHAR", "The SKU whose comment pages served the review (the SKU asked for)."),
    Column(
        "reviewed_sku_id",
        "VARCHAR",
        "The SKU the review is about as JD names it (productId): sku_id, or a sibling variant of the same "
        "product whose reviews JD shows on sku_id's page; NULL when JD sent none.",
    ),
    Column("commented_at", "TIMESTAMP", f"When the review was posted (commentDate), {BEIJING}."),
    Column("comment_date", "DATE", "The Beijing calendar day of commented_at."),
    Column("score", "TINYINT", "Star rating 1..5 (commentScore)."),
    Column("score_sentiment", "VARCHAR", "positive (score 4-5), neutral (3) or negative (1-2)."),
    Column(
        "text",
        "VARCHAR",
        "Review text (commentData): NFC, full-width ASCII (U+FF01..U+FF5E) and the ideographic space "
        "mapped to ASCII, CRLF to LF, trimmed. The original stays in raw.comments.record.",
    ),
    Column("text_len", "INTEGER", "Length of text in Unicode code points."),
    Column(
        "is_default_text",
        "BOOLEAN",
        "True when the text is empty or JD's filler: " + " / ".join(DEFAULT_TEXTS) + ".",
    ),
    Column("picture_count", "INTEGER", "Pictures attached (pictureInfoList entries with mediaType 1)."),
    Column("video_count", "INTEGER", "Videos attached (pictureInfoList entries with mediaType 2)."),
    Column("has_live_shot", "BOOLEAN", "True when any attached media is marked liveShooting = 1."),
    Column("buy_count", "INTEGER", "How many times the reviewer bought the item (buyCount)."),
    Column("is_repeat_buyer", "BOOLEAN", "buy_count > 1."),
    Column("nickname", "VARCHAR", "Reviewer nickname as JD publishes it (already masked by JD, e.g. 4***f)."),
    Column("first_seen_at", "TIMESTAMPTZ", "When the crawl first landed this review (instant)."),
    Column("last_seen_at", "TIMESTAMPTZ", "When a crawl last saw this review on JD (instant)."),
)

_TEXT = f"""regexp_replace(
            replace({halfwidth("coalesce(c.record->>'$.commentData', '')")}, chr(13) || chr(10), chr(10)),
            '^\\s+|\\s+$', '', 'g')"""
_DEFAULT_TEXTS = ", ".join(halfwidth(sql_text(t)) for t in DEFAULT_TEXTS)

#: The rows of clean.comments, from the raw rows that pass ``/*where*/`` (a filter on whole comment ids).
COMMENTS_SQL = f"""
CREATE OR REPLACE TABLE clean.comments AS
WITH first_landed AS (
    -- raw keys on (sku_id, comment_id); a comment id occurs under two SKUs only when both are tracked
    -- and JD shows the review on both pages (sibling variants): the first landed counts. Ranked on the
    -- keys alone, then joined back: ranking whole rows carried every raw JSON record through the window.
    -- Assumed: (sku_id, comment_id) is unique in raw (the landing merges on it), so the join adds no row.
    SELECT c.comment_id, c.sku_id
    FROM raw.comments c
    /*where*/
    QUALIFY row_number() OVER (PARTITION BY c.comment_id ORDER BY c.fetched_at, c.sku_id) = 1
), latest AS (
    SELECT c.*,
           {_TEXT} AS clean_text,
           coalesce(TRY_CAST((c.record->'$.pictureInfoList') AS JSON[]), []) AS media
    FROM raw.comments c
    SEMI JOIN first_landed f ON f.comment_id = c.comment_id AND f.sku_id = c.sku_id
    /*where*/
)
SELECT
    comment_id,
    sku_id,
    record->>'$.productId' AS reviewed_sku_id,
    commented_at,
    CAST(commented_at AS DATE) AS comment_date,
    CAST(record->>'$.commentScore' AS TINYINT) AS score,
    CASE WHEN score >= 4 THEN 'positive' WHEN score = 3 THEN 'neutral' ELSE 'negative' END AS score_sentiment,
    clean_text AS text,
    CAST(length(clean_text) AS INTEGER) AS text_len,
    clean_text = '' OR clean_text IN ({_DEFAULT_TEXTS}) AS is_default_text,
    CAST(len(list_filter(media, lambda m: m->>'$.mediaType' = '1')) AS INTEGER) AS picture_count,
    CAST(len(list_filter(media, lambda m: m->>'$.mediaType' = '2')) AS INTEGER) AS video_count,
    len(list_filter(media, lambda m: m->>'$.liveShooting' = '1')) > 0 AS has_live_shot,
    TRY_CAST(record->>'$.buyCount' AS INTEGER) AS buy_count,
    coalesce(buy_count > 1, false) AS is_repeat_buyer,
    record->>'$.userNickName' AS nickname,
    fetched_at AS first_seen_at,
    last_seen_at
FROM latest
ORDER BY sku_id, commented_at, comment_id
"""
COMMENTS_SELECT = select_of(COMMENTS_SQL)

#: How far before the last build's watermark new raw rows are looked for: a landing that fetched before
#: that build and committed after it (it waited for the write lock) still carries the older time.
WATERMARK_OVERLAP = "INTERVAL 1 DAY"

#: The raw comments new or seen again since the last build (``last_seen_at`` moves on every sighting),
#: compared exactly with what clean.comments holds. A comment only seen again (same SKU, same first fetch)
#: differs in ``last_seen_at`` alone: the landing's merge never rewrites a known comment's record.
RAW_CHANGES_SQL = f"""
CREATE OR REPLACE TEMP TABLE raw_changes AS
SELECT r.comment_id AS key, r.last_seen_at, c.comment_id IS NOT NULL AS seen_again
FROM raw.comments r
LEFT JOIN clean.comments c
    ON c.comment_id = r.comment_id AND c.sku_id = r.sku_id AND c.first_seen_at = r.fetched_at
WHERE r.last_seen_at > coalesce($watermark - {WATERMARK_OVERLAP}, TIMESTAMPTZ '-infinity')
  AND c.last_seen_at IS DISTINCT FROM r.last_seen_at
"""


@dg.asset(
    deps=[raw_comments],
    group_name=GROUP,
    kinds=KINDS,
    metadata=table_metadata("clean.comments", COMMENTS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_comments(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Product reviews, one row per comment: score, sentiment, normalised text, media, buyer signals."""
    with rebuild(warehouse, [tables.COMMENTS]) as con:
        build = begin(con, "clean.comments", digest(COMMENTS_SQL), full=full_requested(context, config))
        changed = _update(con, build)
        rows = row_count(con, "clean.comments")
        skus, avg_score, with_pictures = con.execute(
            """SELECT count(DISTINCT sku_id), coalesce(avg(score), 0),
                      count(*) FILTER (WHERE picture_count > 0)
               FROM clean.comments"""
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "skus": int(skus),
            "avg_score": round(float(avg_score), 4),
            "with_pictures": int(with_pictures),
            **build.metadata(changed),
        }
    )


def _update(con, build) -> int:
    """Rebuild clean.comments whole, or only the comments new or changed in raw; returns how many changed.

    No landing removes a raw comment; one removed by hand is caught by the row counts and removed here.
    """
    (newest,) = con.execute("SELECT max(last_seen_at) FROM raw.comments").fetchone()
    if build.full:
        con.execute(COMMENTS_SQL)
        changed = 0
    else:
        con.execute(RAW_CHANGES_SQL, {"watermark": build.watermark})
        # a review only seen again changes last_seen_at, which no reader of this table uses: updated in
        # place and not logged, so the marts do not redo the reviews a refresh merely saw again
        con.execute(
            """UPDATE clean.comments c SET last_seen_at = r.last_seen_at
               FROM raw_changes r WHERE r.seen_again AND c.comment_id = r.key"""
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE changed_keys AS "
            "SELECT DISTINCT key FROM raw_changes WHERE NOT seen_again"
        )
        insert = "INSERT INTO clean.comments " + COMMENTS_SELECT.replace(
            "/*where*/", "WHERE c.comment_id IN (SELECT key FROM changed_keys)"
        )
        replace_keys(con, build, "comment_id", insert, sku="sku_id", day="comment_date")
        changed = row_count(con, "changed_keys")
        in_raw, in_clean = con.execute(
            "SELECT (SELECT count(*) FROM raw.comments), (SELECT count(*) FROM clean.comments)"
        ).fetchone()
        if in_raw != in_clean:
            gone = "NOT EXISTS (SELECT 1 FROM raw.comments r WHERE r.comment_id = c.comment_id)"
            log_rows(
                con,
                build,
                f"SELECT comment_id AS key, sku_id, comment_date AS day FROM clean.comments c WHERE {gone}",
            )
            con.execute(f"DELETE FROM clean.comments c WHERE {gone}")
    build.watermark = newest if newest is not None else build.watermark
    finish(con, build)
    return changed
