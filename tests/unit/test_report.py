"""The monthly HTML report rendered from snapshot rows (no warehouse needed)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from bizenv.errors import Refused
from bizenv.indicators import SHOW_COLUMNS
from bizenv.regions import Regions
from bizenv.report import format_value, render_report

REGIONS = Regions("152900", "阿拉善盟", {"152921": "阿拉善左旗", "152922": "阿拉善右旗"})


def snapshot_row(region, code, value, **extra):
    names = {"new_entities": ("新设市场主体数", "New market entities", "户"),
             "full_e_registration_rate": ("全程电子化登记率", "Full e-registration rate", "ratio"),
             "startup_workdays_median": ("企业设立登记时长", "Business registration time", "个工作日"),
             "re_enterprise_workdays_median": ("企业不动产登记时长", "Enterprise real-estate time", "个工作日")}
    name_zh, name_en, unit = names[code]
    row = {"month": "2024-06", "region_code": region, "indicator_code": code, "name_zh": name_zh,
           "name_en": name_en, "unit": unit, "value": value, "numerator": None, "denominator": None,
           "sample_size": None, "target": None, "meets_target": None, "previous_value": None,
           "last_year_value": None, "breakdown": "", "within_limit_share": None, "policy_limit": None,
           "p90_value": None, "cases_without_time": None, "backlog_open": None, "backlog_oldest_workdays": None,
           "version": 3, "run_id": "run-1", "computed_at": pd.Timestamp("2024-07-01 03:05")}
    row.update(extra)
    return row


def cells(html: str, name_zh: str) -> list[str]:
    """The cell texts of the first table row that starts with `name_zh`."""
    row = re.search(rf"<tr><td class=\"name\">{name_zh}.*?</tr>", html).group(0)
    return [re.sub(r"<[^>]+>", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def test_values_targets_and_changes_are_shown_per_unit():
    snapshot = pd.DataFrame([
        snapshot_row("152900", "full_e_registration_rate", 0.9375, numerator=30.0, denominator=32.0, target=0.95,
                     meets_target=False, previous_value=0.96, last_year_value=0.9),
        snapshot_row("152900", "startup_workdays_median", 0.4375, sample_size=32, target=0.5, meets_target=True),
        snapshot_row("152900", "new_entities", 41.0, previous_value=38.0),
        snapshot_row("152921", "new_entities", 30.0),
        snapshot_row("152922", "new_entities", None),
    ], columns=SHOW_COLUMNS)
    html = render_report(snapshot, "2024-06", REGIONS)
    assert cells(html, "全程电子化登记率") == ["全程电子化登记率  Full e-registration rate", "93.8%", "≥ 95.0%",
                                         "未达标 missed", "96.0%", "-2.2 pp", "90.0%", "30 / 32", "—"]
    assert cells(html, "企业设立登记时长")[:5] == ["企业设立登记时长（个工作日）  Business registration time", "0.44",
                                           "≤ 0.50", "达标 met", "—"]
    assert cells(html, "新设市场主体数")[1:6] == ["41", "—", "—", "38", "+3"]
    assert "达标 1 / 2" in html  # two indicators with a target, one met
    # by region: a region without rows has no value, never zero
    region_rows = html.split("分地区")[1]
    assert cells(region_rows, "新设市场主体数") == ["新设市场主体数", "41", "30", "—"]
    assert "snapshot version 3" in html


def test_text_from_the_warehouse_is_escaped():
    snapshot = pd.DataFrame([snapshot_row("152900", "new_entities", 1.0, name_zh="<script>x</script>")],
                            columns=SHOW_COLUMNS)
    html = render_report(snapshot, "2024-06", REGIONS)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_month_without_a_published_snapshot_is_an_error():
    with pytest.raises(Refused, match=r"month 2024-06 has no published indicator snapshot; run "
                                                r"`bizenv indicators compute --month 2024-06` first"):
        render_report(pd.DataFrame(columns=SHOW_COLUMNS), "2024-06", REGIONS)


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (0.0, "ratio", "0.0%"), (None, "ratio", "—"), (float("nan"), "户", "—"), (1234.0, "户", "1,234"),
    (0.0, "个工作日", "0.00"),
])
def test_format_value(value, unit, shown):
    assert format_value(value, unit) == shown


def test_too_few_cases_durations_breakdowns_and_definitions():
    snapshot = pd.DataFrame([
        snapshot_row("152900", "startup_workdays_median", 0.3, sample_size=3, target=0.5, meets_target=None,
                     within_limit_share=2 / 3, policy_limit=0.5, p90_value=0.9, cases_without_time=2,
                     backlog_open=4, backlog_oldest_workdays=6.25),
        snapshot_row("152900", "re_enterprise_workdays_median", 0.2, sample_size=9, target=0.5, meets_target=True,
                     within_limit_share=0.75, policy_limit=0.5, p90_value=1.5, cases_without_time=0, backlog_open=0),
        snapshot_row("152921", "re_enterprise_workdays_median", 1.25, sample_size=2, breakdown="转移登记",
                     within_limit_share=0.5, policy_limit=0.5, p90_value=2.0, cases_without_time=1, backlog_open=1,
                     backlog_oldest_workdays=3.0),
    ], columns=SHOW_COLUMNS)
    html = render_report(snapshot, "2024-06", REGIONS)
    # a value and a target but fewer cases than the minimum sample: not judged
    assert cells(html, "企业设立登记时长")[3] == "样本不足 too few cases"
    assert "达标 1 / 1" in html
    durations = html.split("办理时长 processing times")[1]
    assert cells(durations, "企业设立登记时长") == [
        "企业设立登记时长（时限 limit 0.5）", "0.30", "66.7%", "0.90", "3", "2", "4", "6.25"]
    by_type = html.split("分类型 by type")[1]
    assert cells(by_type, "企业不动产登记时长") == [
        "企业不动产登记时长 · 阿拉善左旗 · 转移登记（时限 limit 0.5）", "1.25", "50.0%", "2.00", "2", "1", "1", "3.00"]
    # the breakdown row stays out of the region table
    assert cells(html.split("分地区 by region")[1], "企业不动产登记时长")[1:3] == ["0.20", "—"]
    definitions = html.split("指标定义 definitions")[1]
    assert "企业开办全链条（登记、刻章、申领发票、社保登记）中仅覆盖“登记”一环" in definitions
    assert "本地存续企业(含个体工商户)" in definitions
    assert "样本量少于 5 的地区不判定是否达标" in definitions
    assert "国办发〔2019〕8号" in definitions
