"""JOS signing (API_NOTES §2): the worked example, and each rule of the recipe on its own."""

from __future__ import annotations

import hashlib

from jd_assets.gateways.jos import compact_json, signed_params
from jd_assets.gateways.signing import SIGNERS, jos_sign

SECRET = "test_secret_0123456789"
PARAM_JSON = (
    '{"start_date":"2024-01-01 00:00:00","end_date":"2024-01-02 00:00:00",'
    '"order_state":"WAIT_SELLER_STOCK_OUT","optional_fields":"orderId,orderState","page":"1","page_size":"100"}'
)
WORKED = {
    "app_key": "TESTAPPKEY",
    "access_token": "TESTTOKEN",
    "method": "jingdong.pop.order.search",
    "timestamp": "2024-01-02 03:04:05",
    "v": "2.0",
    "360buy_param_json": PARAM_JSON,
}


def test_worked_example_gives_the_documented_sign():
    assert jos_sign(WORKED, SECRET) == "0D8FD33517E0B960CC77E8AF13066402"


def test_signed_params_of_the_worked_example_carry_the_documented_sign():
    params = signed_params(
        "jingdong.pop.order.search",
        compact_json(
            {
                "start_date": "2024-01-01 00:00:00",
                "end_date": "2024-01-02 00:00:00",
                "order_state": "WAIT_SELLER_STOCK_OUT",
                "optional_fields": "orderId,orderState",
                "page": "1",
                "page_size": "100",
            }
        ),
        app_key="TESTAPPKEY",
        access_token="TESTTOKEN",
        app_secret=SECRET,
        timestamp="2024-01-02 03:04:05",
    )
    assert params["360buy_param_json"] == PARAM_JSON
    assert params["sign"] == "0D8FD33517E0B960CC77E8AF13066402"


def test_sign_and_empty_values_are_left_out():
    assert jos_sign({**WORKED, "sign": "OLD", "empty": ""}, SECRET) == jos_sign(WORKED, SECRET)


def test_keys_sort_bytewise_and_wrap_with_the_secret():
    text = "S" + "360" + "x" + "A" + "y" + "a" + "z" + "S"
    assert jos_sign({"a": "z", "A": "y", "360": "x"}, "S") == hashlib.md5(text.encode()).hexdigest().upper()


def test_values_are_signed_as_utf8():
    text = "S" + "k" + "中文" + "S"
    assert jos_sign({"k": "中文"}, "S") == hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def test_compact_json_keeps_raw_utf8():
    assert compact_json({"a": "中", "b": 1}) == '{"a":"中","b":1}'


def test_signer_registry_names_the_jos_rule():
    assert SIGNERS["jos_md5"] is jos_sign
