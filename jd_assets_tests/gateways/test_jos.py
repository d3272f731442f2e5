"""JOS router client: signed form requests (fresh timestamp per attempt), window splitting, paging in
both dialects, the router error table, the apiResult layer, order keys, read-only, no secret leaks."""

from __future__ import annotations

import itertools
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pydantic
import pytest

from jd_assets.errors import (
    AuthError,
    ConfigError,
    PartitionError,
    RateLimitedError,
    RunStopError,
    TransientError,
)
from jd_assets.gateways.jos import (
    FORBIDDEN_METHODS,
    JOS_METHODS,
    LIVE_OPTIONAL_FIELDS,
    JosResource,
    OrderKeys,
    order_keys,
    split_windows,
)
from jd_assets.gateways.signing import jos_sign

from .conftest import JOS_ACCESS, JOS_APP_KEY, JOS_SECRET, JOS_URL, assert_no_secret, exception_texts

DAY = datetime(2024, 1, 1)
DAY_END = datetime(2024, 1, 1, 23, 59, 59)  # a daily partition: [00:00:00, 23:59:59], inclusive


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))


def param_json(request: httpx.Request) -> dict:
    return json.loads(form(request)["360buy_param_json"])


def live_order(n: int) -> dict:
    return {
        "orderId": str(300000000000 + n),
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": "2024-01-01 10:00:00",
        "modified": "2024-01-01 11:00:00",
        "orderTotalPrice": "99.00",
        "itemInfoList": [{"skuId": "100033031708", "wareId": "10022660724067", "itemTotal": "1"}],
    }


def seed_order(n: int) -> dict:
    return {
        "order_id": 300000000000 + n,
        "order_state": "FINISHED_L",
        "order_start_time": "2024-01-01 10:00:00",
        "order_total_price": 199.99,
    }


def live_search(orders, total, *, success=True, err="") -> dict:
    api = {"success": success, "code": "0" if success else "100", "englishErrCode": err}
    return {
        "jingdong_pop_order_search_responce": {
            "code": "0",
            "searchorderinfo_result": {"apiResult": api, "orderInfoList": orders, "orderTotal": total},
        }
    }


def seed_search(orders, total) -> dict:
    return {
        "jingdong_pop_orders_get_responce": {"code": "0", "order_info_list": orders, "order_total": total}
    }


def error_response(code: str) -> dict:
    return {"error_response": {"code": code, "zh_desc": "错误", "en_desc": f"error {code}"}}


def ok(body: dict) -> httpx.Response:
    return httpx.Response(200, json=body)


def by_page(pages: dict[int, dict]):
    def answer(request):
        return ok(pages[int(param_json(request)["page"])])

    return answer


# -- request building ----------------------------------------------------------------------------------


def test_request_is_a_signed_form_post_with_a_beijing_timestamp(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(return_value=ok(live_search([], 0)))
    list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    request = route.calls.last.request
    sent = form(request)
    assert request.url == JOS_URL  # nothing secret in the URL
    assert sent["method"] == "jingdong.pop.order.search"
    assert (sent["app_key"], sent["access_token"], sent["v"]) == (JOS_APP_KEY, JOS_ACCESS, "2.0")
    assert sent["timestamp"] == "2024-01-02 03:04:05"  # the fake wall clock, in Beijing time
    assert sent["sign"] == jos_sign(sent, JOS_SECRET)
    assert "app_secret" not in sent and JOS_SECRET not in request.content.decode()
    assert param_json(request) == {
        "start_date": "2024-01-01 00:00:00",
        "end_date": "2024-01-01 23:59:59",
        "order_state": "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,WAIT_SELLER_DELIVERY,PAUSE,"
        "FINISHED_L,TRADE_CANCELED,LOCKED,POP_ORDER_PAUSE",
        "optional_fields": LIVE_OPTIONAL_FIELDS,
        "dateType": "1",
        "page": "1",
        "page_size": "100",
    }
    assert ",".join(["orderId", "orderState", "orderStartTime", "modified"]) not in ("",)
    assert {"orderId", "orderState", "orderStartTime", "modified", "itemInfoList"} <= set(
        LIVE_OPTIONAL_FIELDS.split(",")
    )


def test_param_json_is_sent_exactly_as_signed(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(return_value=ok(seed_search([], 0)))
    list(jos_resource.model_copy(update={"dialect": "seed"}).open(**inject).order_pages(DAY, DAY_END))
    raw = form(route.calls.last.request)["360buy_param_json"]
    assert raw == (
        '{"start_date":"2024-01-01 00:00:00","end_date":"2024-01-01 23:59:59","page":1,"page_size":100}'
    )


def test_timestamp_and_sign_are_computed_again_for_every_attempt(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "5"}), ok(live_search([], 0))]
    )
    list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    first, second = (form(call.request) for call in route.calls)
    assert (first["timestamp"], second["timestamp"]) == ("2024-01-02 03:04:05", "2024-01-02 03:04:10")
    assert first["sign"] != second["sign"]
    assert second["sign"] == jos_sign(second, JOS_SECRET)


# -- windows -------------------------------------------------------------------------------------------


def d(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, second)


WINDOW_CASES = [
    (d(1), d(1, 23, 59, 59), 1, [(d(1), d(1, 23, 59, 59))]),
    (
        d(1),
        d(3, 23, 59, 59),
        1,
        [(d(1), d(1, 23, 59, 59)), (d(2), d(2, 23, 59, 59)), (d(3), d(3, 23, 59, 59))],
    ),
    (d(1), d(10, 23, 59, 59), 7, [(d(1), d(7, 23, 59, 59)), (d(8), d(10, 23, 59, 59))]),
    (d(1, 6), d(1, 18), 1, [(d(1, 6), d(1, 18))]),
    (d(1, 6), d(1, 6), 1, [(d(1, 6), d(1, 6))]),  # a one-second window
    (d(1, 12), d(2, 12), 1, [(d(1, 12), d(2, 11, 59, 59)), (d(2, 12), d(2, 12))]),
    # aware datetimes are converted to Beijing time: 2023-12-31 16:00 UTC is 2024-01-01 00:00 in Beijing
    (
        datetime(2023, 12, 31, 16, tzinfo=UTC),
        datetime(2024, 1, 1, 15, 59, 59, tzinfo=UTC),
        1,
        [(d(1), d(1, 23, 59, 59))],
    ),
    # fractions of a second are dropped
    (
        d(1).replace(microsecond=5),
        d(1, 23, 59, 59).replace(microsecond=999999),
        1,
        [(d(1), d(1, 23, 59, 59))],
    ),
]


@pytest.mark.parametrize(("start", "end", "days", "expected"), WINDOW_CASES)
def test_windows_split_into_at_most_max_window_days(start, end, days, expected):
    assert split_windows(start, end, days) == expected


def test_split_windows_cover_every_second_exactly_once():
    windows = split_windows(d(1, 7, 30), d(9, 3, 15, 1), 3)
    assert windows[0][0] == d(1, 7, 30) and windows[-1][1] == d(9, 3, 15, 1)
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert (start - end).total_seconds() == 1
    assert all((end - start).total_seconds() < 3 * 86400 for start, end in windows)


def test_an_empty_window_is_refused():
    with pytest.raises(ValueError, match="empty order window"):
        split_windows(d(2), d(1), 1)


def test_a_three_day_range_is_three_daily_window_calls(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(return_value=ok(live_search([], 0)))
    pages = list(jos_resource.open(**inject).order_pages(DAY, d(3, 23, 59, 59)))
    sent = [(param_json(c.request)["start_date"], param_json(c.request)["end_date"]) for c in route.calls]
    assert sent == [
        ("2024-01-01 00:00:00", "2024-01-01 23:59:59"),
        ("2024-01-02 00:00:00", "2024-01-02 23:59:59"),
        ("2024-01-03 00:00:00", "2024-01-03 23:59:59"),
    ]
    assert [(p.window_start, p.window_end) for p in pages] == split_windows(DAY, d(3, 23, 59, 59), 1)


# -- paging --------------------------------------------------------------------------------------------


def test_live_paging_stops_at_a_short_page(respx_mock, jos_resource, inject):
    pages = {
        1: live_search([live_order(i) for i in range(100)], None),
        2: live_search([live_order(100 + i) for i in range(30)], None),
    }
    route = respx_mock.post(JOS_URL).mock(side_effect=by_page(pages))
    client = jos_resource.open(**inject)
    got = list(client.order_pages(DAY, DAY_END))
    assert [(p.page, len(p.orders)) for p in got] == [(1, 100), (2, 30)]
    assert got[0].orders[0] == live_order(0)
    assert route.call_count == 2
    assert client.stats.pages == 2


def test_live_paging_stops_when_the_total_is_reached(respx_mock, jos_resource, inject):
    pages = {1: live_search([live_order(i) for i in range(100)], "100")}
    route = respx_mock.post(JOS_URL).mock(side_effect=by_page(pages))
    got = list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    assert [p.total for p in got] == [100]
    assert route.call_count == 1


def test_paging_stops_at_an_empty_page(respx_mock, jos_resource, inject):
    pages = {1: live_search([live_order(i) for i in range(100)], None), 2: live_search([], None)}
    route = respx_mock.post(JOS_URL).mock(side_effect=by_page(pages))
    assert [len(p.orders) for p in jos_resource.open(**inject).order_pages(DAY, DAY_END)] == [100, 0]
    assert route.call_count == 2


@pytest.mark.parametrize(
    "order_list",
    [[seed_order(1), seed_order(2)], {"order_info": [seed_order(1), seed_order(2)]}],
    ids=["flat-list", "nested-as-in-seed-003"],
)
def test_seed_dialect_uses_orders_get_and_snake_case(respx_mock, jos_resource, inject, order_list):
    route = respx_mock.post(JOS_URL).mock(
        return_value=ok({"jingdong_pop_orders_get_responce": {"code": "0", "order_info_list": order_list}})
    )
    client = jos_resource.model_copy(update={"dialect": "seed"}).open(**inject)
    assert client.dialect == "seed"
    got = list(client.order_pages(DAY, DAY_END))
    assert form(route.calls.last.request)["method"] == "jingdong.pop.orders.get"
    assert got[0].orders == [seed_order(1), seed_order(2)]
    assert [order_keys(o, "seed").order_id for o in got[0].orders] == ["300000000001", "300000000002"]


# -- errors --------------------------------------------------------------------------------------------

ROUTER_CASES = [
    ("2", RateLimitedError, 4, "call limit"),
    ("7", ConfigError, 1, "local clock is off by more than 6 minutes"),
    ("8", ConfigError, 1, "local clock is off by more than 6 minutes"),
    ("11", AuthError, 1, "check JD_JOS_APP_SECRET"),
    ("12", AuthError, 1, "invalid signature \\(router code 12\\): check JD_JOS_APP_SECRET"),
    ("14", ConfigError, 1, "method missing"),
    ("15", ConfigError, 1, "jingdong.pop.order.search refused"),
    ("19", AuthError, 1, "refresh JD_JOS_ACCESS_TOKEN"),
    (
        "401",
        AuthError,
        1,
        "signature error \\(code 401\\): refresh JD_JOS_ACCESS_TOKEN, and check JD_JOS_APP_KEY",
    ),
    ("403", RateLimitedError, 4, "add the jingdong.pop.order.search permission to the app"),
    ("400", PartitionError, 1, "parameter format error .* for orders window 2024-01-01 00:00:00"),
    ("409", PartitionError, 1, "status conflict \\(code 409\\)"),
    ("3001", PartitionError, 1, "parameter error \\(code 3001\\) for orders window 2024-01-01 00:00:00"),
    ("402", PartitionError, 1, "code 402"),
    ("500", TransientError, 4, "router internal error"),
    ("503", TransientError, 4, "router unavailable"),
    ("9999", PartitionError, 1, "unknown code 9999 for orders window 2024-01-01 00:00:00"),
]


@pytest.mark.parametrize(("code", "error", "calls", "message"), ROUTER_CASES)
def test_router_error_codes_map_to_their_scope(respx_mock, jos_resource, inject, code, error, calls, message):
    route = respx_mock.post(JOS_URL).mock(return_value=ok(error_response(code)))
    client = jos_resource.open(**inject)
    with pytest.raises(error, match=message) as caught:
        list(client.order_pages(DAY, DAY_END))
    assert type(caught.value) is error
    assert route.call_count == calls
    assert caught.value.code == code
    assert_no_secret(exception_texts(caught.value))


def test_unknown_router_code_on_an_http_5xx_answer_is_transient(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(
        side_effect=[httpx.Response(502, json=error_response("77")), ok(live_search([], 0))]
    )
    list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    assert route.call_count == 2


def test_method_errors_stop_the_run(respx_mock, jos_resource, inject):
    respx_mock.post(JOS_URL).mock(return_value=ok(error_response("15")))
    with pytest.raises(RunStopError):
        list(jos_resource.open(**inject).order_pages(DAY, DAY_END))


@pytest.mark.parametrize(
    "first",
    [httpx.Response(503), httpx.Response(429), httpx.Response(200, text="<html>maintenance</html>")],
    ids=["http-503", "http-429", "html"],
)
def test_router_faults_are_retried(respx_mock, jos_resource, inject, first):
    route = respx_mock.post(JOS_URL).mock(side_effect=[first, ok(live_search([], 0))])
    list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    assert route.call_count == 2


def test_api_result_failure_fails_the_partition_naming_the_window(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(
        return_value=ok(live_search([], 0, success=False, err="VENDER_NOT_FOUND"))
    )
    with pytest.raises(
        PartitionError, match=r"orders window 2024-01-01 00:00:00 \.\. 2024-01-01 23:59:59.*VENDER_NOT_FOUND"
    ):
        list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    assert route.call_count == 1


def test_a_wrapper_of_another_method_is_malformed(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(return_value=ok({"jingdong_other_responce": {"code": "0"}}))
    with pytest.raises(TransientError, match="no jingdong_pop_order_search_responce"):
        list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    assert route.call_count == 4


def test_a_non_zero_wrapper_code_is_mapped_like_an_error_response(respx_mock, jos_resource, inject):
    respx_mock.post(JOS_URL).mock(
        return_value=ok({"jingdong_pop_order_search_responce": {"code": "401", "zh_desc": "过期"}})
    )
    with pytest.raises(AuthError, match="JD_JOS_ACCESS_TOKEN"):
        list(jos_resource.open(**inject).order_pages(DAY, DAY_END))


# -- one order, tracks ---------------------------------------------------------------------------------


def test_live_order_is_read_through_order_detail_info(respx_mock, jos_resource, inject):
    record = live_order(7)
    route = respx_mock.post(JOS_URL).mock(
        return_value=ok(
            {
                "jingdong_pop_order_get_responce": {
                    "code": "0",
                    "orderDetailInfo": {"apiResult": {"success": True}, "orderInfo": record},
                }
            }
        )
    )
    assert jos_resource.open(**inject).order("300000000007") == record
    sent = form(route.calls.last.request)
    assert sent["method"] == "jingdong.pop.order.get"
    assert param_json(route.calls.last.request) == {
        "order_id": "300000000007",
        "optional_fields": LIVE_OPTIONAL_FIELDS,
    }


def test_live_order_api_result_failure_names_the_order(respx_mock, jos_resource, inject):
    respx_mock.post(JOS_URL).mock(
        return_value=ok(
            {
                "jingdong_pop_order_get_responce": {
                    "code": "0",
                    "orderDetailInfo": {"apiResult": {"success": False, "englishErrCode": "ORDER_NOT_FOUND"}},
                }
            }
        )
    )
    with pytest.raises(PartitionError, match=r"order 300000000007.*ORDER_NOT_FOUND"):
        jos_resource.open(**inject).order("300000000007")


def test_seed_order_is_read_from_order_info_and_sent_a_numeric_id(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL).mock(
        return_value=ok({"jingdong_pop_order_get_responce": {"order_info": seed_order(3)}})
    )
    client = jos_resource.model_copy(update={"dialect": "seed"}).open(**inject)
    assert client.order("300000000003") == seed_order(3)
    # seed 003 sends order_id as a JSON number; a Python int keeps even a 20-digit id exact
    assert form(route.calls.last.request)["360buy_param_json"] == '{"order_id":300000000003}'
    client.order("18446744073709551617")
    assert form(route.calls.last.request)["360buy_param_json"] == '{"order_id":18446744073709551617}'


@pytest.mark.parametrize("dialect", ["live", "seed"])
def test_an_order_answer_in_either_wrapper_is_read_in_either_dialect(
    respx_mock, jos_resource, inject, dialect
):
    live_shaped = {"orderDetailInfo": {"apiResult": {"success": True}, "orderInfo": live_order(7)}}
    seed_shaped = {"order_info": seed_order(7)}
    respx_mock.post(JOS_URL).mock(
        side_effect=[
            ok({"jingdong_pop_order_get_responce": {"code": "0", **live_shaped}}),
            ok({"jingdong_pop_order_get_responce": seed_shaped}),
        ]
    )
    client = jos_resource.model_copy(update={"dialect": dialect}).open(**inject)
    assert client.order("300000000007") == live_order(7)
    assert client.order("300000000007") == seed_order(7)


def test_missing_order_record_fails_the_partition(respx_mock, jos_resource, inject):
    respx_mock.post(JOS_URL).mock(return_value=ok({"jingdong_pop_order_get_responce": {"code": "0"}}))
    with pytest.raises(PartitionError, match="order 300000000003 not found"):
        jos_resource.model_copy(update={"dialect": "seed"}).open(**inject).order("300000000003")


def test_order_tracks_come_back_as_received(respx_mock, jos_resource, inject):
    tracks = [{"time": "2025-05-01 10:00:00", "content": "Package picked up"}]
    route = respx_mock.post(JOS_URL).mock(
        return_value=ok({"jingdong_pop_order_track_responce": {"code": "0", "order_tracks": tracks}})
    )
    assert jos_resource.open(**inject).order_tracks("300000000003") == tracks
    assert form(route.calls.last.request)["method"] == "jingdong.pop.order.track"
    assert param_json(route.calls.last.request) == {"order_id": "300000000003"}


@pytest.mark.parametrize("dialect", ["live", "seed"])
def test_seed_003s_track_answer_verbatim_is_read(respx_mock, jos_resource, inject, dialect):
    answer = (Path(__file__).resolve().parent.parent / "seed_examples" / "003_order_track.json").read_bytes()
    respx_mock.post(JOS_URL).mock(return_value=httpx.Response(200, content=answer))
    tracks = jos_resource.model_copy(update={"dialect": dialect}).open(**inject).order_tracks("1234567890")
    assert tracks == [
        {"time": "2025-05-01 10:00:00", "content": "Package picked up"},
        {"time": "2025-05-02 15:45:00", "content": "Arrived at Nanjing distribution center"},
    ]


# -- order keys ----------------------------------------------------------------------------------------

KEY_CASES = [
    (
        live_order(1),
        "live",
        OrderKeys("300000000001", "2024-01-01 10:00:00", "WAIT_SELLER_STOCK_OUT", "2024-01-01 11:00:00"),
    ),
    (seed_order(1), "seed", OrderKeys("300000000001", "2024-01-01 10:00:00", "FINISHED_L", None)),
    (
        {
            "order_id": 18446744073709551617,
            "order_state": "LOCKED",
            "order_start_time": "2024-01-01 10:00:00.0",
        },
        "seed",
        OrderKeys("18446744073709551617", "2024-01-01 10:00:00", "LOCKED", None),
    ),
]


@pytest.mark.parametrize(("record", "dialect", "expected"), KEY_CASES)
def test_order_keys_read_each_dialect(record, dialect, expected):
    assert order_keys(record, dialect) == expected


def test_a_seed_003_list_record_has_keys_without_a_creation_time():
    record = {  # seed 003's jingdong.pop.orders.get example, verbatim
        "order_id": 1234567890,
        "order_total_price": 199.99,
        "order_state": "WAIT_SELLER_STOCK_OUT",
        "consignee_info": {"name": "Zhang San", "full_address": "Chaoyang District, Beijing..."},
    }
    assert order_keys(record, "seed") == OrderKeys("1234567890", None, "WAIT_SELLER_STOCK_OUT", None)


@pytest.mark.parametrize(
    ("record", "dialect", "missing"),
    [
        ({"orderState": "LOCKED", "orderStartTime": "2024-01-01 10:00:00"}, "live", "'orderId'"),
        ({"order_id": "1", "order_start_time": "2024-01-01 10:00:00"}, "seed", "'order_state'"),
        ({"order_id": "1", "order_state": "LOCKED"}, "live", "'orderId'"),
        (live_order(1), "seed", "'order_id'"),
    ],
)
def test_order_keys_name_the_missing_field(record, dialect, missing):
    with pytest.raises(ValueError, match=missing):
        order_keys(record, dialect)


def test_order_keys_refuse_a_float_id_and_a_bad_timestamp():
    with pytest.raises(ValueError):
        order_keys({**seed_order(1), "order_id": 3.0e11}, "seed")
    with pytest.raises(ValueError, match="order_start_time"):
        order_keys({**seed_order(1), "order_start_time": "01/01/2024"}, "seed")


# -- read-only, configuration, secrets -----------------------------------------------------------------


def test_no_dialect_offers_a_method_that_changes_an_order():
    assert "jingdong.pop.order.ship" in FORBIDDEN_METHODS
    for methods in JOS_METHODS.values():
        assert set(methods) == {"search", "get", "track"}
        assert not set(methods.values()) & FORBIDDEN_METHODS


def test_the_client_refuses_to_send_ship(respx_mock, jos_resource, inject):
    route = respx_mock.post(JOS_URL)
    client = jos_resource.open(**inject)
    with pytest.raises(ConfigError, match="read-only"):
        client._call("jingdong.pop.order.ship", {"order_id": "1"}, "order 1")
    assert route.call_count == 0


def test_an_unknown_dialect_is_refused():
    with pytest.raises(pydantic.ValidationError, match="dialect"):
        JosResource(app_key="k", app_secret="s", access_token="a", dialect="beta")


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("app_key", "JD_JOS_APP_KEY"),
        ("app_secret", "JD_JOS_APP_SECRET"),
        ("access_token", "JD_JOS_ACCESS_TOKEN"),
        ("base_url", "JD_JOS_BASE_URL"),
    ],
)
def test_missing_setting_is_a_config_error_naming_the_variable(jos_resource, field, variable):
    with pytest.raises(ConfigError, match=f"{variable} is not set"):
        jos_resource.model_copy(update={field: ""}).open()


def test_secrets_never_appear_in_errors_or_logs(respx_mock, jos_resource, inject, caplog):
    caplog.set_level(logging.DEBUG)

    def boom(request):
        raise httpx.ReadTimeout(f"timed out: {request.url} {request.content!r}", request=request)

    respx_mock.post(JOS_URL).mock(side_effect=boom)
    with pytest.raises(TransientError) as caught:
        list(jos_resource.open(**inject).order_pages(DAY, DAY_END))
    assert_no_secret(exception_texts(caught.value))
    assert_no_secret(caplog.text)
