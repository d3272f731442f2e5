"""JOS order methods in both dialects: windows and page limits, paging completeness against the ground
truth, string vs number typing, order.get / order.track, internal consistency with the catalog, PII."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx

from jd_sandbox import Sandbox, SandboxConfig

from .helpers import day_window, jos, search_all

SEARCH, ORDERS_GET = "jingdong.pop.order.search", "jingdong.pop.orders.get"
ORDER_GET, TRACK = "jingdong.pop.order.get", "jingdong.pop.order.track"


def _yesterday(sb: Sandbox):
    return sb.now.date() - timedelta(days=1)


def test_search_pages_return_exactly_the_days_orders(demo: Sandbox, demo_client: httpx.Client):
    day = _yesterday(demo)
    served = search_all(demo_client, demo, day, page_size=7)
    truth = demo.truth.orders(day)
    assert served == truth
    assert len(truth) > 10
    assert len({o["orderId"] for o in served}) == len(served)
    assert [o["orderStartTime"] for o in served] == sorted(o["orderStartTime"] for o in served)


def test_live_dialect_uses_strings_for_ids_and_money(demo: Sandbox):
    order = demo.truth.orders(_yesterday(demo))[0]
    assert re.fullmatch(r"\d{12}", order["orderId"])
    for key in ("orderTotalPrice", "orderPayment", "freightPrice", "sellerDiscount", "orderSellerPrice"):
        assert re.fullmatch(r"\d+\.\d\d", order[key]), key
    item = order["itemInfoList"][0]
    assert isinstance(item["skuId"], str) and isinstance(item["wareId"], str)
    assert isinstance(item["itemTotal"], str) and isinstance(item["jdPrice"], str)
    assert order["freightPrice"] in ("0.00", "6.00")


def test_order_prices_agree_with_product_details(demo: Sandbox):
    sku_to_ware = demo.truth.sku_to_ware()
    for order in demo.truth.orders(_yesterday(demo)):
        total = 0
        for item in order["itemInfoList"]:
            assert item["jdPrice"] == demo.truth.detail(item["skuId"])["price"]
            assert item["wareId"] == sku_to_ware[item["skuId"]]
            assert int(item["itemTotal"]) in range(1, 4)
            total += round(float(item["jdPrice"]) * 100) * int(item["itemTotal"])
        assert round(float(order["orderTotalPrice"]) * 100) == total
        expected_payment = (
            total - round(float(order["sellerDiscount"]) * 100) + round(float(order["freightPrice"]) * 100)
        )
        assert round(float(order["orderPayment"]) * 100) == expected_payment


def test_seed_dialect_uses_numbers_and_snake_case(demo: Sandbox, demo_client: httpx.Client):
    day = _yesterday(demo)
    body = jos(demo_client, demo, ORDERS_GET, {**day_window(day), "page": 1, "page_size": 100})
    result = body["jingdong_pop_orders_get_responce"]
    assert result["code"] == "0"
    assert result["order_info_list"] == demo.truth.orders(day, dialect="seed")
    assert result["order_total"] == len(demo.truth.orders(day))
    order = result["order_info_list"][0]
    assert isinstance(order["order_id"], int) and isinstance(order["order_total_price"], float)
    assert isinstance(order["item_info_list"][0]["sku_id"], int)
    assert isinstance(order["item_info_list"][0]["item_total"], int)
    assert "full_address" in order["consignee_info"]


def test_order_search_window_over_31_days_answers_3001(demo: Sandbox, demo_client: httpx.Client):
    biz = {
        "start_date": "2026-01-01 00:00:00",
        "end_date": "2026-02-02 00:00:00",
        "optional_fields": "orderId",
    }
    assert jos(demo_client, demo, SEARCH, biz)["error_response"]["code"] == "3001"


def test_orders_get_window_over_7_days_answers_3001(demo: Sandbox, demo_client: httpx.Client):
    biz = {"start_date": "2026-03-01 00:00:00", "end_date": "2026-03-08 00:00:01"}
    assert jos(demo_client, demo, ORDERS_GET, biz)["error_response"]["code"] == "3001"


def test_bad_search_parameters_answer_3001(demo: Sandbox, demo_client: httpx.Client):
    window = day_window(_yesterday(demo))
    bad = [
        {**window, "optional_fields": "orderId", "page_size": "101"},
        {**window, "optional_fields": "orderId", "page_size": 0},
        {**window, "optional_fields": "orderId", "page": "0"},
        {**window},  # optional_fields is required on the live method
        {"start_date": window["end_date"], "end_date": window["start_date"], "optional_fields": "orderId"},
        {"start_date": "2026/03/01", "end_date": window["end_date"], "optional_fields": "orderId"},
    ]
    for biz in bad:
        assert jos(demo_client, demo, SEARCH, biz)["error_response"]["code"] == "3001", biz


def test_state_filter_returns_only_that_state(demo: Sandbox, demo_client: httpx.Client):
    day = demo.now.date() - timedelta(days=5)
    biz = {
        **day_window(day),
        "optional_fields": "orderId",
        "order_state": "FINISHED_L,TRADE_CANCELED",
        "page_size": 100,
    }
    result = jos(demo_client, demo, SEARCH, biz)["jingdong_pop_order_search_responce"][
        "searchorderinfo_result"
    ]
    states = {o["orderState"] for o in result["orderInfoList"]}
    assert states and states <= {"FINISHED_L", "TRADE_CANCELED"}
    expected = [o for o in demo.truth.orders(day) if o["orderState"] in states]
    assert result["orderInfoList"] == expected


def test_order_get_in_both_dialects(demo: Sandbox, demo_client: httpx.Client):
    order = demo.truth.orders(_yesterday(demo))[0]
    live = jos(demo_client, demo, ORDER_GET, {"order_id": order["orderId"]})
    info = live["jingdong_pop_order_get_responce"]["orderDetailInfo"]
    assert info["apiResult"]["success"] is True and info["orderInfo"] == order
    seed = jos(demo_client, demo, ORDER_GET, {"order_id": int(order["orderId"])})
    assert seed["jingdong_pop_order_get_responce"]["order_info"]["order_id"] == int(order["orderId"])


def test_unknown_order_answers_402(demo: Sandbox, demo_client: httpx.Client):
    live = jos(demo_client, demo, ORDER_GET, {"order_id": "399999999999"})
    api = live["jingdong_pop_order_get_responce"]["orderDetailInfo"]["apiResult"]
    assert api["success"] is False and api["code"] == "402"
    assert jos(demo_client, demo, TRACK, {"order_id": "399999999999"})["error_response"]["code"] == "402"


def test_order_tracks_start_when_shipped(demo: Sandbox, demo_client: httpx.Client):
    orders = demo.truth.orders(demo.now.date() - timedelta(days=6))
    finished = next(o for o in orders if o["orderState"] == "FINISHED_L")
    body = jos(demo_client, demo, TRACK, {"order_id": finished["orderId"]})
    tracks = body["jingdong_pop_order_track_responce"]["order_tracks"]
    assert tracks == demo.truth.order_tracks(finished["orderId"])
    assert len(tracks) == 6 and "waybill" in finished
    assert [t["time"] for t in tracks] == sorted(t["time"] for t in tracks)
    waiting = next(
        o for o in demo.truth.orders(demo.now.date()) if o["orderState"] == "WAIT_SELLER_STOCK_OUT"
    )
    assert demo.truth.order_tracks(waiting["orderId"]) == []
    assert "waybill" not in waiting


def test_order_states_cover_the_lifecycle(demo: Sandbox):
    states = {o["orderState"] for d in demo.truth.order_days() for o in demo.truth.orders(d)}
    assert {"WAIT_SELLER_STOCK_OUT", "WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L", "TRADE_CANCELED"} <= states
    total = sum(len(demo.truth.orders(d)) for d in demo.truth.order_days())
    assert 200 <= total <= 600


def test_pii_marker_is_embedded_in_every_buyer_field():
    with Sandbox(SandboxConfig(seed=5, scale="tiny", pii_marker="PIIMARK")) as sb:
        orders = [o for d in sb.truth.order_days() for o in sb.truth.orders(d)]
        seed_orders = [o for d in sb.truth.order_days() for o in sb.truth.orders(d, dialect="seed")]
    assert orders
    for order in orders:
        assert "PIIMARK" in order["pin"]
        for key in ("fullname", "telephone", "mobile", "fullAddress"):
            assert "PIIMARK" in order["consigneeInfo"][key]
    text = json.dumps(seed_orders, ensure_ascii=False)
    assert text.count("PIIMARK") == 5 * len(seed_orders)
