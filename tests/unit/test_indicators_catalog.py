"""The indicator catalog (include/config/indicators.yaml) and month arithmetic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bizenv.indicators import IndicatorDef, load_catalog, month_bounds
from bizenv.settings import SQL_DIR
from bizenv.warehouse import sql_text

DESIGN_CODES = [
    "new_entities",
    "surviving_entities",
    "startup_workdays_median",
    "full_e_registration_rate",
    "re_enterprise_workdays_median",
    "tax_online_rate",
    "tax_refund_workdays_median",
    "dishonest_share",
    "fulfilment_share",
    "cross_dept_match_rate",
]


@pytest.mark.parametrize(
    ("month", "first", "following"),
    [
        ("2024-06", dt.date(2024, 6, 1), dt.date(2024, 7, 1)),
        ("2024-12", dt.date(2024, 12, 1), dt.date(2025, 1, 1)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 3, 1)),
        ("2023-01", dt.date(2023, 1, 1), dt.date(2023, 2, 1)),
    ],
)
def test_month_bounds(month: str, first: dt.date, following: dt.date) -> None:
    assert month_bounds(month) == (first, following)


@pytest.mark.parametrize(
    "bad", ["2024-13", "2024-00", "2024-6", "202406", "2024/06", "June", "", "2024-06-01"]
)
def test_month_bounds_rejects_bad_months(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM") as caught:
        month_bounds(bad)
    assert "\n" not in str(caught.value)


def test_catalog_has_the_design_indicators_in_order() -> None:
    catalog = load_catalog()
    assert [d.code for d in catalog] == DESIGN_CODES
    assert all(isinstance(d, IndicatorDef) for d in catalog)
    by_code = {d.code: d for d in catalog}
    assert (
        by_code["startup_workdays_median"].target,
        by_code["startup_workdays_median"].target_operator,
    ) == (
        0.5,
        "<=",
    )
    assert (
        by_code["full_e_registration_rate"].target,
        by_code["full_e_registration_rate"].target_operator,
    ) == (
        0.95,
        ">=",
    )
    assert (
        by_code["re_enterprise_workdays_median"].target,
        by_code["re_enterprise_workdays_median"].unit,
    ) == (
        0.5,
        "个工作日",
    )
    assert by_code["tax_online_rate"].target == 0.9
    assert by_code["dishonest_share"].direction == "lower_is_better"
    assert (by_code["fulfilment_share"].direction, by_code["fulfilment_share"].unit) == ("higher_is_better", "条/户")
    assert by_code["new_entities"].name_zh == "新设市场主体数"
    assert by_code["new_entities"].unit == "户"
    for d in catalog:
        assert d.name_zh and d.name_en and d.definition
        assert d.direction in ("higher_is_better", "lower_is_better", "neutral")
        assert (d.target is None) == (d.target_operator is None)
        if d.unit == "ratio" and d.target is not None:
            assert 0 <= d.target <= 1


def test_every_indicator_has_one_sql_statement() -> None:
    files = sorted(p.stem for p in (SQL_DIR / "indicators").glob("*.sql"))
    assert files == sorted(DESIGN_CODES)
    for code in DESIGN_CODES:
        statement = sql_text(f"indicators/{code}.sql")
        assert statement == statement.lower(), code
        for param in (":month_end", ":prefecture_code"):
            assert param in statement, (code, param)


def test_meets_target() -> None:
    by_code = {d.code: d for d in load_catalog()}
    startup = by_code["startup_workdays_median"]
    assert startup.meets(0.5) is True
    assert startup.meets(0.51) is False
    assert startup.meets(None) is None
    assert by_code["full_e_registration_rate"].meets(19 / 20) is True
    assert by_code["new_entities"].meets(10.0) is None


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "indicators.yaml"
    path.write_text(body, encoding="utf-8")
    return path


ENTRY = """
  - code: x_rate
    name_zh: 测试
    name_en: Test
    unit: ratio
    direction: higher_is_better
    target: 0.9
    target_operator: ">="
    definition: 测试。Test.
    policy_reference: null
"""


def test_catalog_from_another_file(tmp_path: Path) -> None:
    (only,) = load_catalog(_write(tmp_path, "indicators:" + ENTRY))
    assert only == IndicatorDef(
        "x_rate", "测试", "Test", "ratio", "higher_is_better", 0.9, ">=", "测试。Test.", None
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("indicators: []", "non-empty list"),
        ("indicators:" + ENTRY + ENTRY, "duplicate indicator codes"),
        ("indicators:" + ENTRY.replace("higher_is_better", "up"), "direction"),
        ("indicators:" + ENTRY.replace('">="', "null"), "both be set or both be null"),
        ("indicators:" + ENTRY.replace('">="', '"<"'), "target_operator"),
        ("indicators:" + ENTRY.replace("0.9", '"high"'), "target must be a number"),
        ("indicators:" + ENTRY.replace("    policy_reference: null\n", ""), "missing keys"),
        ("indicators:" + ENTRY + "    colour: red\n", "unknown keys"),
        ("indicators: [", "not valid YAML"),
    ],
)
def test_bad_catalogs_are_rejected(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ValueError, match=message) as caught:
        load_catalog(path)
    assert str(path) in str(caught.value)
