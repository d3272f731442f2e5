"""Beijing time as integer epoch seconds: formatting, parsing and day numbers.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and fast.
A "day number" is the count of Beijing calendar days since 1970-01-01.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import date, datetime, timedelta

from .config import BEIJING

OFFSET = 8 * 3600
DAY = 86400
FMT = "%Y-%m-%d %H:%M:%S"
_EPOCH_DATE = date(1970, 1, 1)


def fmt(epoch: int) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time."""
    return time.strftime(FMT, time.gmtime(epoch + OFFSET))


def parse(text: str) -> int:
    """Parse ``yyyy-MM-dd HH:mm:ss`` (Beijing) to epoch seconds; ValueError when malformed."""
    return calendar.timegm(time.strptime(text.strip(), FMT)) - OFFSET


_ROUTER_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.\d{1,3})?(?:(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2}))?"
)


def parse_router_timestamp(text: str) -> int:
    """The JOS ``timestamp`` as epoch seconds, in the forms JD's SDKs send: ``yyyy-MM-dd HH:mm:ss``
    (Beijing time; the Java/PHP SDKs and the documentation) or ``yyyy-MM-dd HH:mm:ss.SSSZ`` (JD's Python
    SDK: ``strftime("%Y-%m-%d %H:%M:%S.000%z")`` of local time, e.g. ``2026-11-26 20:01:59.000+0800``),
    the zone honoured; a fraction without a zone is Beijing time. ValueError for anything else."""
    match = _ROUTER_STAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a router timestamp: {text[:40]!r}")
    wall = calendar.timegm(time.strptime(match.group(1), FMT))
    if match.group("sign") is None:
        return wall - OFFSET
    hours, minutes = int(match.group("hh")), int(match.group("mm"))
    if hours > 14 or minutes > 59:
        raise ValueError(f"not a UTC offset: {text[-5:]!r}")
    offset = (hours * 3600 + minutes * 60) * (1 if match.group("sign") == "+" else -1)
    return wall - offset


def day_number(epoch: int) -> int:
    return (epoch + OFFSET) // DAY


def day_start(day_no: int) -> int:
    return day_no * DAY - OFFSET


def day_date(day_no: int) -> date:
    return _EPOCH_DATE + timedelta(days=day_no)


def date_day(d: date) -> int:
    return (d - _EPOCH_DATE).days


def to_datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, BEIJING)


def from_datetime(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("an aware datetime is required (Asia/Shanghai)")
    return int(dt.timestamp())
