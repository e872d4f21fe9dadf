"""Whether department data covers a month: the latest department update per core dataset."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, Engine

from bizenv import calendar
from bizenv.indicators.catalog import DATASETS
from bizenv.timeutil import month_bounds
from bizenv.warehouse import query_df


def _freshness(conn: Connection) -> dict[str, dt.datetime | None]:
    frame = query_df(conn, "snapshot/dataset_freshness.sql")
    latest = {
        str(d): (None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime())
        for d, v in frame.itertuples(index=False)
    }
    return {d: latest.get(d) for d in DATASETS}


def dataset_freshness(engine: Engine, month: str) -> dict[str, dt.datetime | None]:
    """The latest department update time (max updated_at) per core dataset."""
    month_bounds(month)
    with engine.connect() as conn:
        return _freshness(conn)


def _last_working_day(month_start: dt.date, month_end: dt.date) -> dt.date:
    day = month_end - dt.timedelta(days=1)
    while day >= month_start:
        if calendar.is_working_day(day):
            return day
        day -= dt.timedelta(days=1)
    return month_start


def stale_in(conn: Connection, month_start: dt.date, month_end: dt.date) -> list[str]:
    cutoff = dt.datetime.combine(_last_working_day(month_start, month_end), dt.time())
    return [d for d, latest in _freshness(conn).items() if latest is None or latest < cutoff]


def stale_datasets(engine: Engine, month: str) -> list[str]:
    """Datasets that do not yet cover `month`: no rows, or no update on or after the month's
    last statutory working day (departments deliver on working days, so a quiet weekend at the
    month end does not count as missing data)."""
    month_start, month_end = month_bounds(month)
    with engine.connect() as conn:
        return stale_in(conn, month_start, month_end)
