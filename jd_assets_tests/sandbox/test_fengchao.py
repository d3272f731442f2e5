"""Seller gateway findWareById: full payload per seed 004, field selection, both timestamp forms,
wareStatus values, relative image paths, ware ids beyond 2^53, and the documented error codes."""

from __future__ import annotations

import re

import httpx

from jd_sandbox import Sandbox

from .helpers import fengchao_params

PATH = "/fengchao/findWareById"


def _get(client: httpx.Client, sb: Sandbox, ware_id: str, **kw) -> dict:
    return client.get(PATH, params=fengchao_params(sb, ware_id, **kw)).json()


def test_find_ware_returns_the_full_payload(demo: Sandbox, demo_client: httpx.Client):
    ware_id = demo.truth.ware_ids()[2]
    body = _get(demo_client, demo, ware_id)
    assert body["code"] == 0 and body["message"] == "ok"
    assert body["data"] == demo.truth.ware(ware_id)
    data = body["data"]
    assert data["wareId"] == int(ware_id)
    for key in (
        "title",
        "categoryId",
        "brandId",
        "wareStatus",
        "outerId",
        "itemNum",
        "barCode",
        "wareLocation",
        "created",
        "modified",
        "onlineTime",
        "logo",
        "images",
        "jdPrice",
        "marketPrice",
        "brandName",
        "stockNum",
        "multiCategoryId",
        "shopId",
        "colType",
    ):
        assert key in data, key
    assert data["logo"].startswith("jfs/t1/") and not data["logo"].startswith("http")
    assert all(img["imgUrl"].startswith("jfs/") for img in data["images"])
    assert data["images"][0]["colorId"] == "0000000000"


def test_field_selection_returns_only_those_fields_plus_ware_id(demo: Sandbox, demo_client: httpx.Client):
    ware_id = demo.truth.ware_ids()[1]
    body = _get(demo_client, demo, ware_id, field="title,wareStatus,logo")
    assert set(body["data"]) == {"wareId", "title", "wareStatus", "logo"}


def test_ware_ids_beyond_2_pow_53_are_exact_json_integers(demo: Sandbox, demo_client: httpx.Client):
    big = [w for w in demo.truth.ware_ids() if int(w) > 2**53]
    assert big and all(len(w) == 17 for w in big)
    response = demo_client.get(PATH, params=fengchao_params(demo, big[0], field="wareId"))
    assert re.search(rb'"wareId":' + big[0].encode() + rb"\b", response.content)
    assert response.json()["data"]["wareId"] == int(big[0])


def test_both_timestamp_forms_occur(demo: Sandbox):
    created = [demo.truth.ware(w)["created"] for w in demo.truth.ware_ids()]
    assert any(isinstance(c, int) and c > 10**12 for c in created)
    assert any(isinstance(c, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", c) for c in created)


def test_ware_status_is_mostly_on_sale_with_other_values(demo: Sandbox):
    statuses = [demo.truth.ware(w)["wareStatus"] for w in demo.truth.ware_ids()]
    assert statuses.count(8) > len(statuses) / 2
    assert set(statuses) - {8}
    assert set(statuses) <= {8, 2, 4, -1, 1, 513, 514, 516, 520, 1028}


def test_unknown_ware_answers_2001_and_bad_id_1004(demo: Sandbox, demo_client: httpx.Client):
    assert _get(demo_client, demo, "10000000000001")["code"] == 2001
    assert _get(demo_client, demo, "12ab")["code"] == 1004


def test_post_form_is_accepted(demo: Sandbox, demo_client: httpx.Client):
    ware_id = demo.truth.ware_ids()[0]
    body = demo_client.post(PATH, data=fengchao_params(demo, ware_id, field="title")).json()
    assert body["code"] == 0 and body["data"]["wareId"] == int(ware_id)
