"""Commands that build a whole warehouse from simulated department data (seconds each, so they
live here rather than in the fast suite): `simulate` into a department database then `ingest`
from it, and `report` before and after a month is published. Embedded DuckDB default."""

import re

from bizenv.cli import main


def test_simulate_fills_a_department_database_and_ingest_pulls_it(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("BIZENV_WAREHOUSE_URL", raising=False)
    source_db = f"sqlite:///{tmp_path / 'bdc.sqlite'}"
    monkeypatch.setenv("AIRFLOW_CONN_BIZENV_SRC_BDC_DB", source_db)
    assert main(["simulate", "--out", str(tmp_path / "files"), "--entities", "40", "--months", "2024-06:2024-06",
                 "--database", source_db]) == 0
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["ingest", "bdc_real_estate_db"]) == 0
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(first) == 1 and first[0]["dataset"] == "real_estate_case" and first[0]["loaded"] > 0
    assert first[0]["extracted"] == first[0]["loaded"] + first[0]["quarantined"] + first[0]["duplicates"]
    assert main(["ingest", "bdc_real_estate_db"]) == 0  # nothing new since the watermark
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(summary["loaded"] == 0 for summary in again)


def test_report_writes_the_published_month_and_refuses_an_unpublished_one(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("BIZENV_WAREHOUSE_URL", raising=False)
    assert main(["simulate", "--out", str(tmp_path / "files"), "--entities", "60", "--months", "2024-06:2024-06"]) == 0
    assert main(["db", "upgrade"]) == 0
    out = tmp_path / "report.html"
    capsys.readouterr()
    assert main(["report", "--month", "2024-06", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == ("error: month 2024-06 has no published indicator snapshot; "
                   "run `bizenv indicators compute --month 2024-06` first\n")
    assert not out.exists()

    for dataset in ("registration", "tax_filing", "credit_record", "real_estate_case"):
        assert main(["ingest-file", dataset, str(tmp_path / "files" / f"{dataset}.csv")]) == 0
    assert main(["indicators", "compute", "--month", "2024-06"]) == 0
    capsys.readouterr()
    assert main(["report", "--month", "2024-06", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    # 40 rows of region x indicator, plus the 登记类型 rows of 企业不动产登记时长
    assert {k: summary[k] for k in ("month", "out", "version")} == {"month": "2024-06", "out": str(out), "version": 1}
    assert summary["rows"] > 40
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "营商环境月度指标 · 2024-06" in html
    # the sections every report page has: the target-attainment heat map and data quality
    assert re.search(r'<table class="(?:[^"]* )?heatmap(?: [^"]*)?">', html) and '<section id="data-quality">' in html
    assert "<script" not in html
