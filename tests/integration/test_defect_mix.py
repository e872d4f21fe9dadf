"""Acceptance: department files mixing every defect the simulator can inject load exactly their
good rows, quarantine each bad row with the right reason, count each duplicate as a duplicate,
and reconcile (extracted = loaded + quarantined + duplicates) — on DuckDB and PostgreSQL.

The expectations come from the simulator's `defects` table (row_number is the 1-based data row,
so the file row, header = row 1, is row_number + 1), never from what the pipeline did.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv.datasets import DATASETS
from bizenv.ingest import ingest_file
from bizenv.reasons import RULES
from bizenv.settings import Settings
from bizenv.simulator.simulate import (
    CROSSWALK_FILE,
    EXPECTED_OUTCOME,
    UNKNOWN_REGION_CODES,
    DefectRates,
    SimulatedData,
    simulate,
    write_files,
)
from bizenv.sources.files import read_department_file
from bizenv.warehouse import make_engine, run_sql

# BIZENV_DEFECT_MIX_SEED / _ENTITIES try other mixes (a soak run); the defaults hold every kind.
SEED = int(os.environ.get("BIZENV_DEFECT_MIX_SEED", "3"))
ENTITIES = int(os.environ.get("BIZENV_DEFECT_MIX_ENTITIES", "250"))
MONTHS = ("2024-05", "2024-06")
RATES = DefectRates(**{f.name: 0.08 for f in fields(DefectRates)})  # every kind non-zero
XLSX = frozenset({"credit_record"})  # one department sends Excel, the others CSV in three encodings

# Each defect the simulator can inject into each dataset (it skips kinds a dataset cannot have).
INJECTABLE = {
    "registration": set(EXPECTED_OUTCOME),
    "tax_filing": {"bad_check_char", "full_width", "excel_mangled", "exact_duplicate", "near_duplicate",
                   "unknown_region"},
    "credit_record": {"bad_check_char", "full_width", "excel_mangled", "exact_duplicate", "near_duplicate",
                      "unknown_region"},
    "real_estate_case": {"bad_check_char", "full_width", "excel_mangled", "exact_duplicate", "near_duplicate",
                         "unknown_region", "completion_before_submission"},
}
# The field a code defect sits in: the enterprise's USCC (for 不动产, the 企业 applicant's USCC).
CODE_FIELD = {"registration": "uscc", "tax_filing": "uscc", "credit_record": "uscc",
              "real_estate_case": "applicant_id"}
COMPLETION_FIELD = {"registration": "issued_at", "real_estate_case": "completed_at"}
EXPECTED_RULE = {
    "bad_check_char": "uscc_check_char",
    "excel_mangled": "excel_mangled",
    "completion_before_submission": "completion_before_submission",
    "unknown_region": "region_unknown",
}
CORE_KEY = {"registration": "uscc", "tax_filing": "filing_id", "credit_record": "record_id",
            "real_estate_case": "case_id"}


def expected_failure(dataset: str, defect: str) -> tuple[str, str]:
    field = {
        "bad_check_char": CODE_FIELD[dataset],
        "excel_mangled": CODE_FIELD[dataset],
        "completion_before_submission": COMPLETION_FIELD.get(dataset, ""),
        "unknown_region": "region_code",
    }[defect]
    return field, EXPECTED_RULE[defect]


def normalized(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


@pytest.fixture(scope="module")
def simulated() -> SimulatedData:
    return simulate(entities=ENTITIES, months=MONTHS, seed=SEED, defects=RATES)


@pytest.fixture
def files(simulated: SimulatedData, tmp_path: Path) -> dict[str, Path]:
    return write_files(simulated, tmp_path / "department", xlsx=XLSX)


def load_crosswalk(settings: Settings, simulated: SimulatedData, path: Path) -> None:
    """The 注册号 → USCC crosswalk, through bizenv.crosswalk once it exists, else its SQL."""
    try:
        from bizenv.crosswalk import load_crosswalk as load  # being written alongside
    except ImportError:
        load = None
    if load is not None:
        load(settings, path)
        return
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.begin() as conn:
            for legacy_reg_no, uscc in simulated.crosswalk[["legacy_reg_no", "uscc"]].itertuples(index=False):
                run_sql(conn, "ops/upsert_crosswalk.sql", {"legacy_reg_no": legacy_reg_no, "uscc": uscc,
                                                           "batch_id": "crosswalk-test",
                                                           "changed_at": "2024-07-01 00:00:00"})
    finally:
        engine.dispose()


def test_every_injectable_defect_is_in_the_mix(simulated):
    found = {name: set(simulated.defects.loc[simulated.defects["dataset"] == name, "defect"])
             for name in DATASETS}
    assert found == INJECTABLE
    assert not simulated.crosswalk.empty


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_defects_table_points_at_file_rows(simulated, files, dataset):
    """row_number is the 1-based data row; the pipeline's source_row (header = row 1) is row_number + 1."""
    raw = read_department_file(files[dataset], DATASETS[dataset])
    frame = simulated.dataset(dataset)
    assert len(raw) == len(frame)
    assert raw["source_row"].tolist() == list(range(2, len(raw) + 2))
    defects = simulated.defects[simulated.defects["dataset"] == dataset]
    by_row = raw.set_index("source_row")
    code = CODE_FIELD[dataset]
    for row_number, defect in defects[["row_number", "defect"]].itertuples(index=False):
        row = by_row.loc[row_number + 1]
        assert row.to_dict() == frame.iloc[row_number - 1].to_dict()
        if defect == "excel_mangled":
            assert "E+" in row[code]
        elif defect == "unknown_region":
            assert row["region_code"] in UNKNOWN_REGION_CODES
        elif defect == "legacy_reg_no_only":
            assert row["uscc"] == "" and len(row["legacy_reg_no"]) == 15
        elif defect == "full_width":
            assert row[code] != normalized(row[code])
        elif defect in ("exact_duplicate", "near_duplicate"):
            key = CORE_KEY[dataset]
            assert (raw[key].map(normalized) == normalized(row[key])).sum() >= 2


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_defect_mix_loads_good_rows_quarantines_bad_rows_and_reconciles(
    warehouse_settings, simulated, files, dataset
):
    load_crosswalk(warehouse_settings, simulated, files[dataset].parent / CROSSWALK_FILE)
    frame = simulated.dataset(dataset)
    defects = simulated.defects[simulated.defects["dataset"] == dataset].copy()
    defects["source_row"] = defects["row_number"] + 1
    outcome = dict(zip(defects["source_row"], defects["expected_outcome"], strict=True))
    defect_of = dict(zip(defects["source_row"], defects["defect"], strict=True))
    expected_counts = Counter(outcome.values())
    extracted = len(frame)
    expected_quarantined = expected_counts["quarantined"]
    expected_duplicates = expected_counts["duplicate"]
    expected_loaded = extracted - expected_quarantined - expected_duplicates

    summary = ingest_file(warehouse_settings, dataset, files[dataset], max_bad_share=0.95)

    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.connect() as conn:
            quarantined = pd.read_sql(text(f"select source_row, record_key, failures, reason_zh, reason_en, "
                                           f"batch_id, resolved_at from quarantine.{dataset}"), conn)
            core = pd.read_sql(text(f"select * from core.{dataset}"), conn)
            batch = conn.execute(text("select extracted, loaded, quarantined, duplicates, status "
                                      "from ops.batch where batch_id = :b"), {"b": summary.batch_id}).one()
            crosswalk_rows = conn.execute(text("select count(*) from core.legacy_code_crosswalk")).scalar_one()
    finally:
        engine.dispose()
    assert crosswalk_rows == len(simulated.crosswalk)

    actual = {int(r.source_row): {(f["field"], f["rule"]) for f in json.loads(r.failures)}
              for r in quarantined.itertuples()}
    expected = {row: {expected_failure(dataset, defect_of[row])}
                for row, result in outcome.items() if result == "quarantined"}
    mismatches = sorted(
        (defect_of.get(row, "no defect injected"), row, sorted(expected.get(row, ())), sorted(actual.get(row, ())))
        for row in set(actual) | set(expected)
        if actual.get(row) != expected.get(row)
    )

    # the batch reconciles, exactly as the simulator expects
    assert summary.status == "loaded", summary.reason
    assert (summary.extracted, summary.loaded, summary.quarantined, summary.duplicates) == (
        extracted, expected_loaded, expected_quarantined, expected_duplicates), mismatches
    assert tuple(batch) == (extracted, expected_loaded, expected_quarantined, expected_duplicates, "loaded")
    assert batch[0] == batch[1] + batch[2] + batch[3]

    # exactly the good rows are loaded: full-width and traditional-name rows load, duplicates once
    bad = {row for row, result in outcome.items() if result in ("quarantined", "duplicate")}
    good = frame[~pd.Series(range(2, extracted + 2)).isin(bad).to_numpy()]
    key = CORE_KEY[dataset]
    if dataset == "registration":
        crosswalk = dict(zip(simulated.crosswalk["legacy_reg_no"], simulated.crosswalk["uscc"], strict=True))
        good_keys = [normalized(u) if u else crosswalk[normalized(n)]
                     for u, n in zip(good["uscc"], good["legacy_reg_no"], strict=True)]
    else:
        good_keys = good[key].map(normalized).tolist()
    assert len(set(good_keys)) == len(good_keys) == expected_loaded  # premise: one row per key
    assert sorted(core[key]) == sorted(good_keys)
    assert set(core["batch_id"]) == {summary.batch_id}

    core_by_key = core.set_index(key)
    raw_by_row = frame.set_index(pd.RangeIndex(2, extracted + 2))
    for row, defect in defect_of.items():
        raw = raw_by_row.loc[row]
        if defect == "full_width":
            loaded = core_by_key.loc[normalized(raw[key])]
            assert loaded["region_code"] == normalized(raw["region_code"])
            if dataset == "real_estate_case":
                assert loaded["unit_code"] == normalized(raw["unit_code"])
                if raw["applicant_type"] == "企业":
                    assert loaded["applicant_uscc"] == normalized(raw["applicant_id"])
            elif dataset != "registration":
                assert loaded["uscc"] == normalized(raw["uscc"])
        elif defect == "traditional_name":
            loaded = core_by_key.loc[normalized(raw["uscc"])]
            assert loaded["name"] == raw["name"]  # the original is kept ...
            assert loaded["name_key"] != raw["name"]  # ... and compared on its simplified key
        elif defect == "legacy_reg_no_only":
            loaded = core_by_key.loc[crosswalk[raw["legacy_reg_no"]]]
            assert loaded["legacy_reg_no"] == raw["legacy_reg_no"]

    # every bad row sits in quarantine with the reason its defect calls for, and nothing else does
    assert not mismatches, f"{dataset}: (defect, file row, expected, quarantined with): {mismatches}"
    for r in quarantined.itertuples():
        for _field, rule in actual[int(r.source_row)]:
            assert RULES[rule][0] in r.reason_zh and RULES[rule][1] in r.reason_en
    assert set(quarantined["batch_id"]) <= {summary.batch_id}
    assert quarantined["resolved_at"].isna().all()
