"""Legacy-code crosswalk: pre-2015 15-digit 注册号 → 统一社会信用代码, loaded in bulk.

`load_crosswalk(settings, path)` reads a crosswalk file (headers 注册号,统一社会信用代码 as
written by `bizenv.simulator.simulate.write_files`; English `legacy_reg_no,uscc` accepted too), checks
both codes, lands the raw rows, stages the valid ones through the bulk path and upserts them
into core.legacy_code_crosswalk in one set-based statement, in one transaction with its
ops.batch record. Re-loading the same file changes nothing. Registration batches resolve
rows that carry only a 注册号 through this table (bizenv.ingest).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from bizenv import codes
from bizenv.batches import claim_batch
from bizenv.datasets import Column, Dataset
from bizenv.ingest import DEFAULT_MAX_BAD_SHARE, new_batch_id, utc_now
from bizenv.landing import land_raw_batch
from bizenv.locks import lock_merge
from bizenv.settings import Settings
from bizenv.sources.files import BatchRejected, file_checksum, read_department_file
from bizenv.standardize import clean_code
from bizenv.warehouse import bulk_insert, connect, query_df, run_sql

CROSSWALK = Dataset(
    name="legacy_code_crosswalk",
    department_zh="市场监管局",
    key="legacy_reg_no",
    columns=(
        Column("legacy_reg_no", "注册号", "code", required=True),
        Column("uscc", "统一社会信用代码", "code", required=True),
    ),
)


@dataclass
class CrosswalkSummary:
    batch_id: str
    extracted: int
    loaded: int
    rejected: int
    duplicates: int
    status: str
    reason: str | None = None
    problems: list[dict] = field(default_factory=list)  # {source_row, field, rule, value}

    def as_dict(self) -> dict:
        return asdict(self)


def check_crosswalk(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Valid, de-duplicated mappings; the problems (one row per failed check); the number of
    repeated rows. A legacy number mapped to two different USCCs in one file is ambiguous and
    neither mapping is taken."""
    rows = pd.DataFrame(
        {
            "source_row": raw["source_row"].astype("int64"),
            "legacy_reg_no": clean_code(raw["legacy_reg_no"]),
            "uscc": clean_code(raw["uscc"]),
        }
    )
    legacy = rows["legacy_reg_no"].fillna("")
    uscc = rows["uscc"].fillna("")
    legacy_mangled = legacy.map(codes.is_excel_mangled)
    checks = [
        ("legacy_reg_no", "required", legacy == ""),
        ("legacy_reg_no", "excel_mangled", legacy_mangled),
        ("legacy_reg_no", "legacy_reg_no_format",
         (legacy != "") & ~legacy_mangled & ~legacy.map(codes.is_legacy_reg_no)),
        ("uscc", "required", uscc == ""),
        ("uscc", "excel_mangled", uscc.map(codes.is_excel_mangled)),
    ]
    uscc_rule = uscc.map(lambda v: codes.uscc_problem(v) if v and not codes.is_excel_mangled(v) else None)
    checks += [("uscc", rule, uscc_rule == rule) for rule in ("uscc_format", "uscc_check_char", "uscc_org_code")]
    problems = [
        pd.DataFrame({"source_row": rows.loc[mask, "source_row"], "field": name, "rule": rule,
                      "value": rows.loc[mask, name].fillna("")})
        for name, rule, mask in checks
        if mask.any()
    ]
    bad = rows["source_row"].isin(pd.concat(problems)["source_row"]) if problems else pd.Series(False, index=rows.index)
    good = rows[~bad]
    repeated = good.duplicated(["legacy_reg_no", "uscc"], keep="first")
    duplicates = int(repeated.sum())
    good = good[~repeated]
    ambiguous = good["legacy_reg_no"].duplicated(keep=False)
    if ambiguous.any():
        problems.append(
            pd.DataFrame({"source_row": good.loc[ambiguous, "source_row"], "field": "legacy_reg_no",
                          "rule": "legacy_reg_no_ambiguous", "value": good.loc[ambiguous, "legacy_reg_no"]})
        )
        good = good[~ambiguous]
    frame = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(
        columns=["source_row", "field", "rule", "value"]
    )
    return good.reset_index(drop=True), frame.sort_values(["source_row", "field"], kind="stable"), duplicates


def load_crosswalk(
    settings: Settings, path: Path, *, max_bad_share: float = DEFAULT_MAX_BAD_SHARE
) -> CrosswalkSummary:
    """Bulk-load a crosswalk file; idempotent. Raises BatchRejected when the file cannot be read
    or lacks a column; too many invalid rows reject the whole file (recorded in ops.batch)."""
    path = Path(path)
    raw = read_department_file(path, CROSSWALK)
    checksum = file_checksum(path)
    batch_id = new_batch_id(CROSSWALK.name)
    started = utc_now()
    with connect(settings) as engine:
        with engine.begin() as conn:
            run_sql(conn, "ops/start_batch.sql", {
                "batch_id": batch_id, "source": "crosswalk", "dataset": CROSSWALK.name,
                "file_name": path.name, "checksum": checksum, "watermark_from": None,
                "watermark_to": None, "started_at": started,
            })
            claim_batch(conn, batch_id)
        landing = None
        try:
            # the raw zone keeps the file as delivered, like every department batch
            landing = land_raw_batch(settings.landing_root, CROSSWALK.name, batch_id, raw, started.date())
            good, problems, duplicates = check_crosswalk(raw)
            rejected_rows = int(problems["source_row"].nunique())
            listed = problems[["source_row", "field", "rule", "value"]].to_dict(orient="records")
            extracted = len(raw)
            share = rejected_rows / max(extracted - duplicates, 1)
            now = utc_now()
            with engine.begin() as conn:
                lock_merge(conn, CROSSWALK.name)
                if share > max_bad_share:
                    # nothing is loaded: every distinct row counts as rejected, so the batch reconciles
                    reason = (f"{path.name}: {rejected_rows} of {extracted - duplicates} rows fail validation "
                              f"({share:.1%} > {max_bad_share:.0%} allowed); batch rejected; "
                              f"{_first_problems(listed)}")[:500]
                    summary = CrosswalkSummary(batch_id, extracted, 0, extracted - duplicates, duplicates,
                                               "rejected", reason, listed)
                    _finish(conn, summary, landing)
                    return summary
                staged = good.assign(batch_id=batch_id)[["batch_id", "source_row", "legacy_reg_no", "uscc"]]
                bulk_insert(conn, "ops.stage_legacy_code_crosswalk", staged)
                params = {"batch_id": batch_id, "changed_at": now}
                applicable = int(query_df(conn, "merge/legacy_code_crosswalk/count_applicable.sql", params)
                                 ["applicable"][0])
                run_sql(conn, "merge/legacy_code_crosswalk/upsert_crosswalk.sql", params)
                run_sql(conn, "merge/legacy_code_crosswalk/clear_stage.sql", params)
                reason = None
                if rejected_rows:
                    reason = f"{rejected_rows} invalid row(s) skipped: {_first_problems(listed)}"[:500]
                summary = CrosswalkSummary(
                    batch_id, extracted, applicable, rejected_rows,
                    duplicates + len(staged) - applicable, "loaded", reason, listed,
                )
                _finish(conn, summary, landing)
        except Exception as error:
            with engine.begin() as conn:
                message = str(error).splitlines()[0] if str(error) else ""
                _finish(conn, CrosswalkSummary(batch_id, len(raw), 0, 0, 0, "failed",
                                               f"{type(error).__name__}: {message}"[:500]), landing)
            raise
    return summary


def _first_problems(listed: list[dict]) -> str:
    return "; ".join(f"row {p['source_row']} {p['field']}: {p['rule']}" for p in listed[:5])


def _finish(conn, summary: CrosswalkSummary, landing: str | None) -> None:
    run_sql(conn, "ops/finish_batch.sql", {
        "batch_id": summary.batch_id, "landing_path": landing, "extracted": summary.extracted,
        "loaded": summary.loaded, "quarantined": summary.rejected, "duplicates": summary.duplicates,
        "status": summary.status, "reason": summary.reason, "finished_at": utc_now(),
    })


__all__ = ["CROSSWALK", "BatchRejected", "CrosswalkSummary", "check_crosswalk", "load_crosswalk"]
