"""The HTTP connector against real local servers (127.0.0.1 only).

A scripted server injects faults request by request (500/503, 429 with Retry-After, a
response slower than the client's timeout, a body cut short of its Content-Length, invalid
JSON, a short page, 401); the department API of `bizenv.simulator.department_api` serves simulated data
for the end-to-end runs of page and cursor pagination into the DuckDB warehouse.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv.ingest import BatchSummary
from bizenv.settings import CHUNK_ROWS_ENV, Settings
from bizenv.simulator.department_api import _route, serve
from bizenv.simulator.simulate import DefectRates, simulate
from bizenv.sources import ingest_source, load_sources, read_watermark
from bizenv.sources.config import Connection, SourceConfig
from bizenv.sources.http import HttpRequestRefused, HttpSourceError, RetryPolicy, extract_http, parse_retry_after
from bizenv.warehouse import connect

TOKEN = "test-token-Zx81"  # a throwaway token for a local test server
CONN_ID = "bizenv_src_test_api"


@pytest.fixture(scope="module")
def data():
    return simulate(entities=200, months=("2024-05", "2024-06"), seed=11, defects=DefectRates.none())


def department_records(data, source: SourceConfig) -> list[dict[str, str]]:
    inverse = {column: field for field, column in source.columns.items()}
    frame = data.dataset(source.dataset).sort_values("updated_at", kind="stable").rename(columns=inverse)
    return frame.to_dict(orient="records")


class FaultServer(ThreadingHTTPServer):
    """Serves `records` with page and cursor pagination; each request first takes the next step
    of `script` (None = answer normally)."""

    daemon_threads = True

    def __init__(self, records: list[dict[str, Any]], script: list[Any]) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.records = records
        self.script = list(script)
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def next_step(self, query: dict[str, str]) -> Any:
        with self.lock:
            self.requests.append(query)
            return self.script.pop(0) if self.script else None


class FaultHandler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, payload: bytes, headers: dict[str, str] | None = None,
              length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if length is not None:
            self.close_connection = True

    def page(self, query: dict[str, str]) -> dict[str, Any]:
        size = int(query.get("page_size", "10"))
        offset = int(query["cursor"]) if query.get("cursor") else (int(query.get("page", "1")) - 1) * size
        since = query.get("updated_since", "")
        rows = [r for r in self.server.records if r["updateTime"] >= since]
        items = rows[offset: offset + size]
        following = offset + len(items)
        return {"items": items, "total": len(rows), "page": offset // size + 1, "page_size": size,
                "next_cursor": str(following) if following < len(rows) else None}

    def do_GET(self) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        step = self.server.next_step(query)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" or step == "401":
            self.reply(401, b'{"error": "unauthorized"}')
            return
        kind, _, argument = (step or "").partition(":")
        if kind in ("500", "503", "404"):
            self.reply(int(kind), b'{"error": "boom"}')
            return
        if kind == "429":
            self.reply(429, b'{"error": "slow down"}', {"Retry-After": argument})
            return
        if kind == "sleep":
            time.sleep(float(argument))
        if kind == "update_first":  # the first record changes: ordered by update time, it moves last
            with self.server.lock:
                moved = dict(self.server.records.pop(0), updateTime="2099-01-01 00:00:00")
                self.server.records.append(moved)
        body = self.page(query)
        if kind == "short":  # a page with fewer items than its size while more are declared
            body["items"] = body["items"][:-2]
        if kind == "no_next":
            body.pop("next_cursor")
        payload = json.dumps(body, ensure_ascii=False).encode()
        if kind == "badjson":
            self.reply(200, payload[: len(payload) // 2])
        elif kind == "content_length":  # promise more bytes than are sent, then hang up
            self.reply(200, payload[: len(payload) // 2], length=len(payload))
        else:
            self.reply(200, payload)


@pytest.fixture
def fault_server(request: pytest.FixtureRequest, data) -> Iterator[FaultServer]:
    source = load_sources()["tax_filing_api"]
    server = FaultServer(department_records(data, source), getattr(request, "param", []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def tax_test_source(pagination: str = "page", **http: Any) -> SourceConfig:
    base = load_sources()["tax_filing_api"]
    options = {"pagination": pagination, "page_size": 25, "backoff_seconds": 0.05, "max_backoff_seconds": 0.4,
               "connect_timeout_seconds": 1.0, "read_timeout_seconds": 1.0, "max_attempts": 5, **http}
    return dataclasses.replace(base, name="tax_test", connection_id=CONN_ID,
                               http=dataclasses.replace(base.http, **options))



def connection(server: ThreadingHTTPServer) -> Connection:
    host, port = server.server_address[:2]
    return Connection.from_uri(CONN_ID, f"http://:{TOKEN}@{host}:{port}")


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize("fault_server", [["500", "429:1", "sleep:0.6", "503"]], indirect=True)
def test_retries_5xx_429_and_timeouts_then_returns_every_page(fault_server: FaultServer, data) -> None:
    sleeps = Sleeps()
    source = tax_test_source(read_timeout_seconds=0.3)
    result = extract_http(source, connection(fault_server), None, sleep=sleeps, chunk_rows=30)
    chunks = list(result)
    expected = len(data.tax_filing)
    pages = -(-expected // 25)
    assert [len(chunk) for chunk in chunks[:-1]] == [30] * (len(chunks) - 1)  # chunks cut across pages
    frame = pd.concat(chunks, ignore_index=True)
    assert len(frame) == expected
    assert result.pages == pages
    assert len(fault_server.requests) == pages + 4  # four failed attempts on page 1, then every page once
    assert result.requests == pages + 4
    assert sorted(frame["filingNo"]) == sorted(data.tax_filing["filing_id"])
    assert len(sleeps) == 4
    assert sleeps[1] == 1.0  # Retry-After honoured
    # exponential backoff with jitter: attempt n waits within [0.5, 1] x min(cap, base * 2^(n-1))
    for attempt, waited in ((1, sleeps[0]), (3, sleeps[2]), (4, sleeps[3])):
        ceiling = min(0.4, 0.05 * 2 ** (attempt - 1))
        assert 0.5 * ceiling <= waited <= ceiling


@pytest.mark.parametrize("fault_server", [["500"] * 10], indirect=True)
def test_gives_up_after_max_attempts(fault_server: FaultServer) -> None:
    sleeps = Sleeps()
    with pytest.raises(HttpSourceError) as info:
        list(extract_http(tax_test_source(max_attempts=3), connection(fault_server), None, sleep=sleeps))
    assert "HTTP 500 on page 1" in str(info.value)
    assert "gave up after 3 attempts" in str(info.value)
    assert len(fault_server.requests) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("fault_server", [["429:3600"]], indirect=True)
def test_retry_after_beyond_the_limit_fails_instead_of_waiting(fault_server: FaultServer) -> None:
    with pytest.raises(HttpSourceError, match="Retry-After 3600 s, more than the 300 s allowed"):
        list(extract_http(tax_test_source(), connection(fault_server), None, sleep=Sleeps()))
    assert len(fault_server.requests) == 1


@pytest.mark.parametrize(("fault_server", "status"), [(["401"], 401), (["404"], 404)],
                         indirect=["fault_server"])
def test_401_and_404_are_not_retried_and_never_show_the_token(fault_server: FaultServer, status: int) -> None:
    sleeps = Sleeps()
    with pytest.raises(HttpRequestRefused) as info:
        list(extract_http(tax_test_source(), connection(fault_server), None, sleep=sleeps))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"tax_test: HTTP {status} from http://127.0.0.1:")
    assert TOKEN not in message
    if status == 401:
        assert f"the token of connection {CONN_ID} was refused" in message
    assert len(fault_server.requests) == 1
    assert sleeps == []


def test_a_wrong_token_is_a_401(fault_server: FaultServer) -> None:
    host, port = fault_server.server_address[:2]
    wrong = Connection.from_uri(CONN_ID, f"http://:not-the-token@{host}:{port}")
    with pytest.raises(HttpRequestRefused, match="HTTP 401") as info:
        list(extract_http(tax_test_source(), wrong, None, sleep=Sleeps()))
    assert "not-the-token" not in str(info.value)


def test_timeouts_are_retried_then_fail(fault_server: FaultServer) -> None:
    fault_server.script = ["sleep:0.5"] * 3
    started = time.monotonic()
    with pytest.raises(HttpSourceError, match=r"timeout on page 1 .* gave up after 2 attempts"):
        list(extract_http(tax_test_source(read_timeout_seconds=0.2, max_attempts=2), connection(fault_server),
                          None, sleep=Sleeps()))
    assert len(fault_server.requests) == 2
    assert time.monotonic() - started < 3


def count(settings: Settings, sql: str) -> int:
    with connect(settings) as engine, engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def nothing_landed_or_loaded(settings: Settings) -> None:
    assert count(settings, "select count(*) from ops.batch") == 0
    assert count(settings, "select count(*) from core.tax_filing") == 0
    assert count(settings, "select count(*) from ops.watermark") == 0
    landing = Path(settings.landing_root)
    assert not landing.exists() or not any(p.is_file() for p in landing.rglob("*"))


@pytest.mark.parametrize(
    ("pagination", "script", "message", "attempts"),
    [
        ("page", [None, "badjson"], "page 2 is not valid JSON", 2),
        ("page", [None, "short"], "page 2 holds 23 records, fewer than the page size 25", 2),
        ("page", [None] + ["content_length"] * 3, "response cut short (truncated body) on page 2", 4),
        ("cursor", [None, "no_next"], "has no 'next_cursor' field", 2),
        ("cursor", [None, "badjson"], "is not valid JSON", 2),
    ],
)
def test_a_truncated_or_malformed_page_fails_and_nothing_is_landed(
    duckdb_settings: Settings, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch,
    pagination: str, script: list, message: str, attempts: int,
) -> None:
    fault_server.script = script
    source = tax_test_source(pagination, max_attempts=3)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri(fault_server))
    monkeypatch.setenv(CHUNK_ROWS_ENV, "10")  # page 1 is in the landing file when page 2 fails
    with pytest.raises(HttpSourceError) as info:
        ingest_source(duckdb_settings, "tax_test", sources={"tax_test": source}, sleep=Sleeps())
    assert message in str(info.value)
    assert "nothing loaded" in str(info.value) or "gave up" in str(info.value)
    assert len(fault_server.requests) == attempts
    nothing_landed_or_loaded(duckdb_settings)


def test_a_record_updated_between_pages_fails_the_run_for_a_retry(
        duckdb_settings: Settings, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fault_server.script = [None, "update_first"]
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri(fault_server))
    monkeypatch.setenv(CHUNK_ROWS_ENV, "10")  # found after the last page, every record in the landing file
    with pytest.raises(HttpSourceError, match=r"came on two pages \(1 repeated\): records changed during the "
                                              r"page-by-page extraction .* nothing loaded \(retry the run\)"):
        ingest_source(duckdb_settings, "tax_test", sources={"tax_test": tax_test_source()}, sleep=Sleeps())
    nothing_landed_or_loaded(duckdb_settings)


def test_a_record_the_department_delivers_twice_is_a_duplicate_not_a_page_shift(
        duckdb_settings: Settings, fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = fault_server.records[0], fault_server.records[1]
    older_second = dict(second, updateTime="2024-01-01 00:00:00")  # an earlier state of the same filing
    fault_server.records = sorted([*fault_server.records, dict(first), older_second], key=lambda r: r["updateTime"])
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri(fault_server))
    [summary] = ingest_source(duckdb_settings, "tax_test", sources={"tax_test": tax_test_source()}, sleep=Sleeps())
    assert summary.status == "loaded" and summary.extracted == len(fault_server.records)
    assert summary.extracted == summary.loaded + summary.quarantined + summary.duplicates
    assert summary.duplicates >= 2  # the repeated filing and the superseded state


def connection_uri(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://:{TOKEN}@{host}:{port}"


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("7") == 7.0
    now = pd.Timestamp("2015-10-21 07:27:00Z")
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon") is None
    policy = RetryPolicy(backoff_seconds=1, max_backoff_seconds=5)
    assert all(2.5 <= policy.backoff(4) <= 5 for _ in range(20))


# ---------------------------------------------------------------------------------------------
# End to end through the department API into the DuckDB warehouse


def loaded_rows(settings: Settings, table: str) -> int:
    return count(settings, f"select count(*) from core.{table}")


def check_summary(summary: BatchSummary) -> None:
    assert summary.status == "loaded", summary
    assert summary.extracted == summary.loaded + summary.quarantined + summary.duplicates


def test_page_pagination_incremental_end_to_end(
    duckdb_settings: Settings, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = load_sources()
    source = dataclasses.replace(base["tax_filing_api"],
                                 http=dataclasses.replace(base["tax_filing_api"].http, page_size=40))
    sources = {source.name: source}
    frame = data.tax_filing.sort_values("updated_at", kind="stable")
    cutoff = frame["updated_at"].iloc[len(frame) * 2 // 3]
    older, newer = frame[frame["updated_at"] < cutoff], frame[frame["updated_at"] >= cutoff]
    monkeypatch.setenv(CHUNK_ROWS_ENV, "15")  # landed in chunks; the watermark is the latest of all of them
    with serve({"tax_filing": older}, sources=sources) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BIZENV_SRC_TAX_API", server.connection_uri())
        first = ingest_source(duckdb_settings, source.name, sources=sources)
        assert len(first) == 1
        check_summary(first[0])
        assert first[0].loaded == len(older)
        assert server.request_count == -(-len(older) // 40)
        with connect(duckdb_settings) as engine:
            assert read_watermark(engine, source.name) == pd.Timestamp(older["updated_at"].max())

        # the department delivers more: the next run asks from watermark - overlap only
        inverse = {c: f for f, c in source.columns.items()}
        server.routes[source.http.path] = _route("tax_filing", frame, inverse)
        server.request_count = 0
        second = ingest_source(duckdb_settings, source.name, sources=sources)
        check_summary(second[0])
        assert second[0].loaded == len(newer)
        since = pd.Timestamp(older["updated_at"].max()) - source.overlap
        re_read = int((pd.to_datetime(older["updated_at"]) >= since).sum())
        assert second[0].extracted == len(newer) + re_read
        assert second[0].duplicates == re_read  # the overlap is re-read, not loaded twice
        assert loaded_rows(duckdb_settings, "tax_filing") == len(frame)
        with connect(duckdb_settings) as engine:
            assert read_watermark(engine, source.name) == pd.Timestamp(frame["updated_at"].max())
            batch = engine.connect().execute(text(
                "select watermark_from, watermark_to from ops.batch where batch_id = :b"),
                {"b": second[0].batch_id}).one()
        assert batch == (since.to_pydatetime(), pd.Timestamp(frame["updated_at"].max()).to_pydatetime())


def test_cursor_pagination_end_to_end(duckdb_settings: Settings, data,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    base = load_sources()
    source = dataclasses.replace(base["credit_record_api"],
                                 http=dataclasses.replace(base["credit_record_api"].http, page_size=4))
    sources = {source.name: source}
    expected = len(data.credit_record)
    assert expected > 4
    monkeypatch.setenv(CHUNK_ROWS_ENV, "3")  # chunks cut across the cursor's pages
    with serve(data, sources=sources) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BIZENV_SRC_CREDIT_API", server.connection_uri())
        summaries = ingest_source(duckdb_settings, source.name, sources=sources)
        assert server.request_count == -(-expected // 4)
    check_summary(summaries[0])
    assert summaries[0].loaded == expected
    assert loaded_rows(duckdb_settings, "credit_record") == expected
    assert count(duckdb_settings, "select count(*) from ops.batch where source = 'credit_record_api'") == 1


def test_department_api_checks_the_token_and_filters(data) -> None:
    import requests

    with serve(data, token="t0ken") as server:
        path = load_sources()["tax_filing_api"].http.path
        assert requests.get(server.url + path, timeout=5).status_code == 401
        headers = {"Authorization": "Bearer t0ken"}
        everything = requests.get(server.url + path, params={"page_size": 1000}, headers=headers,
                                  timeout=5).json()
        assert everything["total"] == len(data.tax_filing)
        assert set(everything["items"][0]) >= {"filingNo", "taxpayerId", "updateTime"}
        since = sorted(data.tax_filing["updated_at"])[len(data.tax_filing) // 2]
        recent = requests.get(server.url + path, params={"updated_since": since, "page_size": 1000},
                              headers=headers, timeout=5).json()
        assert recent["total"] == int((data.tax_filing["updated_at"] >= since).sum())
        assert all(item["updateTime"] >= since for item in recent["items"])
        generic = requests.get(server.url + "/api/datasets/registration", headers=headers, timeout=5).json()
        assert "uscc" in generic["items"][0]
        assert requests.get(server.url + "/nope", headers=headers, timeout=5).status_code == 404
