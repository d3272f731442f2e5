"""Text polarity of Chinese review text: the probability that a review is positive, scored on columns.

The model (``models/sentiment.parquet``, made by ``python -m jd_assets.insights.train``) is a logistic
regression on character 1-3-grams (sublinear tf x idf, L2-normalised rows) plus negation-scope features,
with Platt calibration. Scoring is columnar polars work with no Python loop over rows:

    texts -> normalise (NFKC, lower case, digits -> 0, traditional -> simplified by a character map)
          -> chars (list) -> explode -> 1/2/3-grams by shifting the exploded column
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

# A negator, then up to three degree/filler characters, then the word it negates (first character kept):
# 不好 / 不太好 / 一点也不贵 / 没有想象中好 (没有 ... 好 is caught by the 2-3-grams, 没有想 by this rule).
NEGATION = (
    r"(?:不|没|沒|无|別|别|未|非)(?:是|太|很|怎么|大|那么|够|算|特别|非常|有|再|会|能|可能){0,2}(\p{Han})"
)
NEG_PREFIX = "¬"
# Integer n-gram keys (see Model._key_tables): c1 + K*c2 + K*K*c3 < 2**39 with K = 2**13 (at most 8191
# distinct characters in a model); negation features 2**39 + cid. With the row index in the high bits
# (row << 40 | key, row < 2**23) one Int64 identifies (row, n-gram): sort + run lengths count them, which is
# several times faster than group_by over two columns.
KEY_BASE = 1 << 13
NEG_KEY = 1 << 39
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
        self.weights = pl.from_arrow(table).select(
            pl.col("ngram").cast(pl.String), pl.col("idf").cast(pl.Float64), pl.col("coef").cast(pl.Float64)
        )
        self._key_tables()

    def _key_tables(self) -> None:
        """Integer keys for the n-grams, so that scoring joins and groups integers, not strings.

        Every character of the model gets an id 1..n (``chars``); an n-gram's key is
        ``c1 + K*c2 + K*K*c3`` (missing positions 0); a negation feature ``¬X`` has key
        ``NEG_KEY + cid(X)``."""
        w = self.weights.with_row_index("wid")
        is_neg = pl.col("ngram").str.starts_with(NEG_PREFIX)
        letters = (
            w.select(pl.when(is_neg).then(pl.col("ngram").str.slice(1)).otherwise(pl.col("ngram")).str.split(""))
            .explode("ngram")
            .unique()
            .sort("ngram")
        )
        self.chars = letters.select(
            pl.col("ngram").alias("ch"), pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("cid")
        )
        if self.chars.height >= KEY_BASE:
            raise ValueError(f"model has {self.chars.height} characters; integer keys allow {KEY_BASE - 1}")
        parts = (
            w.filter(~is_neg)
            .select("wid", pl.col("ngram").str.split("").alias("ch"))
            .with_columns(pl.int_ranges(0, pl.col("ch").list.len()).alias("pos"))
            .explode("ch", "pos")
            .join(self.chars, on="ch")
            .group_by("wid")
            .agg((pl.col("cid") * (pl.lit(KEY_BASE, dtype=pl.Int64) ** pl.col("pos"))).sum().alias("key"))
        )
        negs = w.filter(is_neg).with_columns(pl.col("ngram").str.slice(1).alias("ch"))
        negs = negs.join(self.chars, on="ch")
        keys = pl.concat([parts, negs.select("wid", (NEG_KEY + pl.col("cid")).alias("key"))])
        self.keyed = w.join(keys, on="wid").select("key", "idf", "coef").sort("key")
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
    unescaped = (
        pl.col("raw").map_elements(html.unescape, return_dtype=pl.String, skip_nulls=True)
    )
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


def ngram_frame(norm: pl.DataFrame, ngram_max: int) -> pl.DataFrame:
    """Long frame ``rid`` (u32 row index), ``ngram`` (str), ``tf`` (count) of a normalised ``text`` column.

    Features: character n-grams of length 1..ngram_max, and ``¬X`` for each negated word (see NEGATION)."""
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
    neg = (
        base.select("rid", pl.col("text").str.extract_all(NEGATION).alias("m"))
        .explode("m")
        .drop_nulls("m")
        .select("rid", (pl.lit(NEG_PREFIX) + pl.col("m").str.slice(-1, 1)).alias("ngram"))
    )
    parts.append(neg)
    return pl.concat(parts).group_by("rid", "ngram").agg(pl.len().alias("tf"))


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
    neg = (
        base.select("rid", pl.col("text").str.extract_all(NEGATION).alias("m"))
        .explode("m")
        .drop_nulls("m")
        .select("rid", pl.col("m").str.slice(-1, 1).alias("ch"))
        .join(model.chars, on="ch", how="inner")
        .select("rid", (NEG_KEY + pl.col("cid")).alias("key"))
    )
    parts.append(neg)
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
    often than a coin; on the held-out split about 10% of reviews fall there (see README_sentiment.md)."""
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
