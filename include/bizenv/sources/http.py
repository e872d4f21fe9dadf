"""Department REST APIs: page/size or cursor pagination, bearer token, retries with backoff.

Pages are read as the extraction is iterated and handed on in chunks of BIZENV_CHUNK_ROWS
records, so memory stays bounded whatever the result's size. Every page is checked as it
arrives and the counts after the last one, before the iteration ends: a truncated or malformed
page raises from it, which drops whatever was landed of it, so nothing half-read ever becomes
a batch or reaches the warehouse.

Retried (bounded by `max_attempts`, exponential backoff with jitter): HTTP 5xx, 429 (waiting
at least its Retry-After), connection errors, timeouts, a page not complete within its
deadline and bodies cut short of their Content-Length. Not retried: 401/403/404 and other
4xx, a TLS certificate that does not verify (a self-signed or unknown CA, a wrong host name:
asking again cannot change the certificate, and it must never be accepted unverified), and a
body that is not the expected JSON (a server bug does not heal by asking again). The token is
sent in the Authorization header only and never appears in a message.

A department CA that is not in the system store is given as the connection's extra
`ca_bundle` (a PEM file); verification cannot be switched off.

`read_timeout_seconds` bounds each read only, and a server that sends a byte now and then
never trips it: `page_deadline_seconds` bounds the whole request (connect, TLS handshake,
headers and body), by shutting the connection's socket down when it passes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import logging
import random
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from bizenv.sources.config import Connection, HttpOptions, SourceConfig, SourceError, SourceRefused
from bizenv.sources.frames import FrameStream, records_to_frame

log = logging.getLogger(__name__)

_REASONS = {
    401: "unauthorized: the token of connection {conn} was refused",
    403: "forbidden: the token of connection {conn} may not read this resource",
    404: "not found: check http.path of the source and the host of connection {conn}",
}
_RETRYABLE_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HttpSourceError(SourceError):
    """The extraction failed; nothing of it may be landed."""


class HttpRequestRefused(SourceRefused):
    """The API answered 4xx (other than 429), the connection has no token or the server's TLS
    certificate does not verify."""


class PageDeadline:
    """Ends a request that outlives its deadline by shutting down the sockets of the session's
    connections: a blocked read then returns at once, whatever the per-read timeout."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.expired = False

    def watch(self, sock: socket.socket | None) -> None:
        if sock is not None:
            with self._lock:
                self._sockets.add(sock)

    def start(self, seconds: float) -> None:
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self.expired = True
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # closed already, or the plain socket a TLS one took over
                sock.shutdown(socket.SHUT_RDWR)


def _watched_pools(deadline: PageDeadline) -> dict[str, type]:
    """urllib3 pool classes whose connections register their sockets with `deadline` (the
    plain one as soon as it exists, so a stalled TLS handshake is covered too)."""

    class WatchedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    class WatchedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    class WatchedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    return {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    def __init__(self, deadline: PageDeadline, **kwargs: Any) -> None:
        self.deadline = deadline  # before HTTPAdapter.__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _watched_pools(self.deadline)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _watched_pools(self.deadline)
        return manager


def certificate_problem(error: BaseException) -> str | None:
    """What certificate verification said, when that is why the TLS handshake failed."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return item.verify_message or item.reason or "certificate verify failed"
        pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return None


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_options(cls, options: HttpOptions, sleep: Callable[[float], None] | None = None,
                     rng: random.Random | None = None) -> RetryPolicy:
        return cls(options.max_attempts, options.backoff_seconds, options.max_backoff_seconds,
                   options.max_retry_after_seconds, time.sleep if sleep is None else sleep,
                   random.Random() if rng is None else rng)  # noqa: S311 - jitter, not cryptography

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * self.rng.random())


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class HttpExtractor:
    def __init__(self, source: SourceConfig, connection: Connection, *,
                 sleep: Callable[[float], None] | None = None, rng: random.Random | None = None,
                 session: requests.Session | None = None) -> None:
        if source.http is None:
            raise SourceRefused(f"source {source.name!r} is not an http source")
        self.source = source
        self.options = source.http
        self.connection = connection
        self.policy = RetryPolicy.from_options(self.options, sleep, rng)
        self.url = connection.http_base_url() + self.options.path
        self.session = session or requests.Session()
        self.deadline = PageDeadline()
        adapter = DeadlineAdapter(self.deadline)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # per request: requests lets REQUESTS_CA_BUNDLE override a session-wide setting
        self.verify: str | bool = str(connection.extra["ca_bundle"]) if connection.extra.get("ca_bundle") else True
        token = connection.token
        if not token:
            raise HttpRequestRefused(f"{source.name}: connection {connection.conn_id!r} has no token "
                                  "(set its password or extra 'token')")
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.requests = 0
        self.pages = 0
        self.records = 0

    def _fail(self, message: str) -> HttpSourceError:
        return HttpSourceError(f"{self.source.name}: {message}")

    def _request(self, params: dict[str, Any], label: str) -> tuple[requests.Response | None, str]:
        """One request within the page deadline: the response, or why there is none (retryable)."""
        options = self.options
        self.deadline.start(options.page_deadline_seconds)
        try:
            response = self.session.get(self.url, params=params, verify=self.verify,
                                        timeout=(options.connect_timeout_seconds, options.read_timeout_seconds))
        except requests.exceptions.SSLError as error:
            problem = None if self.deadline.expired else certificate_problem(error)
            if problem is not None:
                raise HttpRequestRefused(
                    f"{self.source.name}: the TLS certificate of {self.url} does not verify ({problem}) on "
                    f"{label}; not retried: give the department's CA certificate as extra 'ca_bundle' of "
                    f"connection {self.connection.conn_id}") from None
            response, problem = None, "TLS error"
        except _RETRYABLE_ERRORS as error:
            response, problem = None, _describe_error(error)
        else:
            problem = ""
        finally:
            self.deadline.stop()
        if self.deadline.expired:  # checked on success too: a body without a length just ends when cut
            return None, (f"no complete answer within the page deadline of {options.page_deadline_seconds:g} s "
                          "(the server sends too slowly)")
        return response, problem

    def get_page(self, params: dict[str, Any], label: str) -> dict[str, Any]:
        """One page as a JSON object, retried per the policy."""
        policy = self.policy
        last_problem = ""
        for attempt in range(1, policy.max_attempts + 1):
            wait: float | None = None
            self.requests += 1
            response, last_problem = self._request(params, label)
            if response is not None:
                status = response.status_code
                if status == 200:
                    return self._decode(response, label)
                if status == 429 or status >= 500:
                    last_problem = f"HTTP {status}"
                    if status == 429:
                        wait = parse_retry_after(response.headers.get("Retry-After"))
                        if wait is not None and wait > policy.max_retry_after_seconds:
                            raise self._fail(f"HTTP 429 on {label} with Retry-After {wait:.0f} s, more than "
                                             f"the {policy.max_retry_after_seconds:.0f} s allowed")
                else:
                    reason = _REASONS.get(status, "the request was refused; not retried").format(
                        conn=self.connection.conn_id)
                    raise HttpRequestRefused(f"{self.source.name}: HTTP {status} from {self.url} on {label}: {reason}")
            if attempt == policy.max_attempts:
                break
            delay = wait if wait is not None else policy.backoff(attempt)
            log.warning("%s: %s on %s (attempt %d of %d); retrying in %.1f s", self.source.name, last_problem,
                        label, attempt, policy.max_attempts, delay)
            policy.sleep(delay)
        raise self._fail(f"{last_problem} on {label} from {self.url}; "
                         f"gave up after {policy.max_attempts} attempts")

    def _decode(self, response: requests.Response, label: str) -> dict[str, Any]:
        encoding = self.source.encoding if self.source.encoding != "auto" else (response.encoding or "utf-8")
        try:
            body = json.loads(response.content.decode(encoding))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._fail(f"{label} is not valid JSON ({type(error).__name__} at byte "
                             f"{getattr(error, 'pos', getattr(error, 'start', '?'))} of "
                             f"{len(response.content)}); truncated or malformed page, nothing loaded"
                             ) from None
        if not isinstance(body, dict):
            raise self._fail(f"{label} is not a JSON object; nothing loaded")
        items = body.get(self.options.items_field)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise self._fail(f"{label} has no '{self.options.items_field}' list of objects; nothing loaded")
        return body

    def _int_field(self, body: dict[str, Any], key: str, label: str) -> int:
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._fail(f"{label} has no valid '{key}' (got {value!r}); nothing loaded")
        return value

    def page_records(self, since: dt.datetime | None) -> Iterator[list[dict[str, Any]]]:
        """The records of each page changed since `since` (all of them when None), as the pages
        arrive. A page that breaks the pagination (totals that change or do not add up, a short
        page, a missing or repeated cursor) raises when it is read, a count that does not add up
        at the end raises after the last page: in every case before the iteration ends."""
        options = self.options
        params: dict[str, Any] = {options.size_param: options.page_size}
        if since is not None:
            params[options.since_param] = since.strftime(options.since_format)
        return self._numbered_pages(params) if options.pagination == "page" else self._cursor_pages(params)

    def _numbered_pages(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        options = self.options
        total: int | None = None
        page = 1
        while True:
            label = f"page {page}"
            body = self.get_page({**params, options.page_param: page}, label)
            self.pages += 1
            items = body[options.items_field]
            declared = self._int_field(body, options.total_field, label)
            if total is None:
                total = declared
            elif declared != total:
                raise self._fail(f"{label} declares total {declared}, page 1 declared {total}: the "
                                 "source changed during extraction; nothing loaded (retry the run)")
            size = body.get(options.size_param, options.page_size)
            size = size if isinstance(size, int) and size > 0 else options.page_size
            self.records += len(items)
            if self.records >= total:
                if self.records > total:
                    raise self._fail(f"{self.records} records received but total is {total}; "
                                     "nothing loaded")
                yield items
                return
            if len(items) < size:
                raise self._fail(f"{label} holds {len(items)} records, fewer than the page size {size}, "
                                 f"but only {self.records} of {total} were received: truncated; "
                                 "nothing loaded")
            yield items
            page += 1
            if self.pages >= options.max_pages:
                raise self._fail(f"more than {options.max_pages} pages; nothing loaded")

    def _cursor_pages(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        options = self.options
        cursor: str | None = None
        expected: int | None = None
        while True:
            label = f"page {self.pages + 1}" + (f" (cursor {cursor[:24]})" if cursor else "")
            body = self.get_page({**params, **({options.cursor_param: cursor} if cursor else {})}, label)
            self.pages += 1
            if options.next_field not in body:
                raise self._fail(f"{label} has no '{options.next_field}' field; nothing loaded")
            items = body[options.items_field]
            self.records += len(items)
            if options.total_field in body and body[options.total_field] is not None:
                expected = self._int_field(body, options.total_field, label)
            following = body[options.next_field]
            if following in (None, ""):
                if expected is not None and self.records != expected:
                    raise self._fail(f"{self.records} records received but total is {expected}: truncated; "
                                     "nothing loaded")
                yield items
                return
            if not isinstance(following, str):
                raise self._fail(f"{label}: '{options.next_field}' is not a string; nothing loaded")
            if not items:
                raise self._fail(f"{label} is empty but names a next cursor; nothing loaded")
            if following == cursor:
                raise self._fail(f"{label} repeats its own cursor; nothing loaded")
            yield items
            cursor = following
            if self.pages >= options.max_pages:
                raise self._fail(f"more than {options.max_pages} pages; nothing loaded")

    def chunks(self, since: dt.datetime | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The records of `page_records` as frames of text columns (department field names), each of
        `chunk_rows` records but the last, each handed on as soon as its records are in: no more
        than a chunk and a page of records are held at a time."""
        encoding = "utf-8" if self.source.encoding == "auto" else self.source.encoding
        pending: list[dict[str, Any]] = []
        for items in self.page_records(since):
            pending.extend(items)
            while len(pending) >= chunk_rows:
                yield records_to_frame(pending[:chunk_rows], encoding)
                del pending[:chunk_rows]
        if pending:
            yield records_to_frame(pending, encoding)
        log.info("%s: %d records in %d page(s), %d request(s)", self.source.name, self.records, self.pages,
                 self.requests)


class HttpExtraction(FrameStream):
    """An extraction that reads as it is iterated: the frames of `HttpExtractor.chunks`. Every
    check of the pagination raises from the iteration, before it ends, so that whatever took
    the frames so far (a landing file) is dropped and nothing of the extraction is kept.
    `pages`, `requests` and `records` count what was read so far; `close` ends it early."""

    def __init__(self, extractor: HttpExtractor, since: dt.datetime | None, chunk_rows: int) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self._extractor = extractor
        self._chunks = self._read(since, chunk_rows)

    def _read(self, since: dt.datetime | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
        try:
            yield from self._extractor.chunks(since, chunk_rows)
        finally:
            self._extractor.session.close()

    @property
    def pages(self) -> int:
        return self._extractor.pages

    @property
    def requests(self) -> int:
        return self._extractor.requests

    @property
    def records(self) -> int:
        return self._extractor.records

    def close(self) -> None:
        super().close()
        self._extractor.session.close()  # when it was never iterated, `_read` never started


def _describe_error(error: Exception) -> str:
    if isinstance(error, requests.Timeout):
        return "timeout"
    if isinstance(error, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "response cut short (truncated body)"
    return "connection error"


def extract_http(source: SourceConfig, connection: Connection, since: dt.datetime | None, *,
                 sleep: Callable[[float], None] | None = None, rng: random.Random | None = None,
                 chunk_rows: int | None = None) -> HttpExtraction:
    """The records changed since `since`, read page by page as the result is iterated, in
    frames of `chunk_rows` records (default: BIZENV_CHUNK_ROWS). A connection without a token is
    refused here; everything else the API answers, when the pages are read."""
    from bizenv.settings import chunk_rows as default_chunk_rows

    extractor = HttpExtractor(source, connection, sleep=sleep, rng=rng)
    return HttpExtraction(extractor, since, default_chunk_rows() if chunk_rows is None else chunk_rows)
