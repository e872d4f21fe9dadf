"""Department databases through SQLAlchemy (PostgreSQL, SQLite and whatever has a dialect).

The incremental filter is `<incremental_field> > :watermark` with a bound parameter (the
watermark as 'YYYY-MM-DD HH:MM:SS' department local time, which compares correctly with a
timestamp column and with an ISO text column). Rows are streamed with a server-side cursor
(`stream_results` + `yield_per`, `chunk_size` rows a fetch) and handed on as frames of text of
BIZENV_CHUNK_ROWS rows while the extraction is iterated, so neither the driver nor the
connector ever holds the whole result.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pandas as pd
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bizenv.sources.config import Connection, SourceConfig, SourceError, SourceRefused
from bizenv.sources.frames import FrameStream, rows_to_frame
from bizenv.warehouse import describe_database_error

log = logging.getLogger(__name__)


class DatabaseSourceError(SourceError):
    """The department database could not be reached or read."""


class DatabaseQueryRefused(SourceRefused):
    """The database answered, but the configured table, query or columns do not fit it."""


# Values and watermarks are Asia/Shanghai wall time. A PostgreSQL session in another zone (UTC
# is the server default in containers) would read the bound watermark text in that zone when it
# compares it with a `timestamptz` column, and skip the rows of the hours in between.
SESSION_TIMEZONE = {"postgresql": "set time zone 'Asia/Shanghai'", "mysql": "set time_zone = '+08:00'"}


def source_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, poolclass=NullPool)
    statement = SESSION_TIMEZONE.get(engine.dialect.name)
    if statement:
        @event.listens_for(engine, "connect")
        def _local_session_time(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()  # the driver may have opened a transaction for the set
    return engine


def _quote(engine: Engine, dotted: str) -> str:
    preparer = engine.dialect.identifier_preparer
    return ".".join(preparer.quote(part) for part in dotted.split("."))


def build_query(source: SourceConfig, engine: Engine, incremental: bool) -> str:
    options = source.database
    assert options is not None
    column = _quote(engine, source.incremental_field)
    if options.table:
        relation = _quote(engine, options.table)
    else:
        query = options.query_path().read_text(encoding="utf-8").strip().rstrip(";").strip()
        relation = f"({query}) as src"
    where = f" where {column} > :watermark" if incremental else ""
    return f"select * from {relation}{where} order by {column}"  # noqa: S608 - quoted identifiers; the watermark is bound


class DatabaseExtraction(FrameStream):
    """An extraction that reads as it is iterated: every row changed after `since` (all rows
    when None), values as text under the department's field names, in frames of `chunk_rows`
    rows but the last (none when nothing changed). The cursor fetches the source's
    `chunk_size` rows at a time. `rows`, `fetches` and `chunks` count what was read so far;
    `close` ends it early and lets go of the connection."""

    def __init__(self, source: SourceConfig, connection: Connection, since: dt.datetime | None,
                 chunk_rows: int) -> None:
        if source.database is None:
            raise SourceRefused(f"source {source.name!r} is not a database source")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self.source = source
        self.connection = connection
        self.rows = 0
        self.fetches = 0
        self.chunks = 0
        self._chunks = self._read(since, chunk_rows)

    def _read(self, since: dt.datetime | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
        source, options = self.source, self.source.database
        assert options is not None
        engine = source_engine(self.connection.sqlalchemy_url())
        params = {"watermark": since.strftime("%Y-%m-%d %H:%M:%S")} if since is not None else {}
        try:
            sql = build_query(source, engine, since is not None)
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=options.chunk_size).execute(
                    text(sql), params)
                columns = list(result.keys())
                if source.incremental_field not in columns:
                    raise DatabaseQueryRefused(
                        f"{source.name}: incremental_field {source.incremental_field!r} is not a column of the "
                        f"source (columns: {', '.join(columns)})")
                pending: list[tuple] = []
                for partition in result.partitions(options.chunk_size):
                    self.fetches += 1
                    pending.extend(partition)
                    while len(pending) >= chunk_rows:
                        yield self._frame(columns, pending[:chunk_rows])
                        del pending[:chunk_rows]
                if pending:
                    yield self._frame(columns, pending)
                result.close()
        except SQLAlchemyError as error:
            first = describe_database_error(error)
            # a statement the server rejects stays rejected; a lost or refused connection may not
            refused = isinstance(error, DBAPIError) and not isinstance(error, OperationalError)
            raise (DatabaseQueryRefused if refused else DatabaseSourceError)(
                f"{source.name}: reading {options.table or options.query_file} via connection "
                f"{self.connection.conn_id!r} failed: {type(getattr(error, 'orig', None) or error).__name__}: "
                f"{first}") from None
        finally:
            engine.dispose()
        log.info("%s: %d rows in %d chunk(s), %d fetch(es) of up to %d", source.name, self.rows, self.chunks,
                 self.fetches, options.chunk_size)

    def _frame(self, columns: list[str], rows: list[tuple]) -> pd.DataFrame:
        self.rows += len(rows)
        self.chunks += 1
        return rows_to_frame(columns, rows, self.source.encoding)


def extract_database(source: SourceConfig, connection: Connection, since: dt.datetime | None, *,
                     chunk_rows: int | None = None) -> DatabaseExtraction:
    """Every row changed after `since` (all rows when None), read as the result is iterated, in
    frames of `chunk_rows` rows (default: BIZENV_CHUNK_ROWS)."""
    from bizenv.settings import chunk_rows as default_chunk_rows

    return DatabaseExtraction(source, connection, since, default_chunk_rows() if chunk_rows is None else chunk_rows)
