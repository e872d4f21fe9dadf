"""Whether department data covers a month, per source and reporting unit (docs/indicators.md,
"Coverage per source and reporting unit").

A source covers a month when its latest department update (max updated_at over every row it
delivered) is on or after the month's last statutory working day. A reporting unit waits for
the sources that delivered rows for it; a unit no source delivered a row for, and the
prefecture's total, wait for every source of the dataset; a dataset no source delivered any row
of covers nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from bizenv import calendar
from bizenv.indicators.catalog import DATASETS
from bizenv.regions import Regions, load_regions
from bizenv.timeutil import month_bounds
from bizenv.warehouse import query_df, stored_datetime


@dataclass(frozen=True)
class StaleSource:
    """A source of `dataset` that does not cover the month, with the region codes it delivered
    rows for (the units that wait for it) and its latest update. `source` None: no source has
    delivered any row of the dataset, so every unit waits."""

    dataset: str
    source: str | None
    region_codes: tuple[str, ...]
    latest_updated_at: dt.datetime | None


def _freshness(conn: Connection) -> dict[str, dt.datetime | None]:
    frame = query_df(conn, "snapshot/dataset_freshness.sql")
    latest = {str(d): stored_datetime(v) for d, v in frame.itertuples(index=False)}
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


def coverage_cutoff(month_start: dt.date, month_end: dt.date) -> dt.datetime:
    """The first moment of the month's last statutory working day (department local time):
    departments deliver on working days, so a quiet weekend or holiday at the month end does
    not count as missing data."""
    return dt.datetime.combine(_last_working_day(month_start, month_end), dt.time())


def _deliveries(conn: Connection) -> dict[str, dict[str, dict[str, dt.datetime | None]]]:
    """dataset -> source -> region code -> the source's latest update among its rows there."""
    frame = query_df(conn, "snapshot/source_coverage.sql")
    found: dict[str, dict[str, dict[str, dt.datetime | None]]] = {d: {} for d in DATASETS}
    for dataset, source, region_code, latest in frame.itertuples(index=False):
        if str(dataset) in found:
            found[str(dataset)].setdefault(str(source), {})[str(region_code)] = stored_datetime(latest)
    return found


def _latest(values) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _stale(deliveries: dict[str, dict[str, dict[str, dt.datetime | None]]], cutoff: dt.datetime) -> list[StaleSource]:
    stale = []
    for dataset in DATASETS:
        sources = deliveries.get(dataset, {})
        if not sources:
            stale.append(StaleSource(dataset, None, (), None))
            continue
        for source, units in sorted(sources.items()):
            latest = _latest(units.values())
            if latest is None or latest < cutoff:
                stale.append(StaleSource(dataset, source, tuple(sorted(units)), latest))
    return stale


def stale_sources_in(conn: Connection, month_start: dt.date, month_end: dt.date) -> list[StaleSource]:
    """The sources that do not cover the month, in the order of DATASETS, then by source name."""
    return _stale(_deliveries(conn), coverage_cutoff(month_start, month_end))


def stale_sources(engine: Engine, month: str) -> list[StaleSource]:
    """The sources that do not yet cover `month` (the freshness gate waits for them)."""
    month_start, month_end = month_bounds(month)
    with engine.connect() as conn:
        return stale_sources_in(conn, month_start, month_end)


def stale_in(conn: Connection, month_start: dt.date, month_end: dt.date) -> list[str]:
    """The datasets a source of which does not cover the month (some unit, and so the
    prefecture's total, has no data)."""
    stale = {s.dataset for s in stale_sources_in(conn, month_start, month_end)}
    return [d for d in DATASETS if d in stale]


def stale_datasets(engine: Engine, month: str) -> list[str]:
    """Datasets that do not yet cover `month` in every unit: no rows, or a source without an
    update on or after the month's last statutory working day."""
    month_start, month_end = month_bounds(month)
    with engine.connect() as conn:
        return stale_in(conn, month_start, month_end)


def uncovered_units(
    conn: Connection, month_start: dt.date, month_end: dt.date, unit_codes: list[str]
) -> dict[str, set[str]]:
    """Per dataset, the reporting units (of `unit_codes`, the prefecture's code among them) whose
    data does not cover the month; a dataset every unit has is absent. A unit is covered when
    every source that delivered rows for it covers the month; a unit no source delivered a row
    for, and the prefecture (its own code: the total of every unit), when every source of the
    dataset does."""
    deliveries = _deliveries(conn)
    stale = _stale(deliveries, coverage_cutoff(month_start, month_end))
    prefecture = load_regions().prefecture_code
    uncovered: dict[str, set[str]] = {}
    for dataset in DATASETS:
        late = [s for s in stale if s.dataset == dataset]
        if not late:
            continue
        if any(s.source is None for s in late):
            uncovered[dataset] = set(unit_codes)
            continue
        waiting = {code for s in late for code in s.region_codes}
        fed = {code for units in deliveries[dataset].values() for code in units}
        uncovered[dataset] = {code for code in unit_codes if code == prefecture or code in waiting or code not in fed}
    return uncovered


def _unit(code: str, regions: Regions) -> str:
    name = regions.names.get(code) or (regions.prefecture_name if code == regions.prefecture_code else None)
    return f"{code} {name}" if name else code


def describe_stale(stale: list[StaleSource], regions: Regions | None = None) -> str:
    """The stale sources in one line, in the order given: a dataset alone when no source has
    delivered any of it, else `dataset (source up to <latest update>: <code name> ...)` for
    each stale source, naming the units that wait for it."""
    regions = regions or load_regions()
    parts = []
    for s in stale:
        if s.source is None:
            parts.append(s.dataset)
            continue
        latest = f"{s.latest_updated_at:%Y-%m-%d %H:%M}" if s.latest_updated_at else "no update time"
        units = " / ".join(_unit(code, regions) for code in s.region_codes)
        parts.append(f"{s.dataset} (source {s.source} up to {latest}: {units})")
    return ", ".join(parts)
