"""Working-day durations on real 2024 dates (default office hours 08:30–12:00, 13:30–18:00 = 8 h),
and the statutory calendar's sources: the operator-maintained work_calendar.yaml first, then the
chinesecalendar package."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from contextlib import contextmanager
from pathlib import Path

import chinese_calendar
import holidays
import pandas as pd
import pendulum
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

import bizenv.indicators
import bizenv.warehouse
from bizenv.airflow import monthly
from bizenv.calendar import (
    DEFAULT_OFFICE_HOURS_PATH,
    DEFAULT_WORK_CALENDAR_PATH,
    WORK_CALENDAR_ENV,
    CalendarCoverageError,
    OfficePeriod,
    covered_years,
    is_working_day,
    load_office_periods,
    load_work_calendar,
    missing_years,
    next_year_warning,
    working_days_between,
    working_days_table,
    year_source,
)
from bizenv.cli import main

D = dt.date
T = dt.datetime
SOURCE_2025 = "work_calendar.yaml: 国办发明电〔2024〕12号 (2024-11-12)"
PACKAGE = "chinesecalendar 1.11.0"


@pytest.fixture(autouse=True)
def shipped_calendar(monkeypatch) -> None:
    """Every test starts from the shipped work_calendar.yaml, whatever the environment says."""
    monkeypatch.delenv(WORK_CALENDAR_ENV, raising=False)


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
        (D(2024, 9, 27), True, PACKAGE),
        (D(2024, 9, 28), False, PACKAGE),
        (D(2024, 9, 29), True, PACKAGE),
        (D(2024, 9, 30), True, PACKAGE),
        *[(D(2024, 10, d), False, PACKAGE) for d in range(1, 8)],
        (D(2024, 10, 8), True, PACKAGE),
        (D(2024, 10, 9), True, PACKAGE),
    ]
    with pytest.raises(ValueError, match="before"):
        working_days_table(D(2024, 10, 9), D(2024, 10, 1))


# chinesecalendar is pinned to 1.11.0, which covers 2004–2026, and the shipped work_calendar.yaml
# holds 2025 only. When 2027 is entered in the file, move these cases to the first uncovered year.
def test_covered_years() -> None:
    years = covered_years()
    assert list(years) == list(range(2004, 2027))
    assert years[2024] == PACKAGE and years[2026] == PACKAGE
    assert years[2025] == SOURCE_2025  # the file wins over the package
    assert missing_years([2027, 2026, 2003, 2027]) == [2003, 2027]


def test_uncovered_year_raises() -> None:
    with pytest.raises(CalendarCoverageError, match=r"2027 \(covered: 2004–2026\)") as info:
        is_working_day(D(2027, 3, 1))
    message = str(info.value)
    assert str(DEFAULT_WORK_CALENDAR_PATH) in message
    assert "国务院办公厅关于2027年部分节假日安排的通知" in message
    assert "upgrade" not in message and "update the" not in message and "\n" not in message
    with pytest.raises(CalendarCoverageError, match="2027"):
        year_source(2027)
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


# --------------------------------------------------------------------------------------------
# the operator-maintained calendar file

HOLIDAYS_2027 = sorted(d for d in holidays.China(years=2027, observed=False) if d.year == 2027)
# Test data, not the real 2027 notice (unknown to us): the days off are the statutory holidays
# the `holidays` package gives, so the file's holidays check passes; one make-up Saturday.
NOTICE_2027 = {"number": "TEST〔2026〕1号", "date": D(2026, 11, 20), "url": "https://example.org/2027-notice"}
MAKEUP_2027 = D(2027, 2, 20)
SOURCE_2027 = "calendar.yaml: TEST〔2026〕1号 (2026-11-20)"


def shipped_years() -> dict:
    return yaml.safe_load(DEFAULT_WORK_CALENDAR_PATH.read_text(encoding="utf-8"))["years"]


def entry_2027() -> dict:
    return {"notice": dict(NOTICE_2027), "days_off": list(HOLIDAYS_2027), "makeup_working_days": [MAKEUP_2027]}


def write_calendar(path: Path, years: dict) -> Path:
    path.write_text(yaml.safe_dump({"years": years}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def calendar_with_2027(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the shipped file, with a 2027 entry appended in the documented text format."""
    path = tmp_path / "calendar.yaml"
    lines = [
        "  2027:",
        "    notice:",
        f'      number: "{NOTICE_2027["number"]}"',
        f"      date: {NOTICE_2027['date']}",
        f'      url: "{NOTICE_2027["url"]}"',
        "    days_off:",
        *[f"      - {day}" for day in HOLIDAYS_2027],
        "    makeup_working_days:",
        f"      - {MAKEUP_2027}",
    ]
    path.write_text(DEFAULT_WORK_CALENDAR_PATH.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(path))
    return path


def test_shipped_2025_is_the_notice() -> None:
    entry = load_work_calendar()[2025]
    assert (entry.notice.number, entry.notice.date, entry.notice.url) == (
        "国办发明电〔2024〕12号",
        D(2024, 11, 12),
        "https://www.gov.cn/zhengce/content/202411/content_6986382.htm",
    )
    # 元旦 1 + 春节 8 + 清明 3 + 劳动节 5 + 端午 3 + 国庆中秋 8 days off; five 调休 working days
    assert len(entry.days_off) == 28
    assert sorted(entry.makeup_working_days) == [D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28),
                                                D(2025, 10, 11)]
    assert year_source(2025) == SOURCE_2025 and year_source(2024) == PACKAGE


def test_shipped_2025_agrees_with_the_package_on_every_day() -> None:
    days = [D(2025, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    ours = [is_working_day(day) for day in days]
    assert ours == [bool(chinese_calendar.is_workday(day)) for day in days]
    assert sum(ours) == 248
    statutory = holidays.China(years=2025, observed=False)
    assert statutory and all(day in load_work_calendar()[2025].days_off for day in statutory)


def test_file_is_looked_up_before_the_package(monkeypatch) -> None:
    load_work_calendar()  # the load itself compares with the package; the lookups must not

    def package_consulted(day):
        raise AssertionError(f"chinese_calendar consulted for {day}")

    monkeypatch.setattr(chinese_calendar, "is_workday", package_consulted)
    assert is_working_day(D(2025, 1, 26))  # make-up Sunday
    assert not is_working_day(D(2025, 10, 8))  # Wednesday off
    assert is_working_day(D(2025, 10, 9)) and not is_working_day(D(2025, 10, 12))
    assert {source for _, _, source in working_days_table(D(2025, 1, 1), D(2025, 12, 31))} == {SOURCE_2025}
    with pytest.raises(AssertionError, match="consulted for 2024-06-03"):
        is_working_day(D(2024, 6, 3))


def test_table_names_each_days_source() -> None:
    assert working_days_table(D(2024, 12, 31), D(2025, 1, 2)) == [
        (D(2024, 12, 31), True, PACKAGE),
        (D(2025, 1, 1), False, SOURCE_2025),
        (D(2025, 1, 2), True, SOURCE_2025),
    ]


def test_a_year_only_in_the_file(calendar_with_2027: Path) -> None:
    assert is_working_day(MAKEUP_2027)  # make-up Saturday
    assert not is_working_day(D(2027, 2, 8))  # 春节, a Monday
    assert is_working_day(D(2027, 3, 1)) and not is_working_day(D(2027, 3, 6))
    assert year_source(2027) == SOURCE_2027
    assert covered_years()[2027] == SOURCE_2027
    assert covered_years()[2025] == "calendar.yaml: 国办发明电〔2024〕12号 (2024-11-12)"  # named after the file in use
    assert working_days_table(D(2026, 12, 31), D(2027, 1, 1)) == [
        (D(2026, 12, 31), True, PACKAGE),
        (D(2027, 1, 1), False, SOURCE_2027),
    ]
    with pytest.raises(CalendarCoverageError, match=r"2028 \(covered: 2004–2027\)") as info:
        is_working_day(D(2028, 1, 3))
    assert str(calendar_with_2027) in str(info.value)


def test_a_year_in_neither_source_names_the_file_to_edit(tmp_path: Path, monkeypatch) -> None:
    path = write_calendar(tmp_path / "calendar.yaml", shipped_years())
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(path))
    for call in (lambda: is_working_day(D(2027, 3, 1)), lambda: working_days_table(D(2026, 12, 1), D(2028, 1, 31))):
        with pytest.raises(CalendarCoverageError) as info:
            call()
        message = str(info.value)
        assert "add 2027" in message and str(path) in message
        assert "国务院办公厅关于2027年部分节假日安排的通知" in message
    assert "2027, 2028" in message  # the table names every missing year at once


def test_an_edit_is_seen_at_once(tmp_path: Path, monkeypatch) -> None:
    path = write_calendar(tmp_path / "calendar.yaml", {2027: entry_2027()})
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(path))
    assert is_working_day(MAKEUP_2027)
    # same size, same directory entry, written within the same clock tick: only the content differs
    broken = path.read_text(encoding="utf-8").replace(str(MAKEUP_2027), "2027-02-24")
    assert len(broken) == len(path.read_text(encoding="utf-8"))
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError, match="2027-02-24: a make-up working day must be a Saturday or Sunday"):
        is_working_day(MAKEUP_2027)
    write_calendar(path, {})
    with pytest.raises(CalendarCoverageError, match="2027"):
        year_source(2027)


def _add(key: str, *items):
    return lambda entry: entry[key].extend(items)


def _drop(key: str, item):
    return lambda entry: entry[key].remove(item)


def _replace(key: str, old, new):
    def change(entry):
        entry[key][entry[key].index(old)] = new

    return change


def _unset_notice(field: str):
    return lambda entry: entry["notice"].pop(field)


@pytest.mark.parametrize(
    "year, change, day, message",
    [
        (2025, _add("makeup_working_days", D(2025, 3, 5)), "2025-03-05",
         "must be a Saturday or Sunday, not a Wednesday"),
        (2025, _add("days_off", D(2025, 2, 8)), "2025-02-08", "both in days_off and in makeup_working_days"),
        (2025, _add("days_off", "2025-12-31..2026-01-02"), "2026-01-01", "listed in days_off but not in 2025"),
        (2025, _add("makeup_working_days", D(2024, 12, 28)), "2024-12-28", "listed in makeup_working_days but not in"),
        (2025, _add("days_off", "2025-03-06..2025-03-05"), "2025-03-06", "ends before it starts"),
        # 元旦 missing: also a working-day disagreement, but the holidays check comes first
        (2025, _drop("days_off", D(2025, 1, 1)), "2025-01-01", "statutory holiday 元旦 (holidays 0.109) is not in"),
        # 端午 falls on a Saturday: only the holidays check can notice it is missing
        (2025, _replace("days_off", "2025-05-31..2025-06-02", "2025-06-01..2025-06-02"), "2025-05-31",
         "statutory holiday 端午节"),
        (2027, _drop("days_off", D(2027, 10, 1)), "2027-10-01", "statutory holiday 国庆节"),
        (2025, _add("days_off", D(2025, 3, 5)), "2025-03-05",
         "a day off in this file but a working day in chinesecalendar 1.11.0 (1 days of 2025 disagree)"),
        (2025, _drop("makeup_working_days", D(2025, 10, 11)), "2025-10-11",
         "a day off in this file but a working day in chinesecalendar 1.11.0"),
        (2025, _unset_notice("number"), None, "notice number is missing"),
        (2025, _unset_notice("date"), None, "notice date is missing"),
        (2025, _unset_notice("url"), None, "notice url is missing"),
        (2025, lambda e: e["notice"].__setitem__("url", "www.gov.cn"), None, "notice url must be"),
        (2025, lambda e: e["notice"].__setitem__("date", "12 Nov 2024"), None, "notice date must be a date"),
        (2025, lambda e: e.pop("makeup_working_days"), None, "expected exactly the keys"),
    ],
)
def test_a_broken_year_names_file_year_and_day(tmp_path: Path, monkeypatch, year, change, day, message) -> None:
    years = {2025: copy.deepcopy(shipped_years()[2025]), 2027: entry_2027()}
    change(years[year])
    path = write_calendar(tmp_path / "broken.yaml", years)
    with pytest.raises(ValueError) as info:
        load_work_calendar(path)
    text = str(info.value)
    assert message in text
    assert text.startswith(f"invalid working-day calendar {path}: year {year}: ")
    assert day is None or f": {day}: " in text
    assert "\n" not in text
    # the pipeline's lookups fail the same way, even for a year the file does not hold
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(path))
    with pytest.raises(ValueError, match="invalid working-day calendar"):
        is_working_day(D(2024, 6, 3))


@pytest.mark.parametrize(
    "text, message",
    [
        ("years: [\n", "while parsing"),
        ("calendar: {}\n", "exactly one key, 'years'"),
        ("years:\n  twenty-five: {}\n", "'twenty-five' is not a four-digit year"),
        ("years:\n  2025: {notice: {}, days_off: [], makeup_working_days: [], holidays: []}\n", "year 2025: expected"),
        ("years:\n  2025:\n    notice: {number: N, date: 2024-11-12, url: 'https://x', title: T}\n"
         "    days_off: []\n    makeup_working_days: []\n", "notice has unknown keys ['title']"),
        ("years:\n  2025:\n    notice: {number: N, date: 2024-11-12, url: 'https://x'}\n"
         "    days_off: [2025-02-30]\n    makeup_working_days: []\n",
         "year 2025: days_off entry must be a date YYYY-MM-DD, got '2025-02-30'"),
    ],
)
def test_a_malformed_file_names_itself(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_work_calendar(path)
    assert message in str(info.value)
    assert str(info.value).startswith(f"invalid working-day calendar {path}: ") and "\n" not in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ValueError, match=f"cannot read the working-day calendar {tmp_path / 'nowhere.yaml'}"):
        is_working_day(D(2024, 6, 3))


# --------------------------------------------------------------------------------------------
# bizenv calendar check


def test_check_fails_for_2027_on_the_shipped_file(capsys) -> None:
    assert main(["calendar", "check", "--year", "2027"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "2004  chinesecalendar 1.11.0"
    assert f"2025  {SOURCE_2025}" in out.splitlines() and len(out.splitlines()) == 23
    assert err.count("\n") == 1 and err.startswith("error: no official working-day calendar for 2027")
    assert str(DEFAULT_WORK_CALENDAR_PATH) in err


def test_check_passes_once_the_file_has_2027(calendar_with_2027: Path, capsys) -> None:
    assert main(["calendar", "check", "--year", "2027", "--year", "2025"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-2:] == [f"2027  {SOURCE_2027}", "ok: 2025, 2027 covered"]
    assert err == ""


def test_check_needs_this_year_and_the_next_by_default(monkeypatch, capsys) -> None:
    monkeypatch.setattr("bizenv.cli._shanghai_today", lambda: D(2025, 12, 31))
    assert main(["calendar", "check"]) == 0
    assert capsys.readouterr().out.endswith("ok: 2025, 2026 covered\n")
    monkeypatch.setattr("bizenv.cli._shanghai_today", lambda: D(2026, 1, 1))
    assert main(["calendar", "check"]) == 1
    assert "calendar for 2027" in capsys.readouterr().err


def test_check_reports_a_broken_file(tmp_path: Path, monkeypatch, capsys) -> None:
    years = {2025: copy.deepcopy(shipped_years()[2025])}
    years[2025]["makeup_working_days"].append(D(2025, 3, 5))
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(write_calendar(tmp_path / "bad.yaml", years)))
    assert main(["calendar", "check", "--year", "2025"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml: year 2025: 2025-03-05:" in err


# --------------------------------------------------------------------------------------------
# the coming year, and the monthly DAG's freshness gate


def test_next_year_warning_from_1_december() -> None:
    assert next_year_warning(D(2026, 11, 30)) is None
    warning = next_year_warning(D(2026, 12, 1))
    assert warning is not None and "\n" not in warning
    assert warning.startswith("the indicators of 2027-01 (run on 2027-02-01) will fail: ")
    assert str(DEFAULT_WORK_CALENDAR_PATH) in warning and "国务院办公厅关于2027年部分节假日安排的通知" in warning
    assert "2027-01" in next_year_warning(D(2027, 1, 31))  # still before the first run that needs it
    assert next_year_warning(D(2027, 2, 1)) is None  # by then the gate fails the run itself
    assert next_year_warning(D(2024, 12, 1)) is None  # 2025 is covered


def test_no_warning_once_the_year_is_entered(calendar_with_2027: Path) -> None:
    assert next_year_warning(D(2026, 12, 1)) is None
    assert "2028-01" in next_year_warning(D(2027, 12, 1))


def _gate(month_start: pendulum.DateTime):
    return monthly.freshness_gate(month_start, month_start.add(months=1), dt.timedelta(hours=12))


@pytest.fixture
def fresh_warehouse(monkeypatch) -> None:
    @contextmanager
    def no_engine(_settings):
        yield None

    monkeypatch.setattr(monthly, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.warehouse, "connect", no_engine)
    monkeypatch.setattr(bizenv.indicators.freshness, "stale_sources", lambda _engine, _month: [])


@pytest.mark.parametrize(
    "month_start, missing",
    [
        (pendulum.datetime(2027, 1, 1, tz="Asia/Shanghai"), "2027"),
        (pendulum.datetime(2028, 6, 1, tz="Asia/Shanghai"), "2027, 2028"),
        (pendulum.datetime(2004, 3, 1, tz="Asia/Shanghai"), "2003"),  # the previous year is needed too
    ],
)
def test_gate_fails_at_once_without_a_needed_year(monkeypatch, month_start, missing) -> None:
    def no_warehouse():
        raise AssertionError("the gate must fail before it looks at the warehouse")

    monkeypatch.setattr(monthly, "task_settings", no_warehouse)
    with pytest.raises(AirflowFailException) as info:
        _gate(month_start)
    message = str(info.value)
    assert message.startswith(f"cannot compute the indicators of {month_start:%Y-%m}: no official working-day "
                              f"calendar for {missing} (")
    assert str(DEFAULT_WORK_CALENDAR_PATH) in message and "\n" not in message


def test_gate_fails_at_once_on_a_broken_file(tmp_path: Path, monkeypatch, fresh_warehouse) -> None:
    years = {2025: copy.deepcopy(shipped_years()[2025])}
    years[2025]["days_off"].append(D(2025, 3, 5))
    monkeypatch.setenv(WORK_CALENDAR_ENV, str(write_calendar(tmp_path / "bad.yaml", years)))
    with pytest.raises(AirflowFailException) as info:
        _gate(pendulum.datetime(2025, 6, 1, tz="Asia/Shanghai"))
    assert "bad.yaml: year 2025: 2025-03-05: a day off in this file but a working day" in str(info.value)


def test_gate_passes_once_the_file_has_the_year(calendar_with_2027: Path, fresh_warehouse) -> None:
    result = _gate(pendulum.datetime(2027, 1, 1, tz="Asia/Shanghai"))
    assert result.is_done and result.xcom_value == "2027-01"


@pytest.mark.parametrize("utc_now, warns", [("2026-11-30T15:59:00", False), ("2026-11-30T16:00:00", True)])
def test_gate_warns_by_the_shanghai_date(monkeypatch, caplog, fresh_warehouse, utc_now, warns) -> None:
    # 16:00 UTC on 30 November is already 1 December in Asia/Shanghai
    instant = pendulum.parse(utc_now, tz="UTC")
    monkeypatch.setattr(pendulum, "now", lambda tz=None: instant.in_timezone(tz or "UTC"))
    with caplog.at_level(logging.WARNING, logger=monthly.__name__):
        result = _gate(pendulum.datetime(2026, 10, 1, tz="Asia/Shanghai"))
    assert result.is_done and result.xcom_value == "2026-10"
    warnings = [r.getMessage() for r in caplog.records if r.name == monthly.__name__ and r.levelno == logging.WARNING]
    if warns:
        assert len(warnings) == 1 and warnings[0].startswith("the indicators of 2027-01 (run on 2027-02-01) will fail")
    else:
        assert warnings == []
