"""Redaction: no token, access token, app secret or signature may reach a log, an exception or metadata.

Two nets, both applied by ``redact``:
- by parameter name, in query strings, form bodies and JSON/dict text (``token=…``, ``"sign": "…"``);
- by literal value, for every secret a client knows (raw and percent-encoded), wherever it appears.

The ``httpx`` logger writes the full request URL at INFO level (``HTTP Request: GET …?token=…``), so a
logging filter that redacts every record is installed on it when this module is imported; the secret
values it knows are the ones every ``GatewayHttp`` registers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"

# One list of sensitive parameter names, matched case-insensitively.
SENSITIVE_PARAMS: tuple[str, ...] = (
    "access_token",
    "app_secret",
    "appSecret",
    "secret",
    "token",
    "sign",
    "signature",
)

_NAMES = "|".join(re.escape(name) for name in sorted(SENSITIVE_PARAMS, key=len, reverse=True))
# name=value in a query string or form body (also inside a longer text such as an error message).
_QUERY = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_NAMES})=([^&\s\"'<>#]*)")
# "name": "value" / 'name': 'value' in JSON or a dict repr.
_KEYED = re.compile(rf"(?i)([\"'])({_NAMES})\1(\s*[:=]\s*)([\"'])((?:\\.|(?!\4).)*)\4")


def _literal_forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)} - {""}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with sensitive parameters masked by name and every known secret masked by value."""
    if not isinstance(text, str):
        text = str(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= _literal_forms(str(secret))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    text = _QUERY.sub(lambda m: f"{m.group(1)}={MASK}" if m.group(2) else m.group(0), text)
    return _KEYED.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}", text
    )


class _KnownSecrets:
    """The process-wide set of secret values the logging filter masks (registered by each client)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def add(self, values: Iterable[str]) -> None:
        new = {str(v) for v in values if v}
        if new - self._values:
            with self._lock:
                self._values = self._values | new

    def snapshot(self) -> frozenset[str]:
        return self._values


KNOWN_SECRETS = _KnownSecrets()


class RedactingFilter(logging.Filter):
    """Rewrites every record it sees into its redacted, fully formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template, still redacted
            message = str(record.msg)
        record.msg = redact(message, KNOWN_SECRETS.snapshot())
        record.args = None
        return True


# httpx logs every request's URL on the "httpx" logger itself (a logger filter does not see records of
# child loggers; httpcore's children log hosts and ports, never URLs). Our own log lines are redacted
# where they are written.
_FILTERED_LOGGERS = ("httpx",)


def install_log_redaction() -> None:
    """Attach the redacting filter to the loggers that can see URLs (idempotent)."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


install_log_redaction()
