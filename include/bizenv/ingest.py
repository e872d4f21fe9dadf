"""One batch end to end: land → standardize → validate → quarantine → merge → record.

`ingest_frame` is the single code path behind `bizenv ingest-file`, the connectors and the
Airflow ingest DAGs. Everything after landing happens in one warehouse transaction, so a
batch either reaches core, quarantine and ops.batch together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, text

from bizenv import codes
from bizenv.batches import claim_batch, fail_stale_batches
from bizenv.chunks import KeyClaims, SeenRows, release_chunk_memory
from bizenv.datasets import PERSONAL_ID_COLUMNS, Dataset, get_dataset
from bizenv.history import next_change_time
from bizenv.landing import LandingWriter, iter_landed_batch
from bizenv.locks import REGION_CONFLICTS, lock_merge
from bizenv.pii import verified_pii_key
from bizenv.reasons import BATCH_REJECTED_RULE, describe, field_header
from bizenv.settings import Settings, chunk_rows
from bizenv.sources.files import BatchRejected, file_checksum, iter_department_file
from bizenv.sources.frames import latest_change
from bizenv.standardize import FAILURE_COLUMNS, code_checks, hide_resident_ids, protect_personal_ids, standardize
from bizenv.timeutil import utc_now
from bizenv.validate import combined_results, key_uniqueness_rule, publish_data_docs, run_suite
from bizenv.warehouse import bulk_insert, connect, query_df, run_sql, sql_text

log = logging.getLogger(__name__)

DEFAULT_MAX_BAD_SHARE = 0.05
MERGE_WORK_MEM = "64MB"  # PostgreSQL work_mem for the merge transaction only (SET LOCAL)


@dataclass
class BatchSummary:
    batch_id: str
    dataset: str
    extracted: int
    loaded: int
    quarantined: int
    duplicates: int
    status: str
    reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def new_batch_id(dataset: str) -> str:
    return f"{dataset}-{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _resolve_legacy_codes(crosswalk: Callable[[], pd.Series], rows: pd.DataFrame) -> pd.DataFrame:
    """Fill a missing USCC from the legacy-code crosswalk (legacy code -> USCC); report the ones
    it cannot fill."""
    missing = rows["uscc"].isna() & rows["legacy_reg_no"].notna()
    if not missing.any():
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    resolved = rows.loc[missing, "legacy_reg_no"].map(crosswalk())
    rows.loc[missing, "uscc"] = resolved.astype("string")
    unresolved = missing & rows["uscc"].isna()
    return pd.DataFrame(
        {
            "source_row": rows.loc[unresolved, "source_row"].to_numpy(),
            "field": "uscc",
            "rule": "uscc_unresolved",
            "value": rows.loc[unresolved, "legacy_reg_no"].fillna("").to_numpy(),
        }
    )


def _without_resident_ids(values: pd.Series, personal: bool | np.ndarray) -> pd.Series:
    """Values as quarantine may keep them: those of a personal-ID field masked throughout
    (`personal`: for the whole column or per value), any other wherever a department typed a
    valid resident ID into it (a natural person's 纳税人识别号, an ID in a USCC field)."""
    present = (values.notna() & (values.astype("string") != "")).to_numpy(dtype=bool)
    personal = np.broadcast_to(np.asarray(personal, dtype=bool), present.shape)
    hide = present & personal
    if not personal.all():
        hide |= ~personal & codes.are_resident_ids(values)
    # and an ID inside other text (spaced, full-width, embedded), wherever it came from: a batch
    # landed before the rule, a reason built from a parsed number
    embedded, in_text = codes.hide_resident_ids_in_column(values.astype("string").where(~hide))
    if not hide.any() and not in_text.any():
        return values
    values = values.astype("object").copy()
    values[hide] = [codes.mask_resident_id("".join(str(v).split())) for v in values[hide]]
    if in_text.any():
        values[in_text] = embedded.filter(pa.array(in_text)).to_pylist()
    return values


def _masked_records(raw: pd.DataFrame) -> pd.Series:
    """The raw row as JSON for quarantine, with personal ID numbers masked."""
    shown = raw.drop(columns=["source_row"]).copy()
    for column in shown.columns:
        shown[column] = _without_resident_ids(shown[column], column in PERSONAL_ID_COLUMNS)
    return pd.Series(
        [json.dumps(r, ensure_ascii=False) for r in shown.to_dict(orient="records")], index=raw.index
    )


def _quarantine_frame(
    dataset: Dataset,
    batch_id: str,
    raw: pd.DataFrame,
    rows: pd.DataFrame,
    failures: pd.DataFrame,
    now: dt.datetime,
) -> pd.DataFrame:
    failures = failures.copy()
    failures["value"] = _without_resident_ids(failures["value"].fillna("").astype("object"),
                                              personal=failures["field"].isin(PERSONAL_ID_COLUMNS).to_numpy())
    texts = [
        describe(dataset.name, f, r, v)
        for f, r, v in failures[["field", "rule", "value"]].itertuples(index=False)
    ]
    failures["zh"] = [t[0] for t in texts]
    failures["en"] = [t[1] for t in texts]
    failures["item"] = [
        {"field": f, "rule": r, "value": v}
        for f, r, v in failures[["field", "rule", "value"]].itertuples(index=False)
    ]
    grouped = failures.groupby("source_row", sort=True).agg(
        failures=("item", lambda items: json.dumps(list(items), ensure_ascii=False)),
        reason_zh=("zh", "；".join),
        reason_en=("en", "; ".join),
    )
    by_row = rows.set_index("source_row")
    raw_by_row = raw.set_index("source_row", drop=False)
    source_rows = grouped.index
    matching = _with_sql_dates(dataset, by_row.loc[source_rows, list(dataset.quarantine_match)])
    dates = {c.name for c in dataset.columns if c.kind == "date"}
    matching = matching.assign(**{c: _without_resident_ids(matching[c], personal=False)
                                  for c in matching.columns if c not in dates})
    return pd.DataFrame(
        {
            **{column: matching[column].to_numpy() for column in matching.columns},
            "batch_id": batch_id,
            "source_row": source_rows.astype("int64"),
            "record_key": _without_resident_ids(by_row.loc[source_rows, dataset.key], personal=False)
            .astype("string").to_numpy(),
            "region_code": _without_resident_ids(by_row.loc[source_rows, "region_code"], personal=False)
            .astype("string").to_numpy(),
            "record": _masked_records(raw_by_row.loc[source_rows]).to_numpy(),
            "failures": grouped["failures"].to_numpy(),
            "reason_zh": grouped["reason_zh"].to_numpy(),
            "reason_en": grouped["reason_en"].to_numpy(),
            "quarantined_at": now,
            "resolved_at": pd.NaT,
            "resolved_by_batch": None,
        }
    )


def _stage_frame(dataset: Dataset, batch_id: str, rows: pd.DataFrame, pii_key: bytes) -> pd.DataFrame:
    staged = rows.copy()
    for column in dataset.personal_ids:
        person = None
        if column.enterprise_when is not None:
            holder, enterprise = column.enterprise_when
            company = staged[holder] == enterprise
            staged[f"{holder.removesuffix('_type')}_uscc"] = staged[column.name].where(company)
            person = ~company
        staged = protect_personal_ids(staged, column.name, pii_key, column.hash_column, column.mask_column,
                                      personal=person)
    staged = _amounts_as_decimal_text(dataset, _with_sql_dates(dataset, staged))
    staged.insert(0, "batch_id", batch_id)
    return staged


def _amounts_as_decimal_text(dataset: Dataset, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the dataset's amounts as the shortest decimal text that reads back as the
    validated value ("12.34565", not the binary float 12.3456499...). Core's numeric columns parse
    that text and round it to their scale half away from zero, identically on both warehouses; a
    float cast would not (DuckDB converts the binary value exactly and lands on 12.3456)."""
    amounts = [c.name for c in dataset.columns if c.kind == "amount" and c.name in frame.columns]
    return frame.assign(**{
        name: pd.array(pc.cast(pa.array(frame[name], from_pandas=True, type=pa.float64()), pa.large_string()),
                       dtype=pd.ArrowDtype(pa.large_string()))
        for name in amounts
    })


def _with_sql_dates(dataset: Dataset, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the dataset's date columns as dates, the warehouse's type, not timestamps."""
    dates = [c.name for c in dataset.columns if c.kind == "date" and c.name in frame.columns]
    return frame.assign(**{name: frame[name].dt.date for name in dates})


class _FailureTally:
    """What a rejection names of a batch's failures, kept as the chunks pass: its first failing
    row and field, and how many rows fail each field's rule."""

    def __init__(self) -> None:
        self.first: tuple[int, str, str] | None = None
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, failures: pd.DataFrame) -> None:
        if failures.empty:
            return
        distinct = failures.drop_duplicates(["source_row", "field", "rule"])
        first = min(distinct[["source_row", "field", "rule"]].itertuples(index=False, name=None))
        self.first = first if self.first is None else min(self.first, first)
        self.counts.update(distinct.groupby(["field", "rule"]).size().to_dict())

    def detail(self, dataset: Dataset) -> str:
        """For the department: no values, which may be personal data; field headers as delivered."""
        def where(field: str, rule: str) -> str:
            return f"{field_header(dataset.name, field)} ({rule})"

        if self.first is None:
            return "no row-level failure"
        row, field, rule = self.first
        detail = f"first at row {int(row)} field {where(field, rule)}"
        (field, rule), rows = min(self.counts.items(), key=lambda item: (-item[1], item[0]))
        if rows > 1:
            detail += f"; most frequent: {where(field, rule)} in {rows} rows"
        return detail


def _drop_shadowed_failures(failures: pd.DataFrame) -> pd.DataFrame:
    """A value blanked by standardization (unreadable, Excel-mangled) also fails `required`;
    report the cause, not the echo."""
    if failures.empty:
        return failures
    failures = failures.reset_index(drop=True)
    specific = failures["rule"] != "required"
    causes = set(zip(failures.loc[specific, "source_row"], failures.loc[specific, "field"], strict=True))
    echo = [
        (r, f) in causes and rule == "required"
        for r, f, rule in failures[["source_row", "field", "rule"]].itertuples(index=False)
    ]
    return failures[~pd.Series(echo, dtype=bool)].drop_duplicates(["source_row", "field", "rule"])


@dataclass(frozen=True)
class LandedBatch:
    """An opened batch whose raw rows sit in the landing zone, ready to be loaded."""

    batch_id: str
    dataset: str
    landing_path: str
    origin: str
    extracted: int


def land_batch(
    settings: Settings,
    engine: Engine,
    dataset: Dataset,
    chunks: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    source: str,
    file_name: str | None,
    checksum: str | None,
    watermark: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
    watermark_column: str | None = None,
) -> LandedBatch:
    """Keep a batch's raw rows (a frame, or its chunks) as an immutable landing file and open
    the batch in ops.batch.

    The chunks are written one at a time to a temporary file beside the landing path; the
    batch is opened only once the source has delivered them all. A source that fails half-way
    (a file refused at its millionth row, an HTTP extraction found truncated) opens no batch
    and leaves no file: its exception propagates as it was raised. With `watermark_column`, the
    batch's latest change is read from that column as the chunks pass (watermark[1] ignored).

    The landing zone is the raw, immutable, access-restricted zone: it holds every delivered row
    with its values exactly as sent (columns named as the dataset's, fields outside the contract
    left out), the personal-ID fields' numbers included (needed to re-process a batch), except
    that a resident ID typed into any other field is masked before the file is written
    (docs/security.md). Outside those two fields nothing under the data directory holds a full
    resident ID; grant the landing root to the pipeline's service account only.
    """
    batch_id = new_batch_id(dataset.name)
    started = utc_now()
    origin = file_name or source
    writer = LandingWriter(settings.landing_root, dataset.name, batch_id, started.date())
    latest = watermark[1]
    source_chunks = iter([chunks] if isinstance(chunks, pd.DataFrame) else chunks)
    reading_source = True
    try:
        for raw in source_chunks:
            reading_source = False
            if watermark_column is not None and len(raw):
                mark = latest_change(raw[watermark_column])
                latest = mark if latest is None or (mark is not None and mark > latest) else latest
            writer.write(hide_resident_ids(dataset, raw))
            reading_source = True
        reading_source = False
        if not writer.started:  # a source that delivered nothing still lands its columns
            writer.write(pd.DataFrame({**{c: pd.Series(dtype="string") for c in dataset.column_names},
                                       "source_row": pd.Series(dtype="int64")}))
    except BaseException as error:
        writer.discard()
        # the source's own failure opens no batch; a failure to write the landing file is the
        # batch's, recorded as failed before landing
        if not reading_source and isinstance(error, Exception):
            _open_batch(engine, dataset, batch_id, started, source, file_name, checksum, (watermark[0], latest))
            _fail(engine, batch_id, writer.rows, error, landing_path=None)
        raise
    _open_batch(engine, dataset, batch_id, started, source, file_name, checksum, (watermark[0], latest))
    try:
        path = writer.commit()
        with engine.begin() as conn:
            run_sql(conn, "ops/record_landing.sql", {"batch_id": batch_id, "landing_path": path})
    except Exception as error:
        writer.discard()
        _fail(engine, batch_id, writer.rows, error, landing_path=None)
        raise
    return LandedBatch(batch_id, dataset.name, path, origin, writer.rows)


def _open_batch(engine: Engine, dataset: Dataset, batch_id: str, started: dt.datetime, source: str,
                file_name: str | None, checksum: str | None,
                watermark: tuple[dt.datetime | None, dt.datetime | None]) -> None:
    # every batch opened first closes the batches whose process died (docs/security.md), so none
    # stays `running` longer than until the next run; not before the source has been read: an
    # embedded warehouse would be held through a whole extraction
    fail_stale_batches(engine)
    with engine.begin() as conn:
        run_sql(
            conn,
            "ops/start_batch.sql",
            {
                "batch_id": batch_id,
                "source": source,
                "dataset": dataset.name,
                "file_name": file_name,
                "checksum": checksum,
                "watermark_from": watermark[0],
                "watermark_to": watermark[1],
                "started_at": started,
            },
        )
        claim_batch(conn, batch_id)


def load_batch(
    settings: Settings, engine: Engine, landed: LandedBatch, *, max_bad_share: float = DEFAULT_MAX_BAD_SHARE
) -> BatchSummary:
    """Standardize, validate, quarantine and merge a landed batch in one transaction, reading
    it a chunk at a time (bizenv.settings.chunk_rows)."""
    dataset = get_dataset(landed.dataset)
    try:
        raw = iter_landed_batch(landed.landing_path, chunk_rows())
        return _process(settings, engine, dataset, raw, landed, max_bad_share)
    except Exception as error:
        _fail(engine, landed.batch_id, landed.extracted, error, landing_path=landed.landing_path)
        raise


def _fail(engine: Engine, batch_id: str, extracted: int, error: Exception, *, landing_path: str | None) -> None:
    """Close a batch as failed. A batch that was landed keeps its landing path: it is the one
    to re-process once the cause is fixed."""
    message = str(error).splitlines()[0] if str(error) else ""
    with engine.begin() as conn:
        run_sql(
            conn,
            "ops/finish_batch.sql",
            {
                "batch_id": batch_id,
                "landing_path": landing_path,
                "extracted": extracted,
                "loaded": 0,
                "quarantined": 0,
                "duplicates": 0,
                "status": "failed",
                "reason": f"{type(error).__name__}: {message}"[:500],
                "finished_at": utc_now(),
            },
        )


def ingest_frame(
    settings: Settings,
    engine: Engine,
    dataset: Dataset,
    raw: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    source: str,
    file_name: str | None,
    checksum: str | None,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    watermark: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
) -> BatchSummary:
    """Take one extracted batch (text columns + source_row; a frame or its chunks) into the
    warehouse."""
    landed = land_batch(
        settings,
        engine,
        dataset,
        raw,
        source=source,
        file_name=file_name,
        checksum=checksum,
        watermark=watermark,
    )
    return load_batch(settings, engine, landed, max_bad_share=max_bad_share)


@dataclass
class _CheckedChunk:
    raw: pd.DataFrame  # the landed text rows
    rows: pd.DataFrame  # standardized, first occurrences only
    failures: pd.DataFrame  # FAILURE_COLUMNS
    results: pd.DataFrame  # RESULT_COLUMNS
    gx_result: object
    duplicates: int


class _Crosswalk:
    """The legacy-code crosswalk, read once per batch and only if a row needs it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._mapping: pd.Series | None = None

    def __call__(self) -> pd.Series:
        if self._mapping is None:
            self._mapping = query_df(self._conn, "ops/lookup_crosswalk.sql").set_index("legacy_reg_no")["uscc"]
        return self._mapping


def _as_text(raw: pd.DataFrame) -> pd.DataFrame:
    """The landed text columns with '' for a missing value, kept as Arrow strings: Python string
    objects would cost several times the memory of the chunk (docs/performance.md)."""
    return raw.astype({c: pd.StringDtype("pyarrow") for c in raw.columns if c != "source_row"}).fillna(
        {c: "" for c in raw.columns if c != "source_row"})


def _check_chunk(dataset: Dataset, raw: pd.DataFrame, seen: SeenRows | None, crosswalk: _Crosswalk) -> _CheckedChunk:
    """Standardize and validate one chunk: the first occurrence of each row (in the batch, with
    `seen`) and every failure of those rows, validation suite included."""
    raw = _as_text(raw)
    typed = standardize(dataset, raw)
    rows = typed.rows
    content = [c for c in rows.columns if c != "source_row"]
    repeated = (seen.repeated(rows[content]) if seen is not None
                else rows.duplicated(subset=content, keep="first").to_numpy())
    unique_rows = rows[~repeated].reset_index(drop=True)
    failures = [typed.failures[typed.failures["source_row"].isin(unique_rows["source_row"])]]
    if dataset.name == "registration":
        failures.append(_resolve_legacy_codes(crosswalk, unique_rows))
    failures.append(code_checks(dataset, unique_rows))
    outcome = run_suite(dataset.name, unique_rows)
    failures.append(outcome.failures)
    all_failures = _drop_shadowed_failures(pd.concat([f for f in failures if not f.empty] or [failures[0]]))
    return _CheckedChunk(raw, unique_rows, all_failures, outcome.results, outcome.gx_result, int(repeated.sum()))


def _key_conflicts(dataset: Dataset, rows: pd.DataFrame, source_rows: np.ndarray) -> pd.DataFrame:
    """The suite's key-uniqueness failure for `source_rows` of `rows`, as the suite reports it."""
    rule, columns = key_uniqueness_rule(dataset.name)
    chosen = rows[rows["source_row"].isin(source_rows)]
    return pd.DataFrame({"source_row": chosen["source_row"].to_numpy(), "field": columns[0], "rule": rule,
                         "value": chosen[columns[0]].astype("string").fillna("").to_numpy()})


def _is_key_rule(dataset: Dataset, results: pd.DataFrame) -> pd.Series:
    """Which of `results` (RESULT_COLUMNS) is the suite's key-uniqueness rule."""
    rule, columns = key_uniqueness_rule(dataset.name)
    return (results["rule"] == rule) & (results["column_name"] == "+".join(columns))


def _with_key_failures(dataset: Dataset, results: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    """A chunk's result for the key rule counting its rows that conflict with earlier chunks too."""
    rule, _ = key_uniqueness_rule(dataset.name)
    failing = failures.loc[failures["rule"] == rule, "source_row"].nunique()
    chosen = _is_key_rule(dataset, results)
    return results.assign(unexpected_count=results["unexpected_count"].where(~chosen, failing),
                          success=results["success"].where(~chosen, failing == 0))


def _with_late_key_failures(dataset: Dataset, totals: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The batch's result for the key rule counting rows of earlier chunks a later chunk's row
    conflicted with (their own chunk had counted them as passing)."""
    chosen = _is_key_rule(dataset, totals)
    return totals.assign(unexpected_count=totals["unexpected_count"] + chosen.astype(int) * rows,
                         success=totals["success"] & ~chosen)


def _process(
    settings: Settings,
    engine: Engine,
    dataset: Dataset,
    raw_chunks: Iterable[pd.DataFrame],
    landed: LandedBatch,
    max_bad_share: float,
) -> BatchSummary:
    """One transaction over the whole batch, its chunks standardized, validated, quarantined
    and staged one at a time; the merge once all are staged (bizenv.chunks: what must still be
    seen across chunks, whose files go when the batch ends, however it ends)."""
    _, key_columns = key_uniqueness_rule(dataset.name)
    seen, claims = SeenRows(), KeyClaims(key_columns)
    try:
        return _process_chunks(settings, engine, dataset, raw_chunks, landed, max_bad_share, seen, claims)
    finally:
        seen.close()
        claims.close()


def _process_chunks(
    settings: Settings,
    engine: Engine,
    dataset: Dataset,
    raw_chunks: Iterable[pd.DataFrame],
    landed: LandedBatch,
    max_bad_share: float,
    seen: SeenRows,
    claims: KeyClaims,
) -> BatchSummary:
    batch_id, origin, landing = landed.batch_id, landed.origin, landed.landing_path
    now = utc_now()
    pii_key = verified_pii_key(engine, settings)
    extracted = duplicates = unique = staged_count = 0
    bad_rows: list[np.ndarray] = []
    late: list[np.ndarray] = []
    results: list[pd.DataFrame] = []
    last_gx_result = None
    tally = _FailureTally()
    with engine.begin() as conn:
        # the chunks are checked, quarantined and staged before the dataset's merge lock is taken
        # (in the rejection below, or by merge_stage): what a concurrent merge of the dataset
        # writes is read only after it, so batches still end as if loaded one after the other, in
        # the order they take the lock, and the slow part of two batches runs side by side
        run_sql(conn, f"merge/{dataset.name}/clear_stage.sql", {"batch_id": batch_id})
        crosswalk = _Crosswalk(conn)
        for raw in raw_chunks:
            extracted += len(raw)
            checked = _check_chunk(dataset, raw, seen, crosswalk)
            conflicting, earlier = claims.conflicts(checked.rows)
            if len(conflicting):
                checked.failures = _drop_shadowed_failures(pd.concat(
                    [checked.failures, _key_conflicts(dataset, checked.rows, conflicting)], ignore_index=True))
                checked.results = _with_key_failures(dataset, checked.results, checked.failures)
                late.append(earlier)
            duplicates += checked.duplicates
            unique += len(checked.rows)
            results.append(checked.results)
            last_gx_result = checked.gx_result if checked.gx_result is not None else last_gx_result
            chunk_bad = checked.failures["source_row"].astype("int64").unique()
            bad_rows.append(chunk_bad)
            tally.add(checked.failures)
            bulk_insert(conn, f"quarantine.{dataset.name}",
                        _quarantine_frame(dataset, batch_id, checked.raw, checked.rows, checked.failures, now))
            good = checked.rows[~checked.rows["source_row"].isin(chunk_bad)]
            bulk_insert(conn, f"ops.stage_{dataset.name}", _stage_frame(dataset, batch_id, good, pii_key))
            staged_count += len(good)
            del checked, good, raw
            release_chunk_memory()
        # every chunk is in: the batch-wide bookkeeping (bizenv.chunks) is done with, and would
        # otherwise sit under the Data Docs rendering and the merge, the next peaks
        seen.close()
        claims.close()
        release_chunk_memory()
        if late:
            late_rows = np.unique(np.concatenate(late))
            withdrawn = _requarantine(conn, dataset, batch_id, landing, late_rows, now, crosswalk, tally)
            bad_rows.append(late_rows)
            staged_count -= withdrawn
        bad = np.unique(np.concatenate(bad_rows)) if bad_rows else np.array([], dtype=np.int64)
        totals = combined_results(results)
        if late:
            totals = _with_late_key_failures(dataset, totals, len(late_rows))
        publish_data_docs(dataset.name, last_gx_result, totals, settings.docs_dir / "data-docs")
        bad_share = len(bad) / max(unique, 1)
        if bad_share > max_bad_share:
            reason = (
                f"{origin}: {len(bad)} of {unique} rows fail validation "
                f"({bad_share:.1%} > {max_bad_share:.0%} allowed); batch rejected; "
                f"{tally.detail(dataset)}"
            )
            # nothing is loaded, and nothing vanishes: the bad rows are quarantined with their
            # failures for the department's feedback, the valid ones held back beside them until
            # the corrected delivery (which resolves both by key)
            held_back = _hold_back(conn, dataset, batch_id, landing, now, crosswalk)
            run_sql(conn, f"merge/{dataset.name}/clear_stage.sql", {"batch_id": batch_id})
            # serialised like a load: a concurrent batch that resolves quarantine rows sees these
            # (or none of them) exactly as one loaded after (or before) this one would
            lock_merge(conn, dataset.name)
            summary = BatchSummary(batch_id, dataset.name, extracted, 0, len(bad) + held_back, duplicates,
                                   "rejected", reason)
            _record_results(conn, dataset, batch_id, totals, now)
            _finish(conn, summary, landing, now)
        else:
            _record_results(conn, dataset, batch_id, totals, now)
            applicable = merge_stage(conn, dataset, batch_id, now)
            summary = BatchSummary(batch_id, dataset.name, extracted, applicable, len(bad),
                                   duplicates + staged_count - applicable, "loaded")
            _finish(conn, summary, landing, now)
    _check_reconciles(summary)
    return summary


def _landed_rows_among(landing: str, source_rows: np.ndarray) -> Iterator[pd.DataFrame]:
    """The landed chunks' rows whose source_row is among `source_rows` (a second, filtering pass)."""
    for raw in iter_landed_batch(landing, chunk_rows()):
        chosen = raw[raw["source_row"].isin(source_rows)]
        if len(chosen):
            yield chosen


def _requarantine(conn: Connection, dataset: Dataset, batch_id: str, landing: str, late_rows: np.ndarray,
                  now: dt.datetime, crosswalk: _Crosswalk, tally: _FailureTally) -> int:
    """Rows of earlier chunks whose key a later chunk's row claims too: checked again with that
    failure added and quarantined with all their failures (taken back from the stage, or from
    quarantine to be quarantined again). Returns how many were taken back from the stage."""
    withdrawn = 0
    for raw in _landed_rows_among(landing, late_rows):
        checked = _check_chunk(dataset, raw, None, crosswalk)
        conflicts = _key_conflicts(dataset, checked.rows, late_rows)
        tally.add(conflicts)  # their other failures were counted with their chunk
        failures = _drop_shadowed_failures(pd.concat([checked.failures, conflicts], ignore_index=True))
        params = [{"batch_id": batch_id, "source_row": int(r)} for r in checked.rows["source_row"]]
        withdrawn += _each_row(conn, f"merge/{dataset.name}/withdraw_staged_row.sql", params)
        _each_row(conn, f"merge/{dataset.name}/withdraw_quarantined_row.sql", params)
        bulk_insert(conn, f"quarantine.{dataset.name}",
                    _quarantine_frame(dataset, batch_id, checked.raw, checked.rows, failures, now))
    return withdrawn


def _each_row(conn: Connection, relative_path: str, params: list[dict]) -> int:
    if not params:
        return 0
    result = conn.execute(text(sql_text(relative_path)), params)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else 0


def _hold_back(conn: Connection, dataset: Dataset, batch_id: str, landing: str, now: dt.datetime,
               crosswalk: _Crosswalk) -> int:
    """Quarantine the valid rows of a rejected batch (those in the stage), held back beside its
    bad ones; returns how many."""
    held = 0
    staged = query_df(conn, f"merge/{dataset.name}/staged_rows.sql", {"batch_id": batch_id})["source_row"].to_numpy()
    for raw in _landed_rows_among(landing, staged):
        raw = _as_text(raw)
        rows = standardize(dataset, raw).rows
        if dataset.name == "registration":
            _resolve_legacy_codes(crosswalk, rows)  # the key as it was checked
        reasons = rows[["source_row"]].assign(field="", rule=BATCH_REJECTED_RULE, value="")
        frame = _quarantine_frame(dataset, batch_id, raw, rows, reasons, now)
        bulk_insert(conn, f"quarantine.{dataset.name}", frame)
        held += len(frame)
    return held


def _check_reconciles(summary: BatchSummary) -> None:
    if summary.extracted != summary.loaded + summary.quarantined + summary.duplicates:
        raise AssertionError(f"batch {summary.batch_id} does not reconcile: {summary}")


# The set-based SQL steps (paths under sql/merge/) that take a staged batch into core, run in
# order inside the batch's one transaction. Survivorship: registration alone writes the golden
# record (core.market_entity, SCD2) and is authoritative for name, type, region, status and
# legal representative; the other departments never touch it. Where a department record's
# region disagrees with the entity's current region (core.v_region_disagreement), the
# disagreement goes to core.entity_conflict through one shared pair of statements (clear, then
# record; both idempotent) run after either side arrives, so conflicts do not depend on the
# order in which departments deliver. Nothing is deleted from core: deregistration
# (注销/吊销/迁出) is a new version of the entity, a credit record's 移出日期 an update of it, and
# every record a merge replaces stays as a version of core.<dataset>_version (supersede, then
# insert: docs/history.md). Changes are stamped under one lock (bizenv.history.next_change_time).
REGION_CONFLICT_STEPS = ("conflicts/clear_region_conflicts", "conflicts/record_region_conflicts")
MERGE_STEPS: dict[str, tuple[str, ...]] = {
    "registration": (
        "registration/upsert_registration",
        "registration/supersede_versions",
        "registration/insert_versions",
        "registration/insert_entity_versions",
        "registration/close_entity_versions",
        *REGION_CONFLICT_STEPS,
    ),
    "tax_filing": (
        "tax_filing/upsert_tax_filing",
        "tax_filing/supersede_versions",
        "tax_filing/insert_versions",
        *REGION_CONFLICT_STEPS,
    ),
    "credit_record": (
        "credit_record/upsert_credit_record",
        "credit_record/supersede_versions",
        "credit_record/insert_versions",
        *REGION_CONFLICT_STEPS,
    ),
    "real_estate_case": (
        "real_estate_case/upsert_real_estate_case",
        "real_estate_case/supersede_versions",
        "real_estate_case/insert_versions",
    ),
}


# The step whose row count is the number of staged records that changed core ("loaded"): a new
# version of the golden record for registration (a new key, or a new updated_at of a known
# one); a new record, or a newer version of one, for the other datasets.
APPLYING_STEP: dict[str, str] = {
    "registration": "registration/insert_entity_versions",
    "tax_filing": "tax_filing/upsert_tax_filing",
    "credit_record": "credit_record/upsert_credit_record",
    "real_estate_case": "real_estate_case/upsert_real_estate_case",
}


def merge_staged(
    conn: Connection, dataset: Dataset, batch_id: str, staged: pd.DataFrame, now: dt.datetime
) -> int:
    """Bulk-stage a batch's valid rows and merge them into core (`merge_stage`), in the caller's
    transaction; returns how many staged records changed core."""
    lock_merge(conn, dataset.name)
    bulk_insert(conn, f"ops.stage_{dataset.name}", staged)
    return merge_stage(conn, dataset, batch_id, now)


def merge_stage(conn: Connection, dataset: Dataset, batch_id: str, now: dt.datetime) -> int:
    """Merge a batch's staged rows into core with set-based SQL, in the caller's transaction;
    returns how many staged records changed core. The stage is emptied again before the
    transaction ends. (The one merge path: ingest and the benchmark use it.)"""
    lock_merge(conn, dataset.name)
    changed_at = next_change_time(conn, now)
    if conn.dialect.name == "postgresql":
        run_sql(conn, "ops/set_merge_work_mem.sql", {"work_mem": MERGE_WORK_MEM})
        run_sql(conn, f"merge/{dataset.name}/analyze_stage.sql")
    params = {"batch_id": batch_id, "changed_at": changed_at, "resolved_at": now}
    applicable = 0
    for statement in MERGE_STEPS[dataset.name]:
        if statement in REGION_CONFLICT_STEPS:
            lock_merge(conn, REGION_CONFLICTS)
        changed = run_sql(conn, f"merge/{statement}.sql", params)
        if statement == APPLYING_STEP[dataset.name]:
            applicable = changed
    if applicable < 0:
        raise RuntimeError(f"merge/{APPLYING_STEP[dataset.name]}.sql reported no row count")
    run_sql(conn, f"merge/{dataset.name}/resolve_quarantine.sql", params)
    run_sql(conn, f"merge/{dataset.name}/clear_stage.sql", params)
    return applicable


def _record_results(
    conn: Connection, dataset: Dataset, batch_id: str, results: pd.DataFrame, now: dt.datetime
) -> None:
    frame = results.drop_duplicates(["rule", "column_name"]).copy()
    frame.insert(0, "batch_id", batch_id)
    frame.insert(1, "dataset", dataset.name)
    frame.insert(2, "suite", dataset.name)
    frame["checked_at"] = now
    bulk_insert(conn, "ops.validation_result", frame)


def _finish(conn: Connection, summary: BatchSummary, landing: str, now: dt.datetime) -> None:
    run_sql(
        conn,
        "ops/finish_batch.sql",
        {
            "batch_id": summary.batch_id,
            "landing_path": landing,
            "extracted": summary.extracted,
            "loaded": summary.loaded,
            "quarantined": summary.quarantined,
            "duplicates": summary.duplicates,
            "status": summary.status,
            "reason": summary.reason,
            "finished_at": utc_now(),
        },
    )


def ingest_file(
    settings: Settings,
    dataset_name: str,
    path: Path,
    *,
    source: str = "file",
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
) -> BatchSummary:
    """`bizenv ingest-file`: one department file. Raises BatchRejected before any batch is
    opened when the file cannot be read or lacks required columns; a batch rejected for too
    many bad rows is recorded and returned with status "rejected"."""
    dataset = get_dataset(dataset_name)
    checksum = file_checksum(Path(path))
    raw = iter_department_file(Path(path), dataset, chunk_rows())
    with connect(settings) as engine:
        summary = ingest_frame(
            settings,
            engine,
            dataset,
            raw,
            source=source,
            file_name=codes.masked_file_name(Path(path).name),
            checksum=checksum,
            max_bad_share=max_bad_share,
        )
    return summary


__all__ = ["BatchRejected", "BatchSummary", "ingest_file", "ingest_frame"]
