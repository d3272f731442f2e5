"""The seeds' own answers, verbatim (``jd_assets_tests/seed_examples/``, cut out of the seed documents
unchanged), served by a gateway (respx) to the real raw assets, then every clean and mart asset with its
checks: seed 000's page of 10 comments and seed 004's ware land whole, with the values the seeds show.
The expected values are computed here from the seed JSON, not copied from the tables."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
import pytest
import respx

from jd_assets.raw.assets import raw_comments, raw_wares
from jd_assets_tests.clean.raw_fixture import build_derived, failed_blocking_checks, halfwidth_py, table_rows
from jd_assets_tests.conftest import gateway_resources, mocked_gateways_env

EXAMPLES = Path(__file__).resolve().parent.parent / "seed_examples"
COMMENTS_PAGE = (EXAMPLES / "000_comments_page.json").read_bytes()
WARE_ANSWER = (EXAMPLES / "004_find_ware_by_id.json").read_bytes()
BASE = "https://gateway.test"
ENV = mocked_gateways_env(BASE)
SEED_COMMENTS = json.loads(COMMENTS_PAGE)["data"]["data"]
SEED_WARE = json.loads(WARE_ANSWER)["data"]
SKU = SEED_COMMENTS[0]["productId"]
WARE = str(SEED_WARE["wareId"])
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    db = tmp_path_factory.mktemp("seeds") / "jd.duckdb"
    resources = gateway_resources(ENV, db)
    with respx.mock() as mock, dg.instance_for_test() as instance:
        # every page asked for is the seed's page: page 2 brings no new comment id, so the crawl stops
        pages = mock.get(f"{BASE}/api/jd/get-item-comments/v1").mock(
            return_value=httpx.Response(200, content=COMMENTS_PAGE)
        )
        mock.post(f"{BASE}/fengchao/findWareById").mock(return_value=httpx.Response(200, content=WARE_ANSWER))
        instance.add_dynamic_partitions("jd_item", [SKU])
        instance.add_dynamic_partitions("jd_ware", [WARE])
        raw = [
            dg.materialize([asset], partition_key=key, resources=resources, instance=instance)
            for asset, key in ((raw_comments, SKU), (raw_wares, WARE))
        ]
        derived = build_derived(db, instance=instance)
    return {"db": db, "raw": raw, "derived": derived, "pages": pages.call_count}


def test_the_seed_comment_page_lands_every_comment_once(landed):
    assert all(result.success for result in landed["raw"])
    assert landed["pages"] == 2, "page 2 repeats page 1's ids: the crawl stops there"
    rejects = table_rows(landed["db"], "raw.rejects")
    assert rejects == []
    ids = [c for (c,) in table_rows(landed["db"], "(SELECT comment_id FROM raw.comments ORDER BY 1)")]
    assert ids == sorted(c["commentId"] for c in SEED_COMMENTS)


def expected_comment(c: dict) -> tuple:
    media = c.get("pictureInfoList") or []
    text = unicodedata.normalize("NFC", halfwidth_py(c["commentData"])).replace("\r\n", "\n").strip()
    return (
        c["commentId"],
        c["productId"],
        datetime.strptime(c["commentDate"], "%Y-%m-%d %H:%M:%S"),
        int(c["commentScore"]),
        text,
        sum(m.get("mediaType") == "1" for m in media),
        any(m.get("liveShooting") == "1" for m in media),
        c["buyCount"],
        c["userNickName"],
    )


def test_clean_comments_carry_the_seed_values(landed):
    got = table_rows(
        landed["db"],
        "(SELECT comment_id, sku_id, commented_at, score, text, picture_count, has_live_shot, buy_count, "
        "nickname FROM clean.comments ORDER BY 1)",
    )
    assert got == sorted(expected_comment(c) for c in SEED_COMMENTS)


def test_clean_wares_carry_the_seed_ware(landed):
    (got,) = table_rows(
        landed["db"],
        "(SELECT ware_id, title, status_code, status_label, item_num, logo_url, created_at, modified_at, "
        "image_urls FROM clean.wares)",
    )
    beijing = [
        datetime.fromtimestamp(SEED_WARE[field] / 1000, BEIJING).replace(tzinfo=None)
        for field in ("created", "modified")
    ]
    assert got == (
        WARE,
        SEED_WARE["title"],
        -1,
        "删除",  # seed 004: "-1:删除"
        SEED_WARE["itemNum"],
        "https://img12.360buyimg.com/n5/" + SEED_WARE["logo"],  # seed 004's image prefix
        *beijing,
        [],
    )


def test_every_blocking_check_passes(landed):
    evaluated, failed = failed_blocking_checks(landed["derived"])
    assert evaluated and failed == []
