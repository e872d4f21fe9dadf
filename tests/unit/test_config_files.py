"""indicators.yaml, regions.yaml and work_calendar.yaml through their pydantic models: unknown keys,
wrong types and out-of-range values are refused with one line naming the file, the entry
(indicator, region or year) and the field, never a pydantic dump; the committed files load."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bizenv import calendar, indicators, regions
from bizenv.cli import main
from bizenv.config_files import ConfigFileError
from bizenv.errors import Refused

SHIPPED_CATALOG = yaml.safe_load(indicators.DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
SHIPPED_REGIONS = yaml.safe_load(regions.DEFAULT_REGIONS_PATH.read_text(encoding="utf-8"))
SHIPPED_CALENDAR = calendar.DEFAULT_WORK_CALENDAR_PATH.read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def shipped_files(monkeypatch) -> None:
    for variable in (indicators.INDICATORS_FILE_ENV, "BIZENV_REGIONS_FILE", calendar.WORK_CALENDAR_ENV):
        monkeypatch.delenv(variable, raising=False)


def one_line(call: Callable[[], Any]) -> str:
    """The refusal of `call`: a one-line ValueError, not a pydantic ValidationError."""
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert not isinstance(info.value, ValidationError), message
    assert "\n" not in message and "Input should" not in message and "errors.pydantic.dev" not in message
    return message


def dump(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# indicators.yaml


def catalog_with(change: Callable[[dict], None]) -> dict:
    document = copy.deepcopy(SHIPPED_CATALOG)
    change(document)
    return document


def set_key(number: int, key: str, value: Any) -> Callable[[dict], None]:
    return lambda document: document["indicators"][number - 1].__setitem__(key, value)


def drop_key(number: int, key: str) -> Callable[[dict], None]:
    return lambda document: document["indicators"][number - 1].pop(key)


# entry 1 new_entities (户), 3 startup_workdays_median (个工作日, target 0.5 <=), 4 full_e_registration_rate (ratio)
@pytest.mark.parametrize(("change", "entry", "message"), [
    (set_key(3, "target", -0.5), "indicator 'startup_workdays_median' (entry 3)",
     "target must be a number of at least 0, got -0.5"),
    (set_key(3, "target", "0.5"), "indicator 'startup_workdays_median' (entry 3)",
     "target must be a number, got '0.5'"),
    (set_key(3, "target", True), "indicator 'startup_workdays_median' (entry 3)", "target must be a number, got True"),
    (set_key(4, "target", 1.5), "indicator 'full_e_registration_rate' (entry 4)",
     "target must be at most 1 for unit ratio (a share), got 1.5"),
    (set_key(4, "target_operator", "<"), "indicator 'full_e_registration_rate' (entry 4)",
     "target_operator must be '<=' or '>=', got '<'"),
    (set_key(4, "target_operator", None), "indicator 'full_e_registration_rate' (entry 4)",
     "target and target_operator must both be set or both be null"),
    (set_key(4, "unit", "Ratio"), "indicator 'full_e_registration_rate' (entry 4)",
     "unit must be '户', '个工作日', '条/户' or 'ratio', got 'Ratio'"),
    (set_key(3, "policy_limit", -1), "indicator 'startup_workdays_median' (entry 3)",
     "policy_limit must be a number of at least 0, got -1"),
    (set_key(1, "policy_limit", 3), "indicator 'new_entities' (entry 1)",
     "policy_limit applies to durations (unit 个工作日) only; it must be null for unit 户"),
    (set_key(1, "direction", "up"), "indicator 'new_entities' (entry 1)",
     "direction must be 'higher_is_better', 'lower_is_better' or 'neutral', got 'up'"),
    (set_key(1, "name_zh", "  "), "indicator 'new_entities' (entry 1)", "name_zh must not be empty"),
    (set_key(1, "name_en", 5), "indicator 'new_entities' (entry 1)", "name_en must be text, got 5"),
    (set_key(1, "datasets", ["registration", "registration"]), "indicator 'new_entities' (entry 1)",
     "datasets lists registration more than once"),
    (set_key(1, "datasets", "registration"), "indicator 'new_entities' (entry 1)",
     "datasets must be a non-empty list of registration, tax_filing, credit_record, real_estate_case, "
     "got 'registration'"),
    (set_key(1, "colour", "red"), "indicator 'new_entities' (entry 1)",
     "unknown keys colour (allowed: code, name_zh, name_en, unit, direction, target, target_operator, "
     "definition, policy_reference, policy_limit, breakdown_name, datasets)"),
    (drop_key(1, "definition"), "indicator 'new_entities' (entry 1)", "missing keys definition"),
    (set_key(2, "code", "Surviving-Entities"), "indicator 'Surviving-Entities' (entry 2)",
     "code must be a lowercase identifier such as new_entities"),
    (set_key(2, "code", "new_entities"), "indicator 'new_entities' (entry 2)",
     "duplicate indicator codes: code 'new_entities' is also entry 1"),
    (lambda d: d["indicators"].__setitem__(1, ["new_entities"]), "entry 2", "entry must be a mapping"),
])
def test_a_broken_indicator_names_file_indicator_and_field(tmp_path, monkeypatch, change, entry, message):
    path = dump(tmp_path / "indicators.yaml", catalog_with(change))
    monkeypatch.setenv(indicators.INDICATORS_FILE_ENV, str(path))
    for load in (indicators.load_catalog, indicators.load_minimum_sample):  # both read the file in use
        refusal = one_line(load)
        assert refusal.startswith(f"{path}: {entry}: "), refusal
        assert message in refusal, refusal


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.__setitem__("minimum_sample", 0), "minimum_sample must be a whole number of at least 1, got 0"),
    (lambda d: d.__setitem__("minimum_sample", 2.5), "minimum_sample must be a whole number, got 2.5"),
    (lambda d: d.__setitem__("minimum_sample", "5"), "minimum_sample must be a whole number, got '5'"),
    (lambda d: d.__setitem__("minimum_sample", True), "minimum_sample must be a whole number, got True"),
    (lambda d: d.__setitem__("minimum_samples", 3),
     "unknown keys minimum_samples (allowed: minimum_sample, indicators)"),
    (lambda d: d.__setitem__("indicators", []), "indicators must be a non-empty list, got []"),
    (lambda d: d.pop("indicators"), "missing keys indicators"),
])
def test_a_broken_catalog_file_names_the_file_and_field(tmp_path, change, message):
    path = dump(tmp_path / "catalog.yaml", catalog_with(change))
    for load in (indicators.load_catalog, indicators.load_minimum_sample):
        assert one_line(lambda load=load: load(path)) == f"{path}: {message}"


def test_an_unreadable_catalog_is_one_line(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv(indicators.INDICATORS_FILE_ENV, str(missing))
    assert one_line(indicators.load_catalog).startswith(f"{missing}: cannot read (")
    broken = tmp_path / "broken.yaml"
    broken.write_text("indicators:\n  - code: [\n", encoding="utf-8")
    assert one_line(lambda: indicators.load_catalog(broken)).startswith(f"{broken}: not valid YAML at line ")


def test_the_catalog_file_comes_from_the_environment(tmp_path, monkeypatch):
    document = catalog_with(lambda d: d.update(minimum_sample=12, indicators=d["indicators"][:1]))
    monkeypatch.setenv(indicators.INDICATORS_FILE_ENV, str(dump(tmp_path / "catalog.yaml", document)))
    assert [d.code for d in indicators.load_catalog()] == ["new_entities"]
    assert indicators.load_minimum_sample() == 12
    monkeypatch.delenv(indicators.INDICATORS_FILE_ENV)
    assert len(indicators.load_catalog()) == 10 and indicators.load_minimum_sample() == 5


# --------------------------------------------------------------------------------------------
# regions.yaml


def regions_with(change: Callable[[dict], None]) -> dict:
    document = copy.deepcopy(SHIPPED_REGIONS)
    change(document)
    return document


def set_unit(number: int, key: str, value: Any) -> Callable[[dict], None]:
    return lambda document: document["regions"][number - 1].__setitem__(key, value)


@pytest.mark.parametrize(("change", "entry", "message"), [
    (set_unit(2, "code", 152922), "region 152922 (entry 2)",
     'code 152922 is not six digits in quotes: YAML reads an unquoted code as a number; write "152922"'),
    (set_unit(2, "code", "15292"), "region '15292' (entry 2)", "code '15292' is not six digits"),
    (set_unit(2, "code", "15292a"), "region '15292a' (entry 2)", "code '15292a' is not six digits"),
    (set_unit(3, "kind", "园区"), "region '152923' (entry 3)",
     "kind must be '旗县区', '开发区' or '盟本级', got '园区'"),
    (set_unit(1, "name", " "), "region '152921' (entry 1)", "name must not be empty"),
    (set_unit(1, "name", 7), "region '152921' (entry 1)", "name must be text, got 7"),
    (set_unit(1, "colour", "red"), "region '152921' (entry 1)", "unknown keys colour (allowed: code, name, kind)"),
    (lambda d: d["regions"][1].pop("name"), "region '152922' (entry 2)",
     "missing keys name (expected regions[].code/name[/kind])"),
    (set_unit(3, "code", "152921"), "region '152921' (entry 3)", "code '152921' appears more than once (also entry 1)"),
    (set_unit(3, "code", "152900"), "region '152900' (entry 3)",
     "code '152900' appears more than once: it is the prefecture's own code"),
    (lambda d: d["prefecture"].__setitem__("code", "1529"), "prefecture", "code '1529' is not six digits"),
    (lambda d: d["prefecture"].pop("name"), "prefecture", "missing keys name (expected prefecture.code/name)"),
])
def test_a_broken_region_names_file_region_and_field(tmp_path, monkeypatch, change, entry, message):
    path = dump(tmp_path / "regions.yaml", regions_with(change))
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(path))
    refusal = one_line(regions.load_regions)
    assert refusal.startswith(f"{path}: {entry}: "), refusal
    assert message in refusal, refusal


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.__setitem__("zones", []), "unknown keys zones (allowed: prefecture, regions)"),
    (lambda d: d.__setitem__("regions", {"152921": "阿拉善左旗"}),
     "regions must be a list, got {'152921': '阿拉善左旗'}"),
])
def test_a_broken_regions_file_names_the_file_and_field(tmp_path, change, message):
    path = dump(tmp_path / "regions.yaml", regions_with(change))
    assert one_line(lambda: regions.load_regions(path)) == f"{path}: {message}"


def test_a_regions_edit_is_seen_at_once(tmp_path, monkeypatch):
    path = dump(tmp_path / "regions.yaml", SHIPPED_REGIONS)
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(path))
    assert regions.load_regions().codes == ["152900", "152921", "152922", "152923"]
    dump(path, regions_with(set_unit(3, "kind", "园区")))
    assert "kind must be" in one_line(regions.load_regions)
    path.write_text("regions: [\n", encoding="utf-8")
    assert one_line(regions.load_regions).startswith(f"{path}: not valid YAML at line ")


# --------------------------------------------------------------------------------------------
# work_calendar.yaml


@pytest.mark.parametrize(("old", "new", "message"), [
    ("- 2025-01-01 ", "- 2025-02-30 ", "year 2025: days_off entry must be a date YYYY-MM-DD, got '2025-02-30'"),
    ("- 2025-01-26 ", "- 20250126 ", "year 2025: makeup_working_days entry must be a date YYYY-MM-DD, got 20250126"),
    ("      date: 2024-11-12", "      date: 2024-11-12 09:00:00",
     "year 2025: notice date must be a date YYYY-MM-DD, got '2024-11-12 09:00:00'"),
    ('      number: "国办发明电〔2024〕12号"', "      number: 12",
     "year 2025: notice number must be text such as 国办发明电〔2024〕12号, got 12"),
    ('      url: "https://www.gov.cn/', '      url: "ftp://www.gov.cn/', "year 2025: notice url must be the notice's"),
    ("    notice:\n", "    source: x\n    notice:\n",
     "year 2025: expected exactly the keys ['days_off', 'makeup_working_days', 'notice'], got"),
    ('      url: "https', '      title: T\n      url: "https',
     "year 2025: notice has unknown keys ['title']; expected ['date', 'number', 'url']"),
    ("  2025:", '  "2025":', "year '2025' is not a four-digit year"),
    ("  2025:", "  25:", "year 25 is not a four-digit year"),
    ("      - 2025-01-01                  # 元旦\n", "      - 2025-01-03..2025-01-01\n",
     "year 2025: 2025-01-03: days_off range '2025-01-03..2025-01-01' ends before it starts"),
])
def test_a_broken_calendar_names_file_year_and_field(tmp_path, monkeypatch, old, new, message):
    assert old in SHIPPED_CALENDAR
    path = tmp_path / "calendar.yaml"
    path.write_text(SHIPPED_CALENDAR.replace(old, new, 1), encoding="utf-8")
    monkeypatch.setenv(calendar.WORK_CALENDAR_ENV, str(path))
    refusal = one_line(lambda: calendar.is_working_day(calendar.dt.date(2024, 6, 3)))
    assert refusal.startswith(f"invalid working-day calendar {path}: {message}"), refusal


# --------------------------------------------------------------------------------------------
# the committed files, and the command line


def test_the_committed_files_load() -> None:
    catalog = indicators.load_catalog(indicators.DEFAULT_CATALOG_PATH)
    assert len(catalog) == 10 and indicators.load_minimum_sample(indicators.DEFAULT_CATALOG_PATH) == 5
    assert {d.unit for d in catalog} <= set(indicators.UNITS)
    assert regions.load_regions(regions.DEFAULT_REGIONS_PATH).codes == ["152900", "152921", "152922", "152923"]
    assert list(calendar.load_work_calendar(calendar.DEFAULT_WORK_CALENDAR_PATH)) == [2025]
    # and they are the defaults
    assert indicators.catalog_path() == indicators.DEFAULT_CATALOG_PATH
    assert regions.regions_path() == regions.DEFAULT_REGIONS_PATH
    assert calendar.work_calendar_path() == calendar.DEFAULT_WORK_CALENDAR_PATH


def test_the_command_line_prints_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BIZENV_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path / "var"))
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    catalog = dump(tmp_path / "catalog.yaml", catalog_with(set_key(4, "target", 1.5)))
    units = dump(tmp_path / "regions.yaml", regions_with(set_unit(2, "code", 152922)))
    days = tmp_path / "calendar.yaml"
    days.write_text(SHIPPED_CALENDAR.replace("- 2025-01-01 ", "- 2025-02-30 "), encoding="utf-8")
    for variable, path, argv, entry in [
        (indicators.INDICATORS_FILE_ENV, catalog, ["indicators", "compute", "--month", "2024-06"],
         f"{catalog}: indicator 'full_e_registration_rate' (entry 4): target must be at most 1"),
        ("BIZENV_REGIONS_FILE", units, ["indicators", "compute", "--month", "2024-06"],
         f"{units}: region 152922 (entry 2): code 152922 is not six digits in quotes"),
        (calendar.WORK_CALENDAR_ENV, days, ["calendar", "check"],
         f"invalid working-day calendar {days}: year 2025: days_off entry must be a date"),
    ]:
        monkeypatch.setenv(variable, str(path))
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert captured.err.startswith(f"error: {entry}"), captured.err
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
        monkeypatch.delenv(variable)
    assert issubclass(ConfigFileError, Refused)  # the CLI prints a refusal as its one line
