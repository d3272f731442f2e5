"""The one HTTP layer every gateway client stands on: retries, rate limit, timeouts, size cap, redaction.

A gateway client builds a request and an ``interpret`` function that turns a ``Reply`` into a value or
raises a typed error (jd_assets.errors); ``GatewayHttp.call`` owns everything else:

- the gateway's rate limiter (jd_assets.http.limiter, shared by every run on the machine that uses the
  same credentials, when the resource builds the client), before every attempt;
- the timeout (per client, overridable per call);
- the response size cap: the body is streamed and refused past ``max_body_bytes`` (default 20 MiB)
  with a PartitionError: a bigger answer is not something retrying fixes;
- the retry loop: ``TransientError`` (timeouts, connection errors, HTTP 5xx, malformed bodies, the
  gateways' "try again" codes) and ``RateLimitedError`` are retried up to ``RetryPolicy.max_attempts``
  attempts in all, with exponential backoff and full jitter; a ``Retry-After`` answer holds the whole
  gateway (every thread) for that long instead. Everything else (partition and run errors) propagates
  at once: retrying cannot help. ``PendingError`` is not retried here either: polling a task has its
  own interval and deadline, which the client that polls owns;
- redaction: every message that leaves this layer is redacted by parameter name and by the literal
  secrets of the client; httpx exceptions (their text carries the full URL) never escape, not even as
  an exception's ``__context__``;
- JSON parsing (jd_assets.http.jsontext): integers of any size stay exact, every other number keeps the
  text it was sent in, ``NaN``/``Infinity`` are marked as not JSON, and an answer nested too deeply to
  parse fails once (PartitionError naming the depth) instead of being retried as "not JSON".
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from jd_assets.errors import (
    AuthError,
    ConfigError,
    GatewayError,
    PartitionError,
    PendingError,
    RateLimitedError,
    TransientError,
)
from jd_assets.http import jsontext
from jd_assets.http.limiter import RateLimiter, shared_limiter
from jd_assets.http.redaction import KNOWN_SECRETS, redact

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "CallStats",
    "GatewayHttp",
    "Reply",
    "RetryPolicy",
    "error_for_code",
    "int_code",
    "redact",
]

T = TypeVar("T")
log = logging.getLogger("jd_assets.http")

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 20 * MIB
USER_AGENT = "jd_assets/0.1 (+httpx)"

ParamsArg = Mapping[str, str] | Callable[[], Mapping[str, str]] | None


@dataclass
class RetryPolicy:
    """Bounded retries: ``max_attempts`` attempts in all (1 = no retry), backoff with full jitter.

    The n-th retry waits a uniform random time in ``[0, min(backoff_max_s, backoff_base_s * 2**(n-1))]``.
    A ``Retry-After`` is honoured up to ``max_retry_after_s`` (a longer one is capped, and the attempt
    budget still bounds the total).
    """

    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ConfigError("backoff_base_s and backoff_max_s must be >= 0")

    def backoff_cap(self, retry_number: int) -> float:
        """The upper bound of the wait before retry number ``retry_number`` (1-based)."""
        exponent = min(retry_number - 1, 62)
        return min(self.backoff_max_s, self.backoff_base_s * (2.0**exponent))


@dataclass
class CallStats:
    """What one client instance did; ``as_metadata()`` gives flat integers for Dagster metadata.

    ``requests`` counts HTTP attempts sent; ``retries`` the attempts repeated (by reason in
    ``retries_by_reason``); ``billed_calls`` the answers the gateway charges for (the client decides);
    ``rate_limited`` the rate-limited answers received; ``pages`` the list pages returned (comment
    pages, order-search pages; single-record lookups are not pages).
    """

    requests: int = 0
    retries: int = 0
    retries_by_reason: Counter = field(default_factory=Counter)
    billed_calls: int = 0
    rate_limited: int = 0
    pages: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Increment counters by name, thread-safely: ``stats.add(pages=1, billed_calls=1)``."""
        with self._lock:
            for name, value in counts.items():
                if name.startswith("_") or name == "retries_by_reason" or not hasattr(self, name):
                    raise AttributeError(f"CallStats has no counter {name!r}")
                setattr(self, name, getattr(self, name) + value)

    def add_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retries_by_reason[reason] += 1

    def as_metadata(self) -> dict[str, int]:
        with self._lock:
            out = {
                "requests": self.requests,
                "retries": self.retries,
                "billed_calls": self.billed_calls,
                "rate_limited": self.rate_limited,
                "pages": self.pages,
            }
            for reason, count in sorted(self.retries_by_reason.items()):
                out[f"retries_{reason}"] = int(count)
            return out


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (relative to ``now``, epoch s)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, fully read (within the size cap); ``url`` is already redacted."""

    gateway: str
    method: str
    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes
    received_at: float  # wall clock, epoch seconds (for an HTTP-date Retry-After)

    def describe(self) -> str:
        return f"{self.gateway}: {self.method} {self.url} -> HTTP {self.status_code}"

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"), now=self.received_at)

    def status_error(self) -> GatewayError | None:
        """The error the HTTP status alone implies, for an answer without a recognisable envelope.

        429 → RateLimitedError; 5xx and 408 → TransientError; 401/403 → AuthError; 404/405 and
        redirects → ConfigError (the base URL is wrong); other 4xx → PartitionError; 2xx → None.
        """
        status = self.status_code
        where = self.describe()
        if status == 429:
            return RateLimitedError(
                f"rate limited (HTTP 429): {where}",
                gateway=self.gateway,
                code=429,
                retry_after=self.retry_after,
            )
        if status >= 500 or status == 408:
            return TransientError(f"server error: {where}", gateway=self.gateway, reason=f"http_{status}")
        if status in (401, 403):
            return AuthError(f"credentials rejected: {where}", gateway=self.gateway, code=status)
        if status in (404, 405) or 300 <= status < 400:
            return ConfigError(
                f"no such endpoint: {where}; check the gateway's base URL", gateway=self.gateway, code=status
            )
        if status >= 400:
            return PartitionError(f"request refused: {where}", gateway=self.gateway, code=status)
        return None

    def json(self) -> Any:
        """The body parsed as JSON (numbers as received, see jsontext). Not JSON → the status error, else
        a TransientError; nested too deeply to parse → a PartitionError naming the depth (not retried)."""
        try:
            parsed, ok = _loads(self.content)
        except jsontext.TooDeepError as err:
            raise PartitionError(
                f"malformed body ({err}, more than can be parsed; not retried): {self.describe()}",
                gateway=self.gateway,
            ) from None
        if ok:
            return parsed
        error = self.status_error()
        if error is not None:
            raise error
        head = self.content[:40].decode("utf-8", "replace").replace("\n", " ")
        raise TransientError(
            f"malformed body (not JSON, {len(self.content)} bytes, starts {head!r}): {self.describe()}",
            gateway=self.gateway,
            reason="malformed",
        )

    def unexpected(self, what: str) -> GatewayError:
        """The error for a JSON answer of the wrong shape: the status error if any, else malformed."""
        return self.status_error() or TransientError(
            f"unexpected answer ({what}): {self.describe()}", gateway=self.gateway, reason="malformed"
        )


CodeTable = Mapping[Any, tuple[type[GatewayError], str]]


def int_code(value: object) -> int | None:
    """An envelope's business code as an int (JSON int or digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def error_for_code(
    table: CodeTable, code: Any, reply: Reply, *, subject: str, said: object = None, **fmt: str
) -> GatewayError:
    """The typed error a gateway's code table gives ``code``; an unknown code fails the partition.

    ``table`` maps code → (error class, message template); templates are formatted with ``fmt``.
    ``subject`` names what was asked for (an item, a window); ``said`` is the gateway's own text.
    Retryable errors also name the (redacted) request; a RateLimitedError carries ``Retry-After``.
    """
    said_text = f" (gateway says: {str(said)[:200]})" if said else ""
    entry = table.get(code)
    if entry is None:
        return PartitionError(
            f"unknown code {code} for {subject}{said_text}: {reply.describe()}",
            gateway=reply.gateway,
            code=code,
        )
    cls, template = entry
    text = template.format(**fmt) + said_text
    if issubclass(cls, RateLimitedError):
        return cls(
            f"{text}: {reply.describe()}", gateway=reply.gateway, code=code, retry_after=reply.retry_after
        )
    if issubclass(cls, TransientError):
        return cls(f"{text}: {reply.describe()}", gateway=reply.gateway, code=code)
    return cls(text, gateway=reply.gateway, code=code)


def _loads(content: bytes) -> tuple[Any, bool]:
    if not content.strip():
        return None, False
    try:
        return jsontext.loads(content), True
    except jsontext.TooDeepError:
        raise
    except ValueError:
        return None, False


class GatewayHttp:
    """One per client instance: the process's httpx.Client, the gateway's shared limiter, retries, redaction.

    Args:
        gateway: the gateway's name; it keys the process-wide rate limiter ("justone", "jos", "fengchao").
        timeout_s: default timeout of a call (connect, read, write, pool), overridable per call.
        requests_per_second: the gateway's rate (the shared limiter takes the most recent setting).
        retry: the retry policy.
        secrets: literal secret values to redact wherever they appear.
        stats: where requests, retries and rate-limited answers are counted.
        sleep, clock, wall_clock, rng: injectable for tests (``clock`` is monotonic, ``wall_clock`` epoch).
        transport: an httpx transport (tests); the default is httpx's.
        max_body_bytes: the response size cap.
        limiter: a limiter to use instead of the shared one (tests).
    """

    def __init__(
        self,
        gateway: str,
        *,
        timeout_s: float,
        requests_per_second: float,
        retry: RetryPolicy,
        secrets: Iterable[str],
        stats: CallStats,
        sleep: Callable[[float], object] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        limiter: RateLimiter | None = None,
    ):
        if not timeout_s > 0:
            raise ConfigError(f"{gateway}: timeout must be > 0 seconds, got {timeout_s!r}")
        if max_body_bytes < 1:
            raise ConfigError(f"{gateway}: max_body_bytes must be >= 1, got {max_body_bytes!r}")
        self.gateway = gateway
        self.timeout_s = float(timeout_s)
        self.retry = retry
        self.secrets: tuple[str, ...] = tuple(s for s in secrets if s)
        KNOWN_SECRETS.add(self.secrets)
        self.stats = stats
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.max_body_bytes = int(max_body_bytes)
        self._rng = rng or random.Random()
        self._limiter = limiter or shared_limiter(gateway, requests_per_second)
        # A test's transport gets a client of its own; every other client shares the process's one.
        self._own_client = _new_client(transport) if transport is not None else None
        self._client = self._own_client or _process_client()

    # -- public -------------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def call(
        self,
        method: str,
        url: str,
        *,
        params: ParamsArg = None,
        data: ParamsArg = None,
        timeout_s: float | None = None,
        interpret: Callable[[Reply], T],
    ) -> T:
        """Send until ``interpret`` returns, a non-retryable error is raised, or attempts run out.

        ``params`` (query) and ``data`` (form body) may be callables: they are then built again for
        every attempt (a signed request whose timestamp must be fresh).
        """
        attempts = self.retry.max_attempts
        attempt = 0
        while True:
            attempt += 1
            self._limiter.acquire(self.clock, self.sleep)
            failure: TransientError | None = None
            try:
                reply = self._send(method, url, _resolve(params), _resolve(data), timeout_s)
                return interpret(reply)
            except PendingError as exc:
                raise self._scrub(exc) from None
            except TransientError as exc:
                failure = exc
            except GatewayError as exc:
                raise self._scrub(exc) from None
            # Outside the except blocks: whatever is raised from here carries no httpx context.
            assert failure is not None
            failure = self._scrub(failure)
            delay = self._delay(failure, attempt)
            if isinstance(failure, RateLimitedError):
                # Slow the whole gateway down, not just this request: every next acquire waits.
                self.stats.add(rate_limited=1)
                self._limiter.hold(delay, self.clock())
            if attempt >= attempts:
                failure.args = (f"{failure.args[0]} (gave up after {attempt} attempts)", *failure.args[1:])
                failure.attempts = attempt  # type: ignore[attr-defined]
                raise failure
            self.stats.add_retry(failure.reason)
            log.warning(
                "%s",
                self.redact(
                    f"{failure} — retry {attempt}/{attempts - 1} in {delay:.2f} s (reason {failure.reason})"
                ),
            )
            if not isinstance(failure, RateLimitedError) and delay > 0:
                self.sleep(delay)

    def close(self) -> None:
        """Close this client's own httpx client; the process-wide one stays open for the next client."""
        if self._own_client is not None:
            self._own_client.close()

    def __enter__(self) -> GatewayHttp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------------

    def _delay(self, failure: TransientError, attempt: int) -> float:
        retry_after = getattr(failure, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.retry.max_retry_after_s)
        return self._rng.uniform(0.0, self.retry.backoff_cap(attempt))

    def _scrub(self, exc: GatewayError) -> GatewayError:
        """Redact every argument of an error that is about to leave the layer."""
        exc.args = tuple(self.redact(str(a)) if isinstance(a, str) else a for a in exc.args)
        if not exc.gateway:
            exc.gateway = self.gateway
        return exc

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        timeout_s: float | None,
    ) -> Reply:
        timeout = httpx.Timeout(timeout_s if timeout_s is not None else self.timeout_s)
        error: GatewayError | None = None
        shown = self.redact(_display_url(url, params))
        self.stats.add(requests=1)
        try:
            with self._client.stream(method, url, params=params, data=data, timeout=timeout) as response:
                shown = self.redact(str(response.request.url))
                body = self._read_capped(response, method, shown)
                return Reply(
                    gateway=self.gateway,
                    method=method,
                    url=shown,
                    status_code=response.status_code,
                    headers=response.headers,
                    content=body,
                    received_at=self.wall_clock(),
                )
        except httpx.TimeoutException as exc:
            error = TransientError(
                f"{self.gateway}: {type(exc).__name__} after {timeout.read or self.timeout_s:g} s: "
                f"{method} {shown}",
                gateway=self.gateway,
                reason="timeout",
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            error = ConfigError(
                f"{self.gateway}: invalid gateway URL {shown} ({self.redact(str(exc))}); check the base URL",
                gateway=self.gateway,
            )
        except httpx.ConnectError as exc:
            error = TransientError(
                f"{self.gateway}: cannot connect ({self.redact(str(exc))}): {method} {shown}",
                gateway=self.gateway,
                reason="connect",
            )
        except httpx.HTTPError as exc:  # other transport and protocol errors (e.g. a truncated answer)
            error = TransientError(
                f"{self.gateway}: {type(exc).__name__} ({self.redact(str(exc))}): {method} {shown}",
                gateway=self.gateway,
                reason="transport",
            )
        raise error

    def _read_capped(self, response: httpx.Response, method: str, shown: str) -> bytes:
        limit = self.max_body_bytes
        declared = response.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else 0
        chunks: list[bytes] = []
        if size <= limit:
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
        if size > limit:
            raise PartitionError(
                f"{self.gateway}: response body exceeds the {_size(limit)} limit (max_body_bytes={limit}): "
                f"{method} {shown}; raise the limit if such an answer is expected",
                gateway=self.gateway,
            )
        return b"".join(chunks)


def _new_client(transport: httpx.BaseTransport | None = None) -> httpx.Client:
    # Timeouts are set per request (``_send``); the client holds only what every gateway shares.
    return httpx.Client(
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


_PROCESS_CLIENT: dict[int, httpx.Client] = {}
_PROCESS_CLIENT_GUARD = threading.Lock()


def _process_client() -> httpx.Client:
    """The process's one httpx client (thread-safe, pooled keep-alive connections).

    Building a client builds a TLS context (loading the CA bundle: 30-130 ms) and opens new connections;
    per partition that cost more than the HTTP calls of a daily refresh (bench/RESULTS.refresh.md). A
    forked child (a new pid) builds its own: connections are not shared across processes.
    """
    pid = os.getpid()
    with _PROCESS_CLIENT_GUARD:
        client = _PROCESS_CLIENT.get(pid)
        if client is None or client.is_closed:
            client = _PROCESS_CLIENT[pid] = _new_client()
        return client


def _resolve(value: ParamsArg) -> Mapping[str, str] | None:
    return value() if callable(value) else value


def _display_url(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    try:
        return str(httpx.URL(url, params=params))
    except Exception:
        return url


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n % MIB == 0 else f"{n} bytes"
