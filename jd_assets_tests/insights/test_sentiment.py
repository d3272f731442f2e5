"""The review-polarity model, read as a specification.

Every review text here was written for this test (shopping and food delivery), not taken from a corpus.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from jd_assets.insights import sentiment
from jd_assets.insights.sentiment import score_texts, sentiment_label, sentiment_label_expr

ROOT = Path(__file__).resolve().parents[2]

POSITIVE = [
    "味道很好，送餐也很快，下次还点",
    "分量很足，肉也多，性价比很高",
    "骑手很准时，饭送到还是热的",
    "质量很好，和描述的一样，物流也快",
    "手机用起来很流畅，电池也耐用，满意",
    "衣服穿着很舒服，做工不错，推荐购买",
    "房间干净，前台服务热情，下次还住",
]
NEGATIVE = [
    "等了一个半小时才送到，菜全凉了",
    "太咸了，而且分量少得可怜，再也不点了",
    "汤洒了一半，骑手态度还很差",
    "质量太差，用了两天就坏了，要退货",
    "跟图片完全不一样，客服也不理人",
    "房间又脏又吵，隔音很差",
    "吃完拉肚子，菜一点也不新鲜",
]


def probs(texts: list[str]) -> list[float]:
    return score_texts(texts)["text_positive_prob"].to_list()


def test_clear_reviews_score_on_the_right_side():
    pos, neg = probs(POSITIVE), probs(NEGATIVE)
    assert all(p > 0.6 for p in pos), list(zip(POSITIVE, pos, strict=True))
    assert all(p < 0.4 for p in neg), list(zip(NEGATIVE, neg, strict=True))


@pytest.mark.parametrize(
    ("plain", "negated"),
    [("好", "不好"), ("很好吃", "不好吃"), ("质量好", "质量不太好"), ("送得快", "送得一点也不快")],
)
def test_negation_flips_a_positive_word(plain, negated):
    p_plain, p_neg = probs([plain, negated])
    assert p_plain > 0.5 > p_neg


@pytest.mark.parametrize("text", ["一点也不贵", "一点都不油腻", "菜不咸不淡，一点也不腻"])
def test_negated_complaint_is_positive(text):
    assert probs([text])[0] > 0.5


def test_less_than_expected_is_negative():
    assert probs(["没有想象中好"])[0] < 0.5


def test_bad_inputs_never_crash_and_give_a_reason():
    texts = [None, "", "   \t ", "😀😀👍", "!!!???...", "12345", "&nbsp;&nbsp;", "<br/><br/>"]
    out = score_texts(pl.Series(texts, dtype=pl.String))
    assert out.schema == pl.Schema({"text_positive_prob": pl.Float64, "unscorable_reason": pl.String})
    assert out["text_positive_prob"].null_count() == len(texts)
    assert out["unscorable_reason"].to_list() == [
        "null",
        "empty",
        "empty",
        "no_text",
        "no_text",
        "no_text",
        "empty",
        "empty",
    ]


def test_odd_but_real_text_is_scored():
    long_text = "质量很好，物流很快。" * 10_000  # 100,000 characters: truncated to MAX_CHARS and scored
    texts = [
        long_text,
        "這家店的東西質量很好，服務也很熱情",  # traditional characters
        "這家店的服務態度很差，再也不來了",
        "iPhone 壳子 very good，很喜欢",  # mixed English
        "味道&quot;很好&quot;&amp;送得很快&#65281;",  # HTML entities
        "<p>骑手态度很差</p>",  # HTML tags
        "great",
    ]
    out = score_texts(texts)
    assert out["unscorable_reason"].null_count() == len(texts), out
    p = out["text_positive_prob"].to_list()
    assert p[0] > 0.6 and p[1] > 0.6 and p[2] < 0.4 and p[3] > 0.5 and p[4] > 0.6 and p[5] < 0.4
    assert all(0.0 <= x <= 1.0 for x in p)
    # traditional text scores as its simplified form does
    simp = probs(["这家店的东西质量很好，服务也很热情"])[0]
    assert abs(p[1] - simp) < 1e-9


def test_unknown_letters_only_are_unscorable_not_crashing():
    out = score_texts(["ꙮꙮꙮ"])  # a letter-like symbol the model never saw, no CJK, no latin letter
    assert out["unscorable_reason"][0] in {"no_text", "no_known_ngram"}


def test_order_length_and_chunking_are_kept(monkeypatch):
    texts = (POSITIVE + NEGATIVE + ["", None]) * 20
    whole = score_texts(texts)
    monkeypatch.setattr(sentiment, "CHUNK_ROWS", 7)
    chunked = score_texts(texts)
    assert whole.height == len(texts)
    assert whole.equals(chunked)
    assert score_texts([]).height == 0


def test_label_rule():
    assert [sentiment_label(p) for p in (0.95, 0.6, 0.5, 0.4, 0.05, None)] == [
        "positive",
        "positive",
        "neutral",
        "negative",
        "negative",
        None,
    ]
    df = pl.DataFrame({"p": [0.95, 0.5, 0.05, None]}, schema={"p": pl.Float64})
    assert df.select(sentiment_label_expr(pl.col("p")).alias("label"))["label"].to_list() == [
        "positive",
        "neutral",
        "negative",
        None,
    ]


def test_model_version_is_stable_and_tied_to_the_file():
    import hashlib

    v = sentiment.model_version()
    assert v == sentiment.MODEL_VERSION == sentiment.model_version()
    digest = hashlib.sha256(sentiment.MODEL_PATH.read_bytes()).hexdigest()
    assert v == "sentiment-" + digest[:12]
    assert sentiment.MODEL_PATH.stat().st_size < 5_000_000


def test_cli_writes_one_line_per_input_line():
    lines = ["味道很好，送餐也快", "", "😀", "等了两个小时，饭都凉了", "a\rb 很好", "質量很好"]
    stdin = ("\n".join(lines) + "\n").encode() + b"\xff\xfe bad bytes\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "jd_assets.insights", "score"],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    out = proc.stdout.decode().split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines) + 1, out
    assert float(out[0]) > 0.6 and float(out[3]) < 0.4 and float(out[5]) > 0.6
    assert out[1] == "NaN\tunscorable: empty" and out[2] == "NaN\tunscorable: no_text"
    assert 0.0 <= float(out[4]) <= 1.0


def test_cli_help_documents_the_output():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "jd_assets.insights", "score", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "NaN" in proc.stdout and "one line per input line" in proc.stdout.replace("\n", " ")


def test_integer_key_path_equals_the_string_ngram_features():
    """The fast scorer (integer n-gram keys, sort + run lengths) computes exactly the training features."""
    m = sentiment.load_model()
    texts = [*POSITIVE, *NEGATIVE, "不是很好，一点也不贵，没有想象中好吃", "好好好好好", "質量很好"]
    texts += [*JD_PRAISE, *JD_COMPLAINTS, "", "没有任何异味"]
    norm = sentiment.normalise(pl.Series(texts, dtype=pl.String), m.t2s_from, m.t2s_to)
    by_string = sentiment.ngram_frame(norm, m.ngram_max, m.lexicon).join(m.weights, on="ngram")
    by_key = sentiment.key_frame(norm, m).join(m.keyed, on="key")
    summary = [pl.len(), pl.col("tf").sum(), (pl.col("coef") * pl.col("tf")).sum().round(9)]
    a = by_string.group_by("rid").agg(summary).sort("rid")
    b = by_key.group_by("rid").agg(summary).sort("rid")
    assert a.equals(b)


# --- Specifications of the second model (negation scope + opinion lexicon stacked onto the n-grams) -------
# The first six are the examples of common JD praise that the first model scored negative or
# neutral. Their words (异味 色差 瑕疵 破损 as negated nouns) are kept out of the hand-written training
# phrases on purpose: they pass through the negation features and the lexicon, not by being memorised.
JD_PRAISE = [
    "没有异味",
    "快递当天就收到",
    "声音很小",
    "老婆很喜欢,没有异味!",
    "尺码标准",
    "与卖家描述的完全一致",
    "没有色差，做工也不错",
    "无破损，包装很严实",
    "收到了，没有瑕疵，很满意",
    "衣服没有线头，也没起球",
    "手机运行流畅，没有任何卡顿",
]
JD_COMPLAINTS = [
    "有很大的异味，放了三天还是刺鼻",
    "色差太大了，和图片完全两个颜色",
    "外壳有瑕疵，还有划痕",
    "快递一个星期才到，箱子都破损了",
    "声音很大，晚上根本睡不着",
    "尺码偏小一码，穿不上",
]
NEGATED_PRAISE = ["不好用", "一点也不好吃", "质量不怎么好", "并不满意", "没有想象的那么好用", "不是很新鲜"]
FOOD_BOTH = [
    ("送来还是热的，一点都不油腻，会再点", 1),
    ("骑手提前十分钟送到，汤也没洒", 1),
    ("肉一点也不柴，米饭分量也够", 1),
    ("送了一个半小时，面都坨了", 0),
    ("菜一点也不新鲜，吃完肚子不舒服", 0),
    ("没有想象中好吃，分量也不足", 0),
]


@pytest.mark.parametrize("text", JD_PRAISE)
def test_common_jd_praise_and_negated_defects_are_positive(text):
    assert probs([text])[0] >= sentiment.POSITIVE_AT, text


@pytest.mark.parametrize("text", JD_COMPLAINTS)
def test_common_jd_complaints_are_negative(text):
    assert probs([text])[0] <= sentiment.NEGATIVE_AT, text


@pytest.mark.parametrize("text", NEGATED_PRAISE)
def test_negated_praise_is_a_complaint(text):
    assert probs([text])[0] < 0.5, text


@pytest.mark.parametrize(("text", "label"), FOOD_BOTH)
def test_food_delivery_both_ways(text, label):
    p = probs([text])[0]
    assert (p > 0.5) == bool(label), (text, p)


def test_lexicon_features_read_negation_scope():
    m = sentiment.load_model()
    assert m.lexicon, "the shipped model stacks the opinion lexicon"
    norm = sentiment.normalise(pl.Series(["没有任何异味", "不太好用", "快递很快", "价格有点高"]), [], [])
    f = sentiment.lexicon_frame(norm, m.lexicon)
    assert (f["lx_sum+"].cast(pl.Int64) - f["lx_sum-"].cast(pl.Int64)).to_list() == [1, -1, 1, -1]
    assert f["lx_not_neg"].to_list() == [1, 0, 0, 0] and f["lx_not_pos"].to_list() == [0, 1, 0, 0]
    assert f["lx_neg_phrase"].to_list() == [0, 0, 0, 1]
    # 快递 is a stop word: its 快 is not read as "fast"; 很快 after it is, once
    assert f["lx_pos_word"].to_list() == [0, 0, 1, 0]
    assert set(m.weights["ngram"].to_list()) >= set(sentiment.LEX_TOKENS[:6])


def test_negation_features_cover_the_word_after_degree_words():
    norm = sentiment.normalise(pl.Series(["没有任何异味", "一点也不好吃"]), [], [])
    grams = set(sentiment.ngram_frame(norm, 3)["ngram"].to_list())
    assert {"¬异", "¬异味", "¬好", "¬好吃"} <= grams
