"""Computing one snapshot version: every catalog indicator by its own `sql/indicators/<code>.sql`,
for every configured region and the whole prefecture, written as a new immutable run."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
from sqlalchemy import Connection, Engine

from bizenv import calendar
from bizenv.indicators.catalog import IndicatorDef, load_catalog, load_minimum_sample
from bizenv.indicators.freshness import stale_in
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


def _reference_values(conn: Connection, month: str) -> dict[tuple[str, str, str], float | None]:
    frame = query_df(conn, "snapshot/latest_values.sql", {"month": month})
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
    covered: bool,
    minimum_sample: int,
    month_end: dt.date,
) -> list[dict]:
    """One row per region for the indicator's own value (breakdown ''), plus one per region and
    breakdown part the SQL found. A count is a number only when every dataset it reads covers
    the month: then a region the SQL found nothing for is 0 (nothing happened there); otherwise
    it is no data (null), rows or not. Other indicators without rows have no value."""
    rows = []
    by_key = {(r["region_code"], r["breakdown"]): r for r in found.to_dict("records")}
    parts = sorted({b for _, b in by_key if b})
    for region in region_codes:
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


def compute(engine: Engine, month: str, *, triggered_by: str = "cli") -> SnapshotRun:
    """Compute a new version of the month's snapshot (status 'computed'), in one transaction."""
    month_start, month_end = month_bounds(month)
    month = f"{month_start:%Y-%m}"
    catalog = load_catalog()
    minimum_sample = load_minimum_sample()
    regions = load_regions()
    region_codes = regions.codes
    params = {"month_start": month_start, "month_end": month_end, "prefecture_code": regions.prefecture_code}
    started_at = utc_now()
    # every indicator of one snapshot reads the same state of core, whatever ingests commit meanwhile
    with consistent_transaction(engine) as conn:
        calendar_source = refresh_reference_tables(conn, month)
        version = int(query_df(conn, "snapshot/next_version.sql", {"month": month})["version"].iloc[0])
        run_id = f"{month}-v{version}"
        previous = _reference_values(conn, shift_month(month, -1))
        last_year = _reference_values(conn, shift_month(month, -12))
        stale = set(stale_in(conn, month_start, month_end))
        computed_at = utc_now()
        records = []
        for indicator in catalog:
            found = _indicator_rows(conn, indicator, params)
            stray = sorted(set(found["region_code"]) - set(region_codes))
            if stray:
                log.warning(
                    "%s: regions %s are not configured; they count in the prefecture only",
                    indicator.code,
                    stray,
                )
            covered = not stale.intersection(indicator.datasets)
            for row in _snapshot_rows(indicator, found, region_codes, covered, minimum_sample, month_end):
                key = (row["region_code"], indicator.code, row["breakdown"])
                records.append(
                    {
                        "run_id": run_id,
                        "version": version,
                        "month": month,
                        "indicator_code": indicator.code,
                        **row,
                        "previous_value": previous.get(key),
                        "last_year_value": last_year.get(key),
                        "computed_at": computed_at,
                    }
                )
        frame = pd.DataFrame.from_records(records)
        for column in ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                       "within_limit_share", "p90_value", "backlog_oldest_workdays"):
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
        for column in ("cases_without_time", "backlog_open"):
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Int64")
        frame["sample_size"] = frame["sample_size"].astype("int64")
        frame["version"] = frame["version"].astype("int64")
        frame["meets_target"] = frame["meets_target"].astype(object)
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
            },
        )
        bulk_insert(conn, "mart.indicator_snapshot", frame)
    log.info("computed snapshot %s (%d rows, triggered by %s)", run_id, len(frame), triggered_by)
    return SnapshotRun(run_id=run_id, month=month, version=version, status="computed", row_count=len(frame))

