"""The shared HTTP layer: bounded retries with backoff, Retry-After, the shared rate limiter, the body
size cap, malformed bodies, exact big integers, and no secret in any error or log line."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from jd_assets.errors import (
    AuthError,
    ConfigError,
    PartitionError,
    RateLimitedError,
    TransientError,
)
from jd_assets.http.layer import CallStats, GatewayHttp, Reply, RetryPolicy
from jd_assets.http.limiter import RateLimiter

from .conftest import TOKEN, FakeClock, MaxRandom, assert_no_secret, exception_texts

URL = "https://layer.test/api"


def make_http(clock: FakeClock, *, max_attempts: int = 4, rps: float = 1000.0, **kwargs) -> GatewayHttp:
    return GatewayHttp(
        kwargs.pop("gateway", "layer-test"),
        timeout_s=5.0,
        requests_per_second=rps,
        retry=RetryPolicy(max_attempts=max_attempts, backoff_base_s=0.5, backoff_max_s=4.0),
        secrets=(TOKEN,),
        stats=CallStats(),
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.time,
        rng=kwargs.pop("rng", MaxRandom()),
        **kwargs,
    )


def plain(reply: Reply):
    """A minimal interpreter: the status error if any, else the JSON body."""
    error = reply.status_error()
    if error is not None:
        raise error
    return reply.json()


def get(http: GatewayHttp, interpret=plain):
    return http.call("GET", URL, params={"token": TOKEN, "itemId": "1"}, interpret=interpret)


# -- retries -------------------------------------------------------------------------------------------


def test_transient_status_is_retried_up_to_max_attempts_then_raised(respx_mock, clock):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(503, text="busy"))
    http = make_http(clock, max_attempts=4)
    with pytest.raises(TransientError) as caught:
        get(http)
    assert route.call_count == 4
    assert "gave up after 4 attempts" in str(caught.value)
    assert http.stats.requests == 4
    assert http.stats.retries == 3
    assert http.stats.retries_by_reason == {"http_503": 3}


def test_transient_failure_then_success_returns_the_answer(respx_mock, clock):
    respx_mock.get(URL).mock(side_effect=[httpx.Response(502), httpx.Response(200, json={"ok": 1})])
    http = make_http(clock)
    assert get(http) == {"ok": 1}
    assert http.stats.as_metadata() == {
        "requests": 2,
        "retries": 1,
        "billed_calls": 0,
        "rate_limited": 0,
        "pages": 0,
        "retries_http_502": 1,
    }


def test_backoff_doubles_per_retry_and_is_capped(respx_mock, clock):
    respx_mock.get(URL).mock(return_value=httpx.Response(500))
    http = make_http(clock, max_attempts=7)  # MaxRandom: every wait is the upper bound of its jitter
    with pytest.raises(TransientError):
        get(http)
    assert clock.waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_uses_full_jitter_within_the_bound(respx_mock, clock):
    import random

    respx_mock.get(URL).mock(return_value=httpx.Response(500))
    http = make_http(clock, max_attempts=6, rng=random.Random(3))
    with pytest.raises(TransientError):
        get(http)
    backoffs = clock.sleeps
    policy = RetryPolicy(max_attempts=6, backoff_base_s=0.5, backoff_max_s=4.0)
    retries = [s for s in backoffs if s > 0.0011]
    assert len(retries) >= 3
    assert all(0 <= s <= policy.backoff_max_s for s in backoffs)
    assert sum(backoffs) <= sum(policy.backoff_cap(n) for n in range(1, 6)) + 0.01


def test_retry_after_seconds_is_honoured(respx_mock, clock):
    respx_mock.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1})]
    )
    http = make_http(clock)
    assert get(http) == {"ok": 1}
    assert clock.waits == [7.0]
    assert http.stats.rate_limited == 1
    assert http.stats.retries_by_reason == {"rate_limited": 1}


def test_retry_after_http_date_is_honoured(respx_mock, clock):
    when = datetime.fromtimestamp(clock.time() + 12, UTC)
    respx_mock.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}),
            httpx.Response(200, json={}),
        ]
    )
    http = make_http(clock)
    get(http)
    assert clock.waits == [pytest.approx(12.0, abs=1.0)]


def test_retry_after_longer_than_the_cap_is_capped(respx_mock, clock):
    respx_mock.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200, json={})]
    )
    http = make_http(clock)
    get(http)
    assert clock.waits == [RetryPolicy().max_retry_after_s]


def test_rate_limited_without_retry_after_backs_off(respx_mock, clock):
    respx_mock.get(URL).mock(side_effect=[httpx.Response(429), httpx.Response(200, json={})])
    http = make_http(clock)
    get(http)
    assert clock.waits == [0.5]


@pytest.mark.parametrize(
    "error",
    [AuthError("token rejected"), PartitionError("item 1 not found"), ConfigError("bad")],
    ids=["auth", "partition", "config"],
)
def test_non_transient_errors_are_not_retried(respx_mock, clock, error):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(200, json={}))

    def interpret(reply):
        raise error

    http = make_http(clock)
    with pytest.raises(type(error)):
        get(http, interpret)
    assert route.call_count == 1
    assert http.stats.retries == 0


def test_request_builder_runs_again_for_every_attempt(respx_mock, clock):
    route = respx_mock.post(URL).mock(side_effect=[httpx.Response(500), httpx.Response(200, json={})])
    built = []

    def build():
        built.append(len(built))
        return {"n": str(len(built))}

    make_http(clock).call("POST", URL, data=build, interpret=plain)
    assert [call.request.content for call in route.calls] == [b"n=1", b"n=2"]


# -- bodies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"code": 0, "data": [1, 2', b"<html><body>502 Bad Gateway</body></html>", b"", b"   "],
    ids=["truncated-json", "html", "empty", "blank"],
)
def test_malformed_body_is_transient_and_retried(respx_mock, clock, body):
    route = respx_mock.get(URL).mock(
        side_effect=[httpx.Response(200, content=body), httpx.Response(200, json={"ok": True})]
    )
    http = make_http(clock)
    assert get(http) == {"ok": True}
    assert route.call_count == 2
    assert http.stats.retries_by_reason == {"malformed": 1}


def test_malformed_body_every_time_gives_up_as_transient(respx_mock, clock):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(200, content=b"<html>"))
    with pytest.raises(TransientError, match="malformed"):
        get(make_http(clock, max_attempts=3))
    assert route.call_count == 3


def test_body_over_the_size_cap_is_refused_without_retry(respx_mock, clock):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(200, content=b"x" * 2048))
    with pytest.raises(PartitionError, match="exceeds the 1024 bytes limit") as caught:
        get(make_http(clock, max_body_bytes=1024))
    assert route.call_count == 1
    assert caught.value.retryable is False


def test_streamed_body_over_the_size_cap_is_refused(respx_mock, clock):
    def chunks():
        for _ in range(64):
            yield b"y" * 1024

    respx_mock.get(URL).mock(return_value=httpx.Response(200, content=chunks()))
    with pytest.raises(PartitionError, match="max_body_bytes=4096"):
        get(make_http(clock, max_body_bytes=4096))


def test_default_size_cap_is_20_mib(clock):
    assert make_http(clock).max_body_bytes == 20 * 1024 * 1024


def test_big_integer_ids_stay_exact(respx_mock, clock):
    respx_mock.get(URL).mock(
        return_value=httpx.Response(200, content=b'{"wareId": 10022660724067123456, "price": 1.5}')
    )
    body = get(make_http(clock))
    assert body["wareId"] == 10022660724067123456
    assert isinstance(body["wareId"], int)


def test_an_answer_nested_200000_levels_deep_fails_once_naming_its_depth(respx_mock, clock):
    deep = b'{"data":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    route = respx_mock.get(URL).mock(return_value=httpx.Response(200, content=deep))
    with pytest.raises(PartitionError, match="nested 200,001 levels deep") as caught:
        get(make_http(clock))
    assert route.call_count == 1
    assert caught.value.retryable is False


def test_numbers_keep_the_text_they_were_sent_in(respx_mock, clock):
    respx_mock.get(URL).mock(return_value=httpx.Response(200, content=b'{"price": 899.00, "big": 1e400}'))
    body = get(make_http(clock))
    assert (body["price"].text, body["big"].text) == ("899.00", "1e400")
    assert body["price"] == 899.0  # and compare as the float Python's json would have made


# -- HTTP status without an envelope -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthError), (403, AuthError), (404, ConfigError), (301, ConfigError), (400, PartitionError)],
)
def test_status_without_json_maps_to_its_scope(respx_mock, clock, status, error):
    route = respx_mock.get(URL).mock(return_value=httpx.Response(status, text="<html>nope</html>"))
    with pytest.raises(error):
        get(make_http(clock))
    assert route.call_count == 1


# -- transport errors and redaction ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.ConnectTimeout, "timeout"),
        (httpx.ConnectError, "connect"),
        (httpx.RemoteProtocolError, "transport"),
    ],
)
def test_transport_errors_are_retried_and_never_leak_the_url(respx_mock, clock, exc, reason):
    def boom(request):
        raise exc(f"failed talking to {request.url}", request=request)

    route = respx_mock.get(URL).mock(side_effect=boom)
    http = make_http(clock, max_attempts=3)
    with pytest.raises(TransientError) as caught:
        get(http)
    assert route.call_count == 3
    assert http.stats.retries_by_reason == {reason: 2}
    text = exception_texts(caught.value)
    assert "token=***" in text
    assert_no_secret(text)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


def test_invalid_url_is_a_config_error(clock):
    with pytest.raises(ConfigError, match="check the base URL") as caught:
        make_http(clock).call("GET", "ftp://x.test/a", params={"token": TOKEN}, interpret=plain)
    assert_no_secret(exception_texts(caught.value))


def test_interpreter_messages_are_redacted_on_the_way_out(respx_mock, clock):
    respx_mock.get(URL).mock(return_value=httpx.Response(200, json={}))

    def interpret(reply):
        raise PartitionError(f"echoing {TOKEN} and {reply.url}")

    with pytest.raises(PartitionError) as caught:
        get(make_http(clock), interpret)
    assert_no_secret(exception_texts(caught.value))


def test_log_records_never_carry_the_token(respx_mock, clock, caplog):
    caplog.set_level(logging.DEBUG)
    respx_mock.get(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200, json={})])
    get(make_http(clock))
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log the URL…
    assert any("retry 1/3" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert_no_secret(record.getMessage())  # …redacted
    assert_no_secret(caplog.text)


# -- rate limiter --------------------------------------------------------------------------------------


def test_rate_limiter_spaces_requests(respx_mock, clock):
    respx_mock.get(URL).mock(return_value=httpx.Response(200, json={}))
    http = make_http(clock, rps=2.0)
    for _ in range(4):
        get(http)
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_rate_limiter_is_shared_by_every_client_of_a_gateway(respx_mock, clock):
    respx_mock.get(URL).mock(return_value=httpx.Response(200, json={}))
    first, second = make_http(clock, rps=4.0), make_http(clock, rps=4.0)
    get(first)
    get(second)
    get(first)
    assert clock.sleeps == [0.25, 0.25]
    other_gateway = make_http(clock, rps=4.0, gateway="another")
    get(other_gateway)
    assert clock.sleeps == [0.25, 0.25]


def test_rate_limited_answer_holds_every_client_of_the_gateway(respx_mock, clock):
    respx_mock.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "5"}), httpx.Response(200, json={})]
    )
    with pytest.raises(RateLimitedError):
        get(make_http(clock, max_attempts=1))
    assert clock.waits == []
    get(make_http(clock))  # another client of the same gateway waits out the hold first
    assert clock.waits == [5.0]


def test_rate_limiter_reservations_are_thread_safe():
    limiter = RateLimiter(10.0)
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(25):
            wait = limiter.reserve(now=100.0)
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.1, 6) for i in range(200)]


def test_rate_limiter_refuses_a_non_positive_rate():
    with pytest.raises(ConfigError):
        RateLimiter(0)


def test_threads_sharing_a_client_are_spaced_by_the_rate(respx_mock):
    import time

    respx_mock.get(URL).mock(return_value=httpx.Response(200, json={}))
    http = GatewayHttp(
        "threaded",
        timeout_s=5.0,
        requests_per_second=100.0,
        retry=RetryPolicy(),
        secrets=(TOKEN,),
        stats=CallStats(),
    )
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [get(http) for _ in range(3)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 11 * 0.01 - 0.005  # 12 requests, 10 ms apart
    assert http.stats.requests == 12
