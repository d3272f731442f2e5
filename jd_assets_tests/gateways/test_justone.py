"""Token gateway client: the code table (scope and retries), comment paging, details polling with a
deadline, billing counts, and no token in any error or log line."""

from __future__ import annotations

import logging

import httpx
import pytest

from jd_assets.conventions import InvalidIdError
from jd_assets.errors import (
    AuthError,
    ConfigError,
    PartitionError,
    PendingDeadlineError,
    QuotaExhaustedError,
    RateLimitedError,
    RunStopError,
    TransientError,
)
from jd_assets.gateways.justone import JustOneResource

from .conftest import JUSTONE_URL, TOKEN, assert_no_secret, exception_texts

COMMENTS = JUSTONE_URL + "/api/jd/get-item-comments/v1"
DETAILS = JUSTONE_URL + "/api/jd/get-item-detail/v2"
ITEM = "100033031708"

# A comment as the seed's sample page shows it (000_18ef4518508def6c.txt), abbreviated.
SEED_COMMENT = {
    "userNickName": "-Yove",
    "commentId": "103822500168259942",
    "productId": ITEM,
    "buyCount": 2,
    "commentDate": "2026-03-09 15:21:20",
    "commentData": "真的很喜欢",
    "pictureInfoList": [
        {"picURL": "https://img30.360buyimg.com/a.jpg", "mediaType": "1", "liveShooting": "0"}
    ],
    "commentScore": "5",
    "guid": "T6NdMcV1jZwtdRyOWaORyXuD",
}


def envelope(code, data=None, message=None):
    return {"code": code, "data": data, "message": message, "recordTime": None, "requestId": "req-1"}


def comments_page(comments, max_page="3", now_page="1"):
    return envelope(0, {"data": comments, "pageInfo": {"maxPage": max_page, "nowPage": now_page}})


def comment(n: int) -> dict:
    return {**SEED_COMMENT, "commentId": str(103822500168259942 - n)}


def by_page(pages: dict[int, dict]):
    """A respx side effect answering each ``page`` query parameter from ``pages``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[int(request.url.params["page"])])

    return answer


# -- the code table ------------------------------------------------------------------------------------

CODE_CASES = [
    # code, error, calls made (max_attempts is 4 in these tests)
    (301, TransientError, 4),
    (500, TransientError, 4),
    (503, TransientError, 4),
    (302, RateLimitedError, 4),
    (400, PartitionError, 1),
    (404, PartitionError, 1),
    (202, PartitionError, 1),
    (100, AuthError, 1),
    (101, AuthError, 1),
    (600, AuthError, 1),
    (303, QuotaExhaustedError, 1),
    (601, QuotaExhaustedError, 1),
    (602, QuotaExhaustedError, 1),
    (777, PartitionError, 1),
]


@pytest.mark.parametrize(("code", "error", "calls"), CODE_CASES)
def test_each_code_maps_to_its_error_and_retry_behaviour(
    respx_mock, justone_resource, inject, code, error, calls
):
    route = respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=envelope(code, message="no")))
    client = justone_resource.open(**inject)
    with pytest.raises(error) as caught:
        client.comment_page(ITEM, 1)
    assert type(caught.value) is error
    assert route.call_count == calls
    assert client.stats.retries == calls - 1
    assert client.stats.billed_calls == 0
    assert caught.value.code == str(code)
    if issubclass(error, PartitionError):
        assert ITEM in str(caught.value)
    assert_no_secret(exception_texts(caught.value))


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (100, "token rejected (code 100): check JD_JUSTONE_TOKEN"),
        (303, "daily quota exceeded (code 303): wait for the quota to reset; what already landed is kept"),
        (602, "JD_JUSTONE_TOKEN"),
    ],
)
def test_run_stop_messages_say_what_to_do(respx_mock, justone_resource, inject, code, advice):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=envelope(code)))
    with pytest.raises(RunStopError, match=advice.replace("(", r"\(").replace(")", r"\)")):
        justone_resource.open(**inject).comment_page(ITEM, 1)


def test_unknown_code_fails_the_partition_naming_the_code(respx_mock, justone_resource, inject):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=envelope(4242, message="odd")))
    with pytest.raises(PartitionError, match=f"unknown code 4242 for item {ITEM}"):
        justone_resource.open(**inject).comment_page(ITEM, 1)


def test_code_302_is_retried_after_backoff(respx_mock, justone_resource, inject, clock):
    route = respx_mock.get(COMMENTS).mock(
        side_effect=[
            httpx.Response(200, json=envelope(302)),
            httpx.Response(200, json=comments_page([comment(1)], "1")),
        ]
    )
    client = justone_resource.open(**inject)
    assert client.comment_page(ITEM, 1).comments == [comment(1)]
    assert route.call_count == 2
    assert clock.waits == [0.5]
    assert client.stats.rate_limited == 1
    assert client.stats.billed_calls == 1


def test_http_429_retry_after_is_honoured(respx_mock, justone_resource, inject, clock):
    respx_mock.get(COMMENTS).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "9"}, text="slow down"),
            httpx.Response(200, json=comments_page([], "0")),
        ]
    )
    justone_resource.open(**inject).comment_page(ITEM, 1)
    assert clock.waits == [9.0]


def test_http_5xx_without_an_envelope_is_retried(respx_mock, justone_resource, inject):
    route = respx_mock.get(COMMENTS).mock(
        side_effect=[
            httpx.Response(502, text="<html>bad gateway</html>"),
            httpx.Response(200, json=comments_page([])),
        ]
    )
    justone_resource.open(**inject).comment_page(ITEM, 1)
    assert route.call_count == 2


def test_code_0_is_success_whatever_the_http_status(respx_mock, justone_resource, inject):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(500, json=comments_page([comment(1)], "1")))
    assert justone_resource.open(**inject).comment_page(ITEM, 1).comments == [comment(1)]


# -- comments paging -----------------------------------------------------------------------------------


def test_comment_request_carries_token_item_and_page(respx_mock, justone_resource, inject):
    route = respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=comments_page([])))
    justone_resource.open(**inject).comment_page(ITEM, 2)
    assert dict(route.calls.last.request.url.params) == {"token": TOKEN, "itemId": ITEM, "page": "2"}


def test_paging_stops_at_max_page(respx_mock, justone_resource, inject):
    pages = {n: comments_page([comment(10 * n + i) for i in range(10)], "3", str(n)) for n in (1, 2, 3, 4)}
    route = respx_mock.get(COMMENTS).mock(side_effect=by_page(pages))
    client = justone_resource.open(**inject)
    got = list(client.comment_pages(ITEM))
    assert [p.page for p in got] == [1, 2, 3]
    assert all(p.max_page == 3 for p in got)
    assert route.call_count == 3
    assert client.stats.pages == 3
    assert client.stats.billed_calls == 3


def test_paging_stops_at_an_empty_page(respx_mock, justone_resource, inject):
    pages = {1: comments_page([comment(1)], "100"), 2: comments_page([], "100", "2")}
    route = respx_mock.get(COMMENTS).mock(side_effect=by_page(pages))
    got = list(justone_resource.open(**inject).comment_pages(ITEM))
    assert [len(p.comments) for p in got] == [1, 0]
    assert route.call_count == 2


def test_caller_breaking_early_requests_no_further_page(respx_mock, justone_resource, inject):
    pages = {n: comments_page([comment(n)], "100", str(n)) for n in range(1, 5)}
    route = respx_mock.get(COMMENTS).mock(side_effect=by_page(pages))
    for page in justone_resource.open(**inject).comment_pages(ITEM, start_page=2):
        assert page.page == 2
        break
    assert route.call_count == 1


def test_comments_come_back_exactly_as_received(respx_mock, justone_resource, inject):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=comments_page([SEED_COMMENT], "1")))
    page = justone_resource.open(**inject).comment_page(ITEM, 1)
    assert page.comments == [SEED_COMMENT]
    assert (page.item_id, page.page, page.max_page) == (ITEM, 1, 1)


def test_comment_texts_are_the_answers_own_slices(respx_mock, justone_resource, inject):
    body = '{"code":0,"data":{"pageInfo":{"maxPage":"1"},"data":[ {"commentId":"1","price":899.00} ]}}'
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, content=body.encode()))
    page = justone_resource.open(**inject).comment_page(ITEM, 1)
    assert list(page.texts) == [('{"commentId":"1","price":899.00}', None)]


def test_clients_share_the_process_http_connection_pool_and_closing_one_keeps_it(
    respx_mock, justone_resource, inject
):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=comments_page([comment(1)], "1")))
    first, second = justone_resource.open(**inject), justone_resource.open(**inject)
    first.close()

    assert first._http._client is second._http._client  # one TLS context and pool per process
    assert second.comment_page(ITEM, 1).comments == [comment(1)]


@pytest.mark.parametrize("max_page", ["abc", "", "1.5", "-1", None])
def test_non_numeric_max_page_fails_the_partition(respx_mock, justone_resource, inject, max_page):
    route = respx_mock.get(COMMENTS).mock(
        return_value=httpx.Response(200, json=comments_page([comment(1)], max_page))
    )
    with pytest.raises(PartitionError, match=ITEM):
        justone_resource.open(**inject).comment_page(ITEM, 1)
    assert route.call_count == 1


def test_max_page_message_quotes_the_value(respx_mock, justone_resource, inject):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=comments_page([comment(1)], "abc")))
    with pytest.raises(PartitionError, match=f"maxPage 'abc' is not a number for item {ITEM}"):
        justone_resource.open(**inject).comment_page(ITEM, 1)


def test_item_without_comments_is_one_empty_page(respx_mock, justone_resource, inject):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=envelope(0, {"data": None})))
    got = list(justone_resource.open(**inject).comment_pages(ITEM))
    assert [(p.comments, p.max_page) for p in got] == [([], 0)]


@pytest.mark.parametrize("bad", ["12a", "../x", "", "1" * 21, 1.0])
def test_invalid_item_id_is_refused_before_any_request(respx_mock, justone_resource, inject, bad):
    route = respx_mock.get(COMMENTS)
    client = justone_resource.open(**inject)
    with pytest.raises(InvalidIdError):
        client.comment_page(bad, 1)
    with pytest.raises(InvalidIdError):
        client.item_detail(bad)
    assert route.call_count == 0


# -- details -------------------------------------------------------------------------------------------

READY = {"itemId": ITEM, "title": "洗面奶", "price": "59.90", "skuId": 10022660724067123456}


def pending(status="PENDING"):
    return envelope(0, {"taskStatus": status, "taskId": "task-1"})


def test_pending_details_are_polled_until_ready(respx_mock, justone_resource, inject, clock):
    route = respx_mock.get(DETAILS).mock(
        side_effect=[
            httpx.Response(200, json=pending()),
            httpx.Response(200, json=pending("running")),
            httpx.Response(200, json=envelope(0, READY)),
        ]
    )
    client = justone_resource.open(**inject)
    detail = client.item_detail(ITEM)
    assert detail.payload == READY
    assert detail.payload["skuId"] == 10022660724067123456
    assert detail.polls == 3
    assert route.call_count == 3
    assert client.stats.billed_calls == 3  # every code-0 answer is billed, pending ones too
    assert clock.waits == [3.0, 3.0]
    assert dict(route.calls.last.request.url.params) == {"token": TOKEN, "itemId": ITEM}


@pytest.mark.parametrize(
    "not_ready",
    [
        {"taskId": "task-1", "status": "PENDING"},
        {"taskId": "task-1", "state": "processing", "progress": 40},
        {"taskId": "task-1"},
        {"task_id": "task-1", "message": "任务处理中"},
    ],
    ids=["status", "state and progress", "a task id alone", "task_id and a message"],
)
def test_a_pending_task_in_another_shape_is_polled_not_returned(
    not_ready, respx_mock, justone_resource, inject, clock
):
    """Seed 001 says only that the answer "returns a pending task status": any payload whose status says
    so, or that holds nothing but a task's bookkeeping, is polled again (assumption, docs/GATEWAYS.md)."""
    route = respx_mock.get(DETAILS).mock(
        side_effect=[
            httpx.Response(200, json=envelope(0, not_ready)),
            httpx.Response(200, json=envelope(0, READY)),
        ]
    )
    detail = justone_resource.open(**inject).item_detail(ITEM)
    assert (detail.payload, detail.polls, route.call_count) == (READY, 2, 2)


def test_a_finished_task_that_keeps_its_id_and_status_beside_the_product_is_ready(
    respx_mock, justone_resource, inject, clock
):
    finished = {"taskId": "task-1", "taskStatus": "SUCCESS", **READY}
    route = respx_mock.get(DETAILS).mock(return_value=httpx.Response(200, json=envelope(0, finished)))
    detail = justone_resource.open(**inject).item_detail(ITEM)
    assert (detail.payload, detail.polls, route.call_count) == (finished, 1, 1)


def test_pending_poll_waits_double_from_the_first_up_to_the_longest(
    respx_mock, justone_resource, inject, clock
):
    respx_mock.get(DETAILS).mock(
        side_effect=[httpx.Response(200, json=pending())] * 5 + [httpx.Response(200, json=envelope(0, READY))]
    )
    resource = justone_resource.model_copy(
        update={"details_first_poll_s": 0.5, "details_poll_interval_s": 4.0}
    )

    detail = resource.open(**inject).item_detail(ITEM)

    assert detail.polls == 6
    assert clock.waits == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_ready_details_at_first_call_take_one_poll(respx_mock, justone_resource, inject, clock):
    respx_mock.get(DETAILS).mock(return_value=httpx.Response(200, json=envelope(0, READY)))
    detail = justone_resource.open(**inject).item_detail(ITEM)
    assert (detail.item_id, detail.polls) == (ITEM, 1)
    assert clock.waits == []


def test_details_still_pending_at_the_deadline_fail_the_partition(
    respx_mock, justone_resource, inject, clock
):
    route = respx_mock.get(DETAILS).mock(return_value=httpx.Response(200, json=pending()))
    client = justone_resource.open(**inject)  # poll every 3 s, deadline 30 s
    with pytest.raises(PendingDeadlineError, match=f"item {ITEM} still pending") as caught:
        client.item_detail(ITEM)
    assert caught.value.retryable is True
    assert route.call_count == 11  # at 0, 3, ..., 30 s: no poll is started after the deadline
    assert client.stats.billed_calls == 11
    assert clock.waits == [3.0] * 10
    assert clock.now - clock.start <= 30.0


def test_failed_details_task_is_retried_like_collection_failed(respx_mock, justone_resource, inject):
    route = respx_mock.get(DETAILS).mock(
        side_effect=[
            httpx.Response(200, json=envelope(0, {"taskStatus": "FAILED", "taskId": "t"})),
            httpx.Response(200, json=envelope(0, READY)),
        ]
    )
    client = justone_resource.open(**inject)
    assert client.item_detail(ITEM).payload == READY
    assert route.call_count == 2
    assert client.stats.retries_by_reason == {"task_failed": 1}


def test_details_code_0_without_data_is_retried(respx_mock, justone_resource, inject):
    route = respx_mock.get(DETAILS).mock(
        side_effect=[
            httpx.Response(200, json=envelope(0, None)),
            httpx.Response(200, json=envelope(0, READY)),
        ]
    )
    assert justone_resource.open(**inject).item_detail(ITEM).payload == READY
    assert route.call_count == 2


def test_details_use_their_own_timeout(respx_mock, justone_resource, inject):
    route = respx_mock.get(DETAILS).mock(return_value=httpx.Response(200, json=envelope(0, READY)))
    justone_resource.open(**inject).item_detail(ITEM)
    assert route.calls.last.request.extensions["timeout"]["read"] == 120.0


# -- configuration and secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("token", "", "JD_JUSTONE_TOKEN"),
        ("token", "   ", "JD_JUSTONE_TOKEN"),
        ("base_url", "", "JD_JUSTONE_BASE_URL"),
    ],
)
def test_missing_setting_is_a_config_error_naming_the_variable(field, value, variable):
    settings = {"token": TOKEN, **{field: value}}
    with pytest.raises(ConfigError, match=f"{variable} is not set"):
        JustOneResource(**settings).open()


def test_defaults_point_at_the_real_gateway_with_the_documented_timeouts():
    resource = JustOneResource(token=TOKEN)
    assert resource.base_url == "https://api.justoneapi.com"
    assert (resource.comments_timeout_s, resource.details_timeout_s) == (60.0, 120.0)


def test_token_never_appears_in_exception_text(respx_mock, justone_resource, inject):
    def boom(request):
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    respx_mock.get(COMMENTS).mock(side_effect=boom)
    respx_mock.get(DETAILS).mock(return_value=httpx.Response(200, json=envelope(100, message=f"bad {TOKEN}")))
    client = justone_resource.open(**inject)
    with pytest.raises(TransientError) as transient:
        client.comment_page(ITEM, 1)
    with pytest.raises(AuthError) as auth:
        client.item_detail(ITEM)
    for caught in (transient, auth):
        assert_no_secret(exception_texts(caught.value))
        assert_no_secret(repr(caught.value.args))


def test_token_never_appears_in_log_records(respx_mock, justone_resource, inject, caplog):
    caplog.set_level(logging.DEBUG)
    respx_mock.get(COMMENTS).mock(
        side_effect=[httpx.Response(200, json=envelope(301)), httpx.Response(200, json=comments_page([]))]
    )
    justone_resource.open(**inject).comment_page(ITEM, 1)
    assert caplog.records
    assert_no_secret(caplog.text)


def test_client_is_a_context_manager(respx_mock, justone_resource, inject):
    respx_mock.get(COMMENTS).mock(return_value=httpx.Response(200, json=comments_page([])))
    with justone_resource.open(**inject) as client:
        client.comment_page(ITEM, 1)
    assert client.stats.as_metadata()["requests"] == 1
