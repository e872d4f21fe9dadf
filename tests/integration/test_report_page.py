"""The monthly report page after three real months (April–June 2024: ingested, computed, validated
and published), on DuckDB and PostgreSQL: one trend chart per indicator with data and one line
per unit with a value, a heat-map cell per unit × indicator whose attainment is the one
mart.v_indicator_latest holds, the streak of a unit built to miss a target twice in a row, a
hostile unit name shown as text, and nothing that reaches for the network."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv.indicators import compute_snapshot
from bizenv.ingest import ingest_file
from bizenv.report import write_report
from bizenv.settings import CONFIG_DIR
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.warehouse import make_engine

P, A, B, C = "152900", "152921", "152922", "152923"
MONTHS = ("2024-04", "2024-05", "2024-06")
HOSTILE = "<script>alert('额济纳旗')</script>额济纳旗"
RATE = "full_e_registration_rate"


@pytest.fixture(scope="module")
def departments() -> dict[str, pd.DataFrame]:
    """Three simulated months; 阿拉善左旗 registers only 全程电子化 in April (rate 100 %, met) and
    only at the window in May and June (0 %, missed twice in a row)."""
    data = simulate(entities=120, months=("2024-04", "2024-06"), seed=5, defects=DefectRates.none())
    registration = data.registration.copy()
    founding = registration["event_type"].eq("设立") & registration["region_code"].eq(A)
    issued = registration["issued_at"].str[:7]
    registration.loc[founding & issued.eq("2024-04"), "channel"] = "全程电子化"
    registration.loc[founding & issued.isin(["2024-05", "2024-06"]), "channel"] = "窗口"
    return {"registration": registration, "tax_filing": data.tax_filing, "credit_record": data.credit_record,
            "real_estate_case": data.real_estate_case}


def delivered(frame: pd.DataFrame, dataset: str, path: Path) -> Path:
    headers = CHINESE_HEADERS[dataset]
    frame[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8")
    return path


def test_the_report_page_of_three_published_months(warehouse_settings, departments, tmp_path, monkeypatch):
    regions = tmp_path / "regions.yaml"
    shipped = (CONFIG_DIR / "regions.yaml").read_text(encoding="utf-8")
    regions.write_text(shipped.replace("name: 额济纳旗", f'name: "{HOSTILE}"'), encoding="utf-8")
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(regions))

    for dataset, frame in departments.items():
        summary = ingest_file(warehouse_settings, dataset, delivered(frame, dataset, tmp_path / f"{dataset}.csv"))
        assert (summary.status, summary.quarantined) == ("loaded", 0), summary
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.begin() as conn:
            # the deliveries reached the warehouse at the end of June (12:00 in Shanghai), as the
            # daily ingests of a real month do; the data-quality section reads the month of the load
            conn.execute(text("update ops.batch set finished_at = cast('2024-06-30 04:00:00' as timestamp)"))
        runs = [compute_snapshot(engine, month) for month in MONTHS]
        assert [run.status for run in runs] == ["published"] * 3
        out = tmp_path / "reports" / "indicators-2024-06.html"
        summary = write_report(engine, "2024-06", out)
        with engine.connect() as conn:
            latest = pd.DataFrame(conn.execute(text(
                "select region_code, indicator_code, attainment from mart.v_indicator_latest "
                "where breakdown = '' and month = cast('2024-06-01' as date)")).mappings().all())
            lines = pd.DataFrame(conn.execute(text(
                "select indicator_code, count(distinct region_code) as units from mart.v_indicator_trend "
                "where breakdown = '' and value is not null group by indicator_code")).mappings().all())
            ours = pd.DataFrame(conn.execute(text(
                "select month, attainment from mart.v_indicator_trend "
                "where region_code = :a and indicator_code = :rate and breakdown = '' order by month"),
                {"a": A, "rate": RATE}).mappings().all())
    finally:
        engine.dispose()

    assert summary == {"month": "2024-06", "out": str(out), "version": 1, "rows": runs[-1].row_count}
    html = out.read_text(encoding="utf-8")

    # nothing runs, nothing is fetched: no script element, no address of any kind
    assert "<script" not in html.lower() and "http" not in html and "//" not in html
    # the hostile unit name is text wherever it appears (heat map, streaks, legends)
    assert html.count("&lt;script&gt;alert(&#39;额济纳旗&#39;)&lt;/script&gt;额济纳旗") >= 3

    # the unit built to miss: met in April, missed in May and June
    assert ours["attainment"].tolist() == ["met", "missed", "missed"]

    charts = dict(re.findall(r'<svg class="trend-chart" data-indicator="([a-z_]+)"(.*?)</svg>', html, re.S))
    assert len(charts) == len(lines) == 10
    for code, units in zip(lines["indicator_code"], lines["units"], strict=True):
        assert len(re.findall(r'<polyline class="series" data-region="\d{6}"', charts[code])) == units, code
    assert re.findall(r'<polyline class="series" data-region="(\d{6})"', charts[RATE]) == [P, A, B, C]
    assert len(re.findall(r"<circle cx", charts[RATE])) == 4 * 3 + 4  # three months per line, legend dots
    assert '<line class="target"' in charts[RATE] and '<line class="target"' not in charts["new_entities"]

    heatmap = re.search(r'<table class="heatmap[^"]*">(.*?)</table>', html, re.S).group(1)
    cells = re.findall(r'<td class="cell" data-attainment="([a-z_]+)" data-region="(\d{6})" '
                       r'data-indicator="([a-z_]+)">', heatmap)
    assert len(cells) == 4 * 10 == len(latest)
    shown = {(region, code): attainment for attainment, region, code in cells}
    assert shown == {(r, c): a for r, c, a in latest.itertuples(index=False)}
    assert shown[(A, RATE)] == "missed"
    assert shown[(B, RATE)] == "insufficient_sample"  # four approvals, below the minimum sample of five
    assert shown[(P, "new_entities")] == "no_target"

    streaks = re.search(r'<table class="missed-streaks[^"]*">(.*?)</table>', html, re.S).group(1)
    months = dict(re.findall(r'data-region="(\d{6})" data-indicator="' + RATE + r'" data-months="(\d+)"', streaks))
    assert months[A] == "2"
    assert months[B] == "0"  # too few cases in June: not a miss, no streak

    quality = re.search(r'<section id="data-quality">(.*?)</section>', html, re.S).group(1)
    for dataset, frame in departments.items():
        row = re.search(rf"<td class=\"name\">{dataset}</td><td>([\d,]+)</td><td>([\d,]+)</td>", quality)
        assert row is not None, dataset
        assert int(row.group(1).replace(",", "")) == len(frame) == int(row.group(2).replace(",", "")), dataset
        # loaded at 04:00 UTC, shown in Shanghai
        assert "<td>2024-06-30 12:00</td>" in quality.split(f">{dataset}<")[1].split("</tr>")[0], dataset
    assert "（北京时间 Asia/Shanghai）" in html
