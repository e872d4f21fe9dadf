"""The unified platform: four departments merged into one enterprise record, on DuckDB and PostgreSQL.

A simulated month (bizenv.simulator.simulate) goes through `ingest_file` for every dataset; the tests
check consistency across departments, idempotent re-runs, out-of-order deliveries, a merge
killed half-way, SCD2 history, state changes instead of deletes, survivorship conflicts, the
一企一档 profile view, lineage, and that no full resident ID number reaches the warehouse.

The landing zone (raw Parquet batches) is deliberately not scanned: it is the restricted, immutable
raw zone and keeps department rows exactly as delivered, personal IDs included (bizenv.ingest).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv import codes, ingest
from bizenv.crosswalk import load_crosswalk
from bizenv.datasets import get_dataset
from bizenv.ingest import ingest_file
from bizenv.simulator.simulate import (
    CHINESE_HEADERS,
    CROSSWALK_FILE,
    DefectRates,
    is_outsider_uscc,
    simulate,
    write_files,
)
from bizenv.standardize import standardize
from bizenv.warehouse import bulk_insert, make_engine, sql_text, upgrade
from conftest import make_settings

DATASETS = ("registration", "tax_filing", "credit_record", "real_estate_case")
CORE_TABLES = {
    "core.registration": ["uscc"],
    "core.market_entity": ["uscc", "valid_from"],
    "core.tax_filing": ["filing_id"],
    "core.credit_record": ["record_id"],
    "core.real_estate_case": ["case_id"],
    "core.legacy_code_crosswalk": ["legacy_reg_no"],
    "core.entity_conflict": ["uscc", "dataset", "record_key", "field"],
}
LINEAGE_COLUMNS = {"batch_id", "changed_at", "detected_at"}
MONTH = ("2024-06", "2024-06")


# ------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def clean_month():
    """150 entities, one month, no defects except that pre-2015 entities come by 注册号 only."""
    return simulate(entities=150, months=MONTH, seed=11,
                    defects=DefectRates(**{**DefectRates.none().__dict__, "legacy_reg_no_only": 1.0}))


@pytest.fixture(scope="module")
def messy_month():
    """The simulator's default defects: quarantined rows, duplicates, full-width codes..."""
    return simulate(entities=150, months=MONTH, seed=5)


def query(settings, sql: str, **params) -> pd.DataFrame:
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql), params)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    finally:
        engine.dispose()


def dump(settings, table: str, keys: list[str], drop: set[str] = frozenset()) -> pd.DataFrame:
    frame = query(settings, f"select * from {table}")
    frame = frame.drop(columns=[c for c in frame.columns if c in drop])
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def dump_core(settings, drop: set[str] = frozenset()) -> dict[str, pd.DataFrame]:
    return {t: dump(settings, t, keys, drop) for t, keys in CORE_TABLES.items()}


def load_month(settings, paths: dict[str, Path], order=DATASETS, max_bad_share=0.05) -> dict:
    load_crosswalk(settings, paths["registration"].parent / CROSSWALK_FILE)
    return {name: ingest_file(settings, name, paths[name], max_bad_share=max_bad_share) for name in order}


def write_rows(path: Path, dataset: str, rows: list[dict]) -> Path:
    headers = CHINESE_HEADERS[dataset]
    pd.DataFrame(rows)[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8")
    return path


def normalized(frame: pd.DataFrame) -> list[tuple]:
    """Rows as comparable text across warehouses (Decimal scale, datetime types, nulls)."""
    def one(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, Decimal | float):
            return f"{Decimal(str(value)).normalize():f}"
        if isinstance(value, dt.datetime | pd.Timestamp):
            return pd.Timestamp(value).isoformat()
        return str(value)
    return [tuple(one(v) for v in row) for row in frame.itertuples(index=False)]


@pytest.fixture(scope="module")
def templates():
    """One clean row of each dataset to build hand-made deliveries from."""
    data = simulate(entities=40, months=MONTH, seed=3, defects=DefectRates.none())
    reg = data.registration
    entity = reg[(reg["entity_type"] == "企业") & (reg["region_code"] == "152921") & (reg["uscc"] != "")]
    company_case = data.real_estate_case[data.real_estate_case["applicant_type"] == "企业"]
    if company_case.empty:
        company_case = data.real_estate_case.assign(applicant_type="企业")
    return {
        "registration": entity.iloc[0].to_dict(),
        "tax_filing": data.tax_filing.iloc[0].to_dict(),
        "credit_record": data.credit_record.iloc[0].to_dict(),
        "real_estate_case": company_case.iloc[0].to_dict(),
    }


def registration_row(templates, **changes) -> dict:
    row = dict(templates["registration"])
    row.update(submitted_at="2024-06-03 09:00:00", issued_at="2024-06-03 11:00:00", channel="全程电子化",
               legacy_reg_no="", status="存续", status_date="", established_date="2024-06-03",
               updated_at="2024-06-03 12:00:00")
    row.update(changes)
    return row


def department_row(templates, dataset: str, uscc: str, key: str, **changes) -> dict:
    row = dict(templates[dataset])
    key_column = {"tax_filing": "filing_id", "credit_record": "record_id", "real_estate_case": "case_id"}[dataset]
    row[key_column] = key
    if dataset == "real_estate_case":
        row.update(applicant_type="企业", applicant_id=uscc)
    else:
        row["uscc"] = uscc
    row.update(changes)
    return row


# ------------------------------------------------------------------------------------------
# one month, four departments


def test_a_simulated_month_becomes_one_set_of_enterprise_records(warehouse_settings, clean_month, tmp_path):
    paths = write_files(clean_month, tmp_path / "files")
    crosswalk = load_crosswalk(warehouse_settings, tmp_path / "files" / CROSSWALK_FILE)
    assert (crosswalk.status, crosswalk.loaded, crosswalk.rejected) == ("loaded", len(clean_month.crosswalk), 0)
    summaries = {n: ingest_file(warehouse_settings, n, paths[n]) for n in DATASETS}
    for summary in summaries.values():
        assert summary.status == "loaded", summary
        assert summary.quarantined == 0, summary
        assert summary.extracted == summary.loaded + summary.quarantined + summary.duplicates

    core = dump_core(warehouse_settings)
    entities = set(core["core.registration"]["uscc"])
    expected = set(clean_month.registration["uscc"]) - {""} | set(clean_month.crosswalk["uscc"])
    assert entities == expected and len(entities) == 150  # legacy-only rows resolved through the crosswalk
    assert set(core["core.market_entity"]["uscc"]) == entities
    current = core["core.market_entity"][core["core.market_entity"]["is_current"]]
    assert current["uscc"].is_unique and set(current["uscc"]) == entities

    department_usccs = {
        "tax_filing": set(core["core.tax_filing"]["uscc"]),
        "credit_record": set(core["core.credit_record"]["uscc"]),
        "real_estate_case": set(core["core.real_estate_case"]["applicant_uscc"].dropna()),
    }
    outsiders = set()
    for name, usccs in department_usccs.items():
        assert usccs, name
        missing = usccs - entities
        assert all(is_outsider_uscc(u) for u in missing), (name, sorted(missing))
        outsiders |= missing
    assert outsiders, "the simulator's deliberate outsiders reach core's department tables"
    assert len(core["core.tax_filing"]) == len(clean_month.tax_filing)
    assert core["core.entity_conflict"].empty  # simulated departments agree with registration

    # lineage: every core row names the batch that delivered it, and when it changed
    batches = query(warehouse_settings, "select batch_id, dataset, status from ops.batch")
    loaded = dict(zip(batches["batch_id"], batches["dataset"], strict=True))
    for table, frame in core.items():
        if table == "core.entity_conflict":
            continue
        assert frame["batch_id"].notna().all() and frame["changed_at"].notna().all(), table
        dataset = "legacy_code_crosswalk" if table.endswith("crosswalk") else table.split(".")[1]
        dataset = "registration" if dataset == "market_entity" else dataset
        assert {loaded.get(b) for b in frame["batch_id"]} == {dataset}, table
    assert set(batches["status"]) == {"loaded"}

    # 一企一档: one row per entity, department facts aggregated per uscc, no personal data
    profile = query(warehouse_settings, "select * from mart.v_enterprise_profile").set_index("uscc")
    assert set(profile.index) == entities and profile.index.is_unique
    assert not {"legal_rep_name", "legal_rep_id_hash", "legal_rep_id_masked"} & set(profile.columns)
    tax = core["core.tax_filing"].groupby("uscc")
    for uscc, filings in tax:
        if uscc not in entities:
            continue
        row = profile.loc[uscc]
        assert row["tax_filing_count"] == len(filings)
        assert row["latest_tax_period"] == filings["tax_period"].max()
        assert Decimal(str(row["total_tax_amount"])) == sum(filings["tax_amount"].dropna(), Decimal(0))
        online = filings["channel"].isin(["电子税务局", "移动端"]).mean()
        assert row["online_filing_share"] == pytest.approx(online)
    no_tax = entities - set(tax.groups)
    assert (profile.loc[sorted(no_tax), "tax_filing_count"] == 0).all()
    assert profile.loc[sorted(no_tax), "online_filing_share"].isna().all()
    credit = core["core.credit_record"]
    today = dt.date.today()
    listed = credit[(credit["record_type"] == "严重失信主体名单") & (credit["record_date"] <= today)
                    & (credit["removal_date"].isna() | (credit["removal_date"] > today))]
    assert set(profile.index[profile["on_dishonest_list"]]) == set(listed["uscc"]) & entities
    fulfil = credit[credit["record_type"] == "履约践诺"].groupby("uscc").size()
    for uscc in entities:
        assert profile.loc[uscc, "fulfilment_count"] == fulfil.get(uscc, 0)
    cases = core["core.real_estate_case"]
    cases = cases[cases["applicant_type"] == "企业"].groupby("applicant_uscc")
    for uscc, rows in cases:
        if uscc in entities:
            assert profile.loc[uscc, "real_estate_case_count"] == len(rows)
            assert profile.loc[uscc, "latest_real_estate_completed_at"] == rows["completed_at"].max()
    registration = core["core.registration"].set_index("uscc")
    for column in ("name", "entity_type", "region_code", "status"):
        assert (profile[column] == registration.loc[profile.index, column]).all(), column


def test_reloading_the_same_month_changes_nothing(warehouse_settings, clean_month, tmp_path):
    paths = write_files(clean_month, tmp_path / "files")
    load_month(warehouse_settings, paths)
    before = dump_core(warehouse_settings)
    profile_before = dump(warehouse_settings, "mart.v_enterprise_profile", ["uscc"])
    again = load_month(warehouse_settings, paths)
    after = dump_core(warehouse_settings)
    for summary in again.values():
        assert (summary.status, summary.loaded) == ("loaded", 0), summary
        assert summary.duplicates == summary.extracted
    for table in CORE_TABLES:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)
    pd.testing.assert_frame_equal(profile_before, dump(warehouse_settings, "mart.v_enterprise_profile", ["uscc"]))
    stages = query(warehouse_settings, "select "
                   + " + ".join(f"(select count(*) from ops.stage_{n})" for n in DATASETS) + " as n")
    assert stages["n"][0] == 0


def test_departments_before_registration_give_the_same_platform(warehouse_settings, clean_month, tmp_path):
    """Out of order: tax, credit and real estate arrive before the registration file. The result
    equals an in-order load (a DuckDB reference), conflicts included, lineage aside."""
    data = clean_month
    tax = data.tax_filing.copy()
    local = tax.index[~tax["uscc"].map(is_outsider_uscc)][:3]
    tax.loc[local, "region_code"] = tax.loc[local, "region_code"].map(
        {"152921": "152922", "152922": "152923", "152923": "152921"})
    moved = type(data)(**{**data.__dict__, "tax_filing": tax})
    paths = write_files(moved, tmp_path / "files")
    reversed_order = ("real_estate_case", "credit_record", "tax_filing", "registration")
    load_month(warehouse_settings, paths, order=reversed_order)

    reference = dataclasses.replace(  # same PII key, so the hashes compare
        make_settings(tmp_path / "reference", f"duckdb:///{tmp_path / 'reference' / 'w.duckdb'}"),
        pii_key_file=warehouse_settings.pii_key_file,
    )
    upgrade(reference)
    load_month(reference, paths)
    for table, keys in CORE_TABLES.items():
        got = normalized(dump(warehouse_settings, table, keys, LINEAGE_COLUMNS))
        want = normalized(dump(reference, table, keys, LINEAGE_COLUMNS))
        assert got == want, table
    conflicts = dump(warehouse_settings, "core.entity_conflict", ["record_key"])
    assert len(conflicts) == 3 and set(conflicts["dataset"]) == {"tax_filing"}
    registration_batch = query(warehouse_settings, "select batch_id from ops.batch where dataset = 'registration'")
    assert set(conflicts["batch_id"]) == set(registration_batch["batch_id"])  # found when registration came


def test_an_older_version_never_overwrites_a_newer_one(warehouse_settings, templates, tmp_path):
    uscc = templates["registration"]["uscc"]
    deliveries = {
        "tax_filing": ({"tax_amount": "900.00", "updated_at": "2024-06-20 10:00:00"},
                       {"tax_amount": "100.00", "updated_at": "2024-06-10 10:00:00"}, "filing_id", "tax_amount"),
        "credit_record": ({"authority": "新认定部门", "updated_at": "2024-06-20 10:00:00"},
                          {"authority": "旧认定部门", "updated_at": "2024-06-10 10:00:00"}, "record_id", "authority"),
        "real_estate_case": ({"channel": "线上", "updated_at": "2024-06-28 10:00:00"},
                             {"channel": "窗口", "updated_at": "2024-06-27 10:00:00"}, "case_id", "channel"),
    }
    for dataset, (newer, older, key, column) in deliveries.items():
        record = f"{dataset[:3].upper()}-ORDER-1"
        first = ingest_file(warehouse_settings, dataset, write_rows(
            tmp_path / f"{dataset}-new.csv", dataset, [department_row(templates, dataset, uscc, record, **newer)]))
        late = ingest_file(warehouse_settings, dataset, write_rows(
            tmp_path / f"{dataset}-old.csv", dataset, [department_row(templates, dataset, uscc, record, **older)]))
        assert (first.loaded, late.loaded, late.duplicates) == (1, 0, 1), dataset
        stored = query(warehouse_settings, f"select {column}, updated_at, batch_id from core.{dataset} "
                                           f"where {key} = :k", k=record)
        assert len(stored) == 1
        assert str(stored[column][0]).rstrip("0").rstrip(".") == newer[column].rstrip("0").rstrip("."), dataset
        assert str(stored["updated_at"][0]) == newer["updated_at"]
        assert stored["batch_id"][0] == first.batch_id


def test_amounts_reach_core_rounded_to_the_column_scale(warehouse_settings, templates, tmp_path):
    """The stage holds amounts as the floats validation produced (PostgreSQL loads it by binary
    COPY); core's numeric columns round them half away from zero at their scale, as parsing the
    delivered text does, and keep every digit of a value that fits."""
    capitals = {"MA0K0001": ("12.34565", "12.3457"), "MA0K0002": ("99999999.9999", "99999999.9999"),
                "MA0K0003": ("0.00005", "0.0001"), "MA0K0004": ("253", "253")}
    rows = [registration_row(templates, uscc=codes.make_uscc("91", "152921", code), registered_capital=given,
                             name=f"金额{index}有限公司")
            for index, (code, (given, _)) in enumerate(capitals.items())]
    assert ingest_file(warehouse_settings, "registration",
                       write_rows(tmp_path / "capital.csv", "registration", rows)).loaded == 4
    stored = query(warehouse_settings, "select uscc, registered_capital from core.registration")
    got = {uscc[8:16]: f"{Decimal(str(v)).normalize():f}" for uscc, v in stored.itertuples(index=False)}
    assert got == {code: f"{Decimal(want).normalize():f}" for code, (_, want) in capitals.items()}

    uscc = rows[0]["uscc"]
    filing = department_row(templates, "tax_filing", uscc, "TAX-AMOUNT-1", tax_amount="1234.565")
    assert ingest_file(warehouse_settings, "tax_filing",
                       write_rows(tmp_path / "tax.csv", "tax_filing", [filing])).loaded == 1
    amount = query(warehouse_settings, "select tax_amount from core.tax_filing where filing_id = 'TAX-AMOUNT-1'")
    assert Decimal(str(amount["tax_amount"][0])) == Decimal("1234.57")


def test_an_amount_too_large_for_core_is_a_bad_row_not_a_failed_batch(warehouse_settings, templates, tmp_path):
    capitals = {"MA0K0011": "99999999999999.99", "MA0K0012": "100000000000000", "MA0K0013": "1e400"}
    rows = [registration_row(templates, uscc=codes.make_uscc("91", "152921", code), registered_capital=given,
                             name=f"大额{index}有限公司")
            for index, (code, given) in enumerate(capitals.items())]
    summary = ingest_file(warehouse_settings, "registration", write_rows(tmp_path / "big.csv", "registration", rows),
                          max_bad_share=1.0)
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", 1, 2)
    uscc = rows[0]["uscc"]
    filings = [department_row(templates, "tax_filing", uscc, f"TAX-BIG-{i}", tax_amount=amount)
               for i, amount in enumerate(("123456789012345.67", "-1e17", "1e17"))]
    summary = ingest_file(warehouse_settings, "tax_filing", write_rows(tmp_path / "tax.csv", "tax_filing", filings),
                          max_bad_share=1.0)
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", 1, 2)
    rules = query(warehouse_settings, "select failures from quarantine.v_rejected_row")["failures"]
    assert {item["rule"] for f in rules for item in json.loads(f)} == {"out_of_range"}
    stored = query(warehouse_settings, "select tax_amount from core.tax_filing where filing_id = 'TAX-BIG-0'")
    assert Decimal(str(stored["tax_amount"][0])) == Decimal("123456789012345.67")


def test_a_merge_killed_half_way_leaves_no_trace(warehouse_settings, clean_month, tmp_path, monkeypatch):
    paths = write_files(clean_month, tmp_path / "files")
    load_month(warehouse_settings, paths, order=("registration",))
    real_run_sql = ingest.run_sql

    def dying_run_sql(conn, path, params=None):
        if path == "merge/conflicts/record_region_conflicts.sql":  # after core.tax_filing changed
            raise RuntimeError("worker killed")
        return real_run_sql(conn, path, params)

    monkeypatch.setattr(ingest, "run_sql", dying_run_sql)
    with pytest.raises(RuntimeError, match="worker killed"):
        ingest_file(warehouse_settings, "tax_filing", paths["tax_filing"])
    counts = query(warehouse_settings, """
        select (select count(*) from core.tax_filing) as core_rows,
               (select count(*) from core.entity_conflict) as conflicts,
               (select count(*) from quarantine.tax_filing) as quarantined,
               (select count(*) from ops.stage_tax_filing) as staged,
               (select count(*) from ops.validation_result where dataset = 'tax_filing') as results
    """).iloc[0].tolist()
    assert counts == [0, 0, 0, 0, 0]
    status = query(warehouse_settings, "select status, reason from ops.batch where dataset = 'tax_filing'")
    assert status["status"].tolist() == ["failed"] and "worker killed" in status["reason"][0]

    monkeypatch.setattr(ingest, "run_sql", real_run_sql)
    retry = ingest_file(warehouse_settings, "tax_filing", paths["tax_filing"])
    assert retry.status == "loaded" and retry.loaded == len(clean_month.tax_filing)


def test_rename_and_deregistration_are_history_not_deletes(warehouse_settings, templates, tmp_path):
    uscc = templates["registration"]["uscc"]
    versions = [
        registration_row(templates, name="阿拉善沙漠科技有限公司", updated_at="2024-06-03 12:00:00"),
        registration_row(templates, name="阿拉善沙漠科技集团有限公司", updated_at="2024-06-10 12:00:00"),
        registration_row(templates, name="阿拉善沙漠科技集团有限公司", status="注销", status_date="2024-06-25",
                         updated_at="2024-06-25 16:00:00"),
    ]
    ingest_file(warehouse_settings, "registration", write_rows(tmp_path / "r1.csv", "registration", versions[:1]))
    for dataset, key in (("tax_filing", "T-HIST-1"), ("credit_record", "C-HIST-1"), ("real_estate_case", "R-HIST-1")):
        row = department_row(templates, dataset, uscc, key, region_code="152921")
        assert ingest_file(warehouse_settings, dataset, write_rows(tmp_path / f"{key}.csv", dataset, [row])).loaded == 1
    ingest_file(warehouse_settings, "registration", write_rows(tmp_path / "r2.csv", "registration", versions[1:2]))
    closed = ingest_file(warehouse_settings, "registration", write_rows(tmp_path / "r3.csv", "registration",
                                                                          versions[2:]))
    assert closed.loaded == 1

    history = query(warehouse_settings, "select name, status, valid_from, valid_to, is_current, batch_id "
                                        "from core.market_entity where uscc = :u order by valid_from", u=uscc)
    assert [(h.name, h.status, str(h.valid_from), str(h.valid_to) if pd.notna(h.valid_to) else None, bool(h.is_current))
            for h in history.itertuples()] == [
        ("阿拉善沙漠科技有限公司", "存续", "2024-06-03 12:00:00", "2024-06-10 12:00:00", False),
        ("阿拉善沙漠科技集团有限公司", "存续", "2024-06-10 12:00:00", "2024-06-25 16:00:00", False),
        ("阿拉善沙漠科技集团有限公司", "注销", "2024-06-25 16:00:00", None, True),
    ]
    assert history["batch_id"].is_unique  # each version names the batch that brought it
    current = query(warehouse_settings, "select status, status_date from core.registration where uscc = :u", u=uscc)
    assert (current["status"][0], str(current["status_date"][0])) == ("注销", "2024-06-25")
    kept = query(warehouse_settings, """
        select (select count(*) from core.tax_filing where uscc = :u) as tax,
               (select count(*) from core.credit_record where uscc = :u) as credit,
               (select count(*) from core.real_estate_case where applicant_uscc = :u) as cases
    """, u=uscc).iloc[0].tolist()
    assert kept == [1, 1, 1]
    profile = query(warehouse_settings, "select * from mart.v_enterprise_profile where uscc = :u", u=uscc)
    assert (profile["status"][0], profile["tax_filing_count"][0], profile["real_estate_case_count"][0]) == (
        "注销", 1, 1)


def test_credit_removal_is_an_update(warehouse_settings, templates, tmp_path):
    uscc = templates["registration"]["uscc"]
    ingest_file(warehouse_settings, "registration",
                write_rows(tmp_path / "r.csv", "registration", [registration_row(templates)]))
    listed = department_row(templates, "credit_record", uscc, "XY-LIST-1", record_type="严重失信主体名单",
                            record_date="2024-06-05", removal_date="", region_code="152921",
                            updated_at="2024-06-05 10:00:00")
    first = ingest_file(warehouse_settings, "credit_record", write_rows(tmp_path / "c1.csv", "credit_record", [listed]))
    flag = "select on_dishonest_list from mart.v_enterprise_profile where uscc = :u"
    assert bool(query(warehouse_settings, flag, u=uscc).iloc[0, 0]) is True
    removed = {**listed, "removal_date": "2024-06-28", "updated_at": "2024-06-28 09:00:00"}
    later = ingest_file(warehouse_settings, "credit_record",
                        write_rows(tmp_path / "c2.csv", "credit_record", [removed]))
    assert later.loaded == 1
    rows = query(warehouse_settings, "select record_id, removal_date, batch_id from core.credit_record")
    assert len(rows) == 1 and str(rows["removal_date"][0]) == "2024-06-28"
    assert rows["batch_id"][0] == later.batch_id and first.batch_id != later.batch_id
    assert bool(query(warehouse_settings, flag, u=uscc).iloc[0, 0]) is False


def test_conflicting_regions_are_recorded_never_applied(warehouse_settings, templates, tmp_path):
    uscc = templates["registration"]["uscc"]  # registered in 152921
    reg = write_rows(tmp_path / "r.csv", "registration", [registration_row(templates)])
    ingest_file(warehouse_settings, "registration", reg)
    files = {
        "tax_filing": write_rows(tmp_path / "t.csv", "tax_filing",
                                 [department_row(templates, "tax_filing", uscc, "T-CONF-1", region_code="152922")]),
        "credit_record": write_rows(tmp_path / "c.csv", "credit_record",
                                    [department_row(templates, "credit_record", uscc, "C-CONF-1",
                                                    region_code="152923", updated_at="2024-06-20 10:00:00")]),
        "real_estate_case": write_rows(tmp_path / "e.csv", "real_estate_case",
                                       [department_row(templates, "real_estate_case", uscc, "R-CONF-1",
                                                       region_code="152922")]),
    }
    for dataset, path in files.items():
        assert ingest_file(warehouse_settings, dataset, path).loaded == 1
    conflict_sql = ("select uscc, dataset, record_key, field, core_value, department_value, batch_id, detected_at "
                    "from core.entity_conflict order by dataset")
    conflicts = query(warehouse_settings, conflict_sql)
    assert [tuple(r) for r in conflicts[["uscc", "dataset", "record_key", "field", "core_value",
                                         "department_value"]].itertuples(index=False)] == [
        (uscc, "credit_record", "C-CONF-1", "region_code", "152921", "152923"),
        (uscc, "tax_filing", "T-CONF-1", "region_code", "152921", "152922"),
    ]  # the real-estate case lies in 152922: where a property is says nothing about the enterprise
    entity = "select region_code from core.market_entity where uscc = :u and is_current"
    assert query(warehouse_settings, entity, u=uscc).iloc[0, 0] == "152921"  # registration survives
    assert query(warehouse_settings, "select region_code from core.registration").iloc[0, 0] == "152921"

    for dataset, path in files.items():  # the same deliveries again: nothing changes, not even detected_at
        ingest_file(warehouse_settings, dataset, path)
    pd.testing.assert_frame_equal(conflicts, query(warehouse_settings, conflict_sql))

    # the entity moves to 152922 (registration is authoritative): the tax conflict
    # dissolves, the credit record now disagrees with the new region
    moved = registration_row(templates, region_code="152922", updated_at="2024-06-15 12:00:00")
    ingest_file(warehouse_settings, "registration", write_rows(tmp_path / "r2.csv", "registration", [moved]))
    now = query(warehouse_settings, conflict_sql)
    assert [tuple(r) for r in now[["dataset", "core_value", "department_value"]].itertuples(index=False)] == [
        ("credit_record", "152922", "152923")]
    # a corrected, newer credit delivery agrees with the golden record: no conflict remains
    fixed = department_row(templates, "credit_record", uscc, "C-CONF-1", region_code="152922",
                           updated_at="2024-06-21 10:00:00")
    ingest_file(warehouse_settings, "credit_record", write_rows(tmp_path / "c2.csv", "credit_record", [fixed]))
    assert query(warehouse_settings, conflict_sql).empty


def test_crosswalk_load_validates_codes_and_is_idempotent(warehouse_settings, templates, tmp_path):
    uscc = templates["registration"]["uscc"]
    other = codes.make_uscc("91", "152922", "MA0N0042")
    rows = [
        ("152921000000001", uscc),                      # row 2 valid
        ("152921000000001", uscc),                      # row 3 repeated
        ("152922000000002", other),                     # row 4 valid
        ("15292100000003", other),                      # row 5 not 15 digits
        ("152921000000004", uscc[:-1] + ("0" if uscc[-1] != "0" else "1")),  # row 6 check char
        ("152921000000005", uscc),                      # rows 7/8 ambiguous
        ("152921000000005", other),
        ("1.5E+14", other),                             # row 9 Excel-mangled
    ]
    path = tmp_path / "crosswalk.csv"
    pd.DataFrame(rows, columns=["注册号", "统一社会信用代码"]).to_csv(path, index=False, encoding="utf-8")
    summary = load_crosswalk(warehouse_settings, path, max_bad_share=0.9)
    assert (summary.extracted, summary.loaded, summary.rejected, summary.duplicates) == (8, 2, 5, 1)
    assert {(p["source_row"], p["rule"]) for p in summary.problems} == {
        (5, "legacy_reg_no_format"), (6, "uscc_check_char"), (7, "legacy_reg_no_ambiguous"),
        (8, "legacy_reg_no_ambiguous"), (9, "excel_mangled")}
    table = "select legacy_reg_no, uscc, batch_id, changed_at from core.legacy_code_crosswalk order by 1"
    before = query(warehouse_settings, table)
    assert before[["legacy_reg_no", "uscc"]].values.tolist() == [["152921000000001", uscc],
                                                                  ["152922000000002", other]]
    again = load_crosswalk(warehouse_settings, path, max_bad_share=0.9)
    assert (again.loaded, again.duplicates) == (0, 3)
    pd.testing.assert_frame_equal(before, query(warehouse_settings, table))
    batch = query(warehouse_settings, "select extracted, loaded, quarantined, duplicates, status from ops.batch "
                                      "where batch_id = :b", b=summary.batch_id)
    assert batch.iloc[0].tolist() == [8, 2, 5, 1, "loaded"]
    # with the default tolerance the file is rejected whole: nothing loaded, every row accounted for
    rejected = load_crosswalk(warehouse_settings, path)
    assert (rejected.status, rejected.extracted, rejected.loaded, rejected.rejected, rejected.duplicates) == (
        "rejected", 8, 0, 7, 1)
    assert rejected.reason.startswith("crosswalk.csv: 5 of 7 rows fail validation (71.4% > 5% allowed); batch "
                                      "rejected; row 5 legacy_reg_no: legacy_reg_no_format; row 6 uscc: "), rejected
    pd.testing.assert_frame_equal(before, query(warehouse_settings, table))
    # a registration row known only by its 注册号 resolves through the crosswalk
    legacy_only = registration_row(templates, uscc="", legacy_reg_no="152921000000001")
    resolved = ingest_file(warehouse_settings, "registration", write_rows(tmp_path / "r.csv", "registration",
                                                                           [legacy_only]))
    assert resolved.loaded == 1, query(warehouse_settings, "select failures from quarantine.registration")
    assert query(warehouse_settings, "select uscc from core.registration").iloc[0, 0] == uscc


# ------------------------------------------------------------------------------------------
# personal data


_ID_TOKEN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def test_no_full_resident_id_number_anywhere_in_the_warehouse(warehouse_settings, messy_month, tmp_path):
    paths = write_files(messy_month, tmp_path / "files")
    summaries = load_month(warehouse_settings, paths, max_bad_share=0.5)
    assert all(s.status == "loaded" for s in summaries.values())
    assert query(warehouse_settings, "select count(*) from quarantine.registration").iloc[0, 0] > 0
    known_ids = set(messy_month.registration["legal_rep_id"]) | set(
        messy_month.real_estate_case.loc[messy_month.real_estate_case["applicant_type"] == "个人", "applicant_id"])
    known_ids = {i.strip().upper() for i in known_ids if len(i.strip()) == 18}
    assert known_ids

    relations = query(warehouse_settings, """
        select table_schema, table_name
        from information_schema.tables
        where table_schema in ('ops', 'core', 'quarantine', 'mart')
    """)
    scanned, leaks = 0, []
    for schema, table in relations.itertuples(index=False):
        if table == "alembic_version":
            continue
        frame = query(warehouse_settings, f"select * from {schema}.{table}")
        for column in frame.columns:
            values = frame[column].dropna().astype(str)
            scanned += len(values)
            for value in values:
                for token in _ID_TOKEN.findall(value):
                    if codes.resident_id_problem(token.upper()) is None:
                        leaks.append((f"{schema}.{table}.{column}", codes.mask_resident_id(token)))
                if any(i in value.upper() for i in known_ids):
                    leaks.append((f"{schema}.{table}.{column}", "known id"))
            if column.endswith("_hash"):
                assert values.str.fullmatch(r"[0-9a-f]{64}").all(), f"{schema}.{table}.{column}"
    assert scanned > 1000
    assert not leaks, leaks[:5]
    masked = query(warehouse_settings, "select legal_rep_id_masked from core.market_entity")["legal_rep_id_masked"]
    assert masked.dropna().str.fullmatch(r"\d{4}\*{10}[\dX]{4}").all()


def test_a_resident_id_in_an_enterprise_code_field_is_quarantined_and_masked(warehouse_settings, templates,
                                                                             tmp_path):
    also_a_valid_uscc = "110105198001013014"  # a resident ID that passes every USCC check
    plain = "152921197501011232"  # fails the USCC checks; also the 18-digit form of 152921750101123
    assert codes.is_valid_uscc(also_a_valid_uscc) and codes.resident_id_problem(also_a_valid_uscc) is None
    assert codes.resident_id_problem(plain) is None
    rows = [dict(templates["tax_filing"], filing_id=f"TAXP{i}", uscc=number)
            for i, number in enumerate((also_a_valid_uscc, plain, "152921750101123"))]
    summary = ingest_file(warehouse_settings, "tax_filing", write_rows(tmp_path / "tax.csv", "tax_filing", rows),
                          max_bad_share=1.0)
    assert (summary.loaded, summary.quarantined) == (0, 3)
    failures = query(warehouse_settings, "select failures from quarantine.tax_filing order by source_row")
    # each is a person's number (valid, or shaped like one: docs/security.md), masked before it is stored
    assert [[item["rule"] for item in json.loads(f)] for f in failures["failures"]] == [
        ["resident_id_as_uscc"]] * 3
    everything = " ".join(
        query(warehouse_settings, f"select * from {table}").astype(str).to_string()
        for table in ("quarantine.tax_filing", "quarantine.v_rejected_row", "ops.batch", "core.tax_filing"))
    for number in (also_a_valid_uscc, plain, "152921750101123", "152921197501011232"):
        assert number not in everything, codes.mask_resident_id(number)
    assert codes.mask_resident_id(also_a_valid_uscc) in everything


def _stage_nested_loops(node: dict, path: str = "") -> list[str]:
    """Nested-loop joins with a scan of the stage on both sides: quadratic in the batch size."""
    def stage_scans(sub: dict) -> bool:
        own = str(sub.get("Relation Name", "")).startswith("stage_")
        return own or any(stage_scans(child) for child in sub.get("Plans", []))

    found = []
    children = node.get("Plans", [])
    if node["Node Type"] == "Nested Loop" and len(children) == 2 and all(map(stage_scans, children)):
        found.append(f"{path}/Nested Loop")
    for child in children:
        found.extend(_stage_nested_loops(child, f"{path}/{node['Node Type']}"))
    return found


@pytest.mark.postgres
def test_no_merge_statement_nests_loops_over_the_stage(postgres_settings):
    """A freshly filled stage has no statistics, so PostgreSQL guesses a handful of rows for it. A
    statement joining the stage with itself then gets a nested loop: 0.7 s for 2,000 rows, 9 s
    for 8,000. Every merge statement must plan without one, whatever the estimate."""
    month = simulate(entities=400, months=MONTH, seed=3, defects=DefectRates.none())
    engine = make_engine(postgres_settings.warehouse_url)
    params = {"batch_id": "plan-check", "changed_at": dt.datetime(2024, 7, 1), "resolved_at": dt.datetime(2024, 7, 1)}
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            quadratic = {}
            for name in DATASETS:
                dataset = get_dataset(name)
                raw = getattr(month, name).assign(source_row=lambda f: range(2, len(f) + 2))
                typed = standardize(dataset, raw).rows
                bulk_insert(conn, f"ops.stage_{name}", ingest._stage_frame(dataset, "plan-check", typed, b"k"))
                steps = (*ingest.MERGE_STEPS[name], f"{name}/resolve_quarantine")
                for step in steps:
                    plan = conn.execute(text("explain (format json) " + sql_text(f"merge/{step}.sql")), params)
                    loops = _stage_nested_loops(plan.scalar_one()[0]["Plan"])
                    if loops:
                        quadratic[step] = loops
            transaction.rollback()
    finally:
        engine.dispose()
    assert quadratic == {}
