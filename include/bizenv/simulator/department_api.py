"""A local department REST API over simulated data, for demos and tests (`bizenv simulate serve`).

Routes: every `http` source of include/config/sources.yaml at its `http.path`, with the
department's field names (the inverse of the source's column mapping), and every dataset at
`/api/datasets/<dataset>` with the dataset's English column names.

Each route answers GET with a bearer token (`Authorization: Bearer <token>`, else 401) and:
- `updated_since=YYYY-MM-DD HH:MM:SS` (or ISO 8601): records changed at or after that time;
- page pagination: `page` (from 1) and `page_size` (at most 1000);
- cursor pagination: `cursor` (opaque, from `next_cursor`) and `page_size`.
The body is `{"items": [...], "total": N, "page": p, "page_size": s, "next_cursor": c | null}`,
ordered by change time and record key so that pages are stable.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import datetime as dt
import hmac
import json
import logging
import secrets
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from bizenv.datasets import DATASETS, get_dataset
from bizenv.sources.config import SourceConfig, load_sources
from bizenv.sources.files import read_department_file

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
DATASET_ROUTE = "/api/datasets/{dataset}"


@dataclass
class Route:
    dataset: str
    records: list[dict[str, Any]]  # sorted by change time, then key
    changed: list[str]  # the change times ('YYYY-MM-DD HH:MM:SS'), parallel to records


def _frames_from(data: Any) -> dict[str, pd.DataFrame]:
    if isinstance(data, (str, Path)):
        directory = Path(data)
        frames = {}
        for name, dataset in DATASETS.items():
            for suffix in (".csv", ".xlsx"):
                path = directory / f"{name}{suffix}"
                if path.is_file():
                    frames[name] = read_department_file(path, dataset).drop(columns="source_row")
                    break
        if not frames:
            raise FileNotFoundError(
                f"{directory}: no department files (run `bizenv simulate --out {directory}`)")
        return frames
    if hasattr(data, "dataset") and not isinstance(data, Mapping):
        return {name: data.dataset(name) for name in DATASETS}
    return {name: frame for name, frame in dict(data).items() if name in DATASETS}


def _route(dataset: str, frame: pd.DataFrame, rename: Mapping[str, str]) -> Route:
    key = get_dataset(dataset).key
    frame = frame.fillna("").astype(str)
    ordered = frame.sort_values(["updated_at", key], kind="stable")
    changed = ordered["updated_at"].tolist()
    records = ordered.rename(columns=dict(rename)).to_dict(orient="records")
    return Route(dataset=dataset, records=records, changed=changed)


def build_routes(data: Any, sources: Mapping[str, SourceConfig] | None = None) -> dict[str, Route]:
    frames = _frames_from(data)
    sources = load_sources() if sources is None else sources
    routes = {DATASET_ROUTE.format(dataset=name): _route(name, frame, {}) for name, frame in frames.items()}
    for source in sources.values():
        if source.kind == "http" and source.http is not None and source.dataset in frames:
            inverse = {column: field for field, column in source.columns.items()}
            routes[source.http.path] = _route(source.dataset, frames[source.dataset], inverse)
    return routes


def _encode_cursor(offset: int, since: str) -> str:
    raw = json.dumps({"o": offset, "s": since}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    offset = data["o"]
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("bad offset")
    return offset, str(data["s"])


def _normalize_since(value: str) -> str:
    stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


class _Handler(BaseHTTPRequestHandler):
    server: DepartmentApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("department api: " + format, *args)

    def _send(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.request_count += 1
        parts = urlsplit(self.path)
        route = self.server.routes.get(parts.path.rstrip("/") or "/")
        expected = f"Bearer {self.server.token}".encode()
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            self._send(401, {"error": "unauthorized", "message": "a valid bearer token is required"},
                       {"WWW-Authenticate": 'Bearer realm="department"'})
            return
        if route is None:
            self._send(404, {"error": "not_found", "routes": sorted(self.server.routes)})
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            size = min(int(query.get("page_size", "100")), MAX_PAGE_SIZE)
            since = _normalize_since(query["updated_since"]) if query.get("updated_since") else ""
            if query.get("cursor"):
                offset, cursor_since = _decode_cursor(query["cursor"])
                since = cursor_since
                page = offset // size + 1 if size > 0 else 1
            else:
                page = int(query.get("page", "1"))
                offset = (page - 1) * size
            if size < 1 or page < 1:
                raise ValueError("page and page_size start at 1")
        except (ValueError, KeyError, json.JSONDecodeError) as error:
            self._send(400, {"error": "bad_request", "message": str(error) or type(error).__name__})
            return
        start = bisect.bisect_left(route.changed, since) if since else 0
        matching = len(route.changed) - start
        items = route.records[start + offset: start + offset + size]
        following = offset + len(items)
        self._send(200, {
            "items": items,
            "total": matching,
            "page": page,
            "page_size": size,
            "next_cursor": _encode_cursor(following, since) if following < matching else None,
        })


class DepartmentApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: dict[str, Route], token: str) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.token = token
        self.request_count = 0
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def connection_uri(self) -> str:
        """An AIRFLOW_CONN_* value for this server (contains the token)."""
        host, port = self.server_address[:2]
        return f"http://:{self.token}@{host}:{port}"

    def start(self) -> DepartmentApiServer:
        self._thread = threading.Thread(target=self.serve_forever, name="department-api", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()

    def __exit__(self, *args: object) -> None:
        self.close()


def serve(data_dir_or_frames: Any, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
          sources: Mapping[str, SourceConfig] | None = None) -> DepartmentApiServer:
    """Start the API in a background thread and return the server (`.url`, `.token`, `.close()`;
    also a context manager). `data_dir_or_frames`: a directory written by `bizenv simulate`,
    a SimulatedData, or a mapping dataset -> frame with the dataset's column names."""
    server = DepartmentApiServer((host, port), build_routes(data_dir_or_frames, sources),
                                 token or secrets.token_urlsafe(24))
    return server.start()


def run_department_api(out_dir: str | Path, host: str = "127.0.0.1", port: int = 8080,
                       token: str | None = None) -> None:
    """`bizenv simulate serve`: serve the simulated files in `out_dir` until interrupted."""
    generated = token is None
    server = DepartmentApiServer((host, port), build_routes(out_dir), token or secrets.token_urlsafe(24))
    print(f"department API on {server.url} serving {out_dir} (Ctrl-C stops it)", flush=True)
    for path, route in sorted(server.routes.items()):
        print(f"  GET {path}  ({route.dataset}, {len(route.records)} records)")
    for source in load_sources().values():
        if source.kind == "http" and source.connection_id:
            shown = server.token if generated else "<token>"
            print(f"  export AIRFLOW_CONN_{source.connection_id.upper()}='http://:{shown}@{server.url[7:]}'")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
