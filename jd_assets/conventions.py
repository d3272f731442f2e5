"""JD's conventions, each defined once: ids, time format, time zone.

- Ids are decimal digit strings that can exceed 2^53: never a float, never a JSON number re-parsed.
- Times are Beijing wall time ``yyyy-MM-dd HH:mm:ss`` (UTC+8 all year: China has had no daylight saving
  time since 1991, so a fixed offset is exact).
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone

MAX_ID_DIGITS = 20
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")
#: The same id rule as a DuckDB regular expression literal.
JD_ID_RE = f"'^[0-9]{{1,{MAX_ID_DIGITS}}}$'"

#: The IANA name of JD's zone (Dagster partitions, DuckDB's ``timezone()``).
BEIJING_TZ = "Asia/Shanghai"
#: The same zone as a fixed offset, for Python datetimes.
BEIJING = timezone(timedelta(hours=8), BEIJING_TZ)
#: JD's time format, for Python's strftime/strptime.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The same format as a DuckDB string literal (``strptime``/``strftime``).
TIME_FORMAT_SQL = f"'{TIME_FORMAT}'"


class InvalidIdError(ValueError):
    """An id that is not 1..20 ASCII digits (so never a path, a URL or a float)."""


def require_jd_id(kind: str, value: object) -> str:
    """Return ``value`` as a JD id string, or raise InvalidIdError naming the kind and the value."""
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else None
    if text is None or _DIGITS.fullmatch(text) is None:
        shown = repr(value)[:60]
        raise InvalidIdError(f"invalid {kind} {shown}: a JD id must be 1 to {MAX_ID_DIGITS} ASCII digits")
    return text
