"""Text signals that need no sentiment lexicon: JD's structured tag lines, repurchase mentions, template keys.

Everything here is a polars expression or a frame-to-frame function over columns (no Python loop over rows).
The input text is ``clean.comments.text`` (NFC, full-width ASCII mapped to ASCII, CRLF to LF);
:func:`normalised_text` adds what that column does not do: HTML entities (JD texts carry ``&hellip;``),
``<br>`` tags, common traditional characters, and a length cap.
"""

from __future__ import annotations

import polars as pl

from jd_assets.derived.building import FULLWIDTH, HALFWIDTH

#: Texts longer than this are analysed on their first MAX_CHARS characters (JD itself caps reviews far
#: below this; the cap only bounds the work a pathological 100 KB text can cause).
MAX_CHARS = 5_000

#: HTML entities and line-break tags as JD's pages deliver them. Unescaped here, in the analysis, rather than
#: in clean.comments: clean.comments.text keeps what JD published (only width and line ends normalised).
#: One leftmost pass (Aho-Corasick), so ``&amp;hellip;`` becomes ``&hellip;`` once, as HTML would.
HTML_ENTITIES = {
    "&hellip;": "…",
    "&amp;": "&",
    "&lt;": "<",
    "&gt;": ">",
    "&quot;": '"',
    "&#34;": '"',
    "&#39;": "'",
    "&#x27;": "'",
    "&apos;": "'",
    "&nbsp;": " ",
    "&ldquo;": "“",
    "&rdquo;": "”",
    "&lsquo;": "‘",
    "&rsquo;": "’",
    "&mdash;": "—",
    "&ndash;": "–",
    "&middot;": "·",
    "&times;": "×",
}

#: Traditional → simplified for the characters that carry review vocabulary (single characters only, each of
#: which is not itself a simplified character, so mapping is safe on simplified text). Not a converter: a
#: review in traditional script gets its aspect and sentiment words recognised; other words stay as written.
_TRAD = (
    "質价價貴買賣發貨遞裝顏碼電聲務態號東還這個說們來對沒麼點樣錯讓與體實應後從動過時會開關長門問間見覺緻細經給"
    "紅綠線絲紙膚潤濕膩鮮難歡滿優劃級檔廠產寶媽氣嚐兒適寬緊鬆壞爛傷損灑髒舊雖卻購復換貼員區車廣夠裡麵幾萬並總壓"
    "護療藥機辦鐘鏡銷錢費紋顯現觸陣響靜熱涼溫燙續運轉順暢頓攝錄畫設計觀誤誠謝嗎為聽買輕重試種類選擇預訂單裝務"
    "標嚴雙穩準彈淨處網腳擊飯湯雞蝦魚蘋襪褲衛愛聞厲絕讚贊儲盤鍋壺導"
)
_SIMP = (
    "质价价贵买卖发货递装颜码电声务态号东还这个说们来对没么点样错让与体实应后从动过时会开关长门问间见觉致细经给"
    "红绿线丝纸肤润湿腻鲜难欢满优划级档厂产宝妈气尝儿适宽紧松坏烂伤损洒脏旧虽却购复换贴员区车广够里面几万并总压"
    "护疗药机办钟镜销钱费纹显现触阵响静热凉温烫续运转顺畅顿摄录画设计观误诚谢吗为听买轻重试种类选择预订单装务"
    "标严双稳准弹净处网脚击饭汤鸡虾鱼苹袜裤卫爱闻厉绝赞赞储盘锅壶导"
)
_PAIRS = {t: s for t, s in zip(_TRAD, _SIMP, strict=True) if t != s}
_PAIRS.update({f: h for f, h in zip(FULLWIDTH, HALFWIDTH, strict=True)})


def normalised_text(expr: pl.Expr) -> pl.Expr:
    """``expr`` (a review text) ready for matching: never null, HTML entities and ``<br>`` unescaped,
    full-width ASCII mapped (idempotent on clean.comments.text), common traditional characters simplified,
    cut to MAX_CHARS."""
    return (
        expr.fill_null("")
        .str.slice(0, MAX_CHARS)
        .str.replace_many(list(HTML_ENTITIES), list(HTML_ENTITIES.values()))
        .str.replace_all(r"(?i)<br\s*/?>", "\n")
        .str.replace_many(list(_PAIRS), list(_PAIRS.values()))
        .str.replace_all("\r\n?", "\n")
    )


# ---------------------------------------------------------------------------------------------- tag lines

#: A JD structured line: at a line start, a tag of 1-8 characters beginning with a Chinese character (so
#: ``http://`` or ``12:30`` are not tags), a colon, and a non-empty value to the end of the line.
TAG_LINE = r"^\s*(?P<tag>\p{Han}[\p{Han}A-Za-z0-9]{0,7})\s*:\s*(?P<value>\S.*?)\s*$"
_HAS_TAG_LINE = r"(?m)^\s*\p{Han}[\p{Han}A-Za-z0-9]{0,7}\s*:\s*\S"
TAG_STRUCT = pl.Struct({"tag": pl.String, "value": pl.String})


def tags(frame: pl.DataFrame, text: str = "text") -> pl.DataFrame:
    """``comment_id, tags``: JD's structured lines (``吸收效果:很容易吸收``) as a list of ``{tag, value}`` in
    line order; an empty list when a text has none. ``text`` is a normalised text column."""
    lines = (
        frame.lazy()
        .select("comment_id", pl.col(text).alias("line"))
        .filter(pl.col("line").str.contains(_HAS_TAG_LINE))
        .with_columns(pl.col("line").str.split("\n"))
        .explode("line")
        .select("comment_id", pl.col("line").str.extract_groups(TAG_LINE).alias("tag"))
        .filter(pl.col("tag").struct.field("value").is_not_null())
        .group_by("comment_id", maintain_order=True)
        .agg(pl.col("tag").alias("tags"))
    )
    return (
        frame.lazy()
        .select("comment_id")
        .join(lines, on="comment_id", how="left", maintain_order="left")
        .with_columns(pl.col("tags").fill_null(pl.lit([], dtype=pl.List(TAG_STRUCT))))
        .collect()
    )


# ---------------------------------------------------------------------------------------------- repurchase

_NUM = "[二三四五六七八九十几两0-9]+"
#: A buyer saying they bought (or will buy) the item again.
REPURCHASE = (
    r"回购|复购|再次购买|再次购入|再次下单|多次购买|二次购买|回头客|老顾客|老客户|"
    r"一直(?:在)?(?:京东)?(?:买|回购|购买)|一直(?:在)?用(?:这|他家|她家|它|这个|这款|这个牌子)|"
    r"又(?:买|入|囤|来买|回购|下单)|常买|经常买|每次都(?:买|在这)|"
    rf"第{_NUM}(?:次|回|台|瓶|罐|箱|件|双|套|盒|袋|支|桶)|"
    r"囤货|囤了|屯货|囤着|"
    r"还会(?:再)?(?:来|买|回购|光顾)|下次(?:还|再)(?:来|买|会买)|会再来|会(?:再|一直)(?:买|回购|光顾)"
)
#: Negated or refused repurchase: "不会回购", "再也不买了", "最后一次买". Removed before REPURCHASE is tested,
#: so "不会再回购" is not a repurchase mention.
NO_REPURCHASE = (
    r"(?:不会|不想|不打算|不再|再也不|绝不|坚决不|拒绝|不敢再)(?:会)?(?:再)?(?:回购|复购|购买|买|来|光顾)|"
    r"不回购|最后一次(?:买|购买|光顾|来)|下次不(?:会)?(?:再)?(?:来|买)|别再买"
)


def repurchase(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``(mentions_repurchase, repurchase_intent)`` for a normalised text.

    mentions_repurchase: a non-negated repurchase mention (已经多次回购, 第三次买, 下次还来, 囤货).
    repurchase_intent: "negative" when the text refuses to buy again (不会回购, 再也不买), else "positive"
    when it mentions repurchase, else null. A text with both ("回购过很多次，这次不会再买了") is negative:
    the refusal is the later, stronger statement.
    """
    refused = text.str.contains(NO_REPURCHASE)
    mentions = text.str.replace_all(NO_REPURCHASE, "|").str.contains(REPURCHASE)
    intent = (
        pl.when(refused)
        .then(pl.lit("negative"))
        .when(mentions)
        .then(pl.lit("positive"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return mentions, intent


# ---------------------------------------------------------------------------------------------- templates

#: Shorter keys are never templates: "很好", "好评好评好评" (6), "物流很快很满意" (7) are written
#: independently by thousands of buyers; from 8 letters on, a shared text is a pasted template.
TEMPLATE_MIN_CHARS = 8
#: A key shared by at least this many distinct comments is a template. Two buyers can coincide on an
#: 8+ letter sentence; three identical normalised texts are a pasted template (or JD's filler).
TEMPLATE_MIN_COMMENTS = 3


def template_key(text: pl.Expr) -> pl.Expr:
    """The text reduced to its letters (Chinese, Latin lower-cased, other scripts): punctuation, whitespace,
    digits, emoji and symbols removed; null when shorter than TEMPLATE_MIN_CHARS. ``text`` is normalised."""
    key = text.str.replace_all(r"[\p{P}\p{S}\p{N}\p{Z}\p{C}\p{M}\s]+", "").str.to_lowercase()
    return pl.when(key.str.len_chars() >= TEMPLATE_MIN_CHARS).then(key).otherwise(pl.lit(None, pl.String))


def template_flags(
    frame: pl.DataFrame | pl.LazyFrame, *, min_comments: int = TEMPLATE_MIN_COMMENTS
) -> pl.DataFrame:
    """``frame`` (``comment_id``, ``template_key``, optional ``is_default_text``) with ``template_count``
    (distinct comments sharing the key, across every reviewer and SKU of the frame; 0 without a key) and
    ``is_templated`` (count >= min_comments, or JD's default filler). Run it over the whole table: the
    count is only as global as the frame."""
    lf = frame.lazy()
    default = (
        pl.col("is_default_text").fill_null(False)
        if "is_default_text" in lf.collect_schema().names()
        else pl.lit(False)
    )
    counts = (
        lf.filter(pl.col("template_key").is_not_null())
        .group_by("template_key")
        .agg(pl.col("comment_id").n_unique().alias("template_count"))
    )
    return (
        lf.join(counts, on="template_key", how="left", maintain_order="left")
        .with_columns(pl.col("template_count").fill_null(0).cast(pl.UInt32))
        .with_columns(is_templated=(pl.col("template_count") >= min_comments) | default)
        .collect()
    )


def sku_template_share(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per ``sku_id``: ``reviews``, ``templated_reviews`` and ``template_share`` (0..1) from a frame with
    ``sku_id`` and ``is_templated`` (one row per comment, e.g. the output of :func:`template_flags`)."""
    return (
        frame.lazy()
        .group_by("sku_id")
        .agg(
            reviews=pl.len().cast(pl.UInt32),
            templated_reviews=pl.col("is_templated").fill_null(False).sum().cast(pl.UInt32),
        )
        .with_columns(template_share=pl.col("templated_reviews") / pl.col("reviews"))
        .sort("sku_id")
        .collect()
    )


#: The same per-SKU share in DuckDB, for an asset that keeps the work in SQL; expects a relation
#: ``signals(comment_id, sku_id, template_key, is_default_text)``.
SKU_TEMPLATE_SHARE_SQL = f"""
WITH counted AS (
    SELECT sku_id, is_default_text,
           CASE WHEN template_key IS NULL THEN 0
                ELSE count(DISTINCT comment_id) OVER (PARTITION BY template_key) END AS n
    FROM signals
)
SELECT sku_id, count(*) AS reviews,
       count(*) FILTER (WHERE is_default_text OR n >= {TEMPLATE_MIN_COMMENTS}) AS templated_reviews,
       templated_reviews / count(*) AS template_share
FROM counted GROUP BY sku_id ORDER BY sku_id
"""
