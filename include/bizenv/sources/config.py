"""Department sources (include/config/sources.yaml): load, validate, resolve connections.

One entry per source. Kinds: `http` (a department REST API), `database` (a department
database read through SQLAlchemy) and `file_drop` (a directory the department delivers files
into). Every problem is reported as one line naming the file and the entry.

Connections follow the Airflow convention without importing Airflow: the connection id
`bizenv_src_tax_api` is read from the environment variable `AIRFLOW_CONN_BIZENV_SRC_TAX_API`,
either as a URI (`http://:TOKEN@host:8080/base`, `postgresql://user:pw@host:5432/db`,
`sqlite:////abs/path.db`) or as JSON (`{"conn_type": "http", "host": ..., "password": ...}`).
Airflow adapters may instead build a `Connection` from `BaseHook.get_connection(id).get_uri()`
and pass it in. Passwords never appear in a repr or an error message.

This module is light on purpose (yaml + dataclasses): DAG files parse the configuration at
import time.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from bizenv.datasets import DATASETS
from bizenv.settings import CONFIG_DIR, SQL_DIR

DEFAULT_SOURCES_FILE = CONFIG_DIR / "sources.yaml"
DEFAULT_MAX_BAD_SHARE = 0.05  # the same default as bizenv.ingest; kept here so DAG parsing stays light
KINDS = ("http", "database", "file_drop")
PARTIAL_UPLOAD_PATTERNS = (
    "*.part", "*.partial", "*.tmp", "*.temp", "*.crdownload", "*.filepart", "~$*", ".*",
)

SourceKind = Literal["http", "database", "file_drop"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_]+$")
_IDENTIFIER = re.compile(r"^[^\s\"'`;]+(\.[^\s\"'`;]+)?$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?#LW]+$")
_CRON_PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}


class SourceError(RuntimeError):
    """A source cannot be reached or read; the message is one line. A later attempt may
    succeed (an outage, a page that changed under the extraction), so schedulers retry it."""


class SourceRefused(SourceError):
    """The configuration is wrong or the source refused the request: retrying cannot help."""


class SourceConfigError(SourceRefused, ValueError):
    """sources.yaml is invalid; the message names the file and the entry."""


class ConnectionNotFound(SourceRefused):
    """No Airflow connection / AIRFLOW_CONN_* variable for a connection id."""


# ---------------------------------------------------------------------------------------------
# Options per kind


@dataclass(frozen=True)
class HttpOptions:
    path: str
    pagination: Literal["page", "cursor"] = "page"
    page_size: int = 500
    items_field: str = "items"
    total_field: str = "total"
    next_field: str = "next_cursor"
    page_param: str = "page"
    size_param: str = "page_size"
    cursor_param: str = "cursor"
    since_param: str = "updated_since"
    since_format: str = "%Y-%m-%d %H:%M:%S"
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0
    max_pages: int = 100_000


@dataclass(frozen=True)
class DatabaseOptions:
    table: str | None = None
    query_file: str | None = None
    chunk_size: int = 10_000

    def query_path(self) -> Path | None:
        if self.query_file is None:
            return None
        path = Path(self.query_file)
        return path if path.is_absolute() else SQL_DIR / path


@dataclass(frozen=True)
class FileDropOptions:
    directory: str
    archive_directory: str
    pattern: tuple[str, ...] = ("*.csv", "*.xlsx")
    ignore: tuple[str, ...] = PARTIAL_UPLOAD_PATTERNS
    min_age_seconds: float = 0.0

    def resolve(self, data_dir: Path) -> tuple[Path, Path]:
        """Drop and archive directories; relative paths are relative to the data directory."""
        def absolute(value: str) -> Path:
            path = Path(os.path.expandvars(value)).expanduser()
            return path if path.is_absolute() else Path(data_dir) / path
        return absolute(self.directory), absolute(self.archive_directory)


@dataclass(frozen=True)
class SourceConfig:
    name: str
    department: str
    dataset: str
    kind: SourceKind
    connection_id: str | None
    schedule: str | None
    incremental_field: str
    overlap_minutes: int
    encoding: str
    columns: Mapping[str, str]
    max_bad_share: float
    http: HttpOptions | None = None
    database: DatabaseOptions | None = None
    file_drop: FileDropOptions | None = None

    @property
    def overlap(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.overlap_minutes)

    @property
    def incremental_column(self) -> str:
        """The dataset column the incremental field lands in (validated at load)."""
        return _resolve_column(self.dataset, self.columns, self.incremental_field) or "updated_at"

    def connection(self, environ: Mapping[str, str] | None = None) -> Connection:
        if not self.connection_id:
            raise SourceError(f"source {self.name!r} has no connection_id")
        return resolve_connection(self.connection_id, environ)


def _resolve_column(dataset: str, columns: Mapping[str, str], department_field: str) -> str | None:
    if department_field in columns:
        return columns[department_field]
    return DATASETS[dataset].header_aliases().get(department_field)


# ---------------------------------------------------------------------------------------------
# Loading


_COMMON_KEYS = {
    "name", "department", "dataset", "kind", "connection_id", "schedule", "incremental_field",
    "overlap_minutes", "encoding", "columns", "max_bad_share", "http", "database", "file_drop",
}


class _Entry:
    """Validation helpers that prefix every message with the file and the entry."""

    def __init__(self, path: Path, index: int, raw: Mapping[str, Any]) -> None:
        self.path, self.index, self.raw = path, index, raw
        name = raw.get("name")
        self.label = f"source {name!r} (entry {index})" if isinstance(name, str) else f"entry {index}"

    def fail(self, message: str) -> SourceConfigError:
        return SourceConfigError(f"{self.path}: {self.label}: {message}")

    def text(self, mapping: Mapping[str, Any], key: str, where: str = "", *, default: Any = ...,
             pattern: re.Pattern[str] | None = None) -> Any:
        value = mapping.get(key, default)
        if value is ...:
            raise self.fail(f"missing {where}{key}")
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}{key} must be a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(f"{where}{key} {value!r} is not valid (expected {pattern.pattern})")
        return value.strip()

    def number(self, mapping: Mapping[str, Any], key: str, where: str, default: float, *,
               minimum: float, maximum: float | None = None, integer: bool = False) -> Any:
        value = mapping.get(key, default)
        wrong_type = not isinstance(value, int) if integer else not isinstance(value, (int, float))
        if isinstance(value, bool) or wrong_type:
            kind = "an integer" if integer else "a number"
            raise self.fail(f"{where}{key} must be {kind}, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise self.fail(f"{where}{key} must be at least {minimum}{upper}, got {value!r}")
        return value

    def only(self, mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(mapping) - allowed)
        if unknown:
            raise self.fail(f"unknown key(s) {', '.join(unknown)} in {where or 'entry'} "
                            f"(allowed: {', '.join(sorted(allowed))})")


def _check_schedule(entry: _Entry, value: str | None) -> str | None:
    if value is None:
        return None
    if value in _CRON_PRESETS:
        return value
    parts = value.split()
    if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
        raise entry.fail(f"schedule {value!r} is not a 5-field cron expression or a preset like @daily")
    return value


def _http_options(entry: _Entry, raw: Any) -> HttpOptions:
    if not isinstance(raw, Mapping):
        raise entry.fail("kind http needs an 'http' mapping with at least 'path'")
    where = "http."
    defaults = HttpOptions(path="/")
    entry.only(raw, {f for f in HttpOptions.__dataclass_fields__}, "http")
    path = entry.text(raw, "path", where)
    if not path.startswith("/"):
        raise entry.fail(f"http.path must start with '/', got {path!r}")
    pagination = raw.get("pagination", defaults.pagination)
    if pagination not in ("page", "cursor"):
        raise entry.fail(f"http.pagination must be 'page' or 'cursor', got {pagination!r}")
    values: dict[str, Any] = {"path": path, "pagination": pagination}
    for key in ("items_field", "total_field", "next_field", "page_param", "size_param", "cursor_param",
                "since_param", "since_format"):
        values[key] = entry.text(raw, key, where, default=getattr(defaults, key))
    values["page_size"] = entry.number(raw, "page_size", where, defaults.page_size, minimum=1,
                                       maximum=100_000, integer=True)
    values["max_attempts"] = entry.number(raw, "max_attempts", where, defaults.max_attempts, minimum=1,
                                          maximum=20, integer=True)
    values["max_pages"] = entry.number(raw, "max_pages", where, defaults.max_pages, minimum=1, integer=True)
    for key in ("connect_timeout_seconds", "read_timeout_seconds"):
        values[key] = float(entry.number(raw, key, where, getattr(defaults, key), minimum=0.001))
    for key in ("backoff_seconds", "max_backoff_seconds", "max_retry_after_seconds"):
        values[key] = float(entry.number(raw, key, where, getattr(defaults, key), minimum=0))
    return HttpOptions(**values)


def _database_options(entry: _Entry, raw: Any) -> DatabaseOptions:
    if not isinstance(raw, Mapping):
        raise entry.fail("kind database needs a 'database' mapping with 'table' or 'query_file'")
    entry.only(raw, {"table", "query_file", "chunk_size"}, "database")
    table = entry.text(raw, "table", "database.", default=None, pattern=_IDENTIFIER)
    query_file = entry.text(raw, "query_file", "database.", default=None)
    if (table is None) == (query_file is None):
        raise entry.fail("database needs exactly one of 'table' or 'query_file'")
    chunk_size = entry.number(raw, "chunk_size", "database.", 10_000, minimum=1, integer=True)
    options = DatabaseOptions(table=table, query_file=query_file, chunk_size=chunk_size)
    query_path = options.query_path()
    if query_path is not None and not query_path.is_file():
        raise entry.fail(f"database.query_file {query_path} does not exist")
    return options


def _file_drop_options(entry: _Entry, raw: Any) -> FileDropOptions:
    if not isinstance(raw, Mapping):
        raise entry.fail("kind file_drop needs a 'file_drop' mapping with 'directory' and "
                         "'archive_directory'")
    entry.only(raw, {"directory", "archive_directory", "pattern", "ignore", "min_age_seconds"}, "file_drop")
    directory = entry.text(raw, "directory", "file_drop.")
    archive = entry.text(raw, "archive_directory", "file_drop.")
    if Path(directory) == Path(archive):
        raise entry.fail("file_drop.archive_directory must differ from file_drop.directory")

    def patterns(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = raw.get(key, list(default))
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise entry.fail(f"file_drop.{key} must be a glob pattern or a list of them, got {value!r}")
        return tuple(value)

    pattern = patterns("pattern", ("*.csv", "*.xlsx"))
    ignore = tuple(dict.fromkeys(PARTIAL_UPLOAD_PATTERNS + patterns("ignore", PARTIAL_UPLOAD_PATTERNS)))
    min_age = float(entry.number(raw, "min_age_seconds", "file_drop.", 0.0, minimum=0))
    return FileDropOptions(directory=directory, archive_directory=archive, pattern=pattern, ignore=ignore,
                           min_age_seconds=min_age)


def _source(entry: _Entry) -> SourceConfig:
    raw = entry.raw
    entry.only(raw, _COMMON_KEYS, "")
    name = entry.text(raw, "name", pattern=_NAME)
    department = entry.text(raw, "department")
    dataset = entry.text(raw, "dataset")
    if dataset not in DATASETS:
        raise entry.fail(f"unknown dataset {dataset!r} (known: {', '.join(DATASETS)})")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise entry.fail(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    connection_id = entry.text(raw, "connection_id", default=None, pattern=_CONN_ID)
    if connection_id is None and kind != "file_drop":
        raise entry.fail(f"missing connection_id (kind {kind} needs one)")
    schedule = _check_schedule(entry, entry.text(raw, "schedule", default=None))
    encoding = entry.text(raw, "encoding", default="auto")
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise entry.fail(f"unknown encoding {encoding!r}") from None
    columns = raw.get("columns") or {}
    if not isinstance(columns, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in columns.items()):
        raise entry.fail("columns must map department field names to dataset column names")
    known = DATASETS[dataset].column_names
    unknown = sorted(v for v in columns.values() if v not in known)
    if unknown:
        raise entry.fail(f"columns map to unknown {dataset} column(s) {', '.join(unknown)} "
                         f"(known: {', '.join(known)})")
    targets = list(columns.values())
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise entry.fail(f"columns map several department fields to {', '.join(repeated)}")
    incremental = entry.text(raw, "incremental_field", default=None)
    if incremental is None:
        incremental = next((k for k, v in columns.items() if v == "updated_at"), "updated_at")
    column = _resolve_column(dataset, columns, incremental)
    if column is None:
        raise entry.fail(f"incremental_field {incremental!r} is not mapped to a {dataset} column")
    if DATASETS[dataset].column(column).kind not in ("timestamp", "date"):
        raise entry.fail(f"incremental_field {incremental!r} maps to {column}, which is not a timestamp")
    overlap = entry.number(raw, "overlap_minutes", "", 0, minimum=0, integer=True)
    max_bad_share = float(entry.number(raw, "max_bad_share", "", DEFAULT_MAX_BAD_SHARE, minimum=0, maximum=1))
    for other in KINDS:
        if other != kind and raw.get(other) is not None:
            raise entry.fail(f"options '{other}' given for a source of kind {kind}")
    return SourceConfig(
        name=name, department=department, dataset=dataset, kind=kind, connection_id=connection_id,
        schedule=schedule, incremental_field=incremental, overlap_minutes=overlap, encoding=encoding,
        columns=dict(columns), max_bad_share=max_bad_share,
        http=_http_options(entry, raw.get("http")) if kind == "http" else None,
        database=_database_options(entry, raw.get("database")) if kind == "database" else None,
        file_drop=_file_drop_options(entry, raw.get("file_drop")) if kind == "file_drop" else None,
    )


def sources_file() -> Path:
    return Path(os.environ.get("BIZENV_SOURCES_FILE", DEFAULT_SOURCES_FILE))


def load_sources(path: str | Path | None = None) -> dict[str, SourceConfig]:
    """All configured sources by name, from `path`, $BIZENV_SOURCES_FILE or include/config/sources.yaml."""
    path = Path(path) if path is not None else sources_file()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SourceConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise SourceConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("sources"), list):
        raise SourceConfigError(f"{path}: expected a top-level 'sources:' list")
    sources: dict[str, SourceConfig] = {}
    for index, raw in enumerate(document["sources"], start=1):
        if not isinstance(raw, Mapping):
            raise SourceConfigError(f"{path}: entry {index}: expected a mapping, got {type(raw).__name__}")
        source = _source(_Entry(path, index, raw))
        if source.name in sources:
            raise SourceConfigError(f"{path}: source {source.name!r} (entry {index}): duplicate name")
        sources[source.name] = source
    return sources


def get_source(name: str, sources: Mapping[str, SourceConfig] | None = None) -> SourceConfig:
    sources = load_sources() if sources is None else sources
    try:
        return sources[name]
    except KeyError:
        raise SourceError(f"unknown source {name!r} (configured: {', '.join(sources) or 'none'})") from None


# ---------------------------------------------------------------------------------------------
# Connections (the Airflow convention, without Airflow)


@dataclass(frozen=True)
class Connection:
    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        """Airflow's URI form: conn-type://login:password@host:port/schema?extra=value."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            raise SourceError(f"connection {conn_id!r}: not a valid connection URI") from None
        conn_type = parts.scheme.replace("-", "_")
        if conn_type == "postgresql":
            conn_type = "postgres"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra: dict[str, Any] = {}
        if "__extra__" in query:
            try:
                extra = json.loads(query.pop("__extra__"))
            except json.JSONDecodeError:
                raise SourceError(f"connection {conn_id!r}: __extra__ is not valid JSON") from None
        extra.update(query)
        return cls(
            conn_id=conn_id, conn_type=conn_type,
            host=unquote(parts.hostname) if parts.hostname else None, port=port,
            login=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            schema=unquote(parts.path[1:]) if parts.path[1:] else None, extra=extra,
        )

    @classmethod
    def from_json(cls, conn_id: str, value: str) -> Connection:
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            raise SourceError(f"connection {conn_id!r}: not valid JSON") from None
        if not isinstance(data, Mapping) or not data.get("conn_type"):
            raise SourceError(f"connection {conn_id!r}: JSON needs at least 'conn_type'")
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except json.JSONDecodeError:
                raise SourceError(f"connection {conn_id!r}: extra is not valid JSON") from None
        port = data.get("port")
        return cls(
            conn_id=conn_id, conn_type=str(data["conn_type"]).replace("-", "_"), host=data.get("host"),
            port=int(port) if port not in (None, "") else None, login=data.get("login"),
            password=data.get("password"), schema=data.get("schema"), extra=dict(extra),
        )

    @property
    def token(self) -> str | None:
        """The bearer token: the password, else extra `token`."""
        return self.password or self.extra.get("token") or None

    def http_base_url(self) -> str:
        scheme = self.conn_type if self.conn_type in ("http", "https") else self.extra.get("scheme", "http")
        if not self.host:
            raise SourceError(f"connection {self.conn_id!r} has no host")
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        base = f"/{self.schema.strip('/')}" if self.schema and self.schema.strip("/") else ""
        return f"{scheme}://{host}{port}{base}"

    def sqlalchemy_url(self) -> str:
        """A SQLAlchemy URL for a database connection (password included: never log it)."""
        from sqlalchemy.engine import URL

        if self.extra.get("sqlalchemy_url"):
            return str(self.extra["sqlalchemy_url"])
        driver = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}.get(
            self.conn_type, self.conn_type)
        if driver.startswith("sqlite"):
            return f"{driver}:///{self.schema or self.host or ':memory:'}"
        query = {k: v for k, v in self.extra.items() if isinstance(v, str) and k not in ("token", "scheme")}
        url = URL.create(driver, username=self.login, password=self.password, host=self.host, port=self.port,
                         database=self.schema, query=query)
        return url.render_as_string(hide_password=False)


def connection_env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def resolve_connection(conn_id: str, environ: Mapping[str, str] | None = None) -> Connection:
    """The connection from AIRFLOW_CONN_<ID> (URI or JSON)."""
    environ = os.environ if environ is None else environ
    variable = connection_env_var(conn_id)
    value = environ.get(variable, "").strip()
    if not value:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined: create the Airflow connection or set {variable}"
        )
    if value.startswith("{"):
        return Connection.from_json(conn_id, value)
    return Connection.from_uri(conn_id, value)
