"""A batch read, validated and staged in small chunks ends exactly as the same batch taken whole:
the same counts, the same quarantined rows with the same failures, the same core rows and the
same validation results, on DuckDB and PostgreSQL. The files are the defect mix's (every defect
the simulator injects) with rows appended that repeat, or claim the key of, rows several chunks
earlier."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv.crosswalk import load_crosswalk
from bizenv.datasets import DATASETS
from bizenv.ingest import ingest_file
from bizenv.settings import CHUNK_ROWS_ENV
from bizenv.simulator.simulate import CROSSWALK_FILE, DefectRates, simulate, write_files
from bizenv.sources.files import read_department_file
from bizenv.warehouse import make_engine, upgrade
from conftest import make_settings, new_postgres_database

RATES = DefectRates(**{f.name: 0.08 for f in fields(DefectRates)})
WHOLE = 10_000_000
CHUNK_ROWS = 9  # the smallest file has 35 rows: four chunks at least
# a field each conflicting copy changes (its key stays): the copy is not a repeat but a conflict
CHANGED = {"registration": "legal_rep_name", "tax_filing": "tax_amount", "credit_record": "authority",
           "real_estate_case": "channel"}
VOLATILE = {"batch_id", "loaded_at", "changed_at", "valid_from", "valid_to", "superseded_at", "quarantined_at",
            "updated_in_core_at", "first_batch_id", "last_batch_id"}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The defect mix's files, each with rows appended that repeat or conflict with rows chunks
    away: exact copies of early rows, and copies of early rows (one of them a quarantined one)
    with the key kept and another field changed."""
    simulated = simulate(entities=220, months=("2024-05", "2024-06"), seed=11, defects=RATES)
    directory = tmp_path_factory.mktemp("department")
    delivered = write_files(simulated, directory, xlsx=frozenset())
    files = {CROSSWALK_FILE: directory / CROSSWALK_FILE}
    for name, dataset in DATASETS.items():
        raw = read_department_file(delivered[name], dataset).drop(columns="source_row")
        defects = simulated.defects[(simulated.defects["dataset"] == name)
                                    & (simulated.defects["expected_outcome"] == "quarantined")]
        bad = int(defects["row_number"].min()) - 1
        repeated = raw.iloc[[0, 1, 2]]
        conflicting = raw.iloc[[3, 4, bad]].copy()
        values = raw[CHANGED[name]]
        conflicting[CHANGED[name]] = [next(v for v in values.unique() if v != current)
                                      for current in conflicting[CHANGED[name]]]
        frame = pd.concat([raw, repeated, conflicting], ignore_index=True)
        frame.columns = [dataset.column(c).header_zh for c in frame.columns]
        files[name] = directory / f"{name}-extended.csv"
        frame.to_csv(files[name], index=False, encoding="utf-8")
    return files


@pytest.fixture
def reference_settings(tmp_path, warehouse_settings):
    """A second, empty warehouse of the same kind for the batch taken whole."""
    if warehouse_settings.warehouse_url.startswith("duckdb"):
        settings = make_settings(tmp_path / "whole", f"duckdb:///{tmp_path / 'whole' / 'warehouse.duckdb'}")
        upgrade(settings)
        yield settings
        return
    with new_postgres_database() as url:
        settings = make_settings(tmp_path / "whole", url)
        upgrade(settings)
        yield settings


def _outcome(settings, batch_id: str, dataset: str) -> dict:
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            batch = conn.execute(text("select extracted, loaded, quarantined, duplicates, status, reason "
                                      "from ops.batch where batch_id = :b"), {"b": batch_id}).one()
            quarantine = pd.read_sql(text(f"select source_row, record_key, region_code, record, failures, "
                                          f"reason_en from quarantine.{dataset}"), conn)
            core = pd.read_sql(text(f"select * from core.{dataset}"), conn)
            results = pd.read_sql(text("select rule, column_name, severity, success, element_count, "
                                       "unexpected_count from ops.validation_result where batch_id = :b"),
                                  conn, params={"b": batch_id})
            staged = conn.execute(text(f"select count(*) from ops.stage_{dataset}")).scalar_one()
    finally:
        engine.dispose()
    quarantine["failures"] = [sorted(map(json.dumps, json.loads(f))) for f in quarantine["failures"]]
    core = core.drop(columns=[c for c in core.columns if c in VOLATILE]).astype(str)
    core = core.sort_values(list(core.columns)).reset_index(drop=True)
    return {
        "batch": tuple(batch),
        "quarantine": quarantine.sort_values("source_row").astype(str).to_dict(orient="records"),
        "core": core.to_dict(orient="records"),
        "results": results.astype(str).sort_values(["rule", "column_name"]).to_dict(orient="records"),
        "staged": staged,
    }


@pytest.mark.parametrize("rejected", [False, True], ids=["loaded", "rejected"])
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_a_batch_in_chunks_ends_as_the_batch_taken_whole(warehouse_settings, reference_settings, files, dataset,
                                                         rejected, monkeypatch):
    max_bad_share = 0.0 if rejected else 0.95
    monkeypatch.setenv("BIZENV_PII_KEY", "chunked-ingest-test-key-" + "0" * 40)  # one key: comparable hashes
    outcomes = []
    for settings, chunk in ((reference_settings, WHOLE), (warehouse_settings, CHUNK_ROWS)):
        load_crosswalk(settings, files[CROSSWALK_FILE])
        monkeypatch.setenv(CHUNK_ROWS_ENV, str(chunk))
        summary = ingest_file(settings, dataset, files[dataset], max_bad_share=max_bad_share)
        assert summary.status == ("rejected" if rejected else "loaded"), summary.reason
        assert summary.extracted == summary.loaded + summary.quarantined + summary.duplicates
        outcomes.append(_outcome(settings, summary.batch_id, dataset))
    whole, chunked = outcomes
    assert whole["staged"] == chunked["staged"] == 0
    assert whole["batch"] == chunked["batch"]
    assert whole["quarantine"] == chunked["quarantine"]
    assert whole["results"] == chunked["results"]
    assert whole["core"] == chunked["core"]
    assert whole["batch"][3] >= 3 and len(whole["quarantine"]) >= 4  # premise: repeats and conflicts
    # premise: a copy at the end and its original at the top conflict, chunks apart
    conflicts = [int(q["source_row"]) for q in whole["quarantine"] if "conflicting_duplicate" in q["failures"]]
    assert conflicts and max(conflicts) - min(conflicts) > 2 * CHUNK_ROWS
    if rejected:  # every row but the repeated ones is quarantined: the bad, and the valid held back
        assert len(chunked["quarantine"]) == whole["batch"][0] - whole["batch"][3]
