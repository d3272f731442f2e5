"""``clean.review_signals``: what each review's text says, one row per review of ``clean.comments``.

Scoring is the only costly step (a polars pass per review text), so it is **incremental**: a run scores
only the reviews that have no row yet, or whose row was made by another version of the model and the
lexicons (``signals_version()``); everything else is kept as it is. Rows are written in short write
transactions per batch (delete the batch's ids, insert them: a retried or re-run batch never doubles a
row); the last batch shares its transaction with the settling below. Two things depend on more than the
review itself and are settled after the batches, in SQL:

- ``is_templated``: a template is a text shared by several reviews, so a new review can make older ones
  templates. Only the template keys the run touched (new, rescored or removed reviews) are recounted, and
  only the rows whose flag changes are written. The count itself is not stored per review (count the
  rows of a ``template_key``): a day's new copies of a common text would rewrite every review sharing it.
- reviews that left ``clean.comments`` (a purge) lose their row.

Which reviews need scoring or removal is found from ``clean.comments``' change log (the keys it logged
since this table's own cursor, ``SCORING``), plus any row of another version; the whole of both tables
is compared only when the log cannot be followed (first run, a whole rebuild, ``rescore_all``).

``rescore_all: true`` in the run config scores every review again (what a lexicon change under the same
version would need; a new model file changes the version by itself). A full rebuild (``full_rebuild`` or
the ``jd/full_rebuild`` run tag) recounts every template key, not only the touched ones; it does not rescore.
"""

import hashlib
import time
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from jd_assets.clean.comments import clean_comments
from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.derived.building import BEIJING, Column, row_count, sql_text, table_metadata
from jd_assets.derived.incremental import (
    DerivedConfig,
    advance,
    follow,
    full_requested,
    log_keys,
    log_step,
    table_exists,
)
from jd_assets.derived.rules import checks_from_rules, key_rule, reconciles, rows_satisfy
from jd_assets.insights import aspects as aspect_rules
from jd_assets.insights import tags as tag_rules
from jd_assets.insights.aspects import ASPECT_IDS, hidden_complaint, text_signals
from jd_assets.insights.sentiment import (
    NEGATIVE_AT,
    POSITIVE_AT,
    model_version,
    score_texts,
    sentiment_label_expr,
)
from jd_assets.warehouse import DuckDBWarehouse, delete_returning, ensure_schemas, markdown_preview

GROUP = "clean"
#: The table, and its log: the rows scored, rescored or removed, and those whose is_templated changed.
TABLE = "clean.review_signals"
#: The log of the rows whose text signals changed (scored, rescored or removed), without the template
#: recounts: the marts that do not show is_templated follow this one.
TEXTS_LOG = "clean.review_signals:texts"
#: Reviews scored per write transaction: bounds the memory of one polars pass and the lock hold time.
BATCH_ROWS = 100_000

SIGNALS_COLUMNS = (
    Column("comment_id", "VARCHAR", "JD commentId; one row per review of clean.comments."),
    Column("sku_id", "VARCHAR", "The reviewed SKU."),
    Column("commented_at", "TIMESTAMP", f"When the review was posted, {BEIJING}."),
    Column("score", "TINYINT", "Star rating 1..5 (from clean.comments)."),
    Column(
        "text_positive_prob",
        "DOUBLE",
        "Probability (0..1, calibrated) that the text is positive, from the shipped sentiment model; "
        "NULL only when the text is unscorable (see unscorable_reason).",
    ),
    Column(
        "text_sentiment",
        "VARCHAR",
        "positive (prob >= 0.6), negative (prob <= 0.4), neutral in between; NULL when unscorable.",
    ),
    Column(
        "unscorable_reason",
        "VARCHAR",
        "Why the text has no probability: null (no text), empty, default_text (JD's filler), no_text "
        "(emoji, digits or punctuation only), no_known_ngram; NULL when scored.",
    ),
    Column(
        "aspects",
        "STRUCT(aspect VARCHAR, polarity VARCHAR, clause VARCHAR)[]",
        "What the text says about each aspect: one entry per clause naming an aspect (logistics, "
        "packaging, price, quality, ...), its polarity (positive/negative/neutral, negations and degree "
        "words applied) and the clause itself. Empty when no aspect is named.",
    ),
    Column("negative_aspects", "INTEGER", "How many entries of aspects are negative."),
    Column(
        "tags",
        'STRUCT(tag VARCHAR, "value" VARCHAR)[]',
        "JD's structured review lines (外观材质:很好 → {tag: 外观材质, value: 很好}).",
    ),
    Column("mentions_repurchase", "BOOLEAN", "Mentions buying again (回购, 多次购买, ...)."),
    Column(
        "repurchase_intent",
        "VARCHAR",
        "positive (will or did buy again), negative (不会回购 ...), NULL when not mentioned.",
    ),
    Column("is_default_text", "BOOLEAN", "The text is empty or JD's default filler (clean.comments)."),
    Column(
        "template_key",
        "VARCHAR",
        "The text reduced to its letters (punctuation, digits, emoji removed); NULL when shorter than "
        f"{tag_rules.TEMPLATE_MIN_CHARS} letters.",
    ),
    Column(
        "is_templated",
        "BOOLEAN",
        f"A copy-paste review: at least {tag_rules.TEMPLATE_MIN_COMMENTS} reviews (any SKU) share its "
        "template_key, or JD's default filler.",
    ),
    Column(
        "is_hidden_complaint",
        "BOOLEAN",
        "Rated 4-5 stars, yet the text is negative or one of its aspects is negative.",
    ),
    Column("model_version", "VARCHAR", "Version of the sentiment model and the lexicons that made the row."),
    Column("scored_at", "TIMESTAMPTZ", "When the row was scored (instant)."),
)

_KNOWN_ASPECTS = ", ".join(sql_text(a) for a in ASPECT_IDS)

_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS clean.review_signals ("
    + ", ".join(f"{c.name} {c.type}" for c in SIGNALS_COLUMNS)
    + ")"
)


@cache
def signals_version() -> str:
    """The sentiment model's version plus a digest of the lexicon modules: either changing rescores all."""
    digest = hashlib.sha256()
    for module in (aspect_rules, tag_rules):
        digest.update(Path(module.__file__).read_bytes())
    return f"{model_version()}+lexicon-{digest.hexdigest()[:12]}"


def score_reviews(reviews: pl.DataFrame, version: str) -> pl.DataFrame:
    """Signals of ``reviews`` (comment_id, sku_id, commented_at, score, text, is_default_text), one row each.

    ``is_templated`` is provisional here (the default-text flag): it depends on every other review and is
    settled in SQL by :func:`settle_templates`.
    """
    polarity = score_texts(reviews["text"])
    signals = text_signals(reviews.select("comment_id", "text"))
    # JD's filler ("系统默认好评") is not the buyer's text: it says nothing, so it is not scored.
    filler = pl.col("is_default_text") & pl.col("unscorable_reason").is_null()
    return (
        pl.concat([reviews, polarity], how="horizontal")
        .with_columns(
            text_positive_prob=pl.when(filler).then(None).otherwise(pl.col("text_positive_prob")),
            unscorable_reason=pl.when(filler)
            .then(pl.lit("default_text"))
            .otherwise(pl.col("unscorable_reason")),
        )
        .join(signals, on="comment_id", how="left", maintain_order="left")
        .with_columns(text_sentiment=sentiment_label_expr(pl.col("text_positive_prob")))
        .with_columns(is_hidden_complaint=hidden_complaint())
        .select(
            "comment_id",
            "sku_id",
            "commented_at",
            pl.col("score").cast(pl.Int8),
            "text_positive_prob",
            "text_sentiment",
            "unscorable_reason",
            "aspects",
            pl.col("negative_aspects").cast(pl.Int32),
            "tags",
            "mentions_repurchase",
            "repurchase_intent",
            "is_default_text",
            "template_key",
            pl.col("is_default_text").alias("is_templated"),
            "is_hidden_complaint",
            pl.lit(version).alias("model_version"),
        )
    )


#: The reviews a run must score: no row yet, or a row of another version, among ``candidates`` (a relation
#: of ``comment_id``). The ids are found first, on the id columns alone: a join carrying every review's
#: text to keep a day's new ones took twice as long. The rows already scored are looked up among the
#: candidates only: the set difference with all 5M scored ids cost 1.0-1.4 s of CPU after a day, this 0.4.
_TO_SCORE_SQL = """
WITH candidates AS ({candidates})
SELECT c.comment_id, c.sku_id, c.commented_at, c.score, c.text, c.is_default_text
FROM clean.comments c
WHERE c.comment_id IN (
    SELECT comment_id FROM candidates
    EXCEPT SELECT comment_id FROM clean.review_signals
    WHERE model_version = $version AND NOT $rescore_all AND comment_id IN (SELECT comment_id FROM candidates))
ORDER BY c.comment_id
"""

#: Reader of clean.comments' change log with a cursor of its own (the table's own log steps rewrite its
#: cursors): the reviews added or removed since the last run are the keys logged since that cursor.
SCORING = "clean.review_signals:scoring"


def settle_templates(con: duckdb.DuckDBPyConnection, touched_keys: str) -> None:
    """Recount the template keys in relation ``touched_keys`` (one column ``template_key``) and set
    ``is_templated`` on the rows whose flag that changes, logged for the marts that follow this table. A
    new copy of a common text changes the count of every review sharing it (a third of them in bench 4)
    but their flag only when the count crosses the threshold: only those rows are written."""
    min_comments = tag_rules.TEMPLATE_MIN_COMMENTS
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE template_updates AS
        SELECT s.comment_id, s.sku_id, CAST(s.commented_at AS DATE) AS day,
               s.is_default_text OR k.n >= {min_comments} AS templated
        FROM clean.review_signals s
        JOIN (
            SELECT template_key, count(*) AS n
            FROM clean.review_signals
            WHERE template_key IN (SELECT template_key FROM {touched_keys})
            GROUP BY template_key
        ) k ON s.template_key = k.template_key
        WHERE s.is_templated IS DISTINCT FROM (s.is_default_text OR k.n >= {min_comments})
        """
    )
    log_step(con, TABLE, "SELECT comment_id AS key, sku_id, day FROM template_updates")
    con.execute(
        """UPDATE clean.review_signals s SET is_templated = u.templated
           FROM template_updates u WHERE s.comment_id = u.comment_id"""
    )


class ReviewSignalsConfig(DerivedConfig):
    rescore_all: bool = False
    """Score every review again, not only new ones and those of another model version."""


@dg.asset(
    deps=[clean_comments],
    group_name=GROUP,
    kinds={"duckdb", "polars"},
    metadata=table_metadata("clean.review_signals", SIGNALS_COLUMNS),
    automation_condition=FOLLOW_UPSTREAM,
)
def clean_review_signals(
    context: dg.AssetExecutionContext, config: ReviewSignalsConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """What each review's text says: polarity, aspects, hidden complaint, template, tags (incremental)."""
    version = signals_version()
    # Two write sessions when the reviews to score fit in one batch (a day's): what to score is read in
    # the first, the last batch is written with the removals and the recount in the second. Each session
    # costs a connect and a checkpoint of the whole file on close (about 0.1 s at 5M for a few changed
    # rows); scoring itself runs outside any session.
    with warehouse.write() as con:
        ensure_schemas(con)
        created = not table_exists(con, TABLE)
        con.execute(_TABLE_DDL)
        # tables made before the count left this table: the column goes, and every key is settled
        recount_all = _drop_template_count(con) or full_requested(context, config)
        consumed, current = follow(con, SCORING, "clean.comments")
        # Which reviews can need scoring or removal: those clean.comments logged since this table's
        # cursor, plus any row of another version; every review when the log cannot be followed (first
        # run, a whole rebuild of either table, rescore_all), as the exact but costly scan of both tables.
        whole = consumed is None or created or recount_all or config.rescore_all
        logged = None if whole else log_keys("clean.comments", consumed, current)
        candidates = (
            "SELECT comment_id FROM clean.comments"
            if whole
            else f"""SELECT key AS comment_id FROM ({logged})
                     UNION SELECT comment_id FROM clean.review_signals WHERE model_version <> $version"""
        )
        params = {"version": version, "rescore_all": config.rescore_all}
        todo = con.execute(_TO_SCORE_SQL.format(candidates=candidates), params).pl()
    started = time.monotonic()
    touched = [pl.DataFrame(schema={"template_key": pl.String})]
    scored = None  # the last batch scored: written in the final session
    for offset in range(0, todo.height, BATCH_ROWS):
        if scored is not None:
            with warehouse.write() as con:
                touched.append(_replace_rows(con, scored.to_arrow()))
        scored = score_reviews(todo.slice(offset, BATCH_ROWS), version)
        context.log.info(f"scored {min(offset + BATCH_ROWS, todo.height)} of {todo.height} reviews")
    scoring_seconds = time.monotonic() - started
    with warehouse.write() as con:
        if scored is not None:
            touched.append(_replace_rows(con, scored.to_arrow()))
        con.register("run_keys", pl.concat(touched).unique().to_arrow())
        # a review that left clean.comments was logged there; the ids still present are looked up
        # among the logged ones only (a filter on the id scan, not a join of 5M ids with 5M ids)
        gone = (
            "NOT EXISTS (SELECT 1 FROM clean.comments c WHERE c.comment_id = s.comment_id)"
            if whole
            else f"""s.comment_id IN (SELECT key FROM ({logged})
                                      EXCEPT SELECT comment_id FROM clean.comments
                                      WHERE comment_id IN (SELECT key FROM ({logged})))"""
        )
        removed = delete_returning(
            con, "clean.review_signals s", gone, "template_key, comment_id, sku_id, commented_at"
        )
        con.register("removed_keys", removed.to_arrow())
        for log in (TABLE, TEXTS_LOG):
            log_step(
                con,
                log,
                "SELECT comment_id AS key, sku_id, CAST(commented_at AS DATE) AS day FROM removed_keys",
            )
        con.execute(
            "CREATE TEMP TABLE touched_keys AS SELECT template_key FROM run_keys UNION "
            "SELECT template_key FROM removed_keys"
            + (" UNION SELECT template_key FROM clean.review_signals" if recount_all else "")
        )
        settle_templates(con, "touched_keys")
        advance(con, SCORING, "clean.comments", current)
        metadata = _signals_metadata(con)
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "scored_this_run": todo.height,
            "removed_this_run": removed.height,
            "scoring_seconds": round(scoring_seconds, 3),
            "model_version": version,
        }
    )


def _drop_template_count(con: duckdb.DuckDBPyConnection) -> bool:
    """Drop the per-review ``template_count`` of an older table; True when it was there."""
    (old,) = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'clean' AND table_name = 'review_signals' AND column_name = 'template_count'"
    ).fetchone()
    if old:
        con.execute("ALTER TABLE clean.review_signals DROP COLUMN template_count")
    return bool(old)


def _replace_rows(con: duckdb.DuckDBPyConnection, batch) -> pl.DataFrame:
    """Replace the batch's rows (delete by id, insert); return the template keys it touched, old and new."""
    con.register("batch", batch)
    for log in (TABLE, TEXTS_LOG):
        log_step(
            con,
            log,
            """SELECT comment_id AS key, sku_id, CAST(commented_at AS DATE) AS day FROM clean.review_signals
               WHERE comment_id IN (SELECT comment_id FROM batch)
               UNION ALL SELECT comment_id, sku_id, CAST(commented_at AS DATE) AS day FROM batch""",
        )
    old_keys = delete_returning(
        con, "clean.review_signals", "comment_id IN (SELECT comment_id FROM batch)", "template_key"
    )
    columns = ", ".join(c.name for c in SIGNALS_COLUMNS if c.name != "scored_at")
    con.execute(f"INSERT INTO clean.review_signals ({columns}, scored_at) SELECT {columns}, now() FROM batch")
    new_keys = con.execute("SELECT template_key FROM batch").pl()
    con.unregister("batch")
    return pl.concat([old_keys, new_keys]).drop_nulls()


def _signals_metadata(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    rows, negative, hidden, templated, unscorable = con.execute(
        """SELECT count(*),
                  count(*) FILTER (WHERE text_sentiment = 'negative'),
                  count(*) FILTER (WHERE is_hidden_complaint),
                  count(*) FILTER (WHERE is_templated),
                  count(*) FILTER (WHERE text_positive_prob IS NULL)
           FROM clean.review_signals"""
    ).fetchone()
    share = (lambda n: round(n / rows, 4)) if rows else (lambda n: 0.0)
    return {
        "dagster/row_count": row_count(con, "clean.review_signals"),
        "text_negative_share": share(negative),
        "hidden_complaint_share": share(hidden),
        "template_share": share(templated),
        "unscorable": int(unscorable),
        "preview": markdown_preview(
            con,
            """SELECT sku_id, score, text_sentiment, round(text_positive_prob, 3) AS prob,
                       list_transform(aspects, a -> a.aspect || ':' || a.polarity) AS aspects,
                       is_hidden_complaint, is_templated
                FROM clean.review_signals
                WHERE is_hidden_complaint OR len(aspects) > 1
                ORDER BY commented_at DESC, comment_id LIMIT 8""",
        ),
        "aspect_ids": ", ".join(ASPECT_IDS),
    }


review_signals_checks = checks_from_rules(
    clean_review_signals,
    {
        "keys_unique": key_rule("clean.review_signals", "comment_id"),
        "every_review_scored": (
            "One row per review of clean.comments, made by the current model and lexicons.",
            lambda con: reconciles(
                con,
                "clean.review_signals",
                expected_sql="SELECT comment_id, sku_id, score FROM clean.comments",
                actual_sql=f"""SELECT comment_id, sku_id, score FROM clean.review_signals
                               WHERE model_version = {sql_text(signals_version())}""",
            ),
        ),
        "values_valid": (
            "Probabilities in 0..1 (NULL only with a reason), labels and aspects from the known sets, "
            "hidden complaints only on 4-5 stars.",
            lambda con: rows_satisfy(
                con,
                "clean.review_signals",
                {
                    "prob in 0..1 or unscorable": (
                        "(text_positive_prob BETWEEN 0 AND 1 AND unscorable_reason IS NULL) "
                        "OR (text_positive_prob IS NULL AND unscorable_reason IS NOT NULL)"
                    ),
                    "text_sentiment agrees with prob": f"""text_sentiment IS NOT DISTINCT FROM CASE
                        WHEN text_positive_prob >= {POSITIVE_AT} THEN 'positive'
                        WHEN text_positive_prob <= {NEGATIVE_AT} THEN 'negative'
                        WHEN text_positive_prob IS NOT NULL THEN 'neutral' END""",
                    "aspects from the known set": (
                        f"list_bool_and(list_transform(aspects, a -> a.aspect IN ({_KNOWN_ASPECTS}) "
                        "AND a.polarity IN ('positive', 'negative', 'neutral'))) IS NOT false"
                    ),
                    "hidden complaint only at 4-5 stars": "NOT is_hidden_complaint OR score >= 4",
                    "negative_aspects counts them": (
                        "negative_aspects = len(list_filter(aspects, a -> a.polarity = 'negative'))"
                    ),
                },
                "comment_id, score, text_positive_prob, unscorable_reason",
            ),
        ),
    },
)
