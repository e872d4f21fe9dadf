"""Registration applications are events (docs/indicators.md, "Registration applications"): a
published June does not move when July delivers moves, changes and exits of the entities June
approved, on DuckDB and PostgreSQL.

June 2024 (working days: office hours 08:30–12:00 and 13:30–18:00, 8 h = 1 day):
  E1 A  Mon 06-03 09:00 → 11:00                 2 h   = 0.25    全程电子化
  E2 A  Tue 06-04 09:00 → 17:00                 6.5 h = 0.8125  窗口
  E3 B  Wed 06-05 08:30 → Thu 06-06 08:30       8 h   = 1.0     全程电子化
  E4 B  Thu 06-13 09:00 → 10:00                 1 h   = 0.125   全程电子化
Medians: A (0.25, 0.8125) → 0.53125; B (0.125, 1.0) → 0.5625; prefecture → (0.25 + 0.8125) / 2.
Full-e rates: A 1/2, B 2/2, prefecture 3/4. E4's 更新时间 falls on June's (and its July row on
July's) last working day, so registration covers each month and its counts are not "no data".

July delivers, each with its own application times: E1 迁入 to B (业务类型 given: a 迁入 cannot be
derived), E2 注销, E3 变更 and E4 迁出 (业务类型 left blank: derived from 成立日期 and the status).
Before registrations were events, each July row replaced its entity's June row, and the
recomputed June lost all four start-ups.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import text

from bizenv import codes, indicators
from bizenv.ingest import ingest_file
from bizenv.warehouse import make_engine

A, B, P = "152921", "152922", "152900"
E1, E2, E3, E4 = (codes.make_uscc("91", region, f"MA0E000{n}") for n, region in ((1, A), (2, A), (3, B), (4, B)))
HEADERS = ["统一社会信用代码", "企业名称", "市场主体类型", "所属区划代码", "成立日期", "申请时间", "核准时间",
           "办理方式", "业务类型", "登记状态", "状态日期", "更新时间"]
JUNE = [
    [E1, "驼峰一号有限公司", "企业", A, "2024-06-03", "2024-06-03 09:00:00", "2024-06-03 11:00:00", "全程电子化",
     "设立", "存续", "", "2024-06-03 12:00:00"],
    [E2, "驼峰二号有限公司", "企业", A, "2024-06-04", "2024-06-04 09:00:00", "2024-06-04 17:00:00", "窗口",
     "设立", "存续", "", "2024-06-04 18:00:00"],
    [E3, "驼峰三号有限公司", "企业", B, "2024-06-06", "2024-06-05 08:30:00", "2024-06-06 08:30:00", "全程电子化",
     "设立", "存续", "", "2024-06-06 09:00:00"],
    [E4, "驼峰四号有限公司", "企业", B, "2024-06-13", "2024-06-13 09:00:00", "2024-06-13 10:00:00", "全程电子化",
     "", "存续", "", "2024-06-28 17:00:00"],
]
JULY = [
    [E1, "驼峰一号有限公司", "企业", B, "2024-06-03", "2024-07-08 09:00:00", "2024-07-09 10:00:00", "窗口",
     "迁入", "存续", "2024-07-09", "2024-07-09 11:00:00"],
    [E2, "驼峰二号有限公司", "企业", A, "2024-06-04", "2024-07-10 09:00:00", "2024-07-10 15:00:00", "窗口",
     "", "注销", "2024-07-10", "2024-07-10 16:00:00"],
    [E3, "驼峰三号沙漠科技有限公司", "企业", B, "2024-06-06", "2024-07-11 09:00:00", "2024-07-11 09:30:00",
     "全程电子化", "", "存续", "", "2024-07-11 10:00:00"],
    [E4, "驼峰四号有限公司", "企业", B, "2024-06-13", "2024-07-15 09:00:00", "2024-07-16 09:00:00", "窗口",
     "", "迁出", "2024-07-16", "2024-07-31 10:00:00"],
]
JUNE_EXPECTED = {
    ("startup_workdays_median", P): (0.53125, 4), ("startup_workdays_median", A): (0.53125, 2),
    ("startup_workdays_median", B): (0.5625, 2),
    ("full_e_registration_rate", P): (0.75, 4), ("full_e_registration_rate", A): (0.5, 2),
    ("full_e_registration_rate", B): (1.0, 2),
    ("new_entities", P): (4.0, 4), ("new_entities", A): (2.0, 2), ("new_entities", B): (2.0, 2),
    ("surviving_entities", P): (4.0, 4), ("surviving_entities", A): (2.0, 2), ("surviving_entities", B): (2.0, 2),
}
REGISTRATION_INDICATORS = sorted({code for code, _ in JUNE_EXPECTED})


def _deliver(settings, path: Path, rows: list[list[str]], *, changed: int | None = None) -> None:
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="gb18030")
    summary = ingest_file(settings, "registration", path)
    expected = len(rows) if changed is None else changed
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", expected, 0)


def _june(engine) -> dict[tuple[str, str], tuple[float, int]]:
    shown = indicators.show(engine, "2024-06")
    shown = shown[shown["indicator_code"].isin(REGISTRATION_INDICATORS) & (shown["breakdown"] == "")
                  & shown["region_code"].isin([P, A, B])]
    return {(r.indicator_code, r.region_code): (float(r.value), int(r.sample_size))
            for r in shown.itertuples() if pd.notna(r.value)}


def test_a_published_june_does_not_move_when_july_moves_changes_and_closes_its_start_ups(
    warehouse_settings, tmp_path
) -> None:
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        _deliver(warehouse_settings, tmp_path / "登记_202406.csv", JUNE)
        first = indicators.compute_snapshot(engine, "2024-06")
        assert first.status == "published"
        assert _june(engine) == JUNE_EXPECTED

        _deliver(warehouse_settings, tmp_path / "登记_202407.csv", JULY)
        with engine.connect() as conn:
            events = conn.execute(text(
                "select uscc, event_type, region_code, channel from core.registration order by uscc, issued_at"
            )).all()
        assert [tuple(e) for e in events] == [
            (E1, "设立", A, "全程电子化"), (E1, "迁入", B, "窗口"),
            (E2, "设立", A, "窗口"), (E2, "注销", A, "窗口"),
            (E3, "设立", B, "全程电子化"), (E3, "变更", B, "全程电子化"),
            (E4, "设立", B, "全程电子化"), (E4, "迁出", B, "窗口"),
        ]

        again = indicators.compute_snapshot(engine, "2024-06")
        assert (again.version, again.status) == (first.version + 1, "published")
        assert _june(engine) == JUNE_EXPECTED

        july = indicators.compute_snapshot(engine, "2024-07")
        shown = indicators.show(engine, "2024-07").set_index(["indicator_code", "region_code", "breakdown"])
        # no July start-up: a 迁入, a 变更 and two exits are never 设立
        assert shown.loc[("startup_workdays_median", P, ""), "sample_size"] == 0 or pd.isna(
            shown.loc[("startup_workdays_median", P, ""), "value"])
        assert shown.loc[("surviving_entities", P, ""), "value"] == 2  # E2 closed, E4 left the prefecture
        assert july.status == "published"
    finally:
        engine.dispose()


def test_a_corrected_start_up_replaces_its_event_and_a_redelivery_changes_nothing(
    warehouse_settings, tmp_path
) -> None:
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        _deliver(warehouse_settings, tmp_path / "登记_202406.csv", JUNE)
        _deliver(warehouse_settings, tmp_path / "登记_202406_重发.csv", JUNE[:1], changed=0)
        corrected = [[*JUNE[0][:6], "2024-06-03 10:00:00", *JUNE[0][7:11], "2024-06-20 09:00:00"]]
        _deliver(warehouse_settings, tmp_path / "登记_202406_更正.csv", corrected)
        with engine.connect() as conn:
            e1 = conn.execute(text("select event_type, issued_at from core.registration where uscc = :u"),
                              {"u": E1}).all()
        assert [(kind, str(issued)) for kind, issued in e1] == [("设立", "2024-06-03 10:00:00")]
        indicators.compute_snapshot(engine, "2024-06")
        # E1 now 1 h = 0.125: A (0.125, 0.8125) → 0.46875; prefecture (0.125, 0.125, 0.8125, 1.0) → 0.46875
        june = _june(engine)
        assert june[("startup_workdays_median", A)] == (0.46875, 2)
        assert june[("startup_workdays_median", P)] == (0.46875, 4)
        assert june[("startup_workdays_median", B)] == (0.5625, 2)
    finally:
        engine.dispose()
