"""Point-in-time history (docs/history.md): every published version of a three-month history is
reproduced, value for value, by computing its month at the version's data cut-off, on DuckDB and
PostgreSQL; each version names the batches that fed it.

Units A 152921 and B 152922 of prefecture P 152900. 网上办税率 = filings via 电子税务局/移动端 of the
month / all filings of the month.

tax_1 (April):  F1 A 04-08 电子税务局, F2 A 04-09 办税服务厅, F3 B 04-10 移动端
  April v1: A 1/2 = 0.5, B 1/1 = 1.0, P 2/3
tax_2 (May):    F2 corrected to 电子税务局; F4 A 05-08 办税服务厅, F5 B 05-09 电子税务局
  May v1: A 0/1 = 0.0, B 1.0, P 1/2 = 0.5;  April v2: A 2/2 = 1.0, B 1.0, P 1.0
tax_3 (June):   F5 corrected to 自助终端; F6 A 06-05 电子税务局
  June v1: A 1.0, B none, P 1.0;  May v2: A 0.0, B 0.0, P 0.0

Registration: reg_1 (April) E1 设立 in A on 04-03; reg_2 (May) E2 设立 in B on 05-06 and E1 注销 on
05-20. 存续市场主体数 at the April end is A 1, B 0 in every version of April (E1's exit is after it);
at the May end A 0, B 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bizenv import codes, indicators
from bizenv.cli import main
from bizenv.indicators.snapshot import AS_OF_COLUMNS, compute_as_of
from bizenv.ingest import ingest_file
from bizenv.timeutil import utc_now
from bizenv.warehouse import make_engine, query_statement_df

A, B, P = "152921", "152922", "152900"
E1, E2 = codes.make_uscc("91", A, "MA0P0001"), codes.make_uscc("91", B, "MA0P0002")
TAX_HEADERS = ["申报流水号", "纳税人识别号", "所属区划代码", "所属期", "申报时间", "申报渠道", "更新时间"]
REG_HEADERS = ["统一社会信用代码", "企业名称", "市场主体类型", "所属区划代码", "成立日期", "申请时间", "核准时间",
               "办理方式", "业务类型", "登记状态", "状态日期", "更新时间"]


def _filing(fid: str, region: str, period: str, filed: str, channel: str, updated: str) -> list[str]:
    return [fid, E1 if region == A else E2, region, period, filed, channel, updated]


TAX_1 = [
    _filing("F1", A, "2024-03", "2024-04-08 10:00:00", "电子税务局", "2024-04-30 17:00:00"),
    _filing("F2", A, "2024-03", "2024-04-09 10:00:00", "办税服务厅", "2024-04-30 17:00:00"),
    _filing("F3", B, "2024-03", "2024-04-10 10:00:00", "移动端", "2024-04-30 17:00:00"),
]
TAX_2 = [
    _filing("F2", A, "2024-03", "2024-04-09 10:00:00", "电子税务局", "2024-05-06 09:00:00"),
    _filing("F4", A, "2024-04", "2024-05-08 10:00:00", "办税服务厅", "2024-05-31 17:00:00"),
    _filing("F5", B, "2024-04", "2024-05-09 10:00:00", "电子税务局", "2024-05-31 17:00:00"),
]
TAX_3 = [
    _filing("F5", B, "2024-04", "2024-05-09 10:00:00", "自助终端", "2024-06-03 09:00:00"),
    _filing("F6", A, "2024-05", "2024-06-05 10:00:00", "电子税务局", "2024-06-28 17:00:00"),
]
REG_1 = [[E1, "时点一号有限公司", "企业", A, "2024-04-03", "2024-04-02 09:00:00", "2024-04-03 10:00:00", "全程电子化",
          "设立", "存续", "", "2024-04-30 17:00:00"]]
REG_2 = [
    [E2, "时点二号有限公司", "企业", B, "2024-05-06", "2024-05-06 09:00:00", "2024-05-06 11:00:00", "窗口",
     "设立", "存续", "", "2024-05-06 12:00:00"],
    [E1, "时点一号有限公司", "企业", A, "2024-04-03", "2024-05-20 09:00:00", "2024-05-20 10:00:00", "窗口",
     "注销", "注销", "2024-05-20", "2024-05-31 17:00:00"],
]


def _deliver(settings, tmp_path: Path, name: str, dataset: str, headers: list[str], rows: list[list[str]]) -> str:
    path = tmp_path / f"{name}.csv"
    pd.DataFrame(rows, columns=headers).to_csv(path, index=False, encoding="gb18030")
    summary = ingest_file(settings, dataset, path)
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", len(rows), 0)
    return summary.batch_id


def _values(frame: pd.DataFrame, code: str) -> dict[str, float | None]:
    rows = frame[(frame["indicator_code"] == code) & (frame["breakdown"] == "") & frame["region_code"].isin([A, B, P])]
    return {r.region_code: (None if pd.isna(r.value) else round(float(r.value), 6)) for r in rows.itertuples()}


def _run_rows(engine, run_id: str) -> tuple[pd.DataFrame, pd.Timestamp]:
    with engine.connect() as conn:
        rows = query_statement_df(conn, "select * from mart.indicator_snapshot where run_id = :run_id",
                                  {"run_id": run_id})
        cutoff = query_statement_df(conn, "select data_cutoff from ops.snapshot_run where run_id = :run_id",
                                    {"run_id": run_id})
    return rows, pd.Timestamp(cutoff["data_cutoff"].iloc[0])


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in AS_OF_COLUMNS if c not in ("month", "data_cutoff")]
    out = frame[columns].sort_values(["region_code", "indicator_code", "breakdown"]).reset_index(drop=True)
    out["meets_target"] = out["meets_target"].map(lambda v: None if v is None or pd.isna(v) else bool(v))
    for column in ("cases_without_time", "backlog_open", "sample_size"):
        out[column] = pd.to_numeric(out[column]).astype("Int64")
    for column in ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                   "within_limit_share", "p90_value", "backlog_oldest_workdays"):
        out[column] = pd.to_numeric(out[column]).astype("float64")
    return out.astype({"region_code": str, "indicator_code": str, "breakdown": str})


def _provenance(engine, run_id: str) -> set[str]:
    with engine.connect() as conn:
        frame = query_statement_df(
            conn, "select input_id from mart.snapshot_provenance where run_id = :run_id and input_kind = 'batch'",
            {"run_id": run_id})
    return set(frame["input_id"])


@pytest.mark.parametrize("warehouse_settings", ["duckdb", "postgres"], indirect=True)
def test_every_published_version_is_reproduced_at_its_cutoff(warehouse_settings, tmp_path: Path, monkeypatch,
                                                             capsys) -> None:
    engine = make_engine(warehouse_settings.warehouse_url)
    published: dict[str, str] = {}
    try:
        reg_1 = _deliver(warehouse_settings, tmp_path, "reg_1", "registration", REG_HEADERS, REG_1)
        tax_1 = _deliver(warehouse_settings, tmp_path, "tax_1", "tax_filing", TAX_HEADERS, TAX_1)
        published["april_v1"] = indicators.compute_snapshot(engine, "2024-04").run_id
        reg_2 = _deliver(warehouse_settings, tmp_path, "reg_2", "registration", REG_HEADERS, REG_2)
        tax_2 = _deliver(warehouse_settings, tmp_path, "tax_2", "tax_filing", TAX_HEADERS, TAX_2)
        # a delivery recomputes the open months it touches first (bizenv.indicators.revise_open_months)
        assert [r.run_id for r in indicators.revise_open_months(engine, [reg_2, tax_2])] == ["2024-04-v2"]
        published["april_v2"] = "2024-04-v2"
        published["may_v1"] = indicators.compute_snapshot(engine, "2024-05").run_id
        tax_3 = _deliver(warehouse_settings, tmp_path, "tax_3", "tax_filing", TAX_HEADERS, TAX_3)
        assert [r.run_id for r in indicators.revise_open_months(engine, [tax_3])] == ["2024-05-v2"]
        published["may_v2"] = "2024-05-v2"
        published["june_v1"] = indicators.compute_snapshot(engine, "2024-06").run_id

        expected_online = {
            "april_v1": {A: 0.5, B: 1.0, P: round(2 / 3, 6)},
            "april_v2": {A: 1.0, B: 1.0, P: 1.0},
            "may_v1": {A: 0.0, B: 1.0, P: 0.5},
            "may_v2": {A: 0.0, B: 0.0, P: 0.0},
            "june_v1": {A: 1.0, B: None, P: 1.0},
        }
        expected_surviving = {"april_v1": {A: 1.0, B: 0.0, P: 1.0}, "april_v2": {A: 1.0, B: 0.0, P: 1.0},
                              "may_v1": {A: 0.0, B: 1.0, P: 1.0}, "may_v2": {A: 0.0, B: 1.0, P: 1.0}}
        expected_batches = {
            "april_v1": {reg_1, tax_1},
            "april_v2": {reg_1, reg_2, tax_1, tax_2},
            "may_v1": {reg_1, reg_2, tax_1, tax_2},
            "may_v2": {reg_1, reg_2, tax_1, tax_2, tax_3},
            "june_v1": {reg_1, reg_2, tax_1, tax_2, tax_3},
        }
        cutoffs = []
        for name, run_id in published.items():
            stored, cutoff = _run_rows(engine, run_id)
            cutoffs.append(cutoff)
            again = compute_as_of(engine, stored["month"].iloc[0], cutoff.to_pydatetime())
            assert (again["data_cutoff"] == cutoff).all(), name
            pd.testing.assert_frame_equal(_comparable(again), _comparable(stored), check_dtype=False, obj=name)
            assert _values(again, "tax_online_rate") == expected_online[name], name
            if name in expected_surviving:
                assert _values(again, "surviving_entities") == expected_surviving[name], name
            assert _provenance(engine, run_id) == expected_batches[name], name
        # april_v1 | april_v2 = may_v1 (no delivery between) | may_v2 = june_v1
        assert cutoffs == sorted(cutoffs) and len(set(cutoffs)) == 3

        # the command line: April at its first version's cut-off, given in Beijing time
        monkeypatch.setenv("BIZENV_DATA_DIR", str(warehouse_settings.data_dir))
        monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_settings.warehouse_url)
        beijing = (cutoffs[0] + pd.Timedelta(hours=8)).isoformat() + "+08:00"
        capsys.readouterr()
        assert main(["indicators", "compute", "--month", "2024-04", "--as-of", beijing, "--format", "json"]) == 0
        printed = pd.DataFrame(json.loads(capsys.readouterr().out))
        assert _values(printed, "tax_online_rate") == expected_online["april_v1"]
        assert main(["indicators", "compute", "--month", "2024-04", "--as-of", "yesterday"]) == 1
        assert "--as-of 'yesterday' is not a timestamp" in capsys.readouterr().err

        # the present reads the latest versions: April as it stands now is its second version
        now = compute_as_of(engine, "2024-04", utc_now())
        assert _values(now, "tax_online_rate") == expected_online["april_v2"]
    finally:
        engine.dispose()
