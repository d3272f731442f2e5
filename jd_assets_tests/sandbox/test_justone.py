"""Token gateway: comments v1 paging and shapes (seed 000), details v2 pending-then-ready (seed 001),
business codes, and billing: every code-0 answer is billed once, failures are not."""

from __future__ import annotations

import re

import httpx

from jd_sandbox import Sandbox

from .helpers import COMMENTS, DETAILS, all_comment_pages, comments_page

SEED_000_FIELDS = [
    "userNickName",
    "userImgURL",
    "commentId",
    "productId",
    "buyCount",
    "commentDate",
    "commentData",
    "pictureInfoList",
    "commentScore",
    "guid",
]


def _busiest(sb: Sandbox, below: int | None = None) -> str:
    skus = [s for s in sb.truth.sku_ids() if below is None or sb.truth.comment_count(s) < below]
    return max(skus, key=sb.truth.comment_count)


def test_bad_token_answers_100(tiny: Sandbox, tiny_client: httpx.Client):
    sku = tiny.truth.sku_ids()[0]
    for path in (COMMENTS, DETAILS):
        response = tiny_client.get(path, params={"token": "wrong", "itemId": sku})
        assert response.status_code == 200
        assert response.json()["code"] == 100
    assert tiny_client.get(COMMENTS, params={"itemId": sku}).json()["code"] == 100


def test_non_digit_item_id_answers_400(tiny: Sandbox, tiny_client: httpx.Client):
    for item in ("abc", "", "12a", "../1"):
        body = tiny_client.get(COMMENTS, params={"token": tiny.config.token, "itemId": item}).json()
        assert body["code"] == 400, item


def test_unknown_sku_answers_404(tiny: Sandbox, tiny_client: httpx.Client):
    for path in (COMMENTS, DETAILS):
        body = tiny_client.get(path, params={"token": tiny.config.token, "itemId": "123456789012"}).json()
        assert body["code"] == 404 and body["data"] is None and body["message"] == "item not found"


def test_comment_page_has_seed_000_shape(demo: Sandbox, demo_client: httpx.Client):
    body = comments_page(demo_client, demo, _busiest(demo), 1)
    assert list(body) == ["code", "data", "message", "recordTime", "requestId"]
    assert body["code"] == 0 and body["message"] is None and body["recordTime"] == "2026-03-10 12:00:00"
    assert body["data"]["pageInfo"] == {"maxPage": "100", "nowPage": "1"}
    rows = body["data"]["data"]
    assert len(rows) == 10
    for row in rows:
        assert list(row) == SEED_000_FIELDS
        assert re.fullmatch(r"\d{18}", row["commentId"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["commentDate"])
        assert row["commentScore"] in {"1", "2", "3", "4", "5"}
        assert isinstance(row["buyCount"], int) and row["buyCount"] >= 1
        for pic in row["pictureInfoList"]:
            assert pic["mediaType"] in {"1", "2"} and pic["liveShooting"] in {"0", "1"}
            assert pic["picURL"].startswith("https://img30.360buyimg.com/shaidan/s300x300_jfs/")


def test_paging_serves_every_comment_exactly_once_newest_first(tiny: Sandbox, tiny_client: httpx.Client):
    for sku in tiny.truth.sku_ids():
        served = all_comment_pages(tiny_client, tiny, sku)
        assert served == tiny.truth.comments(sku)
        ids = [c["commentId"] for c in served]
        assert len(ids) == len(set(ids)) == tiny.truth.comment_count(sku)
        keys = [(c["commentDate"], c["commentId"]) for c in served]
        assert keys == sorted(keys, reverse=True)


def test_paging_is_stable_under_repeat_calls(demo: Sandbox, demo_client: httpx.Client):
    sku = _busiest(demo)
    params = {"token": demo.config.token, "itemId": sku, "page": 7}
    first = demo_client.get(COMMENTS, params=params).json()
    second = demo_client.get(COMMENTS, params=params).json()
    assert first["data"] == second["data"]


def test_at_most_100_pages_are_served(demo: Sandbox, demo_client: httpx.Client):
    sku = _busiest(demo)
    total = demo.truth.comment_count(sku)
    assert total > 1000
    served = all_comment_pages(demo_client, demo, sku)
    assert len(served) == 1000
    assert served == demo.truth.comments(sku, limit=1000)
    beyond = comments_page(demo_client, demo, sku, 101)
    assert beyond["code"] == 0 and beyond["data"] == {
        "data": [],
        "pageInfo": {"maxPage": "100", "nowPage": "101"},
    }


def test_page_beyond_max_page_is_empty_with_same_page_info(tiny: Sandbox, tiny_client: httpx.Client):
    sku = _busiest(tiny)
    max_page = -(-tiny.truth.comment_count(sku) // 10)
    body = comments_page(tiny_client, tiny, sku, max_page + 1)
    assert body["code"] == 0
    assert body["data"] == {"data": [], "pageInfo": {"maxPage": str(max_page), "nowPage": str(max_page + 1)}}


def test_item_without_comments_has_max_page_zero(demo: Sandbox, demo_client: httpx.Client):
    silent = next(s for s in demo.truth.sku_ids() if demo.truth.comment_count(s) == 0)
    body = comments_page(demo_client, demo, silent, 1)
    assert body["code"] == 0 and body["data"] == {"data": [], "pageInfo": {"maxPage": "0", "nowPage": "1"}}


def test_comment_spread_is_realistic(demo: Sandbox):
    counts = sorted(demo.truth.comment_count(s) for s in demo.truth.sku_ids())
    assert counts[-1] > 1000 and counts[0] == 0 and counts[len(counts) // 4] < 10
    rows = demo.truth.comments(_busiest(demo))
    scores = [r["commentScore"] for r in rows]
    texts = [r["commentData"] for r in rows]
    assert scores.count("5") / len(scores) > 0.7
    assert any(s in ("1", "2") for s in scores)
    assert "" in texts
    assert "此用户未填写评价内容" in texts and "此用户未及时填写评价内容，系统默认好评！" in texts
    repeated = max(texts.count(t) for t in set(texts) if t)
    assert repeated >= 20  # template texts posted verbatim by many users
    assert any(r["buyCount"] > 1 for r in rows)
    assert any(r["pictureInfoList"] for r in rows)
    assert any("showOrderMediaId" not in p for r in rows for p in r["pictureInfoList"])
    assert any(ord(ch) > 0xFFFF for t in texts for ch in t)  # emoji


def test_comment_ids_are_unique_over_the_catalog(demo: Sandbox):
    ids = [i for s in demo.truth.sku_ids() for i in demo.truth.comment_ids(s)]
    assert len(ids) == len(set(ids)) == demo.truth.total_comments()


def test_details_answer_pending_then_ready(demo: Sandbox, demo_client: httpx.Client):
    sku = _busiest(demo)
    params = {"token": demo.config.token, "itemId": sku}
    first, second, third, fourth = (demo_client.get(DETAILS, params=params).json() for _ in range(4))
    assert first["code"] == 0 and first["data"]["taskStatus"] == "PENDING"
    assert second["data"]["taskStatus"] == "RUNNING"
    assert first["data"]["taskId"] == second["data"]["taskId"]
    assert "title" not in first["data"]
    assert third["data"] == demo.truth.detail(sku) == fourth["data"]
    assert third["data"]["itemId"] == sku
    assert re.fullmatch(r"\d+\.\d\d", third["data"]["price"])
    assert len(third["data"]["categoryPath"]) == 3
    assert demo.counters()["billed"]["details"] == 4


def test_pending_polls_are_configurable(tiny_client: httpx.Client, tiny: Sandbox):
    from jd_sandbox import SandboxConfig

    with Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=0)) as sb:
        sku = sb.truth.sku_ids()[0]
        body = httpx.get(sb.base_url + DETAILS, params={"token": sb.config.token, "itemId": sku}).json()
    assert body["data"]["itemId"] == sku


def test_unsupported_item_answers_202_for_details_only(demo: Sandbox, demo_client: httpx.Client):
    unsupported = [s for s in demo.truth.sku_ids() if not demo.truth.detail_supported(s)]
    assert unsupported
    sku = unsupported[0]
    assert demo_client.get(DETAILS, params={"token": demo.config.token, "itemId": sku}).json()["code"] == 202
    assert comments_page(demo_client, demo, sku, 1)["code"] == 0


def test_billing_counts_code_0_answers_only(tiny: Sandbox, tiny_client: httpx.Client):
    sku = _busiest(tiny)
    comments_page(tiny_client, tiny, sku, 1)
    comments_page(tiny_client, tiny, sku, 2)
    tiny_client.get(COMMENTS, params={"token": "bad", "itemId": sku})
    tiny_client.get(DETAILS, params={"token": tiny.config.token, "itemId": sku})
    tiny_client.get(DETAILS, params={"token": tiny.config.token, "itemId": "x"})
    counters = tiny.counters()
    assert counters["requests"] == {"comments": 3, "details": 2}
    assert counters["billed"] == {"comments": 2, "details": 1}
    tiny.reset_counters()
    assert tiny.counters()["requests"] == {}
