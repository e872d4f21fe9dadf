"""Month-end entity state (docs/indicators.md, "Month-end entity state"): exits dated by evidence
before the department's 更新时间, and moves between units whose 迁入 arrives before the 迁出, on
DuckDB and PostgreSQL.

Units A 152921, B 152922, C 152923 of the prefecture P 152900. Three deliveries, in this order:
a June file of start-ups (设立, 存续), then unit B's 迁入 rows, then the exits of units A, B and C
with a July start-up. The 迁入 of each move therefore arrives before its 迁出.

  entity  成立         history (更新时间; 状态日期 sd; 申请/核准 times)
  M1      A 06-03      B 迁入 07-08 11:00, then A 迁出 07-09 16:00 (later than the 迁入; no sd, no times)
  M2      A 06-04      B 迁入 07-12 11:00, then A 迁出 07-10 16:00 sd 07-10 (earlier than the 迁入)
  M3      A 06-05      B 迁入 06-28 11:00, then A 迁出 07-02 16:00 sd 06-27 (across the June end)
  M4      A 06-06      B 迁入 07-01 11:00, then A 迁出 06-28 10:00 sd 06-27 (across the June end)
  X1      A 06-07      注销 07-03 09:00, no sd; its application 申请 06-26 09:00, 核准 06-27 10:00
  X2      B 05-20      吊销 07-05 10:00, no sd, no application time: dated by 更新时间 alone
  S1      C 06-10      存续 throughout
  O1      C 05-10      迁出 07-31 10:00 sd 07-15, out of the prefecture (no 迁入 anywhere)
  N1      B 07-20      设立 07-20 (July's start-up)

June end (2024-07-01 00:00), the version then and its exit date:
  M1, M2  A 存续, their 迁出 superseded by the 迁入 → surviving in A (before the move)
  M3      B 迁入 (06-28); the 迁出 dated 06-27 is superseded → surviving in B
  M4      the 迁出 version (06-28), superseded by the 迁入 → B, surviving
  X1      A 存续, exit dated by 核准时间 06-27 ≤ June end → not surviving (by 更新时间 07-03 it would be)
  X2      B 存续, exit dated by 更新时间 07-05 → surviving
  S1, O1  C, surviving (O1's exit is dated 07-15)
  N1      first recorded after the June end, established 07-20 → neither surviving nor new
surviving: A 2 (M1 M2), B 3 (M3 M4 X2), C 2 (S1 O1), P 7
new (成立 in June, by region at the month end): A 3 (M1 M2 X1), B 2 (M3 M4), C 1 (S1), P 6

July end (2024-08-01 00:00):
  M1 the superseded 迁出 version → B; M2, M4 B 迁入 version; M3 superseded 迁出 → B: all surviving
  X1 注销, X2 吊销, O1 迁出 out of the prefecture: not surviving; S1 C; N1 B
surviving: A 0, B 5 (M1 M2 M3 M4 N1), C 1 (S1), P 6;  new: B 1 (N1), P 1, A 0, C 0

Without these rules (an exit dated by 更新时间, every 迁出 an exit of the version it is) June would
be surviving A 3 (M1 M2 X1), B 1 (X2), C 2, P 6 and new A 4 (M4 counted in A's 迁出 version), B 1,
and July surviving B 3 (M2 M4 N1), P 4: M1, M3 and M4 dropped from the prefecture in one month or
the other.

`bizenv quarantine list --rule exit_without_date` lists X2 alone: M1's 迁出 also lacks a date,
but is superseded by the 迁入 and so no exit; X1 is dated by its 核准时间.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv import cli, codes, indicators
from bizenv.ingest import ingest_file
from bizenv.settings import Settings
from bizenv.warehouse import make_engine

A, B, C, P = "152921", "152922", "152923", "152900"
M1, M2, M3, M4, X1 = (codes.make_uscc("91", A, f"MA0F000{n}") for n in range(1, 6))
X2, N1 = (codes.make_uscc("91", B, f"MA0F000{n}") for n in range(6, 8))
S1, O1 = (codes.make_uscc("91", C, f"MA0F000{n}") for n in range(8, 10))
HEADERS = ["统一社会信用代码", "企业名称", "市场主体类型", "所属区划代码", "成立日期", "申请时间", "核准时间",
           "办理方式", "业务类型", "登记状态", "状态日期", "更新时间"]
NAMES = {M1: "戈壁一号有限公司", M2: "戈壁二号有限公司", M3: "戈壁三号有限公司", M4: "戈壁四号有限公司",
         X1: "戈壁五号有限公司", X2: "戈壁六号有限公司", N1: "戈壁七号有限公司", S1: "戈壁八号有限公司",
         O1: "戈壁九号有限公司"}
ESTABLISHED = {M1: "2024-06-03", M2: "2024-06-04", M3: "2024-06-05", M4: "2024-06-06", X1: "2024-06-07",
               X2: "2024-05-20", S1: "2024-06-10", O1: "2024-05-10", N1: "2024-07-20"}


def _row(uscc: str, region: str, event: str, status: str, updated: str, *, status_date: str = "",
         submitted: str = "", issued: str = "") -> list[str]:
    return [uscc, NAMES[uscc], "企业", region, ESTABLISHED[uscc], submitted, issued, "窗口", event, status,
            status_date, updated]


def _start_up(uscc: str, region: str, day: str) -> list[str]:
    return _row(uscc, region, "设立", "存续", f"{day} 12:00:00", submitted=f"{day} 09:00:00",
                issued=f"{day} 10:00:00")


START_UPS = [
    _start_up(M1, A, "2024-06-03"), _start_up(M2, A, "2024-06-04"), _start_up(M3, A, "2024-06-05"),
    _start_up(M4, A, "2024-06-06"), _start_up(X1, A, "2024-06-07"), _start_up(X2, B, "2024-05-20"),
    _start_up(S1, C, "2024-06-10"), _start_up(O1, C, "2024-05-10"),
]
MOVES_IN = [  # unit B's department, first
    _row(M1, B, "迁入", "存续", "2024-07-08 11:00:00", submitted="2024-07-08 09:00:00",
         issued="2024-07-08 10:00:00"),
    _row(M2, B, "迁入", "存续", "2024-07-12 11:00:00"),
    _row(M3, B, "迁入", "存续", "2024-06-28 11:00:00"),
    _row(M4, B, "迁入", "存续", "2024-07-01 11:00:00"),
]
EXITS = [  # units A, B and C, after the 迁入 rows
    _row(M1, A, "迁出", "迁出", "2024-07-09 16:00:00"),
    _row(M2, A, "迁出", "迁出", "2024-07-10 16:00:00", status_date="2024-07-10"),
    _row(M3, A, "迁出", "迁出", "2024-07-02 16:00:00", status_date="2024-06-27"),
    _row(M4, A, "迁出", "迁出", "2024-06-28 10:00:00", status_date="2024-06-27"),
    _row(X1, A, "", "注销", "2024-07-03 09:00:00", submitted="2024-06-26 09:00:00", issued="2024-06-27 10:00:00"),
    _row(X2, B, "", "吊销", "2024-07-05 10:00:00"),
    _row(O1, C, "", "迁出", "2024-07-31 10:00:00", status_date="2024-07-15"),
    _start_up(N1, B, "2024-07-20"),
]
STOCKS = ("new_entities", "surviving_entities")
JUNE_EXPECTED = {
    ("surviving_entities", P): 7, ("surviving_entities", A): 2, ("surviving_entities", B): 3,
    ("surviving_entities", C): 2,
    ("new_entities", P): 6, ("new_entities", A): 3, ("new_entities", B): 2, ("new_entities", C): 1,
}
JULY_EXPECTED = {
    ("surviving_entities", P): 6, ("surviving_entities", A): 0, ("surviving_entities", B): 5,
    ("surviving_entities", C): 1,
    ("new_entities", P): 1, ("new_entities", A): 0, ("new_entities", B): 1, ("new_entities", C): 0,
}


@pytest.fixture
def warehouse(warehouse_settings: Settings, monkeypatch) -> Settings:
    """The warehouse as the command line finds it: through the environment only."""
    settings = warehouse_settings
    monkeypatch.setenv("BIZENV_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("BIZENV_PII_KEY_FILE", str(settings.pii_key_file))
    for variable in ("BIZENV_PII_KEY", "BIZENV_LANDING_ROOT", "BIZENV_REGIONS_FILE", "BIZENV_INDICATORS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    return settings


def _deliver(settings: Settings, path: Path, rows: list[list[str]]) -> str:
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="gb18030")
    summary = ingest_file(settings, "registration", path)
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", len(rows), 0)
    return summary.batch_id


def _stocks(engine, month: str) -> dict[tuple[str, str], int]:
    run = indicators.compute_snapshot(engine, month)
    assert run.status == "published"
    shown = indicators.show(engine, month)
    shown = shown[shown["indicator_code"].isin(STOCKS) & (shown["breakdown"] == "")
                  & shown["region_code"].isin([P, A, B, C])]
    return {(r.indicator_code, r.region_code): int(r.value) for r in shown.itertuples()}


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_exits_are_dated_by_evidence_and_a_move_whose_move_in_comes_first_keeps_the_entity(
    warehouse, tmp_path, capsys
) -> None:
    engine = make_engine(warehouse.warehouse_url)
    try:
        _deliver(warehouse, tmp_path / "登记_202406.csv", START_UPS)
        _deliver(warehouse, tmp_path / "登记_右旗_迁入.csv", MOVES_IN)
        exits_batch = _deliver(warehouse, tmp_path / "登记_202407.csv", EXITS)

        with engine.connect() as conn:
            dated = conn.execute(text(
                "select uscc, status, own_exit_date, exit_dated_by from core.v_entity_state "
                "where exit_dated_by is not null order by uscc"
            )).all()
        assert sorted((u, s, str(d), by) for u, s, d, by in dated) == sorted([
            (X1, "注销", "2024-06-27", "issued_at"),
            (X2, "吊销", "2024-07-05", "updated_at"),
            (O1, "迁出", "2024-07-15", "status_date"),
        ])

        assert _stocks(engine, "2024-06") == JUNE_EXPECTED
        assert _stocks(engine, "2024-07") == JULY_EXPECTED
    finally:
        engine.dispose()

    code, out, err = _cli(capsys, "quarantine", "list", "--rule", "exit_without_date")
    lines = out.rstrip("\n").split("\n")
    assert (code, err) == (0, "")
    assert lines[0] == "1 entity exits without 状态日期; dated by 更新时间: 152922 1"
    assert len(lines) == 4  # the count line, the header, its rule, X2
    assert lines[3].split() == [X2, NAMES[X2], B, "企业", "吊销", "2024-05-20", "2024-07-05", "2024-07-05",
                                "10:00:00", exits_batch]

    code, out, err = _cli(capsys, "quarantine", "list", "--rule", "exit_without_date", "--format", "json")
    assert (code, err) == (0, "1 entity exits without 状态日期; dated by 更新时间: 152922 1\n")
    listed = json.loads(out)
    assert [(e["uscc"], e["region_code"], e["status"], e["dated_by_updated_at"][:10], e["batch_id"])
            for e in listed] == [(X2, B, "吊销", "2024-07-05", exits_batch)]
    assert "legal_rep_id_hash" not in listed[0] and "legal_rep_id_masked" not in listed[0]


def test_a_department_supplying_the_date_clears_the_list_and_dates_the_exit(warehouse, tmp_path, capsys) -> None:
    """The June start-ups, X2's 吊销 without a date (07-05), then the same 吊销 re-delivered with
    状态日期 06-25 (07-31): one exit, now dated 06-25, so nothing is left dated by 更新时间 and X2 no
    longer survives the June end: surviving B 0 (by 更新时间 07-05 it would be 1), A 5 (M1 to X1),
    C 2, P 7. An unknown rule is one line and exit code 1."""
    engine = make_engine(warehouse.warehouse_url)
    try:
        _deliver(warehouse, tmp_path / "登记_202406.csv", START_UPS)
        _deliver(warehouse, tmp_path / "登记_202407.csv", [EXITS[5]])
        _deliver(warehouse, tmp_path / "登记_202407_补充.csv",
                 [_row(X2, B, "", "吊销", "2024-07-31 09:00:00", status_date="2024-06-25")])
        june = _stocks(engine, "2024-06")
    finally:
        engine.dispose()
    assert {region: june[("surviving_entities", region)] for region in (P, A, B, C)} == {P: 7, A: 5, B: 0, C: 2}

    code, out, err = _cli(capsys, "quarantine", "list", "--rule", "exit_without_date")
    assert (code, out.split("\n")[0], err) == (0, "0 entities exit without 状态日期; none dated by 更新时间", "")

    code, out, err = _cli(capsys, "quarantine", "list", "--rule", "exit_without_dates")
    assert (code, out, len(err.strip().split("\n"))) == (1, "", 1)
    assert err.startswith("error: unknown rule 'exit_without_dates' (known: required, ")
