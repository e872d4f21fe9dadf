"""The database connector against a real SQLite file and a real PostgreSQL source database,
loading into the DuckDB warehouse: incremental runs, watermarks, overlap re-reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from bizenv.settings import CHUNK_ROWS_ENV, Settings
from bizenv.simulator.department_db import fill_department_database
from bizenv.simulator.simulate import DefectRates, simulate
from bizenv.sources import SourceConfig, ingest_source, load_sources, read_watermark
from bizenv.sources.config import Connection
from bizenv.sources.database import DatabaseSourceError, extract_database
from bizenv.warehouse import connect

CONN_ENV = "AIRFLOW_CONN_BIZENV_SRC_BDC_DB"


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    data = simulate(entities=400, months=("2024-05", "2024-06"), seed=5, defects=DefectRates.none())
    return data.real_estate_case.sort_values("updated_at", kind="stable").reset_index(drop=True)


def bdc_source(**database: object) -> SourceConfig:
    base = load_sources()["bdc_real_estate_db"]
    return dataclasses.replace(base, database=dataclasses.replace(base.database, **database))


def count(settings: Settings, sql: str, **params: object) -> int:
    with connect(settings) as engine, engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def watermark(settings: Settings, name: str):
    with connect(settings) as engine:
        return read_watermark(engine, name)


def run_incremental_scenario(settings: Settings, url: str, cases: pd.DataFrame, source: SourceConfig) -> None:
    sources = {source.name: source}
    cutoff = cases["updated_at"].iloc[len(cases) * 2 // 3]
    older, newer = cases[cases["updated_at"] < cutoff], cases[cases["updated_at"] >= cutoff]
    fill_department_database(url, {"real_estate_case": older}, sources=sources)

    first = ingest_source(settings, source.name, sources=sources)
    assert [(s.status, s.extracted, s.loaded) for s in first] == [("loaded", len(older), len(older))]
    assert watermark(settings, source.name) == pd.Timestamp(older["updated_at"].max())

    # the department commits more rows: only those (plus the overlap window) are read
    fill_department_database(url, {"real_estate_case": newer}, sources=sources, if_exists="append")
    since = pd.Timestamp(older["updated_at"].max()) - source.overlap
    overlap_rows = int((pd.to_datetime(older["updated_at"]) > since).sum())
    second = ingest_source(settings, source.name, sources=sources)
    assert len(second) == 1
    summary = second[0]
    assert summary.status == "loaded"
    assert summary.extracted == len(newer) + overlap_rows
    assert summary.loaded == len(newer)
    assert summary.duplicates == overlap_rows
    assert watermark(settings, source.name) == pd.Timestamp(cases["updated_at"].max())
    assert count(settings, "select count(*) from core.real_estate_case") == len(cases)

    # nothing new: the overlap is re-read and merged idempotently, nothing loads twice
    third = ingest_source(settings, source.name, sources=sources)
    assert all(s.loaded == 0 and s.status == "loaded" for s in third)
    assert count(settings, "select count(*) from core.real_estate_case") == len(cases)
    assert count(settings, "select count(distinct case_id) from core.real_estate_case") == len(cases)
    assert watermark(settings, source.name) == pd.Timestamp(cases["updated_at"].max())
    assert count(settings, "select count(*) from ops.batch where source = :s and status = 'loaded'",
                 s=source.name) == 2 + len(third)


def test_sqlite_source_incremental(duckdb_settings: Settings, cases: pd.DataFrame, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bdc.sqlite"
    monkeypatch.setenv(CONN_ENV, f"sqlite:///{path}")
    monkeypatch.setenv(CHUNK_ROWS_ENV, "20")  # landed in chunks; the watermark is the latest of all of them
    run_incremental_scenario(duckdb_settings, f"sqlite:///{path}", cases, bdc_source(chunk_size=7))


@pytest.mark.postgres
def test_postgres_source_incremental(duckdb_settings: Settings, postgres_database: str, cases: pd.DataFrame,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, postgres_database)
    monkeypatch.setenv(CHUNK_ROWS_ENV, "20")
    run_incremental_scenario(duckdb_settings, postgres_database, cases, bdc_source(chunk_size=7))
    engine = create_engine(postgres_database)
    with engine.connect() as conn:  # the department keeps real timestamps; the watermark compared with them
        kind = conn.execute(text("select data_type from information_schema.columns "
                                 "where table_name = 'bdc_case' and column_name = 'gxsj'")).scalar_one()
    engine.dispose()
    assert kind == "timestamp without time zone"


@pytest.mark.postgres
def test_postgres_values_come_back_as_department_text(postgres_database: str, cases: pd.DataFrame) -> None:
    source = bdc_source(chunk_size=10)
    fill_department_database(postgres_database, {"real_estate_case": cases}, sources={source.name: source})
    connection = Connection.from_uri(source.connection_id, postgres_database)
    since = pd.Timestamp(cases["updated_at"].iloc[len(cases) // 2]).to_pydatetime()
    result = extract_database(source, connection, since, chunk_rows=25)
    chunks = list(result)
    expected = cases[pd.to_datetime(cases["updated_at"]) > since]
    assert len(chunks) == -(-len(expected) // 25)
    assert all(len(chunk) == 25 for chunk in chunks[:-1])  # chunks of chunk_rows, cut across fetches
    assert result.fetches == -(-len(expected) // 10)  # the cursor fetches chunk_size rows at a time
    by_case = pd.concat(chunks, ignore_index=True).set_index("ywh")
    assert len(by_case) == len(expected)
    for row in expected.head(20).itertuples():
        got = by_case.loc[row.case_id]
        assert got["gxsj"] == row.updated_at  # 'YYYY-MM-DD HH:MM:SS', not a repr of a datetime
        assert got["bdcdyh"] == row.unit_code
        assert got["bjsj"] == row.completed_at  # '' for a missing completion
    assert list(by_case["gxsj"]) == sorted(by_case["gxsj"])


@pytest.mark.postgres
def test_a_timestamptz_source_on_a_utc_server_misses_no_hours(postgres_database: str, cases: pd.DataFrame) -> None:
    source = bdc_source()
    fill_department_database(postgres_database, {"real_estate_case": cases}, sources={source.name: source})
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # the department stores instants; its sessions default to UTC
        database = conn.execute(text("select current_database()")).scalar_one()
        conn.execute(text(f'alter database "{database}" set timezone to \'UTC\''))
        conn.execute(text("set time zone 'Asia/Shanghai'"))
        conn.execute(text("alter table bdc_case alter column gxsj type timestamptz"))
    admin.dispose()
    # an hour before a change: read in UTC, the watermark would pass over the next eight hours
    since = (pd.Timestamp(cases["updated_at"].iloc[len(cases) // 2]) - pd.Timedelta(hours=1)).to_pydatetime()
    result = extract_database(source, Connection.from_uri(source.connection_id, postgres_database), since)
    frame = pd.concat(list(result), ignore_index=True)
    expected = cases[pd.to_datetime(cases["updated_at"]) > since]
    assert len(frame) == len(expected)
    assert sorted(frame["gxsj"]) == sorted(expected["updated_at"])  # Shanghai wall time, as delivered


def test_query_file_source_and_bound_watermark(duckdb_settings: Settings, cases: pd.DataFrame, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bdc.sqlite"
    query = tmp_path / "enterprise_cases.sql"
    query.write_text("-- enterprise applicants only\nselect * from bdc_case where sqrlx = '企业';\n",
                     encoding="utf-8")
    source = bdc_source(table=None, query_file=str(query), chunk_size=5)
    fill_department_database(f"sqlite:///{path}", {"real_estate_case": cases})  # table bdc_case
    monkeypatch.setenv(CONN_ENV, f"sqlite:///{path}")
    summaries = ingest_source(duckdb_settings, source.name, sources={source.name: source})
    enterprises = int((cases["applicant_type"] == "企业").sum())
    assert [(s.extracted, s.loaded) for s in summaries] == [(enterprises, enterprises)]
    # a second run binds the watermark as a parameter of the wrapped query
    again = ingest_source(duckdb_settings, source.name, sources={source.name: source})
    assert all(s.loaded == 0 for s in again)
    assert all(s.extracted < enterprises for s in again)
    with pytest.raises(DatabaseSourceError, match="failed: OperationalError: no such column: nope"):
        list(extract_database(dataclasses.replace(source, incremental_field="nope"),
                              Connection.from_uri(source.connection_id, f"sqlite:///{path}"), None))


def test_unreachable_source_is_one_line_without_password(duckdb_settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, "postgresql://bdc:hunter2@127.0.0.1:1/bdc")
    with pytest.raises(DatabaseSourceError) as info:
        ingest_source(duckdb_settings, "bdc_real_estate_db")
    assert "\n" not in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "bizenv_src_bdc_db" in str(info.value)
    assert count(duckdb_settings, "select count(*) from ops.batch") == 0
