"""Department feedback (数据异议/纠错): bad rows go back to the department as GB18030 CSV and XLSX,
and a corrected re-delivery resolves them — on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from bizenv import codes
from bizenv.ingest import ingest_file
from bizenv.quarantine import (
    export_feedback,
    list_quarantine,
    month_bounds_utc,
    quarantine_summary,
)
from bizenv.standardize import LOCAL_TIMEZONE
from bizenv.warehouse import make_engine

REG_HEADERS = ["统一社会信用代码", "注册号", "企业名称", "市场主体类型", "法定代表人", "法定代表人证件号码",
               "所属区划代码", "行业代码", "注册资本(万元)", "成立日期", "申请时间", "核准时间", "办理方式",
               "登记状态", "状态日期", "更新时间"]
TAX_HEADERS = ["申报流水号", "纳税人识别号", "所属区划代码", "所属期", "申报时间", "申报渠道", "应纳税额(元)",
               "退税申请时间", "退税办结时间", "更新时间"]
REP_ID = "152921199001011235"  # valid GB 11643 check digit
BAD_REP_ID = REP_ID[:-1] + "6"

GOOD = codes.make_uscc("91", "152921", "MA0F0001")
TRAD = codes.make_uscc("92", "152921", "MA0F0002")
WRONG_REGION = codes.make_uscc("91", "152922", "MA0F0003")
REVERSED = codes.make_uscc("91", "152923", "MA0F0004")
BAD_CHECK = codes.make_uscc("91", "152921", "MA0F0005")[:-1] + "0"
BAD_REP = codes.make_uscc("91", "152921", "MA0F0006")


def reg_row(uscc, name, region="152921", submitted="2024-06-03 09:00:00", issued="2024-06-03 11:00:00",
            rep_id=REP_ID, updated="2024-06-30 10:00:00", etype="企业"):
    return [uscc, "", name, etype, "张三", rep_id, region, "I6510", "1,000.00", "2024-06-03", submitted, issued,
            "全程电子化", "存续", "", updated]


def tax_row(filing_id, uscc, region="152921", updated="2024-06-15 10:00:00"):
    return [filing_id, uscc, region, "2024-05", "2024-06-14 09:30:00", "电子税务局", "1200.50", "", "", updated]


def write_csv(path: Path, headers: list[str], rows: list[list[str]], encoding: str = "gb18030") -> Path:
    pd.DataFrame(rows, columns=headers).to_csv(path, index=False, encoding=encoding)
    return path


@pytest.fixture
def registration_file(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "市场监管_登记_202406.csv", REG_HEADERS, [
        reg_row(GOOD, "阿拉善左旗驼峰科技有限公司"),                                         # row 2
        reg_row(TRAD, "巴彥浩特鎮雜貨鋪", etype="个体工商户"),                                 # row 3 loads
        reg_row(WRONG_REGION, "阿拉善右旗骆驼有限公司", region="152999"),                       # row 4 region
        reg_row(REVERSED, "额济纳旗胡杨有限公司", submitted="2024-06-12 10:00:00",
                issued="2024-06-11 10:00:00"),                                              # row 5 order
        reg_row(BAD_CHECK, "错误校验位有限公司"),                                               # row 6 check char
        reg_row(BAD_REP, "证件号错误有限公司", rep_id=BAD_REP_ID),                              # row 7 resident ID
    ])


def read_export_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)


def read_export_xlsx(path: Path) -> pd.DataFrame:
    sheet = load_workbook(path, read_only=True).worksheets[0]
    rows = [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]
    return pd.DataFrame(rows[1:], columns=rows[0])


def shanghai_month(utc_naive) -> str:
    return pd.Timestamp(utc_naive).tz_localize("UTC").tz_convert(LOCAL_TIMEZONE).strftime("%Y-%m")


def test_month_bounds_are_shanghai_months_in_naive_utc():
    assert month_bounds_utc("2024-06") == (dt.datetime(2024, 5, 31, 16), dt.datetime(2024, 6, 30, 16))
    assert month_bounds_utc("2024-12") == (dt.datetime(2024, 11, 30, 16), dt.datetime(2024, 12, 31, 16))
    for bad in ("2024-6", "2024-13", "202406", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds_utc(bad)


def test_feedback_export_then_corrected_redelivery_resolves(warehouse_settings, registration_file, tmp_path):
    first = ingest_file(warehouse_settings, "registration", registration_file, max_bad_share=0.9)
    assert (first.extracted, first.loaded, first.quarantined, first.duplicates) == (6, 2, 4, 0)
    tax_file = write_csv(tmp_path / "税务_申报_202406.csv", TAX_HEADERS, [
        tax_row("SB202406000001", GOOD),                                     # row 2
        tax_row("SB202406000002", BAD_CHECK),                                # row 3 check char
        tax_row("SB202406000003", "9.1E+17"),                                # row 4 Excel-mangled
        tax_row("SB202406000004", GOOD, region="150121"),                    # row 5 region
    ], encoding="utf-8-sig")
    tax_first = ingest_file(warehouse_settings, "tax_filing", tax_file, max_bad_share=0.9)
    assert (tax_first.loaded, tax_first.quarantined) == (1, 3)

    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        opened = list_quarantine(engine)
        month = shanghai_month(opened["quarantined_at"].iloc[0])
        assert set(opened["status"]) == {"open"}
        # --rule keeps the rows that failed that rule (row 5's 核准时间 lies before its 申请时间)
        assert list_quarantine(engine, "registration", rule="completion_before_submission")[
            "source_row"].tolist() == [5]
        assert list_quarantine(engine, "registration", rule="updated_in_future").empty

        # 1. feedback to the department, by department name and by dataset name
        out = tmp_path / "feedback"
        paths = export_feedback(engine, "市场监管局", month, out)
        assert [p.name for p in paths] == [f"反馈_市场监管局_registration_{month}.csv",
                                           f"反馈_市场监管局_registration_{month}.xlsx"]
        csv, xlsx = read_export_csv(paths[0]), read_export_xlsx(paths[1])
        for frame in (csv, xlsx):
            assert list(frame.columns[:8]) == ["批次号", "文件名", "行号", "记录键", "所属区划代码", "问题说明",
                                               "问题字段", "校验规则"]
            assert {"企业名称", "统一社会信用代码", "法定代表人证件号码", "核准时间"} <= set(frame.columns)
            assert frame.columns.is_unique
            rows = frame.set_index("行号")
            assert sorted(rows.index, key=int) == ["4", "5", "6", "7"]
            assert set(rows["批次号"]) == {first.batch_id}
            assert set(rows["文件名"]) == {"市场监管_登记_202406.csv"}
            assert rows.loc["4", "问题说明"] == "所属区划代码「152999」：行政区划代码不在本地区范围"
            assert rows.loc["4", "所属区划代码"] == "152999"
            assert rows.loc["4", "企业名称"] == "阿拉善右旗骆驼有限公司"
            assert rows.loc["5", "校验规则"] == "completion_before_submission"
            assert rows.loc["5", "问题字段"] == "核准时间"
            assert "办结时间早于申请时间" in rows.loc["5", "问题说明"]
            assert rows.loc["6", "记录键"] == BAD_CHECK
            assert rows.loc["6", "校验规则"] == "uscc_check_char"
            assert "统一社会信用代码校验位错误" in rows.loc["6", "问题说明"]
            assert rows.loc["7", "校验规则"] == "resident_id"
            # personal ID numbers never leave the warehouse unmasked
            assert rows.loc["7", "法定代表人证件号码"] == codes.mask_resident_id(BAD_REP_ID)
            assert not frame.apply(lambda c: c.str.contains(REP_ID[:-1])).any().any()
        pd.testing.assert_frame_equal(csv, xlsx)
        # XLSX cells are text, so Excel cannot mangle the codes when the department opens it
        cell = load_workbook(paths[1]).worksheets[0]["D2"]
        assert cell.data_type == "s" and cell.number_format == "@"

        tax_paths = export_feedback(engine, "tax_filing", month, out)
        assert [p.name for p in tax_paths] == [f"反馈_税务局_tax_filing_{month}.csv",
                                               f"反馈_税务局_tax_filing_{month}.xlsx"]
        tax_feedback = read_export_csv(tax_paths[0]).set_index("行号")
        assert sorted(tax_feedback.index) == ["3", "4", "5"]
        assert tax_feedback.loc["4", "纳税人识别号"] == "9.1E+17"
        assert "科学计数法" in tax_feedback.loc["4", "问题说明"]
        assert tax_feedback.loc["5", "校验规则"] == "region_unknown"

        # 2. the department corrects the rows in the feedback file itself and sends it back;
        #    row 6 (wrong check character) is not corrected and stays open
        corrected = csv[csv["行号"].isin(["4", "5", "7"])].copy()
        corrected.loc[corrected["行号"] == "4", "所属区划代码"] = "152922"
        corrected.loc[corrected["行号"] == "5", "核准时间"] = "2024-06-12 15:00:00"
        corrected["法定代表人证件号码"] = REP_ID  # masked in the feedback: re-entered by the department
        corrected["更新时间"] = "2024-07-02 09:00:00"
        redelivery = tmp_path / "市场监管_登记_202406_更正.csv"
        corrected.to_csv(redelivery, index=False, encoding="gb18030")
        second = ingest_file(warehouse_settings, "registration", redelivery, max_bad_share=0.9)
        assert (second.extracted, second.loaded, second.quarantined, second.duplicates) == (3, 3, 0, 0)

        tax_fixed = write_csv(tmp_path / "税务_申报_202406_更正.csv", TAX_HEADERS, [
            tax_row("SB202406000002", GOOD, updated="2024-07-02 09:00:00"),
            tax_row("SB202406000003", GOOD, updated="2024-07-02 09:00:00"),
            tax_row("SB202406000004", GOOD, region="152921", updated="2024-07-02 09:00:00"),
        ])
        tax_second = ingest_file(warehouse_settings, "tax_filing", tax_fixed, max_bad_share=0.9)
        assert (tax_second.loaded, tax_second.quarantined) == (3, 0)

        with engine.connect() as conn:
            reg_q = pd.read_sql(text("select source_row, record_key, resolved_at, resolved_by_batch "
                                     "from quarantine.registration order by source_row"), conn)
            tax_q = pd.read_sql(text("select source_row, resolved_at, resolved_by_batch "
                                     "from quarantine.tax_filing order by source_row"), conn)
            core_regions = dict(conn.execute(text(
                "select uscc, region_code from core.registration")).all())
        reg_q = reg_q.set_index("source_row")
        assert reg_q.loc[[4, 5, 7], "resolved_by_batch"].tolist() == [second.batch_id] * 3
        assert reg_q.loc[[4, 5, 7], "resolved_at"].notna().all()
        assert pd.isna(reg_q.loc[6, "resolved_at"]) and pd.isna(reg_q.loc[6, "resolved_by_batch"])
        assert tax_q["resolved_by_batch"].tolist() == [tax_second.batch_id] * 3
        assert tax_q["resolved_at"].notna().all()
        assert core_regions[WRONG_REGION] == "152922"

        # list shows the resolution; open rows only by default
        assert list_quarantine(engine, "registration")["source_row"].tolist() == [6]
        everything = list_quarantine(engine, "registration", include_resolved=True).set_index("source_row")
        assert everything.loc[[4, 5, 7], "status"].tolist() == ["resolved"] * 3
        assert everything.loc[6, "status"] == "open"
        assert set(everything.loc[[4, 5, 7], "resolved_by_file"]) == {redelivery.name}
        assert list_quarantine(engine, month="1999-01", include_resolved=True).empty

        summary = quarantine_summary(engine).set_index("dataset")
        assert summary.loc["registration", ["open", "resolved", "total"]].tolist() == [1, 3, 4]
        assert summary.loc["tax_filing", ["open", "resolved", "total"]].tolist() == [0, 3, 3]
        assert summary.loc[["credit_record", "real_estate_case"], "total"].tolist() == [0, 0]
        assert summary.loc["registration", "department"] == "市场监管局"
        pd.testing.assert_frame_equal(quarantine_summary(engine, month), quarantine_summary(engine))
        assert quarantine_summary(engine, "1999-01")["total"].sum() == 0

        # the export no longer lists resolved rows; an all-clear export replaces the old file
        paths = export_feedback(engine, "registration", month, out)
        for frame in (read_export_csv(paths[0]), read_export_xlsx(paths[1])):
            assert frame["行号"].tolist() == ["6"]
            assert frame["记录键"].tolist() == [BAD_CHECK]
        tax_paths = export_feedback(engine, "税务局", month, out)
        assert read_export_csv(tax_paths[0]).empty and read_export_xlsx(tax_paths[1]).empty
        assert "问题说明" in read_export_csv(tax_paths[0]).columns
    finally:
        engine.dispose()


def test_feedback_month_follows_shanghai_time(warehouse_settings, registration_file, tmp_path):
    ingest_file(warehouse_settings, "registration", registration_file, max_bad_share=0.9)
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.begin() as conn:
            # 16:30 UTC on 30 June is 00:30 on 1 July in Shanghai; 15:30 UTC is still June
            conn.execute(text("update quarantine.registration set quarantined_at = "
                              "cast('2024-06-30 16:30:00' as timestamp) where source_row = 4"))
            conn.execute(text("update quarantine.registration set quarantined_at = "
                              "cast('2024-06-30 15:30:00' as timestamp) where source_row <> 4"))
        june = read_export_csv(export_feedback(engine, "registration", "2024-06", tmp_path)[0])
        july = read_export_csv(export_feedback(engine, "registration", "2024-07", tmp_path)[0])
        assert june["行号"].tolist() == ["5", "6", "7"]
        assert july["行号"].tolist() == ["4"]
        assert july["发现时间"].tolist() == ["2024-07-01 00:30:00"]
        assert quarantine_summary(engine, "2024-07").set_index("dataset").loc["registration", "open"] == 1
        with pytest.raises(ValueError, match="unknown department or dataset"):
            export_feedback(engine, "公安局", "2024-06", tmp_path)
    finally:
        engine.dispose()


def test_rerun_of_an_uncorrected_file_is_listed_once(warehouse_settings, registration_file, tmp_path):
    first = ingest_file(warehouse_settings, "registration", registration_file, max_bad_share=0.9)
    again = ingest_file(warehouse_settings, "registration", registration_file, max_bad_share=0.9)
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        month = shanghai_month(list_quarantine(engine)["quarantined_at"].iloc[0])
        assert len(list_quarantine(engine, "registration")) == 8  # both batches quarantined the rows
        feedback = read_export_csv(export_feedback(engine, "registration", month, tmp_path)[0])
    finally:
        engine.dispose()
    assert feedback["行号"].tolist() == ["4", "5", "6", "7"]
    assert feedback["批次号"].nunique() == 1 and feedback["批次号"][0] in {first.batch_id, again.batch_id}


def test_a_corrected_uscc_resolves_its_quarantined_row(warehouse_settings, registration_file, tmp_path):
    """Row 6's defect is its key (wrong check character): the corrected re-delivery carries another
    USCC, so the row is found by the same enterprise's name, 成立日期 and region instead."""
    first = ingest_file(warehouse_settings, "registration", registration_file, max_bad_share=0.9)
    corrected_uscc = codes.make_uscc("91", "152921", "MA0F0005")
    assert corrected_uscc != BAD_CHECK

    def open_rows() -> list[int]:
        engine = make_engine(warehouse_settings.warehouse_url)
        try:
            return sorted(list_quarantine(engine, "registration")["source_row"].tolist())
        finally:
            engine.dispose()

    # not the same enterprise: same name but another 成立日期, or another region
    other = reg_row(codes.make_uscc("91", "152921", "MA0F0007"), "错误校验位有限公司", updated="2024-07-01 09:00:00")
    other[REG_HEADERS.index("成立日期")] = "2019-03-01"
    elsewhere = reg_row(codes.make_uscc("91", "152922", "MA0F0008"), "错误校验位有限公司", region="152922",
                        updated="2024-07-01 09:00:00")
    lookalikes = ingest_file(warehouse_settings, "registration",
                             write_csv(tmp_path / "同名企业.csv", REG_HEADERS, [other, elsewhere]))
    assert (lookalikes.loaded, lookalikes.quarantined) == (2, 0)
    assert open_rows() == [4, 5, 6, 7]

    fixed = ingest_file(warehouse_settings, "registration", write_csv(
        tmp_path / "市场监管_登记_202406_更正.csv", REG_HEADERS,
        [reg_row(corrected_uscc, "错误校验位有限公司", updated="2024-07-02 09:00:00")]))
    assert (fixed.loaded, fixed.quarantined) == (1, 0)
    assert open_rows() == [4, 5, 7]
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        resolved = list_quarantine(engine, "registration", include_resolved=True).set_index("source_row")
        summary = quarantine_summary(engine).set_index("dataset")
    finally:
        engine.dispose()
    assert resolved.loc[6, ["batch_id", "record_key", "status", "resolved_by_batch"]].tolist() == [
        first.batch_id, BAD_CHECK, "resolved", fixed.batch_id]
    assert summary.loc["registration", ["open", "resolved", "total"]].tolist() == [3, 1, 4]
