"""sources.yaml through its pydantic models: schedules croniter can compute, drop directories
inside the data directory, patterns that name files only, time limits; every refusal one line
naming the file, the entry and the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bizenv.sources.config import (
    DEFAULT_EXECUTION_TIMEOUT_MINUTES,
    DEFAULT_PAGE_DEADLINE_SECONDS,
    SourceConfigError,
    SourceRefused,
    check_schedule,
    get_source,
    load_sources,
    load_sources_checked,
)

DROP = {"name": "amr_drop", "department": "市场监管局", "dataset": "registration", "kind": "file_drop",
        "schedule": "15 * * * *", "file_drop": {"directory": "drop/registration",
                                                  "archive_directory": "drop/registration_archive"}}
HTTP = {"name": "tax_api", "department": "税务局", "dataset": "tax_filing", "kind": "http",
        "connection_id": "bizenv_src_tax_api", "schedule": "30 1 * * *", "incremental_field": "updateTime",
        "columns": {"filingNo": "filing_id", "updateTime": "updated_at"}, "http": {"path": "/api/filings"}}


def write(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": list(entries)}, allow_unicode=True), encoding="utf-8")
    return path


def refusal(tmp_path: Path, entry: dict) -> str:
    path = write(tmp_path, entry)
    with pytest.raises(SourceConfigError) as info:
        load_sources(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: source {entry['name']!r} (entry 1): "), message
    return message


def with_drop(**options) -> dict:
    return {**DROP, "file_drop": {**DROP["file_drop"], **options}}


@pytest.mark.parametrize("schedule", ["99 99 * * *", "0 24 * * *", "61 1 * * *", "0 0 32 * *", "0 0 * 13 *",
                                      "0 0 * * * *", "* * *", "@sometimes"])
def test_a_cron_croniter_cannot_compute_is_refused_naming_the_source(tmp_path, schedule):
    message = refusal(tmp_path, {**DROP, "schedule": schedule})
    assert f"schedule {schedule!r} is not a 5-field cron expression" in message


@pytest.mark.parametrize("schedule", ["*/5 1-3 * * MON-FRI", "0 2 1 * *", "@daily", None])
def test_valid_schedules_load(tmp_path, schedule):
    assert load_sources(write(tmp_path, {**DROP, "schedule": schedule}))["amr_drop"].schedule == schedule
    assert check_schedule(schedule) == schedule


@pytest.mark.parametrize(("options", "message"), [
    ({"directory": "../outside"}, "file_drop.directory '../outside' contains '..'"),
    ({"directory": "drop/../../etc"}, "file_drop.directory 'drop/../../etc' contains '..'"),
    ({"directory": "drop\\..\\..\\etc"}, "contains '..'"),
    ({"directory": "/etc"}, "file_drop.directory '/etc' resolves to /etc, which is not a directory inside"),
    ({"directory": "."}, "file_drop.directory '.' resolves to"),
    ({"directory": "drop/*"}, "file_drop.directory 'drop/*' contains a glob character"),
    ({"directory": "drop/[ab]"}, "contains a glob character"),
    ({"archive_directory": "../archive"}, "file_drop.archive_directory '../archive' contains '..'"),
    ({"archive_directory": "archive?"}, "file_drop.archive_directory 'archive?' contains a glob character"),
    ({"pattern": "../*.csv"}, "file_drop.pattern '../*.csv' may not contain a path separator or '..'"),
    ({"pattern": ["*.csv", "sub/*.csv"]}, "file_drop.pattern 'sub/*.csv' may not contain a path separator"),
    ({"pattern": "..csv"}, "may not contain a path separator or '..'"),
    ({"pattern": []}, "file_drop.pattern must be a glob pattern or a list of them"),
    ({"ignore": "/tmp/*"}, "file_drop.ignore '/tmp/*' may not contain a path separator"),
    ({"min_age_seconds": -1}, "file_drop.min_age_seconds must be at least 0, got -1"),
    ({"min_age_seconds": "soon"}, "file_drop.min_age_seconds must be a number, got 'soon'"),
    ({"recurse": True}, "unknown key(s) recurse in file_drop"),
])
def test_drop_directories_stay_inside_the_data_directory(tmp_path, monkeypatch, options, message):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path / "data"))
    assert message in refusal(tmp_path, with_drop(**options))


def test_an_absolute_drop_directory_inside_the_data_directory_loads(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("BIZENV_DATA_DIR", str(data))
    source = load_sources(write(tmp_path, with_drop(directory=str(data / "drop" / "amr"),
                                                    archive_directory="/srv/archive/amr")))["amr_drop"]
    assert source.file_drop.resolve(data) == (data / "drop" / "amr", Path("/srv/archive/amr"))


def test_the_data_directory_of_the_run_is_checked_again(tmp_path, monkeypatch):
    """The data directory at run time may differ from the one at load time: resolve refuses a
    drop directory outside it, as a refusal (never retried)."""
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path / "data"))
    source = load_sources(write(tmp_path, with_drop(directory=str(tmp_path / "data" / "drop"))))["amr_drop"]
    with pytest.raises(SourceConfigError, match="which is not a directory inside the data directory") as info:
        source.file_drop.resolve(tmp_path / "other")
    assert isinstance(info.value, SourceRefused)
    moved = dataclasses.replace(source.file_drop, directory="$HOME/../../etc")
    with pytest.raises(SourceConfigError):
        moved.resolve(tmp_path / "data")


@pytest.mark.parametrize(("change", "message"), [
    ({"execution_timeout_minutes": 0}, "execution_timeout_minutes must be at least 1 and at most 1440, got 0"),
    ({"execution_timeout_minutes": "1h"}, "execution_timeout_minutes must be an integer, got '1h'"),
    ({"http": {"path": "/x", "page_deadline_seconds": 0}}, "http.page_deadline_seconds must be at least 0.001"),
    ({"http": {"path": "/x", "page_deadline_seconds": "5m"}}, "http.page_deadline_seconds must be a number"),
    ({"http": {"path": "/x", "max_attempts": True}}, "http.max_attempts must be an integer, got True"),
    ({"http": {"path": "/x", "max_attempts": 50}}, "http.max_attempts must be at least 1 and at most 20, got 50"),
    ({"http": {"path": "/x", "items_field": ""}}, "http.items_field must be a non-empty string"),
    ({"department": 7}, "department must be a non-empty string, got 7"),
    ({"name": None}, "name must be a non-empty string"),
])
def test_time_limits_and_types_are_validated(tmp_path, change, message):
    path = write(tmp_path, {**HTTP, **change})
    with pytest.raises(SourceConfigError) as info:
        load_sources(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_time_limits_have_defaults_and_can_be_set(tmp_path):
    source = load_sources(write(tmp_path, HTTP))["tax_api"]
    assert source.execution_timeout_minutes == DEFAULT_EXECUTION_TIMEOUT_MINUTES
    assert source.http.page_deadline_seconds == DEFAULT_PAGE_DEADLINE_SECONDS
    custom = {**HTTP, "execution_timeout_minutes": 30, "http": {"path": "/x", "page_deadline_seconds": 45}}
    source = load_sources(write(tmp_path, custom))["tax_api"]
    assert source.execution_timeout.total_seconds() == 30 * 60
    assert source.http.page_deadline_seconds == 45.0


def test_checked_loading_keeps_the_valid_entries_and_names_each_bad_one(tmp_path):
    path = write(tmp_path, DROP, {**HTTP, "schedule": "99 99 * * *"}, "just text", HTTP, DROP)
    sources, errors = load_sources_checked(path)
    assert list(sources) == ["amr_drop", "tax_api"]
    assert [str(e).split(": ", 2)[1] for e in errors] == [
        "source 'tax_api' (entry 2)", "entry 3", "source 'amr_drop' (entry 5)"]
    assert all("\n" not in str(e) for e in errors)
    with pytest.raises(SourceConfigError, match=r"entry 2\): schedule '99 99 \* \* \*'"):
        load_sources(path)


def test_a_task_of_a_good_source_runs_beside_a_bad_entry(tmp_path, monkeypatch):
    path = write(tmp_path, HTTP, {**DROP, "schedule": "99 99 * * *"})
    monkeypatch.setenv("BIZENV_SOURCES_FILE", str(path))
    assert get_source("tax_api").dataset == "tax_filing"
    with pytest.raises(SourceConfigError, match="source 'amr_drop' \\(entry 2\\): schedule"):
        get_source("amr_drop")
    with pytest.raises(SourceRefused, match=r"unknown source 'nope'.*1 invalid entry"):
        get_source("nope")
