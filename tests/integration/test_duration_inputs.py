"""What department files say about durations reaches the indicators: a timestamp with a date and
no time of day loads (never quarantined for that) and is counted apart instead of being measured
from midnight; 业务类型 is taken when sent, derived when not, and refused when unknown."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from bizenv import codes, indicators
from bizenv.ingest import ingest_file
from bizenv.quarantine import list_quarantine
from bizenv.warehouse import make_engine

REGISTRATION_HEADERS = ["统一社会信用代码", "企业名称", "市场主体类型", "所属区划代码", "成立日期",
                        "申请时间", "核准时间", "办理方式", "登记状态", "更新时间"]


def _csv(path, headers, rows):
    pd.DataFrame(rows, columns=headers).to_csv(path, index=False, encoding="gb18030")
    return path


def test_date_only_times_and_event_types(warehouse_settings, tmp_path) -> None:
    timed, dated, changed = (codes.make_uscc("91", "152921", f"MA0T000{i}") for i in (1, 2, 3))
    first = ingest_file(warehouse_settings, "registration", _csv(tmp_path / "a.csv", REGISTRATION_HEADERS, [
        # Mon 06-03 09:00 -> 13:00: 3 h (12:00-13:00 is the lunch break) = 0.375
        [timed, "计时有限公司", "企业", "152921", "2024-06-03", "2024-06-03 09:00:00", "2024-06-03 13:00:00",
         "全程电子化", "存续", "2024-06-03 14:00:00"],
        # 核准时间 is a date only: loads, but has no duration
        [dated, "日期有限公司", "企业", "152921", "2024-06-04", "2024-06-04 09:00:00", "2024年6月4日",
         "窗口", "存续", "2024-06-04 18:00:00"],
        # founded in 2020: an application in June is a change, not a start-up
        [changed, "变更有限公司", "企业", "152921", "2020-01-01", "2024-06-05 09:00:00", "2024-06-05 10:00:00",
         "窗口", "存续", "2024-06-05 11:00:00"],
    ]))
    assert (first.loaded, first.quarantined) == (3, 0)

    second = ingest_file(warehouse_settings, "registration", _csv(
        tmp_path / "b.csv", [*REGISTRATION_HEADERS, "业务类型"], [
            [codes.make_uscc("91", "152921", "MA0T0004"), "开业有限公司", "企业", "152921", "2024-06-06",
             "2024-06-06 09:00:00", "2024-06-06 10:00:00", "窗口", "存续", "2024-06-06 11:00:00", "开业"],
            [codes.make_uscc("91", "152921", "MA0T0005"), "迁入有限公司", "企业", "152921", "2019-03-01",
             "2024-06-07 09:00:00", "2024-06-07 10:00:00", "窗口", "存续", "2024-06-07 11:00:00", "迁入"],
        ]), max_bad_share=0.9)
    assert (second.loaded, second.quarantined) == (1, 1)
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        bad = list_quarantine(engine, "registration")
        assert "event_type" in bad.iloc[0]["failures"] and "not_in_allowed_values" in bad.iloc[0]["failures"]
        with engine.connect() as conn:
            stored = dict(conn.execute(text(
                "select uscc, event_type || '/' || cast(issued_at_date_only as varchar) from core.registration"
            )).all())
        assert stored[timed] == "设立/false" and stored[dated] == "设立/true" and stored[changed] == "变更/false"
        assert stored[codes.make_uscc("91", "152921", "MA0T0005")] == "迁入/false"

        with engine.begin() as conn:
            indicators.refresh_reference_tables(conn, "2024-06")
        rows = indicators.snapshot._indicator_rows(engine.connect(), next(
            d for d in indicators.load_catalog() if d.code == "startup_workdays_median"),
            {"month_start": pd.Timestamp("2024-06-01").date(), "month_end": pd.Timestamp("2024-07-01").date(),
             "prefecture_code": "152900"}).set_index("region_code")
        assert rows.loc["152921", "value"] == 0.375  # one timed 设立, never the change or the move
        assert rows.loc["152921", "sample_size"] == 1
        assert rows.loc["152921", "cases_without_time"] == 1
    finally:
        engine.dispose()


def test_a_date_only_refund_request_loads_and_has_no_duration(warehouse_settings, tmp_path) -> None:
    headers = ["申报流水号", "纳税人识别号", "所属区划代码", "所属期", "申报时间", "申报渠道", "退税申请时间",
               "退税办结时间", "更新时间"]
    uscc = codes.make_uscc("91", "152922", "MA0T0006")
    loaded = ingest_file(warehouse_settings, "tax_filing", _csv(tmp_path / "t.csv", headers, [
        ["F1", uscc, "152922", "2024-05", "2024-06-03 10:00:00", "电子税务局", "20240603", "2024-06-04 10:00:00",
         "2024-06-04 11:00:00"],
    ]))
    assert (loaded.loaded, loaded.quarantined) == (1, 0)
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text(
                "select lacks_time_of_day, workdays from core.v_case_workdays where record_key = 'F1'")).one()
        assert row == (True, None)
    finally:
        engine.dispose()
