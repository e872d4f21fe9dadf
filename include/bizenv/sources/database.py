"""Department databases through SQLAlchemy (PostgreSQL, SQLite and whatever has a dialect).

The incremental filter is `<incremental_field> > :watermark` with a bound parameter (the
watermark as 'YYYY-MM-DD HH:MM:SS' department local time, which compares correctly with a
timestamp column and with an ISO text column). Rows are streamed with a server-side cursor
(`stream_results` + `yield_per`) and turned into text chunk by chunk, so the driver never
buffers the whole result next to the frame.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bizenv.sources.config import Connection, SourceConfig, SourceError, SourceRefused
from bizenv.sources.frames import rows_to_frame
from bizenv.warehouse import describe_database_error

log = logging.getLogger(__name__)


class DatabaseSourceError(SourceError):
    """The department database could not be reached or read."""


class DatabaseQueryRefused(SourceRefused):
    """The database answered, but the configured table, query or columns do not fit it."""


@dataclass
class DatabaseExtraction:
    frame: pd.DataFrame
    chunks: int


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


def extract_database(source: SourceConfig, connection: Connection,
                     since: dt.datetime | None) -> DatabaseExtraction:
    """Every row changed after `since` (all rows when None), values as text, department field names."""
    options = source.database
    if options is None:
        raise SourceRefused(f"source {source.name!r} is not a database source")
    engine = source_engine(connection.sqlalchemy_url())
    params = {"watermark": since.strftime("%Y-%m-%d %H:%M:%S")} if since is not None else {}
    chunks: list[pd.DataFrame] = []
    columns: list[str] = []
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
            for partition in result.partitions(options.chunk_size):
                chunks.append(rows_to_frame(columns, partition, source.encoding))
            result.close()
    except SQLAlchemyError as error:
        first = describe_database_error(error)
        # a statement the server rejects stays rejected; a lost or refused connection may not
        refused = isinstance(error, DBAPIError) and not isinstance(error, OperationalError)
        raise (DatabaseQueryRefused if refused else DatabaseSourceError)(
            f"{source.name}: reading {options.table or options.query_file} via connection "
            f"{connection.conn_id!r} failed: {type(getattr(error, 'orig', None) or error).__name__}: {first}"
        ) from None
    finally:
        engine.dispose()
    frame = pd.concat(chunks, ignore_index=True) if chunks else rows_to_frame(columns, [])
    log.info("%s: %d rows in %d chunk(s)", source.name, len(frame), len(chunks))
    return DatabaseExtraction(frame=frame, chunks=len(chunks))
