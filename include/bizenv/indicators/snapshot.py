"""Computing one snapshot version: every catalog indicator by its own `sql/indicators/<code>.sql`,
for every configured region and the whole prefecture, written as a new immutable run."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
from sqlalchemy import Connection, Engine

from bizenv import calendar
from bizenv.history import latest_change, reading_as_of
from bizenv.indicators.catalog import IndicatorDef, load_catalog, load_minimum_sample
from bizenv.indicators.freshness import uncovered_units
from bizenv.indicators.reference import refresh_reference_tables
from bizenv.indicators.runs import SnapshotRun
from bizenv.regions import load_regions
from bizenv.timeutil import month_bounds, shift_month, utc_now
from bizenv.warehouse import bulk_insert, consistent_transaction, query_df, query_statement_df, run_sql, sql_text

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["region_code", "value", "numerator", "denominator", "sample_size"]
# what the duration indicators return besides (docs/indicators.md, "Durations")
DURATION_COLUMNS = [
    "breakdown",
    "within_limit_share",
    "p90_value",
    "cases_without_time",
    "backlog_open",
    "backlog_oldest_started_at",
]


# what every median-duration indicator shares; its own file only selects its cases
DURATION_SHAPE = "indicators/shared/workdays_median.sql"


def indicator_statement(indicator: IndicatorDef) -> str:
    """The query of one indicator: its own file, or for a duration its cases under DURATION_SHAPE."""
    own = sql_text(f"indicators/{indicator.code}.sql")
    if not indicator.is_duration:
        return own
    return f"with cases as (\n{own}\n)\nselect * from (\n{sql_text(DURATION_SHAPE)}\n) as shaped"


def _indicator_rows(conn: Connection, indicator: IndicatorDef, params: dict) -> pd.DataFrame:
    frame = query_statement_df(conn, indicator_statement(indicator), {**params, "policy_limit": indicator.policy_limit})
    extra = [c for c in frame.columns if c not in RESULT_COLUMNS]
    if not set(RESULT_COLUMNS) <= set(frame.columns) or any(c not in DURATION_COLUMNS for c in extra):
        raise RuntimeError(
            f"sql/indicators/{indicator.code}.sql must return {RESULT_COLUMNS} and optionally "
            f"{DURATION_COLUMNS}, got {list(frame.columns)}"
        )
    frame = frame.reindex(columns=[*RESULT_COLUMNS, *DURATION_COLUMNS])
    frame["breakdown"] = frame["breakdown"].fillna("").astype(str)
    frame["region_code"] = frame["region_code"].astype(str)
    duplicated = frame[frame.duplicated(["region_code", "breakdown"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise RuntimeError(
            f"sql/indicators/{indicator.code}.sql returned region {row['region_code']} "
            f"breakdown {row['breakdown']!r} twice"
        )
    return frame


def _reference_values(
    conn: Connection, month: str, data_cutoff: dt.datetime
) -> dict[tuple[str, str, str], float | None]:
    frame = query_df(conn, "snapshot/latest_values.sql", {"month": month, "data_cutoff": data_cutoff})
    return {
        (str(r), str(i), str(b)): (None if v is None or pd.isna(v) else float(v))
        for r, i, b, v in frame[["region_code", "indicator_code", "breakdown", "value"]].itertuples(index=False)
    }


def _number(value: object) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _whole(value: object) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def _backlog_age(oldest_start: object, month_end: dt.date) -> float | None:
    """Working days the oldest open case has waited by the month end. Working time only grows
    with an earlier start, so the case that started first is the oldest in working days too."""
    if oldest_start is None or pd.isna(oldest_start):
        return None
    return calendar.working_days_between(pd.Timestamp(oldest_start).to_pydatetime(), dt.datetime.combine(
        month_end, dt.time()))


def _snapshot_rows(
    indicator: IndicatorDef,
    found: pd.DataFrame,
    region_codes: list[str],
    not_covered: set[str],
    minimum_sample: int,
    month_end: dt.date,
) -> list[dict]:
    """One row per region for the indicator's own value (breakdown ''), plus one per region and
    breakdown part the SQL found. A count is a number in a region only when the data of every
    dataset it reads covers the month there (`not_covered` lists the regions where one does not):
    then a region the SQL found nothing for is 0 (nothing happened there); otherwise it is no
    data (null), rows or not. Other indicators without rows have no value."""
    rows = []
    by_key = {(r["region_code"], r["breakdown"]): r for r in found.to_dict("records")}
    parts = sorted({b for _, b in by_key if b})
    for region in region_codes:
        covered = region not in not_covered
        for breakdown in ["", *parts]:
            row = by_key.get((region, breakdown))
            if row is None and breakdown:
                continue
            if row is None:
                zero = indicator.is_count and covered
                row = {"value": 0.0 if zero else None, "sample_size": 0}
            value = _number(row.get("value")) if covered or not indicator.is_count else None
            sample_size = _whole(row.get("sample_size")) or 0
            sufficient = sample_size >= minimum_sample
            rows.append(
                {
                    "region_code": region,
                    "breakdown": breakdown,
                    "value": value,
                    "numerator": _number(row.get("numerator")),
                    "denominator": _number(row.get("denominator")),
                    "sample_size": sample_size,
                    "target": indicator.target,
                    "meets_target": indicator.meets(value) if sufficient else None,
                    "within_limit_share": _number(row.get("within_limit_share")),
                    "p90_value": _number(row.get("p90_value")),
                    "cases_without_time": _whole(row.get("cases_without_time")),
                    "backlog_open": _whole(row.get("backlog_open")),
                    "backlog_oldest_workdays": _backlog_age(row.get("backlog_oldest_started_at"), month_end),
                }
            )
    return rows


def _month_rows(
    conn: Connection, month: str, data_cutoff: dt.datetime | None
) -> tuple[list[dict], str]:
    """Every catalog indicator of the month from what `conn` reads (the present, or a cut-off
    set by bizenv.history.reading_as_of), with the references published from data up to
    `data_cutoff`; and the calendar sources the run used."""
    month_start, month_end = month_bounds(month)
    catalog = load_catalog()
    minimum_sample = load_minimum_sample()
    regions = load_regions()
    region_codes = regions.codes
    params = {"month_start": month_start, "month_end": month_end, "prefecture_code": regions.prefecture_code}
    calendar_source = refresh_reference_tables(conn, month)
    reference_cutoff = data_cutoff or dt.datetime.min
    previous = _reference_values(conn, shift_month(month, -1), reference_cutoff)
    last_year = _reference_values(conn, shift_month(month, -12), reference_cutoff)
    uncovered = uncovered_units(conn, month_start, month_end, region_codes)
    rows = []
    for indicator in catalog:
        found = _indicator_rows(conn, indicator, params)
        stray = sorted(set(found["region_code"]) - set(region_codes))
        if stray:
            log.warning(
                "%s: regions %s are not configured; they count in the prefecture only",
                indicator.code,
                stray,
            )
        not_covered = set().union(*(uncovered.get(d, set()) for d in indicator.datasets))
        for row in _snapshot_rows(indicator, found, region_codes, not_covered, minimum_sample, month_end):
            key = (row["region_code"], indicator.code, row["breakdown"])
            rows.append(
                {
                    "indicator_code": indicator.code,
                    **row,
                    "previous_value": previous.get(key),
                    "last_year_value": last_year.get(key),
                }
            )
    return rows, calendar_source


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                   "within_limit_share", "p90_value", "backlog_oldest_workdays"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    for column in ("cases_without_time", "backlog_open"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Int64")
    frame["sample_size"] = frame["sample_size"].astype("int64")
    frame["meets_target"] = frame["meets_target"].astype(object)
    return frame


def compute(engine: Engine, month: str, *, triggered_by: str = "cli") -> SnapshotRun:
    """Compute a new version of the month's snapshot (status 'computed'), in one transaction,
    with its data cut-off and the batches that fed it (mart.snapshot_provenance)."""
    month_start, _ = month_bounds(month)
    month = f"{month_start:%Y-%m}"
    started_at = utc_now()
    # every indicator of one snapshot reads the same state of core, whatever ingests commit meanwhile
    with consistent_transaction(engine) as conn:
        data_cutoff = latest_change(conn)
        version = int(query_df(conn, "snapshot/next_version.sql", {"month": month})["version"].iloc[0])
        run_id = f"{month}-v{version}"
        rows, calendar_source = _month_rows(conn, month, data_cutoff)
        computed_at = utc_now()
        frame = _typed(pd.DataFrame.from_records(
            [{"run_id": run_id, "version": version, "month": month, **row, "computed_at": computed_at}
             for row in rows]
        ))
        frame["version"] = frame["version"].astype("int64")
        run_sql(
            conn,
            "snapshot/insert_run.sql",
            {
                "run_id": run_id,
                "month": month,
                "version": version,
                "status": "computed",
                "row_count": len(frame),
                "started_at": started_at,
                "finished_at": utc_now(),
                "calendar_source": calendar_source,
                "data_cutoff": data_cutoff,
            },
        )
        bulk_insert(conn, "mart.indicator_snapshot", frame)
        run_sql(
            conn,
            "snapshot/record_batch_provenance.sql",
            {"run_id": run_id, "month": month, "version": version, "data_cutoff": data_cutoff,
             "recorded_at": computed_at},
        )
    log.info("computed snapshot %s (%d rows, data up to %s, triggered by %s)", run_id, len(frame),
             data_cutoff, triggered_by)
    return SnapshotRun(run_id=run_id, month=month, version=version, status="computed", row_count=len(frame))


AS_OF_COLUMNS = ["month", "region_code", "indicator_code", "breakdown", *[
    c for c in ("value", "numerator", "denominator", "sample_size", "target", "meets_target", "previous_value",
                "last_year_value", "within_limit_share", "p90_value", "cases_without_time", "backlog_open",
                "backlog_oldest_workdays")
], "data_cutoff"]


def compute_as_of(engine: Engine, month: str, as_of: dt.datetime) -> pd.DataFrame:
    """The month's snapshot rows computed from the warehouse as it stood at `as_of` (naive UTC),
    stored nowhere: at a published run's data cut-off they are that run's rows, value for value
    (docs/history.md). data_cutoff is the latest change the computation read."""
    month_start, _ = month_bounds(month)
    month = f"{month_start:%Y-%m}"
    with consistent_transaction(engine) as conn:
        try:
            with reading_as_of(conn, as_of):
                data_cutoff = latest_change(conn)
                rows, _ = _month_rows(conn, month, data_cutoff)
        finally:
            # the reference tables a computation refreshes are the present's; nothing of this is kept
            conn.rollback()
    frame = _typed(pd.DataFrame.from_records(rows)).assign(month=month, data_cutoff=data_cutoff)
    return frame[AS_OF_COLUMNS].sort_values(["region_code", "indicator_code", "breakdown"]).reset_index(drop=True)
