"""Working-day arithmetic for processing durations ("企业开办 0.5 个工作日").

A duration in working days is the overlap of [start, end) with office hours on statutory
working days, divided by the hours of one working day. Statutory working days follow
China's official holiday calendar including make-up working days (调休), taken from the
`chinese_calendar` package. That package only knows the years the State Council has
published; outside them we raise `CalendarCoverageError` instead of guessing from weekdays,
because a guessed calendar would silently skew the published indicators.

Timestamps are naive Asia/Shanghai local datetimes (`datetime.datetime` or pandas
`Timestamp`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import chinese_calendar
import yaml

DEFAULT_OFFICE_HOURS_PATH = Path(__file__).resolve().parents[1] / "config" / "office_hours.yaml"

# Years probed by covered_years(); wide enough for any chinese_calendar release we could meet.
_PROBE_YEARS = range(1949, 2200)


class CalendarCoverageError(ValueError):
    """A date lies in a year for which no official working-day calendar is available."""


@dataclass(frozen=True)
class OfficePeriod:
    """One block of office hours within a day, half-open [start, end)."""

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"office period must have start < end, got {self.start}–{self.end}")

    @property
    def seconds(self) -> float:
        return _seconds(self.end) - _seconds(self.start)


def _seconds(t: dt.time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _check_periods(periods: Iterable[OfficePeriod]) -> tuple[OfficePeriod, ...]:
    """Sort the periods and reject an empty or overlapping set."""
    ordered = tuple(sorted(periods, key=lambda p: p.start))
    if not ordered:
        raise ValueError("at least one office period is required")
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError(
                f"office periods overlap: {before.start:%H:%M}–{before.end:%H:%M} and "
                f"{after.start:%H:%M}–{after.end:%H:%M}"
            )
    return ordered


def _parse_time(value: object, what: str) -> dt.time:
    # Unquoted 13:30 is a base-60 integer (810) in YAML 1.1, so insist on strings.
    if not isinstance(value, str):
        raise ValueError(f'{what} must be a quoted "HH:MM" string, got {value!r}')
    try:
        return dt.datetime.strptime(value.strip(), "%H:%M").time()
    except ValueError:
        raise ValueError(f'{what} must be "HH:MM", got {value!r}') from None


def load_office_periods(path: Path | None = None) -> tuple[OfficePeriod, ...]:
    """Read office hours from YAML (default include/config/office_hours.yaml), sorted by start.

    Any invalid content raises ValueError naming the file, so a bad edit to the config fails
    the pipeline loudly instead of changing every duration.
    """
    path = Path(path) if path is not None else DEFAULT_OFFICE_HOURS_PATH
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or set(data) != {"periods"}:
            raise ValueError("expected a mapping with exactly one key, 'periods'")
        raw = data["periods"]
        if not isinstance(raw, list):
            raise ValueError("'periods' must be a list of {start, end} mappings")
        periods = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or set(item) != {"start", "end"}:
                raise ValueError(f"periods[{i}] must be a mapping with keys 'start' and 'end'")
            periods.append(
                OfficePeriod(
                    _parse_time(item["start"], f"periods[{i}].start"),
                    _parse_time(item["end"], f"periods[{i}].end"),
                )
            )
        return _check_periods(periods)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"invalid office hours config {path}: {exc}") from exc


@cache
def _default_periods() -> tuple[OfficePeriod, ...]:
    return load_office_periods()


@cache
def covered_years() -> range:
    """Years the installed chinese_calendar has official data for, found by probing once."""
    years = []
    for year in _PROBE_YEARS:
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
        except NotImplementedError:
            continue
        years.append(year)
    if not years:
        raise CalendarCoverageError("chinese_calendar has no data for any year")
    return range(years[0], years[-1] + 1)


def _coverage_error(year: int) -> CalendarCoverageError:
    years = covered_years()
    return CalendarCoverageError(
        f"no official working-day calendar for {year} (chinese_calendar "
        f"{getattr(chinese_calendar, '__version__', '?')} covers {years[0]}–{years[-1]}); "
        "update the chinesecalendar package"
    )


def is_working_day(day: dt.date) -> bool:
    """True if `day` is a statutory working day (weekday not a holiday, or a make-up day)."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if not isinstance(day, dt.date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    if day.year not in covered_years():
        raise _coverage_error(day.year)
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # backstop should the package's coverage have gaps
        raise _coverage_error(day.year) from None


def working_days_table(first: dt.date, last: dt.date) -> list[tuple[dt.date, bool]]:
    """Every calendar day in [first, last] with its working-day flag (for ops.work_calendar)."""
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    for year in range(first.year, last.year + 1):
        if year not in covered_years():
            raise _coverage_error(year)
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [(day, is_working_day(day)) for day in days]


def _as_naive_datetime(value: dt.datetime, name: str) -> dt.datetime:
    if value is None or value != value:  # None or pandas NaT (NaT != NaT)
        raise ValueError(f"{name} is missing")
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise ValueError(f"{name} must be a naive Asia/Shanghai local datetime, got {value!r}")
    to_pydatetime = getattr(value, "to_pydatetime", None)  # pandas Timestamp
    return to_pydatetime(warn=False) if to_pydatetime is not None else value


def working_days_between(
    start: dt.datetime, end: dt.datetime, periods: Sequence[OfficePeriod] | None = None
) -> float:
    """Working days in [start, end): office-hour overlap on statutory working days / day length.

    Loops over calendar days, not minutes, so multi-year spans stay cheap. The working-day
    flag is only looked up for days that actually overlap office hours, so a span ending at
    midnight before an uncovered year does not raise.
    """
    start = _as_naive_datetime(start, "start")
    end = _as_naive_datetime(end, "end")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    checked = _default_periods() if periods is None else _check_periods(periods)
    day_seconds = sum(p.seconds for p in checked)

    total = 0.0
    day = start.date()
    while day <= end.date():
        overlap = 0.0
        for p in checked:
            lo = max(start, dt.datetime.combine(day, p.start))
            hi = min(end, dt.datetime.combine(day, p.end))
            if hi > lo:
                overlap += (hi - lo).total_seconds()
        if overlap > 0 and is_working_day(day):
            total += overlap
        day += dt.timedelta(days=1)
    return total / day_seconds
