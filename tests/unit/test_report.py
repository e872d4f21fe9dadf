"""The monthly HTML report rendered from frames shaped like mart.v_indicator_trend and
mart.v_data_quality (no warehouse needed)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from bizenv.errors import Refused
from bizenv.indicators import load_catalog
from bizenv.regions import Regions
from bizenv.report import (
    QUALITY_COLUMNS,
    TREND_COLUMNS,
    derive_attainment,
    format_value,
    missed_streaks,
    nice_ticks,
    normalise_trend,
    render_report,
    shanghai_time,
    tick_label,
    window_months,
)

P, A, B = "152900", "152921", "152922"
REGIONS = Regions(P, "阿拉善盟", {A: "阿拉善左旗", B: "阿拉善右旗"})
CATALOG = load_catalog()
GENERATED = dt.datetime(2024, 7, 1, 1, 30, tzinfo=dt.UTC)
NAMES = {"new_entities": ("新设市场主体数", "New market entities", "户", None, None),
         "full_e_registration_rate": ("全程电子化登记率", "Full e-registration rate", "ratio", 0.95, ">="),
         "startup_workdays_median": ("企业设立登记时长", "Business registration time", "个工作日", 0.5, "<="),
         "re_enterprise_workdays_median": ("企业不动产登记时长", "Enterprise real-estate time", "个工作日", 0.5, "<=")}


def trend_row(month, region, code, value, **extra):
    """A row as mart.v_indicator_trend has it (month as a date); attainment as the view derives it
    unless given."""
    name_zh, name_en, unit, target, operator = NAMES[code]
    row = dict.fromkeys(TREND_COLUMNS)
    row.update({"month": dt.date.fromisoformat(f"{month}-01"), "region_code": region, "region_name": None,
                "indicator_code": code, "breakdown": "", "name_zh": name_zh, "name_en": name_en, "unit": unit,
                "value": value, "target": target, "target_operator": operator, "version": 3, "run_id": "run-1",
                "computed_at": pd.Timestamp("2024-07-01 03:05")})
    row.update(extra)
    if "meets_target" not in extra and target is not None and value is not None:
        row["meets_target"] = value >= target if operator == ">=" else value <= target
    return row


def render(rows, quality=None, month="2024-06"):
    quality = pd.DataFrame(quality or [], columns=QUALITY_COLUMNS)
    return render_report(pd.DataFrame(rows, columns=TREND_COLUMNS), quality, month, REGIONS, catalog=CATALOG,
                         minimum_sample=5, generated_at=GENERATED)


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def cells(html: str, name_zh: str) -> list[str]:
    """The cell texts of the first table row whose first cell starts with `name_zh`."""
    row = re.search(rf"<tr[^>]*><td class=\"name\">{name_zh}.*?</tr>", html, re.S).group(0)
    return [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def section(html: str, section_id: str) -> str:
    return re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S).group(1)


def charts(html: str) -> dict[str, str]:
    return dict(re.findall(r'<svg class="trend-chart" data-indicator="([^"]+)"(.*?)</svg>', html, re.S))


def heatmap_cells(html: str) -> dict[tuple[str, str], str]:
    table = re.search(r'<table class="heatmap[^"]*">(.*?)</table>', html, re.S).group(1)
    found = re.findall(r'<td class="cell" data-attainment="([^"]+)" data-region="([^"]+)" '
                       r'data-indicator="([^"]+)">', table)
    return {(region, code): attainment for attainment, region, code in found}


def streak_cells(html: str) -> dict[tuple[str, str], str]:
    table = re.search(r'<table class="missed-streaks[^"]*">(.*?)</table>', html, re.S).group(1)
    found = re.findall(r'data-region="([^"]+)" data-indicator="([^"]+)" data-months="(\d+)">([^<]*)</td>', table)
    return {(region, code): text for region, code, _, text in found}


def test_the_prefecture_headline_shows_value_target_attainment_and_comparisons():
    rows = [
        trend_row("2024-06", P, "full_e_registration_rate", 0.9375, numerator=30.0, denominator=32.0,
                  sample_size=32, previous_value=0.96, last_year_value=0.9),
        trend_row("2024-06", P, "startup_workdays_median", 0.4375, sample_size=32),
        trend_row("2024-06", P, "new_entities", 41.0, previous_value=38.0),
        trend_row("2024-06", A, "new_entities", 30.0),
        trend_row("2024-06", P, "re_enterprise_workdays_median", 0.3, sample_size=3, meets_target=None,
                  attainment="insufficient_sample"),
    ]
    html = section(render(rows), "headline")
    assert cells(html, "全程电子化登记率") == [
        "全程电子化登记率 Full e-registration rate", "93.8%", "≥ 95.0%", "未达标 missed", "96.0%", "-2.2 pp", "90.0%",
        "30 / 32", "32", "1"]
    assert cells(html, "企业设立登记时长")[:4] == [
        "企业设立登记时长（个工作日） Business registration time", "0.44", "≤ 0.50", "达标 met"]
    assert cells(html, "新设市场主体数")[1:7] == ["41", "—", "无目标 no target", "38", "+3", "—"]
    assert cells(html, "企业不动产登记时长")[3] == "样本不足 too few cases"
    # judged: met and missed; too few cases is not judged
    assert "达标 1 / 2: 1 of 2 indicators judged against a target meet it" in html
    # the region's row is not in the prefecture's table
    assert html.count("新设市场主体数（户）") == 1


def test_a_month_without_a_published_snapshot_is_an_error():
    older = [trend_row("2024-05", P, "new_entities", 4.0)]
    with pytest.raises(Refused, match=r"^month 2024-06 has no published indicator snapshot; run "
                                      r"`bizenv indicators compute --month 2024-06` first$"):
        render(older)
    with pytest.raises(Refused, match="month 2024-06 has no published"):
        render([])


def test_one_trend_chart_per_indicator_with_a_value_and_one_line_per_unit_with_a_value():
    rows = [trend_row(m, P, "full_e_registration_rate", v) for m, v in
            [("2023-07", 0.9), ("2024-05", 1.0), ("2024-06", 0.95)]]
    rows += [trend_row("2024-06", A, "full_e_registration_rate", 0.5),
             # outside the window: not drawn, not counted
             trend_row("2023-06", B, "full_e_registration_rate", 0.7),
             trend_row("2024-06", B, "full_e_registration_rate", None, attainment="no_data"),
             trend_row("2024-04", P, "new_entities", 12.0), trend_row("2024-06", A, "new_entities", 30.0),
             trend_row("2024-06", P, "startup_workdays_median", None)]
    html = render(rows)
    found = charts(html)
    # startup_workdays_median has rows but no value in the window: no chart, named instead
    assert list(found) == ["new_entities", "full_e_registration_rate"]
    assert "12 个月内无数值 no value in the window: 企业设立登记时长" in html
    rate = found["full_e_registration_rate"]
    assert re.findall(r'<polyline class="series" data-region="(\d+)"', rate) == [P, A]
    # y axis from 0 to 100% in steps of 20 %: plot top 26, bottom 226; x: 12 months from 64 to 560
    assert re.search(r'data-region="152900" points="([^"]+)"', rate).group(1) == "64.0,46.0 514.9,26.0 560.0,36.0"
    assert re.search(r'data-region="152921" points="([^"]+)"', rate).group(1) == "560.0,126.0"
    assert [text_of(t) for t in re.findall(r'<text class="axis-label" x="58"[^>]*>[^<]*</text>', rate)] == [
        "0%", "20%", "40%", "60%", "80%", "100%"]
    assert re.findall(r'month-label"[^>]*>([^<]+)<', rate) == [
        "07月", "08月", "09月", "10月", "11月", "12月", "01月", "02月", "03月", "04月", "05月", "06月"]
    assert '<line class="target" x1="64" y1="36.0" x2="560" y2="36.0">' in rate
    assert "目标 target ≥ 95.0%" in rate
    assert re.findall(r'class="legend-label" data-region="\d+"[^>]*>([^<]+)<', rate) == ["阿拉善盟", "阿拉善左旗"]
    assert "<title>阿拉善盟 2023-07: 90.0%</title>" in rate
    counts = found["new_entities"]
    assert 'class="target"' not in counts  # no target, no target line
    assert re.findall(r'<polyline class="series" data-region="(\d+)"', counts) == [P, A]
    # the same unit has the same colour in every chart
    assert 'data-region="152921" points="560.0,26.0" stroke="#c0392b"' in counts


def test_the_heat_map_has_a_cell_per_unit_and_indicator_of_the_month():
    rows = [
        trend_row("2024-06", P, "full_e_registration_rate", 0.96),
        trend_row("2024-06", A, "full_e_registration_rate", 0.5),
        trend_row("2024-06", B, "full_e_registration_rate", 0.5, sample_size=2, meets_target=None,
                  attainment="insufficient_sample"),
        trend_row("2024-06", P, "new_entities", 41.0, attainment="no_target"),
        trend_row("2024-06", A, "new_entities", None, attainment="no_data"),
        # a row without an attainment gets the view's rule: value and target, no verdict -> too few cases
        trend_row("2024-06", P, "startup_workdays_median", 0.7, meets_target=None),
        # a unit the regions file no longer names still gets its row, by code
        trend_row("2024-06", "152971", "new_entities", 3.0, region_name="阿拉善经济开发区", attainment="no_target"),
        trend_row("2024-05", A, "new_entities", 1.0),  # another month: not in the heat map
    ]
    html = render(rows)
    found = heatmap_cells(html)
    units, codes = [P, A, B, "152971"], ["new_entities", "startup_workdays_median", "full_e_registration_rate"]
    assert len(found) == len(units) * len(codes) == 12
    # the markers of the shared page contract, exactly
    assert html.count('<table class="heatmap">') == 1 and html.count('<table class="missed-streaks">') == 1
    assert html.count('<section id="data-quality">') == 1
    assert list(found) == [(u, c) for u in units for c in codes]
    assert found[(P, "full_e_registration_rate")] == "met"
    assert found[(A, "full_e_registration_rate")] == "missed"
    assert found[(B, "full_e_registration_rate")] == "insufficient_sample"
    assert found[(P, "new_entities")] == "no_target"
    assert found[(A, "new_entities")] == "no_data"
    assert found[(B, "new_entities")] == "no_data"  # no row at all
    assert found[(P, "startup_workdays_median")] == "insufficient_sample"
    assert "阿拉善经济开发区" in section(html, "attainment")


def test_missed_streaks_count_back_from_the_report_month_and_stop_at_anything_but_a_miss():
    def rate(month, region, value, **extra):
        return trend_row(month, region, "full_e_registration_rate", value, **extra)

    rows = [
        # A: met in March, missed April–June -> 3
        rate("2024-03", A, 0.99), rate("2024-04", A, 0.5), rate("2024-05", A, 0.5), rate("2024-06", A, 0.5),
        # B: missed May and June, too few cases in April (not a miss), missed March -> 2
        rate("2024-03", B, 0.5), rate("2024-04", B, 0.1, meets_target=None, attainment="insufficient_sample"),
        rate("2024-05", B, 0.5), rate("2024-06", B, 0.5),
        # P: missed June, no row for May (breaks), missed April -> 1
        rate("2024-04", P, 0.5), rate("2024-06", P, 0.5),
        trend_row("2024-06", P, "startup_workdays_median", 0.2),
    ]
    html = render(rows)
    streaks = streak_cells(html)
    # only indicators with a target have a column; every unit has a row
    assert streaks == {(P, "startup_workdays_median"): "0", (P, "full_e_registration_rate"): "1",
                       (A, "startup_workdays_median"): "0", (A, "full_e_registration_rate"): "3",
                       (B, "startup_workdays_median"): "0", (B, "full_e_registration_rate"): "2"}
    assert "连续两个月及以上未达标 missed two or more months in a row: 2" in html
    assert 'class="streak level-repeated" data-region="152921"' in html
    headline = section(html, "headline")
    assert cells(headline, "全程电子化登记率")[-1] == "1"


def test_a_unit_that_missed_every_month_of_the_window_shows_at_least_twelve():
    months = window_months("2024-06")
    frame = normalise_trend(pd.DataFrame([trend_row(m, A, "full_e_registration_rate", 0.5) for m in months]),
                            CATALOG)
    assert missed_streaks(frame, "2024-06", [A, B], ["full_e_registration_rate"]) == {
        (A, "full_e_registration_rate"): 12, (B, "full_e_registration_rate"): 0}
    html = render([trend_row(m, A, "full_e_registration_rate", 0.5) for m in months])
    assert streak_cells(html)[(A, "full_e_registration_rate")] == "≥ 12"


def test_data_quality_times_are_shanghai_and_counts_are_shown():
    quality = [
        {"department_code": "tax", "department_name": "税务局", "source_name": "tax_api", "dataset": "tax_filing",
         "month": dt.date(2024, 6, 1), "received_rows": 200, "loaded_rows": 188, "quarantined_rows": 10,
         "duplicate_rows": 2, "top_reasons": "uscc_checksum 7; missing_name 3",
         "last_successful_load_at": pd.Timestamp("2024-06-30 20:15"),
         "latest_changed_at": pd.Timestamp("2024-06-30 09:00"), "is_fresh": True},
        {"department_code": "market", "department_name": "市场监管局", "source_name": "registration_drop",
         "dataset": "registration", "month": dt.date(2024, 6, 1), "received_rows": 0, "loaded_rows": 0,
         "quarantined_rows": 0, "duplicate_rows": 0, "top_reasons": "", "last_successful_load_at": None,
         "latest_changed_at": None, "is_fresh": None},
    ]
    html = render([trend_row("2024-06", P, "new_entities", 1.0)], quality)
    part = section(html, "data-quality")
    assert cells(part, "税务局") == ["税务局", "tax_api", "tax_filing", "200", "188", "10", "2", "5.0%",
                                  "uscc_checksum 7; missing_name 3", "2024-07-01 04:15", "2024-06-30 17:00",
                                  "及时 fresh"]
    assert cells(part, "市场监管局")[3:] == ["0", "0", "0", "0", "—", "—", "—", "—", "—"]
    assert part.index("市场监管局") < part.index("税务局")  # by department code
    empty = section(render([trend_row("2024-06", P, "new_entities", 1.0)]), "data-quality")
    assert "No batch was loaded in 2024-06." in empty


def test_computed_and_generated_times_are_labelled_shanghai():
    html = render([trend_row("2024-06", P, "new_entities", 1.0)])
    assert "计算时间 computed at 2024-07-01 11:05（北京时间 Asia/Shanghai）" in html
    assert "生成时间 generated at 2024-07-01 09:30（北京时间 Asia/Shanghai）" in html
    assert "快照版本 snapshot version 3, 运行 run run-1" in html


def test_text_from_the_warehouse_is_escaped_and_the_page_needs_no_network():
    hostile = "<script>alert(1)</script>"
    rows = [trend_row("2024-06", P, "new_entities", 1.0, name_zh=hostile),
            trend_row("2024-06", A, "new_entities", 2.0, region_name=f'"><svg onload=alert(1)>{hostile}'),
            trend_row("2024-06", A, "re_enterprise_workdays_median", 1.25, breakdown=hostile, sample_size=2)]
    quality = [dict.fromkeys(QUALITY_COLUMNS) | {"department_code": "tax", "department_name": hostile,
                                                 "top_reasons": hostile, "received_rows": 1}]
    html = render(rows, quality)
    assert "<script" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "trends")  # chart heading and legend
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in section(html, "attainment")
    assert "&lt;script&gt;" in section(html, "breakdowns") and "&lt;script&gt;" in section(html, "data-quality")
    assert "http" not in html and "//" not in html and "url(" not in html and " src=" not in html
    assert "@page { size: A4;" in html and "break-inside: avoid" in html


def test_durations_breakdowns_and_definitions():
    rows = [
        trend_row("2024-06", P, "startup_workdays_median", 0.3, sample_size=3, meets_target=None,
                  within_limit_share=2 / 3, policy_limit=0.5, p90_value=0.9, cases_without_time=2, backlog_open=4,
                  backlog_oldest_workdays=6.25),
        trend_row("2024-06", A, "re_enterprise_workdays_median", 1.25, sample_size=2, breakdown="转移登记",
                  within_limit_share=0.5, policy_limit=0.5, p90_value=2.0, cases_without_time=1, backlog_open=1,
                  backlog_oldest_workdays=3.0),
    ]
    html = render(rows)
    durations = html.split("办理时长 processing times")[1]
    assert cells(durations, "企业设立登记时长") == [
        "企业设立登记时长（时限 limit 0.5）", "0.30", "66.7%", "0.90", "3", "2", "4", "6.25"]
    assert cells(section(html, "breakdowns"), "企业不动产登记时长") == [
        "企业不动产登记时长 · 阿拉善左旗 · 转移登记（时限 limit 0.5）", "1.25", "50.0%", "2.00", "2", "1", "1", "3.00"]
    # a breakdown is neither a heat-map cell nor a line of a chart
    assert (A, "re_enterprise_workdays_median") not in heatmap_cells(html)
    assert "re_enterprise_workdays_median" not in charts(html)
    definitions = section(html, "definitions")
    assert "企业开办全链条（登记、刻章、申领发票、社保登记）中仅覆盖“登记”一环" in definitions
    assert "本地存续企业(含个体工商户)" in definitions
    assert "样本量少于 5 的地区不判定是否达标" in definitions
    assert "国办发〔2019〕8号" in definitions
    assert definitions.count("<dt>") == len(CATALOG)


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (0.0, "ratio", "0.0%"), (None, "ratio", "—"), (float("nan"), "户", "—"), (1234.0, "户", "1,234"),
    (0.0, "个工作日", "0.00"), (0.125, "个工作日", "0.13"), (0.9345, "ratio", "93.5%"),
])
def test_format_value(value, unit, shown):
    assert format_value(value, unit) == shown


@pytest.mark.parametrize(("low", "high", "ticks"), [
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.0, 41.0, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]),
    (0.9, 0.96, [0.9, 0.92, 0.94, 0.96]),
    (0.0, 0.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (3.0, 3.0, [3.0, 4.0, 5.0, 6.0]),
])
def test_nice_ticks(low, high, ticks):
    assert nice_ticks(low, high) == ticks


@pytest.mark.parametrize(("value", "unit", "step", "label"), [
    (0.4, "ratio", 0.2, "40%"), (0.925, "ratio", 0.005, "92.5%"), (1500.0, "户", 500.0, "1,500"),
    (0.25, "个工作日", 0.25, "0.25"), (1.0, "个工作日", 0.5, "1.0"),
])
def test_tick_label(value, unit, step, label):
    assert tick_label(value, unit, step) == label


def test_attainment_rule_and_clock():
    assert [derive_attainment(None, 0.9, None), derive_attainment(1.0, None, None),
            derive_attainment(None, None, None), derive_attainment(1.0, 0.9, None),
            derive_attainment(1.0, 0.9, True), derive_attainment(0.5, 0.9, False)] == [
        "no_data", "no_target", "no_target", "insufficient_sample", "met", "missed"]
    assert shanghai_time(pd.Timestamp("2024-06-30 16:00")) == "2024-07-01 00:00"
    assert shanghai_time(dt.datetime(2024, 6, 30, 16, 0, tzinfo=dt.UTC)) == "2024-07-01 00:00"
    assert shanghai_time(None) == "—"
    assert window_months("2024-03") == ["2023-04", "2023-05", "2023-06", "2023-07", "2023-08", "2023-09",
                                        "2023-10", "2023-11", "2023-12", "2024-01", "2024-02", "2024-03"]
