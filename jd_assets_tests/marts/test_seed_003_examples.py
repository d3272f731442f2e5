"""Seed 003's own examples, verbatim, served by a router (respx) to the real raw_orders asset, then every
clean and mart asset with its checks: the list answers the order without items, ``order.get`` completes
it (``items`` ``{sku_id, name, price, num}``, ``receiver_info``), and the order lands whole — items,
exact money (199.99, 899.00, 8.00), no blocking check failing, the buyer's name and address in raw only.
The live dialect is tried in the same shape (a list record without ``itemInfoList``)."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs

import dagster as dg
import duckdb
import httpx
import pytest
import respx

from jd_assets.raw.assets import raw_orders
from jd_assets_tests.clean.raw_fixture import build_derived, failed_blocking_checks, table_rows
from jd_assets_tests.conftest import gateway_resources

ROUTER = "https://router.test/routerjson"
ENV = {
    "JD_JUSTONE_BASE_URL": "https://unused.test",
    "JD_JUSTONE_TOKEN": "t",
    "JD_JOS_BASE_URL": ROUTER,
    "JD_JOS_APP_KEY": "key",
    "JD_JOS_APP_SECRET": "secret",
    "JD_JOS_ACCESS_TOKEN": "access",
    "JD_FENGCHAO_BASE_URL": "https://unused.test/fengchao",
    "JD_FENGCHAO_APP_ID": "a",
    "JD_FENGCHAO_APP_SECRET": "s",
    "JD_FENGCHAO_SELLER_NICK": "n",
}
DAY = "2026-03-01"

# Seed 003, "Order List API: jingdong.pop.orders.get", response example (verbatim).
SEED_LIST = """{"jingdong_pop_orders_get_responce": {
"order_info_list": {
"order_info": [
{
"order_id": 1234567890,
"order_total_price": 199.99,
"order_state": "WAIT_SELLER_STOCK_OUT",
"consignee_info": {
"name": "Zhang San",
"full_address": "Chaoyang District, Beijing..."
}
}
]
}
}
}"""
# Seed 003, "Order Detail API: jingdong.pop.order.get", response example (verbatim).
SEED_GET = """{"jingdong_pop_order_get_responce": {
"order_info": {
"order_id": 1234567890,
"freight_price": 8.00,
"order_state": "WAIT_SELLER_STOCK_OUT",
"items": [
{
"sku_id": 1000001,
"name": "Xiaomi Phone",
"price": 899.00,
"num": 1
}
],
"payment_type": "Online Payment",
"receiver_info": {
"name": "Li Si",
"address": "Nanjing, Jiangsu Province..."
}
}
}
}"""
# The same order in the live dialect's shape: camelCase, ids and money as strings, no items in the list.
LIVE_LIST = json.dumps(
    {
        "jingdong_pop_order_search_responce": {
            "code": "0",
            "searchorderinfo_result": {
                "apiResult": {"success": True, "code": "0"},
                "orderInfoList": [
                    {
                        "orderId": "1234567890",
                        "orderTotalPrice": "199.99",
                        "orderState": "WAIT_SELLER_STOCK_OUT",
                        "orderStartTime": f"{DAY} 10:00:00",
                        "consigneeInfo": {
                            "fullname": "Zhang San",
                            "fullAddress": "Chaoyang District, Beijing...",
                        },
                    }
                ],
                "orderTotal": 1,
            },
        }
    }
)
LIVE_GET = json.dumps(
    {
        "jingdong_pop_order_get_responce": {
            "code": "0",
            "orderDetailInfo": {
                "apiResult": {"success": True, "code": "0"},
                "orderInfo": {
                    "orderId": "1234567890",
                    "freightPrice": "8.00",
                    "orderState": "WAIT_SELLER_STOCK_OUT",
                    "itemInfoList": [
                        {"skuId": "1000001", "skuName": "Xiaomi Phone", "jdPrice": "899.00", "itemTotal": "1"}
                    ],
                    "consigneeInfo": {"fullname": "Li Si", "fullAddress": "Nanjing, Jiangsu Province..."},
                },
            },
        }
    }
)
ANSWERS = {
    "seed": {"jingdong.pop.orders.get": SEED_LIST, "jingdong.pop.order.get": SEED_GET},
    "live": {"jingdong.pop.order.search": LIVE_LIST, "jingdong.pop.order.get": LIVE_GET},
}
BUYER_TEXTS = ["Zhang San", "Chaoyang District", "Li Si", "Nanjing, Jiangsu"]


@pytest.fixture(scope="module", params=["live", "seed"])
def landed(request, tmp_path_factory):
    dialect, db = request.param, tmp_path_factory.mktemp(request.param) / "jd.duckdb"
    calls: list[str] = []

    def router(req: httpx.Request) -> httpx.Response:
        method = parse_qs(req.content.decode())["method"][0]
        calls.append(method)
        return httpx.Response(200, content=ANSWERS[dialect][method].encode())

    resources = gateway_resources(ENV | {"JD_JOS_DIALECT": dialect}, db)
    with respx.mock() as mock, dg.instance_for_test() as instance:
        mock.post(ROUTER).mock(side_effect=router)
        orders = dg.materialize([raw_orders], partition_key=DAY, resources=resources, instance=instance)
        derived = build_derived(db, instance=instance)
    return {"db": db, "calls": calls, "orders": orders, "derived": derived, "dialect": dialect}


def rows(db, sql) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_list_record_without_items_is_completed_by_one_order_get(landed):
    assert landed["calls"][1:] == ["jingdong.pop.order.get"]
    (event,) = landed["orders"].get_asset_materialization_events()[:1]
    assert event.materialization.metadata["order_details_fetched"].value == 1
    assert rows(landed["db"], "SELECT order_id, dialect FROM raw.orders") == [
        ("1234567890", landed["dialect"])
    ]


def test_the_order_lands_whole_with_the_seeds_money_exact(landed):
    db = landed["db"]
    assert rows(
        db, "SELECT order_total_price, freight_price, order_payment, item_lines FROM clean.orders"
    ) == [(Decimal("199.99"), Decimal("8.00"), None, 1)]
    assert rows(db, "SELECT sku_id, sku_name, unit_price, quantity, line_total FROM clean.order_items") == [
        ("1000001", "Xiaomi Phone", Decimal("899.00"), 1, Decimal("899.00"))
    ]
    record, detail = rows(db, "SELECT record::VARCHAR, detail::VARCHAR FROM raw.orders")[0]
    if landed["dialect"] == "seed":  # JSON numbers kept as the seed writes them
        assert '"order_total_price":199.99' in record
        assert '"freight_price":8.00' in detail and '"price":899.00' in detail


def test_every_blocking_check_passes(landed):
    evaluated, failed = failed_blocking_checks(landed["derived"])
    assert evaluated and failed == []


def test_the_buyers_name_and_address_stay_in_raw(landed):
    db = landed["db"]
    raw = " ".join(rows(db, "SELECT record::VARCHAR || detail::VARCHAR FROM raw.orders")[0])
    assert all(text in raw for text in BUYER_TEXTS)
    (consignee_key,) = rows(db, "SELECT consignee_key FROM clean.orders")[0]
    assert consignee_key and len(consignee_key) == 64
    for table in ("clean.orders", "clean.order_items", "marts.product_reviews"):
        cells = " ".join(str(v) for row in table_rows(db, table) for v in row)
        assert not [text for text in BUYER_TEXTS if text in cells], table
