"""Publishing a validated run and reading the published snapshot of a month."""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import Engine

from bizenv.indicators.catalog import load_catalog
from bizenv.indicators.checks import validate_snapshot
from bizenv.indicators.runs import SnapshotRun, get_run, set_status
from bizenv.indicators.snapshot import compute
from bizenv.timeutil import month_bounds
from bizenv.warehouse import query_df

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


def publish(engine: Engine, run_id: str) -> SnapshotRun:
    """Publish a validated run: it becomes the month's latest version in mart.v_indicator_latest."""
    with engine.begin() as conn:
        run = get_run(conn, run_id)
        if run.status != "validated":
            raise ValueError(
                f"snapshot run {run_id} is {run.status}; only a computed run that passed validation "
                "can be published"
            )
        set_status(conn, run, "published")
    log.info("published snapshot %s", run_id)
    return SnapshotRun(run.run_id, run.month, run.version, "published", run.row_count)


def compute_snapshot(engine: Engine, month: str, *, triggered_by: str = "cli") -> SnapshotRun:
    """compute -> validate -> publish; the run stays 'failed' (and SnapshotInvalid propagates)
    when the checks fail."""
    run = compute(engine, month, triggered_by=triggered_by)
    validate_snapshot(engine, run.run_id)
    return publish(engine, run.run_id)


def show(engine: Engine, month: str, region: str | None = None) -> pd.DataFrame:
    """The latest published snapshot of `month` (optionally one region), by region then in
    catalog order; empty when the month has no published snapshot."""
    month_start, _ = month_bounds(month)
    with engine.connect() as conn:
        frame = query_df(conn, "snapshot/latest_month.sql", {"month": f"{month_start:%Y-%m}"})
    if frame.empty:
        return pd.DataFrame(columns=SHOW_COLUMNS)
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
