"""The monthly HTML report: the latest published indicator snapshot of a month, for the people
who read it rather than query it (`bizenv report`, and the last task of `monthly_indicators`).

One self-contained page (inline CSS, no scripts, no external assets, so it can be mailed or put
on an intranet share): the prefecture's indicators with target, whether it is met (样本不足 below
the minimum sample), the previous month and the same month last year; beside every median
duration the share within the policy limit, the 90th percentile, the cases without a time of
day and the open backlog; every indicator per region; the breakdowns (登记类型); and the
definition and policy reference of every indicator. It is built from `mart.v_indicator_latest`
and the indicator catalog only, which hold no personal data.
"""

from __future__ import annotations

import datetime as dt
import math
from html import escape
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from bizenv.errors import Refused
from bizenv.indicators import RATIO_UNIT, IndicatorDef, load_catalog, load_minimum_sample, show
from bizenv.regions import Regions, load_regions

_STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 2rem; color: #1d2733; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
p.meta { color: #5b6773; margin-top: 0; }
table { border-collapse: collapse; margin: 1rem 0 2rem; }
th, td { border: 1px solid #c9d1d9; padding: 0.35rem 0.6rem; text-align: right; }
th { background: #eef2f6; }
td.name, th.name { text-align: left; }
td.met { color: #116329; font-weight: 600; }
td.missed { color: #a40e26; font-weight: 600; }
td.none { color: #8c959f; }
td.thin { color: #9a6700; }
dl.definitions dt { font-weight: 600; margin-top: 0.8rem; }
dl.definitions dd { margin-left: 1rem; max-width: 60rem; }
"""


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def format_value(value: object, unit: str) -> str:
    """A value as the report shows it: a ratio in per cent, working days with two decimals,
    counts as whole numbers; a month without a value is "—", never 0."""
    if _is_missing(value):
        return "—"
    number = float(value)
    if unit == RATIO_UNIT:
        return f"{number:.1%}"
    if unit == "户":
        return f"{number:,.0f}"
    return f"{number:,.2f}"


def _target_text(row: pd.Series) -> str:
    operator = {"<=": "≤", ">=": "≥"}.get(str(row["target_operator"]), "")
    if _is_missing(row["target"]) or not operator:
        return "—"
    return f"{operator} {format_value(row['target'], row['unit'])}"


def _met_cell(met: object, row: pd.Series | None = None) -> str:
    if met is None or _is_missing(met):
        if row is not None and not _is_missing(row["value"]) and not _is_missing(row["target"]):
            return '<td class="thin">样本不足 too few cases</td>'
        return '<td class="none">—</td>'
    return '<td class="met">达标 met</td>' if bool(met) else '<td class="missed">未达标 missed</td>'


def _change_text(value: object, previous: object, unit: str) -> str:
    if _is_missing(value) or _is_missing(previous):
        return "—"
    change = float(value) - float(previous)
    if unit == RATIO_UNIT:
        return f"{change * 100:+.1f} pp"
    return f"{change:+,.0f}" if unit == "户" else f"{change:+,.2f}"


def _name_with_unit(row: pd.Series) -> str:
    """A ratio shows its % sign in every cell; counts and durations name their unit once, here."""
    name = str(row["name_zh"])
    return name if row["unit"] == RATIO_UNIT else f"{name}（{row['unit']}）"


def _prefecture_table(rows: pd.DataFrame) -> str:
    header = (
        '<tr><th class="name">指标 indicator</th><th>本月 value</th><th>目标 target</th><th>达标 met</th>'
        "<th>上月 previous month</th><th>环比 change</th><th>去年同期 last year</th>"
        "<th>分子 / 分母 numerator / denominator</th><th>样本量 sample</th></tr>"
    )
    lines = [header]
    for _, row in rows.iterrows():
        unit = row["unit"]
        fraction = "—"
        if not _is_missing(row["denominator"]):
            fraction = f"{format_value(row['numerator'], '户')} / {format_value(row['denominator'], '户')}"
        sample = "—" if _is_missing(row["sample_size"]) else f"{int(row['sample_size']):,}"
        lines.append(
            "<tr>"
            f'<td class="name">{escape(_name_with_unit(row))}<br><small>{escape(str(row["name_en"]))}</small></td>'
            f"<td>{escape(format_value(row['value'], unit))}</td>"
            f"<td>{escape(_target_text(row))}</td>"
            f"{_met_cell(row['meets_target'], row)}"
            f"<td>{escape(format_value(row['previous_value'], unit))}</td>"
            f"<td>{escape(_change_text(row['value'], row['previous_value'], unit))}</td>"
            f"<td>{escape(format_value(row['last_year_value'], unit))}</td>"
            f"<td>{escape(fraction)}</td><td>{escape(sample)}</td>"
            "</tr>"
        )
    return "<table>" + "".join(lines) + "</table>"


def _count(value: object) -> str:
    return "—" if _is_missing(value) else f"{int(value):,}"


def _duration_table(rows: pd.DataFrame, label: str) -> str:
    """Median durations with what stands beside them: the share within the policy limit, the
    90th percentile, the cases without a time of day, the open backlog and its oldest case."""
    header = (
        f'<tr><th class="name">{escape(label)}</th><th>中位数 median</th><th>时限内占比 within limit</th>'
        "<th>90分位 p90</th><th>样本量 cases</th><th>无时刻 without time</th>"
        "<th>月末积压 open at month end</th><th>最久积压 oldest open (工作日)</th></tr>"
    )
    lines = [header]
    for _, row in rows.iterrows():
        limit = "" if _is_missing(row["policy_limit"]) else f"（时限 limit {float(row['policy_limit']):g}）"
        lines.append(
            "<tr>"
            f'<td class="name">{escape(str(row["label"]))}{escape(limit)}</td>'
            f"<td>{escape(format_value(row['value'], str(row['unit'])))}</td>"
            f"<td>{escape(format_value(row['within_limit_share'], RATIO_UNIT))}</td>"
            f"<td>{escape(format_value(row['p90_value'], str(row['unit'])))}</td>"
            f"<td>{escape(_count(row['sample_size']))}</td>"
            f"<td>{escape(_count(row['cases_without_time']))}</td>"
            f"<td>{escape(_count(row['backlog_open']))}</td>"
            f"<td>{escape(format_value(row['backlog_oldest_workdays'], str(row['unit'])))}</td>"
            "</tr>"
        )
    return "<table>" + "".join(lines) + "</table>"


def _definitions(catalog: list[IndicatorDef], minimum_sample: int) -> str:
    items = []
    for d in catalog:
        facts = [f"单位 unit: {d.unit}"]
        if d.target is not None and d.target_operator is not None:
            facts.append(f"目标 target: {d.target_operator} {d.target:g}")
        if d.policy_limit is not None:
            facts.append(f"办理时限 policy limit: {d.policy_limit:g} 个工作日")
        if d.breakdown_name:
            facts.append(f"分列 broken down by: {d.breakdown_name}")
        reference = f"<br><small>政策依据 policy: {escape(d.policy_reference)}</small>" if d.policy_reference else ""
        items.append(
            f"<dt>{escape(d.name_zh)} · {escape(d.name_en)} <small>({escape(d.code)})</small></dt>"
            f"<dd>{escape(d.definition)}<br><small>{escape(' · '.join(facts))}</small>{reference}</dd>"
        )
    note = (f"样本量少于 {minimum_sample} 的地区不判定是否达标（样本不足）。 "
            f"A region with fewer than {minimum_sample} cases is not judged against the target (样本不足).")
    return f'<dl class="definitions">{"".join(items)}</dl><p class="meta">{escape(note)}</p>'


def _region_table(snapshot: pd.DataFrame, regions: Regions, indicator_order: list[str]) -> str:
    columns = [regions.prefecture_code, *regions.names]
    names = {regions.prefecture_code: regions.prefecture_name, **regions.names}
    header = '<tr><th class="name">指标 indicator</th>' + "".join(
        f"<th>{escape(names[c])}<br><small>{escape(c)}</small></th>" for c in columns
    ) + "</tr>"
    by_key = snapshot.set_index(["indicator_code", "region_code"])
    lines = [header]
    for code in indicator_order:
        first = snapshot[snapshot["indicator_code"] == code].iloc[0]
        cells = []
        for region in columns:
            value = by_key["value"].get((code, region))
            cells.append(f"<td>{escape(format_value(value, first['unit']))}</td>")
        lines.append(f'<tr><td class="name">{escape(str(first["name_zh"]))}</td>{"".join(cells)}</tr>')
    return "<table>" + "".join(lines) + "</table>"


def render_report(snapshot: pd.DataFrame, month: str, regions: Regions) -> str:
    """The report page of one month's published snapshot (`bizenv.indicators.show` rows)."""
    if snapshot.empty:
        raise Refused(f"month {month} has no published indicator snapshot; "
                      f"run `bizenv indicators compute --month {month}` first")
    definitions = load_catalog()
    catalog = {d.code: d for d in definitions}
    every = snapshot
    snapshot = snapshot[snapshot["breakdown"].eq("")]
    order = [c for c in catalog if c in set(snapshot["indicator_code"])]
    order += sorted(set(snapshot["indicator_code"]) - set(order))
    snapshot = snapshot.assign(
        target_operator=snapshot["indicator_code"].map(lambda c: catalog[c].target_operator if c in catalog else None)
    )
    rank = {code: position for position, code in enumerate(order)}
    prefecture = snapshot[snapshot["region_code"] == regions.prefecture_code]
    prefecture = prefecture.sort_values("indicator_code", key=lambda codes: codes.map(rank))
    verdicts = [None if m is None or _is_missing(m) else bool(m) for m in prefecture["meets_target"]]
    met, with_target = verdicts.count(True), len(verdicts) - verdicts.count(None)
    version = int(snapshot["version"].iloc[0])
    computed = pd.Timestamp(snapshot["computed_at"].iloc[0]).strftime("%Y-%m-%d %H:%M")
    title = f"{regions.prefecture_name} 营商环境月度指标 · {month}"
    summary = f"达标 {met} / {with_target}: {met} of {with_target} indicators with a target meet it"
    durations = prefecture[prefecture["indicator_code"].map(lambda c: c in catalog and catalog[c].is_duration)]
    durations = durations.assign(label=durations["name_zh"])
    names = {regions.prefecture_code: regions.prefecture_name, **regions.names}
    parts = every[every["breakdown"].ne("")]
    region_names = parts["region_code"].map(lambda c: names.get(c, c))
    parts = parts.assign(label=parts["name_zh"] + " · " + region_names + " · " + parts["breakdown"])
    breakdown_section = ""
    if not parts.empty:
        breakdown_section = ("<h2>分类型 by type</h2>"
                             + _duration_table(parts.sort_values(["indicator_code", "region_code", "breakdown"]),
                                               "指标 · 地区 · 类型 indicator · region · type"))
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Business-environment indicators, {escape(month)} · snapshot version {version}, '
        f"computed {escape(computed)} UTC · run {escape(str(snapshot['run_id'].iloc[0]))}</p>"
        f"<p>{escape(summary)}</p>"
        f"<h2>{escape(regions.prefecture_name)}（全域 {escape(regions.prefecture_code)}）</h2>"
        f"{_prefecture_table(prefecture)}"
        "<h2>办理时长 processing times</h2>"
        f"{_duration_table(durations, '指标 indicator')}"
        "<h2>分地区 by region</h2>"
        f"{_region_table(snapshot, regions, order)}"
        f"{breakdown_section}"
        "<h2>指标定义 definitions</h2>"
        f"{_definitions(definitions, load_minimum_sample())}"
        f"<p class=\"meta\">Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from mart.v_indicator_latest. "
        "A dash is a month without rows for the indicator (no value, never zero).</p>"
        "</body></html>\n"
    )


def scheduled_report_path(reports_dir: Path, month: str) -> Path:
    """Where the monthly run (and the demo) writes the report of `month`."""
    return Path(reports_dir) / f"indicators-{month}.html"


def write_report(engine: Engine, month: str, out: Path) -> dict:
    """Write the report of `month`'s latest published snapshot to `out`; returns a summary."""
    snapshot = show(engine, month)
    html = render_report(snapshot, month, load_regions())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return {"month": month, "out": str(out), "version": int(snapshot["version"].iloc[0]), "rows": len(snapshot)}
