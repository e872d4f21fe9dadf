"""The checks a computed snapshot must pass before it is published: the Great Expectations suite
`expectations/indicator_snapshot.json`, run through bizenv.validate."""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import Engine

from bizenv.errors import Refused
from bizenv.indicators.catalog import RATIO_UNIT, IndicatorDef, load_catalog
from bizenv.indicators.runs import get_run, set_status
from bizenv.regions import load_regions
from bizenv.timeutil import utc_now
from bizenv.validate import failed_expectations, load_suite_document
from bizenv.warehouse import query_df, run_sql

log = logging.getLogger(__name__)

SUITE_NAME = "indicator_snapshot"


class SnapshotInvalid(Refused, ValueError):
    """A computed snapshot failed its checks and cannot be published."""


def _suite_failures(
    rows: pd.DataFrame, catalog: list[IndicatorDef], region_codes: list[str]
) -> tuple[list[str], int]:
    """The snapshot suite over the rows of one run: one message per failure (row-level ones name
    the indicator and region), and how many of the suite's expectations failed."""
    units = {d.code: d.unit for d in catalog}
    frame = rows.reset_index(drop=True).copy()
    frame["row_id"] = range(len(frame))
    is_ratio = frame["indicator_code"].map(units).eq(RATIO_UNIT)
    frame["ratio_value"] = frame["value"].where(is_ratio)
    for column in (
        "value",
        "numerator",
        "denominator",
        "ratio_value",
        "target",
        "previous_value",
        "last_year_value",
        "within_limit_share",
        "p90_value",
        "cases_without_time",
        "backlog_open",
        "backlog_oldest_workdays",
    ):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    # GX hashes and sizes the whole frame per run; plain object columns keep that cheap.
    frame = frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)})
    failed = failed_expectations(
        SUITE_NAME,
        frame,
        {
            # one row per indicator and region, plus the breakdown rows the month has
            "expected_row_count": len(catalog) * len(region_codes) + int(frame["breakdown"].ne("").sum()),
            "region_codes": list(region_codes),
            "indicator_codes": [d.code for d in catalog],
        },
        row_id="row_id",
    )
    by_id = frame.set_index("row_id")
    messages: list[str] = []
    table_level: list[str] = []
    for failure in failed:
        column = failure.column
        for row_id in failure.rows:
            row = by_id.loc[row_id]
            messages.append(
                f"{failure.rule} failed for indicator {row['indicator_code']} region {row['region_code']}"
                + (f" ({column}={row[column]})" if column in by_id.columns else "")
            )
        if not failure.rows:
            table_level.append(f"{failure.rule} failed (observed {failure.observed})")
    # GX counts the rows; name the missing region x indicator pairs exactly, before the count.
    overall = frame[frame["breakdown"].eq("")]
    present = set(zip(overall["region_code"].astype(str), overall["indicator_code"].astype(str), strict=True))
    missing = [
        f"missing row for indicator {d.code} region {region}"
        for region in region_codes
        for d in catalog
        if (region, d.code) not in present
    ]
    messages = messages + missing + table_level
    return messages, len(failed)


def validate_snapshot(engine: Engine, run_id: str) -> None:
    """Check a computed run against expectations/indicator_snapshot.json. On success the run
    becomes 'validated'; on failure 'failed' with a one-line reason, and SnapshotInvalid is
    raised naming the run, indicator and region."""
    catalog = load_catalog()
    region_codes = load_regions().codes
    with engine.connect() as conn:
        run = get_run(conn, run_id)
        rows = query_df(conn, "snapshot/run_rows.sql", {"run_id": run_id})
    if run.status == "validated":
        return
    if run.status != "computed":
        raise ValueError(f"snapshot run {run_id} is {run.status}; only a computed run can be validated")
    messages, failed_expectations_count = _suite_failures(rows, catalog, region_codes)
    with engine.begin() as conn:
        # the run's provenance keeps the suite's verdict beside the batches that fed it
        run_sql(conn, "snapshot/record_check_provenance.sql", {
            "run_id": run_id,
            "suite": SUITE_NAME,
            "expectations_evaluated": len(load_suite_document(SUITE_NAME)["expectations"]),
            "expectations_failed": failed_expectations_count,
            "recorded_at": utc_now(),
        })
        if messages:
            more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
            reason = f"snapshot run {run_id} is invalid: {messages[0]}{more}"
            set_status(conn, run, "failed", reason)
        else:
            set_status(conn, run, "validated")
    if messages:
        log.error(reason)
        raise SnapshotInvalid(reason)

