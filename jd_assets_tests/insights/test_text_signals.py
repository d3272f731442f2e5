"""Specifications of the text signals (jd_assets.insights.aspects / .tags): aspects with per-clause polarity,
JD's tag lines, repurchase mentions, templates, hidden complaints, bad input; plus the precision floor on
the held-out half of the hand-labelled set."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jd_assets.insights.aspects import (
    ASPECT_IDS,
    ASPECT_NAMES,
    POLARITIES,
    aspect_clauses,
    evaluate,
    hidden_complaint,
    text_signals,
)
from jd_assets.insights.tags import SKU_TEMPLATE_SHARE_SQL, sku_template_share, template_flags, template_key

LABELS = Path(__file__).parent / "data" / "aspect_labels.jsonl"


def signals(*texts: str) -> list[dict]:
    frame = pl.DataFrame({"comment_id": [str(i) for i in range(len(texts))], "text": list(texts)})
    return text_signals(frame).to_dicts()


def pairs(text: str) -> set[tuple[str, str]]:
    return {(a["aspect"], a["polarity"]) for a in signals(text)[0]["aspects"]}


# ------------------------------------------------------------------------------------------ aspects


def test_price_complaint_inside_praise_is_negative_price():
    assert pairs("质量很好，就是价格比较贵") == {("quality", "positive"), ("price", "negative")}


#: One complaint after praise per contrast word; a trailing emoji run (as buyers append to the whole review)
#: and either comma must not change the complaint's polarity.
CONTRAST_CASES = [
    ("质量很好,就是价格比较贵", {("quality", "positive"), ("price", "negative")}),
    ("屏幕很清晰,但是电池不太耐用", {("screen", "positive"), ("battery", "negative")}),
    ("鞋子很好看,不过鞋码偏大", {("appearance", "positive"), ("size_fit", "negative")}),
    ("款式很好看,可是做工有点粗糙", {("appearance", "positive"), ("quality", "negative")}),
    ("味道不错,只是包装太简陋了", {("taste_smell", "positive"), ("packaging", "negative")}),
    ("价格实惠,然而物流太慢了", {("price", "positive"), ("logistics", "negative")}),
    ("颜值很高,可惜分量偏少", {("appearance", "positive"), ("portion", "negative")}),
    ("性价比很高,遗憾的是客服回复有点慢", {("price", "positive"), ("service", "negative")}),
    ("做工精细,美中不足的是尺码偏小", {("quality", "positive"), ("size_fit", "negative")}),
    ("手感很好,唯一的缺点是价格偏贵", {("comfort", "positive"), ("price", "negative")}),
    ("物流很快,但包装有点破损", {("logistics", "positive"), ("packaging", "negative")}),
]


@pytest.mark.parametrize("text,expected", CONTRAST_CASES, ids=[t for t, _ in CONTRAST_CASES])
@pytest.mark.parametrize("comma", [",", "，"])
@pytest.mark.parametrize("emoji", ["", "👍", "😊🎉😄", "💯🌹💯", "❤️"])
def test_complaint_after_a_contrast_word_survives_trailing_emoji(text, expected, comma, emoji):
    assert pairs(text.replace(",", comma) + emoji) == expected


def test_jiushi_after_an_aspect_noun_is_a_copula_not_a_contrast():
    assert pairs("客服就是个摆设") == {("service", "negative")}
    assert pairs("做工真的就是好") == {("quality", "positive")}
    assert pairs("质量很好就是价格比较贵") == {("quality", "positive"), ("price", "negative")}


def test_emoji_carry_a_piece_only_without_opinion_words():
    assert pairs("包装👍") == {("packaging", "positive")}
    assert pairs("物流😡😡") == {("logistics", "negative")}
    assert pairs("价格比较贵😊😊😊") == {("price", "negative")}
    assert pairs("物流一般👍") == {("logistics", "neutral")}
    assert pairs("客服态度太差了🌹") == {("service", "negative")}


def test_negated_praise_is_negative():
    clauses = aspect_clauses(pl.DataFrame({"comment_id": ["1"], "text": ["不太好用"]}))
    assert clauses["polarity"].to_list() == ["negative"]
    assert pairs("味道不太好") == {("taste_smell", "negative")}


def test_double_negative_price_is_positive():
    assert pairs("一点也不贵") == {("price", "positive")}
    assert pairs("价格一点都不贵,质量也不差") == {("price", "positive"), ("quality", "positive")}


def test_not_delivered_five_star_review_is_a_logistics_complaint():
    row = signals("还没收到。为什么不送上门。")[0]
    assert {(a["aspect"], a["polarity"]) for a in row["aspects"]} == {("logistics", "negative")}
    assert row["negative_aspects"] >= 1


def test_degree_words_keep_the_sign_and_slow_is_negative():
    assert pairs("物流有点慢") == {("logistics", "negative")}
    assert pairs("物流非常快") == {("logistics", "positive")}
    assert pairs("价格有点高") == {("price", "negative")}
    assert pairs("性价比很高") == {("price", "positive")}


def test_cheaper_elsewhere_is_a_price_complaint_cheaper_than_elsewhere_is_praise():
    assert pairs("隔壁店更便宜") == {("price", "negative")}
    assert pairs("比别家便宜多了") == {("price", "positive")}
    assert pairs("价格比超市实惠") == {("price", "positive")}


def test_one_clause_with_two_aspects_is_cut_at_the_second():
    assert pairs("质量好价格贵") == {("quality", "positive"), ("price", "negative")}


def test_coordinated_aspects_share_the_opinion():
    assert pairs("包装和物流都很好") == {("packaging", "positive"), ("logistics", "positive")}


def test_courier_attitude_is_logistics_not_service():
    assert pairs("快递员态度恶劣,不送上门") == {("logistics", "negative")}
    assert pairs("客服态度很好") == {("service", "positive")}
    assert pairs("物流公司服务态度很好") == {("logistics", "positive")}


def test_a_bare_attitude_belongs_to_the_party_named_just_before_it():
    # the courier in the same or the previous clause: logistics
    assert pairs("派送的小哥很准时,态度也特别好") == {("logistics", "positive")}
    assert pairs("快递送到楼下,服务态度一般") == {("logistics", "neutral")}
    # the shop named last, no party at all, or a courier two clauses back: service
    assert pairs("快递很快,客服回复及时,服务态度很好") == {("logistics", "positive"), ("service", "positive")}
    assert pairs("服务态度很差") == {("service", "negative")}
    assert pairs("快递很快,东西不错,服务态度很好") == {("logistics", "positive"), ("service", "positive")}


def test_the_sellers_description_judges_the_listing_not_the_service():
    assert pairs("与卖家描述的完全一致") == set()
    assert pairs("实物和商家的描述相符") == set()
    assert pairs("跟商家宣传的一模一样,客服也很耐心") == {("service", "positive")}
    assert pairs("和店家图片上的不一样,卖家态度还很差") == {
        ("appearance", "negative"),
        ("service", "negative"),
    }
    assert pairs("卖家很负责") == {("service", "positive")}


def test_greasy_is_taste_in_a_food_review_and_texture_otherwise():
    # no food word in the review: a cream's, a shampoo's or hair's texture (efficacy), never taste
    assert pairs("吸收很快,不油腻") == {("efficacy", "positive")}
    assert pairs("护手霜有点油腻,抹完手上黏黏的") == {("efficacy", "negative")}
    assert pairs("面霜味道很好闻,一点也不油腻") == {("taste_smell", "positive"), ("efficacy", "positive")}
    # a food word anywhere in the review: the food's greasiness (taste), not efficacy
    assert pairs("炸鸡外皮很香,就是有点油腻") == {("taste_smell", "positive"), ("taste_smell", "negative")}
    assert pairs("红烧肉做得很好,一点都不油腻") == {("taste_smell", "positive")}
    # 腻 without 油 stays taste; 细腻 and 黏腻 are not taste
    assert pairs("甜而不腻") == {("taste_smell", "positive")}
    assert pairs("屏幕显示很细腻") == {("screen", "positive")}


def test_noise_and_size_words_depend_on_what_is_big_or_small():
    assert pairs("声音很小") == {("noise", "positive")}
    assert pairs("噪音有点大") == {("noise", "negative")}
    assert pairs("尺码偏大一点") == {("size_fit", "negative")}
    assert pairs("尺码比较小") == {("size_fit", "negative")}
    assert pairs("尺码大小合适") == {("size_fit", "positive")}
    assert pairs("屏幕很大") == {("screen", "positive")}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("分量有点少", ("portion", "negative")),
        ("鞋码偏小", ("size_fit", "negative")),
        ("发货太慢", ("logistics", "negative")),
        ("价格比较贵", ("price", "negative")),
        ("包装有点简陋", ("packaging", "negative")),
        ("续航比较短", ("battery", "negative")),
        ("屏幕有点暗", ("screen", "negative")),
        ("亮度比较低", ("screen", "negative")),
        ("颜色有点深", ("appearance", "negative")),
        ("客服回复很慢", ("service", "negative")),
        ("鞋码偏小,建议拍大一码", ("size_fit", "negative")),
        ("戴久了耳朵有点疼", ("comfort", "negative")),
        ("羽绒服不保暖", ("efficacy", "negative")),
    ],
)
def test_degree_word_and_negative_adjective_is_a_complaint(text, expected):
    assert pairs(text) == {expected}


def test_each_aspect_entry_keeps_its_clause():
    row = signals("发货速度非常快,包装非常仔细、严实")[0]
    assert [(a["aspect"], a["clause"]) for a in row["aspects"]] == [
        ("logistics", "发货速度非常快"),
        ("packaging", "包装非常仔细、严实"),
    ]


def test_traditional_characters_and_html_entities_are_read():
    assert pairs("質量不錯,價格有點貴") == {("quality", "positive"), ("price", "negative")}
    assert pairs("这款面霜&hellip;吸收很快&hellip;") == {("efficacy", "positive")}


def test_aspect_ids_come_from_the_declared_set():
    assert {"logistics", "packaging", "price", "quality", "authenticity", "service"} <= set(ASPECT_IDS)
    assert {"appearance", "size_fit", "taste_smell", "efficacy"} <= set(ASPECT_IDS)
    assert set(ASPECT_NAMES) == set(ASPECT_IDS) and len(set(ASPECT_IDS)) == len(ASPECT_IDS)
    labels = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    out = text_signals(
        pl.DataFrame({"comment_id": [str(r["id"]) for r in labels], "text": [r["text"] for r in labels]})
    )
    found = out.select(pl.col("aspects").explode().struct.unnest()).drop_nulls()
    assert set(found["aspect"]) <= set(ASPECT_IDS)
    assert set(found["polarity"]) <= set(POLARITIES)


def test_agrees_with_the_sandbox_hand_labels():
    """Every labelled sandbox text, bare and with an emoji run appended (as the sandbox appends them to
    whole reviews), gives exactly its hand-labelled (aspect, polarity) pairs."""
    from jd_sandbox import texts as t

    labelled = {
        **t.POSITIVE_FRAGMENTS,
        **t.NEUTRAL_FRAGMENTS,
        **t.NEGATIVE_TEXTS,
        **t.MIXED_TEXTS,
        **t.TEMPLATE_TEXTS,
    }
    cases = [(text + tail, truth) for text, truth in labelled.items() for tail in ("", "😊🎉💯", "🌹👌")]
    out = text_signals(
        pl.DataFrame({"comment_id": [str(i) for i in range(len(cases))], "text": [c[0] for c in cases]})
    )
    wrong = [
        (text, sorted(truth), sorted(got))
        for (text, truth), row in zip(cases, out["aspects"].to_list(), strict=True)
        if (got := {(a["aspect"], a["polarity"]) for a in row}) != set(truth)
    ]
    assert wrong == []


# ------------------------------------------------------------------------------------------ tags


SEED_LIKE = (
    "三八妇女节直播间买的,超级划算,在专柜5000多一套,直播间3000+\n"
    "吸收效果:很容易吸收,不黏腻,不卡粉,有提拉紧致的作用\n"
    "适合肤质:我是干油皮,用着没毛病"
)


def test_jd_tag_lines_become_tag_value_pairs():
    row = signals(SEED_LIKE)[0]
    assert row["tags"] == [
        {"tag": "吸收效果", "value": "很容易吸收,不黏腻,不卡粉,有提拉紧致的作用"},
        {"tag": "适合肤质", "value": "我是干油皮,用着没毛病"},
    ]
    assert ("efficacy", "positive") in {(a["aspect"], a["polarity"]) for a in row["aspects"]}


def test_full_width_colon_tag_lines_and_non_tags():
    row, url, no_value = signals("外形外观：很漂亮\n屏幕音效：清晰", "http://jd.com 很好", "标签:\n好")
    assert row["tags"] == [{"tag": "外形外观", "value": "很漂亮"}, {"tag": "屏幕音效", "value": "清晰"}]
    assert url["tags"] == [] and no_value["tags"] == []


# ------------------------------------------------------------------------------------------ repurchase


def test_repurchase_mentions_and_their_negation():
    got = signals("己经多次回购了", "第三次买了,一如既往的好", "不会回购了,用完爆痘", "再也不买了", "好用")
    assert [r["mentions_repurchase"] for r in got] == [True, True, False, False, False]
    assert [r["repurchase_intent"] for r in got] == ["positive", "positive", "negative", "negative", None]


# ------------------------------------------------------------------------------------------ templates


def test_templates_across_reviewers_and_skus():
    frame = pl.DataFrame(
        {
            "comment_id": [str(i) for i in range(8)],
            "sku_id": ["a", "a", "b", "c", "a", "b", "c", "c"],
            "text": [
                "东西收到了,质量很好,和描述的一样,好评!",
                "东西收到了，质量很好，和描述的一样，好评！👍",
                "东西收到了 质量很好 和描述的一样 好评",
                "东西收到了,质量很好,和描述的一样,好评!!!",
                "很好",
                "很好",
                "很好",
                "此用户未填写评价内容",
            ],
            "is_default_text": [False] * 7 + [True],
        }
    )
    keyed = frame.with_columns(template_key(pl.col("text")).alias("template_key"))
    assert keyed["template_key"][0] == keyed["template_key"][1] == keyed["template_key"][3]
    assert keyed["template_key"][4] is None  # too short to be a template
    flagged = template_flags(keyed)
    assert flagged["is_templated"].to_list() == [True, True, True, True, False, False, False, True]
    share = sku_template_share(flagged)
    assert share.rows() == [("a", 3, 2, 2 / 3), ("b", 2, 1, 0.5), ("c", 3, 2, 2 / 3)]
    signals = keyed.select("comment_id", "sku_id", "template_key", "is_default_text")  # noqa: F841 (SQL)
    assert duckdb.sql(SKU_TEMPLATE_SHARE_SQL).fetchall() == share.rows()


# ------------------------------------------------------------------------------------------ hidden complaints


def test_hidden_complaint_needs_a_high_score_and_a_negative_text_or_aspect():
    texts = ["还没收到。为什么不送上门。", "质量很好", "质量很好", "质量很好", "差"]
    frame = pl.DataFrame({"comment_id": [str(i) for i in range(5)], "text": texts})
    out = text_signals(frame).with_columns(
        score=pl.Series([5, 5, 4, 2, None], dtype=pl.Int8),
        text_sentiment=pl.Series(["positive", "positive", "negative", "negative", "negative"]),
    )
    assert out.select(hidden_complaint().alias("h"))["h"].to_list() == [True, False, True, False, False]


# ------------------------------------------------------------------------------------------ bad input


def test_bad_input_never_crashes():
    texts = [
        "",
        None,
        "😊😊😊",
        "好" * 100_000,
        "a" * 50_000 + ":" + "b",
        "&amp;&lt;&gt;&hellip;",
        "\n\n:\n",
        "::::",
    ]
    frame = pl.DataFrame({"comment_id": [str(i) for i in range(len(texts))], "text": texts}, strict=False)
    out = text_signals(frame)
    assert out["comment_id"].to_list() == frame["comment_id"].to_list()
    assert out.schema["aspects"] == pl.List(
        pl.Struct({"aspect": pl.String, "polarity": pl.String, "clause": pl.String})
    )
    assert out["aspects"].list.len().to_list()[:3] == [0, 0, 0]
    assert out["mentions_repurchase"].null_count() == 0
    empty = text_signals(pl.DataFrame(schema={"comment_id": pl.String, "text": pl.String}))
    assert empty.height == 0


# ------------------------------------------------------------------------------------------ measured quality


#: Aspects with at least this many gold mentions in the test half are "common"; their detection precision
#: must stay >= 0.8 (the issue's floor) and the micro figures must not regress below the measured ones
#: minus a small margin.
COMMON_MIN_GOLD = 12


@pytest.fixture(scope="module")
def test_half_scores() -> pl.DataFrame:
    labels = pl.read_ndjson(LABELS).filter(pl.col("split") == "test")
    assert labels.height >= 150
    return evaluate(labels)


def test_precision_floor_on_common_aspects_of_the_held_out_half(test_half_scores):
    det = test_half_scores.filter(pl.col("task") == "detection")
    common = det.filter((pl.col("gold") >= COMMON_MIN_GOLD) & (pl.col("aspect") != "ALL"))
    assert common.height >= 6
    low = common.filter(pl.col("precision") < 0.8)
    assert low.is_empty(), low
    overall = test_half_scores.filter(pl.col("aspect") == "ALL")
    assert overall.filter(pl.col("task") == "detection")["precision"][0] >= 0.88
    assert overall.filter(pl.col("task") == "with_polarity")["precision"][0] >= 0.8
