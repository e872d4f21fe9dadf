"""The monthly HTML report: a month's published indicators, for the people who read them rather
than query them (`bizenv report`, and the last task of `monthly_indicators`).

One self-contained page, rendered from the Jinja2 template `templates/report.html.j2` with
autoescaping on (a name from the warehouse or a configuration file is always text, never markup):
inline CSS and inline SVG only, no scripts, no external address, so it can be mailed, put on an
intranet share or printed on A4. Its sections:

- the prefecture's indicators: value, target, attainment (达标 / 未达标 / 样本不足 below the
  minimum sample), the previous month and the same month last year; beside every median
  duration the share within the policy limit, the 90th percentile, the cases without a time of
  day and the open backlog;
- the target-attainment heat map, reporting unit × indicator, of the report month;
- how many months in a row each unit has missed each target, ending at the report month (the
  work plans escalate repeated misses). Only a month whose attainment is 未达标 counts; a month
  that is 达标, 样本不足 or has no row or no value ends the streak, since nothing says the target
  was missed then. The count looks back over the trend window only, so a unit that missed in all
  of its months shows "≥ 12";
- a 12-month trend chart per indicator (the 12 months ending at the report month), one line per
  reporting unit with a value in the window, the target as a dashed line;
- the breakdowns (登记类型), the data-quality figures of the month's deliveries and the
  definition and policy reference of every indicator.

Times are shown in Asia/Shanghai (the warehouse stores naive UTC). The page is built from
`mart.v_indicator_trend`, `mart.v_data_quality` and the indicator catalog, none of which holds
personal data. `render_report` is pure (frames in, HTML out); `write_report` reads the frames
with `sql/report/*.sql` and writes the file.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Engine

from bizenv.errors import Refused
from bizenv.indicators import COUNT_UNIT, RATIO_UNIT, IndicatorDef, load_catalog, load_minimum_sample
from bizenv.regions import Regions, load_regions
from bizenv.tables import ATTAINMENT_LABELS, derive_attainment, is_missing, number_cell
from bizenv.timeutil import LOCAL_TIMEZONE, month_bounds, shift_month
from bizenv.warehouse import query_df

TREND_MONTHS = 12
TEMPLATE = "report.html.j2"
TEMPLATES_DIR = Path(__file__).parent / "templates"


TREND_COLUMNS = [
    "month", "region_code", "region_name", "indicator_code", "breakdown", "name_zh", "name_en", "unit",
    "direction", "value", "numerator", "denominator", "sample_size", "target", "target_operator",
    "meets_target", "attainment", "attainment_zh", "previous_value", "last_year_value", "within_limit_share",
    "policy_limit", "p90_value", "cases_without_time", "backlog_open", "backlog_oldest_workdays", "version",
    "run_id", "computed_at",
]
QUALITY_COLUMNS = [
    "department_code", "department_name", "source_name", "dataset", "month", "received_rows", "loaded_rows",
    "quarantined_rows", "duplicate_rows", "top_reasons", "last_successful_load_at", "latest_changed_at",
    "is_fresh",
]
_FLOAT_COLUMNS = ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                  "within_limit_share", "policy_limit", "p90_value", "backlog_oldest_workdays")

# one colour per reporting unit, the same in every chart; after the palette the dash pattern
# tells units apart. Dark enough to print on white.
_PALETTE = ("#1d2733", "#c0392b", "#1f77b4", "#2e8b57", "#d4880f", "#7b4fa0", "#00838f", "#8d5524",
            "#d1467a", "#5f7f1a")
_DASHES = ("", "7 3", "2 3")

# chart geometry, in SVG user units (the SVG scales to the page width)
_WIDTH, _LEFT, _PLOT_RIGHT, _TOP, _PLOT_HEIGHT, _BOTTOM = 760, 64, 560, 26, 200, 46
_LEGEND_X, _LEGEND_ROW = 580, 18


def format_value(value: object, unit: str) -> str:
    """A value as the report shows it, exactly as the command line does (bizenv.tables): a ratio in
    per cent, working days with two decimals, counts whole, rounded half up (四舍五入); a month
    without a value is "—", never 0."""
    return number_cell(value, unit)


def target_text(target: object, operator: object, unit: str) -> str:
    symbol = {"<=": "≤", ">=": "≥"}.get(str(operator), "")
    if is_missing(target) or not symbol:
        return "—"
    return f"{symbol} {format_value(target, unit)}"


def change_text(value: object, previous: object, unit: str) -> str:
    if is_missing(value) or is_missing(previous):
        return "—"
    change = float(value) - float(previous)
    if unit == RATIO_UNIT:
        return f"{change * 100:+.1f} pp"
    return f"{change:+,.0f}" if unit == COUNT_UNIT else f"{change:+,.2f}"


def _count(value: object) -> str:
    return "—" if is_missing(value) else f"{int(value):,}"


def shanghai_time(value: object) -> str:
    """A stored timestamp (naive UTC, or aware) as Asia/Shanghai wall time to the minute."""
    if is_missing(value):
        return "—"
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(LOCAL_TIMEZONE).strftime("%Y-%m-%d %H:%M")


def window_months(month: str, months: int = TREND_MONTHS) -> list[str]:
    """The `months` months ending at `month`, oldest first ('YYYY-MM')."""
    month_bounds(month)
    return [shift_month(month, offset) for offset in range(1 - months, 1)]


def normalise_trend(trend: pd.DataFrame, catalog: Sequence[IndicatorDef]) -> pd.DataFrame:
    """Trend rows with `month` as 'YYYY-MM', numbers as floats, and every column of the contract:
    a missing target operator comes from the catalog, a missing attainment is derived."""
    frame = trend.copy()
    for column in TREND_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[TREND_COLUMNS]
    if frame.empty:
        return frame
    frame["month"] = pd.to_datetime(frame["month"].astype(str)).dt.strftime("%Y-%m")
    frame["breakdown"] = frame["breakdown"].fillna("").astype(str)
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    operators = {d.code: d.target_operator for d in catalog}
    frame["target_operator"] = [
        operators.get(code) if is_missing(operator) else operator
        for code, operator in zip(frame["indicator_code"], frame["target_operator"], strict=True)
    ]
    frame["attainment"] = [
        derive_attainment(value, target, met) if is_missing(attainment) or attainment not in ATTAINMENT_LABELS
        else attainment
        for attainment, value, target, met in zip(frame["attainment"], frame["value"], frame["target"],
                                                  frame["meets_target"], strict=True)
    ]
    return frame.reset_index(drop=True)


def reporting_units(rows: pd.DataFrame, regions: Regions) -> list[tuple[str, str]]:
    """(code, name) of the prefecture, then the configured units in file order, then any unit the
    rows hold that the regions file no longer names (by code). The name the warehouse recorded
    (mart.dim_region) wins over the file's."""
    names = {regions.prefecture_code: regions.prefecture_name, **regions.names}
    recorded = rows.dropna(subset=["region_name"]).drop_duplicates("region_code", keep="last")
    names.update(zip(recorded["region_code"].astype(str), recorded["region_name"].astype(str), strict=True))
    codes = [regions.prefecture_code, *regions.names]
    codes += sorted(set(rows["region_code"].astype(str)) - set(codes))
    return [(code, names.get(code, code)) for code in codes]


def indicator_order(codes: Iterable[str], catalog: Sequence[IndicatorDef]) -> list[str]:
    """The codes in catalog order, then any code the catalog no longer has, sorted."""
    present = set(codes)
    ordered = [d.code for d in catalog if d.code in present]
    return ordered + sorted(present - set(ordered))


def missed_streaks(trend: pd.DataFrame, month: str, units: Iterable[str], codes: Iterable[str]) -> dict:
    """(region, indicator) -> the number of months in a row, ending at `month`, whose attainment
    is 'missed' (normalised trend rows, own values only). Any other month, or a month without a
    row, ends the streak."""
    own = trend[trend["breakdown"].eq("")]
    verdicts = dict(zip(zip(own["region_code"], own["indicator_code"], own["month"], strict=True),
                        own["attainment"], strict=True))
    months = window_months(month)[::-1]
    streaks = {}
    for region in units:
        for code in codes:
            count = 0
            for each in months:
                if verdicts.get((region, code, each)) != "missed":
                    break
                count += 1
            streaks[(region, code)] = count
    return streaks


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks covering [low, high], about `count` intervals."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(round((last - first) / step) + 1)]


def _decimals(step: float) -> int:
    return next((d for d in range(6) if abs(round(step, d) - step) < 1e-9), 6)


def tick_label(value: float, unit: str, step: float) -> str:
    """An axis label: as few decimals as the tick step needs."""
    if unit == RATIO_UNIT:
        return f"{value * 100:.{_decimals(step * 100)}f}%"
    return f"{value:,.{_decimals(step)}f}"


def _series_style(position: int) -> tuple[str, str]:
    return _PALETTE[position % len(_PALETTE)], _DASHES[(position // len(_PALETTE)) % len(_DASHES)]


def trend_chart(rows: pd.DataFrame, code: str, units: Sequence[tuple[str, str]], months: Sequence[str],
                target: object, operator: object, unit: str) -> dict[str, Any] | None:
    """The geometry of one indicator's trend chart, or None when no unit has a value in the window.
    `rows`: normalised trend rows (own values, breakdown ''); `units` give each line its colour by
    position, so a unit looks the same in every chart."""
    own = rows[rows["indicator_code"].eq(code) & rows["breakdown"].eq("") & rows["value"].notna()]
    if own.empty:
        return None
    values = own["value"].astype(float).tolist()
    with_target = not is_missing(target) and str(operator) in ("<=", ">=")
    bounds = values + ([float(target)] if with_target else [])
    low, high = min(bounds), max(bounds)
    if low >= 0 and low <= high / 2:
        low = 0.0  # a baseline at zero unless the values sit in a narrow band far from it
    ticks = nice_ticks(low, high)
    bottom_value, top_value = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0]
    plot_bottom = _TOP + _PLOT_HEIGHT

    def y_of(value: float) -> float:
        return plot_bottom - (value - bottom_value) / (top_value - bottom_value) * _PLOT_HEIGHT

    spacing = (_PLOT_RIGHT - _LEFT) / max(len(months) - 1, 1)
    x_of = {m: _LEFT + i * spacing for i, m in enumerate(months)}
    series = []
    for position, (region, name) in enumerate(units):
        mine = own[own["region_code"].eq(region)].sort_values("month")
        points = [(x_of[m], y_of(float(v)), m, v) for m, v in zip(mine["month"], mine["value"], strict=True)
                  if m in x_of]
        if not points:
            continue
        colour, dash = _series_style(position)
        series.append({
            "region": region, "name": name, "colour": colour, "dash": dash,
            "width": 3 if position == 0 else 1.8,
            "points": " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points),
            "dots": [{"x": f"{x:.1f}", "y": f"{y:.1f}", "title": f"{name} {m}: {format_value(v, unit)}"}
                     for x, y, m, v in points],
        })
    legend_bottom = _TOP + _LEGEND_ROW * len(series) + 8
    height = max(plot_bottom + _BOTTOM, legend_bottom)
    for row, entry in enumerate(series):
        entry["legend_y"] = f"{_TOP + 6 + row * _LEGEND_ROW:.1f}"
    x_labels = []
    for i, m in enumerate(months):
        x_labels.append({"x": f"{x_of[m]:.1f}", "month": m[5:] + "月",
                         "year": m[:4] if i == 0 or m.endswith("-01") else ""})
    return {
        "code": code, "width": _WIDTH, "height": height, "left": _LEFT, "right": _PLOT_RIGHT, "top": _TOP,
        "bottom": plot_bottom, "legend_x": _LEGEND_X,
        "y_ticks": [{"y": f"{y_of(t):.1f}", "label": tick_label(t, unit, step)} for t in ticks],
        "x_labels": x_labels,
        "target": ({"y": f"{y_of(float(target)):.1f}", "label": f"目标 target {target_text(target, operator, unit)}"}
                   if with_target else None),
        "series": series,
    }


def _attainment_cell(attainment: str) -> dict[str, str]:
    zh, en = ATTAINMENT_LABELS[attainment]
    return {"attainment": attainment, "zh": zh, "en": en}


def _name_with_unit(name_zh: str, unit: str) -> str:
    """A ratio shows its % sign in every cell; counts and durations name their unit once, here."""
    return name_zh if unit == RATIO_UNIT else f"{name_zh}（{unit}）"


def _quality_rows(quality: pd.DataFrame) -> list[dict[str, str]]:
    rows = []
    frame = quality.copy()
    for column in QUALITY_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame.sort_values(["department_code", "source_name", "dataset"], na_position="last")
    for row in frame.to_dict("records"):
        received = row["received_rows"]
        share = "—"
        if not is_missing(received) and int(received) > 0 and not is_missing(row["quarantined_rows"]):
            share = f"{int(row['quarantined_rows']) / int(received):.1%}"
        fresh = row["is_fresh"]
        rows.append({
            "department": str(row["department_name"] or row["department_code"] or "—"),
            "department_code": str(row["department_code"] or ""),
            "source": str(row["source_name"] or "—"), "dataset": str(row["dataset"] or "—"),
            "received": _count(received), "loaded": _count(row["loaded_rows"]),
            "quarantined": _count(row["quarantined_rows"]), "duplicates": _count(row["duplicate_rows"]),
            "share": share, "reasons": str(row["top_reasons"] or "") or "—",
            "last_load": shanghai_time(row["last_successful_load_at"]),
            "latest_change": shanghai_time(row["latest_changed_at"]),
            "fresh": "—" if is_missing(fresh) else ("及时 fresh" if bool(fresh) else "滞后 stale"),
            "fresh_class": "none" if is_missing(fresh) else ("met" if bool(fresh) else "missed"),
        })
    return rows


def _duration_row(row: dict, label: str) -> dict[str, str]:
    unit = str(row["unit"])
    limit = "" if is_missing(row["policy_limit"]) else f"（时限 limit {float(row['policy_limit']):g}）"
    return {
        "label": label + limit, "value": format_value(row["value"], unit),
        "within": format_value(row["within_limit_share"], RATIO_UNIT), "p90": format_value(row["p90_value"], unit),
        "cases": _count(row["sample_size"]), "without_time": _count(row["cases_without_time"]),
        "backlog": _count(row["backlog_open"]), "oldest": format_value(row["backlog_oldest_workdays"], unit),
    }


def _definitions(catalog: Sequence[IndicatorDef]) -> list[dict[str, str]]:
    items = []
    for d in catalog:
        facts = [f"单位 unit: {d.unit}"]
        if d.target is not None and d.target_operator is not None:
            facts.append(f"目标 target: {d.target_operator} {d.target:g}")
        if d.policy_limit is not None:
            facts.append(f"办理时限 policy limit: {d.policy_limit:g} 个工作日")
        if d.breakdown_name:
            facts.append(f"分列 broken down by: {d.breakdown_name}")
        items.append({"code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "definition": d.definition,
                      "facts": " · ".join(facts), "policy": d.policy_reference or ""})
    return items


def describe_indicator(rows: pd.DataFrame, code: str, definition: IndicatorDef | None) -> dict[str, Any]:
    """Name, unit and target of an indicator as its newest row in `rows` has them, else as the
    catalog has them (a row keeps the names and target it was published with)."""
    newest = rows[rows["indicator_code"].eq(code)].sort_values("month").tail(1)
    row = {} if newest.empty else newest.iloc[0].to_dict()

    def pick(column: str, fallback: object) -> object:
        value = row.get(column)
        return fallback if is_missing(value) else value

    d = definition
    return {"name_zh": str(pick("name_zh", d.name_zh if d else code)),
            "name_en": str(pick("name_en", d.name_en if d else "")),
            "unit": str(pick("unit", d.unit if d else "")),
            "target": pick("target", d.target if d else None),
            "operator": pick("target_operator", d.target_operator if d else None)}


def render_report(trend: pd.DataFrame, quality: pd.DataFrame, month: str, regions: Regions, *,
                  catalog: Sequence[IndicatorDef] | None = None, minimum_sample: int | None = None,
                  generated_at: dt.datetime | None = None) -> str:
    """The report page of `month` from the trend rows of its window (mart.v_indicator_trend) and
    the month's data-quality rows (mart.v_data_quality)."""
    catalog = list(load_catalog() if catalog is None else catalog)
    minimum_sample = load_minimum_sample() if minimum_sample is None else minimum_sample
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    months = window_months(month)
    trend = normalise_trend(trend, catalog)
    trend = trend[trend["month"].isin(months)] if not trend.empty else trend
    current = trend[trend["month"].eq(month)] if not trend.empty else trend
    if current.empty:
        raise Refused(f"month {month} has no published indicator snapshot; "
                      f"run `bizenv indicators compute --month {month}` first")
    definitions = {d.code: d for d in catalog}
    own = trend[trend["breakdown"].eq("")]
    own_current = current[current["breakdown"].eq("")]
    units = reporting_units(trend, regions)
    names = dict(units)
    order = indicator_order(own["indicator_code"], catalog)
    month_order = indicator_order(own_current["indicator_code"], catalog)

    about = {code: describe_indicator(own, code, definitions.get(code)) for code in order}
    targeted = [c for c in order if not is_missing(about[c]["target"]) and about[c]["operator"] in ("<=", ">=")]
    streaks = missed_streaks(trend, month, [c for c, _ in units], targeted)

    prefecture = own_current[own_current["region_code"].eq(regions.prefecture_code)].set_index("indicator_code")
    headline = []
    for code in month_order:
        if code not in prefecture.index:
            continue
        row = prefecture.loc[code]
        unit = about[code]["unit"]
        fraction = "—"
        if not is_missing(row["denominator"]):
            fraction = f"{format_value(row['numerator'], COUNT_UNIT)} / {format_value(row['denominator'], COUNT_UNIT)}"
        streak = streaks.get((regions.prefecture_code, code))
        headline.append({
            "code": code, "name": _name_with_unit(about[code]["name_zh"], unit), "name_en": about[code]["name_en"],
            "value": format_value(row["value"], unit),
            "target": target_text(about[code]["target"], about[code]["operator"], unit),
            **_attainment_cell(row["attainment"]),
            "previous": format_value(row["previous_value"], unit),
            "change": change_text(row["value"], row["previous_value"], unit),
            "last_year": format_value(row["last_year_value"], unit), "fraction": fraction,
            "sample": _count(row["sample_size"]),
            "streak": "—" if streak is None else str(streak),
        })
    verdicts = [h["attainment"] for h in headline if h["attainment"] in ("met", "missed")]
    met_count, judged = verdicts.count("met"), len(verdicts)

    by_cell = own_current.set_index(["region_code", "indicator_code"])
    heatmap_rows = []
    for region, name in units:
        cells = []
        for code in month_order:
            unit = about[code]["unit"]
            if (region, code) in by_cell.index:
                row = by_cell.loc[(region, code)]
                cell = {**_attainment_cell(row["attainment"]), "value": format_value(row["value"], unit)}
            else:
                cell = {**_attainment_cell("no_data"), "value": "—"}
            cells.append({**cell, "region": region, "indicator": code})
        heatmap_rows.append({"region": region, "name": name, "cells": cells})

    streak_rows = []
    for region, name in units:
        cells = []
        for code in targeted:
            count = streaks[(region, code)]
            cells.append({"region": region, "indicator": code, "months": count,
                          "text": f"≥ {count}" if count == len(months) else str(count),
                          "level": "none" if count == 0 else ("one" if count == 1 else "repeated")})
        streak_rows.append({"region": region, "name": name, "cells": cells})
    repeated = sum(1 for count in streaks.values() if count >= 2)

    charts, without_data = [], []
    for code in order:
        chart = trend_chart(own, code, units, months, about[code]["target"], about[code]["operator"],
                            about[code]["unit"])
        if chart is None:
            without_data.append(about[code]["name_zh"])
            continue
        charts.append({**chart, "name_zh": about[code]["name_zh"], "name_en": about[code]["name_en"],
                       "unit": about[code]["unit"]})

    durations = [
        _duration_row(prefecture.loc[code].to_dict() | {"unit": about[code]["unit"]}, about[code]["name_zh"])
        for code in month_order
        if code in prefecture.index and code in definitions and definitions[code].is_duration
    ]
    parts = current[current["breakdown"].ne("")].sort_values(["indicator_code", "region_code", "breakdown"])
    breakdowns = [
        _duration_row(row, f"{row['name_zh']} · {names.get(str(row['region_code']), row['region_code'])} · "
                           f"{row['breakdown']}")
        for row in parts.to_dict("records")
    ]

    version = int(pd.to_numeric(current["version"]).max())
    run_ids = sorted({str(r) for r in current["run_id"].dropna()})
    computed = current["computed_at"].dropna()
    context = {
        "month": month, "prefecture_name": regions.prefecture_name, "prefecture_code": regions.prefecture_code,
        "title": f"{regions.prefecture_name} 营商环境月度指标 · {month}",
        "version": version, "run_id": ", ".join(run_ids) or "—",
        "computed_at": shanghai_time(computed.max()) if not computed.empty else "—",
        "generated_at": shanghai_time(generated_at),
        "window": f"{months[0]} – {months[-1]}",
        "met": met_count, "judged": judged,
        "headline": headline, "durations": durations, "breakdowns": breakdowns,
        "indicators": [{"code": c, "name_zh": about[c]["name_zh"], "name_en": about[c]["name_en"]}
                       for c in month_order],
        "heatmap": heatmap_rows, "attainments": [_attainment_cell(a) for a in ATTAINMENT_LABELS],
        "streak_indicators": [{"code": c, "name_zh": about[c]["name_zh"],
                               "target": target_text(about[c]["target"], about[c]["operator"], about[c]["unit"])}
                              for c in targeted],
        "streaks": streak_rows, "repeated": repeated, "trend_months": len(months),
        "charts": charts, "without_data": without_data,
        "quality": _quality_rows(quality),
        "definitions": _definitions(catalog), "minimum_sample": minimum_sample,
    }
    return _environment().get_template(TEMPLATE).render(**context)


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def load_report_frames(engine: Engine, month: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trend rows of `month`'s window and the month's data-quality rows, in one transaction."""
    months = window_months(month)
    with engine.connect() as conn:
        trend = query_df(conn, "report/indicator_trend.sql",
                         {"first_month": f"{months[0]}-01", "last_month": f"{months[-1]}-01"})
        quality = query_df(conn, "report/data_quality.sql", {"month": f"{month}-01"})
    return trend, quality


def scheduled_report_path(reports_dir: Path, month: str) -> Path:
    """Where the monthly run (and the demo) writes the report of `month`."""
    return Path(reports_dir) / f"indicators-{month}.html"


def write_report(engine: Engine, month: str, out: Path) -> dict:
    """Write the report of `month` to `out`; returns a summary: the month, the file, the
    snapshot version and its row count (every unit, indicator and breakdown of the month)."""
    month_bounds(month)
    trend, quality = load_report_frames(engine, month)
    html = render_report(trend, quality, month, load_regions())
    current = normalise_trend(trend, load_catalog())
    current = current[current["month"].eq(month)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return {"month": month, "out": str(out), "version": int(pd.to_numeric(current["version"]).max()),
            "rows": len(current)}
