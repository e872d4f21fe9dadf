"""Months and clocks, once for the whole package.

Stored timestamps are naive: UTC for what bizenv itself records (batch and run times), Asia/Shanghai
wall time for what departments deliver. A reporting month is a 'YYYY-MM' string.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

LOCAL_TIMEZONE = ZoneInfo("Asia/Shanghai")  # departments' wall time, the zone of every naive timestamp

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def utc_now() -> dt.datetime:
    """Now as naive UTC to the second: what ops.* tables record."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2024-06' -> (2024-06-01, 2024-07-01): the first day and the first day of the next month."""
    match = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ValueError(f"month must be YYYY-MM (e.g. 2024-06), got {month!r}")
    year, number = int(match.group(1)), int(match.group(2))
    first = dt.date(year, number, 1)
    following = dt.date(year + 1, 1, 1) if number == 12 else dt.date(year, number + 1, 1)
    return first, following


def month_bounds_utc(month: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of an Asia/Shanghai calendar month 'YYYY-MM', as naive UTC timestamps."""
    first, following = month_bounds(month)
    start = dt.datetime.combine(first, dt.time(), tzinfo=LOCAL_TIMEZONE)
    end = dt.datetime.combine(following, dt.time(), tzinfo=LOCAL_TIMEZONE)
    return start.astimezone(dt.UTC).replace(tzinfo=None), end.astimezone(dt.UTC).replace(tzinfo=None)


def shift_month(month: str, months: int) -> str:
    """'2024-06' shifted by `months` (negative: earlier), as 'YYYY-MM'."""
    first, _ = month_bounds(month)
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
