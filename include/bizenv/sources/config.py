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

This module is light on purpose (yaml, dataclasses and pydantic, which Airflow loads anyway):
DAG files parse the configuration at import time. Entries are validated by pydantic; drop
directories stay inside the data directory and schedules are checked with croniter.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from bizenv.datasets import DATASETS
from bizenv.errors import Refused, Retryable
from bizenv.settings import CONFIG_DIR, SQL_DIR, load_settings

DEFAULT_SOURCES_FILE = CONFIG_DIR / "sources.yaml"
DEFAULT_MAX_BAD_SHARE = 0.05  # the same default as bizenv.ingest; kept here so DAG parsing stays light
DEFAULT_EXECUTION_TIMEOUT_MINUTES = 120
DEFAULT_PAGE_DEADLINE_SECONDS = 300.0
KINDS = ("http", "database", "file_drop")
PARTIAL_UPLOAD_PATTERNS = (
    "*.part", "*.partial", "*.tmp", "*.temp", "*.crdownload", "*.filepart", "~$*", ".*",
)

SourceKind = Literal["http", "database", "file_drop"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_]+$")
_IDENTIFIER = re.compile(r"^[^\s\"'`;]+(\.[^\s\"'`;]+)?$")
_CRON_PRESETS = {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}


class SourceError(Retryable, RuntimeError):
    """A source cannot be reached or read; the message is one line. A later attempt may
    succeed (an outage, a page that changed under the extraction), so schedulers retry it."""


class SourceRefused(Refused, RuntimeError):
    """The configuration is wrong or the source refused the request: retrying cannot help."""


class SourceConfigError(SourceRefused, ValueError):
    """sources.yaml is invalid; the message names the file and the entry."""


class ConnectionNotFound(SourceRefused):
    """No Airflow connection / AIRFLOW_CONN_* variable for a connection id."""


# ---------------------------------------------------------------------------------------------
# Options per kind
#
# The option dataclasses carry their constraints as pydantic annotations: the YAML mapping of a
# kind is validated by pydantic (`_Entry.validate`), and every error is rewritten as one line naming
# the file, the entry and the field (`_describe`).


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_GLOB_CHARACTERS = frozenset("*?[]")


def _count(minimum: int, maximum: int | None = None) -> Any:
    return Field(strict=True, ge=minimum, le=maximum)


def _seconds(minimum: float) -> Any:
    return Field(strict=True, ge=minimum)


def _must_start_with_slash(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"http.path must start with '/', got {value!r}")
    return value


def _path_parts(value: str) -> list[str]:
    return re.split(r"[\\/]+", value)


def _safe_directory(key: str) -> Callable[[str], str]:
    """No `..` component and no glob character: a drop or archive directory names one place."""
    def check(value: str) -> str:
        expanded = os.path.expandvars(value)
        for text in {value, expanded}:
            if ".." in _path_parts(text):
                raise ValueError(f"file_drop.{key} {value!r} contains '..': name the directory without "
                                 "climbing out of another")
            if _GLOB_CHARACTERS & set(text):
                raise ValueError(f"file_drop.{key} {value!r} contains a glob character (* ? [ ]): name one "
                                 "directory; file patterns go in file_drop.pattern")
        return value
    return check


def _as_tuple(value: Any) -> Any:
    """A single pattern may be written as a string."""
    return (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else value


def _file_names_only(key: str) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    """Patterns match file names inside the drop directory, never a path elsewhere."""
    def check(patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            if "/" in pattern or "\\" in pattern or ".." in pattern:
                raise ValueError(f"file_drop.{key} {pattern!r} may not contain a path separator or '..': "
                                 "patterns match file names in file_drop.directory")
        return patterns
    return check


Patterns = Annotated[tuple[Annotated[str, StringConstraints(min_length=1)], ...], Field(min_length=1),
                     BeforeValidator(_as_tuple)]


@dataclass(frozen=True)
class HttpOptions:
    __pydantic_config__ = ConfigDict(extra="forbid")

    path: Annotated[Text, AfterValidator(_must_start_with_slash)]
    pagination: Literal["page", "cursor"] = "page"
    page_size: Annotated[int, _count(1, 100_000)] = 500
    items_field: Text = "items"
    total_field: Text = "total"
    next_field: Text = "next_cursor"
    page_param: Text = "page"
    size_param: Text = "page_size"
    cursor_param: Text = "cursor"
    since_param: Text = "updated_since"
    since_format: Text = "%Y-%m-%d %H:%M:%S"
    connect_timeout_seconds: Annotated[float, _seconds(0.001)] = 10.0
    read_timeout_seconds: Annotated[float, _seconds(0.001)] = 60.0
    # the read timeout restarts with every byte: only a deadline bounds a server that trickles
    page_deadline_seconds: Annotated[float, _seconds(0.001)] = DEFAULT_PAGE_DEADLINE_SECONDS
    max_attempts: Annotated[int, _count(1, 20)] = 5
    backoff_seconds: Annotated[float, _seconds(0)] = 1.0
    max_backoff_seconds: Annotated[float, _seconds(0)] = 60.0
    max_retry_after_seconds: Annotated[float, _seconds(0)] = 300.0
    max_pages: Annotated[int, _count(1)] = 100_000


@dataclass(frozen=True)
class DatabaseOptions:
    __pydantic_config__ = ConfigDict(extra="forbid")

    table: Annotated[Text, Field(pattern=_IDENTIFIER.pattern)] | None = None
    query_file: Text | None = None
    chunk_size: Annotated[int, _count(1)] = 10_000

    def query_path(self) -> Path | None:
        if self.query_file is None:
            return None
        path = Path(self.query_file)
        return path if path.is_absolute() else SQL_DIR / path


@dataclass(frozen=True)
class FileDropOptions:
    __pydantic_config__ = ConfigDict(extra="forbid")

    directory: Annotated[Text, AfterValidator(_safe_directory("directory"))]
    archive_directory: Annotated[Text, AfterValidator(_safe_directory("archive_directory"))]
    pattern: Annotated[Patterns, AfterValidator(_file_names_only("pattern"))] = ("*.csv", "*.xlsx")
    ignore: Annotated[Patterns, AfterValidator(_file_names_only("ignore"))] = PARTIAL_UPLOAD_PATTERNS
    min_age_seconds: Annotated[float, _seconds(0)] = 0.0
    # None: $BIZENV_DROP_STABLE_SECONDS, else 30 (drop.stable_seconds)
    stable_seconds: Annotated[float, _seconds(0)] | None = None

    def resolve(self, data_dir: Path) -> tuple[Path, Path]:
        """Drop and archive directories; relative paths are relative to the data directory.

        The drop directory must lie inside the data directory (judged on the path as written,
        so an operator's symlink in the data directory still works): every file matched there
        is moved away, so a drop directory elsewhere would archive files that are not the
        department's. The archive directory may be another volume: it only receives files."""
        def absolute(value: str) -> Path:
            path = Path(os.path.expandvars(value)).expanduser()
            return Path(os.path.normpath(path if path.is_absolute() else Path(data_dir) / path))
        drop, archive = absolute(self.directory), absolute(self.archive_directory)
        root = Path(os.path.normpath(Path(data_dir).absolute()))
        if drop == root or not drop.is_relative_to(root):
            raise SourceConfigError(f"file_drop.directory {self.directory!r} resolves to {drop}, which is not "
                                    f"a directory inside the data directory {root}")
        return drop, archive


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
    execution_timeout_minutes: int = DEFAULT_EXECUTION_TIMEOUT_MINUTES

    @property
    def overlap(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.overlap_minutes)

    @property
    def execution_timeout(self) -> dt.timedelta:
        """How long one ingest run may take before the scheduler stops it."""
        return dt.timedelta(minutes=self.execution_timeout_minutes)

    @property
    def incremental_column(self) -> str:
        """The dataset column the incremental field lands in (validated at load)."""
        return _resolve_column(self.dataset, self.columns, self.incremental_field) or "updated_at"

    def connection(self, environ: Mapping[str, str] | None = None) -> Connection:
        if not self.connection_id:
            raise SourceRefused(f"source {self.name!r} has no connection_id")
        return resolve_connection(self.connection_id, environ)


def _resolve_column(dataset: str, columns: Mapping[str, str], department_field: str) -> str | None:
    if department_field in columns:
        return columns[department_field]
    return DATASETS[dataset].header_aliases().get(department_field)


# ---------------------------------------------------------------------------------------------
# Loading


def check_schedule(value: str | None) -> str | None:
    """A 5-field cron expression that croniter can compute, or a preset like @daily. A cron
    that merely looks like one (`99 99 * * *`) would break the DAG file when Airflow parses it."""
    if value is None or value in _CRON_PRESETS:
        return value
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"schedule {value!r} is not a 5-field cron expression or a preset like @daily "
                         "(minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6)")
    return value


class SourceEntry(BaseModel):
    """The keys every entry of sources.yaml has; the options of its kind are validated against
    HttpOptions, DatabaseOptions or FileDropOptions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[Text, Field(pattern=_NAME.pattern)]
    department: Text
    dataset: Text
    kind: Any = Field(default=None, validate_default=True)
    connection_id: Annotated[Text, Field(pattern=_CONN_ID.pattern)] | None = None
    schedule: Text | None = None
    incremental_field: Text | None = None
    overlap_minutes: Annotated[int, _count(0)] = 0
    encoding: Text = "auto"
    columns: Any = Field(default=None, validate_default=True)
    max_bad_share: Annotated[float, Field(strict=True, ge=0, le=1)] = DEFAULT_MAX_BAD_SHARE
    execution_timeout_minutes: Annotated[int, _count(1, 24 * 60)] = DEFAULT_EXECUTION_TIMEOUT_MINUTES
    http: Any = None
    database: Any = None
    file_drop: Any = None

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset {value!r} (known: {', '.join(DATASETS)})")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        if value not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {value!r}")
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        return check_schedule(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("columns")
    @classmethod
    def _column_mapping(cls, value: Any) -> dict[str, str]:
        value = value or {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in value.items()):
            raise ValueError("columns must map department field names to dataset column names")
        return dict(value)

    @model_validator(mode="after")
    def _consistent(self) -> SourceEntry:
        if self.connection_id is None and self.kind != "file_drop":
            raise ValueError(f"missing connection_id (kind {self.kind} needs one)")
        known = DATASETS[self.dataset].column_names
        unknown = sorted(v for v in self.columns.values() if v not in known)
        if unknown:
            raise ValueError(f"columns map to unknown {self.dataset} column(s) {', '.join(unknown)} "
                             f"(known: {', '.join(known)})")
        targets = list(self.columns.values())
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"columns map several department fields to {', '.join(repeated)}")
        column = _resolve_column(self.dataset, self.columns, self.incremental)
        if column is None:
            raise ValueError(f"incremental_field {self.incremental!r} is not mapped to a {self.dataset} column")
        if DATASETS[self.dataset].column(column).kind not in ("timestamp", "date"):
            raise ValueError(f"incremental_field {self.incremental!r} maps to {column}, which is not a timestamp")
        for other in KINDS:
            if other != self.kind and getattr(self, other) is not None:
                raise ValueError(f"options '{other}' given for a source of kind {self.kind}")
        return self

    @property
    def incremental(self) -> str:
        if self.incremental_field is not None:
            return self.incremental_field
        return next((k for k, v in self.columns.items() if v == "updated_at"), "updated_at")


def _bounds(owner: type, name: str) -> tuple[Any, Any]:
    """The declared minimum and maximum of a numeric field, for a message that names both."""
    hints = get_type_hints(owner, include_extras=True)
    lower = upper = None
    pending = list(getattr(hints.get(name), "__metadata__", ()))
    while pending:
        item = pending.pop()
        pending.extend(getattr(item, "metadata", ()))
        lower = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else lower
        upper = getattr(item, "le", None) if getattr(item, "le", None) is not None else upper
    return lower, upper


def _describe(error: ValidationError, owner: type, prefix: str) -> str:
    """The first problem of a pydantic error as one line in the words of this module."""
    problems = error.errors(include_url=False)
    unknown = [p for p in problems if p["type"] in ("extra_forbidden", "unexpected_keyword_argument")]
    if unknown:
        fields = owner.model_fields if issubclass(owner, BaseModel) else owner.__dataclass_fields__
        keys = ", ".join(sorted(str(p["loc"][-1]) for p in unknown))
        return (f"unknown key(s) {keys} in {prefix.rstrip('.') or 'entry'} "
                f"(allowed: {', '.join(sorted(fields))})")
    problem = problems[0]
    kind, value, context = problem["type"], problem.get("input"), problem.get("ctx") or {}
    where = prefix + ".".join(str(part) for part in problem["loc"] if not isinstance(part, int))
    if kind == "value_error":
        return str(context.get("error", problem["msg"]))
    if kind == "missing":
        return f"missing {where}"
    if kind in ("greater_than_equal", "less_than_equal"):
        lower, upper = _bounds(owner, str(problem["loc"][-1]))
        upper_text = f" and at most {upper}" if upper is not None else ""
        return f"{where} must be at least {lower}{upper_text}, got {value!r}"
    if kind.startswith("int_"):
        return f"{where} must be an integer, got {value!r}"
    if kind.startswith("float_"):
        return f"{where} must be a number, got {value!r}"
    if kind == "string_pattern_mismatch":
        return f"{where} {value!r} is not valid (expected {context.get('pattern')})"
    if kind.startswith("string_"):
        return f"{where} must be a non-empty string, got {value!r}"
    if kind == "literal_error":
        return f"{where} must be {context.get('expected')}, got {value!r}"
    if kind in ("too_short", "tuple_type"):
        return f"{where} must be a glob pattern or a list of them, got {value!r}"
    return f"{where}: {problem['msg']}, got {value!r}"


@functools.cache
def _adapter(owner: type) -> TypeAdapter:
    return TypeAdapter(owner)


class _Entry:
    """Prefixes every message with the file and the entry."""

    def __init__(self, path: Path, index: int, raw: Mapping[str, Any]) -> None:
        self.path, self.index, self.raw = path, index, raw
        name = raw.get("name")
        self.label = f"source {name!r} (entry {index})" if isinstance(name, str) else f"entry {index}"

    def fail(self, message: str) -> SourceConfigError:
        return SourceConfigError(f"{self.path}: {self.label}: {message}")

    def validate(self, owner: type, raw: Any, prefix: str = "") -> Any:
        try:
            return _adapter(owner).validate_python(raw)
        except ValidationError as error:
            raise self.fail(_describe(error, owner, prefix)) from None


def _http_options(entry: _Entry, raw: Any) -> HttpOptions:
    if not isinstance(raw, Mapping):
        raise entry.fail("kind http needs an 'http' mapping with at least 'path'")
    return entry.validate(HttpOptions, dict(raw), "http.")


def _database_options(entry: _Entry, raw: Any) -> DatabaseOptions:
    if not isinstance(raw, Mapping):
        raise entry.fail("kind database needs a 'database' mapping with 'table' or 'query_file'")
    options = entry.validate(DatabaseOptions, dict(raw), "database.")
    if (options.table is None) == (options.query_file is None):
        raise entry.fail("database needs exactly one of 'table' or 'query_file'")
    query_path = options.query_path()
    if query_path is not None and not query_path.is_file():
        raise entry.fail(f"database.query_file {query_path} does not exist")
    return options


def _file_drop_options(entry: _Entry, raw: Any) -> FileDropOptions:
    if not isinstance(raw, Mapping):
        raise entry.fail("kind file_drop needs a 'file_drop' mapping with 'directory' and "
                         "'archive_directory'")
    options = entry.validate(FileDropOptions, dict(raw), "file_drop.")
    if Path(options.directory) == Path(options.archive_directory):
        raise entry.fail("file_drop.archive_directory must differ from file_drop.directory")
    try:
        options.resolve(load_settings().data_dir)
    except SourceConfigError as outside:
        raise entry.fail(str(outside)) from None
    ignore = tuple(dict.fromkeys(PARTIAL_UPLOAD_PATTERNS + options.ignore))
    return replace(options, ignore=ignore)


def _source(entry: _Entry) -> SourceConfig:
    common = entry.validate(SourceEntry, dict(entry.raw))
    kind = common.kind
    return SourceConfig(
        name=common.name, department=common.department, dataset=common.dataset, kind=kind,
        connection_id=common.connection_id, schedule=common.schedule, incremental_field=common.incremental,
        overlap_minutes=common.overlap_minutes, encoding=common.encoding, columns=common.columns,
        max_bad_share=float(common.max_bad_share), execution_timeout_minutes=common.execution_timeout_minutes,
        http=_http_options(entry, common.http) if kind == "http" else None,
        database=_database_options(entry, common.database) if kind == "database" else None,
        file_drop=_file_drop_options(entry, common.file_drop) if kind == "file_drop" else None,
    )


def sources_file() -> Path:
    return Path(os.environ.get("BIZENV_SOURCES_FILE", DEFAULT_SOURCES_FILE))


def _read_entries(path: Path) -> list[Any]:
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
    return document["sources"]


def load_sources_checked(path: str | Path | None = None) -> tuple[dict[str, SourceConfig], list[SourceConfigError]]:
    """The valid sources by name and one error per invalid entry, so that one bad entry does
    not take every other source's DAG down with it. An unreadable file is still an error."""
    path = Path(path) if path is not None else sources_file()
    sources: dict[str, SourceConfig] = {}
    errors: list[SourceConfigError] = []
    for index, raw in enumerate(_read_entries(path), start=1):
        if not isinstance(raw, Mapping):
            errors.append(SourceConfigError(f"{path}: entry {index}: expected a mapping, got {type(raw).__name__}"))
            continue
        try:
            source = _source(_Entry(path, index, raw))
        except SourceConfigError as error:
            errors.append(error)
            continue
        if source.name in sources:
            errors.append(SourceConfigError(f"{path}: source {source.name!r} (entry {index}): duplicate name"))
            continue
        sources[source.name] = source
    return sources, errors


def load_sources(path: str | Path | None = None) -> dict[str, SourceConfig]:
    """All configured sources by name, from `path`, $BIZENV_SOURCES_FILE or include/config/sources.yaml.
    The first invalid entry fails the whole file."""
    sources, errors = load_sources_checked(path)
    if errors:
        raise errors[0]
    return sources


def get_source(name: str, sources: Mapping[str, SourceConfig] | None = None) -> SourceConfig:
    """The source `name`. Another entry's error does not stop it (as its DAG still loads, its
    runs must still work); its own entry's error is raised."""
    errors: list[SourceConfigError] = []
    if sources is None:
        sources, errors = load_sources_checked()
    if name in sources:
        return sources[name]
    for error in errors:
        if f"source {name!r}" in str(error):
            raise error
    invalid = f"; {len(errors)} invalid entr{'y' if len(errors) == 1 else 'ies'}: {errors[0]}" if errors else ""
    raise SourceRefused(f"unknown source {name!r} (configured: {', '.join(sources) or 'none'}){invalid}")


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
            raise SourceRefused(f"connection {conn_id!r}: not a valid connection URI") from None
        conn_type = parts.scheme.replace("-", "_")
        if conn_type == "postgresql":
            conn_type = "postgres"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra: dict[str, Any] = {}
        if "__extra__" in query:
            try:
                extra = json.loads(query.pop("__extra__"))
            except json.JSONDecodeError:
                raise SourceRefused(f"connection {conn_id!r}: __extra__ is not valid JSON") from None
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
            raise SourceRefused(f"connection {conn_id!r}: not valid JSON") from None
        if not isinstance(data, Mapping) or not data.get("conn_type"):
            raise SourceRefused(f"connection {conn_id!r}: JSON needs at least 'conn_type'")
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except json.JSONDecodeError:
                raise SourceRefused(f"connection {conn_id!r}: extra is not valid JSON") from None
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
            raise SourceRefused(f"connection {self.conn_id!r} has no host")
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
