"""include/config/sources.yaml: the shipped entries, validation messages and connections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bizenv.sources.config import (
    DEFAULT_SOURCES_FILE,
    Connection,
    ConnectionNotFound,
    SourceConfigError,
    SourceRefused,
    get_source,
    load_sources,
    resolve_connection,
)

VALID = {
    "name": "tax_api",
    "department": "税务局",
    "dataset": "tax_filing",
    "kind": "http",
    "connection_id": "bizenv_src_tax_api",
    "schedule": "30 1 * * *",
    "incremental_field": "updateTime",
    "overlap_minutes": 60,
    "encoding": "utf-8",
    "columns": {"filingNo": "filing_id", "updateTime": "updated_at"},
    "max_bad_share": 0.05,
    "http": {"path": "/api/v1/tax/filings", "pagination": "cursor", "page_size": 100},
}


def write(tmp_path: Path, *entries: dict, raw: str | None = None) -> Path:
    path = tmp_path / "sources.yaml"
    document = raw if raw is not None else yaml.safe_dump({"sources": list(entries)}, allow_unicode=True)
    path.write_text(document, encoding="utf-8")
    return path


def test_shipped_sources_cover_every_dataset_and_kind() -> None:
    sources = load_sources()
    assert sorted(s.dataset for s in sources.values()) == sorted(
        ["registration", "tax_filing", "credit_record", "real_estate_case"])
    assert {s.kind for s in sources.values()} == {"http", "database", "file_drop"}
    assert {s.http.pagination for s in sources.values() if s.http} == {"page", "cursor"}
    for source in sources.values():
        assert source.incremental_column == "updated_at"
        assert source.schedule
        assert 0 < source.max_bad_share <= 1
        if source.kind != "file_drop":
            assert source.connection_id.startswith("bizenv_src_")
    bdc = sources["bdc_real_estate_db"]
    assert bdc.database.table == "bdc_case"
    assert bdc.incremental_field == "gxsj"
    drop = sources["amr_registration"].file_drop
    assert drop.directory and drop.archive_directory and "*.part" in drop.ignore


def test_default_path_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_SOURCES_FILE.name == "sources.yaml"
    path = write(tmp_path, VALID)
    monkeypatch.setenv("BIZENV_SOURCES_FILE", str(path))
    assert list(load_sources()) == ["tax_api"]


def test_a_valid_entry_loads_with_defaults(tmp_path: Path) -> None:
    source = load_sources(write(tmp_path, VALID))["tax_api"]
    assert source.overlap.total_seconds() == 3600
    assert source.http.pagination == "cursor"
    assert source.http.page_size == 100
    assert source.http.since_param == "updated_since"
    assert source.http.max_attempts >= 1
    assert source.columns["filingNo"] == "filing_id"


def test_incremental_field_defaults_to_the_field_mapped_to_updated_at(tmp_path: Path) -> None:
    entry = {k: v for k, v in VALID.items() if k != "incremental_field"}
    assert load_sources(write(tmp_path, entry))["tax_api"].incremental_field == "updateTime"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": "taxes"}, "unknown dataset 'taxes'"),
        ({"kind": "ftp"}, "kind must be one of http, database, file_drop"),
        ({"connection_id": None}, "missing connection_id"),
        ({"connection_id": "bad id!"}, "connection_id 'bad id!' is not valid"),
        ({"schedule": "every day"}, "schedule 'every day' is not a 5-field cron"),
        ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"max_bad_share": 1.5}, "max_bad_share must be at least 0 and at most 1"),
        ({"overlap_minutes": -5}, "overlap_minutes must be at least 0"),
        ({"overlap_minutes": "ten"}, "overlap_minutes must be an integer"),
        ({"columns": {"x": "no_such_column"}}, "columns map to unknown tax_filing column(s) no_such_column"),
        ({"columns": {"a": "uscc", "b": "uscc"}}, "columns map several department fields to uscc"),
        ({"incremental_field": "nope"}, "incremental_field 'nope' is not mapped"),
        ({"incremental_field": "filingNo"}, "maps to filing_id, which is not a timestamp"),
        ({"http": {"path": "/x", "pagination": "offset"}}, "http.pagination must be 'page' or 'cursor'"),
        ({"http": {"path": "x"}}, "http.path must start with '/'"),
        ({"http": {"path": "/x", "page_size": 0}}, "http.page_size must be at least 1"),
        ({"http": {"path": "/x", "retries": 3}}, "unknown key(s) retries in http"),
        ({"http": None}, "kind http needs an 'http' mapping"),
        ({"databse": {}}, "unknown key(s) databse in entry"),
        ({"database": {"table": "t"}}, "options 'database' given for a source of kind http"),
    ],
)
def test_invalid_entries_fail_with_one_line_naming_file_and_entry(
    tmp_path: Path, change: dict, message: str
) -> None:
    path = write(tmp_path, {**VALID, **change})
    with pytest.raises(SourceConfigError) as info:
        load_sources(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: source 'tax_api' (entry 1): ")
    assert message in text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "database needs exactly one of 'table' or 'query_file'"),
        ({"table": "t", "query_file": "q.sql"}, "database needs exactly one of 'table' or 'query_file'"),
        ({"query_file": "/nonexistent/q.sql"}, "database.query_file /nonexistent/q.sql does not exist"),
        ({"table": "t; drop table x"}, "database.table 't; drop table x' is not valid"),
        ({"table": "t", "chunk_size": 0}, "database.chunk_size must be at least 1"),
    ],
)
def test_database_options(tmp_path: Path, options: dict, message: str) -> None:
    entry = {**VALID, "kind": "database", "http": None, "database": options}
    with pytest.raises(SourceConfigError, match="entry 1") as info:
        load_sources(write(tmp_path, entry))
    assert message in str(info.value)


def test_file_drop_needs_no_connection_and_resolves_relative_dirs(tmp_path: Path) -> None:
    entry = {"name": "drop", "department": "市场监管局", "dataset": "registration", "kind": "file_drop",
             "schedule": "@hourly", "file_drop": {"directory": "drop/in", "archive_directory": "/srv/archive",
                                                   "pattern": "*.csv"}}
    source = load_sources(write(tmp_path, entry))["drop"]
    assert source.connection_id is None
    assert source.incremental_column == "updated_at"
    assert source.file_drop.pattern == ("*.csv",)
    assert ".*" in source.file_drop.ignore
    drop_dir, archive_dir = source.file_drop.resolve(tmp_path / "data")
    assert drop_dir == tmp_path / "data" / "drop" / "in"
    assert archive_dir == Path("/srv/archive")
    entry["file_drop"] = {"directory": "drop/in", "archive_directory": "drop/in"}
    with pytest.raises(SourceConfigError, match="archive_directory must differ"):
        load_sources(write(tmp_path, entry))


def test_duplicate_names_and_document_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match=r"source 'tax_api' \(entry 2\): duplicate name"):
        load_sources(write(tmp_path, VALID, VALID))
    with pytest.raises(SourceConfigError, match="expected a top-level 'sources:' list"):
        load_sources(write(tmp_path, raw="tax_api: {}\n"))
    with pytest.raises(SourceConfigError, match="not valid YAML at line 3"):
        load_sources(write(tmp_path, raw="sources:\n  - name: [unclosed\n"))
    with pytest.raises(SourceConfigError, match="entry 1: expected a mapping"):
        load_sources(write(tmp_path, raw="sources:\n  - just text\n"))
    with pytest.raises(SourceConfigError, match="cannot read"):
        load_sources(tmp_path / "missing.yaml")
    with pytest.raises(SourceRefused, match="unknown source 'nope' \\(configured: tax_api\\)"):
        get_source("nope", load_sources(write(tmp_path, VALID)))


def test_connection_from_uri_env_var() -> None:
    env = {"AIRFLOW_CONN_BIZENV_SRC_TAX_API": "https://:s3cr%2Ft@tax.example.gov.cn:8443/gateway?verify=false"}
    conn = resolve_connection("bizenv_src_tax_api", env)
    assert conn.conn_type == "https"
    assert conn.token == "s3cr/t"
    assert conn.http_base_url() == "https://tax.example.gov.cn:8443/gateway"
    assert conn.extra == {"verify": "false"}
    assert "s3cr" not in repr(conn)


def test_connection_from_json_env_var_with_token_in_extra() -> None:
    value = json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 8080,
                        "extra": {"token": "abc123"}})
    conn = resolve_connection("bizenv_src_credit_api", {"AIRFLOW_CONN_BIZENV_SRC_CREDIT_API": value})
    assert conn.token == "abc123"
    assert conn.http_base_url() == "http://127.0.0.1:8080"
    assert "abc123" not in repr(conn)


def test_database_connection_urls() -> None:
    pg = Connection.from_uri("db", "postgresql://bdc:p%40ss@10.1.2.3:5432/bdc?sslmode=require")
    assert pg.conn_type == "postgres"
    assert pg.sqlalchemy_url() == "postgresql+psycopg://bdc:p%40ss@10.1.2.3:5432/bdc?sslmode=require"
    assert "p@ss" not in repr(pg)
    assert Connection.from_uri("db", "sqlite:////var/lib/bdc.db").sqlalchemy_url() == "sqlite:////var/lib/bdc.db"
    explicit = Connection.from_json("db", json.dumps({"conn_type": "x", "extra": {"sqlalchemy_url": "sqlite://"}}))
    assert explicit.sqlalchemy_url() == "sqlite://"


def test_missing_or_malformed_connection_never_echoes_the_value() -> None:
    with pytest.raises(ConnectionNotFound, match=r"set AIRFLOW_CONN_BIZENV_SRC_X$"):
        resolve_connection("bizenv_src_x", {})
    with pytest.raises(SourceRefused) as info:
        broken = '{"conn_type": "http", "password": "topsecret"'
        resolve_connection("bizenv_src_x", {"AIRFLOW_CONN_BIZENV_SRC_X": broken})
    assert "topsecret" not in str(info.value)
    assert "not valid JSON" in str(info.value)
