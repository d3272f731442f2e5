"""What every gateway resource shares: rate, retry and size settings, and env-var-aware config checks.

Each gateway resource (jd_assets.gateways.*) is a Dagster ``ConfigurableResource`` that the definitions
configure with ``dg.EnvVar``; ``ENV_VARS`` maps its fields to the variables, so an empty value is
reported as the variable to set ("JD_JUSTONE_TOKEN is not set"), never as a field name, and never
replaced by a default that points somewhere else (no silent fallback to the sandbox).

Clear text: an ``http://`` base URL would carry the token (JustOne: in the query string) and the signed
requests unencrypted. It is refused unless the host is loopback (the sandbox) or ``allow_clear_text``
(env ``JD_ALLOW_CLEAR_TEXT_HTTP=1``) is set, and then it is logged as a warning at every client opened.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from jd_assets.errors import ConfigError
from jd_assets.http.layer import DEFAULT_MAX_BODY_BYTES, CallStats, GatewayHttp, RetryPolicy
from jd_assets.http.limiter import RATE_LIMIT_DIR_ENV, shared_limiter

log = logging.getLogger("jd_assets.http")
CLEAR_TEXT_ENV = "JD_ALLOW_CLEAR_TEXT_HTTP"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine: ``localhost`` or a loopback address."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class GatewayResource(dg.ConfigurableResource):
    """Settings shared by the gateway resources (rate limit, retries, response size cap)."""

    ENV_VARS: ClassVar[Mapping[str, str]] = {}

    requests_per_second: float = Field(
        default=5.0,
        description=(
            "Requests per second to this gateway with these credentials, for every run and process on the "
            "machine together (one shared limiter)."
        ),
    )
    rate_limit_dir: str = Field(
        default="",
        description=(
            f"Folder of the rate-limit files every process shares (env {RATE_LIMIT_DIR_ENV}); "
            "empty = a folder of this user's in the temp dir."
        ),
    )
    max_attempts: int = Field(
        default=6, description="Attempts per request in all (1 = no retry) for transient failures."
    )
    backoff_base_s: float = Field(
        default=0.5, description="First backoff bound in seconds; doubles per retry (full jitter)."
    )
    backoff_max_s: float = Field(default=30.0, description="Upper bound of one backoff wait, seconds.")
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        description="Largest response body accepted (bytes); a larger one fails the partition.",
    )
    allow_clear_text: bool = Field(
        default=False,
        description=(
            f"Accept an http:// base URL to a host that is not loopback (env {CLEAR_TEXT_ENV}=1): "
            "credentials then travel unencrypted."
        ),
    )

    @classmethod
    def env_var(cls, field_name: str) -> str:
        """The environment variable that configures ``field_name`` (the field name if none)."""
        return cls.ENV_VARS.get(field_name, field_name)

    def required(self, field_name: str) -> str:
        """The field's value, or a ConfigError naming its environment variable when it is empty."""
        value = getattr(self, field_name)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{self.env_var(field_name)} is not set: {type(self).__name__}.{field_name} is required"
            )
        return value.strip()

    def required_url(self, field_name: str = "base_url") -> str:
        """A required http(s) URL without a trailing slash."""
        url = self.required(field_name).rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{self.env_var(field_name)} must be an http(s) URL, got {url[:80]!r}")
        if parts.query or parts.username or parts.password:
            raise ConfigError(f"{self.env_var(field_name)} must not carry a query string or credentials")
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            clear = (
                f"{self.env_var(field_name)} is http:// to {parts.hostname}: the credentials of every call "
                "would travel unencrypted"
            )
            if not self.allow_clear_text:
                raise ConfigError(f"{clear}; use https://, or set {CLEAR_TEXT_ENV}=1 to accept that")
            log.warning(f"{clear} ({CLEAR_TEXT_ENV} is set)")
        return url

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
        )

    def build_http(
        self, gateway: str, *, timeout_s: float, secrets: tuple[str, ...], stats: CallStats, **overrides: Any
    ) -> GatewayHttp:
        """The shared HTTP layer configured from this resource; ``overrides`` are test injections.

        The limiter is shared by every process using this base URL and these credentials, unless a test
        injects its own limiter or clock (a fake clock cannot share the system's monotonic one)."""
        if "limiter" not in overrides and "clock" not in overrides:
            identity = (str(getattr(self, "base_url", "")), *secrets)
            overrides["limiter"] = shared_limiter(
                gateway, self.requests_per_second, identity=identity, folder=self.rate_limit_dir
            )
        return GatewayHttp(
            gateway,
            timeout_s=timeout_s,
            requests_per_second=self.requests_per_second,
            retry=self.retry_policy(),
            secrets=secrets,
            stats=stats,
            max_body_bytes=self.max_body_bytes,
            **overrides,
        )
