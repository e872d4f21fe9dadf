"""A GB18030 registration file with bad rows, end to end on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv import codes, ingest
from bizenv.cli import main
from bizenv.datasets import REGISTRATION
from bizenv.ingest import ingest_file
from bizenv.landing import read_landed_batch
from bizenv.quarantine import list_quarantine
from bizenv.warehouse import make_engine

HEADERS = [c.header_zh for c in REGISTRATION.columns]
LEFT_BANNER = codes.make_uscc("91", "152921", "MA0N0001")
LEFT_SHOP = codes.make_uscc("92", "152921", "MA0N0002")
RIGHT_CORP = codes.make_uscc("91", "152922", "MA0N0003")
EJINA_CLOSED = codes.make_uscc("91", "152923", "MA0N0004")
BAD_CHECK = codes.make_uscc("91", "152921", "MA0N0005")[:-1] + "0"
REP_ID = "152921199001011235"  # valid GB 11643 check digit


def row(uscc, name, region, established, status="存续", updated="2024-06-30 10:00:00", status_date="",
        submitted="2024-06-03 09:00:00", issued="2024-06-03 11:00:00", etype="企业"):
    return [uscc, "", name, etype, "张三", REP_ID, region, "I6510", "1,000.00", established, submitted,
            issued, "全程电子化", "", status, status_date, updated]


def write_gb18030(path: Path, rows: list[list[str]]) -> Path:
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="gb18030")
    return path


@pytest.fixture
def department_file(tmp_path: Path) -> Path:
    rows = [
        row(LEFT_BANNER, "阿拉善左旗沙漠科技有限公司", "152921", "2024/6/3"),           # row 2
        row(LEFT_SHOP, "巴彥浩特鎮小賣部", "152921", "2024年6月5日", etype="个体工商户"),  # row 3 traditional name
        row(RIGHT_CORP, "阿拉善右旗驼绒有限公司", "152922", "20230115"),              # row 4 established 2023
        row(EJINA_CLOSED, "额济纳旗胡杨旅游有限公司", "152923", "2020-05-01", status="注销",
            status_date="2024-06-20"),                                                # row 5 deregistered in June
        row(BAD_CHECK, "错误校验位有限公司", "152921", "2024-06-10"),                   # row 6 bad check char
        row(codes.make_uscc("91", "152999", "MA0N0006"), "外地有限公司", "152999", "2024-06-11"),  # row 7 region
        row(codes.make_uscc("91", "152921", "MA0N0007"), "倒序有限公司", "152921", "2024-06-12",
            submitted="2024-06-12 10:00:00", issued="2024-06-11 10:00:00"),             # row 8 issued < submitted
        row(LEFT_BANNER, "阿拉善左旗沙漠科技有限公司", "152921", "2024/6/3"),           # row 9 exact duplicate
        row("9.1E+17", "科学计数法有限公司", "152921", "2024-06-13"),                   # row 10 Excel-mangled
    ]
    return write_gb18030(tmp_path / "市场监管_登记_202406.csv", rows)


def test_gb18030_file_loads_good_rows_and_quarantines_bad(warehouse_settings, department_file):
    summary = ingest_file(warehouse_settings, "registration", department_file, max_bad_share=0.5)
    assert summary.as_dict() | {"batch_id": None} == {
        "batch_id": None, "dataset": "registration", "extracted": 9, "loaded": 4, "quarantined": 4,
        "duplicates": 1, "status": "loaded", "reason": None,
    }
    engine = make_engine(warehouse_settings.warehouse_url)
    with engine.connect() as conn:
        core = pd.read_sql(text("select uscc, name, name_key, region_code, status, legal_rep_id_hash, "
                                "legal_rep_id_masked from core.registration order by uscc"), conn)
        quarantined = pd.read_sql(text("select source_row, record_key, failures, reason_zh, reason_en, record "
                                       "from quarantine.registration order by source_row"), conn)
        batch = conn.execute(text("select extracted, loaded, quarantined, duplicates, status, landing_path "
                                  "from ops.batch")).one()
    engine.dispose()
    assert sorted(core["uscc"]) == sorted([LEFT_BANNER, LEFT_SHOP, RIGHT_CORP, EJINA_CLOSED])
    shop = core.set_index("uscc").loc[LEFT_SHOP]
    assert shop["name"] == "巴彥浩特鎮小賣部" and shop["name_key"] == "巴彦浩特镇小卖部"
    assert core["legal_rep_id_masked"].eq("1529**********" + REP_ID[-4:]).all()
    assert not core["legal_rep_id_hash"].str.contains(REP_ID).any()

    rules = {r.source_row: {(f["field"], f["rule"]) for f in json.loads(r.failures)}
             for r in quarantined.itertuples()}
    assert rules == {
        6: {("uscc", "uscc_check_char")},
        7: {("region_code", "region_unknown")},
        8: {("issued_at", "completion_before_submission")},
        10: {("uscc", "excel_mangled")},
    }
    reasons = quarantined.set_index("source_row")
    assert "统一社会信用代码校验位错误" in reasons.loc[6, "reason_zh"]
    assert "check character" in reasons.loc[6, "reason_en"]
    assert REP_ID not in "".join(quarantined["record"])  # personal IDs are masked in quarantine
    assert tuple(batch[:5]) == (9, 4, 4, 1, "loaded")
    assert Path(batch[5]).exists()
    data_docs = warehouse_settings.docs_dir / "data-docs" / "index.html"
    assert "registration" in data_docs.read_text(encoding="utf-8")  # Great Expectations Data Docs


def test_rerunning_a_batch_changes_nothing(warehouse_settings, department_file):
    ingest_file(warehouse_settings, "registration", department_file, max_bad_share=0.5)
    engine = make_engine(warehouse_settings.warehouse_url)
    snapshot_sql = text("select * from core.registration order by uscc")
    history_sql = text("select uscc, valid_from, valid_to, is_current from core.market_entity order by 1, 2")
    with engine.connect() as conn:
        before = pd.read_sql(snapshot_sql, conn), pd.read_sql(history_sql, conn)
    again = ingest_file(warehouse_settings, "registration", department_file, max_bad_share=0.5)
    with engine.connect() as conn:
        after = pd.read_sql(snapshot_sql, conn), pd.read_sql(history_sql, conn)
    engine.dispose()
    assert (again.loaded, again.duplicates, again.quarantined) == (0, 5, 4)
    pd.testing.assert_frame_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])


def test_rename_history_and_out_of_order_delivery(warehouse_settings, tmp_path):
    old = row(LEFT_BANNER, "沙漠科技有限公司", "152921", "2024-06-03", updated="2024-06-03 12:00:00")
    new = row(LEFT_BANNER, "阿拉善沙漠科技集团有限公司", "152921", "2024-06-03", updated="2024-06-20 12:00:00")
    # the newer state arrives first, the older one a day later
    ingest_file(warehouse_settings, "registration", write_gb18030(tmp_path / "a.csv", [new]))
    late = ingest_file(warehouse_settings, "registration", write_gb18030(tmp_path / "b.csv", [old]))
    assert late.loaded == 1  # it joins the history
    engine = make_engine(warehouse_settings.warehouse_url)
    with engine.connect() as conn:
        current = conn.execute(text("select name from core.registration where uscc = :u"), {"u": LEFT_BANNER}).one()
        history = conn.execute(text("select name, valid_from, valid_to, is_current from core.market_entity "
                                    "where uscc = :u order by valid_from"), {"u": LEFT_BANNER}).all()
    engine.dispose()
    assert current[0] == "阿拉善沙漠科技集团有限公司"  # the older state never overwrites the newer one
    assert [(h[0], str(h[1]), str(h[2]) if h[2] else None, h[3]) for h in history] == [
        ("沙漠科技有限公司", "2024-06-03 12:00:00", "2024-06-20 12:00:00", False),
        ("阿拉善沙漠科技集团有限公司", "2024-06-20 12:00:00", None, True),
    ]


def test_a_merge_killed_half_way_leaves_no_trace(warehouse_settings, department_file, monkeypatch):
    real_run_sql = ingest.run_sql

    def dying_run_sql(conn, path, params=None):
        if path.endswith("close_entity_versions.sql"):
            raise RuntimeError("worker killed")
        return real_run_sql(conn, path, params)

    monkeypatch.setattr(ingest, "run_sql", dying_run_sql)
    with pytest.raises(RuntimeError, match="worker killed"):
        ingest_file(warehouse_settings, "registration", department_file, max_bad_share=0.5)
    engine = make_engine(warehouse_settings.warehouse_url)
    with engine.connect() as conn:
        counts = [conn.execute(text(f"select count(*) from {t}")).scalar_one() for t in (
            "core.registration", "core.market_entity", "quarantine.registration", "ops.stage_registration",
            "ops.validation_result")]
        status = conn.execute(text("select status, reason, landing_path from ops.batch")).one()
    engine.dispose()
    assert counts == [0, 0, 0, 0, 0]
    assert status[0] == "failed" and "worker killed" in status[1]
    # the raw batch stays findable for a re-run once the cause is fixed
    assert read_landed_batch(status[2]).shape[0] > 0


def test_too_many_bad_rows_reject_the_batch(warehouse_settings, department_file, capsys, monkeypatch):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(warehouse_settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_settings.warehouse_url)
    exit_code = main(["ingest-file", "registration", str(department_file)])
    out, err = capsys.readouterr()
    assert exit_code == 2
    summary = json.loads(out)
    assert summary["status"] == "rejected" and summary["loaded"] == 0
    assert err.strip().count("\n") == 0
    assert err.rstrip().endswith("市场监管_登记_202406.csv: 4 of 8 rows fail validation (50.0% > 5% allowed); batch "
                                 "rejected; first at row 6 field 统一社会信用代码 (uscc_check_char)"), err
    # nothing vanished: the 4 bad rows are quarantined with their failures, the 4 valid ones held
    # back beside them, the exact duplicate counted as one
    assert (summary["extracted"], summary["quarantined"], summary["duplicates"]) == (9, 8, 1)
    engine = make_engine(warehouse_settings.warehouse_url)
    held = list_quarantine(engine, "registration").set_index("source_row")
    assert sorted(held.index) == [2, 3, 4, 5, 6, 7, 8, 10]
    assert held.loc[6, "reason_en"] == "uscc '91152921MA0N000590': USCC check character is wrong"
    assert held.loc[2, "reason_en"] == ("row is valid but its batch was rejected for too many bad rows; "
                                        "deliver it again with the corrected file")
    # the corrected delivery (here: the same file, accepted with a higher tolerance) resolves the
    # held-back rows; the bad ones stay open until their own correction arrives
    accepted = ingest_file(warehouse_settings, "registration", department_file, max_bad_share=0.5)
    assert accepted.status == "loaded"
    rows = list_quarantine(engine, "registration", include_resolved=True)
    engine.dispose()
    rejected_batch = rows[rows["batch_id"] == summary["batch_id"]].set_index("source_row")
    assert rejected_batch["status"].to_dict() == {2: "resolved", 3: "resolved", 4: "resolved", 5: "resolved",
                                                  6: "open", 7: "open", 8: "open", 10: "open"}
    assert set(rejected_batch["resolved_by_batch"].dropna()) == {accepted.batch_id}


def test_missing_required_column_names_file_and_column(warehouse_settings, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(warehouse_settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_settings.warehouse_url)
    path = tmp_path / "partial.csv"
    pd.DataFrame({"统一社会信用代码": [LEFT_BANNER]}).to_csv(path, index=False)
    assert main(["ingest-file", "registration", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: partial.csv: missing required column(s) 企业名称(name)")


def test_the_two_stock_and_flow_indicators_per_region(warehouse_settings, department_file):
    from bizenv.indicators import compute_snapshot, show

    ingest_file(warehouse_settings, "registration", department_file, max_bad_share=0.5)
    engine = make_engine(warehouse_settings.warehouse_url)
    compute_snapshot(engine, "2024-06")
    values = {(r.region_code, r.indicator_code): r.value for r in show(engine, "2024-06").itertuples()}
    engine.dispose()
    # new in June: the left-banner company (06-03) and shop (06-05); the registration file covers
    # June, so a banner where nothing was set up counts 0, not "no data" (docs/indicators.md)
    assert values[("152921", "new_entities")] == 2
    assert values[("152900", "new_entities")] == 2
    assert values[("152922", "new_entities")] == 0 and values[("152923", "new_entities")] == 0
    # alive at June end: both left-banner entities, the 2023 right-banner company; the Ejina
    # company was deregistered on 06-20, so Ejina has no surviving entity left (0)
    assert values[("152921", "surviving_entities")] == 2
    assert values[("152922", "surviving_entities")] == 1
    assert values[("152923", "surviving_entities")] == 0
    assert values[("152900", "surviving_entities")] == 3
