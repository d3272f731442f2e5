"""Seller gateway client: signed findWareById requests, the (assumed) code table, big ware ids kept
exact, configuration errors naming the variable, and no secret in any error."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from jd_assets.errors import (
    AuthError,
    ConfigError,
    PartitionError,
    RateLimitedError,
    TransientError,
)
from jd_assets.gateways.fengchao import DEFAULT_FIELDS, FengchaoResource
from jd_assets.gateways.signing import SIGNERS, jos_sign

from .conftest import FC_SECRET, FENGCHAO_URL, WALL_START, assert_no_secret, exception_texts

FIND = FENGCHAO_URL + "/findWareById"
WARE = "10022660724067"

# The seed's example answer (004_9f32f61cd8b74dfb.txt), with a ware id above 2^53.
SEED_WARE_JSON = (
    b'{"code":0,"message":"ok","data":{"brandId":362679,"categoryId":11222,"colType":0,'
    b'"created":1653938314000,"itemNum":"rjMX8wWW","logo":"jfs/t1/55102/16/18472/99056/x.jpg",'
    b'"modified":1657201041000,"title":"\xe4\xbe\x9d\xe8\xbf\xaa\xe7\xad\xb1","wareId":10022660724067123456,'
    b'"wareLocation":1,"wareStatus":-1}}'
)


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))


def answer(code, message="failed", data=None) -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": message, "data": data})


def test_find_ware_returns_data_with_big_ids_exact(respx_mock, fengchao_resource, inject):
    respx_mock.post(FIND).mock(return_value=httpx.Response(200, content=SEED_WARE_JSON))
    client = fengchao_resource.open(**inject)
    ware = client.find_ware(WARE)
    assert ware["wareId"] == 10022660724067123456
    assert isinstance(ware["wareId"], int)
    assert ware["title"] == "依迪筱"
    assert ware["wareStatus"] == -1
    assert client.stats.requests == 1


def test_request_is_signed_over_every_other_parameter(respx_mock, fengchao_resource, inject):
    route = respx_mock.post(FIND).mock(return_value=httpx.Response(200, content=SEED_WARE_JSON))
    fengchao_resource.open(**inject).find_ware(WARE)
    sent = form(route.calls.last.request)
    assert set(sent) == {"appid", "timestamp", "seller_nick", "wareId", "field", "sign"}
    assert (sent["appid"], sent["seller_nick"], sent["wareId"]) == ("fc-app-1", "38173182", WARE)
    assert sent["timestamp"] == str(int(WALL_START))
    assert sent["field"] == DEFAULT_FIELDS
    assert sent["sign"] == jos_sign(sent, FC_SECRET)
    assert FC_SECRET not in route.calls.last.request.content.decode()


def test_timestamp_is_fresh_for_every_attempt(respx_mock, fengchao_resource, inject):
    route = respx_mock.post(FIND).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, content=SEED_WARE_JSON),
        ]
    )
    fengchao_resource.open(**inject).find_ware(WARE)
    stamps = [int(form(c.request)["timestamp"]) for c in route.calls]
    assert stamps[1] - stamps[0] == 3


def test_the_signer_is_pluggable(respx_mock, fengchao_resource, inject, monkeypatch):
    monkeypatch.setitem(SIGNERS, "test_rule", lambda params, secret: "SIGNED-" + params["wareId"])
    route = respx_mock.post(FIND).mock(return_value=httpx.Response(200, content=SEED_WARE_JSON))
    fengchao_resource.model_copy(update={"signer": "test_rule"}).open(**inject).find_ware(WARE)
    assert form(route.calls.last.request)["sign"] == "SIGNED-" + WARE


CODE_CASES = [
    (1001, AuthError, 1, "invalid sign \\(code 1001\\): check JD_FENGCHAO_APP_SECRET"),
    (1002, ConfigError, 1, "local clock is off"),
    (1003, AuthError, 1, "JD_FENGCHAO_APP_ID"),
    (1004, PartitionError, 1, f"invalid parameter \\(code 1004\\) for ware {WARE}"),
    (2001, PartitionError, 1, f"ware {WARE} not found"),
    (429, RateLimitedError, 4, "rate limited"),
    (500, TransientError, 4, "server error"),
    (3333, PartitionError, 1, "unknown code 3333 .*gateway says: failed"),
]


@pytest.mark.parametrize(("code", "error", "calls", "message"), CODE_CASES)
def test_each_code_maps_to_its_error_and_retry_behaviour(
    respx_mock, fengchao_resource, inject, code, error, calls, message
):
    route = respx_mock.post(FIND).mock(return_value=answer(code))
    with pytest.raises(error, match=message) as caught:
        fengchao_resource.open(**inject).find_ware(WARE)
    assert type(caught.value) is error
    assert route.call_count == calls
    assert_no_secret(exception_texts(caught.value))


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(429),
        httpx.Response(503, text="<html>down</html>"),
        httpx.Response(200, text='{"code": 0, "data": {'),
        answer(0, data=None),
    ],
    ids=["http-429", "http-503", "truncated", "code-0-without-data"],
)
def test_faults_are_retried(respx_mock, fengchao_resource, inject, first):
    route = respx_mock.post(FIND).mock(side_effect=[first, httpx.Response(200, content=SEED_WARE_JSON)])
    assert fengchao_resource.open(**inject).find_ware(WARE)["brandId"] == 362679
    assert route.call_count == 2


def test_base_url_has_no_default():
    assert FengchaoResource.model_fields["base_url"].is_required()


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("base_url", "JD_FENGCHAO_BASE_URL"),
        ("app_id", "JD_FENGCHAO_APP_ID"),
        ("app_secret", "JD_FENGCHAO_APP_SECRET"),
        ("seller_nick", "JD_FENGCHAO_SELLER_NICK"),
    ],
)
def test_missing_setting_is_a_config_error_naming_the_variable(fengchao_resource, field, variable):
    with pytest.raises(ConfigError, match=f"{variable} is not set"):
        fengchao_resource.model_copy(update={field: ""}).open()


@pytest.mark.parametrize("url", ["fengchao.test", "ftp://fengchao.test", "https://fengchao.test/?key=1"])
def test_a_malformed_base_url_is_a_config_error(fengchao_resource, url):
    with pytest.raises(ConfigError, match="JD_FENGCHAO_BASE_URL"):
        fengchao_resource.model_copy(update={"base_url": url}).open()


def test_an_unknown_signer_is_a_config_error(fengchao_resource):
    with pytest.raises(ConfigError, match="unknown Fengchao signer 'rsa'"):
        fengchao_resource.model_copy(update={"signer": "rsa"}).open()
