"""The simulator draws from production's contracts and config, not from copies of its own:
headers and allowed values from bizenv.datasets, reporting units from regions.yaml, office hours
from office_hours.yaml and working days from bizenv.calendar. Each test changes or reads the
production side and checks the simulated data follows it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from openpyxl import load_workbook

from bizenv import calendar, codes
from bizenv.datasets import DATASETS, REGISTRATION
from bizenv.regions import load_regions
from bizenv.settings import CONFIG_DIR
from bizenv.simulator.simulate import DefectRates, is_outsider_uscc, simulate, write_files

MONTHS = ("2024-05", "2024-06")
ZONE = "152971"
ZONE_NAME = "阿拉善经济开发区"
# office-bound timestamps: a case or application is received and finished at the counter
OFFICE_BOUND = {"real_estate_case": ("submitted_at", "completed_at")}


@pytest.fixture(scope="module")
def clean():
    return simulate(entities=400, months=MONTHS, seed=5, defects=DefectRates.none())


@pytest.mark.parametrize("xlsx", [False, True])
def test_every_written_header_is_the_contracts(clean, tmp_path, xlsx):
    paths = write_files(clean, tmp_path, xlsx=set(DATASETS) if xlsx else frozenset())
    for name, dataset in DATASETS.items():
        if xlsx:
            header = list(next(load_workbook(paths[name], read_only=True).worksheets[0].iter_rows(values_only=True)))
        else:
            header = list(pd.read_csv(paths[name], encoding=_encoding_of(paths[name]), nrows=0).columns)
        assert header == [c.header_zh for c in dataset.columns], name


def _encoding_of(path) -> str:
    raw = path.read_bytes()[:4096]
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError(f"{path}: neither UTF-8 nor GB18030")


def test_every_enumerated_value_is_allowed_by_the_contract(clean):
    for name, dataset in DATASETS.items():
        frame = clean.dataset(name)
        for column in dataset.columns:
            if column.values:
                drawn = set(frame[column.name]) - {""}
                assert drawn <= set(column.values), (name, column.name, drawn - set(column.values))
    # every 市场主体类型 of the contract is drawn, not a subset the simulator happens to know
    assert set(clean.registration["entity_type"]) == set(REGISTRATION.column("entity_type").values)


def test_a_value_the_contract_adds_without_a_share_is_refused_in_one_line(monkeypatch):
    from bizenv.simulator import simulate as module

    monkeypatch.setattr(module, "_ENTITY_TYPES", [*module._ENTITY_TYPES.tolist(), "外国企业常驻代表机构"])
    with pytest.raises(ValueError, match=r"市场主体类型 外国企业常驻代表机构 of bizenv.datasets has no share") as error:
        simulate(entities=10, months=MONTHS)
    assert "\n" not in str(error.value)


def test_every_simulated_region_is_a_configured_reporting_unit(clean):
    units = set(load_regions().names)
    for name in DATASETS:
        assert set(clean.dataset(name)["region_code"]) <= units, name


@pytest.fixture
def with_zone(tmp_path, monkeypatch):
    """regions.yaml with 额济纳旗 gone, 阿拉善右旗 renamed and a development zone added, plus 152901
    (an unknown_region candidate) configured as 盟本级."""
    shipped = (CONFIG_DIR / "regions.yaml").read_text(encoding="utf-8")
    edited = shipped.replace('  - code: "152923"\n    name: 额济纳旗\n    kind: 旗县区\n', "")
    edited = edited.replace("name: 阿拉善右旗", "name: 右旗测试名")
    edited += f'  - code: "{ZONE}"\n    name: {ZONE_NAME}\n    kind: 开发区\n'
    edited += '  - code: "152901"\n    name: 盟本级测试\n    kind: 盟本级\n'
    path = tmp_path / "regions.yaml"
    path.write_text(edited, encoding="utf-8")
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(path))
    return load_regions()


def test_the_simulator_follows_an_edited_regions_file(with_zone):
    only_unknown_regions = dataclasses.replace(DefectRates.none(), unknown_region=0.05)
    data = simulate(entities=600, months=MONTHS, seed=5, defects=only_unknown_regions)
    units = set(with_zone.names)
    assert units == {"152921", "152922", ZONE, "152901"}
    unknown_rows = data.defects[(data.defects["defect"] == "unknown_region")]
    assert not unknown_rows.empty
    for name in DATASETS:
        frame = data.dataset(name)
        bad = set(unknown_rows.loc[unknown_rows["dataset"] == name, "row_number"] - 1)
        regions = set(frame.loc[~frame.index.isin(bad), "region_code"])
        assert regions <= units and {ZONE, "152901"} <= regions, name
        # an unknown_region row must carry a code that validation refuses, never a configured one
        assert not set(frame.loc[frame.index.isin(bad), "region_code"]) & units, name
    names = data.registration["name"]
    assert names.str.contains(ZONE_NAME).any() and names.str.contains("右旗测试名").any()
    assert not names.str.contains("额济纳旗|阿拉善右旗").any()


def test_resident_ids_drawn_in_an_added_unit_pass_the_production_id_rule(with_zone):
    data = simulate(entities=400, months=MONTHS, seed=5, defects=DefectRates.none())
    reps = data.registration.loc[data.registration["region_code"] == ZONE, "legal_rep_id"]
    assert len(reps) > 10
    assert codes.resident_id_problems(data.registration["legal_rep_id"]).isna().all()
    people = data.real_estate_case.loc[data.real_estate_case["applicant_type"] == "个人", "applicant_id"]
    assert codes.resident_id_problems(people).isna().all()


def test_outsiders_are_told_apart_by_the_configured_prefecture(clean, tmp_path, monkeypatch):
    local = clean.registration["uscc"].iloc[0]
    assert not is_outsider_uscc(local)
    shipped = (CONFIG_DIR / "regions.yaml").read_text(encoding="utf-8")
    other = tmp_path / "regions.yaml"
    other.write_text(shipped.replace('code: "152900"', 'code: "150100"'), encoding="utf-8")
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(other))
    assert is_outsider_uscc(local)


def _seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _assert_within_office_hours(data, periods) -> None:
    for name, columns in OFFICE_BOUND.items():
        for column in columns:
            stamps = pd.to_datetime(data.dataset(name)[column].replace("", None).dropna(), format="%Y-%m-%d %H:%M:%S")
            assert len(stamps) > 20
            assert all(calendar.is_working_day(day) for day in set(stamps.dt.date)), (name, column)
            seconds = stamps.dt.hour * 3600 + stamps.dt.minute * 60 + stamps.dt.second
            # the end of a period is reachable: a case finished exactly as the office closes
            inside = pd.Series(False, index=seconds.index)
            for period in periods:
                inside |= (seconds > _seconds(period.start)) & (seconds <= _seconds(period.end))
            assert inside.all(), (name, column, stamps[~inside].head().tolist())


def test_office_time_is_the_configured_office_hours(clean):
    _assert_within_office_hours(clean, calendar.load_office_periods())


def test_the_simulator_follows_edited_office_hours(tmp_path, monkeypatch):
    hours = tmp_path / "office_hours.yaml"
    hours.write_text('periods:\n  - {start: "10:00", end: "11:00"}\n  - {start: "14:00", end: "15:30"}\n',
                     encoding="utf-8")
    monkeypatch.setattr(calendar, "DEFAULT_OFFICE_HOURS_PATH", hours)
    periods = calendar.load_office_periods()
    data = simulate(entities=300, months=MONTHS, seed=5, defects=DefectRates.none())
    _assert_within_office_hours(data, periods)


def test_the_simulator_follows_the_working_day_calendar_production_reads(monkeypatch):
    """A year of the operator's calendar file overrides the chinese_calendar package for
    durations; here it closes the offices for a week that the package counts as working."""
    import chinese_calendar

    closed = {dt.date(2024, 5, 20) + dt.timedelta(days=i) for i in range(5)}
    year = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    entry = calendar.CalendarYear(
        year=2024,
        notice=calendar.Notice("测试", dt.date(2023, 10, 25), "https://example.invalid/notice"),
        days_off=frozenset({d for d in year if d.weekday() < 5 and not chinese_calendar.is_workday(d)} | closed),
        makeup_working_days=frozenset(d for d in year if d.weekday() >= 5 and chinese_calendar.is_workday(d)),
        source="work_calendar.yaml: 测试",
    )
    real = calendar.load_work_calendar()
    monkeypatch.setattr(calendar, "load_work_calendar", lambda path=None: {**real, 2024: entry})
    assert not any(calendar.is_working_day(day) for day in closed)

    data = simulate(entities=2000, months=MONTHS, seed=5, defects=DefectRates.none())
    _assert_within_office_hours(data, calendar.load_office_periods())
    received = pd.to_datetime(data.real_estate_case["submitted_at"], format="%Y-%m-%d %H:%M:%S").dt.date
    assert not set(received) & closed
    # the package alone would have had the offices open that week
    monkeypatch.setattr(calendar, "load_work_calendar", lambda path=None: real)
    unchanged = simulate(entities=2000, months=MONTHS, seed=5, defects=DefectRates.none())
    opened = pd.to_datetime(unchanged.real_estate_case["submitted_at"], format="%Y-%m-%d %H:%M:%S").dt.date
    assert set(opened) & closed
