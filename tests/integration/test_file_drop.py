"""The file-drop connector into the DuckDB warehouse: pickup order and formats, partial uploads,
symlinks out of the drop directory, archiving, and re-delivered files recognised by content."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv.cli import main
from bizenv.settings import Settings
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.sources import DropRejected, SourceConfig, ingest_source, load_sources, read_watermark
from bizenv.sources.drop import new_files
from bizenv.warehouse import connect

NAME = "amr_registration"


@pytest.fixture(autouse=True)
def no_stability_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests prove pickup, order and archiving; the readiness wait has its own tests
    (tests/integration/test_hostile_files.py)."""
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")


@pytest.fixture(scope="module")
def registration() -> pd.DataFrame:
    data = simulate(entities=40, months=("2024-05", "2024-06"), seed=3, defects=DefectRates.none())
    return data.registration


def drop_source(**options: object) -> dict[str, SourceConfig]:
    base = load_sources()[NAME]
    file_drop = dataclasses.replace(base.file_drop, **{"min_age_seconds": 0, **options})
    source = dataclasses.replace(base, file_drop=file_drop)
    return {NAME: source}


def dirs(settings: Settings, sources: dict[str, SourceConfig]) -> tuple[Path, Path]:
    drop_dir, archive_dir = sources[NAME].file_drop.resolve(settings.data_dir)
    drop_dir.mkdir(parents=True, exist_ok=True)
    return drop_dir, archive_dir


def department_file(frame: pd.DataFrame, path: Path, encoding: str = "gb18030",
                    mtime: float | None = None) -> Path:
    headers = CHINESE_HEADERS["registration"]
    chinese = frame[list(headers)].rename(columns=headers)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".xlsx":
        chinese.to_excel(path, index=False, sheet_name="市场监管局")
    else:
        chinese.to_csv(path, index=False, encoding=encoding)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def query(settings: Settings, sql: str, **params: object) -> list[tuple]:
    with connect(settings) as engine, engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).fetchall()]


def test_new_files_load_in_delivery_order_and_partial_uploads_and_outside_links_are_ignored(
    duckdb_settings: Settings, registration: pd.DataFrame, tmp_path: Path
) -> None:
    sources = drop_source()
    drop_dir, archive_dir = dirs(duckdb_settings, sources)
    first, second = registration.iloc[:25], registration.iloc[25:]
    now = time.time()
    department_file(first, drop_dir / "登记_202406_a.csv", "gb18030", mtime=now - 120)
    department_file(second, drop_dir / "登记_202406_b.xlsx", mtime=now - 60)
    department_file(second, drop_dir / "登记_202406_c.csv.part", "utf-8-sig")  # upload in progress
    department_file(second, drop_dir / "~$登记_202406_b.xlsx")  # Excel lock file
    department_file(second, drop_dir / ".登记_hidden.csv", "utf-8")
    department_file(second, drop_dir / "nested" / "登记_nested.csv", "utf-8")  # subdirectories are not drops
    outsider = simulate(entities=5, months=("2024-05", "2024-06"), seed=99,
                        defects=DefectRates.none()).registration
    elsewhere = department_file(outsider, tmp_path / "elsewhere" / "secret.csv", "utf-8")
    (drop_dir / "登记_outside.csv").symlink_to(elsewhere)
    (drop_dir / "登记_dangling.csv").symlink_to(tmp_path / "missing.csv")

    expected_files = ["登记_202406_a.csv", "登记_202406_b.xlsx"]
    assert [p.name for p in new_files(sources[NAME].file_drop, drop_dir)] == expected_files
    summaries = ingest_source(duckdb_settings, NAME, sources=sources)

    assert [(s.status, s.extracted, s.loaded) for s in summaries] == [
        ("loaded", len(first), len(first)), ("loaded", len(second), len(second))]
    loaded = {r[0] for r in query(duckdb_settings, "select uscc from core.registration")}
    assert loaded == set(registration["uscc"])
    assert not loaded & set(outsider["uscc"])  # the symlinked file outside the drop was never read
    batches = query(duckdb_settings, "select file_name, checksum, status from ops.batch where source = :s "
                                     "order by started_at", s=NAME)
    assert [(b[0], b[2]) for b in batches] == [(name, "loaded") for name in expected_files]
    assert all(len(b[1]) == 64 for b in batches)
    assert sorted(p.name for p in archive_dir.iterdir() if p.is_file()) == expected_files
    left = sorted(p.name for p in drop_dir.iterdir())
    assert left == sorted([".登记_hidden.csv", "nested", "~$登记_202406_b.xlsx", "登记_202406_c.csv.part",
                           "登记_dangling.csv", "登记_outside.csv"])
    assert elsewhere.exists() and (drop_dir / "登记_outside.csv").is_symlink()
    with connect(duckdb_settings) as engine:
        assert read_watermark(engine, NAME) == pd.Timestamp(registration["updated_at"].max())

    # a second run finds nothing new
    assert ingest_source(duckdb_settings, NAME, sources=sources) == []


def test_a_redelivered_file_is_recognised_by_content_and_not_loaded_twice(
    duckdb_settings: Settings, registration: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    sources = drop_source()
    drop_dir, archive_dir = dirs(duckdb_settings, sources)
    original = department_file(registration, drop_dir / "qyd_20240701.csv", "utf-8-sig")
    content = original.read_bytes()
    [first] = ingest_source(duckdb_settings, NAME, sources=sources)
    assert first.status == "loaded" and first.loaded == len(registration)

    # the department sends the same bytes again under a new name, and once more under the old one
    (drop_dir / "qyd_20240701_resend.csv").write_bytes(content)
    (drop_dir / "qyd_20240701.csv").write_bytes(content)
    with caplog.at_level("WARNING", logger="bizenv.sources"):
        again = ingest_source(duckdb_settings, NAME, sources=sources)
    assert again == []  # no batch opened for either
    assert caplog.text.count(f"same content as qyd_20240701.csv (batch {first.batch_id})") == 2
    assert query(duckdb_settings, "select count(*) from ops.batch") == [(1,)]
    assert query(duckdb_settings, "select count(*) from core.registration") == [(len(registration),)]
    redelivered = sorted(p.name for p in (archive_dir / "redelivered").iterdir())
    assert len(redelivered) == 2 and "qyd_20240701_resend.csv" in redelivered
    assert not any(p.is_file() for p in drop_dir.iterdir())

    # a changed file with the old name is new content: it loads (and changes nothing it need not)
    changed = registration.copy()
    changed.loc[0, "name"] = changed.loc[0, "name"] + "分公司"
    changed.loc[0, "updated_at"] = "2024-07-02 09:00:00"
    department_file(changed, drop_dir / "qyd_20240701.csv", "utf-8-sig")
    [third] = ingest_source(duckdb_settings, NAME, sources=sources)
    assert (third.status, third.loaded, third.duplicates) == ("loaded", 1, len(registration) - 1)
    assert {p.name for p in archive_dir.iterdir() if p.is_file()} == {
        "qyd_20240701.csv", f"qyd_20240701.{third.batch_id}.csv"}


def test_unreadable_files_are_set_aside_and_fresh_files_wait(duckdb_settings: Settings,
                                                             registration: pd.DataFrame) -> None:
    sources = drop_source()
    drop_dir, archive_dir = dirs(duckdb_settings, sources)
    (drop_dir / "broken.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    (drop_dir / "binary.csv").write_bytes(b"\x00\x81\x00garbage\xff")
    with pytest.raises(DropRejected) as info:
        ingest_source(duckdb_settings, NAME, sources=sources)
    message = str(info.value)
    assert "\n" not in message
    assert "2 file(s) rejected" in message
    assert "broken.csv: missing required column(s) 企业名称(name)" in message
    assert "binary.csv: not readable as UTF-8 or GB18030 text" in message
    assert sorted(p.name for p in (archive_dir / "rejected").iterdir()) == ["binary.csv", "broken.csv"]
    assert query(duckdb_settings, "select count(*) from ops.batch") == [(0,)]

    waiting = drop_source(min_age_seconds=300)
    department_file(registration, drop_dir / "just_arrived.csv", "utf-8")
    assert ingest_source(duckdb_settings, NAME, sources=waiting) == []
    assert (drop_dir / "just_arrived.csv").exists()
    shutil.rmtree(drop_dir)
    assert ingest_source(duckdb_settings, NAME, sources=sources) == []  # no drop directory yet: nothing to do


def test_the_cli_reports_the_loaded_files_of_a_drop_with_an_unreadable_one(
        duckdb_settings: Settings, registration: pd.DataFrame, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BIZENV_DATA_DIR", str(duckdb_settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", duckdb_settings.warehouse_url)
    drop_dir, _ = dirs(duckdb_settings, load_sources())
    settled = time.time() - 3600  # older than the source's min_age_seconds
    department_file(registration, drop_dir / "登记_202406.csv", mtime=settled)
    broken = drop_dir / "broken.csv"
    broken.write_text("foo,bar\n1,2\n", encoding="utf-8")
    os.utime(broken, (settled, settled))
    assert main(["ingest", NAME]) == 2
    out, err = capsys.readouterr()
    loaded = [json.loads(line) for line in out.splitlines()]
    assert [(s["status"], s["extracted"]) for s in loaded] == [("loaded", len(registration))]
    assert err.count("\n") == 1 and "broken.csv: missing required column(s)" in err
    assert query(duckdb_settings, "select count(*) from core.registration") == [(loaded[0]["loaded"],)]
