"""Bad input, through real materializations (gateways mocked with respx): each bad thing gets a clear
error naming it, or lands in raw.rejects with its reason, and the rest of the partition lands."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import dagster as dg
import duckdb
import httpx
import pytest
import respx

from jd_assets.raw.assets import raw_comments, raw_orders, raw_wares
from jd_assets_tests.conftest import gateway_resources, mocked_gateways_env

pytestmark = pytest.mark.reliability

BASE = "https://gateway.test"
ENV = mocked_gateways_env(BASE)
SKU = "100033031708"
COMMENTS_URL = f"{BASE}/api/jd/get-item-comments/v1"


def comment(comment_id: str, **fields) -> dict:
    base = {
        "userNickName": "4***f",
        "commentId": comment_id,
        "productId": SKU,
        "buyCount": 1,
        "commentDate": "2026-03-08 14:33:48",
        "commentData": "好",
        "pictureInfoList": [],
        "commentScore": "5",
        "guid": "g",
    }
    return base | fields


def page_body(comments_json: str, max_page: str = "1") -> bytes:
    return (
        f'{{"code":0,"data":{{"data":[{comments_json}],"pageInfo":{{"maxPage":"{max_page}","nowPage":"1"}}}},'
        f'"message":null,"recordTime":null,"requestId":"r"}}'
    ).encode()


@pytest.fixture
def resources(db_path):
    return gateway_resources(ENV, db_path, max_attempts=2)


def materialize(asset, key, resources, instance):
    if isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition):
        instance.add_dynamic_partitions(asset.partitions_def.name, [key])
    return dg.materialize(
        [asset], partition_key=key, resources=resources, instance=instance, raise_on_error=False
    )


def failure(result) -> str:
    return "\n".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)


def query(db_path, sql):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("key", ["12ab", "1" * 25, "../../etc/passwd", "100 OR 1=1", "１２３"])
def test_item_keys_that_are_not_jd_ids_are_refused_before_any_call(key, resources, instance):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(COMMENTS_URL)
        result = materialize(raw_comments, key, resources, instance)

    assert f"invalid jd_item {key!r}" in failure(result)
    assert route.call_count == 0


def test_a_page_whose_max_page_is_not_a_number_fails_the_partition_naming_it(resources, instance):
    with respx.mock() as mock:
        mock.get(COMMENTS_URL).mock(return_value=httpx.Response(200, content=page_body("", max_page="abc")))
        result = materialize(raw_comments, SKU, resources, instance)

    assert "maxPage 'abc'" in failure(result) and SKU in failure(result)


def test_bad_comments_go_to_rejects_with_reasons_and_the_rest_lands(resources, instance, db_path):
    good = [
        comment("1", extraField={"new": True}),
        comment("2", commentScore=4),
        comment("3", commentData="长" * 34_000),  # about 100 KB of UTF-8
        comment("4", pictureInfoList=None),
        comment("5", commentData="好评👍🏻"),
    ]
    bad = {
        "6": comment("6", commentScore="0"),
        "7": comment("7", commentScore=6),
        "8": comment("8", commentDate="2026/03/08"),
        "9": {k: v for k, v in comment("9").items() if k != "commentDate"},
    }
    records = [json.dumps(c, ensure_ascii=False) for c in [*good, *bad.values()]]
    broken_emoji = json.dumps(comment("10"), ensure_ascii=False).replace('"好"', '"坏\\ud83d"')
    body = page_body(",".join([*records, broken_emoji]))
    with respx.mock() as mock:
        mock.get(COMMENTS_URL).mock(return_value=httpx.Response(200, content=body))
        result = materialize(raw_comments, SKU, resources, instance)

    assert result.success, failure(result)
    landed = dict(query(db_path, "SELECT comment_id, length(record->>'$.commentData') FROM raw.comments"))
    assert sorted(landed) == ["1", "10", "2", "3", "4", "5"]
    assert landed["3"] == 34_000
    assert query(db_path, "SELECT record->>'$.commentData' FROM raw.comments WHERE comment_id = '10'") == [
        ("坏\ufffd",)
    ]
    assert dict(query(db_path, "SELECT record_key, reason FROM raw.rejects")) == {
        "6": "commentScore 0 is not 1..5",
        "7": "commentScore 6 is not 1..5",
        "8": "commentDate 2026/03/08 is not yyyy-MM-dd HH:mm:ss",
        "9": "commentDate null is not yyyy-MM-dd HH:mm:ss",
    }


def router_answer(orders: list[dict]):
    def answer(request: httpx.Request) -> httpx.Response:
        method = parse_qs(request.content.decode())["method"][0]
        if method == "jingdong.pop.order.track":
            return httpx.Response(
                200, json={"jingdong_pop_order_track_responce": {"code": "0", "order_tracks": []}}
            )
        if method == "jingdong.pop.order.get":  # the same record again, as the list had it
            order_id = json.loads(parse_qs(request.content.decode())["360buy_param_json"][0])["order_id"]
            (record,) = [o for o in orders if o.get("orderId") == order_id]
            detail = {"apiResult": {"success": True, "code": "0"}, "orderInfo": record}
            return httpx.Response(
                200, json={"jingdong_pop_order_get_responce": {"code": "0", "orderDetailInfo": detail}}
            )
        result = {
            "apiResult": {"success": True, "code": "0"},
            "orderInfoList": orders,
            "orderTotal": len(orders),
        }
        return httpx.Response(
            200, json={"jingdong_pop_order_search_responce": {"searchorderinfo_result": result}}
        )

    return answer


def live_order(order_id: str, **fields) -> dict:
    base = {
        "orderId": order_id,
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": "2026-03-01 10:00:00",
        "modified": "2026-03-01 10:00:00",
        "orderTotalPrice": "19.80",
        "itemInfoList": [{"skuId": SKU, "wareId": "9", "jdPrice": "9.90", "itemTotal": "2"}],
    }
    return base | fields


def test_bad_orders_are_rejected_with_reasons_and_money_as_numbers_lands(resources, instance, db_path):
    orders = [
        live_order("1"),
        live_order("2", orderTotalPrice=19.8, freightPrice=0),
        {k: v for k, v in live_order("3").items() if k != "itemInfoList"},
        live_order("4", orderState="TELEPORTED"),
    ]
    with respx.mock() as mock:
        mock.post(ENV["JD_JOS_BASE_URL"]).mock(side_effect=router_answer(orders))
        result = materialize(raw_orders, "2026-03-01", resources, instance)

    assert result.success, failure(result)
    assert query(db_path, "SELECT order_id FROM raw.orders ORDER BY 1") == [("1",), ("2",)]
    assert query(db_path, "SELECT record_key, reason FROM raw.rejects ORDER BY 1") == [
        ("3", "missing itemInfoList (also in its order.get record)"),
        ("4", "unknown orderState TELEPORTED"),
    ]


def test_a_ware_with_an_unknown_status_is_rejected_and_its_partition_fails_naming_why(
    resources, instance, db_path
):
    answer = {"code": 0, "message": "ok", "data": {"wareId": 10022660724067, "title": "t", "wareStatus": 77}}
    with respx.mock() as mock:
        mock.post(f"{ENV['JD_FENGCHAO_BASE_URL']}/findWareById").mock(
            return_value=httpx.Response(200, json=answer)
        )
        result = materialize(raw_wares, "10022660724067", resources, instance)

    assert "unknown wareStatus 77" in failure(result)
    assert query(db_path, "SELECT reason FROM raw.rejects") == [("unknown wareStatus 77",)]


def test_ids_beyond_two_to_the_53_keep_every_digit(resources, instance, db_path):
    big = 2**60 + 7  # a float would make this ...000
    body = f'{{"code":0,"message":"ok","data":{{"wareId":{big},"title":"t","wareStatus":8}}}}'
    with respx.mock() as mock:
        mock.post(f"{ENV['JD_FENGCHAO_BASE_URL']}/findWareById").mock(
            return_value=httpx.Response(200, content=body.encode())
        )
        result = materialize(raw_wares, str(big), resources, instance)

    assert result.success, failure(result)
    assert query(db_path, "SELECT ware_id, record->>'$.wareId' FROM raw.wares") == [(str(big), str(big))]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"", "application/json", "malformed"),
        (b"<html><body>502 Bad Gateway</body></html>", "text/html", "malformed"),
        (b'{"code":0,"data":{"data":[', "application/json", "malformed"),
    ],
)
def test_empty_html_or_truncated_bodies_are_retried_then_fail_clearly(
    resources, instance, body, content_type, expected
):
    with respx.mock() as mock:
        route = mock.get(COMMENTS_URL).mock(
            return_value=httpx.Response(200, content=body, headers={"content-type": content_type})
        )
        result = materialize(raw_comments, SKU, resources, instance)

    assert route.call_count == 2  # max_attempts=2: retried, then given up
    assert expected in failure(result).lower() and SKU in failure(result)


def test_a_50_mb_body_is_refused_at_the_size_cap(resources, instance):
    huge = b'{"code":0,"data":{"data":[' + b" " * (50 * 1024 * 1024) + b"]}}"
    with respx.mock() as mock:
        mock.get(COMMENTS_URL).mock(return_value=httpx.Response(200, content=huge))
        result = materialize(raw_comments, SKU, resources, instance)

    assert "exceeds the 20 MiB limit" in failure(result)


# -- a gateway that never stops answering pages (issue 15, item 4) -------------------------------------


def endless_pages(*, repeat: bool):
    """maxPage 1,000,000 on every page: the same 10 comments each time, or 10 new ones each time."""

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        first = 1 if repeat else 10 * page
        comments = [
            comment(
                str(first + i), commentDate=f"2026-03-08 {(23 - page // 60) % 24:02d}:{59 - page % 60:02d}:00"
            )
            for i in range(10)
        ]
        body = page_body(",".join(json.dumps(c) for c in comments), max_page="1000000")
        return httpx.Response(200, content=body)

    return answer


def crawl(resources, instance, *, full_refresh: bool):
    instance.add_dynamic_partitions("jd_item", [SKU])
    return dg.materialize(
        [raw_comments],
        partition_key=SKU,
        resources=resources,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"raw_comments": {"config": {"full_refresh": full_refresh}}}},
    )


def land_one_comment_first(resources, instance):
    """A crawl before, so that a high-water mark exists (which ``full_refresh`` then ignores)."""
    with respx.mock() as mock:
        mock.get(COMMENTS_URL).mock(
            return_value=httpx.Response(200, content=page_body(json.dumps(comment("1"))))
        )
        assert crawl(resources, instance, full_refresh=False).success


@pytest.mark.parametrize("full_refresh", [False, True], ids=["first crawl", "full refresh"])
def test_a_gateway_repeating_the_same_page_is_crawled_twice_not_forever(
    resources, instance, db_path, full_refresh
):
    if full_refresh:
        land_one_comment_first(resources, instance)
    with respx.mock() as mock:
        route = mock.get(COMMENTS_URL).mock(side_effect=endless_pages(repeat=True))
        result = crawl(resources, instance, full_refresh=full_refresh)

    assert result.success, failure(result)
    assert route.call_count == 2, "page 2 brought no new comment id: paging stops there"
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["paging_stopped"].value == (
        "page 2 brought no new comment id (the gateway repeats itself)"
    )
    assert query(db_path, "SELECT count(*) FROM raw.comments") == [(10,)]


@pytest.mark.parametrize("full_refresh", [False, True], ids=["first crawl", "full refresh"])
def test_a_gateway_serving_new_pages_forever_is_crawled_to_jds_100_pages(
    resources, instance, db_path, full_refresh
):
    if full_refresh:
        land_one_comment_first(resources, instance)
    with respx.mock() as mock:
        route = mock.get(COMMENTS_URL).mock(side_effect=endless_pages(repeat=False))
        result = crawl(resources, instance, full_refresh=full_refresh)

    assert result.success, failure(result)
    assert route.call_count == 100
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["paging_stopped"].value == (
        "page limit: JD serves at most 100 pages (maxPage said 1000000)"
    )
    assert metadata["pages_fetched"].value == 100
    assert query(db_path, "SELECT count(*) FROM raw.comments") == [(1000 + full_refresh,)]  # + the first one
