"""Token gateway ("Just One API"): product comments v1 (paged) and product details v2 (task-backed).

What is this gateway's own, and nothing else (retries, rate limit, timeouts and redaction are the shared
layer's, jd_assets.http.layer):
- auth: the token is a query parameter (``?token=…``), redacted wherever a URL is shown;
- the envelope ``{"code", "data", "message", "recordTime", "requestId"}``: success is ``code == 0``
  whatever the HTTP status; every code-0 answer is billed (counted in ``stats.billed_calls``),
  including the pending answers of a details task;
- the code table of docs/GATEWAYS.md §1 (``CODES`` below, the one place it lives);
- comment paging (``data.pageInfo.maxPage``/``nowPage`` arrive as strings) and details polling.

Details v2 pending (**assumption**, docs/GATEWAYS.md §1; seed 001 says only that "the response returns a
pending task status"): ``code == 0`` with ``data`` whose task status (``taskStatus``, else ``status`` or
``state``) is PENDING, RUNNING or a like word, or whose every field is task bookkeeping (a task id, a
status, a progress: nothing about a product), means "not ready"; asking again for the same item polls the
same task. A finished payload may carry its task's id and a SUCCESS status beside the product: it is ready.
A pending payload is never returned: the client polls again after ``details_first_poll_s``, doubling the
wait up to ``details_poll_interval_s`` (quick tasks are picked up at once, slow ones are not hammered,
and every poll is billed), until ``details_deadline_s``; then it raises PendingDeadlineError (the
partition fails; a later run may succeed).
A task status of FAILED/ERROR is treated like code 301 (collection failed: retried, bounded).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pydantic import Field

from jd_assets.conventions import require_jd_id
from jd_assets.errors import (
    AuthError,
    GatewayError,
    PartitionError,
    PendingDeadlineError,
    QuotaExhaustedError,
    RateLimitedError,
    TransientError,
)
from jd_assets.http import jsontext
from jd_assets.http.layer import CallStats, GatewayHttp, Reply, error_for_code, int_code
from jd_assets.http.resource import GatewayResource

log = logging.getLogger(__name__)

GATEWAY = "justone"
COMMENTS_PATH = "/api/jd/get-item-comments/v1"
DETAILS_PATH = "/api/jd/get-item-detail/v2"
TOKEN_ENV = "JD_JUSTONE_TOKEN"

_KEEP = "what already landed is kept"

# docs/GATEWAYS.md §1: business code → (error class, message). ``{item}`` is the item id. Code 0 is success;
# a code not in this table fails the partition (not retried), naming the code.
CODES: Mapping[int, tuple[type[GatewayError], str]] = {
    301: (TransientError, "collection failed (code 301) for item {item}"),
    302: (RateLimitedError, "rate limit exceeded (code 302)"),
    500: (TransientError, "internal server error (code 500) for item {item}"),
    503: (TransientError, "service unavailable (code 503) for item {item}"),
    400: (PartitionError, "invalid parameters (code 400) for item {item}"),
    404: (PartitionError, "item {item} not found (code 404)"),
    202: (PartitionError, "product not supported (code 202): item {item}"),
    100: (AuthError, f"token rejected (code 100): check {TOKEN_ENV}"),
    101: (AuthError, f"token not authorised (code 101): check {TOKEN_ENV}"),
    600: (AuthError, f"permission denied (code 600): the token in {TOKEN_ENV} may not call this API"),
    303: (QuotaExhaustedError, f"daily quota exceeded (code 303): wait for the quota to reset; {_KEEP}"),
    601: (QuotaExhaustedError, f"insufficient balance (code 601): top up the account; {_KEEP}"),
    602: (
        QuotaExhaustedError,
        f"token budget exceeded (code 602): raise the budget of the token in {TOKEN_ENV}; {_KEEP}",
    ),
}

#: JD serves the newest 100 pages of 10 comments; a crawl never asks for more (docs/GATEWAYS.md §1).
MAX_COMMENT_PAGES = 100

# The details task's bookkeeping (assumption: the pending payload is not published; see the docstring).
TASK_STATUS_FIELDS = ("taskStatus", "status", "state")
TASK_ID_FIELDS = frozenset({"taskId", "task_id"})
TASK_FIELDS = TASK_ID_FIELDS | set(TASK_STATUS_FIELDS) | {"progress", "message", "msg", "retryAfter"}
PENDING_STATUSES = frozenset({"PENDING", "RUNNING", "PROCESSING", "QUEUED", "WAITING", "SUBMITTED"})
FAILED_STATUSES = frozenset({"FAILED", "FAILURE", "ERROR"})


@dataclass(frozen=True)
class CommentPage:
    """One page of an item's comments, newest first; ``comments`` exactly as received."""

    item_id: str
    page: int
    max_page: int
    comments: list[dict]
    stop: str | None = None
    """Set by ``comment_pages`` on the page after which paging ends: why it ends there."""
    texts: jsontext.Texts | None = None
    """Each comment's JSON text cut out of the answer as sent, with what makes it not JSON (or None);
    None when it could not be cut out (jsontext.array_texts): the landing writes ``comments`` then."""


@dataclass(frozen=True)
class ItemDetail:
    """An item's ready details: ``payload`` is the ``data`` object as received.

    ``polls`` is how many code-0 (billed) answers the task took, the ready one included (1 = ready at
    the first call).
    """

    item_id: str
    payload: dict
    polls: int


class JustOneResource(GatewayResource):
    """Token gateway (comments v1, details v2). Token from ``JD_JUSTONE_TOKEN``, base URL from
    ``JD_JUSTONE_BASE_URL``.

    The documented timeout advice is at least 60 s for comments and 120 s for details (a task may take
    that long before answering). The rate limit (``requests_per_second``) holds for every client of
    this gateway and token on the machine, all runs together. Details are billed per call, pending polls
    included.
    """

    ENV_VARS: ClassVar[Mapping[str, str]] = {"base_url": "JD_JUSTONE_BASE_URL", "token": TOKEN_ENV}

    base_url: str = Field(default="https://api.justoneapi.com", description="Gateway base URL.")
    token: str = Field(description=f"API token ({TOKEN_ENV}); sent as a query parameter, never logged.")
    comments_timeout_s: float = Field(
        default=60.0, description="Timeout of a comments call (>= 60 s advised)."
    )
    details_timeout_s: float = Field(default=120.0, description="Timeout of a details call (120 s advised).")
    details_first_poll_s: float = Field(
        default=0.5, description="First wait before polling a pending details task again, seconds."
    )
    details_poll_interval_s: float = Field(
        default=8.0, description="Longest wait between polls of a pending details task (the wait doubles)."
    )
    details_deadline_s: float = Field(
        default=300.0, description="Give up on a pending details task after this many seconds."
    )

    def open(self, **overrides: Any) -> JustOneClient:
        """A client (also a context manager). ``overrides`` inject test doubles into the HTTP layer
        (``sleep``, ``clock``, ``transport``, ``rng``, ...)."""
        token = self.required("token")
        base_url = self.required_url("base_url")
        stats = CallStats()
        http = self.build_http(
            GATEWAY, timeout_s=self.comments_timeout_s, secrets=(token,), stats=stats, **overrides
        )
        return JustOneClient(
            http,
            base_url=base_url,
            token=token,
            comments_timeout_s=self.comments_timeout_s,
            details_timeout_s=self.details_timeout_s,
            first_poll_s=self.details_first_poll_s,
            poll_interval_s=self.details_poll_interval_s,
            deadline_s=self.details_deadline_s,
        )


class JustOneClient:
    """Calls the token gateway through the shared HTTP layer; see the module docstring."""

    def __init__(
        self,
        http: GatewayHttp,
        *,
        base_url: str,
        token: str,
        comments_timeout_s: float = 60.0,
        details_timeout_s: float = 120.0,
        first_poll_s: float = 0.5,
        poll_interval_s: float = 8.0,
        deadline_s: float = 300.0,
    ):
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._comments_timeout_s = comments_timeout_s
        self._details_timeout_s = details_timeout_s
        self._first_poll_s = max(0.0, min(first_poll_s, poll_interval_s))
        self._poll_interval_s = max(0.0, poll_interval_s)
        self._deadline_s = max(0.0, deadline_s)

    @property
    def stats(self) -> CallStats:
        return self._http.stats

    # -- comments -----------------------------------------------------------------------------------

    def comment_page(self, item_id: str, page: int) -> CommentPage:
        """One page (1-based) of the item's comments.

        Raises:
            PartitionError: the item is invalid, unknown or unsupported, or ``maxPage`` is not a number.
            RunStopError: token, permission, quota, balance or budget problems.
            TransientError: still failing after the retry budget.
        """
        item_id = require_jd_id("item id", item_id)
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ValueError(f"page must be an int >= 1, got {page!r}")
        data, reply = self._http.call(
            "GET",
            self._base_url + COMMENTS_PATH,
            params={"token": self._token, "itemId": item_id, "page": str(page)},
            timeout_s=self._comments_timeout_s,
            interpret=lambda reply: (self._envelope_data(reply, item_id), reply),
        )
        result = _comment_page(data, item_id, page)
        texts = jsontext.array_texts(reply.content, ("data", "data")) if result.comments else None
        self.stats.add(pages=1)
        if texts is None or len(texts) != len(result.comments):
            return result
        return replace(result, texts=texts)

    def comment_pages(
        self, item_id: str, *, start_page: int = 1, max_pages: int = MAX_COMMENT_PAGES
    ) -> Iterator[CommentPage]:
        """Pages from ``start_page``, newest first, bounded whatever the gateway answers.

        Paging ends after the page whose ``stop`` says why: ``maxPage`` reached, an empty page, JD's
        100-page limit (``max_pages``), or a page that brought no comment not seen on an earlier page (a
        gateway repeating itself would otherwise be crawled, and billed, forever). The caller stops
        earlier (at its high-water mark) by breaking out of the loop: no further page is requested then.
        """
        page = start_page
        seen: set[str] = set()
        while True:
            result = self.comment_page(item_id, page)
            keys = {_comment_key(c) for c in result.comments}
            if not result.comments:
                stop = f"page {page} was empty"
            elif page >= result.max_page:
                stop = f"last page (maxPage {result.max_page})"
            elif not keys - seen:
                stop = f"page {page} brought no new comment id (the gateway repeats itself)"
            elif page - start_page + 1 >= max_pages:
                stop = f"page limit: JD serves at most {max_pages} pages (maxPage said {result.max_page})"
            else:
                stop = None
            seen |= keys
            yield replace(result, stop=stop)
            if stop:
                return
            page += 1

    # -- details ------------------------------------------------------------------------------------

    def item_detail(self, item_id: str) -> ItemDetail:
        """The item's ready details, polling a pending task until ``details_deadline_s``.

        Raises:
            PendingDeadlineError: still pending at the deadline (names the item; retryable later).
            PartitionError / RunStopError / TransientError: as for comments.
        """
        item_id = require_jd_id("item id", item_id)
        clock, sleep = self._http.clock, self._http.sleep
        started = clock()
        polls = 0
        wait = self._first_poll_s
        while True:
            data = self._http.call(
                "GET",
                self._base_url + DETAILS_PATH,
                params={"token": self._token, "itemId": item_id},
                timeout_s=self._details_timeout_s,
                interpret=lambda reply: self._detail_data(reply, item_id),
            )
            polls += 1
            if not is_pending(data):
                return ItemDetail(item_id=item_id, payload=data, polls=polls)
            elapsed = clock() - started
            if elapsed + wait > self._deadline_s:
                raise PendingDeadlineError(
                    f"details of item {item_id} still pending after {polls} polls in {elapsed:.0f} s "
                    f"(deadline {self._deadline_s:g} s, task {str(data.get('taskId', '?'))[:40]}); "
                    "the partition can be retried later",
                    gateway=GATEWAY,
                )
            log.info(
                "details of item %s pending (%s, poll %d); polling again in %g s",
                item_id,
                task_status(data)[:20] or "no status",
                polls,
                wait,
            )
            if wait > 0:
                sleep(wait)
            wait = min(self._poll_interval_s, max(wait * 2, self._first_poll_s))

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JustOneClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- envelope -----------------------------------------------------------------------------------

    def _envelope_data(self, reply: Reply, item_id: str) -> Any:
        """``data`` of a code-0 answer (counted as billed), or the typed error its code maps to."""
        body = reply.json()
        code = int_code(body.get("code")) if isinstance(body, dict) else None
        if code is None:
            raise reply.unexpected("no integer 'code' in the envelope")
        if code == 0:
            self.stats.add(billed_calls=1)
            return body.get("data")
        raise error_for_code(
            CODES, code, reply, subject=f"item {item_id}", said=body.get("message"), item=item_id
        )

    def _detail_data(self, reply: Reply, item_id: str) -> dict:
        data = self._envelope_data(reply, item_id)
        if not isinstance(data, dict) or not data:
            raise TransientError(
                f"details of item {item_id}: code 0 without a data object: {reply.describe()}",
                gateway=GATEWAY,
                reason="malformed",
            )
        status = task_status(data)
        if status in FAILED_STATUSES:
            raise TransientError(
                f"details task of item {item_id} failed ({status}): {reply.describe()}",
                gateway=GATEWAY,
                reason="task_failed",
            )
        return data


def task_status(data: Mapping[str, Any]) -> str:
    """The details task's status, upper-cased: the first text among ``TASK_STATUS_FIELDS`` ("" if none)."""
    return next((data[field].upper() for field in TASK_STATUS_FIELDS if isinstance(data.get(field), str)), "")


def is_pending(data: Mapping[str, Any]) -> bool:
    """Whether a details ``data`` object is a not-ready task (the **assumption** of docs/GATEWAYS.md §1):
    a pending status, or nothing but a task's bookkeeping."""
    only_task = data.keys() <= TASK_FIELDS and not data.keys().isdisjoint(TASK_ID_FIELDS)
    return task_status(data) in PENDING_STATUSES or only_task


def _comment_page(data: Any, item_id: str, page: int) -> CommentPage:
    """Parse a comments ``data`` object: ``{"data": [...], "pageInfo": {"maxPage": "100", ...}}``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TransientError(
            f"comments of item {item_id} page {page}: data is not an object",
            gateway=GATEWAY,
            reason="malformed",
        )
    comments = data.get("data") or []
    if not isinstance(comments, list) or not all(isinstance(c, dict) for c in comments):
        raise TransientError(
            f"comments of item {item_id} page {page}: data.data is not a list of objects",
            gateway=GATEWAY,
            reason="malformed",
        )
    page_info = data.get("pageInfo") or {}
    raw = page_info.get("maxPage") if isinstance(page_info, dict) else None
    if raw is None:
        if comments:
            raise PartitionError(f"pageInfo.maxPage missing for item {item_id} page {page}", gateway=GATEWAY)
        max_page = 0
    else:
        max_page = _page_number(raw)
        if max_page is None:
            raise PartitionError(
                f"maxPage {str(raw)[:40]!r} is not a number for item {item_id} (page {page})", gateway=GATEWAY
            )
    return CommentPage(item_id=item_id, page=page, max_page=max_page, comments=comments)


def _comment_key(comment: dict) -> str:
    """What makes a comment new on this crawl: its commentId, else (an invalid record) its whole text."""
    comment_id = comment.get("commentId")
    if isinstance(comment_id, str | int) and not isinstance(comment_id, bool):
        return f"id:{comment_id}"
    return "record:" + json.dumps(comment, sort_keys=True, ensure_ascii=False, default=str)


def _page_number(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and raw.strip().isdigit() and raw.strip().isascii():
        return int(raw.strip())
    return None
