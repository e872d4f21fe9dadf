"""A department server that trickles its answer (a byte every 0.2 s, far below any per-read
timeout) against the HTTP source's page deadline: the page fails after the deadline with a
clear message instead of holding the run for the whole trickle. Real local server (127.0.0.1)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bizenv.sources import SourceRefused, load_sources
from bizenv.sources.config import Connection
from bizenv.sources.http import HttpSourceError, extract_http

TOKEN = "deadline-test-token-K2"  # a throwaway token for a local test server
CONN_ID = "bizenv_src_deadline_test"
BYTE_INTERVAL = 0.2
PAGE = json.dumps({"items": [{"filingNo": "F1", "updateTime": "2024-06-01 10:00:00"}], "total": 1}).encode()


class TricklingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def trickle(self, data: bytes) -> None:
        for index in range(len(data)):
            if self.server.stopping.is_set():  # type: ignore[attr-defined]
                return
            self.wfile.write(data[index:index + 1])
            self.wfile.flush()
            time.sleep(BYTE_INTERVAL)

    def do_GET(self) -> None:
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(PAGE)}\r\n"
                "\r\n").encode()
        try:
            if self.server.mode == "headers":  # type: ignore[attr-defined]
                self.trickle(head + PAGE)
            else:
                self.wfile.write(head)
                self.wfile.flush()
                self.trickle(PAGE)
        except OSError:  # the client gave up: that is the point
            self.close_connection = True


@pytest.fixture(params=["body", "headers"])
def trickling_server(request: pytest.FixtureRequest) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TricklingHandler)
    server.daemon_threads = True
    server.mode = request.param  # type: ignore[attr-defined]
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_trickling_server_fails_the_page_after_the_deadline(trickling_server) -> None:
    base = load_sources()["tax_filing_api"]
    http = dataclasses.replace(base.http, page_size=10, connect_timeout_seconds=2.0, read_timeout_seconds=2.0,
                               page_deadline_seconds=1.0, max_attempts=2, backoff_seconds=0.0)
    source = dataclasses.replace(base, name="deadline_test", connection_id=CONN_ID, http=http)
    host, port = trickling_server.server_address[:2]
    connection = Connection.from_uri(CONN_ID, f"http://:{TOKEN}@{host}:{port}")
    waits: list[float] = []
    started = time.monotonic()
    with pytest.raises(HttpSourceError) as failed:
        list(extract_http(source, connection, None, sleep=waits.append))
    elapsed = time.monotonic() - started
    message = str(failed.value)
    assert not isinstance(failed.value, SourceRefused)  # a slow server may recover: Airflow retries the run
    assert "\n" not in message
    assert "no complete answer within the page deadline of 1 s (the server sends too slowly) on page 1" in message
    assert "gave up after 2 attempts" in message
    # two attempts of 1 s each; the whole trickle would take len(PAGE) * 0.2 s per attempt
    assert elapsed < 5.0 < len(PAGE) * BYTE_INTERVAL
    assert len(waits) == 1
