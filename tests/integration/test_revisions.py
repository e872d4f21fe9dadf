"""Revisions of published months (docs/history.md, "Revisions"), on DuckDB and PostgreSQL: a
corrected delivery recomputes the open month its rows are dated in and no other, the change is
logged with the batch that caused it, and a final month changes only through a revision with a
reason.

Tax filings (网上办税率 = filings via 电子税务局 or 移动端 / all filings filed in the month, by the
filing's own region; A = 152921, B = 152922, P = 152900 the prefecture):
  June  T1 A 06-10 办税服务厅, T2 A 06-12 电子税务局, T3 B 06-20 电子税务局
        → A 1/2 = 0.5, B 1/1 = 1.0, P 2/3
  July  T4 A 07-10 电子税务局, T5 B 07-15 办税服务厅
        → A 1/1 = 1.0, B 0/1 = 0.0, P 1/2 = 0.5
The correction re-delivers T1 (filed 06-10) with a newer 更新时间 (07-20) and channel 电子税务局:
  June  A 2/2 = 1.0, B 1.0 (unchanged), P 3/3 = 1.0; July is untouched (T1 is dated in June).
No registration is delivered, so 跨部门数据关联率 is 0 matched of the same filings before and
after (A 0/2, B 0/1, P 0/3) and every other indicator has no data both times: the revision log
of June holds exactly the two changed tax_online_rate values.

A correction that moves T2 (A, 电子税务局) from 06-12 to 07-02 touches June through the version it
replaces and July through the new one: June A 0/1 = 0.0, P (T1, T3) 1/2 = 0.5; July A (T4, T2)
2/2 = 1.0 as before, P (T4, T5, T2) 2/3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv import codes, indicators
from bizenv.cli import main
from bizenv.datasets import TAX_FILING
from bizenv.indicators.revisions import MonthFinal, RevisionRefused
from bizenv.ingest import ingest_file
from bizenv.warehouse import make_engine

A, B, P = "152921", "152922", "152900"
U1, U2, U3 = (codes.make_uscc("91", region, f"MA0R000{n}") for n, region in ((1, A), (2, A), (3, B)))
HEADERS = [TAX_FILING.column(c).header_zh for c in (
    "filing_id", "uscc", "region_code", "tax_period", "filed_at", "channel", "updated_at")]
JUNE = [
    ["T1", U1, A, "2024-05", "2024-06-10 09:00:00", "办税服务厅", "2024-06-10 09:30:00"],
    ["T2", U2, A, "2024-05", "2024-06-12 09:00:00", "电子税务局", "2024-06-12 09:30:00"],
    ["T3", U3, B, "2024-05", "2024-06-20 09:00:00", "电子税务局", "2024-06-20 09:30:00"],
]
JULY = [
    ["T4", U1, A, "2024-06", "2024-07-10 09:00:00", "电子税务局", "2024-07-10 09:30:00"],
    ["T5", U3, B, "2024-06", "2024-07-15 09:00:00", "办税服务厅", "2024-07-15 09:30:00"],
]
CORRECTED_T1 = [["T1", U1, A, "2024-05", "2024-06-10 09:00:00", "电子税务局", "2024-07-20 10:00:00"]]
REASON = "税务局更正6月申报渠道"


def _file(path: Path, rows: list[list[str]]) -> Path:
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="utf-8")
    return path


def _deliver(settings, path: Path, rows: list[list[str]]) -> str:
    summary = ingest_file(settings, "tax_filing", _file(path, rows))
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", len(rows), 0)
    return summary.batch_id


def _online_rate(engine, month: str) -> dict[str, float]:
    shown = indicators.show(engine, month)
    shown = shown[(shown["indicator_code"] == "tax_online_rate") & (shown["breakdown"] == "")]
    return {r.region_code: float(r.value) for r in shown.itertuples() if r.region_code in (A, B, P)}


def _runs(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "select run_id, status, revision_reason from ops.snapshot_run order by month, version"))]


def _revisions(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "select month, region_code, indicator_code, breakdown, old_value, new_value, old_run_id, new_run_id,"
            " caused_by, reason from mart.snapshot_revision order by month, region_code, indicator_code, breakdown"))]


def _stages(engine) -> dict[str, set[tuple]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select distinct cast(month as varchar), release_stage, final_from, version from mart.v_indicator_trend"
        )).all()
    found: dict[str, set[tuple]] = {}
    for month, stage, final_from, version in rows:
        found.setdefault(str(month)[:7], set()).add((stage, final_from, int(version)))
    return found


@pytest.fixture
def engine(warehouse_settings):
    engine = make_engine(warehouse_settings.warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(warehouse_settings, monkeypatch):
    """`bizenv` commands on the test's warehouse."""
    monkeypatch.setenv("BIZENV_DATA_DIR", str(warehouse_settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_settings.warehouse_url)


def test_a_corrected_june_record_recomputes_june_only_and_logs_the_batch(
    warehouse_settings, engine, cli_env, tmp_path, capsys
) -> None:
    _deliver(warehouse_settings, tmp_path / "税务_202406.csv", JUNE)
    _deliver(warehouse_settings, tmp_path / "税务_202407.csv", JULY)
    indicators.compute_snapshot(engine, "2024-06")
    indicators.compute_snapshot(engine, "2024-07")
    assert _online_rate(engine, "2024-06") == {A: 0.5, B: 1.0, P: 2 / 3}
    assert _online_rate(engine, "2024-07") == {A: 1.0, B: 0.0, P: 0.5}
    before = _stages(engine)
    [(june_stage, june_final_from, _)] = before["2024-06"]
    assert june_stage == "初步" and june_final_from is not None

    capsys.readouterr()
    assert main(["ingest-file", "tax_filing", str(_file(tmp_path / "税务_更正.csv", CORRECTED_T1))]) == 0
    out, err = capsys.readouterr()
    correction = json.loads(out.strip())["batch_id"]
    assert "note: 2024-06 recomputed after the delivery and published as 2024-06-v2" in err

    assert _online_rate(engine, "2024-06") == {A: 1.0, B: 1.0, P: 1.0}
    assert _online_rate(engine, "2024-07") == {A: 1.0, B: 0.0, P: 0.5}
    assert _runs(engine) == [("2024-06-v1", "published", None), ("2024-06-v2", "published", None),
                             ("2024-07-v1", "published", None)]
    assert _revisions(engine) == [
        ("2024-06", P, "tax_online_rate", "", 2 / 3, 1.0, "2024-06-v1", "2024-06-v2", correction, None),
        ("2024-06", A, "tax_online_rate", "", 0.5, 1.0, "2024-06-v1", "2024-06-v2", correction, None),
    ]
    # June's version 2 carries the window its first publish set; July keeps its version
    after = _stages(engine)
    assert after["2024-06"] == {("初步", june_final_from, 2)}
    assert after["2024-07"] == before["2024-07"]

    # the same delivery again changes nothing and recomputes nothing
    assert main(["ingest-file", "tax_filing", str(_file(tmp_path / "税务_重发.csv", CORRECTED_T1))]) == 0
    assert "recomputed" not in capsys.readouterr().err
    assert [r[0] for r in _runs(engine)] == ["2024-06-v1", "2024-06-v2", "2024-07-v1"]


def test_a_final_month_changes_only_through_a_revision_with_its_reason(
    warehouse_settings, engine, cli_env, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("BIZENV_REVISION_WINDOW_DAYS", "0")  # final as soon as it is published
    _deliver(warehouse_settings, tmp_path / "税务_202406.csv", JUNE)
    _deliver(warehouse_settings, tmp_path / "税务_202407.csv", JULY)
    indicators.compute_snapshot(engine, "2024-06")
    assert {stage for stage, _, _ in _stages(engine)["2024-06"]} == {"正式"}

    correction = _deliver(warehouse_settings, tmp_path / "税务_更正.csv", CORRECTED_T1)
    assert indicators.revise_open_months(engine, [correction]) == []
    assert _online_rate(engine, "2024-06") == {A: 0.5, B: 1.0, P: 2 / 3}

    with pytest.raises(MonthFinal) as refused:
        indicators.compute_snapshot(engine, "2024-06")
    assert str(refused.value).startswith("2024-06 is final (正式, since ")
    assert str(refused.value).endswith("; change it with `bizenv indicators revise --month 2024-06 --reason TEXT`")
    capsys.readouterr()
    assert main(["indicators", "compute", "--month", "2024-06"]) == 1
    assert "bizenv indicators revise --month 2024-06 --reason TEXT" in capsys.readouterr().err
    assert [r[0] for r in _runs(engine)] == ["2024-06-v1"]  # nothing computed

    with pytest.raises(RevisionRefused, match="needs a reason"):
        indicators.revise(engine, "2024-06", "  ")
    with pytest.raises(RevisionRefused, match="2024-07 has no published snapshot to revise"):
        indicators.revise(engine, "2024-07", REASON)

    assert main(["indicators", "revise", "--month", "2024-06", "--reason", REASON]) == 0
    printed = json.loads(capsys.readouterr().out.strip())
    assert (printed["run_id"], printed["status"], printed["reason"]) == ("2024-06-v2", "published", REASON)
    assert _online_rate(engine, "2024-06") == {A: 1.0, B: 1.0, P: 1.0}
    assert _runs(engine) == [("2024-06-v1", "published", None), ("2024-06-v2", "published", REASON)]
    assert _revisions(engine) == [
        ("2024-06", P, "tax_online_rate", "", 2 / 3, 1.0, "2024-06-v1", "2024-06-v2", correction, REASON),
        ("2024-06", A, "tax_online_rate", "", 0.5, 1.0, "2024-06-v1", "2024-06-v2", correction, REASON),
    ]
    assert {stage for stage, _, _ in _stages(engine)["2024-06"]} == {"正式"}

    # a revision that changes no value is recorded on its run, with nothing logged
    again = indicators.revise(engine, "2024-06", "复核")
    assert (again.run_id, again.status) == ("2024-06-v3", "published")
    assert _runs(engine)[-1] == ("2024-06-v3", "published", "复核")
    assert len(_revisions(engine)) == 2


def test_a_correction_moving_a_filing_to_july_recomputes_the_month_it_left_and_the_one_it_entered(
    warehouse_settings, engine, tmp_path
) -> None:
    _deliver(warehouse_settings, tmp_path / "税务_202406.csv", JUNE)
    _deliver(warehouse_settings, tmp_path / "税务_202407.csv", JULY)
    indicators.compute_snapshot(engine, "2024-06")
    indicators.compute_snapshot(engine, "2024-07")
    moved = _deliver(warehouse_settings, tmp_path / "税务_更正.csv", [
        ["T2", U2, A, "2024-05", "2024-07-02 09:00:00", "电子税务局", "2024-07-21 10:00:00"]])

    runs = indicators.revise_open_months(engine, [moved])
    assert [(r.run_id, r.status) for r in runs] == [("2024-06-v2", "published"), ("2024-07-v2", "published")]
    assert _online_rate(engine, "2024-06") == {A: 0.0, B: 1.0, P: 0.5}
    assert _online_rate(engine, "2024-07") == {A: 1.0, B: 0.0, P: 2 / 3}
    assert _revisions(engine) == [
        ("2024-06", P, "tax_online_rate", "", 2 / 3, 0.5, "2024-06-v1", "2024-06-v2", moved, None),
        ("2024-06", A, "tax_online_rate", "", 0.5, 0.0, "2024-06-v1", "2024-06-v2", moved, None),
        ("2024-07", P, "tax_online_rate", "", 0.5, 2 / 3, "2024-07-v1", "2024-07-v2", moved, None),
    ]
    assert indicators.revise_open_months(engine, [moved]) == []  # both versions read it already
