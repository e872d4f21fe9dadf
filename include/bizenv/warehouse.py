"""Warehouse access: engines, SQL files, bulk loads and migrations for DuckDB and PostgreSQL.

The same `.sql` files run on both databases; the dialect-specific code is the bulk path (COPY
on PostgreSQL, an Arrow scan on DuckDB) and the wait for a DuckDB file another process holds,
both here, and the PostgreSQL merge lock (`bizenv.locks`).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from bizenv.errors import Refused, Retryable
from bizenv.settings import SQL_DIR, Settings, env_number

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")
log = logging.getLogger(__name__)


DUCKDB_LOCK_WAIT_ENV = "BIZENV_DUCKDB_LOCK_WAIT_SECONDS"
DEFAULT_DUCKDB_LOCK_WAIT_SECONDS = 300.0


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    duckdb_file = parsed.drivername.startswith("duckdb") and parsed.database not in (None, "", ":memory:")
    if duckdb_file:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    options = {}
    if parsed.drivername.startswith("duckdb"):
        # the embedded warehouse works inside the process that loads or computes: its memory is
        # that process's, bounded here (DuckDB's own default is 80 % of the machine's), beyond
        # which its joins and sorts spill to a temporary directory beside the file
        options["connect_args"] = {"config": {"memory_limit": duckdb_memory_limit()}}
    engine = create_engine(parsed, future=True, **options)
    if duckdb_file:
        _wait_for_duckdb_file(engine, str(parsed.database), duckdb_lock_wait_seconds())
    return engine


DUCKDB_MEMORY_LIMIT_ENV = "BIZENV_DUCKDB_MEMORY_LIMIT"
DEFAULT_DUCKDB_MEMORY_LIMIT = "1GB"


def duckdb_memory_limit() -> str:
    """The embedded warehouse's memory limit (BIZENV_DUCKDB_MEMORY_LIMIT, DuckDB's notation:
    512MB, 2GB)."""
    value = os.environ.get(DUCKDB_MEMORY_LIMIT_ENV, "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value, re.IGNORECASE):
        raise ValueError(f"{DUCKDB_MEMORY_LIMIT_ENV}={value!r} is not a size such as 512MB or 2GB")
    return value


def duckdb_lock_wait_seconds() -> float:
    """How long opening an embedded warehouse file waits for the process that holds it
    ($BIZENV_DUCKDB_LOCK_WAIT_SECONDS, default 300; 0 fails at once)."""
    return env_number(DUCKDB_LOCK_WAIT_ENV, DEFAULT_DUCKDB_LOCK_WAIT_SECONDS, "seconds")


def _is_file_lock_conflict(error: BaseException) -> bool:
    import duckdb

    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def _wait_for_duckdb_file(engine: Engine, path: str, wait: float) -> None:
    """A DuckDB file has one writer process at a time, which holds it as long as it has the file
    open (an ingest, from its first statement to its last). A second process (another ingest, a
    scheduled task, `bizenv indicators compute`) retries the open for up to `wait` seconds
    instead of failing at once, then fails with one line naming the file and the wait."""

    @event.listens_for(engine, "do_connect")
    def connect_when_free(dialect, connection_record, cargs, cparams):
        deadline = time.monotonic() + wait
        pause = 0.05
        waiting = False
        while True:
            # the dialect consumes its parameters (it pops and fills nested dicts): each attempt
            # gets its own copy
            params = {k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v
                      for k, v in cparams.items()}
            try:
                return dialect.connect(*cargs, **params)
            except Exception as error:
                if not _is_file_lock_conflict(error):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    holder = describe_database_error(error)
                    raise WarehouseUnavailable(
                        f"warehouse file {path} is in use by another process; gave up after waiting "
                        f"{wait:g} s ({DUCKDB_LOCK_WAIT_ENV}): {holder}") from None
                if not waiting:
                    log.info("warehouse file %s is in use by another process; waiting up to %g s", path, wait)
                    waiting = True
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, 1.0)


def dialect_of(conn: Connection | Engine) -> str:
    return conn.dialect.name


class WarehouseUnavailable(Retryable, RuntimeError):
    """The warehouse cannot be opened now (server down, file held by another process)."""


def describe_database_error(error: BaseException) -> str:
    """The first line of what the database driver said, without SQL, parameters or traceback
    (of any other error, its own first line)."""
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def require_schema(engine: Engine) -> None:
    """Fail with one clear line, not a driver traceback: a warehouse that cannot be opened
    (server down, wrong credentials, an embedded file held by another process) says so, and
    only a reachable warehouse without the bizenv tables is told to run `bizenv db upgrade`."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    shown = engine.url.render_as_string(hide_password=True)
    try:
        conn = engine.connect()
    except DBAPIError as error:
        cause = describe_database_error(error)
        if "lock" in cause.lower():
            raise WarehouseUnavailable(f"warehouse {shown} is in use by another process: {cause}") from None
        raise WarehouseUnavailable(f"cannot connect to warehouse {shown}: {cause}") from None
    with conn:
        migrated = inspect(conn).has_table("alembic_version", schema="ops")
    if not migrated:
        raise Refused(f"warehouse {shown} has no bizenv schema; run `bizenv db upgrade`")


@contextmanager
def connect(settings: Settings, *, migrated: bool = True) -> Iterator[Engine]:
    engine = make_engine(settings.warehouse_url)
    try:
        if migrated:
            require_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def consistent_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction whose reads all see the warehouse as it was at its first statement, even
    while ingests commit: PostgreSQL's REPEATABLE READ (its default, READ COMMITTED, would let
    each statement see a newer state). DuckDB transactions are snapshots already."""
    options = {"isolation_level": "REPEATABLE READ"} if dialect_of(engine) == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


@cache
def _read_sql(relative_path: str) -> str:
    path = SQL_DIR / relative_path
    return path.read_text(encoding="utf-8")


def sql_statements(relative_path: str) -> list[str]:
    """The statements of a SQL file, comments removed, split on `;` at line ends."""
    lines = [line for line in _read_sql(relative_path).splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", "\n".join(lines)) if s.strip()]


def sql_text(relative_path: str) -> str:
    statements = sql_statements(relative_path)
    if len(statements) != 1:
        raise ValueError(f"sql/{relative_path} must hold exactly one statement, found {len(statements)}")
    return statements[0]


def run_sql(conn: Connection, relative_path: str, params: Mapping[str, Any] | None = None) -> int:
    """Execute one SQL file with bound parameters; returns the affected row count."""
    result = conn.execute(text(sql_text(relative_path)), dict(params or {}))
    return result.rowcount if result.rowcount is not None else -1


def query_df(conn: Connection, relative_path: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    return query_statement_df(conn, sql_text(relative_path), params)


def query_statement_df(conn: Connection, statement: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """A query composed of SQL files (never of values: those stay bound parameters)."""
    result = conn.execute(text(statement), dict(params or {}))
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def stored_datetime(value: object) -> dt.datetime | None:
    """A timestamp as a query returned it (a datetime, a pandas Timestamp, NaT or None) as a
    datetime, or None when the warehouse held none."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


# PostgreSQL column types that binary COPY writes straight from Arrow, and the Arrow type each
# is encoded from. A table with any other column type among the written ones is loaded as CSV.
_BINARY_COPY_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "character varying": pa.large_string(),
    "text": pa.large_string(),
}


def _postgres_column_types(cursor: Any, table: str) -> dict[str, str]:
    cursor.execute(
        "select attname, format_type(atttypid, null) from pg_attribute"
        " where attrelid = cast(%s as regclass) and attnum > 0 and not attisdropped",
        (table,),
    )
    return dict(cursor.fetchall())


def _binary_copy(table_types: Mapping[str, str], rows: pa.Table) -> bytes | None:
    """`rows` in PostgreSQL's binary COPY format for columns of `table_types`, or None when a
    column's type has no binary encoding here. Binary COPY spares the server parsing text
    (timestamps, dates, numbers): half the time of a CSV COPY of the same rows."""
    from pgpq import ArrowToPostgresBinaryEncoder

    targets = [_BINARY_COPY_TYPES.get(table_types.get(name, "")) for name in rows.column_names]
    if any(target is None for target in targets):
        return None
    rows = rows.cast(pa.schema([pa.field(n, t) for n, t in zip(rows.column_names, targets, strict=True)]))
    encoder = ArrowToPostgresBinaryEncoder(rows.schema)
    parts = [encoder.write_header(), *(encoder.write_batch(batch) for batch in rows.to_batches()), encoder.finish()]
    return b"".join(parts)


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """Append `frame` to `table` through the database's bulk path, in the caller's transaction."""
    if frame.empty:
        return 0
    table = _check_identifier(table)
    columns = ", ".join(_check_identifier(c) for c in frame.columns)
    raw = conn.connection.dbapi_connection
    rows = pa.Table.from_pandas(frame, preserve_index=False)
    if dialect_of(conn) == "duckdb":
        view_name = "bulk_" + table.replace(".", "_")
        raw.register(view_name, rows)
        try:
            conn.exec_driver_sql(f"insert into {table} ({columns}) select {columns} from {view_name}")  # noqa: S608 - checked identifiers
        finally:
            raw.unregister(view_name)
        return len(frame)
    if dialect_of(conn) == "postgresql":
        with raw.cursor() as cursor:
            payload = _binary_copy(_postgres_column_types(cursor, table), rows)
            copy_format = "binary"
            if payload is None:
                # CSV written by Arrow (C++; ~10x faster than DataFrame.to_csv): a null is an
                # unquoted empty field, an empty string the quoted "" — PostgreSQL's CSV defaults.
                buffer = io.BytesIO()
                pacsv.write_csv(rows, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
                payload, copy_format = buffer.getbuffer(), "csv"
            with cursor.copy(f"copy {table} ({columns}) from stdin with (format {copy_format})") as copy:
                copy.write(payload)
        return len(frame)
    raise ValueError(f"unsupported warehouse dialect {dialect_of(conn)!r}")


def _migrate(settings: Settings, direction: str, revision: str, sql_dir: Path) -> str:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bizenv.migrations import views

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    settings.ensure_pii_key()
    with connect(settings, migrated=False) as engine, engine.begin() as conn:
        config.attributes["connection"] = conn
        if direction == "downgrade":
            views.drop_views_unknown_to_migrations(conn, sql_dir)
        getattr(command, direction)(config, revision)
        current = MigrationContext.configure(conn, opts={"version_table_schema": "ops"}).get_current_revision()
        # views of today's files read today's tables: only a warehouse at head gets them
        if direction == "upgrade" and current == ScriptDirectory.from_config(config).get_current_head():
            views.rebuild(conn, sql_dir)
    with connect(settings, migrated=False) as engine, engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table_schema": "ops"}).get_current_revision()


def upgrade(settings: Settings, revision: str = "head", *, sql_dir: Path = SQL_DIR) -> str:
    """Apply the migrations up to `revision` (all by default); returns the resulting revision.
    At head, every view of `sql_dir`'s views/ and marts/ is re-created from its file
    (bizenv.migrations.views)."""
    return _migrate(settings, "upgrade", revision, sql_dir)


def downgrade(settings: Settings, revision: str, *, sql_dir: Path = SQL_DIR) -> str:
    """Revert the migrations above `revision`; returns the resulting revision."""
    return _migrate(settings, "downgrade", revision, sql_dir)
