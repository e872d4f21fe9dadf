"""The HTTP source against a real local HTTPS server (127.0.0.1) whose certificate is
self-signed, generated here: it is refused at once, with one line, and never retried; the same
server is trusted once its certificate is given as the connection's CA bundle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import bizenv.sources
from bizenv.airflow import ingest as ingest_task
from bizenv.sources import SourceRefused, load_sources
from bizenv.sources.config import Connection, SourceConfig
from bizenv.sources.http import HttpRequestRefused, extract_http

TOKEN = "tls-test-token-Q7"  # a throwaway token for a local test server
CONN_ID = "bizenv_src_tls_test"
RECORDS = [{"filingNo": f"F{i}", "updateTime": "2024-06-01 10:00:00"} for i in range(3)]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class PageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.pages_served += 1  # type: ignore[attr-defined]
        payload = json.dumps({"items": RECORDS, "total": len(RECORDS)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, Path]]:
    cert_path, key_path = self_signed_certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    server.daemon_threads = True
    server.pages_served = 0  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, cert_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def tls_source() -> SourceConfig:
    base = load_sources()["tax_filing_api"]
    http = dataclasses.replace(base.http, page_size=10, backoff_seconds=0.05, connect_timeout_seconds=2.0,
                               read_timeout_seconds=2.0, max_attempts=5)
    return dataclasses.replace(base, name="tls_test", connection_id=CONN_ID, http=http)


def connection(server: ThreadingHTTPServer, query: str = "") -> Connection:
    host, port = server.server_address[:2]
    return Connection.from_uri(CONN_ID, f"https://:{TOKEN}@{host}:{port}{query}")


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_a_self_signed_certificate_is_refused_at_once_with_one_line(https_server) -> None:
    server, _ = https_server
    sleeps = Sleeps()
    with pytest.raises(HttpRequestRefused) as refused:
        list(extract_http(tls_source(), connection(server), None, sleep=sleeps))
    message = str(refused.value)
    assert isinstance(refused.value, SourceRefused)
    assert "\n" not in message
    assert message.startswith("tls_test: the TLS certificate of https://127.0.0.1:")
    assert "does not verify (self" in message and "signed certificate" in message
    assert "not retried" in message and "ca_bundle" in message
    assert TOKEN not in message
    assert sleeps == []  # no second attempt
    assert server.pages_served == 0


def test_the_ingest_task_fails_without_retry_on_an_untrusted_certificate(https_server, monkeypatch) -> None:
    server, _ = https_server

    def ingest_through_tls(*_args, **_kwargs):
        return list(extract_http(tls_source(), connection(server), None, sleep=Sleeps()))

    monkeypatch.setattr(ingest_task, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.sources, "extract_and_land", ingest_through_tls)
    with pytest.raises(AirflowFailException, match=r"TLS certificate .* does not verify"):
        ingest_task.extract_and_land("amr_registration")


def test_the_department_ca_given_as_ca_bundle_is_trusted(https_server) -> None:
    server, cert_path = https_server
    result = extract_http(tls_source(), connection(server, f"?ca_bundle={cert_path}"), None, sleep=Sleeps())
    assert sum(len(chunk) for chunk in result) == len(RECORDS)
    assert server.pages_served == 1
