"""The three steps of a source run (bizenv.sources: extract_and_land, validate_and_merge,
advance_source_watermark), which the ingest DAGs run as tasks and `bizenv ingest` in order: a
landed batch is re-processed from its landing file and never extracted again, a batch left
landed by a broken run is merged by the next one, and the watermark moves only over merged
batches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import bizenv.ingest
from bizenv.errors import Refused
from bizenv.settings import Settings
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.sources import (
    advance_source_watermark,
    drop,
    extract_and_land,
    ingest_source,
    load_sources,
    read_watermark,
    validate_and_merge,
)
from bizenv.warehouse import connect

NAME = "amr_registration"


@pytest.fixture(autouse=True)
def no_stability_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")


@pytest.fixture(scope="module")
def registration() -> pd.DataFrame:
    return simulate(entities=30, months=("2024-05", "2024-06"), seed=8, defects=DefectRates.none()).registration


def sources() -> dict:
    base = load_sources()[NAME]
    return {NAME: dataclasses.replace(base, file_drop=dataclasses.replace(base.file_drop, min_age_seconds=0))}


def deliver(settings: Settings, frame: pd.DataFrame, name: str) -> Path:
    drop_dir, _ = sources()[NAME].file_drop.resolve(settings.data_dir)
    drop_dir.mkdir(parents=True, exist_ok=True)
    headers = CHINESE_HEADERS["registration"]
    path = drop_dir / name
    frame[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8-sig")
    drop.done_marker(path).touch()
    return path


def batch_states(settings: Settings) -> dict[str, tuple]:
    with connect(settings) as engine, engine.connect() as conn:
        rows = conn.execute(text("select batch_id, status, landing_path from ops.batch")).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def core_rows(settings: Settings) -> int:
    with connect(settings) as engine, engine.connect() as conn:
        return conn.execute(text("select count(*) from core.registration")).scalar_one()


def watermark(settings: Settings):
    with connect(settings) as engine:
        return read_watermark(engine, NAME)


def test_a_landed_batch_is_merged_from_its_landing_file_and_never_extracted_again(
        warehouse_settings: Settings, registration: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = warehouse_settings
    first_rows, second_rows = registration.iloc[:20], registration.iloc[20:]
    deliver(settings, first_rows, "登记_a.csv")
    deliver(settings, second_rows, "登记_b.csv")
    files_read = []
    read_drop_file = drop.load_drop_file
    monkeypatch.setattr(drop, "load_drop_file", lambda path: files_read.append(path.name) or read_drop_file(path))

    extraction = extract_and_land(settings, NAME, sources=sources())
    first, second = extraction.batch_ids
    assert extraction.refusal == ""
    states = batch_states(settings)
    assert {states[first][0], states[second][0]} == {"landed"}
    assert core_rows(settings) == 0 and watermark(settings) is None  # nothing merged, nothing moved

    process = bizenv.ingest._process

    def server_gone(*args, **kwargs):
        raise OperationalError("insert into core.registration", {}, Exception("server closed the connection"))

    monkeypatch.setattr(bizenv.ingest, "_process", server_gone)
    with pytest.raises(OperationalError):
        validate_and_merge(settings, first, sources=sources())
    status, landing = batch_states(settings)[first]
    assert status == "failed" and landing  # kept for the retry
    monkeypatch.setattr(bizenv.ingest, "_process", process)

    # the retry (Airflow's, or `bizenv reload`) loads the landing file under the same batch id
    summary = validate_and_merge(settings, first, sources=sources())
    assert (summary.batch_id, summary.status, summary.loaded) == (first, "loaded", len(first_rows))
    # retrying a merged batch changes nothing
    assert validate_and_merge(settings, first, sources=sources()).loaded == len(first_rows)
    assert core_rows(settings) == len(first_rows)
    # only merged batches move the watermark: the second is still waiting
    assert advance_source_watermark(settings, NAME, [first, second], sources=sources()) == pd.Timestamp(
        first_rows["updated_at"].max())

    # the run broke off before the second batch: the next run merges it first, with no new file
    [merged] = ingest_source(settings, NAME, sources=sources())
    assert (merged.batch_id, merged.status, merged.loaded) == (second, "loaded", len(second_rows))
    assert core_rows(settings) == len(registration)
    assert watermark(settings) == pd.Timestamp(registration["updated_at"].max())
    assert sorted(files_read) == ["登记_a.csv", "登记_b.csv"]  # each delivered file was read once
    assert len(batch_states(settings)) == 2


def test_a_batch_rejected_for_its_content_is_set_aside_and_moves_no_watermark(
        warehouse_settings: Settings, registration: pd.DataFrame) -> None:
    settings = warehouse_settings
    good = registration.iloc[:20]
    bad = registration.iloc[20:].assign(uscc="91152900NOTACODE", updated_at="2024-07-15 10:00:00")
    deliver(settings, good, "登记_good.csv")
    deliver(settings, bad, "登记_bad.csv")
    loaded, rejected = ingest_source(settings, NAME, sources=sources())
    assert (loaded.status, rejected.status) == ("loaded", "rejected")
    assert "rejected" in rejected.reason and "登记_bad.csv" in rejected.reason
    _, archive_dir = sources()[NAME].file_drop.resolve(settings.data_dir)
    assert [p.name for p in (archive_dir / "rejected").iterdir()] == ["登记_bad.csv"]
    assert sorted(p.name for p in archive_dir.iterdir() if p.is_file()) == ["登记_good.csv"]
    assert watermark(settings) == pd.Timestamp(good["updated_at"].max())  # not the rejected file's July

    # a rejected batch is never merged by a retry: the department corrects and delivers again
    with pytest.raises(Refused, match="rejected for its content"):
        validate_and_merge(settings, rejected.batch_id, sources=sources())
