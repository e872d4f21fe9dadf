"""The indicator catalog (include/config/indicators.yaml) and month arithmetic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bizenv.indicators import IndicatorDef, load_catalog, month_bounds
from bizenv.indicators.snapshot import DURATION_SHAPE, indicator_statement
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
    for indicator in load_catalog():
        own = sql_text(f"indicators/{indicator.code}.sql")
        assert own == own.lower(), indicator.code
        for param in (":month_end", ":prefecture_code"):
            assert param in indicator_statement(indicator), (indicator.code, param)


def test_the_duration_indicators_share_one_shape() -> None:
    """Each median-duration file only selects its cases; the median, p90, limit share, backlog and
    grouping are written once (sql/indicators/shared/workdays_median.sql)."""
    durations = [d for d in load_catalog() if d.is_duration]
    assert sorted(d.code for d in durations) == [
        "re_enterprise_workdays_median", "startup_workdays_median", "tax_refund_workdays_median",
    ]
    shape = sql_text(DURATION_SHAPE)
    for indicator in durations:
        own = sql_text(f"indicators/{indicator.code}.sql")
        for shared_part in ("percentile_cont", "group by", "grouping sets", ":policy_limit", "backlog"):
            assert shared_part in shape
            assert shared_part not in own, (indicator.code, shared_part)
        assert indicator_statement(indicator).count(shape) == 1


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
    policy_limit: null
    breakdown_name: null
    datasets: [tax_filing]
"""


def test_catalog_from_another_file(tmp_path: Path) -> None:
    (only,) = load_catalog(_write(tmp_path, "indicators:" + ENTRY))
    assert only == IndicatorDef(
        "x_rate", "测试", "Test", "ratio", "higher_is_better", 0.9, ">=", "测试。Test.", None, None, None,
        ("tax_filing",),
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
        ("indicators:" + ENTRY.replace("policy_limit: null", "policy_limit: -1"), "policy_limit"),
        ("indicators:" + ENTRY.replace("datasets: [tax_filing]", "datasets: [taxes]"), "datasets must be"),
        ("indicators:" + ENTRY.replace("datasets: [tax_filing]", "datasets: []"), "datasets must be"),
        ("indicators:" + ENTRY.replace("breakdown_name: null", 'breakdown_name: " "'), "breakdown_name"),
        ("minimum_samples: 3\nindicators:" + ENTRY, "unknown keys"),
    ],
)
def test_bad_catalogs_are_rejected(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ValueError, match=message) as caught:
        load_catalog(path)
    assert str(path) in str(caught.value)


def test_minimum_sample(tmp_path: Path) -> None:
    from bizenv.indicators import load_minimum_sample

    assert load_minimum_sample() == 5
    assert load_minimum_sample(_write(tmp_path, "minimum_sample: 12\nindicators:" + ENTRY)) == 12
    assert load_minimum_sample(_write(tmp_path, "indicators:" + ENTRY)) == 5  # the default
    with pytest.raises(ValueError, match="minimum_sample must be a whole number"):
        load_minimum_sample(_write(tmp_path, "minimum_sample: 0\nindicators:" + ENTRY))


def test_policy_definitions_are_in_the_catalog() -> None:
    by_code = {d.code: d for d in load_catalog()}
    startup = by_code["startup_workdays_median"]
    assert startup.name_zh == "企业设立登记时长"
    # the steps of the full 企业开办 chain it covers, and those it does not
    for step in ("登记", "刻章", "申领发票", "社保登记"):
        assert step in startup.definition
    assert "设立" in startup.definition and startup.policy_limit == 0.5
    assert "个体工商户" in by_code["dishonest_share"].definition
    assert "本地存续" in by_code["fulfilment_share"].definition
    estate = by_code["re_enterprise_workdays_median"]
    assert (estate.breakdown_name, estate.policy_limit) == ("登记类型", 0.5)
    assert by_code["tax_refund_workdays_median"].policy_limit == 3.0
    for d in by_code.values():
        assert d.policy_reference, d.code
        assert (d.policy_limit is not None) == d.is_duration, d.code
    assert by_code["new_entities"].is_count and by_code["new_entities"].datasets == ("registration",)
