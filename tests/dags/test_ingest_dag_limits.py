"""Ingest DAGs: every task is bounded in time, and one invalid entry of sources.yaml costs only
its own DAG, never the parsing of the others."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from bizenv.sources.config import DEFAULT_EXECUTION_TIMEOUT_MINUTES, load_sources
from conftest import PROJECT_ROOT

DAGS_DIR = PROJECT_ROOT / "dags"
INGEST_FILE = str(DAGS_DIR / "ingest_sources.py")


def dagbag_of(sources_file: Path | None, monkeypatch: pytest.MonkeyPatch):
    from airflow.dag_processing.dagbag import DagBag

    if sources_file is not None:
        monkeypatch.setenv("BIZENV_SOURCES_FILE", str(sources_file))
    return DagBag(dag_folder=INGEST_FILE)


def drop_entry(name: str, **changes) -> dict:
    entry = {"name": name, "department": "市场监管局", "dataset": "registration", "kind": "file_drop",
             "schedule": "15 * * * *", "file_drop": {"directory": f"drop/{name}",
                                                       "archive_directory": f"drop/{name}_archive"}}
    return {**entry, **changes}


def write_sources(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": list(entries)}, allow_unicode=True), encoding="utf-8")
    return path


def test_every_ingest_task_has_the_execution_timeout_of_its_source(monkeypatch):
    dagbag = dagbag_of(None, monkeypatch)
    sources = load_sources()
    assert dagbag.import_errors == {}
    assert {f"ingest_{name}" for name in sources} <= set(dagbag.dag_ids)
    for name, source in sources.items():
        dag = dagbag.dags[f"ingest_{name}"]
        for task in dag.tasks:
            assert task.execution_timeout is not None, f"{dag.dag_id}.{task.task_id} has no execution_timeout"
            assert task.execution_timeout == source.execution_timeout
    assert all(s.execution_timeout == dt.timedelta(minutes=DEFAULT_EXECUTION_TIMEOUT_MINUTES)
               for s in sources.values())


def test_execution_timeout_is_configurable_per_source(tmp_path, monkeypatch):
    path = write_sources(tmp_path, drop_entry("quick", execution_timeout_minutes=7), drop_entry("default"))
    dagbag = dagbag_of(path, monkeypatch)
    assert dagbag.import_errors == {}
    quick, default = dagbag.dags["ingest_quick"].tasks, dagbag.dags["ingest_default"].tasks
    assert len(quick) == len(default) == 4
    assert {task.execution_timeout for task in quick} == {dt.timedelta(minutes=7)}
    assert {task.execution_timeout for task in default} == {
        dt.timedelta(minutes=DEFAULT_EXECUTION_TIMEOUT_MINUTES)}


@pytest.mark.parametrize("bad", [
    {"schedule": "99 99 * * *"},
    {"file_drop": {"directory": "../../etc", "archive_directory": "drop/x_archive"}},
    {"execution_timeout_minutes": 0},
], ids=["cron", "drop-directory", "timeout"])
def test_an_invalid_entry_is_skipped_with_one_line_and_the_others_keep_their_dags(tmp_path, monkeypatch, bad):
    path = write_sources(tmp_path, drop_entry("good_one"), drop_entry("broken", **bad), drop_entry("good_two"))
    dagbag = dagbag_of(path, monkeypatch)
    assert dagbag.import_errors == {}
    assert {"ingest_good_one", "ingest_good_two"} <= set(dagbag.dag_ids)
    assert "ingest_broken" not in dagbag.dag_ids
    [warning] = [w for w in dagbag.captured_warnings.get(INGEST_FILE, ()) if "broken" in w]
    assert "\n" not in warning
    assert f"{path}: source 'broken' (entry 2): " in warning
    assert "no DAG for this entry" in warning
