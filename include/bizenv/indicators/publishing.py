"""Publishing a validated run and reading the published snapshot of a month.

A publish gives the run its month's revision window and logs what it changed against the month's
previous published version; a month that is final (正式) is published again only as a revision
with a reason (bizenv.indicators.revisions, docs/history.md, "Revisions").

On the embedded DuckDB warehouse a publish also writes the read-only copy of the mart that
dashboards open (bizenv.marts, docs/dashboard-contract.md): the warehouse file has one writer
process, which an ingest may hold for minutes, while the copy can be read at any time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from bizenv.indicators.catalog import load_catalog
from bizenv.indicators.checks import validate_snapshot
from bizenv.indicators.revisions import record_publication, require_open
from bizenv.indicators.runs import SnapshotRun, get_run, set_status
from bizenv.indicators.snapshot import compute
from bizenv.marts import published_copy_path, write_published_copy
from bizenv.timeutil import month_bounds, utc_now
from bizenv.warehouse import dialect_of, query_df

log = logging.getLogger(__name__)

SHOW_COLUMNS = [
    "month",
    "region_code",
    "indicator_code",
    "name_zh",
    "name_en",
    "unit",
    "value",
    "numerator",
    "denominator",
    "sample_size",
    "target",
    "meets_target",
    "previous_value",
    "last_year_value",
    "breakdown",
    "within_limit_share",
    "policy_limit",
    "p90_value",
    "cases_without_time",
    "backlog_open",
    "backlog_oldest_workdays",
    "version",
    "run_id",
    "computed_at",
]


def publish(
    engine: Engine, run_id: str, *, published_copy: Path | None = None, revision_reason: str | None = None
) -> SnapshotRun:
    """Publish a validated run: it becomes the month's version in mart.v_indicator_trend (and in
    mart.v_indicator_latest while the month is the newest). The month's first publish starts its
    revision window; a later one logs the values it changed (mart.snapshot_revision). A final
    month is refused (revisions.MonthFinal) unless `revision_reason` makes this a revision. On
    DuckDB the mart's read-only copy is written again too, at `published_copy` (default:
    published/mart.duckdb beside the warehouse file, $BIZENV_DATA_DIR/published/mart.duckdb by
    default)."""
    target = published_copy or published_copy_path(engine)
    with engine.begin() as conn:
        run = get_run(conn, run_id)
        if run.status != "validated":
            raise ValueError(
                f"snapshot run {run_id} is {run.status}; only a computed run that passed validation "
                "can be published"
            )
        record_publication(conn, run, revision_reason=revision_reason, now=utc_now())
        set_status(conn, run, "published")
        if dialect_of(engine) == "duckdb" and target is not None:
            # from the publishing transaction, which sees the run published: a copy that cannot be
            # written (a full disk) leaves the run validated, to be published again, rather than
            # published with dashboards still on the previous copy
            write_published_copy(conn, target)
            log.info("wrote the read-only copy of the mart %s", target)
    log.info("published snapshot %s", run_id)
    return SnapshotRun(run.run_id, run.month, run.version, "published", run.row_count)


def compute_snapshot(
    engine: Engine, month: str, *, triggered_by: str = "cli", revision_reason: str | None = None
) -> SnapshotRun:
    """compute -> validate -> publish; the run stays 'failed' (and SnapshotInvalid propagates)
    when the checks fail. A final month is refused before anything is computed, unless
    `revision_reason` makes this a revision (bizenv.indicators.revisions.revise)."""
    if revision_reason is None:
        with engine.connect() as conn:
            require_open(conn, month)
    run = compute(engine, month, triggered_by=triggered_by)
    validate_snapshot(engine, run.run_id)
    return publish(engine, run.run_id, revision_reason=revision_reason)


def show(engine: Engine, month: str, region: str | None = None) -> pd.DataFrame:
    """The latest published snapshot of `month` (optionally one region), by region then in
    catalog order; empty when the month has no published snapshot."""
    month_start, _ = month_bounds(month)
    with engine.connect() as conn:
        frame = query_df(conn, "snapshot/latest_month.sql", {"month": month_start})
    if frame.empty:
        return pd.DataFrame(columns=SHOW_COLUMNS)
    frame["month"] = f"{month_start:%Y-%m}"  # the mart's month is a date; the month shown is text
    if region is not None:
        frame = frame[frame["region_code"] == str(region)]
    order = {d.code: i for i, d in enumerate(load_catalog())}
    frame = frame.assign(_order=frame["indicator_code"].map(order).fillna(len(order)))
    frame = frame.sort_values(["region_code", "_order", "indicator_code", "breakdown"]).drop(columns="_order")
    for column in ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                   "within_limit_share", "policy_limit", "p90_value", "backlog_oldest_workdays"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in ("cases_without_time", "backlog_open"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    frame["meets_target"] = frame["meets_target"].astype(object).where(frame["meets_target"].notna(), None)
    return frame[SHOW_COLUMNS].reset_index(drop=True)
