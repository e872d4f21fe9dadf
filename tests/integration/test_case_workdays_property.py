"""core.v_case_workdays (sql/views/v_case_workdays.sql) and bizenv.calendar.working_days_between
against an independent oracle, on random cases and on hand-worked ones, on DuckDB and PostgreSQL.

The definition (docs/indicators.md, "Working days"): a case's duration in working days is the
overlap of [started_at, completed_at) with office hours (08:30–12:00 and 13:30–18:00, 8 h = one
working day) on statutory working days (China's calendar with its make-up working days, 调休),
divided by 8 h. A case lying entirely outside office time has 0 working days, never its
wall-clock time; a case whose start or end came without a time of day, and an open case, have
none (workdays is null).

The oracle below is written from that definition alone. It does not walk the case day by day
as the view and the production function do: the office time of [start, end) is
F(end) - F(start), where F(t) is the office time on working days from 2023-01-01 00:00 up to t
(whole working days before t's day, from a prefix count, plus the part of t's own day). It asks
`chinese_calendar` for the working days and hard-codes the default office periods; the
`office_hours_are_the_defaults` fixture fails every test here as soon as
include/config/office_hours.yaml says anything else, so the oracle cannot silently diverge.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chinese_calendar
import pandas as pd
import pytest
import yaml
from core_rows import delete_core_rows, insert_core_rows
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, text

from bizenv import calendar
from bizenv.indicators.reference import _refresh_office_periods
from bizenv.settings import Settings
from bizenv.warehouse import bulk_insert, make_engine

T = dt.datetime
OFFICE_HOURS_FILE = Path(__file__).resolve().parents[2] / "include" / "config" / "office_hours.yaml"
DEFAULT_OFFICE_HOURS = {"periods": [{"start": "08:30", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]}

# ---------------------------------------------------------------------------------------------
# the oracle

# office periods in seconds after midnight, half-open [start, end)
OFFICE_PERIODS = ((8 * 3600 + 30 * 60, 12 * 3600), (13 * 3600 + 30 * 60, 18 * 3600))
WORKING_DAY_SECONDS = sum(end - start for start, end in OFFICE_PERIODS)  # 3.5 h + 4.5 h = 8 h
FIRST_DAY, LAST_DAY = dt.date(2023, 1, 1), dt.date(2026, 12, 31)
LAST_MOMENT = T.combine(LAST_DAY, dt.time(23, 59, 59))
ALL_DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
IS_WORKING_DAY = {day: bool(chinese_calendar.is_workday(day)) for day in ALL_DAYS}
# WORKING_DAYS_BEFORE[i]: statutory working days among the i days from FIRST_DAY on
WORKING_DAYS_BEFORE = [0, *itertools.accumulate(int(IS_WORKING_DAY[day]) for day in ALL_DAYS)]


def office_seconds_until(moment: dt.datetime) -> int:
    """F(moment): office seconds on working days in [FIRST_DAY 00:00, moment)."""
    day = moment.date()
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"the oracle knows 2023–2026 only, not {moment}")
    index = (day - FIRST_DAY).days
    seconds = WORKING_DAYS_BEFORE[index] * WORKING_DAY_SECONDS
    if IS_WORKING_DAY[day]:
        into_day = moment.hour * 3600 + moment.minute * 60 + moment.second
        seconds += sum(min(max(into_day - start, 0), end - start) for start, end in OFFICE_PERIODS)
    return seconds


def oracle_workdays(start: dt.datetime, end: dt.datetime) -> float:
    """Working days in [start, end), whole seconds only (what the drawn cases carry)."""
    assert start.microsecond == 0 and end.microsecond == 0
    assert start <= end, (start, end)
    return (office_seconds_until(end) - office_seconds_until(start)) / WORKING_DAY_SECONDS


@pytest.fixture(autouse=True, scope="module")
def office_hours_are_the_defaults() -> None:
    """The oracle hard-codes the default office hours: fail loudly when the config moved on."""
    configured = yaml.safe_load(OFFICE_HOURS_FILE.read_text(encoding="utf-8"))
    assert configured == DEFAULT_OFFICE_HOURS, (
        f"{OFFICE_HOURS_FILE} no longer holds the default office hours the oracle of this file "
        f"hard-codes ({DEFAULT_OFFICE_HOURS}): update OFFICE_PERIODS here together with it"
    )
    periods = [(p.start.hour * 3600 + p.start.minute * 60, p.end.hour * 3600 + p.end.minute * 60)
               for p in calendar.load_office_periods()]
    assert tuple(periods) == OFFICE_PERIODS


# ---------------------------------------------------------------------------------------------
# drawing cases

DATASETS = ("real_estate_case", "tax_refund", "registration")
REGIONS = ("152921", "152922", "152923")
ENTITY_TYPES = ("企业", "个体工商户", "农民专业合作社")
APPLICANT_TYPES = ("企业", "个人")
REGISTRATION_TYPES = ("首次登记", "转移登记", "抵押登记", "注销登记")


def _holiday_name(day: dt.date) -> str | None:
    return chinese_calendar.get_holiday_detail(day)[1]


HOLIDAYS = [d for d in ALL_DAYS if not IS_WORKING_DAY[d] and _holiday_name(d) is not None]
MAKEUP_DAYS = [d for d in ALL_DAYS if IS_WORKING_DAY[d] and d.weekday() >= 5]
WEEKENDS = [d for d in ALL_DAYS if not IS_WORKING_DAY[d] and _holiday_name(d) is None]
# the days around holiday blocks and make-up days, from which a case crosses into or out of them
_SPECIAL = set(HOLIDAYS) | set(MAKEUP_DAYS)
AROUND_SPECIAL = sorted(
    {d + dt.timedelta(days=k) for d in _SPECIAL for k in (-2, -1, 1)} & set(ALL_DAYS) - _SPECIAL
)
assert len(HOLIDAYS) > 80 and len(MAKEUP_DAYS) > 15 and len(WEEKENDS) > 300

# minutes of the day next to the slot boundaries 08:30, 12:00, 13:30, 18:00 and midnight
BOUNDARY_MINUTES = sorted({(b + k) % 1440 for b in (0, 510, 720, 810, 1080) for k in (-2, -1, 0, 1, 2)})

start_days = st.one_of(
    st.sampled_from(HOLIDAYS),
    st.sampled_from(MAKEUP_DAYS),
    st.sampled_from(AROUND_SPECIAL),
    st.sampled_from(WEEKENDS),
    st.dates(FIRST_DAY, LAST_DAY),
    st.dates(FIRST_DAY, LAST_DAY),
)
minutes_of_day = st.one_of(st.sampled_from(BOUNDARY_MINUTES), st.integers(0, 1439))
# case lengths in minutes, short ones more often, up to 40 days
lengths = st.one_of(
    st.just(0),
    st.integers(0, 120),
    st.integers(0, 1440),
    st.integers(0, 5 * 1440),
    st.integers(0, 40 * 1440),
)
# or the end as a day offset and a (boundary-biased) time of its own day
end_day_offsets = st.one_of(st.just(0), st.just(1), st.integers(0, 4), st.integers(0, 40))

TIMED, START_WITHOUT_TIME, END_WITHOUT_TIME, BOTH_WITHOUT_TIME = "timed", "start date only", "end date only", "both"


@dataclass(frozen=True)
class Case:
    """One drawn case; `end` None is an open case. `kind` says which ends came without a time of
    day (those are then at midnight, as a delivered bare date is stored)."""

    dataset: str
    region_code: str
    applicant_type: str | None
    case_type: str | None
    start: dt.datetime
    end: dt.datetime | None
    kind: str = TIMED

    @property
    def start_date_only(self) -> bool:
        return self.kind in (START_WITHOUT_TIME, BOTH_WITHOUT_TIME)

    @property
    def end_date_only(self) -> bool:
        return self.end is not None and self.kind in (END_WITHOUT_TIME, BOTH_WITHOUT_TIME)

    @property
    def lacks_time_of_day(self) -> bool:
        return self.start_date_only or self.end_date_only

    def expected_workdays(self) -> float | None:
        if self.end is None or self.lacks_time_of_day:
            return None
        return oracle_workdays(self.start, self.end)

    def __repr__(self) -> str:
        end = "open" if self.end is None else f"{self.end:%Y-%m-%d %H:%M:%S} ({_describe(self.end.date())})"
        flags = "" if self.kind == TIMED else f", {self.kind}"
        return f"Case({self.dataset}, {self.start:%Y-%m-%d %H:%M:%S} ({_describe(self.start.date())}) -> {end}{flags})"


def _describe(day: dt.date) -> str:
    weekday = f"{day:%a}"
    if day in MAKEUP_DAYS_SET:
        return f"{weekday}, make-up working day"
    name = _holiday_name(day)
    if not IS_WORKING_DAY[day]:
        return f"{weekday}, holiday {name}" if name else f"{weekday}, weekend"
    return weekday


MAKEUP_DAYS_SET = frozenset(MAKEUP_DAYS)


@st.composite
def moments(draw: st.DrawFn, *, with_seconds: bool = False) -> tuple[dt.datetime, dt.datetime]:
    """A (start, end) pair inside 2023-01-01 … 2026-12-31, end >= start, at most 40 days apart."""
    start = T.combine(draw(start_days), dt.time()) + dt.timedelta(minutes=draw(minutes_of_day))
    if draw(st.booleans()):
        end = start + dt.timedelta(minutes=draw(lengths))
    else:
        end_day = start.date() + dt.timedelta(days=draw(end_day_offsets))
        end = T.combine(end_day, dt.time()) + dt.timedelta(minutes=draw(minutes_of_day))
        start, end = min(start, end), max(start, end)
    if with_seconds:
        start += dt.timedelta(seconds=draw(st.sampled_from([0, 0, 1, 59]) | st.integers(0, 59)))
        end += dt.timedelta(seconds=draw(st.sampled_from([0, 0, 1, 59]) | st.integers(0, 59)))
    end = min(max(end, start), start + dt.timedelta(days=40), LAST_MOMENT)
    return start, end


@st.composite
def cases(draw: st.DrawFn, dataset: str) -> Case:
    start, end = draw(moments())
    kind = draw(st.sampled_from([TIMED] * 6 + [START_WITHOUT_TIME, END_WITHOUT_TIME, BOTH_WITHOUT_TIME]))
    is_open = draw(st.sampled_from([False] * 9 + [True]))
    if kind in (START_WITHOUT_TIME, BOTH_WITHOUT_TIME):
        start = T.combine(start.date(), dt.time())
    if kind in (END_WITHOUT_TIME, BOTH_WITHOUT_TIME):
        end = T.combine(end.date(), dt.time())
    if is_open:
        end = None
        kind = START_WITHOUT_TIME if kind in (START_WITHOUT_TIME, BOTH_WITHOUT_TIME) else TIMED
    region = draw(st.sampled_from(REGIONS))
    if dataset == "real_estate_case":
        applicant, case_type = draw(st.sampled_from(APPLICANT_TYPES)), draw(st.sampled_from(REGISTRATION_TYPES))
    elif dataset == "registration":
        applicant, case_type = draw(st.sampled_from(ENTITY_TYPES)), None
    else:
        applicant, case_type = None, None
    return Case(dataset, region, applicant, case_type, start, end, kind)


# a batch: 10–20 cases of each dataset, inserted and checked at once
batches = st.tuples(*(st.lists(cases(dataset), min_size=10, max_size=20) for dataset in DATASETS)).map(
    lambda lists: [case for cases_ in lists for case in cases_]
)


# ---------------------------------------------------------------------------------------------
# loading cases into core

BATCH_ID = "property-test"
CHANGED_AT = T(2027, 1, 2, 9, 0)
KEY_PREFIX = {"real_estate_case": "RE", "tax_refund": "TX", "registration": "RG"}
# rows the view must leave out; inserted once per warehouse under their own batch id
DISTRACTOR_BATCH_ID = "property-test-distractors"


def _timestamps(values: list[dt.datetime | None]) -> pd.Series:
    return pd.Series([pd.NaT if v is None else v for v in values], dtype="datetime64[us]")


def _bools(values: list[bool]) -> pd.Series:
    return pd.Series(values, dtype=bool)


def _objects(values: list) -> pd.Series:
    return pd.Series(values, dtype=object)


def keyed(batch: list[Case]) -> dict[tuple[str, str], Case]:
    """The batch by (dataset, record_key), keys numbered per dataset."""
    numbers: dict[str, Iterator[int]] = {dataset: itertools.count(1) for dataset in DATASETS}
    return {(c.dataset, f"{KEY_PREFIX[c.dataset]}{next(numbers[c.dataset]):04d}"): c for c in batch}


def core_frames(cases_by_key: dict[tuple[str, str], Case], batch_id: str = BATCH_ID) -> dict[str, pd.DataFrame]:
    """The core rows of the cases: one frame per table, only the tables that get rows."""
    by_dataset: dict[str, list[tuple[str, Case]]] = {dataset: [] for dataset in DATASETS}
    for (dataset, key), case in cases_by_key.items():
        by_dataset[dataset].append((key, case))
    frames = {}
    rows = by_dataset["real_estate_case"]
    if rows:
        keys, cs = zip(*rows, strict=True)
        frames["core.real_estate_case"] = pd.DataFrame(
            {
                "case_id": _objects(list(keys)),
                "unit_code": _objects([f"152921001001GB{i:05d}F00010001" for i in range(len(keys))]),
                "applicant_type": _objects([c.applicant_type for c in cs]),
                "registration_type": _objects([c.case_type for c in cs]),
                "region_code": _objects([c.region_code for c in cs]),
                "submitted_at": _timestamps([c.start for c in cs]),
                "completed_at": _timestamps([c.end for c in cs]),
                "submitted_at_date_only": _bools([c.start_date_only for c in cs]),
                "completed_at_date_only": _bools([c.end_date_only for c in cs]),
                "updated_at": _timestamps([CHANGED_AT] * len(cs)),
                "batch_id": _objects([batch_id] * len(cs)),
                "changed_at": _timestamps([CHANGED_AT] * len(cs)),
            }
        )
    rows = by_dataset["tax_refund"]
    if rows:
        keys, cs = zip(*rows, strict=True)
        frames["core.tax_filing"] = pd.DataFrame(
            {
                "filing_id": _objects(list(keys)),
                "uscc": _objects([f"91152921MA{i:08d}" for i in range(len(keys))]),
                "region_code": _objects([c.region_code for c in cs]),
                "tax_period": _objects([f"{c.start:%Y-%m}" for c in cs]),
                "filed_at": _timestamps([T.combine(c.start.date(), dt.time(9)) for c in cs]),
                "channel": _objects(["电子税务局"] * len(cs)),
                "refund_requested_at": _timestamps([c.start for c in cs]),
                "refund_completed_at": _timestamps([c.end for c in cs]),
                "refund_requested_at_date_only": _bools([c.start_date_only for c in cs]),
                "refund_completed_at_date_only": _bools([c.end_date_only for c in cs]),
                "updated_at": _timestamps([CHANGED_AT] * len(cs)),
                "batch_id": _objects([batch_id] * len(cs)),
                "changed_at": _timestamps([CHANGED_AT] * len(cs)),
            }
        )
    rows = by_dataset["registration"]
    if rows:
        keys, cs = zip(*rows, strict=True)
        frames["core.registration"] = registration_frame(
            list(keys), cs, event_types=["设立"] * len(cs), batch_id=batch_id
        )
    return frames


def registration_frame(keys: list[str], cs: tuple[Case, ...], *, event_types: list[str | None],
                       batch_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uscc": _objects(keys),
            "name": _objects([f"测试主体{k}" for k in keys]),
            "name_key": _objects([f"测试主体{k}" for k in keys]),
            "entity_type": _objects([c.applicant_type for c in cs]),
            "region_code": _objects([c.region_code for c in cs]),
            "established_date": _objects([(c.end or c.start).date() for c in cs]),
            "submitted_at": _timestamps([c.start for c in cs]),
            "issued_at": _timestamps([c.end for c in cs]),
            "channel": _objects(["全程电子化"] * len(cs)),
            "status": _objects(["存续"] * len(cs)),
            "event_type": _objects(event_types),
            "submitted_at_date_only": _bools([c.start_date_only for c in cs]),
            "issued_at_date_only": _bools([c.end_date_only for c in cs]),
            "updated_at": _timestamps([CHANGED_AT] * len(cs)),
            "batch_id": _objects([batch_id] * len(cs)),
            "changed_at": _timestamps([CHANGED_AT] * len(cs)),
        }
    )


def insert_cases(engine: Engine, cases_by_key: dict[tuple[str, str], Case]) -> None:
    with engine.begin() as conn:
        for table, frame in core_frames(cases_by_key).items():
            insert_core_rows(conn, table, frame)


def delete_cases(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in ("core.real_estate_case", "core.tax_filing", "core.registration"):
            delete_core_rows(conn, table, BATCH_ID)


def insert_distractors(engine: Engine) -> None:
    """Rows of the source tables that are no case of the view: registrations that are not 设立
    (变更, 注销, 迁出) or have no submission time, tax filings without a refund. Every registration
    row has its 业务类型 since revision 0012 (it is part of the application's key)."""
    case = Case("registration", "152921", "企业", None, T(2024, 6, 4, 9, 0), T(2024, 6, 4, 11, 0))
    open_case = Case("registration", "152921", "企业", None, T(2024, 6, 4, 9, 0), None)
    no_start = Case("registration", "152921", "企业", None, T(2024, 6, 4, 9, 0), T(2024, 6, 4, 11, 0))
    registrations = registration_frame(
        ["XD0001", "XD0002", "XD0003", "XD0004"], (case, open_case, case, no_start),
        event_types=["变更", "注销", "迁出", "设立"], batch_id=DISTRACTOR_BATCH_ID,
    )
    registrations.loc[3, "submitted_at"] = pd.NaT
    filings = core_frames({("tax_refund", "XD0005"): case}, DISTRACTOR_BATCH_ID)["core.tax_filing"]
    filings["refund_requested_at"] = _timestamps([None])
    filings["refund_completed_at"] = _timestamps([None])
    with engine.begin() as conn:
        insert_core_rows(conn, "core.registration", registrations)
        insert_core_rows(conn, "core.tax_filing", filings)


# ---------------------------------------------------------------------------------------------
# the warehouse under test

VIEW_COLUMNS = (
    "dataset, record_key, region_code, applicant_type, case_type, started_at, completed_at, "
    "lacks_time_of_day, workdays"
)


def prepare_warehouse(engine: Engine) -> None:
    """ops.work_calendar for 2023–2026 and ops.office_period as the indicator engine fills them
    (bizenv.calendar / bizenv.indicators), and the distractor rows."""
    days = calendar.working_days_table(FIRST_DAY, LAST_DAY)
    differing = [(day, working) for day, working, _ in days if working != IS_WORKING_DAY[day]]
    assert not differing, (
        f"bizenv.calendar.working_days_table disagrees with chinese_calendar on {len(differing)} days, "
        f"first {differing[:5]} (day, working day per bizenv.calendar)"
    )
    frame = pd.DataFrame(
        {
            "day": _objects([day for day, _, _ in days]),
            "is_working_day": _bools([working for _, working, _ in days]),
            "source": _objects([source for _, _, source in days]),
        }
    )
    with engine.begin() as conn:
        conn.execute(text("delete from ops.work_calendar"))
        bulk_insert(conn, "ops.work_calendar", frame)
        _refresh_office_periods(conn)
    insert_distractors(engine)


def _without_jit(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("set jit = off")
    dbapi_connection.commit()


@pytest.fixture
def warehouse(warehouse_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(warehouse_settings.warehouse_url)
    if engine.dialect.name == "postgresql":
        # Without statistics on the freshly filled tables the planner prices the view's range
        # join at millions and JIT-compiles every query: 1.5 s of compiling for 30 ms of work.
        # JIT changes no result, so it is off for these connections only.
        event.listen(engine, "connect", _without_jit)
    try:
        prepare_warehouse(engine)
        yield engine
    finally:
        engine.dispose()


def view_rows(engine: Engine) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        result = conn.execute(text(f"select {VIEW_COLUMNS} from core.v_case_workdays"))
        rows = [dict(row._mapping) for row in result]
    by_key: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["dataset"], row["record_key"])
        assert key not in by_key, f"core.v_case_workdays has {key} more than once"
        by_key[key] = row
    return by_key


def mismatches(cases_by_key: dict[tuple[str, str], Case], rows: dict[tuple[str, str], dict]) -> list[str]:
    """Every way the view's rows differ from the cases and the oracle, one line each."""
    problems = []
    missing = sorted(set(cases_by_key) - set(rows))
    extra = sorted(set(rows) - set(cases_by_key))
    problems += [f"{key} {cases_by_key[key]!r}: missing from the view" for key in missing]
    problems += [f"{key}: in the view but not a case ({rows[key]})" for key in extra]
    for key in sorted(set(cases_by_key) & set(rows)):
        case, row = cases_by_key[key], rows[key]
        wanted = {
            "region_code": case.region_code,
            "applicant_type": case.applicant_type,
            "case_type": case.case_type,
            "started_at": case.start,
            "completed_at": case.end,
            "lacks_time_of_day": case.lacks_time_of_day,
        }
        for column, value in wanted.items():
            if row[column] != value:
                problems.append(f"{key} {case!r}: {column} is {row[column]!r}, expected {value!r}")
        expected, got = case.expected_workdays(), row["workdays"]
        if expected is None or got is None:
            if expected is not got:
                problems.append(f"{key} {case!r}: workdays {got!r}, expected {expected!r}")
        elif abs(float(got) - expected) > 1e-9:
            problems.append(
                f"{key} {case!r}: workdays {float(got)!r}, oracle {expected!r} "
                f"(off by {float(got) - expected:+.6f} working days = {(float(got) - expected) * 8:+.4f} h)"
            )
    return problems


def check_view(engine: Engine, cases_by_key: dict[tuple[str, str], Case]) -> None:
    """Insert the cases, compare the view with the oracle, delete them again."""
    insert_cases(engine, cases_by_key)
    try:
        problems = mismatches(cases_by_key, view_rows(engine))
    finally:
        delete_cases(engine)
    assert not problems, (
        f"core.v_case_workdays disagrees with the oracle on {len(problems)} of {len(cases_by_key)} cases:\n  "
        + "\n  ".join(problems)
    )


# ---------------------------------------------------------------------------------------------
# 1. the view on random batches

# an example (30–60 cases) takes ~0.15 s on either warehouse on 2 cores, a third of it drawing
# the cases: 100 examples keep each warehouse of this file well under a minute. Every run draws
# new cases: no derandomize, and no example database (nothing is replayed from an earlier run
# and no .hypothesis/ directory is written into the tree); a failure prints its cases and a
# @reproduce_failure blob.
VIEW_EXAMPLES = 100


@settings(
    max_examples=VIEW_EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches)
def test_view_matches_the_oracle_on_random_cases(warehouse: Engine, batch: list[Case]) -> None:
    cases_by_key = keyed(batch)
    note("cases (key: case):\n" + "\n".join(f"  {key}: {case!r}" for key, case in cases_by_key.items()))
    check_view(warehouse, cases_by_key)


# ---------------------------------------------------------------------------------------------
# 2. hand-worked cases the old view (0003, a left join summing least/greatest over no slot)
#    turned into their wall-clock time

HAND_WORKED = [
    # Sat 2024-06-01 is no working day (no 调休 that weekend): no office slot -> 0
    # (the old view: 09:00–17:00 wall-clock = 8 h -> 1.0)
    pytest.param(T(2024, 6, 1, 9, 0), T(2024, 6, 1, 17, 0), 0.0, id="saturday"),
    # 2024-10-01…07 National Day: 10-02 and 10-03 are days off -> 0
    # (the old view: 25 h wall-clock -> 3.125)
    pytest.param(T(2024, 10, 2, 10, 0), T(2024, 10, 3, 11, 0), 0.0, id="national-day-holiday"),
    # Tue 2024-06-04 18:30 (after closing) -> Wed 06-05 08:00 (before opening) -> 0
    # (the old view: 13.5 h -> 1.6875)
    pytest.param(T(2024, 6, 4, 18, 30), T(2024, 6, 5, 8, 0), 0.0, id="overnight"),
    # Tue 2024-06-04 12:10 -> 13:20, inside the 12:00–13:30 lunch break -> 0
    # (the old view: 70 min -> 0.1458…)
    pytest.param(T(2024, 6, 4, 12, 10), T(2024, 6, 4, 13, 20), 0.0, id="lunch-break"),
    # Tue 2024-06-04 18:00 (the slot just closed) -> Wed 06-05 08:30 (the slot just opens):
    # [18:00, 08:30) meets neither slot -> 0 (the old view: 14.5 h -> 1.8125)
    pytest.param(T(2024, 6, 4, 18, 0), T(2024, 6, 5, 8, 30), 0.0, id="ends-when-the-slot-opens"),
    # Sun 2024-09-29 is a make-up working day (调休 for National Day): 09:00–11:00 = 2 h
    # inside 08:30–12:00 -> 2 h / 8 h = 0.25
    pytest.param(T(2024, 9, 29, 9, 0), T(2024, 9, 29, 11, 0), 0.25, id="make-up-sunday"),
    # [10:00, 10:00) is empty -> 0
    pytest.param(T(2024, 6, 4, 10, 0), T(2024, 6, 4, 10, 0), 0.0, id="zero-length"),
]


@pytest.mark.parametrize(("start", "end", "expected"), HAND_WORKED)
def test_view_on_hand_worked_cases(warehouse: Engine, start: dt.datetime, end: dt.datetime,
                                   expected: float) -> None:
    assert oracle_workdays(start, end) == expected  # the oracle agrees with the hand
    cases_by_key = {
        (dataset, f"{KEY_PREFIX[dataset]}0001"): Case(dataset, "152921", applicant, case_type, start, end)
        for dataset, applicant, case_type in (
            ("real_estate_case", "企业", "转移登记"), ("tax_refund", None, None), ("registration", "企业", None)
        )
    }
    insert_cases(warehouse, cases_by_key)
    try:
        rows = view_rows(warehouse)
    finally:
        delete_cases(warehouse)
    assert set(rows) == set(cases_by_key), f"view rows {sorted(rows)}, cases {sorted(cases_by_key)}"
    for key, row in rows.items():
        assert row["workdays"] == pytest.approx(expected, abs=1e-9), (
            f"{key} {start} -> {end}: workdays {row['workdays']!r}, expected {expected!r}"
        )


@pytest.mark.parametrize(("start", "end", "expected"), HAND_WORKED)
def test_working_days_between_on_hand_worked_cases(start: dt.datetime, end: dt.datetime, expected: float) -> None:
    assert calendar.working_days_between(start, end) == pytest.approx(expected, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# 3. the production Python function on many random cases (no database)


# ~6 ms an example (the production function reads the calendar file for each day): ~10 s
@settings(max_examples=1500, deadline=None, database=None, print_blob=True)
@given(moment_pair=moments(with_seconds=True))
def test_working_days_between_matches_the_oracle(moment_pair: tuple[dt.datetime, dt.datetime]) -> None:
    start, end = moment_pair
    got, expected = calendar.working_days_between(start, end), oracle_workdays(start, end)
    assert abs(got - expected) <= 1e-9, (
        f"working_days_between({start:%Y-%m-%d %H:%M:%S} ({_describe(start.date())}), "
        f"{end:%Y-%m-%d %H:%M:%S} ({_describe(end.date())})) = {got!r}, oracle {expected!r}"
    )


def test_the_draws_reach_the_special_days() -> None:
    """The pools the draws are biased towards hold what they are named after."""
    assert dt.date(2024, 9, 29) in MAKEUP_DAYS and dt.date(2024, 10, 2) in HOLIDAYS
    assert all(d.weekday() >= 5 for d in MAKEUP_DAYS) and all(d.weekday() >= 5 for d in WEEKENDS)
    assert {510, 720, 810, 1080, 0, 1439} <= set(BOUNDARY_MINUTES)
