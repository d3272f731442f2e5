"""Typed gateway errors: each says how far a failure reaches and whether retrying can help.

The three scopes match the client actions of docs/GATEWAYS.md:
- a *request* failure is transient: the shared HTTP layer retries it (bounded, with backoff);
- a *partition* failure ends this partition (bad item id, unsupported product): retrying cannot help;
- a *run* failure ends the whole run (bad token, quota, balance, signature): retrying cannot help and
  every further call would fail the same way, so nothing else should be attempted.
Messages never carry secrets: they are built from redacted URLs only.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    REQUEST = "request"
    PARTITION = "partition"
    RUN = "run"


class GatewayError(Exception):
    """A failure talking to a JD gateway. ``retryable`` says whether trying again can help."""

    scope: Scope = Scope.REQUEST
    retryable: bool = True

    def __init__(self, message: str, *, gateway: str = "", code: str | int | None = None):
        super().__init__(message)
        self.gateway = gateway
        self.code = None if code is None else str(code)


class TransientError(GatewayError):
    """Collection failed, server error, timeout, connection error, malformed body: retry with backoff.

    ``reason`` is a short stable label (``timeout``, ``connect``, ``http_503``, ``malformed``, ``code_301``)
    used to count retries by reason in the call statistics.
    """

    def __init__(self, message: str, *, reason: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.reason = reason or (f"code_{self.code}" if self.code is not None else "transient")


class RateLimitedError(TransientError):
    """Code 302, HTTP 429 or router code 2: slow down and retry; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        kwargs.setdefault("reason", "rate_limited")
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PendingError(TransientError):
    """A task-backed call is not ready yet; polling again later is the remedy."""


class PartitionError(GatewayError):
    """This item/window cannot be fetched (invalid parameters, not found, unsupported): fail it alone."""

    scope = Scope.PARTITION
    retryable = False


class PendingDeadlineError(GatewayError):
    """A task stayed pending past the deadline: the partition fails, and a later retry may succeed."""

    scope = Scope.PARTITION
    retryable = True


class RunStopError(GatewayError):
    """Credentials, permission, signature or account limits: stop the run, retrying cannot help."""

    scope = Scope.RUN
    retryable = False


class AuthError(RunStopError):
    """Bad or inactive token, permission denied, invalid signature, expired access token."""


class QuotaExhaustedError(RunStopError):
    """Daily quota, balance or token budget exhausted: stop, keep what already landed."""


class ConfigError(RunStopError):
    """Missing or invalid configuration (a secret not set, a bad base URL)."""
