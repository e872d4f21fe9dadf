import csv
import io

import pandas as pd
import pytest

from bizenv.cli import build_parser, main


def test_every_documented_command_parses():
    parser = build_parser()
    for argv in (
        ["db", "upgrade"],
        ["simulate", "--out", "d", "--entities", "5", "--months", "2024-01:2024-06", "--seed", "3"],
        ["simulate", "serve", "--data", "d", "--token", "t"],
        ["ingest-file", "registration", "f.csv"],
        ["ingest", "amr_registration"],
        ["indicators", "compute", "--month", "2024-06"],
        ["indicators", "show", "--month", "2024-06", "--region", "152921", "--format", "json"],
        ["quarantine", "list", "--dataset", "registration", "--format", "csv"],
        ["quarantine", "summary"],
        ["quarantine", "export", "--department", "市场监管局", "--month", "2024-06", "--out", "d"],
        ["crosswalk", "load", "c.csv"],
        ["conflicts", "list", "--dataset", "tax_filing"],
        ["profile", "show", "91152921MA0N00010T"],
        ["report", "--month", "2024-06", "--out", "r.html"],
        ["demo", "--month", "2024-06"],
    ):
        assert callable(parser.parse_args(argv).func)


def test_unmigrated_warehouse_gives_one_line_instruction(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BIZENV_WAREHOUSE_URL", raising=False)
    assert main(["indicators", "show", "--month", "2024-06"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: warehouse duckdb:///") and err.rstrip().endswith("run `bizenv db upgrade`")


def test_unreachable_warehouse_is_named_not_sent_to_db_upgrade(monkeypatch, capsys):
    import socket

    with socket.socket() as probe:  # a local port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", f"postgresql+psycopg://bizenv:s3cret-pw@127.0.0.1:{port}/warehouse")
    for argv in (["indicators", "show", "--month", "2024-06"], ["db", "upgrade"]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "s3cret-pw" not in err and "db upgrade`" not in err, err
        assert f"127.0.0.1:{port}" in err or str(port) in err, err
    assert main(["indicators", "show", "--month", "2024-06"]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot connect to warehouse postgresql+psycopg://bizenv:***@127.0.0.1:{port}/")


def test_bad_month_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    assert main(["indicators", "compute", "--month", "2024-13"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_unknown_dataset_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    assert main(["ingest-file", "permits", str(tmp_path / "x.csv")]) == 2
    assert "unknown dataset 'permits'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["simulate"], ["indicators"]])
def test_incomplete_commands_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


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
    # prefecture, processing times, by region, by type
    assert html.count("<table>") == 4


def test_csv_output_neutralises_formulas(capsys):
    from bizenv.cli import _print_frame

    frame = pd.DataFrame({"value": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "驼峰科技", None], "n": [1, -2, 3, 4]})
    _print_frame(frame, "csv")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["value", "n"], ["'=HYPERLINK(\"http://x\")", "1"], ["'@SUM(A1)", "-2"],
                    ["驼峰科技", "3"], ["", "4"]]
