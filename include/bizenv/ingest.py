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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine

from bizenv import codes
from bizenv.batches import claim_batch, fail_stale_batches
from bizenv.datasets import PERSONAL_ID_COLUMNS, Dataset, get_dataset
from bizenv.history import next_change_time
from bizenv.landing import land_raw_batch, read_landed_batch
from bizenv.locks import REGION_CONFLICTS, lock_merge
from bizenv.pii import verified_pii_key
from bizenv.reasons import BATCH_REJECTED_RULE, describe, field_header
from bizenv.settings import Settings
from bizenv.sources.files import BatchRejected, file_checksum, read_department_file
from bizenv.standardize import FAILURE_COLUMNS, code_checks, hide_resident_ids, protect_personal_ids, standardize
from bizenv.timeutil import utc_now
from bizenv.validate import run_suite
from bizenv.warehouse import bulk_insert, connect, query_df, run_sql

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


def _resolve_legacy_codes(conn: Connection, rows: pd.DataFrame) -> pd.DataFrame:
    """Fill a missing USCC from the legacy-code crosswalk; report the ones it cannot fill."""
    missing = rows["uscc"].isna() & rows["legacy_reg_no"].notna()
    if not missing.any():
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    crosswalk = query_df(conn, "ops/lookup_crosswalk.sql").set_index("legacy_reg_no")["uscc"]
    resolved = rows.loc[missing, "legacy_reg_no"].map(crosswalk)
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


def _rejection_detail(dataset: Dataset, failures: pd.DataFrame) -> str:
    """Where a rejected batch goes wrong, for the department: its first failing row and field,
    and the failure most of its rows share (field headers as delivered; no values, which may be
    personal data)."""
    def where(failure: pd.Series) -> str:
        return f"{field_header(dataset.name, failure['field'])} ({failure['rule']})"

    first = failures.sort_values(["source_row", "field", "rule"]).iloc[0]
    detail = f"first at row {int(first['source_row'])} field {where(first)}"
    counts = failures.groupby(["field", "rule"]).size().reset_index(name="rows")
    common = counts.sort_values(["rows", "field", "rule"], ascending=[False, True, True]).iloc[0]
    if common["rows"] > 1:
        detail += f"; most frequent: {where(common)} in {common['rows']} rows"
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
    raw: pd.DataFrame,
    *,
    source: str,
    file_name: str | None,
    checksum: str | None,
    watermark: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
) -> LandedBatch:
    """Open a batch in ops.batch and keep its raw rows as an immutable landing file.

    The landing zone is the raw, immutable, access-restricted zone: it holds every delivered row
    with its values exactly as sent (columns named as the dataset's, fields outside the contract
    left out), the personal-ID fields' numbers included (needed to re-process a batch), except
    that a resident ID typed into any other field is masked before the file is written
    (docs/security.md). Outside those two fields nothing under the data directory holds a full
    resident ID; grant the landing root to the pipeline's service account only.
    """
    # every ingest first closes the batches whose process died (docs/security.md), so none
    # stays `running` longer than until the next run
    fail_stale_batches(engine)
    batch_id = new_batch_id(dataset.name)
    started = utc_now()
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
    origin = file_name or source
    try:
        path = land_raw_batch(settings.landing_root, dataset.name, batch_id, hide_resident_ids(dataset, raw),
                              started.date())
        with engine.begin() as conn:
            run_sql(conn, "ops/record_landing.sql", {"batch_id": batch_id, "landing_path": path})
    except Exception as error:
        _fail(engine, batch_id, len(raw), error, landing_path=None)
        raise
    return LandedBatch(batch_id, dataset.name, path, origin, len(raw))


def load_batch(
    settings: Settings, engine: Engine, landed: LandedBatch, *, max_bad_share: float = DEFAULT_MAX_BAD_SHARE
) -> BatchSummary:
    """Standardize, validate, quarantine and merge a landed batch in one transaction."""
    dataset = get_dataset(landed.dataset)
    try:
        raw = read_landed_batch(landed.landing_path)
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
    raw: pd.DataFrame,
    *,
    source: str,
    file_name: str | None,
    checksum: str | None,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    watermark: tuple[dt.datetime | None, dt.datetime | None] = (None, None),
) -> BatchSummary:
    """Take one extracted batch (text columns + source_row) into the warehouse."""
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


def _process(
    settings: Settings,
    engine: Engine,
    dataset: Dataset,
    raw: pd.DataFrame,
    landed: LandedBatch,
    max_bad_share: float,
) -> BatchSummary:
    batch_id, origin, landing = landed.batch_id, landed.origin, landed.landing_path
    now = utc_now()
    raw = raw.astype({c: object for c in raw.columns if c != "source_row"}).fillna("")
    typed = standardize(dataset, raw)
    rows = typed.rows
    content = [c for c in rows.columns if c != "source_row"]
    duplicate = rows.duplicated(subset=content, keep="first")
    unique_rows = rows[~duplicate].reset_index(drop=True)
    failures = [typed.failures[typed.failures["source_row"].isin(unique_rows["source_row"])]]
    with engine.connect() as conn:
        if dataset.name == "registration":
            failures.append(_resolve_legacy_codes(conn, unique_rows))
    failures.append(code_checks(dataset, unique_rows))
    outcome = run_suite(dataset.name, unique_rows, docs_dir=settings.docs_dir / "data-docs")
    failures.append(outcome.failures)
    all_failures = _drop_shadowed_failures(pd.concat([f for f in failures if not f.empty] or [failures[0]]))
    bad_rows = set(all_failures["source_row"].astype("int64"))
    extracted = len(raw)
    duplicates = int(duplicate.sum())
    bad_share = len(bad_rows) / max(len(unique_rows), 1)
    if bad_share > max_bad_share:
        reason = (
            f"{origin}: {len(bad_rows)} of {len(unique_rows)} rows fail validation "
            f"({bad_share:.1%} > {max_bad_share:.0%} allowed); batch rejected; "
            f"{_rejection_detail(dataset, all_failures)}"
        )
        # nothing is loaded, and nothing vanishes: the bad rows are quarantined with their
        # failures for the department's feedback, the valid ones held back beside them until
        # the corrected delivery (which resolves both by key)
        held_back = unique_rows.loc[~unique_rows["source_row"].isin(bad_rows), ["source_row"]].assign(
            field="", rule=BATCH_REJECTED_RULE, value="")
        quarantine = _quarantine_frame(dataset, batch_id, raw, unique_rows,
                                       pd.concat([all_failures, held_back], ignore_index=True), now)
        summary = BatchSummary(batch_id, dataset.name, extracted, 0, len(quarantine), duplicates, "rejected", reason)
        with engine.begin() as conn:
            # serialised like a load: a concurrent batch that resolves quarantine rows sees these
            # (or none of them) exactly as one loaded after (or before) this one would
            lock_merge(conn, dataset.name)
            _record_results(conn, dataset, batch_id, outcome.results, now)
            bulk_insert(conn, f"quarantine.{dataset.name}", quarantine)
            _finish(conn, summary, landing, now)
        _check_reconciles(summary)
        return summary

    good = unique_rows[~unique_rows["source_row"].isin(bad_rows)]
    staged = _stage_frame(dataset, batch_id, good, verified_pii_key(engine, settings))
    quarantine = _quarantine_frame(dataset, batch_id, raw, unique_rows, all_failures, now)
    with engine.begin() as conn:
        lock_merge(conn, dataset.name)  # before anything reads core or quarantine (bizenv.locks)
        _record_results(conn, dataset, batch_id, outcome.results, now)
        bulk_insert(conn, f"quarantine.{dataset.name}", quarantine)
        applicable = merge_staged(conn, dataset, batch_id, staged, now)
        summary = BatchSummary(
            batch_id,
            dataset.name,
            extracted,
            applicable,
            len(quarantine),
            duplicates + len(staged) - applicable,
            "loaded",
        )
        _finish(conn, summary, landing, now)
    _check_reconciles(summary)
    return summary


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
    """Bulk-stage a batch's valid rows and merge them into core with set-based SQL, in the
    caller's transaction; returns how many staged records changed core. The stage is emptied
    again before the transaction ends. (The one merge path: ingest and the benchmark use it.)"""
    lock_merge(conn, dataset.name)
    changed_at = next_change_time(conn, now)
    if conn.dialect.name == "postgresql":
        run_sql(conn, "ops/set_merge_work_mem.sql", {"work_mem": MERGE_WORK_MEM})
    bulk_insert(conn, f"ops.stage_{dataset.name}", staged)
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
    raw = read_department_file(Path(path), dataset)
    checksum = file_checksum(Path(path))
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
