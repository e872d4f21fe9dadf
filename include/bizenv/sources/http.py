"""Department REST APIs: page/size or cursor pagination, bearer token, retries with backoff.

All pages are collected and checked before anything is returned, so a truncated or malformed
page fails the whole extraction and nothing half-read ever reaches landing or the warehouse.

Retried (bounded by `max_attempts`, exponential backoff with jitter): HTTP 5xx, 429 (waiting
at least its Retry-After), connection errors, timeouts and bodies cut short of their
Content-Length. Not retried: 401/403/404 and other 4xx, and a body that is not the expected
JSON (a server bug does not heal by asking again). The token is sent in the Authorization
header only and never appears in a message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests

from bizenv.sources.config import Connection, HttpOptions, SourceConfig, SourceError, SourceRefused
from bizenv.sources.frames import records_to_frame

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


class HttpRequestRefused(HttpSourceError, SourceRefused):
    """The API answered 4xx (other than 429) or the connection has no token."""


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


@dataclass
class HttpExtraction:
    frame: pd.DataFrame
    pages: int
    requests: int


class HttpExtractor:
    def __init__(self, source: SourceConfig, connection: Connection, *,
                 sleep: Callable[[float], None] | None = None, rng: random.Random | None = None,
                 session: requests.Session | None = None) -> None:
        if source.http is None:
            raise SourceError(f"source {source.name!r} is not an http source")
        self.source = source
        self.options = source.http
        self.connection = connection
        self.policy = RetryPolicy.from_options(self.options, sleep, rng)
        self.url = connection.http_base_url() + self.options.path
        self.session = session or requests.Session()
        token = connection.token
        if not token:
            raise HttpRequestRefused(f"{source.name}: connection {connection.conn_id!r} has no token "
                                  "(set its password or extra 'token')")
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.requests = 0

    def _fail(self, message: str) -> HttpSourceError:
        return HttpSourceError(f"{self.source.name}: {message}")

    def get_page(self, params: dict[str, Any], label: str) -> dict[str, Any]:
        """One page as a JSON object, retried per the policy."""
        options, policy = self.options, self.policy
        timeout = (options.connect_timeout_seconds, options.read_timeout_seconds)
        last_problem = ""
        for attempt in range(1, policy.max_attempts + 1):
            wait: float | None = None
            self.requests += 1
            try:
                response = self.session.get(self.url, params=params, timeout=timeout)
            except _RETRYABLE_ERRORS as error:
                last_problem = _describe_error(error)
            else:
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

    def extract(self, since: dt.datetime | None) -> HttpExtraction:
        """Every record changed since `since` (all of them when None)."""
        options = self.options
        params: dict[str, Any] = {options.size_param: options.page_size}
        if since is not None:
            params[options.since_param] = since.strftime(options.since_format)
        records: list[dict[str, Any]] = []
        pages = 0
        if options.pagination == "page":
            total: int | None = None
            page = 1
            while True:
                label = f"page {page}"
                body = self.get_page({**params, options.page_param: page}, label)
                pages += 1
                items = body[options.items_field]
                declared = self._int_field(body, options.total_field, label)
                if total is None:
                    total = declared
                elif declared != total:
                    raise self._fail(f"{label} declares total {declared}, page 1 declared {total}: the "
                                     "source changed during extraction; nothing loaded (retry the run)")
                size = body.get(options.size_param, options.page_size)
                size = size if isinstance(size, int) and size > 0 else options.page_size
                records.extend(items)
                if len(records) >= total:
                    if len(records) > total:
                        raise self._fail(f"{len(records)} records received but total is {total}; "
                                         "nothing loaded")
                    break
                if len(items) < size:
                    raise self._fail(f"{label} holds {len(items)} records, fewer than the page size {size}, "
                                     f"but only {len(records)} of {total} were received: truncated; "
                                     "nothing loaded")
                page += 1
                if pages >= options.max_pages:
                    raise self._fail(f"more than {options.max_pages} pages; nothing loaded")
        else:
            cursor: str | None = None
            expected: int | None = None
            while True:
                label = f"page {pages + 1}" + (f" (cursor {cursor[:24]})" if cursor else "")
                body = self.get_page({**params, **({options.cursor_param: cursor} if cursor else {})}, label)
                pages += 1
                if options.next_field not in body:
                    raise self._fail(f"{label} has no '{options.next_field}' field; nothing loaded")
                records.extend(body[options.items_field])
                if options.total_field in body and body[options.total_field] is not None:
                    expected = self._int_field(body, options.total_field, label)
                following = body[options.next_field]
                if following in (None, ""):
                    break
                if not isinstance(following, str):
                    raise self._fail(f"{label}: '{options.next_field}' is not a string; nothing loaded")
                if not body[options.items_field]:
                    raise self._fail(f"{label} is empty but names a next cursor; nothing loaded")
                if following == cursor:
                    raise self._fail(f"{label} repeats its own cursor; nothing loaded")
                cursor = following
                if pages >= options.max_pages:
                    raise self._fail(f"more than {options.max_pages} pages; nothing loaded")
            if expected is not None and len(records) != expected:
                raise self._fail(f"{len(records)} records received but total is {expected}: truncated; "
                                 "nothing loaded")
        frame = records_to_frame(records, "utf-8" if self.source.encoding == "auto" else self.source.encoding)
        log.info("%s: %d records in %d page(s), %d request(s)", self.source.name, len(frame), pages,
                 self.requests)
        return HttpExtraction(frame=frame, pages=pages, requests=self.requests)


def _describe_error(error: Exception) -> str:
    if isinstance(error, requests.Timeout):
        return "timeout"
    if isinstance(error, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "response cut short (truncated body)"
    return "connection error"


def extract_http(source: SourceConfig, connection: Connection, since: dt.datetime | None, *,
                 sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None) -> HttpExtraction:
    extractor = HttpExtractor(source, connection, sleep=sleep, rng=rng)
    try:
        return extractor.extract(since)
    finally:
        extractor.session.close()
