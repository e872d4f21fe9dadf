"""Working-day durations on real 2024 dates (default office hours 08:30–12:00, 13:30–18:00 = 8 h)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from bizenv.calendar import (
    DEFAULT_OFFICE_HOURS_PATH,
    CalendarCoverageError,
    OfficePeriod,
    covered_years,
    is_working_day,
    load_office_periods,
    working_days_between,
    working_days_table,
)

D = dt.date
T = dt.datetime


def test_default_config_is_8h_day() -> None:
    assert DEFAULT_OFFICE_HOURS_PATH.name == "office_hours.yaml"
    assert load_office_periods() == (
        OfficePeriod(dt.time(8, 30), dt.time(12, 0)),
        OfficePeriod(dt.time(13, 30), dt.time(18, 0)),
    )


def test_national_day_2024() -> None:
    # 09-30 (Mon) 16:00–18:00 = 2 h; 10-01..10-07 holiday; 10-08 (Tue) 08:30–10:30 = 2 h
    # 4 h / 8 h = 0.5
    assert working_days_between(T(2024, 9, 30, 16), T(2024, 10, 8, 10, 30)) == pytest.approx(0.5)


def test_make_up_sunday_2024_09_29() -> None:
    # Sunday 09-29 was a 调休 working day: 09:00–11:00 = 2 h -> 2 / 8 = 0.25
    assert working_days_between(T(2024, 9, 29, 9), T(2024, 9, 29, 11)) == pytest.approx(0.25)


def test_submitted_after_hours() -> None:
    # 06-03 19:00 is after closing; 06-04 08:30–09:30 = 1 h -> 1 / 8 = 0.125
    assert working_days_between(T(2024, 6, 3, 19), T(2024, 6, 4, 9, 30)) == pytest.approx(0.125)


def test_lunch_break_not_counted() -> None:
    # 06-04 11:00–12:00 = 1 h, 12:00–13:30 lunch, 13:30–14:00 = 0.5 h -> 1.5 / 8 = 0.1875
    assert working_days_between(T(2024, 6, 4, 11), T(2024, 6, 4, 14)) == pytest.approx(0.1875)


def test_ordinary_weekend() -> None:
    # Fri 06-14 17:00–18:00 = 1 h; Sat/Sun 06-15/16 off; Mon 06-17 08:30–09:30 = 1 h -> 2 / 8 = 0.25
    assert working_days_between(T(2024, 6, 14, 17), T(2024, 6, 17, 9, 30)) == pytest.approx(0.25)
    # entirely inside a weekend -> 0
    assert working_days_between(T(2024, 6, 15, 9), T(2024, 6, 16, 17)) == 0.0


def test_weekend_plus_dragon_boat_monday() -> None:
    # Fri 06-07 17:00–18:00 = 1 h; 06-08..06-10 off (Mon 06-10 端午节); Tue 06-11 08:30–09:00 = 0.5 h
    # 1.5 / 8 = 0.1875
    assert working_days_between(T(2024, 6, 7, 17), T(2024, 6, 11, 9)) == pytest.approx(0.1875)


def test_full_week_and_long_span() -> None:
    # Mon 06-17 00:00 to Sat 06-22 00:00: five full working days
    assert working_days_between(T(2024, 6, 17), T(2024, 6, 22)) == pytest.approx(5.0)
    # whole of 2024: 251 statutory working days in the official calendar
    assert working_days_between(T(2024, 1, 1), T(2025, 1, 1)) == pytest.approx(251.0)


def test_pandas_timestamps() -> None:
    # same as the National Day case, given as pandas Timestamps
    got = working_days_between(pd.Timestamp("2024-09-30 16:00"), pd.Timestamp("2024-10-08 10:30"))
    assert got == pytest.approx(0.5)


def test_zero_and_negative_spans() -> None:
    assert working_days_between(T(2024, 6, 4, 10), T(2024, 6, 4, 10)) == 0.0
    with pytest.raises(ValueError, match="before"):
        working_days_between(T(2024, 6, 4, 10), T(2024, 6, 4, 9))
    with pytest.raises(ValueError, match="missing"):
        working_days_between(pd.NaT, T(2024, 6, 4, 9))
    with pytest.raises(ValueError, match="naive"):
        working_days_between(T(2024, 6, 4, 9, tzinfo=dt.UTC), T(2024, 6, 4, 10))


def test_custom_office_periods() -> None:
    periods = [
        OfficePeriod(dt.time(14, 0), dt.time(17, 0)),  # order does not matter
        OfficePeriod(dt.time(9, 0), dt.time(12, 0)),
    ]
    # day = 3 h + 3 h = 6 h
    # 06-04 10:00–12:00 = 2 h + 14:00–17:00 = 3 h; 06-05 09:00–12:00 = 3 h + 14:00–15:00 = 1 h
    # 9 h / 6 h = 1.5
    got = working_days_between(T(2024, 6, 4, 10), T(2024, 6, 5, 15), periods)
    assert got == pytest.approx(1.5)
    with pytest.raises(ValueError, match="overlap"):
        working_days_between(
            T(2024, 6, 4),
            T(2024, 6, 5),
            [OfficePeriod(dt.time(9), dt.time(12)), OfficePeriod(dt.time(11), dt.time(13))],
        )
    with pytest.raises(ValueError, match="start < end"):
        OfficePeriod(dt.time(12), dt.time(9))


def test_working_day_flags_and_table() -> None:
    assert is_working_day(D(2024, 9, 29))  # make-up Sunday
    assert is_working_day(D(2024, 10, 12))  # make-up Saturday
    assert not is_working_day(D(2024, 10, 1))  # National Day
    assert not is_working_day(D(2024, 6, 15))  # ordinary Saturday
    table = working_days_table(D(2024, 9, 27), D(2024, 10, 9))
    assert table == [
        (D(2024, 9, 27), True),
        (D(2024, 9, 28), False),
        (D(2024, 9, 29), True),
        (D(2024, 9, 30), True),
        *[(D(2024, 10, d), False) for d in range(1, 8)],
        (D(2024, 10, 8), True),
        (D(2024, 10, 9), True),
    ]
    with pytest.raises(ValueError, match="before"):
        working_days_table(D(2024, 10, 9), D(2024, 10, 1))


# chinesecalendar is pinned to 1.11.0, which covers 2004–2026. When the pin is raised to a
# release with 2027 data, move these cases to the first uncovered year.
def test_covered_years() -> None:
    years = covered_years()
    assert years.start == 2004 and 2024 in years and 2026 in years and 2027 not in years


def test_uncovered_year_raises() -> None:
    with pytest.raises(CalendarCoverageError, match=r"2027.*2004–2026.*chinesecalendar"):
        is_working_day(D(2027, 3, 1))
    with pytest.raises(CalendarCoverageError, match="2027"):
        working_days_between(T(2026, 12, 31, 9), T(2027, 1, 4, 12))
    with pytest.raises(CalendarCoverageError, match="2027"):
        working_days_table(D(2026, 12, 1), D(2027, 1, 31))
    with pytest.raises(CalendarCoverageError, match="2003"):
        is_working_day(D(2003, 12, 31))
    assert issubclass(CalendarCoverageError, ValueError)


def test_span_ending_at_midnight_before_uncovered_year() -> None:
    # Thu 2026-12-31 16:00–18:00 = 2 h; nothing of 2027 is inside [start, end) -> 2 / 8 = 0.25
    assert working_days_between(T(2026, 12, 31, 16), T(2027, 1, 1)) == pytest.approx(0.25)


def test_load_custom_config(tmp_path: Path) -> None:
    cfg = tmp_path / "hours.yaml"
    cfg.write_text('periods:\n  - {start: "14:00", end: "17:30"}\n  - {start: "09:00", end: "12:00"}\n')
    assert load_office_periods(cfg) == (
        OfficePeriod(dt.time(9), dt.time(12)),
        OfficePeriod(dt.time(14), dt.time(17, 30)),
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ('periods:\n  - {start: "09:00", end: "12:00"}\n  - {start: "11:00", end: "13:00"}\n', "overlap"),
        ('periods:\n  - {start: "12:00", end: "09:00"}\n', "start < end"),
        ("periods:\n  - {start: 13:30, end: 18:00}\n", "quoted"),
        ('periods:\n  - {start: "8h30", end: "12:00"}\n', "HH:MM"),
        ("periods: []\n", "at least one"),
        ("hours: []\n", "periods"),
        ("periods: [\n", "while parsing"),
    ],
)
def test_bad_config_names_file(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_office_periods(cfg)
    assert str(cfg) in str(info.value)
