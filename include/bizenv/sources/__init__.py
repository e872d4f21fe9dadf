"""Department sources: REST APIs, department databases and file drops (include/config/sources.yaml).

`ingest_source` runs one configured source incrementally: read the stored watermark, extract
what changed since (watermark minus the overlap window), hand the batch to
`bizenv.ingest.ingest_frame` (the single batch code path) and, only once that batch is merged
(status "loaded"), advance the watermark in ops.watermark. Re-running is safe: the merge is
idempotent and the watermark never moves backwards.

Importing this package stays light (no requests, pandas or Great Expectations) so that DAG
files can read the configuration at parse time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from bizenv.sources.config import (
    Connection,
    ConnectionNotFound,
    SourceConfig,
    SourceConfigError,
    SourceError,
    SourceRefused,
    get_source,
    load_sources,
    resolve_connection,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bizenv.ingest import BatchSummary
    from bizenv.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "Connection",
    "ConnectionNotFound",
    "DropRejected",
    "SourceConfig",
    "SourceConfigError",
    "SourceError",
    "SourceRefused",
    "advance_watermark",
    "get_source",
    "ingest_source",
    "load_sources",
    "read_watermark",
    "resolve_connection",
]


def __getattr__(name: str) -> object:
    if name == "DropRejected":  # defined with the drop connector (which imports pandas)
        from bizenv.sources.drop import DropRejected

        return DropRejected
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_watermark(engine: Engine, source: str) -> dt.datetime | None:
    from bizenv.warehouse import query_df

    with engine.connect() as conn:
        found = query_df(conn, "ops/read_watermark.sql", {"source": source})
    if found.empty:
        return None
    value = found["watermark"].iloc[0]
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def advance_watermark(engine: Engine, source: str, dataset: str, watermark: dt.datetime,
                      batch_id: str) -> None:
    """Upsert the source's watermark; a value older than the stored one changes nothing."""
    from bizenv.ingest import utc_now
    from bizenv.warehouse import run_sql

    with engine.begin() as conn:
        run_sql(conn, "ops/advance_watermark.sql", {
            "source": source, "dataset": dataset, "watermark": watermark, "batch_id": batch_id,
            "advanced_at": utc_now(),
        })


def ingest_source(
    settings: Settings,
    name: str,
    *,
    sources: Mapping[str, SourceConfig] | None = None,
    connection: Connection | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[BatchSummary]:
    """One incremental run of the configured source `name`.

    http / database: one batch with everything changed since the watermark (none when nothing
    changed). file_drop: one batch per new file; a re-delivered file (the same content as a
    loaded batch of the dataset) is not loaded again: it is logged and archived under
    `redelivered/`, and yields no summary.
    `connection` overrides the AIRFLOW_CONN_* lookup (Airflow adapters pass theirs);
    `sleep` replaces time.sleep between HTTP retries (tests)."""
    from bizenv.datasets import get_dataset
    from bizenv.warehouse import connect

    source = get_source(name, sources)
    dataset = get_dataset(source.dataset)
    if source.kind == "file_drop":
        return _ingest_drop(settings, source)
    connection = connection or source.connection()
    # the warehouse is not held open during the extraction (an embedded DuckDB file is single-writer)
    with connect(settings) as engine:
        stored = read_watermark(engine, source.name)
    since = stored - source.overlap if stored is not None else None
    from bizenv.standardize import LOCAL_TIMEZONE

    extraction_started = dt.datetime.now(LOCAL_TIMEZONE).replace(tzinfo=None)
    if source.kind == "http":
        from bizenv.sources.http import extract_http

        frame = extract_http(source, connection, since, sleep=sleep).frame
    else:
        from bizenv.sources.database import extract_database

        frame = extract_database(source, connection, since).frame
    if frame.empty:
        log.info("%s: nothing changed since %s", source.name, since or "the beginning")
        return []
    with connect(settings) as engine:
        return [_ingest_batch(settings, engine, source, dataset, frame, since=since,
                              extraction_started=extraction_started)]


def _ingest_batch(settings: Settings, engine: Engine, source: SourceConfig, dataset, frame, *,
                  since: dt.datetime | None, extraction_started: dt.datetime) -> BatchSummary:
    from bizenv.ingest import ingest_frame
    from bizenv.sources.frames import latest_change, to_dataset_frame

    raw = to_dataset_frame(frame, dataset, source.columns, source.name)
    if source.kind == "http" and source.http.pagination == "page":
        _check_no_record_shifted(source, raw[dataset.key], raw[source.incremental_column], extraction_started)
    mark = latest_change(raw[source.incremental_column])
    summary = ingest_frame(settings, engine, dataset, raw, source=source.name, file_name=None, checksum=None,
                           max_bad_share=source.max_bad_share, watermark=(since, mark))
    if summary.status == "loaded" and mark is not None:
        advance_watermark(engine, source.name, dataset.name, mark, summary.batch_id)
    return summary


def _check_no_record_shifted(source: SourceConfig, keys, changed, extraction_started: dt.datetime) -> None:
    """Page numbers are offsets: a record updated while the pages are read moves to the end of
    the result, is read twice, and pushes the record after it back onto a page already read,
    which is then never read, with the totals still adding up. The trace is a key read twice
    with one copy changed after the extraction began. (A key delivered twice otherwise is a
    data defect the batch handles: a duplicate, or a conflict that is quarantined.)"""
    from bizenv.sources.http import HttpSourceError
    from bizenv.standardize import parse_timestamps

    keyed = keys.notna() & (keys != "")
    changed_meanwhile = (parse_timestamps(changed) >= extraction_started).fillna(False).astype(bool)
    shifted = keys[keyed & changed_meanwhile]
    repeated = shifted[shifted.isin(keys[keyed & ~changed_meanwhile])]
    if not repeated.empty:
        raise HttpSourceError(
            f"{source.name}: record {repeated.iloc[0]} came on two pages ({len(repeated)} repeated): records "
            "changed during the page-by-page extraction and others may have been skipped; nothing loaded "
            "(retry the run)")


def _ingest_drop(settings: Settings, source: SourceConfig) -> list[BatchSummary]:
    from bizenv.datasets import get_dataset
    from bizenv.sources.drop import DropRejected, claimed, new_files
    from bizenv.warehouse import connect

    options = source.file_drop
    assert options is not None
    dataset = get_dataset(source.dataset)
    drop_dir, archive_dir = options.resolve(settings.data_dir)
    summaries: list[BatchSummary] = []
    unreadable: list[str] = []
    # listed before connecting: the wait for files to settle must not hold an embedded
    # (single-writer) warehouse open
    paths = new_files(options, drop_dir)
    if not paths:
        return summaries
    with connect(settings) as engine:
        for path in paths:
            # claimed: a second run over the same directory skips what this one is taking
            with claimed(path) as ours:
                if ours:
                    _ingest_drop_file(settings, engine, source, dataset, path, archive_dir, summaries,
                                      unreadable)
    if unreadable:
        raise DropRejected(f"{source.name}: {len(unreadable)} file(s) rejected and moved to "
                           f"{archive_dir / 'rejected'}: {'; '.join(unreadable)}", summaries)
    return summaries


def _ingest_drop_file(settings: Settings, engine: Engine, source: SourceConfig, dataset, path, archive_dir,
                      summaries: list, unreadable: list[str]) -> None:
    from bizenv.ingest import ingest_frame
    from bizenv.sources.drop import archive, load_drop_file, read_drop_frame
    from bizenv.sources.files import BatchRejected
    from bizenv.sources.frames import latest_change
    from bizenv.warehouse import query_df

    suffix = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    try:
        drop = load_drop_file(path)
        with engine.connect() as conn:
            earlier = query_df(conn, "ops/find_loaded_checksum.sql",
                               {"dataset": dataset.name, "checksum": drop.checksum})
        if not earlier.empty:
            batch_id, first_name = earlier["batch_id"].iloc[0], earlier["file_name"].iloc[0]
            moved = archive(path, archive_dir / "redelivered", suffix)
            log.warning("%s: %s has the same content as %s (batch %s): not loaded again; moved to %s",
                        source.name, path.name, first_name, batch_id, moved)
            return
        raw = read_drop_frame(drop, source, dataset)
    except BatchRejected as error:
        moved = archive(path, archive_dir / "rejected", suffix)
        log.error("%s: %s; moved to %s", source.name, error, moved)
        unreadable.append(str(error))
        return
    mark = latest_change(raw[source.incremental_column])
    summary = ingest_frame(settings, engine, dataset, raw, source=source.name, file_name=path.name,
                           checksum=drop.checksum, max_bad_share=source.max_bad_share,
                           watermark=(None, mark))
    if summary.status == "loaded":
        if mark is not None:
            advance_watermark(engine, source.name, dataset.name, mark, summary.batch_id)
        archive(path, archive_dir, summary.batch_id)
    else:
        archive(path, archive_dir / "rejected", summary.batch_id)
    summaries.append(summary)
