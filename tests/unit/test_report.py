"""The monthly HTML report rendered from snapshot rows (no warehouse needed)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from bizenv.indicators import SHOW_COLUMNS
from bizenv.regions import Regions
from bizenv.report import ReportUnavailable, format_value, render_report

REGIONS = Regions("152900", "阿拉善盟", {"152921": "阿拉善左旗", "152922": "阿拉善右旗"})


def snapshot_row(region, code, value, **extra):
    names = {"new_entities": ("新设市场主体数", "New market entities", "户"),
             "full_e_registration_rate": ("全程电子化登记率", "Full e-registration rate", "ratio"),
             "startup_workdays_median": ("企业开办时长", "Business start-up time", "个工作日")}
    name_zh, name_en, unit = names[code]
    row = {"month": "2024-06", "region_code": region, "indicator_code": code, "name_zh": name_zh,
           "name_en": name_en, "unit": unit, "value": value, "numerator": None, "denominator": None,
           "sample_size": None, "target": None, "meets_target": None, "previous_value": None,
           "last_year_value": None, "version": 3, "run_id": "run-1", "computed_at": pd.Timestamp("2024-07-01 03:05")}
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
    assert cells(html, "企业开办时长")[:5] == ["企业开办时长（个工作日）  Business start-up time", "0.44", "≤ 0.50",
                                         "达标 met", "—"]
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
    with pytest.raises(ReportUnavailable, match=r"month 2024-06 has no published indicator snapshot; run "
                                                r"`bizenv indicators compute --month 2024-06` first"):
        render_report(pd.DataFrame(columns=SHOW_COLUMNS), "2024-06", REGIONS)


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (0.0, "ratio", "0.0%"), (None, "ratio", "—"), (float("nan"), "户", "—"), (1234.0, "户", "1,234"),
    (0.0, "个工作日", "0.00"),
])
def test_format_value(value, unit, shown):
    assert format_value(value, unit) == shown
