"""Beijing time as integer epoch seconds: formatting, parsing and day numbers.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact and fast.
A "day number" is the count of Beijing calendar days since 1970-01-01.
"""

from __future__ import annotations

import calendar
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
