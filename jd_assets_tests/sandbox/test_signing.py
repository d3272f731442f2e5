"""The router's and the seller gateway's checks: the API_NOTES §2 worked example verifies (as a function
and over HTTP), and each wrong credential, timestamp or version answers its documented code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from jd_sandbox import Sandbox, SandboxConfig, sign
from jd_sandbox.config import BEIJING

from .helpers import fengchao_params, jos, jos_params, wall_timestamp

WORKED_PARAMS = {
    "app_key": "TESTAPPKEY",
    "access_token": "TESTTOKEN",
    "method": "jingdong.pop.order.search",
    "timestamp": "2024-01-02 03:04:05",
    "v": "2.0",
    "360buy_param_json": '{"start_date":"2024-01-01 00:00:00","end_date":"2024-01-02 00:00:00",'
    '"order_state":"WAIT_SELLER_STOCK_OUT","optional_fields":"orderId,orderState","page":"1",'
    '"page_size":"100"}',
}
WORKED_SIGN = "0D8FD33517E0B960CC77E8AF13066402"
ORDER_SEARCH = "jingdong.pop.order.search"
BIZ = {"start_date": "2026-03-09 00:00:00", "end_date": "2026-03-09 23:59:59", "optional_fields": "orderId"}


def test_worked_signature_example_verifies():
    assert sign(WORKED_PARAMS, "test_secret_0123456789") == WORKED_SIGN


def test_worked_example_request_is_accepted_by_the_router():
    cfg = SandboxConfig(
        seed=3,
        scale="tiny",
        now=datetime(2024, 1, 2, 3, 4, 5, tzinfo=BEIJING),
        jos_app_key="TESTAPPKEY",
        jos_app_secret="test_secret_0123456789",
        jos_access_token="TESTTOKEN",
        jos_timestamp_skew_s=None,
    )
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url) as client:
        body = client.get("/routerjson", params={**WORKED_PARAMS, "sign": WORKED_SIGN}).json()
    result = body["jingdong_pop_order_search_responce"]["searchorderinfo_result"]
    assert result["apiResult"]["success"] is True
    assert result["orderTotal"] == len(result["orderInfoList"]) > 0
    assert {o["orderState"] for o in result["orderInfoList"]} == {"WAIT_SELLER_STOCK_OUT"}


def test_empty_values_are_left_out_of_the_signature():
    with_empty = {**WORKED_PARAMS, "format": ""}
    assert sign(with_empty, "test_secret_0123456789") == WORKED_SIGN


def test_wrong_sign_answers_code_12(tiny: Sandbox, tiny_client: httpx.Client):
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, secret="not-the-secret")
    assert body == {"error_response": {"code": "12", "zh_desc": "无效签名", "en_desc": "Invalid Signature"}}


def test_param_json_changed_after_signing_answers_code_12(tiny: Sandbox, tiny_client: httpx.Client):
    params = jos_params(tiny, ORDER_SEARCH, BIZ)
    params["360buy_param_json"] = params["360buy_param_json"].replace(":", ": ")
    body = tiny_client.post("/routerjson", data=params).json()
    assert body["error_response"]["code"] == "12"


def test_missing_sign_answers_code_11(tiny: Sandbox, tiny_client: httpx.Client):
    params = jos_params(tiny, ORDER_SEARCH, BIZ)
    del params["sign"]
    assert tiny_client.post("/routerjson", data=params).json()["error_response"]["code"] == "11"


def test_timestamp_skew_answers_code_8(tiny: Sandbox, tiny_client: httpx.Client):
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, timestamp=wall_timestamp(-361))
    assert body["error_response"]["code"] == "8"


def test_timestamp_within_skew_is_accepted(tiny: Sandbox, tiny_client: httpx.Client):
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, timestamp=wall_timestamp(-300))
    assert "jingdong_pop_order_search_responce" in body


def sdk_timestamp(zone: timezone, offset_s: float = 0) -> str:
    """The form JD's Python SDK sends: ``strftime("%Y-%m-%d %H:%M:%S.000%z")`` of local time."""
    return (datetime.now(zone) + timedelta(seconds=offset_s)).strftime("%Y-%m-%d %H:%M:%S.000%z")


@pytest.mark.parametrize("hours", [8, 0, -8, 5.5])
def test_the_sdk_timestamp_form_is_accepted_in_any_zone(tiny: Sandbox, tiny_client: httpx.Client, hours):
    stamp = sdk_timestamp(timezone(timedelta(hours=hours)))
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, timestamp=stamp)
    assert "jingdong_pop_order_search_responce" in body, (stamp, body)


def test_the_zone_of_an_sdk_timestamp_counts_in_the_skew_check(tiny: Sandbox, tiny_client: httpx.Client):
    utc_digits_said_to_be_beijing = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000+0800")  # 8 h off
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, timestamp=utc_digits_said_to_be_beijing)
    assert body["error_response"]["code"] == "8"
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, timestamp=sdk_timestamp(UTC, -361))
    assert body["error_response"]["code"] == "8"


@pytest.mark.parametrize(
    "garbage",
    ["2026-03-10T12:00:00", "2026/03/10 12:00:00", "1773115200", "2026-03-10 12:00:00.000+2500", "now"],
)
def test_a_timestamp_in_no_form_jd_sends_answers_code_8(tiny: Sandbox, tiny_client: httpx.Client, garbage):
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, timestamp=garbage)
    assert body["error_response"]["code"] == "8"


def test_missing_timestamp_answers_code_7(tiny: Sandbox, tiny_client: httpx.Client):
    params = jos_params(tiny, ORDER_SEARCH, BIZ, timestamp="")
    assert tiny_client.post("/routerjson", data=params).json()["error_response"]["code"] == "7"


def test_unsupported_version_answers_code_5(tiny: Sandbox, tiny_client: httpx.Client):
    assert jos(tiny_client, tiny, ORDER_SEARCH, BIZ, v="3.0")["error_response"]["code"] == "5"


def test_missing_version_answers_code_4(tiny: Sandbox, tiny_client: httpx.Client):
    assert jos(tiny_client, tiny, ORDER_SEARCH, BIZ, v="")["error_response"]["code"] == "4"


def test_missing_method_answers_code_14(tiny: Sandbox, tiny_client: httpx.Client):
    assert jos(tiny_client, tiny, "", BIZ)["error_response"]["code"] == "14"


def test_unknown_method_answers_code_15(tiny: Sandbox, tiny_client: httpx.Client):
    assert jos(tiny_client, tiny, "jingdong.pop.order.nope", BIZ)["error_response"]["code"] == "15"


def test_unknown_app_key_answers_code_19(tiny: Sandbox, tiny_client: httpx.Client):
    assert jos(tiny_client, tiny, ORDER_SEARCH, BIZ, app_key="OTHERKEY")["error_response"]["code"] == "19"


def test_wrong_access_token_answers_code_401(tiny: Sandbox, tiny_client: httpx.Client):
    body = jos(tiny_client, tiny, ORDER_SEARCH, BIZ, access_token="expired")
    assert body["error_response"]["code"] == "401"


def test_order_ship_is_refused_and_counted(tiny: Sandbox, tiny_client: httpx.Client):
    body = jos(tiny_client, tiny, "jingdong.pop.order.ship", {"order_id": "300000000001", "waybill": "x"})
    assert body["error_response"]["code"] == "15"
    assert "read-only" in body["error_response"]["en_desc"]
    counters = tiny.counters()
    assert counters["requests"]["jos:jingdong.pop.order.ship"] == 1
    assert counters["refused"] == {"jos:jingdong.pop.order.ship": 1}
    assert "jos:jingdong.pop.order.ship" not in counters["billed"]


def test_fengchao_wrong_sign_answers_1001(tiny: Sandbox, tiny_client: httpx.Client):
    params = fengchao_params(tiny, tiny.truth.ware_ids()[0], secret="wrong")
    body = tiny_client.post("/fengchao/findWareById", data=params).json()
    assert body["code"] == 1001 and body["data"] is None


def test_fengchao_timestamp_skew_answers_1002(tiny: Sandbox, tiny_client: httpx.Client):
    import time

    params = fengchao_params(tiny, tiny.truth.ware_ids()[0], timestamp=int(time.time()) - 601)
    assert tiny_client.get("/fengchao/findWareById", params=params).json()["code"] == 1002


def test_fengchao_unknown_seller_answers_1003(tiny: Sandbox, tiny_client: httpx.Client):
    params = fengchao_params(tiny, tiny.truth.ware_ids()[0], seller_nick="someone-else")
    assert tiny_client.get("/fengchao/findWareById", params=params).json()["code"] == 1003
