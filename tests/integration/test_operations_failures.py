"""Unwritable directories and a full disk, for real (root-proof, see fs_faults.py), on DuckDB
and PostgreSQL: the CLI ends with one line naming the path and a non-zero exit code, the
Airflow task fails at once with that line, and a full disk under Data Docs costs the docs only,
never the batch."""

from __future__ import annotations

import dataclasses
import errno
import logging
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from fs_faults import full_disk, read_only
from sqlalchemy import text

import bizenv.sources
from bizenv.airflow import ingest as ingest_task
from bizenv.cli import main
from bizenv.ingest import ingest_file
from bizenv.settings import Settings
from bizenv.simulator.simulate import DefectRates, simulate, write_files
from bizenv.warehouse import make_engine

PII_KEY = "0123456789abcdef" * 4  # a test key: no real personal data is hashed with it


@pytest.fixture(scope="module")
def department_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    data = simulate(entities=25, months=("2024-06", "2024-06"), seed=5, defects=DefectRates.none())
    return write_files(data, tmp_path_factory.mktemp("files"))


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, warehouse_settings: Settings, tmp_path: Path):
    """The CLI on the test's warehouse, with a data directory of its own."""
    data_dir = tmp_path / "cli-data"
    for variable in ("BIZENV_LANDING_ROOT", "BIZENV_DOCS_DIR", "BIZENV_REPORTS_DIR", "BIZENV_PII_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("BIZENV_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_settings.warehouse_url)
    monkeypatch.setenv("BIZENV_PII_KEY", PII_KEY)
    return data_dir


def one_line_error(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert "Traceback" not in err
    assert err.startswith("error: ")
    assert str(path) in err, err
    return err


def batches(settings: Settings) -> list[tuple[str, str]]:
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("select status, reason from ops.batch"))]
    finally:
        engine.dispose()


def test_read_only_data_directory_before_db_upgrade(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BIZENV_DATA_DIR", str(data_dir))
    for variable in ("BIZENV_WAREHOUSE_URL", "BIZENV_PII_KEY", "BIZENV_PII_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    with read_only(data_dir):
        assert main(["db", "upgrade"]) == 1
    one_line_error(capsys, data_dir)


def test_read_only_data_directory_fails_the_ingest_with_one_line(
        cli_env, warehouse_settings, department_files, capsys):
    with read_only(cli_env):
        assert main(["ingest-file", "registration", str(department_files["registration"])]) == 1
    err = one_line_error(capsys, cli_env / "landing")
    assert "BIZENV_LANDING_ROOT" in err
    [(status, reason)] = batches(warehouse_settings)
    assert status == "failed" and str(cli_env / "landing") in reason


def test_read_only_landing_root_fails_the_ingest_with_one_line(
        cli_env, warehouse_settings, department_files, tmp_path, monkeypatch, capsys):
    landing = tmp_path / "landing"
    monkeypatch.setenv("BIZENV_LANDING_ROOT", str(landing))
    with read_only(landing):
        assert main(["ingest-file", "registration", str(department_files["registration"])]) == 1
    assert "BIZENV_LANDING_ROOT" in one_line_error(capsys, landing)
    assert [status for status, _ in batches(warehouse_settings)] == ["failed"]
    # the same file loads once the landing root is writable again
    assert main(["ingest-file", "registration", str(department_files["registration"])]) == 0


def test_quarantine_export_into_a_read_only_directory(cli_env, tmp_path, capsys):
    out = tmp_path / "feedback"
    with read_only(out):
        assert main(["quarantine", "export", "--dataset", "registration", "--month", "2024-06",
                     "--out", str(out)]) == 1
        one_line_error(capsys, out)
        assert main(["quarantine", "export", "--department", "市场监管局", "--month", "2024-06",
                     "--out", str(out / "2024-06")]) == 1
        one_line_error(capsys, out / "2024-06")


def test_a_full_disk_under_data_docs_never_fails_the_batch(
        warehouse_settings, department_files, tmp_path, monkeypatch, caplog):
    docs = tmp_path / "docs"
    settings = dataclasses.replace(warehouse_settings, docs_dir=docs)
    with full_disk(docs, monkeypatch), caplog.at_level(logging.WARNING, logger="bizenv.validate"):
        summary = ingest_file(settings, "registration", department_files["registration"])
    assert summary.status == "loaded"
    assert summary.loaded > 0
    assert summary.extracted == summary.loaded + summary.quarantined + summary.duplicates
    warnings = [r.getMessage() for r in caplog.records if r.name == "bizenv.validate"]
    assert any("Data Docs not written" in m and str(docs) in m and "No space left" in m for m in warnings)
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from core.registration")).scalar_one() == summary.loaded
    finally:
        engine.dispose()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC], ids=errno.errorcode.get)
def test_the_ingest_task_fails_at_once_naming_the_path(monkeypatch, code):
    path = "/srv/bizenv/landing/registration/2024/06/30"

    def failing_ingest(*_args, **_kwargs):
        raise OSError(code, "simulated", path)

    monkeypatch.setattr(ingest_task, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.sources, "extract_and_land", failing_ingest)
    with pytest.raises(AirflowFailException) as failed:
        ingest_task.extract_and_land("amr_registration")
    message = str(failed.value)
    assert "\n" not in message and path in message and message.startswith("amr_registration: ")
