"""Working-day arithmetic for processing durations ("企业开办 0.5 个工作日").

A duration in working days is the overlap of [start, end) with office hours on statutory
working days, divided by the hours of one working day. Statutory working days follow China's
official holiday calendar including make-up working days (调休), looked up first in the
operator-maintained file include/config/work_calendar.yaml (entered from the State Council's
annual notice), then in the `chinese_calendar` package, whose data ends with 2026. A year in
neither raises `CalendarCoverageError` instead of guessing from weekdays, because a guessed
calendar would silently skew the published indicators.

Timestamps are naive Asia/Shanghai local datetimes (`datetime.datetime` or pandas
`Timestamp`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import chinese_calendar
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from bizenv.errors import Refused

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
DEFAULT_OFFICE_HOURS_PATH = CONFIG_DIR / "office_hours.yaml"
DEFAULT_WORK_CALENDAR_PATH = CONFIG_DIR / "work_calendar.yaml"
# Read at every lookup, so tests and operators can point at another file without a restart.
WORK_CALENDAR_ENV = "BIZENV_WORK_CALENDAR_FILE"
NOTICE_TITLE = "国务院办公厅关于{year}年部分节假日安排的通知"
PACKAGE_SOURCE = f"chinesecalendar {version('chinesecalendar')}"

# Years probed by _package_years(); wide enough for any chinese_calendar release we could meet.
_PROBE_YEARS = range(1949, 2200)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarCoverageError(Refused, ValueError):
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


# --------------------------------------------------------------------------------------------
# statutory working days: the operator-maintained file first, then the chinese_calendar package


@dataclass(frozen=True)
class Notice:
    """The State Council notice a year of the calendar file was copied from."""

    number: str
    date: dt.date
    url: str


@dataclass(frozen=True)
class CalendarYear:
    """One year of the calendar file, as published in its notice."""

    year: int
    notice: Notice
    days_off: frozenset[dt.date]
    makeup_working_days: frozenset[dt.date]
    source: str

    def is_working_day(self, day: dt.date) -> bool:
        return day in self.makeup_working_days or (day.weekday() < 5 and day not in self.days_off)


def work_calendar_path() -> Path:
    """The calendar file in use: $BIZENV_WORK_CALENDAR_FILE, else include/config/work_calendar.yaml."""
    override = os.environ.get(WORK_CALENDAR_ENV, "").strip()
    return Path(override) if override else DEFAULT_WORK_CALENDAR_PATH


# path -> (file content, parsed years). Keyed on the content, not the modification time, so an
# edit within the file system's timestamp granularity is never missed.
_loaded: dict[str, tuple[bytes, dict[int, CalendarYear]]] = {}


def load_work_calendar(path: Path | None = None) -> dict[int, CalendarYear]:
    """The checked years of the calendar file (default: `work_calendar_path()`), by year.

    Every read compares the file's content with the last one parsed, so an edit takes effect at
    once; the checks run once per content. Any defect raises a one-line ValueError naming the
    file (and the year and day concerned), so a bad edit stops the pipeline instead of changing
    every duration.
    """
    path = work_calendar_path() if path is None else Path(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the working-day calendar {path}: {exc.strerror or exc}") from exc
    cached = _loaded.get(str(path))
    if cached is not None and cached[0] == content:
        return cached[1]
    years = _parse_work_calendar(path, content)
    _loaded[str(path)] = (content, years)
    return years


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _DatesAsText(yaml.SafeLoader):
    """Leaves dates as text for _parse_date, so that 2025-02-30 is reported as an entry of its year
    rather than as a bare "day is out of range for month" from the YAML parser."""


_DatesAsText.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _notice_number(value: object) -> str:
    if value in (None, ""):
        raise ValueError("notice number is missing")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"notice number must be text such as 国办发明电〔2024〕12号, got {value!r}")
    return value.strip()


def _notice_date(value: object) -> dt.date:
    if value in (None, ""):
        raise ValueError("notice date is missing")
    return _parse_date(value, "notice date")


def _notice_url(value: object) -> str:
    if value in (None, ""):
        raise ValueError("notice url is missing")
    if not isinstance(value, str) or not value.strip().startswith(("https://", "http://")):
        raise ValueError(f"notice url must be the notice's http(s) address, got {value!r}")
    return value.strip()


class _NoticeModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: Annotated[str, BeforeValidator(_notice_number)]
    date: Annotated[dt.date, BeforeValidator(_notice_date)]
    url: Annotated[str, BeforeValidator(_notice_url)]


class _YearModel(BaseModel):
    """One year as the notice publishes it; that its days lie in the year and agree with the
    reference packages is checked afterwards (_checked_year, _check_against_references)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice: _NoticeModel
    days_off: frozenset[dt.date]
    makeup_working_days: frozenset[dt.date]

    @field_validator("days_off", "makeup_working_days", mode="before")
    @classmethod
    def _dates_and_ranges(cls, value: object, info: ValidationInfo) -> set[dt.date]:
        return _parse_days(value, info.field_name)


# the keys of `years` are the years themselves: a strict int, so that "2025" or true is refused
Year = Annotated[int, Field(strict=True, ge=1000, le=9999)]


class _CalendarModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    years: dict[Year, _YearModel] | None


_ENTRY_KEYS = set(_YearModel.model_fields)
_NOTICE_KEYS = set(_NoticeModel.model_fields)


def _describe_calendar(error: ValidationError, data: Mapping[str, object]) -> str:
    """The first problem in the words of the file's header: the year, then the field. Within a
    year the shape comes first (its keys, then the notice's), as a reader would fix it."""
    problems = error.errors(include_url=False)
    first = problems[0]
    loc = tuple(first["loc"])
    if not loc or (len(loc) == 1 and first["type"] in ("missing", "extra_forbidden")):
        return "expected a mapping with exactly one key, 'years'"
    if len(loc) == 1:
        return "'years' must map each year to its entry"
    year = loc[1]
    if len(loc) == 3 and loc[2] == "[key]":
        return f"year {year!r} is not a four-digit year"
    ours = [p for p in problems if len(p["loc"]) >= 2 and p["loc"][1] == year and p["loc"][:1] == ("years",)]
    entry = data["years"][year]  # type: ignore[index]

    def at(depth: int, *kinds: str) -> list[ErrorDetails]:
        return [p for p in ours if len(p["loc"]) == depth and p["type"] in kinds]

    if at(2, "model_type") or at(3, "missing", "extra_forbidden"):
        keys = sorted(entry, key=str) if isinstance(entry, dict) else type(entry).__name__
        return f"year {year}: expected exactly the keys {sorted(_ENTRY_KEYS)}, got {keys}"
    if at(3, "model_type"):
        return f"year {year}: notice must be a mapping {{number, date, url}}"
    unknown = at(4, "extra_forbidden")
    if unknown:
        names = sorted((str(p["loc"][-1]) for p in unknown), key=str)
        return f"year {year}: notice has unknown keys {names}; expected {sorted(_NOTICE_KEYS)}"
    missing = at(4, "missing")
    if missing:
        return f"year {year}: notice {min(str(p['loc'][-1]) for p in missing)} is missing"
    problem = ours[0]
    context = problem.get("ctx") or {}
    return f"year {year}: {_one_line(context.get('error', problem['msg']))}"


def _parse_work_calendar(path: Path, content: bytes) -> dict[int, CalendarYear]:
    def fail(message: str) -> ValueError:
        return ValueError(f"invalid working-day calendar {path}: {message}")

    try:
        data = yaml.load(content.decode("utf-8"), Loader=_DatesAsText)  # noqa: S506 - a SafeLoader
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise fail(_one_line(exc)) from None
    try:
        document = _CalendarModel.model_validate(data)
    except ValidationError as exc:
        raise fail(_describe_calendar(exc, data)) from None
    years = {}
    for year, entry in (document.years or {}).items():
        try:
            years[year] = _checked_year(path, year, entry)
        except ValueError as exc:
            raise fail(f"year {year}: {exc}") from None
    for year in sorted(years):
        _check_against_references(path, years[year])
    return dict(sorted(years.items()))


def _checked_year(path: Path, year: int, entry: _YearModel) -> CalendarYear:
    days_off, makeup = entry.days_off, entry.makeup_working_days
    for what, days in (("days_off", days_off), ("makeup_working_days", makeup)):
        for day in sorted(days):
            if day.year != year:
                raise ValueError(f"{day}: listed in {what} but not in {year}")
    both = sorted(days_off & makeup)
    if both:
        raise ValueError(f"{both[0]}: both in days_off and in makeup_working_days")
    weekdays = sorted(day for day in makeup if day.weekday() < 5)
    if weekdays:
        day = weekdays[0]
        raise ValueError(
            f"{day}: a make-up working day must be a Saturday or Sunday, not a {_WEEKDAYS[day.weekday()]}"
        )
    notice = Notice(entry.notice.number, entry.notice.date, entry.notice.url)
    return CalendarYear(
        year=year,
        notice=notice,
        days_off=days_off,
        makeup_working_days=makeup,
        source=f"{path.name}: {notice.number} ({notice.date.isoformat()})",
    )


def _parse_date(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError(f"{what} must be a date YYYY-MM-DD without a time, got {value}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{what} must be a date YYYY-MM-DD, got {value!r}")


def _parse_days(raw: object, what: str) -> set[dt.date]:
    """Dates and inclusive "FIRST..LAST" ranges, as the notice's 放假/上班 lines read."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValueError(f"{what} must be a list of dates and FIRST..LAST ranges")
    days: set[dt.date] = set()
    for item in raw:
        if isinstance(item, str) and ".." in item:
            first_text, _, last_text = item.partition("..")
            first = _parse_date(first_text, f"{what} range {item!r}: first day")
            last = _parse_date(last_text, f"{what} range {item!r}: last day")
            if last < first:
                raise ValueError(f"{first}: {what} range {item!r} ends before it starts")
            days.update(first + dt.timedelta(days=i) for i in range((last - first).days + 1))
        else:
            days.add(_parse_date(item, f"{what} entry"))
    return days


def _days_of(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]


def _check_against_references(path: Path, entry: CalendarYear) -> None:
    """The file's year against the `holidays` package's statutory holidays and, where it knows
    the year, chinese_calendar: a typo in a date must fail here, not skew a month's indicators."""
    import holidays  # only when a file's content is checked: the import is slow

    def fail(day: dt.date, message: str) -> ValueError:
        return ValueError(f"invalid working-day calendar {path}: year {entry.year}: {day}: {message}")

    source = f"holidays {version('holidays')}"
    # The public category (the default) holds the statutory holidays and, for years the package
    # has the notice of, the days off swapped with a make-up day; half-day holidays (妇女节 …)
    # are not days off. observed=False: no guessed substitutes.
    statutory = holidays.China(years=entry.year, observed=False, language="zh_CN")
    in_year = {day: name for day, name in statutory.items() if day.year == entry.year}
    if not in_year:
        raise ValueError(
            f"invalid working-day calendar {path}: year {entry.year}: {source} has no statutory "
            "holidays for it to check the year against"
        )
    for day in sorted(in_year):
        if day not in entry.days_off:
            raise fail(day, f"statutory holiday {in_year[day]} ({source}) is not in days_off")

    if entry.year not in _package_years():
        return
    disagree = [day for day in _days_of(entry.year) if entry.is_working_day(day) != _package_is_working_day(day)]
    if disagree:
        day = disagree[0]
        here, there = ("a working day", "a day off") if entry.is_working_day(day) else ("a day off", "a working day")
        raise fail(day, f"{here} in this file but {there} in {PACKAGE_SOURCE} ({len(disagree)} days of "
                   f"{entry.year} disagree)")


@cache
def _package_years() -> frozenset[int]:
    """Years the installed chinese_calendar has official data for, found by probing once."""
    years = set()
    for year in _PROBE_YEARS:
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
        except NotImplementedError:
            continue
        years.add(year)
    return frozenset(years)


def _package_is_working_day(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # backstop should the package's coverage have gaps
        raise _coverage_error([day.year]) from None


def _format_years(years: Iterable[int]) -> str:
    """2004–2026, 2028 rather than 24 numbers."""
    ordered = sorted(set(years))
    if not ordered:
        return "none"
    runs = []
    for _, group in itertools.groupby(enumerate(ordered), key=lambda pair: pair[1] - pair[0]):
        members = [year for _, year in group]
        runs.append(str(members[0]) if len(members) == 1 else f"{members[0]}–{members[-1]}")
    return ", ".join(runs)


def _coverage_error(years: Sequence[int], entries: Mapping[int, CalendarYear] | None = None) -> CalendarCoverageError:
    path = work_calendar_path()
    entries = load_work_calendar() if entries is None else entries
    covered = set(entries) | _package_years()
    named = ", ".join(str(year) for year in years)
    notices = "、".join(NOTICE_TITLE.format(year=year) for year in years)
    return CalendarCoverageError(
        f"no official working-day calendar for {named} (covered: {_format_years(covered)}): add "
        f"{named} to {path}, copied from the State Council's annual notice {notices}, then run "
        f"`bizenv calendar check --year {years[0]}`"
    )


def _resolve(year: int, entries: Mapping[int, CalendarYear]) -> tuple[Callable[[dt.date], bool], str]:
    """How to tell the working days of `year`, and from which source: the file first."""
    entry = entries.get(year)
    if entry is not None:
        return entry.is_working_day, entry.source
    if year in _package_years():
        return _package_is_working_day, PACKAGE_SOURCE
    raise _coverage_error([year], entries)


def covered_years() -> dict[int, str]:
    """Every year with an official working-day calendar, ascending, with its source."""
    entries = load_work_calendar()
    sources = dict.fromkeys(_package_years(), PACKAGE_SOURCE)
    sources.update({year: entry.source for year, entry in entries.items()})
    return dict(sorted(sources.items()))


def missing_years(years: Iterable[int]) -> list[int]:
    """The given years without an official working-day calendar, ascending, each once."""
    covered = covered_years()
    return sorted({year for year in years if year not in covered})


def require_years(years: Iterable[int]) -> None:
    """Raise CalendarCoverageError naming every given year that is not covered."""
    missing = missing_years(years)
    if missing:
        raise _coverage_error(missing)


def year_source(year: int) -> str:
    """Where the working days of `year` come from, e.g.
    "work_calendar.yaml: 国办发明电〔2024〕12号 (2024-11-12)" or "chinesecalendar 1.11.0"."""
    return _resolve(year, load_work_calendar())[1]


def next_year_warning(today: dt.date) -> str | None:
    """A warning while the coming year is not covered yet, from 1 December until it is.

    The State Council publishes the notice in November; the first run that needs the new year is
    the one of 1 February (reporting January), so December and January leave time to enter it.
    `today` is the Asia/Shanghai date.
    """
    if today.month == 12:
        year = today.year + 1
    elif today.month == 1:
        year = today.year
    else:
        return None
    if not missing_years([year]):
        return None
    return f"the indicators of {year}-01 (run on {year}-02-01) will fail: {_coverage_error([year])}"


def is_working_day(day: dt.date) -> bool:
    """True if `day` is a statutory working day (weekday not a holiday, or a make-up day)."""
    if isinstance(day, dt.datetime):
        day = day.date()
    if not isinstance(day, dt.date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    is_working, _ = _resolve(day.year, load_work_calendar())
    return is_working(day)


def working_days_table(first: dt.date, last: dt.date) -> list[tuple[dt.date, bool, str]]:
    """Every calendar day in [first, last] with its working-day flag and the source of its year
    (for ops.work_calendar). Raises CalendarCoverageError before any row when a year is missing."""
    if last < first:
        raise ValueError(f"last ({last}) is before first ({first})")
    entries = load_work_calendar()  # once, so one table never mixes two versions of the file
    years = range(first.year, last.year + 1)
    missing = [year for year in years if year not in entries and year not in _package_years()]
    if missing:
        raise _coverage_error(missing, entries)
    resolved = {year: _resolve(year, entries) for year in years}
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    return [(day, resolved[day.year][0](day), resolved[day.year][1]) for day in days]


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
