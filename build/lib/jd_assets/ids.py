"""JD identifiers are decimal digit strings (they can exceed 2^53): validated once, here."""

from __future__ import annotations

import re

MAX_ID_DIGITS = 20
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")


class InvalidIdError(ValueError):
    """An id that is not 1..20 ASCII digits (so never a path, a URL or a float)."""


def require_jd_id(kind: str, value: object) -> str:
    """Return ``value`` as a JD id string, or raise InvalidIdError naming the kind and the value."""
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else None
    if text is None or _DIGITS.fullmatch(text) is None:
        shown = repr(value)[:60]
        raise InvalidIdError(f"invalid {kind} {shown}: a JD id must be 1 to {MAX_ID_DIGITS} ASCII digits")
    return text
