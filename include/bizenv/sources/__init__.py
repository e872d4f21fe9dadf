"""Department sources: REST APIs, department databases and file drops (include/config/sources.yaml).

A run of one configured source is three steps, the tasks of its Airflow DAG and, in order, of
`bizenv ingest` (`ingest_source`):

1. `extract_and_land`: read the stored watermark, extract what changed since (watermark minus
   the overlap window), or the new files of a drop, and land each batch as immutable raw
   Parquet + ops.batch (status `landed`). Rows flow from the source into the landing file in
   chunks of BIZENV_CHUNK_ROWS, never a whole batch in memory; the batch is opened once its
   source delivered the last chunk, and a source that fails half-way lands nothing;
2. `validate_and_merge`, once per landed batch: re-read its landing file and hand it to
   `bizenv.ingest.load_batch` (standardize, validate, quarantine, merge: the single batch code
   path); a batch that failed on an outage is re-processed from its landing file
   (`bizenv.batches.reload_batch`), never extracted again;
3. `advance_source_watermark`: only once the batches are merged (status "loaded"), move the
   watermark in ops.watermark to the latest change among them.

Re-running is safe: the merge is idempotent and the watermark never moves backwards.

Importing this package stays light (no requests, pandas or Great Expectations) so that DAG
files can read the configuration at parse time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
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
    "Extraction",
    "SourceConfig",
    "SourceConfigError",
    "SourceError",
    "SourceRefused",
    "advance_source_watermark",
    "advance_watermark",
    "extract_and_land",
    "get_source",
    "ingest_source",
    "load_sources",
    "read_watermark",
    "resolve_connection",
    "validate_and_merge",
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


@dataclass(frozen=True)
class Extraction:
    """What one run of `extract_and_land` left in the landing zone for the next step.

    `batch_ids`: the landed batches to validate and merge, oldest delivery first (those an
    earlier run landed but never got to merge come first). `refusal`: one line naming the
    dropped files that could not be read at all and were set aside, or "" when there were none;
    the run fails with it once the readable files are merged."""

    source: str
    batch_ids: list[str]
    refusal: str = ""

    def as_dict(self) -> dict:
        return {"batch_ids": list(self.batch_ids), "refusal": self.refusal}


def ingest_source(
    settings: Settings,
    name: str,
    *,
    sources: Mapping[str, SourceConfig] | None = None,
    connection: Connection | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[BatchSummary]:
    """One incremental run of the configured source `name` (`bizenv ingest`): the three steps
    of its Airflow DAG, in order and in this process: `extract_and_land`, `validate_and_merge`
    for each landed batch, `advance_source_watermark` over the merged ones.

    http / database: one batch with everything changed since the watermark (none when nothing
    changed). file_drop: one batch per new file; a re-delivered file (the same content as a
    loaded batch of the dataset) is not loaded again: it is logged and archived under
    `redelivered/`, and yields no summary. Unreadable dropped files raise DropRejected (with the
    summaries of the others) after the readable ones were merged.
    `connection` overrides the AIRFLOW_CONN_* lookup (Airflow adapters pass theirs);
    `sleep` replaces time.sleep between HTTP retries (tests)."""
    extraction = extract_and_land(settings, name, sources=sources, connection=connection, sleep=sleep)
    from bizenv.batches import BatchRunningElsewhere

    summaries = []
    for batch_id in extraction.batch_ids:
        try:
            summaries.append(validate_and_merge(settings, batch_id, sources=sources))
        except BatchRunningElsewhere as error:
            # a run over the same source at the same time took the batch first and merges it
            log.warning("%s: skipped, another run is merging it: %s", name, error)
    advance_source_watermark(settings, name, [s.batch_id for s in summaries if s.status == "loaded"],
                             sources=sources)
    if extraction.refusal:
        from bizenv.sources.drop import DropRejected

        raise DropRejected(extraction.refusal, summaries)
    return summaries


def extract_and_land(
    settings: Settings,
    name: str,
    *,
    sources: Mapping[str, SourceConfig] | None = None,
    connection: Connection | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Extraction:
    """Step 1: extract what changed since the stored watermark (watermark minus the overlap
    window) or the new files of a drop, and land each batch as raw Parquet in the landing zone
    and ops.batch, status `landed`. Nothing is validated or merged yet and the watermark stays:
    an outage here is retried from the source, an outage later re-reads the landed file."""
    from bizenv.datasets import get_dataset
    from bizenv.warehouse import connect

    source = get_source(name, sources)
    dataset = get_dataset(source.dataset)
    with connect(settings) as engine:
        waiting = _landed_batches(engine, source.name)
    if waiting:
        log.warning("%s: %d batch(es) landed by an earlier run were never merged; merging them first: %s",
                    source.name, len(waiting), ", ".join(waiting))
    if source.kind == "file_drop":
        landed, refusal = _land_drop(settings, source, dataset)
        return Extraction(source.name, waiting + landed, refusal)
    connection = connection or source.connection()
    # the warehouse is not held open during the extraction (an embedded DuckDB file is single-writer)
    with connect(settings) as engine:
        stored = read_watermark(engine, source.name)
    since = stored - source.overlap if stored is not None else None
    from bizenv.standardize import LOCAL_TIMEZONE

    extraction_started = dt.datetime.now(LOCAL_TIMEZONE).replace(tzinfo=None)
    if source.kind == "http":
        from bizenv.sources.http import extract_http

        extraction = extract_http(source, connection, since, sleep=sleep)
    else:
        from bizenv.sources.database import extract_database

        extraction = extract_database(source, connection, since)
    from bizenv.ingest import land_batch

    with contextlib.closing(extraction):
        chunks = _with_rows(_dataset_chunks(source, dataset, extraction, extraction_started))
        if chunks is None:
            log.info("%s: nothing changed since %s", source.name, since or "the beginning")
            return Extraction(source.name, waiting)
        # the extraction runs inside land_batch: `migrated=False` opens no connection before
        # land_batch needs one (the schema was checked above), so an embedded DuckDB file is held
        # no longer than land_batch holds it
        with connect(settings, migrated=False) as engine:
            landed = land_batch(settings, engine, dataset, chunks, source=source.name, file_name=None,
                                checksum=None, watermark=(since, None), watermark_column=source.incremental_column)
            _hand_over(engine, landed.batch_id)
    return Extraction(source.name, [*waiting, landed.batch_id])


def _with_rows(chunks: Iterator) -> Iterator | None:
    """`chunks` from the first one with rows on, or None when none has rows (nothing changed,
    and no batch is opened)."""
    for chunk in chunks:
        if not chunk.empty:
            return itertools.chain([chunk], chunks)
    return None


def _dataset_chunks(source: SourceConfig, dataset, frames: Iterable, extraction_started: dt.datetime) -> Iterator:
    """The extraction's frames under the dataset's columns (frames.DatasetChunks), with the checks
    that need every record made after the last frame and before the iteration ends: raised from
    it, they drop what was landed of the extraction."""
    from bizenv.sources.frames import DatasetChunks

    mapping = DatasetChunks(dataset, source.columns, source.name, fields_vary=source.kind == "http")
    paged = source.kind == "http" and source.http is not None and source.http.pagination == "page"
    shift_check = _PageShiftCheck(source, extraction_started) if paged else None
    for frame in frames:
        raw = mapping.map(frame)
        if shift_check is not None:
            shift_check.add(raw[dataset.key], raw[source.incremental_column])
        yield raw
    mapping.finish()
    if shift_check is not None:
        shift_check.check()


def validate_and_merge(settings: Settings, batch_id: str, *,
                       sources: Mapping[str, SourceConfig] | None = None) -> BatchSummary:
    """Step 2, once per landed batch: re-read its landing Parquet, standardize, validate,
    quarantine and merge it (bizenv.ingest.load_batch, one transaction). Never extracts.

    A `landed` batch is taken and loaded; any other is handed to `bizenv reload`'s
    `reload_batch`: a batch that failed (an outage in an earlier attempt) is loaded again from
    its landing file, a loaded one is left as it is and its summary returned, a rejected or
    running one is refused (bizenv.errors.Refused). A batch rejected for its content is returned with
    status "rejected" (its dropped file goes to the archive's `rejected/`)."""
    from bizenv.batches import reload_batch, worker_identity
    from bizenv.ingest import DEFAULT_MAX_BAD_SHARE, LandedBatch, load_batch
    from bizenv.landing import landed_row_count
    from bizenv.warehouse import connect, query_df, run_sql

    with connect(settings) as engine:
        with engine.begin() as conn:
            taken = run_sql(conn, "ops/take_landed_batch.sql", {"batch_id": batch_id, **worker_identity()})
        with engine.connect() as conn:
            found = query_df(conn, "ops/batch_origin.sql", {"batch_id": batch_id})
        batch = found.iloc[0] if not found.empty else None
        source = _configured(batch["source"], sources) if batch is not None else None
        max_bad_share = source.max_bad_share if source is not None else None
        if taken:
            landed = LandedBatch(batch_id, batch["dataset"], batch["landing_path"],
                                 batch["file_name"] or batch["source"], landed_row_count(batch["landing_path"]))
            summary = load_batch(settings, engine, landed,
                                 max_bad_share=DEFAULT_MAX_BAD_SHARE if max_bad_share is None else max_bad_share)
    if not taken:
        summary = reload_batch(settings, batch_id, max_bad_share=max_bad_share).summary
    if (summary.status == "rejected" and source is not None and source.kind == "file_drop"
            and _text(batch["file_name"])):
        _set_aside_rejected_file(settings, source, batch_id, batch["file_name"], _text(batch["checksum"]))
    return summary


def _text(value: object) -> str | None:
    """A text column's value, None for SQL NULL (which pandas reads as None or NaN)."""
    return value if isinstance(value, str) and value else None


def advance_source_watermark(settings: Settings, name: str, batch_ids: list[str], *,
                             sources: Mapping[str, SourceConfig] | None = None) -> dt.datetime | None:
    """Step 3, once every batch of the run is merged: move the source's watermark to the latest
    change time among its loaded batches (recorded in ops.batch when each was landed). A
    rejected or failed batch moves nothing, so its changes are read again by the next run;
    the watermark never moves backwards. Returns the watermark offered, or None."""
    from bizenv.warehouse import connect, query_df

    source = get_source(name, sources)
    marks = []
    with connect(settings) as engine:
        with engine.connect() as conn:
            for batch_id in batch_ids:
                found = query_df(conn, "ops/batch_watermark.sql", {"batch_id": batch_id})
                if found.empty or found["status"].iloc[0] != "loaded" or found["watermark_to"].isna().iloc[0]:
                    continue
                mark = found["watermark_to"].iloc[0]
                marks.append((mark.to_pydatetime() if hasattr(mark, "to_pydatetime") else mark, batch_id))
        if not marks:
            return None
        mark, batch_id = max(marks)
        advance_watermark(engine, source.name, source.dataset, mark, batch_id)
    return mark


def _configured(name: str, sources: Mapping[str, SourceConfig] | None) -> SourceConfig | None:
    """The configuration of the source a batch came from; None for one no longer configured
    (or a batch of `bizenv ingest-file`)."""
    return (sources if sources is not None else load_sources()).get(name)


def _landed_batches(engine: Engine, source: str) -> list[str]:
    from bizenv.warehouse import query_df

    with engine.connect() as conn:
        return list(query_df(conn, "ops/landed_batches.sql", {"source": source})["batch_id"])


def _hand_over(engine: Engine, batch_id: str) -> None:
    from bizenv.warehouse import run_sql

    with engine.begin() as conn:
        run_sql(conn, "ops/hand_over_landed_batch.sql", {"batch_id": batch_id})


class _PageShiftCheck:
    """Page numbers are offsets: a record updated while the pages are read moves to the end of
    the result, is read twice, and pushes the record after it back onto a page already read,
    which is then never read, with the totals still adding up. The trace is a key read twice
    with one copy changed after the extraction began. (A key delivered twice otherwise is a
    data defect the batch handles: a duplicate, or a conflict that is quarantined.)

    Fed chunk by chunk, it keeps the keys only, and checks once the last page is in."""

    def __init__(self, source: SourceConfig, extraction_started: dt.datetime) -> None:
        self.source = source
        self.extraction_started = extraction_started
        self._unchanged: list = []  # keys of records not changed since the extraction began
        self._changed_meanwhile: list = []

    def add(self, keys, changed) -> None:
        from bizenv.standardize import parse_timestamps

        keyed = keys.notna() & (keys != "")
        meanwhile = (parse_timestamps(changed) >= self.extraction_started).fillna(False).astype(bool)
        self._unchanged.append(keys[keyed & ~meanwhile])
        self._changed_meanwhile.append(keys[keyed & meanwhile])

    def check(self) -> None:
        import pandas as pd

        from bizenv.sources.http import HttpSourceError

        shifted = pd.concat(self._changed_meanwhile, ignore_index=True) if self._changed_meanwhile else None
        if shifted is None or shifted.empty:
            return
        repeated = shifted[shifted.isin(pd.concat(self._unchanged, ignore_index=True))]
        if not repeated.empty:
            raise HttpSourceError(
                f"{self.source.name}: record {repeated.iloc[0]} came on two pages ({len(repeated)} repeated): "
                "records changed during the page-by-page extraction and others may have been skipped; nothing "
                "loaded (retry the run)")


def _land_drop(settings: Settings, source: SourceConfig, dataset) -> tuple[list[str], str]:
    from bizenv.sources.drop import claimed, new_files
    from bizenv.warehouse import connect

    options = source.file_drop
    assert options is not None
    drop_dir, archive_dir = options.resolve(settings.data_dir)
    landed: list[str] = []
    unreadable: list[str] = []
    # listed before connecting: the wait for files to settle must not hold an embedded
    # (single-writer) warehouse open
    paths = new_files(options, drop_dir)
    if not paths:
        return landed, ""
    with connect(settings) as engine:
        for path in paths:
            # claimed: a second run over the same directory skips what this one is taking
            with claimed(path) as ours:
                if ours:
                    batch_id = _land_drop_file(settings, engine, source, dataset, path, archive_dir, unreadable)
                    if batch_id is not None:
                        landed.append(batch_id)
    refusal = ""
    if unreadable:
        refusal = (f"{source.name}: {len(unreadable)} file(s) rejected and moved to "
                   f"{archive_dir / 'rejected'}: {'; '.join(unreadable)}")
    return landed, refusal


def _land_drop_file(settings: Settings, engine: Engine, source: SourceConfig, dataset, path, archive_dir,
                    unreadable: list[str]) -> str | None:
    """Land one dropped file and archive it (its rows are in the landing zone now); returns the
    batch id, or None for a re-delivered or unreadable file."""
    from bizenv.ingest import land_batch
    from bizenv.settings import chunk_rows
    from bizenv.sources.drop import archive, load_drop_file, read_drop_chunks
    from bizenv.sources.files import BatchRejected
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
                        source.name, drop.name, first_name, batch_id, moved)
            return None
        # the file is read while it is landed: a chunk that cannot be read raises from within
        # land_batch, which then keeps nothing and opens no batch
        landed = land_batch(settings, engine, dataset, read_drop_chunks(drop, source, dataset, chunk_rows()),
                            source=source.name, file_name=drop.name, checksum=drop.checksum,
                            watermark=(None, None), watermark_column=source.incremental_column)
    except BatchRejected as error:
        moved = archive(path, archive_dir / "rejected", suffix)
        log.error("%s: %s; moved to %s", source.name, error, moved)
        unreadable.append(str(error))
        return None
    # archived before the hand-over: a landed batch's file is never picked up a second time
    archive(path, archive_dir, landed.batch_id)
    _hand_over(engine, landed.batch_id)
    return landed.batch_id


def _set_aside_rejected_file(settings: Settings, source: SourceConfig, batch_id: str, file_name: str,
                             checksum: str | None) -> None:
    """Move the archived file of a batch rejected for its content into the archive's `rejected/`,
    beside the unreadable ones, for the department's corrected delivery. The file is recognised
    by its name (as archived under this batch) and its checksum, never by name alone."""
    from pathlib import Path

    from bizenv.sources.drop import archive
    from bizenv.sources.files import file_checksum

    assert source.file_drop is not None
    _, archive_dir = source.file_drop.resolve(settings.data_dir)
    name = Path(file_name)
    for candidate in (archive_dir / f"{name.stem}.{batch_id}{name.suffix}", archive_dir / file_name):
        if not candidate.is_file():
            continue
        if checksum is not None and file_checksum(candidate) != checksum:
            continue
        moved = archive(candidate, archive_dir / "rejected", batch_id)
        log.error("%s: batch %s (%s) rejected; the file is in %s", source.name, batch_id, file_name, moved)
        return
