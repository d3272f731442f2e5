"""The marts of what reviews say: pain points per SKU and aspect, and the reviews that need a look.

Both are SQL aggregations over ``clean.review_signals`` (the costly scoring is incremental there), with
their checks beside them; after the first build only the SKUs whose aspects or alerts changed are rebuilt
(``jd_assets/derived/incremental.py``).
"""

import dagster as dg

from jd_assets.clean import clean_comments, clean_review_signals
from jd_assets.clean.checks import no_buyer_pii
from jd_assets.clean.review_signals import TEXTS_LOG
from jd_assets.derived.building import (
    BEIJING,
    Column,
    rebuild,
    row_count,
    select_of,
    sql_text,
    table_metadata,
)
from jd_assets.derived.incremental import (
    DerivedConfig,
    begin,
    changed_reviews,
    digest,
    finish,
    full_requested,
    table_exists,
)
from jd_assets.derived.rules import checks_from_rules, keys_unique, reconciles, rows_satisfy
from jd_assets.insights.aspects import ASPECT_IDS, ASPECT_NAMES
from jd_assets.marts.assets import MART_OPTIONS
from jd_assets.warehouse import DuckDBWarehouse, markdown_preview

#: Example clauses kept per SKU and aspect.
EXAMPLES_PER_ASPECT = 3
#: Why a review is an alert, in the order they are tested.
ALERT_REASONS = ("negative_review", "hidden_complaint", "negative_text")

_ASPECT_NAMES_SQL = (
    "(VALUES "
    + ", ".join(f"({sql_text(aspect)}, {sql_text(name)})" for aspect, name in ASPECT_NAMES.items())
    + ") AS names(aspect, aspect_name)"
)

SKU_ASPECTS_COLUMNS = (
    Column("sku_id", "VARCHAR", "The SKU; (sku_id, aspect) is unique."),
    Column("aspect", "VARCHAR", "Aspect id: " + ", ".join(ASPECT_IDS) + "."),
    Column("aspect_name", "VARCHAR", "The aspect's Chinese name (物流配送, 包装, ...)."),
    Column("mentions", "BIGINT", "Reviews of the SKU that name the aspect (a review counts once)."),
    Column(
        "negative_mentions", "BIGINT", "Reviews in which the aspect is negative (in at least one clause)."
    ),
    Column(
        "positive_mentions", "BIGINT", "Reviews in which the aspect is positive (in at least one clause)."
    ),
    Column("negative_share", "DOUBLE", "negative_mentions / mentions (0..1): the pain-point score."),
    Column(
        "examples",
        "VARCHAR[]",
        f"Up to {EXAMPLES_PER_ASPECT} distinct clauses about the aspect, quoted from the reviews: negative "
        "ones first, newest first.",
    ),
    Column("last_mentioned_at", "TIMESTAMP", f"Newest review naming the aspect, {BEIJING}."),
)

#: Every clause of the reviews (passing ``/*where*/``) that names an aspect, one row each.
ASPECT_CLAUSES_SQL = """
SELECT sku_id, comment_id, commented_at, a.aspect, a.polarity, a.clause
FROM (SELECT sku_id, comment_id, commented_at, unnest(aspects) AS a FROM clean.review_signals /*where*/)
"""
#: Per SKU, aspect and distinct clause of temp table ``clauses``: what ranks the clause among the quotes.
#: Kept as ``meta.sku_aspects_clauses`` (not published), so a day's new clauses merge into it: the quotes
#: of a (SKU, aspect) are then ranked without reading the SKU's other reviews again.
CLAUSE_RANKS_SQL = """
SELECT sku_id, aspect, clause,
       bool_or(polarity = 'negative') AS negative,
       max(commented_at) AS newest,
       min(comment_id) AS first_comment
FROM clauses
GROUP BY sku_id, aspect, clause
"""
CLAUSE_RANKS_TABLE = "meta.sku_aspects_clauses"
#: Per SKU and aspect of temp table ``clauses``: reviews naming it (a review counts once), how many of
#: them negatively and positively, the newest. Counts of different reviews add up. Grouped per review
#: first: the same counts as three ``count(DISTINCT comment_id)``, in half their time.
ASPECT_COUNTS_SQL = """
SELECT sku_id, aspect,
       count(*) AS mentions,
       count(*) FILTER (WHERE negative) AS negative_mentions,
       count(*) FILTER (WHERE positive) AS positive_mentions,
       max(newest) AS last_mentioned_at
FROM (SELECT sku_id, aspect, comment_id,
             bool_or(polarity = 'negative') AS negative,
             bool_or(polarity = 'positive') AS positive,
             max(commented_at) AS newest
      FROM clauses
      GROUP BY sku_id, aspect, comment_id)
GROUP BY sku_id, aspect
"""
#: The rows of marts.sku_aspects from temp table ``counts`` and the clause ranks (``/*where*/``: of the
#: (SKU, aspect) groups in temp table ``counts`` only).
SKU_ASPECTS_SQL = f"""
CREATE OR REPLACE TABLE marts.sku_aspects AS
WITH quotes AS (
    SELECT sku_id, aspect,
           list(clause ORDER BY negative DESC, newest DESC, first_comment, clause) AS ranked
    FROM {CLAUSE_RANKS_TABLE} r
    /*where*/
    GROUP BY sku_id, aspect
)
SELECT c.sku_id, c.aspect, names.aspect_name,
       c.mentions, c.negative_mentions, c.positive_mentions,
       c.negative_mentions / c.mentions AS negative_share,
       q.ranked[1:{EXAMPLES_PER_ASPECT}] AS examples,
       c.last_mentioned_at
FROM counts c
JOIN quotes q USING (sku_id, aspect)
LEFT JOIN {_ASPECT_NAMES_SQL} USING (aspect)
ORDER BY c.sku_id, c.aspect
"""
SKU_ASPECTS_SELECT = select_of(SKU_ASPECTS_SQL)
_OF_COUNTS = "SEMI JOIN counts g ON g.sku_id = r.sku_id AND g.aspect = r.aspect"
#: After new reviews only: the quotes are ranked among the candidates (temp table ``candidates``): a
#: group's former three and the clauses the new reviews name. Merging only raises a clause's rank (negative
#: or not, newest, first review), so no other clause can enter the three.
_OF_CANDIDATES = (
    "SEMI JOIN candidates g ON g.sku_id = r.sku_id AND g.aspect = r.aspect "
    "AND g.clause IS NOT DISTINCT FROM r.clause"
)

REVIEW_ALERTS_COLUMNS = (
    Column("sku_id", "VARCHAR", "The reviewed SKU."),
    Column("comment_id", "VARCHAR", "JD commentId; unique (a review alerts once, for its first reason)."),
    Column("commented_at", "TIMESTAMP", f"When the review was posted, {BEIJING}."),
    Column("score", "TINYINT", "Star rating 1..5."),
    Column(
        "reason",
        "VARCHAR",
        "negative_review (1-2 stars), hidden_complaint (4-5 stars, negative text or aspect), or "
        "negative_text (3 stars, negative text).",
    ),
    Column("negative_aspects", "VARCHAR[]", "The aspects the text is negative about (distinct, sorted)."),
    Column("text_positive_prob", "DOUBLE", "Probability that the text is positive."),
    Column("text", "VARCHAR", "The review text (normalised, as in clean.comments)."),
    Column("sku_alert_rank", "BIGINT", "1 = the SKU's newest alert, 2 = the one before, ..."),
)

#: The alerts among the reviews passing ``/*and*/`` (and ``/*where*/`` for their texts), without ranks.
ALERT_ROWS_SQL = """
SELECT s.sku_id, s.comment_id, s.commented_at, s.score,
       CASE WHEN s.score <= 2 THEN 'negative_review'
            WHEN s.is_hidden_complaint THEN 'hidden_complaint'
            ELSE 'negative_text' END AS reason,
       list_sort(list_distinct(list_transform(
           list_filter(s.aspects, a -> a.polarity = 'negative'), a -> a.aspect))) AS negative_aspects,
       s.text_positive_prob,
       c.text
FROM clean.review_signals s
JOIN (SELECT comment_id, text FROM clean.comments /*where*/) c USING (comment_id)
WHERE (s.score <= 2 OR s.is_hidden_complaint OR (s.score = 3 AND s.text_sentiment = 'negative'))
    /*and*/
"""
#: marts.review_alerts from temp table ``alert_rows`` (ALERT_ROWS_SQL's rows): each SKU's alerts ranked.
REVIEW_ALERTS_SQL = """
CREATE OR REPLACE TABLE marts.review_alerts AS
SELECT *,
       row_number() OVER (PARTITION BY sku_id ORDER BY commented_at DESC, comment_id) AS sku_alert_rank
FROM alert_rows
ORDER BY commented_at DESC, comment_id
"""
REVIEW_ALERTS_SELECT = select_of(REVIEW_ALERTS_SQL)
#: The SKUs with a review rescored or removed (temp table ``changed_reviews``: versions = its log rows, 2
#: for an old and a new one; a removed review has none left): their aspects are redone from their reviews.
#: Every other changed review is new, and its counts add to what the mart holds.
_REDO_SKUS_SQL = """
SELECT DISTINCT r.sku_id FROM changed_reviews r LEFT JOIN clean.review_signals s ON s.comment_id = r.key
WHERE r.versions > 1 OR s.comment_id IS NULL
"""
_SAME_CLAUSE = " AND ".join(f"r.{c} IS NOT DISTINCT FROM n.{c}" for c in ("sku_id", "aspect", "clause"))
_SAME_GROUP = "r.sku_id = n.sku_id AND r.aspect = n.aspect"
#: The SKUs whose alerts (or their ranks) changed: a changed review that is an alert now, or was one.
_ALERT_SKUS_SQL = """
SELECT s.sku_id FROM changed_reviews r JOIN clean.review_signals s ON s.comment_id = r.key
WHERE s.score <= 2 OR s.is_hidden_complaint OR (s.score = 3 AND s.text_sentiment = 'negative')
UNION SELECT a.sku_id FROM changed_reviews r JOIN marts.review_alerts a ON a.comment_id = r.key
"""


@dg.asset(
    deps=[clean_review_signals],
    metadata=table_metadata("marts.sku_aspects", SKU_ASPECTS_COLUMNS),
    **MART_OPTIONS,
)
def sku_aspects(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Pain points: per SKU and aspect, how often reviews name it, how often negatively, with quotes."""
    with rebuild(warehouse) as con:
        build = begin(
            con,
            "marts.sku_aspects",
            digest(ASPECT_CLAUSES_SQL, CLAUSE_RANKS_SQL, ASPECT_COUNTS_SQL, SKU_ASPECTS_SQL),
            full=full_requested(context, config),
            upstreams=(TEXTS_LOG,),
        )
        changed = _update_sku_aspects(con, build)
        worst = con.execute(
            """SELECT sku_id || ' ' || aspect || ' ' || round(negative_share, 2), negative_share
               FROM marts.sku_aspects WHERE mentions >= 5
               ORDER BY negative_share DESC, mentions DESC, sku_id, aspect LIMIT 1"""
        ).fetchone()
        skus, negatives = con.execute(
            "SELECT count(DISTINCT sku_id), coalesce(sum(negative_mentions), 0) FROM marts.sku_aspects"
        ).fetchone()
        metadata = {
            "dagster/row_count": row_count(con, "marts.sku_aspects"),
            "skus": int(skus),
            "negative_mentions": int(negatives),
            "worst_pain_point": worst[0] if worst else "none",
            "worst_pain_point_share": round(float(worst[1]), 4) if worst else 0.0,
            "preview": markdown_preview(
                con,
                """SELECT sku_id, aspect_name, mentions, round(negative_share, 2) AS negative_share,
                          examples[1] AS example
                   FROM marts.sku_aspects ORDER BY negative_mentions DESC, sku_id, aspect LIMIT 8""",
            ),
            **build.metadata(changed),
        }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[clean_review_signals, clean_comments],
    metadata=table_metadata("marts.review_alerts", REVIEW_ALERTS_COLUMNS),
    **MART_OPTIONS,
)
def review_alerts(
    context: dg.AssetExecutionContext, config: DerivedConfig, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Reviews that need a look, newest first: negative ones and hidden complaints behind good stars."""
    with rebuild(warehouse) as con:
        build = begin(
            con,
            "marts.review_alerts",
            digest(ALERT_ROWS_SQL, REVIEW_ALERTS_SQL),
            full=full_requested(context, config),
            upstreams=("clean.comments", TEXTS_LOG),
        )
        changed = _update_review_alerts(con, build)
        by_reason = dict(
            con.execute("SELECT reason, count(*) FROM marts.review_alerts GROUP BY ALL").fetchall()
        )
        (last_30d,) = con.execute(
            """SELECT count(*) FROM marts.review_alerts
               WHERE commented_at > (SELECT max(commented_at) FROM marts.review_alerts) - INTERVAL 30 DAY"""
        ).fetchone()
        metadata = {
            "dagster/row_count": row_count(con, "marts.review_alerts"),
            **{f"alerts: {reason}": int(by_reason.get(reason, 0)) for reason in ALERT_REASONS},
            "alerts_last_30d": int(last_30d),
            "preview": markdown_preview(
                con,
                """SELECT sku_id, commented_at, score, reason, left(text, 40) AS text
                   FROM marts.review_alerts ORDER BY commented_at DESC, comment_id LIMIT 8""",
            ),
            **build.metadata(changed),
        }
    return dg.MaterializeResult(metadata=metadata)


def _clauses(con, where: str) -> None:
    """Temp table ``clauses``: the aspect clauses of the reviews passing ``where``."""
    con.execute("CREATE OR REPLACE TEMP TABLE clauses AS " + ASPECT_CLAUSES_SQL.replace("/*where*/", where))


def _update_sku_aspects(con, build) -> int:
    """Whole, or: the SKUs with a rescored or removed review redone from their reviews, then the new
    reviews' clauses merged into the clause ranks and their counts added to their (SKU, aspect) rows, so a
    day's reviews cost what they hold, not what their SKUs hold. Returns how many (SKU, aspect) changed."""
    if not build.full and not table_exists(con, CLAUSE_RANKS_TABLE):
        build.full, build.reason = True, f"no {CLAUSE_RANKS_TABLE} yet"
    if build.full:
        _clauses(con, "")
        con.execute(f"CREATE OR REPLACE TABLE {CLAUSE_RANKS_TABLE} AS {CLAUSE_RANKS_SQL}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE counts AS {ASPECT_COUNTS_SQL}")
        con.execute(SKU_ASPECTS_SQL.replace("/*where*/", ""))
        finish(con, build)
        return 0
    changed_reviews(con, build)
    con.execute(f"CREATE OR REPLACE TEMP TABLE redo_skus AS {_REDO_SKUS_SQL}")
    con.execute(f"DELETE FROM {CLAUSE_RANKS_TABLE} WHERE sku_id IN (SELECT sku_id FROM redo_skus)")
    con.execute("DELETE FROM marts.sku_aspects WHERE sku_id IN (SELECT sku_id FROM redo_skus)")
    _clauses(con, "WHERE sku_id IN (SELECT sku_id FROM redo_skus)")
    con.execute(f"INSERT INTO {CLAUSE_RANKS_TABLE} {CLAUSE_RANKS_SQL}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE counts AS {ASPECT_COUNTS_SQL}")
    con.execute("INSERT INTO marts.sku_aspects " + SKU_ASPECTS_SELECT.replace("/*where*/", _OF_COUNTS))
    redone = row_count(con, "counts")

    _clauses(
        con,
        "WHERE comment_id IN (SELECT key FROM changed_reviews r ANTI JOIN redo_skus USING (sku_id))",
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_ranks AS {CLAUSE_RANKS_SQL}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE merged_ranks AS
        SELECT n.sku_id, n.aspect, n.clause,
               CASE WHEN r.sku_id IS NULL THEN n.negative ELSE r.negative OR n.negative END AS negative,
               greatest(r.newest, n.newest) AS newest,
               least(r.first_comment, n.first_comment) AS first_comment
        FROM new_ranks n LEFT JOIN {CLAUSE_RANKS_TABLE} r ON {_SAME_CLAUSE}"""
    )
    con.execute(f"DELETE FROM {CLAUSE_RANKS_TABLE} r USING new_ranks n WHERE {_SAME_CLAUSE}")
    con.execute(f"INSERT INTO {CLAUSE_RANKS_TABLE} SELECT * FROM merged_ranks")
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_counts AS {ASPECT_COUNTS_SQL}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE counts AS
        SELECT n.sku_id, n.aspect,
               coalesce(r.mentions, 0) + n.mentions AS mentions,
               coalesce(r.negative_mentions, 0) + n.negative_mentions AS negative_mentions,
               coalesce(r.positive_mentions, 0) + n.positive_mentions AS positive_mentions,
               greatest(r.last_mentioned_at, n.last_mentioned_at) AS last_mentioned_at
        FROM new_counts n LEFT JOIN marts.sku_aspects r ON r.sku_id = n.sku_id AND r.aspect = n.aspect"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE candidates AS
        SELECT r.sku_id, r.aspect, unnest(r.examples) AS clause
        FROM marts.sku_aspects r SEMI JOIN counts n ON {_SAME_GROUP}
        UNION SELECT sku_id, aspect, clause FROM new_ranks"""
    )
    con.execute(f"DELETE FROM marts.sku_aspects r USING counts n WHERE {_SAME_GROUP}")
    con.execute("INSERT INTO marts.sku_aspects " + SKU_ASPECTS_SELECT.replace("/*where*/", _OF_CANDIDATES))
    finish(con, build)
    return redone + row_count(con, "counts")


def _update_review_alerts(con, build) -> int:
    """Whole, or the SKUs whose alerts changed, from the alerts the mart holds plus the changed reviews'
    (only those are read from the clean tables); each such SKU's alerts ranked again. Returns how many
    SKUs."""
    if build.full:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE alert_rows AS "
            + ALERT_ROWS_SQL.replace("/*where*/", "").replace("/*and*/", "")
        )
        con.execute(REVIEW_ALERTS_SQL)
        finish(con, build)
        return 0
    changed_reviews(con, build)
    con.execute(f"CREATE OR REPLACE TEMP TABLE alert_skus AS SELECT DISTINCT sku_id FROM ({_ALERT_SKUS_SQL})")
    changed = "comment_id IN (SELECT key FROM changed_reviews)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE alert_rows AS
        SELECT * EXCLUDE (sku_alert_rank) FROM marts.review_alerts
        WHERE sku_id IN (SELECT sku_id FROM alert_skus) AND NOT {changed}
        UNION ALL """
        + ALERT_ROWS_SQL.replace("/*where*/", f"WHERE {changed}").replace("/*and*/", f"AND s.{changed}")
    )
    con.execute("DELETE FROM marts.review_alerts WHERE sku_id IN (SELECT sku_id FROM alert_skus)")
    con.execute("INSERT INTO marts.review_alerts " + REVIEW_ALERTS_SELECT)
    finish(con, build)
    return row_count(con, "alert_skus")


sku_aspects_checks = checks_from_rules(
    sku_aspects,
    {
        "keys_unique": (
            "(sku_id, aspect) is present and unique.",
            lambda con: keys_unique(con, "marts.sku_aspects", ["sku_id", "aspect"]),
        ),
        "values_valid": (
            "Aspects from the known set; counts consistent (negative, positive <= mentions); share in 0..1; "
            f"1 to {EXAMPLES_PER_ASPECT} examples.",
            lambda con: rows_satisfy(
                con,
                "marts.sku_aspects",
                {
                    "aspect known": "aspect IN (" + ", ".join(sql_text(a) for a in ASPECT_IDS) + ")",
                    "counts consistent": (
                        "mentions > 0 AND negative_mentions BETWEEN 0 AND mentions "
                        "AND positive_mentions BETWEEN 0 AND mentions"
                    ),
                    "negative_share in 0..1": "negative_share BETWEEN 0 AND 1",
                    "examples": f"len(examples) BETWEEN 1 AND {EXAMPLES_PER_ASPECT}",
                },
                "sku_id, aspect, mentions, negative_mentions",
            ),
        ),
        "mentions_reconcile": (
            "Per SKU and aspect, mentions equal the reviews of clean.review_signals naming it.",
            lambda con: reconciles(
                con,
                "marts.sku_aspects",
                expected_sql="""SELECT sku_id, a.aspect, count(DISTINCT comment_id)
                    FROM (SELECT sku_id, comment_id, unnest(aspects) AS a FROM clean.review_signals)
                    GROUP BY ALL""",
                actual_sql="SELECT sku_id, aspect, mentions FROM marts.sku_aspects",
            ),
        ),
        "no_buyer_pii": (
            "No quoted clause equals or contains a buyer's name, phone or address from raw.orders.",
            lambda con: no_buyer_pii(con, "marts.sku_aspects"),
        ),
    },
)

review_alerts_checks = checks_from_rules(
    review_alerts,
    {
        "keys_unique": (
            "comment_id is present and unique.",
            lambda con: keys_unique(con, "marts.review_alerts", ["comment_id"]),
        ),
        "every_alert_kept": (
            "Exactly the reviews rated 1-2, the hidden complaints and the 3-star negative texts.",
            lambda con: reconciles(
                con,
                "marts.review_alerts",
                expected_sql="""SELECT comment_id, sku_id FROM clean.review_signals
                    WHERE score <= 2 OR is_hidden_complaint OR (score = 3 AND text_sentiment = 'negative')""",
                actual_sql="SELECT comment_id, sku_id FROM marts.review_alerts",
            ),
        ),
        "reason_valid": (
            "reason is one of " + ", ".join(ALERT_REASONS) + " and agrees with the score.",
            lambda con: rows_satisfy(
                con,
                "marts.review_alerts",
                {
                    "reason agrees with score": """(reason = 'negative_review' AND score <= 2)
                        OR (reason = 'hidden_complaint' AND score >= 4)
                        OR (reason = 'negative_text' AND score = 3)""",
                },
                "comment_id, score, reason",
            ),
        ),
        "no_buyer_pii": (
            "No alert text equals or contains a buyer's name, phone or address from raw.orders.",
            lambda con: no_buyer_pii(con, "marts.review_alerts"),
        ),
    },
)

REVIEW_INSIGHT_CHECKS = [*sku_aspects_checks, *review_alerts_checks]
