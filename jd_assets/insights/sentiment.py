"""Text polarity of Chinese review text: the probability that a review is positive, scored on columns.

The model (``models/sentiment.parquet``, made by ``python -m jd_assets.insights.train``) is a logistic
regression on character 1-3-grams, negation-scope features (``¬X`` and ``¬XY``: the first one and two
characters of the word after a negator and its degree words) and opinion-lexicon counts (LEX_TOKENS: the
hand-written lexicon of :mod:`jd_assets.insights.aspects` read with its negators, frozen into the model
file), all in one sublinear tf x idf vector with L2-normalised rows, with Platt calibration. Scoring is
columnar polars work with no Python loop over rows:

    texts -> normalise (NFKC, lower case, digits -> 0, traditional -> simplified by a character map)
          -> chars (list) -> explode -> 1/2/3-grams by shifting the exploded column
          + negation matches (regex) + lexicon counts (a few regex passes over the texts)
          -> inner join to the weight table -> group_by(row) sums -> calibrated sigmoid.

The only Python step per row is ``html.unescape`` on the rare rows that contain an HTML entity.

Input contract of :func:`score_texts` (one output row per input, same order):
- NULL input                                   -> prob NULL, reason ``"null"``
- empty or whitespace only (after HTML cleanup) -> prob NULL, reason ``"empty"``
- no CJK ideograph and no latin letter (emoji, punctuation or digits only) -> prob NULL, reason ``"no_text"``
- text with no n-gram known to the model       -> prob NULL, reason ``"no_known_ngram"``
- anything else is scored; HTML tags are dropped and entities unescaped; traditional characters are mapped
  to simplified ones character by character (a table derived from OpenCC's t2s data, shipped in the model
  file: no runtime dependency); texts longer than ``MAX_CHARS`` (1,000 characters, after normalisation)
  are truncated to their first ``MAX_CHARS`` characters and scored.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

MODEL_PATH = Path(__file__).resolve().parent / "models" / "sentiment.parquet"
MAX_CHARS = 1000
# Texts are scored in chunks so that the exploded n-gram frame stays small (~60 chars x 4 rows per text).
CHUNK_ROWS = 100_000  # < 2**23 (see ROW_SHIFT)
# sentiment_label thresholds; see sentiment_label() for why.
POSITIVE_AT = 0.6
NEGATIVE_AT = 0.4

# A negator, then up to three degree/filler words, then the word it negates: its first character (``¬X``)
# and its first two (``¬XY``): 不好 / 不太好 / 一点也不贵 / 没有任何异味 / 毫无瑕疵 / 并不是很好吃.
NEGATION = (
    r"(?:不|没|沒|无|無|別|别|未|非)(?:是|太|很|怎么|大|那么|这么|够|算|特别|非常|有|再|会|能|可能|任何|什么|啥|"
    r"一点|一丝|丝毫|过){0,3}(\p{Han})"
)
NEGATION2 = NEGATION[: -len(r"(\p{Han})")] + r"(\p{Han}\p{Han})"
NEG_PREFIX = "¬"
# Integer n-gram keys (see Model._key_tables): c1 + K*c2 + K*K*c3 < 2**39 with K = 2**13 (at most 8191
# distinct characters in a model); negation features 2**39 + cid. With the row index in the high bits
# (row << 40 | key, row < 2**23) one Int64 identifies (row, n-gram): sort + run lengths count them, which is
# several times faster than group_by over two columns.
KEY_BASE = 1 << 13
NEG_KEY = 1 << 39
LEX_KEY = NEG_KEY + (1 << 30)  # + index in LEX_TOKENS
ROW_SHIFT = 40
_ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});"


class Model:
    """The weight table and scalars of the shipped model file."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        self.version = "sentiment-" + hashlib.sha256(raw).hexdigest()[:12]
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[b"jd_assets.sentiment"])
        self.intercept: float = meta["intercept"]
        self.calib_a: float = meta["calibration_a"]
        self.calib_b: float = meta["calibration_b"]
        self.ngram_max: int = meta["ngram_max"]
        self.t2s_from: list[str] = meta["t2s_from"]
        self.t2s_to: list[str] = meta["t2s_to"]
        self.meta = meta
        # format 2: the opinion lexicon (regexes, frozen in the file) whose counts are features (LEX_TOKENS)
        self.lexicon: dict[str, str] | None = meta.get("lexicon")
        self.weights = pl.from_arrow(table).select(
            pl.col("ngram").cast(pl.String), pl.col("idf").cast(pl.Float64), pl.col("coef").cast(pl.Float64)
        )
        self._key_tables()

    def _key_tables(self) -> None:
        """Integer keys for the n-grams, so that scoring joins and groups integers, not strings.

        Every character of the model gets an id 1..n (``chars``); an n-gram's key is
        ``c1 + K*c2 + K*K*c3`` (missing positions 0); a negation feature ``¬X`` / ``¬XY`` has key
        ``NEG_KEY + cid(X) (+ K*cid(Y))``."""
        w = self.weights.with_row_index("wid")
        is_lex = pl.col("ngram").str.starts_with(LEX_PREFIX)
        lex_keys = pl.DataFrame({"ngram": LEX_TOKENS, "key": [LEX_KEY + i for i in range(len(LEX_TOKENS))]})
        lex = w.filter(is_lex).join(lex_keys, on="ngram")
        if lex.height != w.filter(is_lex).height:
            raise ValueError("model has lexicon features this scorer does not know")
        w = w.filter(~is_lex)
        is_neg = pl.col("ngram").str.starts_with(NEG_PREFIX)
        letters = (
            w.select(
                pl.when(is_neg).then(pl.col("ngram").str.slice(1)).otherwise(pl.col("ngram")).str.split("")
            )
            .explode("ngram")
            .unique()
            .sort("ngram")
        )
        self.chars = letters.select(
            pl.col("ngram").alias("ch"), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("cid")
        )
        if self.chars.height >= KEY_BASE:
            raise ValueError(f"model has {self.chars.height} characters; integer keys allow {KEY_BASE - 1}")
        body = pl.when(is_neg).then(pl.col("ngram").str.slice(1)).otherwise(pl.col("ngram"))
        keys = (
            w.select("wid", is_neg.alias("neg"), body.str.split("").alias("ch"))
            .with_columns(pl.int_ranges(0, pl.col("ch").list.len()).alias("pos"))
            .explode("ch", "pos")
            .join(self.chars, on="ch")
            .group_by("wid", "neg")
            .agg((pl.col("cid") * (pl.lit(KEY_BASE, dtype=pl.Int64) ** pl.col("pos"))).sum().alias("key"))
            .select("wid", pl.col("key") + pl.when(pl.col("neg")).then(NEG_KEY).otherwise(0))
        )
        self.keyed = pl.concat(
            [w.join(keys, on="wid").select("key", "idf", "coef"), lex.select("key", "idf", "coef")]
        ).sort("key")
        assert self.keyed.height == self.weights.height and self.keyed["key"].n_unique() == self.keyed.height


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> Model:
    """The model, loaded once per process (cached)."""
    return Model(Path(path) if path else MODEL_PATH)


def model_version() -> str:
    """``sentiment-`` + the first 12 hex digits of the model file's SHA-256 (changes with every retrain
    that changes the file)."""
    return load_model().version


def __getattr__(name: str) -> str:  # MODEL_VERSION computed on first use, so importing stays cheap
    if name == "MODEL_VERSION":
        return model_version()
    raise AttributeError(name)


def normalise(texts: pl.Series, t2s_from: list[str], t2s_to: list[str]) -> pl.DataFrame:
    """``text`` (normalised, truncated, NULL when unscorable) and ``unscorable_reason`` per input row.

    Shared by training and scoring, so that both see exactly the same characters."""
    s = texts.cast(pl.String).rename("raw")
    df = pl.DataFrame(s)
    has_entity = pl.col("raw").str.contains(_ENTITY)
    # html.unescape only on the rows that contain an entity (rare), everything else is columnar.
    unescaped = pl.col("raw").map_elements(html.unescape, return_dtype=pl.String, skip_nulls=True)
    t = pl.when(has_entity).then(unescaped).otherwise(pl.col("raw"))
    t = t.str.replace_all(r"<[^<>]{0,200}>", " ").str.normalize("NFKC").str.to_lowercase()
    if t2s_from:
        t = t.str.replace_many(t2s_from, t2s_to)
    t = t.str.replace_all(r"[0-9]", "0").str.replace_all(r"\s+", " ").str.strip_chars()
    df = df.with_columns(t.alias("norm"))
    reason = (
        pl.when(pl.col("raw").is_null())
        .then(pl.lit("null"))
        .when(pl.col("norm") == "")
        .then(pl.lit("empty"))
        .when(~pl.col("norm").str.contains(r"[\p{Han}a-z]"))
        .then(pl.lit("no_text"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return df.select(
        pl.when(reason.is_null()).then(pl.col("norm").str.slice(0, MAX_CHARS)).alias("text"),
        reason.alias("unscorable_reason"),
    )


def ngram_frame(norm: pl.DataFrame, ngram_max: int, lex: dict[str, str] | None = None) -> pl.DataFrame:
    """Long frame ``rid`` (u32 row index), ``ngram`` (str), ``tf`` (count) of a normalised ``text`` column.

    Features: character n-grams of length 1..ngram_max, and ``¬X`` / ``¬XY`` for each negated word (the first
    one or two characters after a negator and its degree words, see NEGATION)."""
    base = norm.select(pl.col("text")).with_row_index("rid").filter(pl.col("text").is_not_null())
    chars = base.select("rid", pl.col("text").str.split("").alias("ch")).explode("ch")
    chars = chars.filter(pl.col("ch").is_not_null() & (pl.col("ch") != ""))
    parts = [chars.select("rid", pl.col("ch").alias("ngram"))]
    same = pl.lit(True)
    gram = pl.col("ch")
    for k in range(1, ngram_max):
        same = same & (pl.col("rid").shift(-k) == pl.col("rid"))
        gram = gram + pl.col("ch").shift(-k)
        parts.append(chars.select("rid", pl.when(same).then(gram).alias("ngram")).drop_nulls("ngram"))
    for pattern, n in ((NEGATION, 1), (NEGATION2, 2)):
        parts.append(
            base.select("rid", pl.col("text").str.extract_all(pattern).alias("m"))
            .explode("m")
            .drop_nulls("m")
            .select("rid", (pl.lit(NEG_PREFIX) + pl.col("m").str.slice(-n, n)).alias("ngram"))
        )
    if lex:
        toks = pl.Series("t", LEX_TOKENS, dtype=pl.String)
        names = pl.col("tok").map_batches(lambda s: toks.gather(s), return_dtype=pl.String)
        parts.append(lexicon_long(norm, lex).select("rid", names.alias("ngram")))
    return pl.concat(parts).group_by("rid", "ngram").agg(pl.len().alias("tf"))


#: Lexicon features: the hand-written opinion lexicon of :mod:`jd_assets.insights.aspects` read with its
#: negators, counted per text, as pseudo n-grams (term frequency = count) in the same tf x idf vector as
#: the character n-grams; plus the sign of the text's opinion sum. The LR weighs them like any n-gram.
LEX_PREFIX = "§"
LEX_TOKENS = (
    "§pos_word",
    "§neg_word",
    "§pos_phrase",
    "§neg_phrase",
    "§not_pos",
    "§not_neg",
    "§neutral",
    "§sum+",
    "§sum-",
)
_MARK = "\x01"


def lexicon_from_aspects() -> dict[str, str]:
    """The opinion lexicon of aspects.py as regex strings. Training freezes them into the model file, so
    a later edit of aspects.py cannot silently change the features of a shipped model."""
    from jd_assets.insights import aspects as a

    return {
        "stop": a.STOP_WORDS,
        "pos_phrase": a.POSITIVE_PHRASES,
        "neg_phrase": a.NEGATIVE_PHRASES,
        "neutral": a.NEUTRAL_WORDS,
        "negators": a.NEGATORS,
        "degrees": a.DEGREES,
        "pos_word": "|".join(w for w in (a.POSITIVE_WORDS, getattr(a, "POSITIVE_EMOJI", "")) if w),
        "neg_word": "|".join(w for w in (a.NEGATIVE_WORDS, getattr(a, "NEGATIVE_EMOJI", "")) if w),
    }


def lexicon_frame(norm: pl.DataFrame, lex: dict[str, str]) -> pl.DataFrame:
    """One row per row of ``norm`` (normalised ``text``): the count (UInt32) of each LEX_TOKENS feature.

    The units are matched in passes, each replacing what it matched by a mark so that later passes do not
    read it again: stop words (快递 is not 快), aspect-bound phrases (声音很小 +, 价格高 -), neutral words,
    negated words (a negator, up to three degree words, an opinion word: 没有任何异味 +, 不太好用 -), then
    bare opinion words. (aspects.py runs the same lexicon as one leftmost-first regex, which is ~100x slower
    in polars; the passes give the same hits on all but rare overlaps.)"""
    t = pl.col("t")
    df = norm.select(pl.col("text").fill_null("").str.replace_all(lex["stop"], _MARK).alias("t"))
    for name, key in (
        ("lx_pos_phrase", "pos_phrase"),
        ("lx_neg_phrase", "neg_phrase"),
        ("lx_neutral", "neutral"),
    ):  # each pass materialised: one expression chain would be evaluated again for every column
        df = df.with_columns(t.str.count_matches(lex[key]).alias(name), t.str.replace_all(lex[key], _MARK))
    words = f"(?:{lex['pos_word']})|(?:{lex['neg_word']})"
    negated = f"(?:{lex['negators']})(?:{lex['degrees']}){{0,3}}(?:{words})"
    not_pos = f"^(?:{lex['negators']})(?:{lex['degrees']}){{0,3}}(?:{lex['pos_word']})$"
    df = df.with_columns(t.str.extract_all(negated).alias("neg_hits"), t.str.replace_all(negated, _MARK))
    df = df.with_columns(
        pl.col("neg_hits").list.eval(pl.element().str.contains(not_pos)).list.sum().alias("lx_not_pos"),
        t.str.extract_all(words).alias("hits"),
    )
    df = df.with_columns(
        (pl.col("neg_hits").list.len() - pl.col("lx_not_pos")).alias("lx_not_neg"),
        pl.col("hits")
        .list.eval(pl.element().str.contains(f"^(?:{lex['pos_word']})$"))
        .list.sum()
        .alias("lx_pos_word"),
    ).with_columns((pl.col("hits").list.len() - pl.col("lx_pos_word")).alias("lx_neg_word"))
    counts = df.select(pl.col(c.replace(LEX_PREFIX, "lx_")).cast(pl.Int64) for c in LEX_TOKENS[:-2])
    total = (
        pl.col("lx_pos_word")
        + pl.col("lx_pos_phrase")
        + pl.col("lx_not_neg")
        - pl.col("lx_neg_word")
        - pl.col("lx_neg_phrase")
        - pl.col("lx_not_pos")
    )
    signs = ((total > 0).alias("lx_sum+"), (total < 0).alias("lx_sum-"))
    return counts.fill_null(0).with_columns(*signs).select(pl.all().cast(pl.UInt32))


def lexicon_long(norm: pl.DataFrame, lex: dict[str, str]) -> pl.DataFrame:
    """:func:`lexicon_frame` as long rows ``rid`` (u32), ``tok`` (index in LEX_TOKENS, Int64), one row per
    hit (a count of 3 gives 3 rows), rows with text only."""
    f = lexicon_frame(norm, lex).with_row_index("rid").filter(norm["text"].is_not_null())
    return (
        f.select(
            "rid",
            pl.concat_list(
                [pl.lit(i, pl.Int64).repeat_by(pl.col(c)) for i, c in enumerate(f.columns[1:])]
            ).alias("tok"),
        )
        .explode("tok")
        .drop_nulls("tok")
    )


def key_frame(norm: pl.DataFrame, model: Model) -> pl.DataFrame:
    """:func:`ngram_frame` with integer keys (``rid``, ``key``, ``tf``); n-grams unknown to the model are
    dropped. Same features as ngram_frame + inner join to the weights (checked in the tests)."""
    base = norm.select(pl.col("text")).with_row_index("rid").filter(pl.col("text").is_not_null())
    chars = (
        base.select("rid", pl.col("text").str.split("").alias("ch"))
        .explode("ch")
        .join(model.chars, on="ch", how="left", maintain_order="left")
        .select("rid", pl.col("cid").fill_null(0))
    )
    known = pl.col("cid") > 0
    parts = [chars.filter(known).select("rid", pl.col("cid").alias("key"))]
    ok = known
    key = pl.col("cid")
    for k in range(1, model.ngram_max):
        nxt = pl.col("cid").shift(-k)
        ok = ok & (pl.col("rid").shift(-k) == pl.col("rid")) & (nxt > 0)
        key = key + nxt * (KEY_BASE**k)
        parts.append(chars.select("rid", pl.when(ok).then(key).alias("key")).drop_nulls("key"))
    for pattern, n in ((NEGATION, 1), (NEGATION2, 2)):
        m = (
            base.select("rid", pl.col("text").str.extract_all(pattern).alias("m"))
            .explode("m")
            .drop_nulls("m")
            .select("rid", pl.col("m").str.slice(-n, n).str.split("").alias("ch"))
            .with_row_index("nid")
            .explode("ch")
            .join(model.chars, on="ch", how="left", maintain_order="left")
        )
        key = pl.col("cid").first() + (pl.col("cid").last() * KEY_BASE if n == 2 else 0)
        parts.append(
            m.group_by("nid")
            .agg(pl.col("rid").first(), (NEG_KEY + key).alias("key"), pl.col("cid").null_count().alias("nm"))
            .filter(pl.col("nm") == 0)
            .select("rid", "key")
        )
    if model.lexicon:
        parts.append(lexicon_long(norm, model.lexicon).select("rid", (LEX_KEY + pl.col("tok")).alias("key")))
    known_keys = model.keyed["key"].implode()
    both = (
        pl.concat(parts)
        .filter(pl.col("key").is_in(known_keys))
        .select((pl.col("rid").cast(pl.Int64) * (1 << ROW_SHIFT) + pl.col("key")).alias("k"))["k"]
        .sort()
        .rle()
        .struct.unnest()
    )
    return both.select(
        (pl.col("value") // (1 << ROW_SHIFT)).cast(pl.UInt32).alias("rid"),
        (pl.col("value") % (1 << ROW_SHIFT)).alias("key"),
        pl.col("len").alias("tf"),
    )


def _score_chunk(texts: pl.Series, model: Model) -> pl.DataFrame:
    norm = normalise(texts, model.t2s_from, model.t2s_to)
    feats = key_frame(norm, model).join(model.keyed, on="key", how="inner")
    v = (1.0 + pl.col("tf").cast(pl.Float64).log()) * pl.col("idf")
    sums = feats.group_by("rid").agg((v * pl.col("coef")).sum().alias("dot"), (v * v).sum().alias("ss"))
    margin = model.intercept + pl.col("dot") / pl.col("ss").sqrt()
    z = model.calib_a * margin + model.calib_b
    out = (
        norm.with_row_index("rid")
        .join(sums, on="rid", how="left")
        .sort("rid")
        .select(
            pl.when(pl.col("unscorable_reason").is_null() & pl.col("ss").is_not_null())
            .then(1.0 / (1.0 + (-z).exp()))
            .alias("text_positive_prob")
            .cast(pl.Float64),
            pl.when(pl.col("unscorable_reason").is_null() & pl.col("ss").is_null())
            .then(pl.lit("no_known_ngram"))
            .otherwise(pl.col("unscorable_reason"))
            .alias("unscorable_reason")
            .cast(pl.String),
        )
    )
    return out


def score_texts(texts: pl.Series | Iterable[str | None], model: Model | None = None) -> pl.DataFrame:
    """One row per input text, in input order: ``text_positive_prob`` (Float64, 0..1, NULL when unscorable)
    and ``unscorable_reason`` (String, NULL when scored; one of ``null``, ``empty``, ``no_text``,
    ``no_known_ngram``). See the module docstring for the full input contract."""
    s = texts if isinstance(texts, pl.Series) else pl.Series("text", list(texts), dtype=pl.String)
    model = model or load_model()
    if s.len() == 0:
        return pl.DataFrame(schema={"text_positive_prob": pl.Float64, "unscorable_reason": pl.String})
    chunks = [_score_chunk(s.slice(i, CHUNK_ROWS), model) for i in range(0, s.len(), CHUNK_ROWS)]
    return pl.concat(chunks)


def sentiment_label(prob: float | None) -> str | None:
    """``positive`` if prob >= 0.6, ``negative`` if prob <= 0.4, ``neutral`` between, None when unscored.

    The probabilities are Platt-calibrated, so the band 0.4-0.6 is where the model is right barely more
    often than a coin; on the held-out split about 10% of reviews fall there (see docs/SENTIMENT.md)."""
    if prob is None or (isinstance(prob, float) and math.isnan(prob)):
        return None
    if prob >= POSITIVE_AT:
        return "positive"
    if prob <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def sentiment_label_expr(prob: pl.Expr) -> pl.Expr:
    """:func:`sentiment_label` as a polars expression (for columns)."""
    return (
        pl.when(prob >= POSITIVE_AT)
        .then(pl.lit("positive"))
        .when(prob <= NEGATIVE_AT)
        .then(pl.lit("negative"))
        .when(prob.is_not_null())
        .then(pl.lit("neutral"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
