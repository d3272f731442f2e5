"""Rate limits (302/429 on the token gateway, "2" on the router, 429 on the seller gateway), every
fault kind at its configured rate and reproducible from the seed, forced codes, per-item failures,
latency, and a clean stop while a request hangs."""

from __future__ import annotations

import math
import threading
import time

import httpx
import pytest

from jd_sandbox import Faults, Sandbox, SandboxConfig

from .helpers import COMMENTS, DETAILS, fengchao_params, jos_params

UNLIMITED = {"justone": None, "jos": None, "fengchao": None}


def _classify(client: httpx.Client, url: str, params: dict) -> str:
    try:
        response = client.get(url, params=params)
    except httpx.TransportError:
        return "timeout"
    if response.status_code in (500, 502, 503, 504):
        return "http_5xx"
    try:
        body = response.json()
    except ValueError:
        return "malformed"
    code = body.get("code")
    return "ok" if code == 0 else f"code_{code}"


def test_rate_limit_alternates_302_and_429_on_the_token_gateway():
    cfg = SandboxConfig(seed=1, scale="tiny", rate_limit_rps={"justone": 5.0, "jos": None, "fengchao": None})
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url) as client:
        sku = sb.truth.sku_ids()[0]
        responses = [client.get(COMMENTS, params={"token": cfg.token, "itemId": sku}) for _ in range(30)]
        limited = [r for r in responses if r.json()["code"] == 302]
        http_429 = [r for r in limited if r.status_code == 429]
        code_302 = [r for r in limited if r.status_code == 200]
        assert http_429 and code_302 and abs(len(http_429) - len(code_302)) <= 1
        assert all(r.headers["Retry-After"] == "1" for r in http_429)
        ok = len(responses) - len(limited)
        assert 5 <= ok < 30
        counters = sb.counters()
        assert counters["rate_limited"] == {"justone": len(limited)}
        assert counters["billed"] == {"comments": ok}
        assert counters["requests"] == {"comments": 30}
        time.sleep(0.5)
        assert client.get(COMMENTS, params={"token": cfg.token, "itemId": sku}).json()["code"] == 0


def test_rate_limit_on_the_router_answers_code_2_and_on_fengchao_http_429():
    cfg = SandboxConfig(seed=1, scale="tiny", rate_limit_rps={"justone": None, "jos": 2.0, "fengchao": 2.0})
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url) as client:
        biz = {"order_id": "300000000000"}
        jos_codes = [
            client.post("/routerjson", data=jos_params(sb, "jingdong.pop.order.track", biz))
            .json()
            .get("error_response", {})
            .get("code")
            for _ in range(8)
        ]
        assert "2" in jos_codes
        ware = sb.truth.ware_ids()[0]
        feng = [client.get("/fengchao/findWareById", params=fengchao_params(sb, ware)) for _ in range(8)]
        assert any(r.status_code == 429 and r.json()["code"] == 429 for r in feng)
        assert sb.counters()["rate_limited"] == {
            "jos": jos_codes.count("2"),
            "fengchao": sum(r.status_code == 429 for r in feng),
        }


def test_each_fault_kind_occurs_at_its_configured_rate():
    p, n = 0.06, 1400
    faults = Faults(**{kind: p for kind in Faults.KINDS}, hang_seconds=0.01)
    cfg = SandboxConfig(seed=9, scale="tiny", faults=faults, rate_limit_rps=dict(UNLIMITED))
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url, timeout=5) as client:
        sku = sb.truth.sku_ids()[0]
        seen = [_classify(client, COMMENTS, {"token": cfg.token, "itemId": sku}) for _ in range(n)]
        counters = sb.counters()
    sigma = math.sqrt(n * p * (1 - p))
    for kind in Faults.KINDS:
        observed = seen.count(kind)
        assert abs(observed - n * p) < 4.5 * sigma, (kind, observed)
        assert counters["faults"][kind] == observed
    assert seen.count("ok") == counters["billed"]["comments"]
    assert abs(seen.count("ok") - n * (1 - 7 * p)) < 4.5 * math.sqrt(n * 0.42 * 0.58)


def test_fault_fates_are_reproducible_from_the_seed():
    def run(seed: int) -> list[str]:
        faults = Faults(code_301=0.1, http_5xx=0.1, malformed=0.1)
        cfg = SandboxConfig(seed=seed, scale="tiny", faults=faults, rate_limit_rps=dict(UNLIMITED))
        with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url) as client:
            sku = sb.truth.sku_ids()[0]
            return [_classify(client, COMMENTS, {"token": cfg.token, "itemId": sku}) for _ in range(60)]

    assert run(4) == run(4)
    assert run(4) != run(5)


def _outcome(client: httpx.Client, url: str, params: dict) -> str:
    """``timeout``, ``malformed``, or ``<HTTP status>:<business code>`` (body ``code`` or router code)."""
    try:
        response = client.get(url, params=params)
    except httpx.TransportError:
        return "timeout"
    if response.status_code in (500, 502, 503, 504) and "json" not in response.headers["content-type"]:
        return "http_5xx"
    try:
        body = response.json()
    except ValueError:
        return "malformed"
    code = body["error_response"]["code"] if "error_response" in body else body["code"]
    return f"{response.status_code}:{code}"


# kind -> (token gateway, JOS router, seller gateway), as documented in the gateway modules
FAULT_MAP = {
    "code_301": ("200:301", "200:2", "200:500"),
    "code_302": ("200:302", "200:2", "429:429"),
    "code_500": ("200:500", "500:500", "200:500"),
    "code_503": ("200:503", "503:503", "200:500"),
    "http_5xx": ("http_5xx",) * 3,
    "timeout": ("timeout",) * 3,
    "malformed": ("malformed",) * 3,
}


@pytest.mark.parametrize("kind", Faults.KINDS)
def test_every_fault_kind_fails_all_three_gateways_as_documented(kind: str):
    faults = Faults(**{kind: 1.0}, hang_seconds=0.01)
    cfg = SandboxConfig(seed=2, scale="tiny", faults=faults, rate_limit_rps=dict(UNLIMITED))
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url, timeout=5) as client:
        sku, ware = sb.truth.sku_ids()[0], sb.truth.ware_ids()[0]
        outcomes = (
            _outcome(client, DETAILS, {"token": cfg.token, "itemId": sku}),
            _outcome(client, "/routerjson", jos_params(sb, "jingdong.pop.order.track", {"order_id": "3"})),
            _outcome(client, "/fengchao/findWareById", fengchao_params(sb, ware)),
        )
        assert sb.counters()["faults"] == {kind: 3}
        assert sb.counters()["billed"] == {}
    assert outcomes == FAULT_MAP[kind]


def test_forced_quota_code_answers_until_its_count_runs_out(tiny: Sandbox, tiny_client: httpx.Client):
    sku = tiny.truth.sku_ids()[0]
    params = {"token": tiny.config.token, "itemId": sku}
    tiny.force_code("justone", 303, count=2)
    codes = [tiny_client.get(COMMENTS, params=params).json()["code"] for _ in range(3)]
    assert codes == [303, 303, 0]
    tiny_client.post("/_sandbox/force_code", params={"gateway": "justone", "code": 601})
    assert [tiny_client.get(DETAILS, params=params).json()["code"] for _ in range(3)] == [601] * 3
    tiny_client.post("/_sandbox/clear_forced")
    assert tiny_client.get(COMMENTS, params=params).json()["code"] == 0
    for code in (101, 600, 602):
        tiny.force_code("justone", code, count=1)
        assert tiny_client.get(COMMENTS, params=params).json()["code"] == code


def test_failing_one_item_fails_only_that_item(tiny: Sandbox, tiny_client: httpx.Client):
    bad, good = tiny.truth.sku_ids()[:2]
    tiny.fail_item(bad, code=301)
    for _ in range(3):
        assert (
            tiny_client.get(COMMENTS, params={"token": tiny.config.token, "itemId": bad}).json()["code"]
            == 301
        )
    assert tiny_client.get(DETAILS, params={"token": tiny.config.token, "itemId": bad}).json()["code"] == 301
    assert tiny_client.get(COMMENTS, params={"token": tiny.config.token, "itemId": good}).json()["code"] == 0
    tiny.clear_item_failures()
    assert tiny_client.get(COMMENTS, params={"token": tiny.config.token, "itemId": bad}).json()["code"] == 0


def test_latency_delays_every_answer():
    cfg = SandboxConfig(seed=1, scale="tiny", latency_ms=80, jitter_ms=20)
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url) as client:
        start = time.monotonic()
        for _ in range(5):
            client.get(COMMENTS, params={"token": cfg.token, "itemId": sb.truth.sku_ids()[0]})
        assert time.monotonic() - start >= 5 * 0.06


def test_timeout_fault_hangs_and_the_sandbox_still_stops_quickly():
    cfg = SandboxConfig(seed=1, scale="tiny", faults=Faults(timeout=1.0, hang_seconds=30))
    sb = Sandbox(cfg).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(sb.base_url + COMMENTS, params={"token": cfg.token, "itemId": "1"}, timeout=60)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(sb.base_url + COMMENTS, params={"token": cfg.token, "itemId": "1"}, timeout=0.3)
    start = time.monotonic()
    sb.stop()
    worker.join(5)
    assert time.monotonic() - start < 2.5
    assert not worker.is_alive()
    assert errors and isinstance(errors[0], httpx.TransportError)
