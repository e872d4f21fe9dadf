"""The reference tables a snapshot reads, brought up to date before each computation:
mart.indicator_catalog, mart.dim_region, ops.office_period and ops.work_calendar."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection

from bizenv import calendar
from bizenv.indicators.catalog import IndicatorDef, load_catalog
from bizenv.marts import refresh_dim_region
from bizenv.timeutil import month_bounds
from bizenv.warehouse import bulk_insert, query_df, run_sql


def _refresh_catalog(conn: Connection, catalog: list[IndicatorDef]) -> None:
    for d in catalog:
        run_sql(
            conn,
            "snapshot/upsert_indicator_catalog.sql",
            {
                "indicator_code": d.code,
                "name_zh": d.name_zh,
                "name_en": d.name_en,
                "unit": d.unit,
                "direction": d.direction,
                "target": d.target,
                "target_operator": d.target_operator,
                "definition": d.definition,
                "policy_reference": d.policy_reference,
                "policy_limit": d.policy_limit,
                "breakdown_name": d.breakdown_name,
            },
        )


def _refresh_office_periods(conn: Connection) -> None:
    periods = calendar.load_office_periods()
    stored = query_df(conn, "snapshot/office_periods.sql")
    wanted = [(i + 1, p.start, p.end) for i, p in enumerate(periods)]
    have = [
        (int(n), s, e) for n, s, e in stored[["period_no", "start_time", "end_time"]].itertuples(index=False)
    ]
    if have == wanted:
        return
    run_sql(conn, "snapshot/delete_extra_office_periods.sql", {"period_count": len(wanted)})
    for number, start, end in wanted:
        run_sql(
            conn,
            "snapshot/upsert_office_period.sql",
            {"period_no": number, "start_time": start.isoformat(), "end_time": end.isoformat()},
        )


def _refresh_work_calendar(conn: Connection, month: str, first_day: dt.date, month_end: dt.date) -> str:
    """Store every day from `first_day` to the month end with its flag and source; returns the
    calendar source of each year used, for the snapshot run."""
    last_day = month_end - dt.timedelta(days=1)
    try:
        days = calendar.working_days_table(first_day, last_day)
        sources = "; ".join(
            f"{year}: {calendar.year_source(year)}" for year in range(first_day.year, last_day.year + 1)
        )
    except calendar.CalendarCoverageError as error:
        raise calendar.CalendarCoverageError(
            f"cannot compute the indicators of {month}: working days from {first_day} to {last_day} "
            f"are needed: {error}"
        ) from error
    stored = query_df(conn, "snapshot/work_calendar_days.sql", {"first_day": first_day, "last_day": last_day})
    have = {pd.Timestamp(d).date(): (bool(w), source) for d, w, source in stored.itertuples(index=False)}
    missing = [day for day in days if day[0] not in have]
    changed = [day for day in days if day[0] in have and have[day[0]] != (day[1], day[2])]
    if missing:
        frame = pd.DataFrame(
            {
                "day": pd.Series([d for d, _, _ in missing], dtype=object),
                "is_working_day": pd.Series([w for _, w, _ in missing], dtype=bool),
                "source": pd.Series([source for _, _, source in missing], dtype=object),
            }
        )
        bulk_insert(conn, "ops.work_calendar", frame)
    for day, working, source in changed:
        run_sql(
            conn, "snapshot/update_work_calendar_day.sql", {"day": day, "is_working_day": working, "source": source}
        )
    return sources


def refresh_reference_tables(conn: Connection, month: str) -> str:
    """Bring the reference tables the snapshot of `month` reads up to date, idempotently:
    mart.indicator_catalog from indicators.yaml, mart.dim_region from regions.yaml (the names
    dashboards show beside the snapshot's units), ops.office_period from office_hours.yaml and
    ops.work_calendar for every day a duration of the month needs (from 1 January of the
    previous year, or the earliest start of a case completed in the month if earlier, through
    the month end). Returns the calendar source of each year. Raises
    calendar.CalendarCoverageError when no calendar source covers a year it needs."""
    month_start, month_end = month_bounds(month)
    _refresh_catalog(conn, load_catalog())
    refresh_dim_region(conn)
    _refresh_office_periods(conn)
    first_day = dt.date(month_start.year - 1, 1, 1)
    earliest = query_df(
        conn, "snapshot/earliest_case_start.sql", {"month_start": month_start, "month_end": month_end}
    )["earliest"].iloc[0]
    if earliest is not None and not pd.isna(earliest):
        first_day = min(first_day, pd.Timestamp(earliest).date())
    return _refresh_work_calendar(conn, month, first_day, month_end)

