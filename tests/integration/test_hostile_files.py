"""Hostile and broken department deliveries end to end: NUL characters and 更新时间 in the future
on both warehouses; drop files still being written, `.xls` and unknown files, and two runs
over the same drop directory."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv import codes
from bizenv.datasets import REGISTRATION
from bizenv.ingest import ingest_file
from bizenv.settings import Settings
from bizenv.sources import DropRejected, SourceConfig, SourceRefused, ingest_source, load_sources
from bizenv.sources import drop as drop_module
from bizenv.sources.drop import claimed, new_files, stable_seconds
from bizenv.warehouse import connect

NAME = "amr_registration"
HEADERS = [c.header_zh for c in REGISTRATION.columns]
FIRST = codes.make_uscc("91", "152921", "MA0N0101")
SECOND = codes.make_uscc("91", "152922", "MA0N0102")
THIRD = codes.make_uscc("91", "152923", "MA0N0103")


def row(uscc: str, name: str, region: str, updated: str = "2024-06-30 10:00:00") -> list[str]:
    return [uscc, "", name, "企业", "张三", "", region, "I6510", "100", "2024-06-03", "2024-06-03 09:00:00",
            "2024-06-03 11:00:00", "全程电子化", "", "存续", "", updated]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding=encoding)
    return path


def query(settings: Settings, sql: str, **params: object) -> list[tuple]:
    with connect(settings) as engine, engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).fetchall()]


def reconciles(summary) -> bool:
    return summary.extracted == summary.loaded + summary.quarantined + summary.duplicates


def test_a_nul_character_quarantines_its_row_and_the_others_load_on_every_run(warehouse_settings, tmp_path):
    path = write_csv(tmp_path / "登记_nul.csv", [
        row(FIRST, "甲有限公司", "152921"), row(SECOND, "乙\x00有限公司", "152922"),
        row(THIRD, "丙有限公司", "152923")])
    for run in (1, 2):
        summary = ingest_file(warehouse_settings, "registration", path, max_bad_share=0.5)
        assert (summary.status, summary.extracted, summary.quarantined) == ("loaded", 3, 1), f"run {run}"
        assert reconciles(summary)
    assert {r[0] for r in query(warehouse_settings, "select uscc from core.registration")} == {FIRST, THIRD}
    quarantined = query(warehouse_settings, "select q.source_row, q.record_key, q.failures, q.reason_en, b.file_name "
                                            "from quarantine.registration q join ops.batch b using (batch_id)")
    assert len(quarantined) == 2  # one per run
    for source_row, key, failures, reason, file_name in quarantined:
        assert (source_row, key, file_name) == (3, SECOND, "登记_nul.csv")
        assert [(f["field"], f["rule"]) for f in json.loads(failures)] == [("name", "nul_byte")]
        assert reason == "name '乙\\\\x00有限公司': contains a NUL character: the value is corrupt"
    assert query(warehouse_settings, "select status from ops.batch") == [("loaded",), ("loaded",)]


def test_an_update_time_in_the_future_is_quarantined_so_the_correction_becomes_current(warehouse_settings,
                                                                                        tmp_path):
    future = write_csv(tmp_path / "登记_future.csv", [
        row(FIRST, "甲有限公司", "152921", updated="2099-01-01 00:00:00"),
        row(SECOND, "乙有限公司", "152922", updated="9999-12-31 23:59:59"),
        row(THIRD, "丙有限公司", "152923")])
    summary = ingest_file(warehouse_settings, "registration", future, max_bad_share=0.9)
    assert (summary.status, summary.loaded, summary.quarantined) == ("loaded", 1, 2)
    failures = query(warehouse_settings, "select source_row, failures, reason_zh from quarantine.registration "
                                         "order by source_row")
    assert [(r[0], [(f["field"], f["rule"]) for f in json.loads(r[1])]) for r in failures] == [
        (2, [("updated_at", "updated_in_future")]), (3, [("updated_at", "updated_in_future")])]
    assert failures[0][2] == "更新时间「2099-01-01 00:00:00」：更新时间晚于当前时间"

    corrected = write_csv(tmp_path / "登记_corrected.csv", [
        row(FIRST, "甲科技有限公司", "152921", updated="2024-07-01 09:00:00")])
    assert ingest_file(warehouse_settings, "registration", corrected).loaded == 1
    assert query(warehouse_settings, "select name from core.registration where uscc = :u", u=FIRST) == [
        ("甲科技有限公司",)]


# --- file drops ------------------------------------------------------------------------------


def drop_source(**options: object) -> dict[str, SourceConfig]:
    base = load_sources()[NAME]
    file_drop = dataclasses.replace(base.file_drop, **{"min_age_seconds": 0, **options})
    return {NAME: dataclasses.replace(base, file_drop=file_drop)}


def dirs(settings: Settings, sources: dict[str, SourceConfig]) -> tuple[Path, Path]:
    drop_dir, archive_dir = sources[NAME].file_drop.resolve(settings.data_dir)
    drop_dir.mkdir(parents=True, exist_ok=True)
    return drop_dir, archive_dir


def test_a_partly_written_file_with_an_old_time_is_left_until_its_size_stays_the_same(duckdb_settings, tmp_path):
    sources = drop_source()
    options = sources[NAME].file_drop
    drop_dir, _ = dirs(duckdb_settings, sources)
    complete = write_csv(tmp_path / "full.csv", [row(FIRST, "甲有限公司", "152921"),
                                                 row(SECOND, "乙有限公司", "152922")])
    data = complete.read_bytes()
    partial = drop_dir / "登记_copying.csv"
    partial.write_bytes(data[: len(data) // 2])
    an_hour_ago = time.time() - 3600
    os.utime(partial, (an_hour_ago, an_hour_ago))  # what `cp -p` and `rsync -t` leave while copying
    waited: list[float] = []

    def copy_goes_on(seconds: float) -> None:
        waited.append(seconds)
        partial.write_bytes(data)
        os.utime(partial, (an_hour_ago, an_hour_ago))

    assert new_files(options, drop_dir, stable_for=30, sleep=copy_goes_on) == []
    assert waited == [30]
    assert new_files(options, drop_dir, stable_for=30, sleep=waited.append) == [partial]  # settled now
    assert waited == [30, 30]


def test_a_done_marker_makes_a_file_ready_at_once_and_goes_with_it(duckdb_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "3600")
    sources = drop_source(min_age_seconds=3600)  # the marker also overrides the minimum age
    drop_dir, archive_dir = dirs(duckdb_settings, sources)
    path = write_csv(drop_dir / "登记_marked.csv", [row(FIRST, "甲有限公司", "152921")])
    unmarked = write_csv(drop_dir / "登记_unmarked.csv", [row(FIRST, "甲有限公司", "152921")])
    (drop_dir / "登记_marked.csv.done").touch()

    def no_waiting(seconds: float) -> None:
        raise AssertionError(f"waited {seconds} s for a file with a .done marker")

    assert new_files(sources[NAME].file_drop, drop_dir, sleep=no_waiting) == [path]
    started = time.monotonic()
    [summary] = ingest_source(duckdb_settings, NAME, sources=sources)
    assert time.monotonic() - started < 60
    assert summary.status == "loaded" and summary.loaded == 1
    assert sorted(p.name for p in drop_dir.iterdir()) == [unmarked.name]  # too young, no marker
    assert (archive_dir / "登记_marked.csv").exists()


def test_the_stability_wait_defaults_to_30_seconds_and_is_configurable(monkeypatch):
    options = load_sources()[NAME].file_drop
    monkeypatch.delenv("BIZENV_DROP_STABLE_SECONDS", raising=False)
    assert stable_seconds(options) == 30
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "2.5")
    assert stable_seconds(options) == 2.5
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "soon")
    with pytest.raises(SourceRefused, match=r"^BIZENV_DROP_STABLE_SECONDS='soon' is not a number of seconds >= 0$"):
        stable_seconds(options)


def test_xls_files_are_refused_by_name_and_unknown_files_are_logged(duckdb_settings, monkeypatch, caplog):
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")
    sources = drop_source()
    drop_dir, archive_dir = dirs(duckdb_settings, sources)
    (drop_dir / "登记_2003.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    (drop_dir / "说明.txt").write_text("见附件", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bizenv.sources"), pytest.raises(DropRejected) as info:
        ingest_source(duckdb_settings, NAME, sources=sources)
    assert str(info.value).endswith("登记_2003.xls: an Excel 97-2003 workbook (.xls) cannot be read here; "
                                    "save it as .xlsx or CSV and deliver it again")
    assert (archive_dir / "rejected" / "登记_2003.xls").exists()
    assert f"{drop_dir / '说明.txt'}: not taken, its name matches none of the source's patterns (*.csv, *.xlsx)" \
        in caplog.messages
    assert (drop_dir / "说明.txt").exists()


def test_a_resident_id_in_a_file_name_is_masked_in_messages_logs_batches_and_the_archive(
    duckdb_settings, monkeypatch, caplog, capsys
):
    """Departments name files after people: the ID in a file name is masked wherever the name
    goes (the refusal, the log, ops.batch.file_name, the archived file's name)."""
    person = "110101199003071234"
    assert codes.looks_like_resident_id(person)
    masked = codes.mask_resident_id(person)
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")
    sources = drop_source()
    drop_dir, archive_dir = dirs(duckdb_settings, sources)
    write_csv(drop_dir / f"登记_{person}.csv", [row(FIRST, "甲有限公司", "152921")])
    (drop_dir / f"税务_{person}.csv").write_text("只有一列\n1\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bizenv"), pytest.raises(DropRejected) as info:
        ingest_source(duckdb_settings, NAME, sources=sources)
    assert f"税务_{masked}.csv: missing required column" in str(info.value)
    [(file_name,)] = query(duckdb_settings, "select file_name from ops.batch")
    assert file_name == f"登记_{masked}.csv"
    archived = sorted(p.relative_to(archive_dir).as_posix() for p in archive_dir.rglob("*.csv"))
    assert len(archived) == 2 and all(masked in name for name in archived)
    everything = "\n".join([str(info.value), *caplog.messages, *archived, *capsys.readouterr()])
    assert person not in everything


def test_a_file_another_run_is_processing_is_skipped_with_one_line(duckdb_settings, monkeypatch, caplog):
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")
    sources = drop_source()
    drop_dir, _ = dirs(duckdb_settings, sources)
    path = write_csv(drop_dir / "登记_busy.csv", [row(FIRST, "甲有限公司", "152921")])
    with claimed(path) as ours:  # the other run
        assert ours
        with caplog.at_level(logging.WARNING, logger="bizenv.sources"):
            assert ingest_source(duckdb_settings, NAME, sources=sources) == []
        assert f"{path}: skipped, another run is processing it" in caplog.messages
        assert path.exists()
    [summary] = ingest_source(duckdb_settings, NAME, sources=sources)  # released: taken now
    assert summary.loaded == 1
    assert [p.name for p in drop_dir.iterdir()] == []  # no claim file left behind


def test_a_file_another_run_took_after_the_listing_is_skipped_not_errno_2(duckdb_settings, monkeypatch, caplog):
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")
    sources = drop_source()
    drop_dir, _ = dirs(duckdb_settings, sources)
    path = write_csv(drop_dir / "登记_raced.csv", [row(FIRST, "甲有限公司", "152921")])
    listing = new_files(sources[NAME].file_drop, drop_dir)  # this run lists the file ...
    assert ingest_source(duckdb_settings, NAME, sources=sources)[0].loaded == 1  # ... the other takes it
    monkeypatch.setattr(drop_module, "new_files", lambda *args, **kwargs: listing)
    with caplog.at_level(logging.WARNING, logger="bizenv.sources"):
        assert ingest_source(duckdb_settings, NAME, sources=sources) == []
    assert f"{path}: skipped, another run has taken it already" in caplog.messages
    assert [p.name for p in drop_dir.iterdir()] == []
    assert query(duckdb_settings, "select count(*) from ops.batch") == [(1,)]


@pytest.mark.postgres
def test_two_processes_over_one_drop_directory_take_each_file_once(postgres_settings, tmp_path):
    sources = drop_source()
    drop_dir, archive_dir = dirs(postgres_settings, sources)
    names = [f"登记_{i}.csv" for i in range(6)]
    for i, name in enumerate(names):
        uscc = codes.make_uscc("91", "152921", f"MA0N{i:04d}")
        path = write_csv(drop_dir / name, [row(uscc, f"企业{i}有限公司", "152921")])
        settled = time.time() - 3600 + i  # older than the source's min_age_seconds, in delivery order
        os.utime(path, (settled, settled))
    env = {**os.environ, "BIZENV_DATA_DIR": str(postgres_settings.data_dir),
           "BIZENV_WAREHOUSE_URL": postgres_settings.warehouse_url, "BIZENV_DROP_STABLE_SECONDS": "0",
           "BIZENV_LANDING_ROOT": postgres_settings.landing_root}
    runs = [subprocess.Popen([sys.executable, "-m", "bizenv.cli", "ingest", NAME], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert "Errno" not in err and "Traceback" not in err
    loaded = query(postgres_settings, "select file_name from ops.batch where status = 'loaded'")
    assert sorted(r[0] for r in loaded) == sorted(names)  # every file once, none twice
    assert sorted(p.name for p in archive_dir.iterdir() if p.is_file()) == sorted(names)
    assert [p.name for p in drop_dir.iterdir()] == []
