"""What a gateway emulation returns, independent of the socket layer: a status, headers and bytes,
or an instruction to hang and then drop the connection."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

JSON_TYPE = "application/json;charset=UTF-8"
HTML_TYPE = "text/html;charset=UTF-8"


_NUMBER = "\0jd-sandbox-number:"
_PLACEHOLDER = re.compile(r'"\\u0000jd-sandbox-number:([^"]*)"')


def _number(obj: object) -> str:
    if isinstance(obj, Decimal):  # written as its text, e.g. 8.00 as seed 003 shows money
        return _NUMBER + str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any) -> bytes:
    """Compact JSON, raw UTF-8 (Chinese and emoji unescaped), stable key order as built; a Decimal is a
    JSON number written exactly as its text (``Decimal("899.00")`` -> ``899.00``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_number)
    if "jd-sandbox-number:" in text:
        text = _PLACEHOLDER.sub(lambda m: m.group(1), text)
    return text.encode("utf-8")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0  # wait this long first (interrupted on shutdown)
    drop: bool = False  # then close the connection without answering

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status=status, body=dumps(obj), headers=dict(headers or {}))


@dataclass(frozen=True)
class Ctx:
    """One gateway request: which gateway and endpoint, its sequence number, the simulated now."""

    gateway: str
    endpoint: str
    seq: int
    now: int
    params: dict[str, str]


def html_error(status: int) -> bytes:
    reason = {
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Temporarily Unavailable",
        504: "Gateway Time-out",
    }.get(status, "Error")
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()
