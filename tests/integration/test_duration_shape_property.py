"""The shape the median-duration indicators share (sql/indicators/shared/workdays_median.sql,
docs/indicators.md "Durations") against plain Python written from the definition, on DuckDB and
PostgreSQL.

Hypothesis draws the cases an indicator selects (unit, 登记类型 or none, working days or no time of
day, completed in the month, after it or not yet, start). Per unit, per 登记类型, per unit and
登记类型 and for the prefecture: the median and 90th percentile are percentile_cont (linear
between the two nearest ranks) over the completed cases with a duration; sample_size counts them;
within_limit_share is the share of them ≤ the limit; cases_without_time counts completed cases
without one; backlog_open counts cases not completed by the month end, and the oldest open timed
case gives backlog_oldest_started_at.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bizenv.indicators.snapshot import DURATION_SHAPE
from bizenv.warehouse import bulk_insert, make_engine, query_statement_df, sql_text

A, B, P = "152921", "152922", "152900"
MONTH_END = dt.datetime(2024, 7, 1)
LIMIT = 0.5

case = st.fixed_dictionaries({
    "region_code": st.sampled_from([A, B]),
    "breakdown": st.sampled_from(["首次登记", "抵押登记"]),
    "workdays": st.one_of(st.none(), st.integers(0, 40).map(lambda k: k / 8)),
    "ends": st.sampled_from(["in_month", "later", "open"]),
    "start_hour": st.integers(0, 400),
})


def percentile_cont(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def oracle(cases: list[dict], with_breakdown: bool) -> dict[tuple[str, str], dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for c in cases:
        keys = [(c["region_code"], ""), (P, "")]
        if with_breakdown:
            keys += [(c["region_code"], c["breakdown"]), (P, c["breakdown"])]
        for key in keys:
            groups.setdefault(key, []).append(c)
    expected = {}
    for key, members in groups.items():
        completed = [c for c in members if c["ends"] == "in_month"]
        timed = [c["workdays"] for c in completed if c["workdays"] is not None]
        open_cases = [c for c in members if c["ends"] != "in_month"]
        timed_open = [c["started_at"] for c in open_cases if not c["lacks_time_of_day"]]
        expected[key] = {
            "value": percentile_cont(timed, 0.5),
            "p90_value": percentile_cont(timed, 0.9),
            "sample_size": len(timed),
            "within_limit_share": (sum(w <= LIMIT for w in timed) / len(timed)) if timed else None,
            "cases_without_time": len(completed) - len(timed),
            "backlog_open": len(open_cases),
            "backlog_oldest_started_at": min(timed_open) if timed_open else None,
        }
    return expected


def _cases_frame(drawn: list[dict], with_breakdown: bool) -> pd.DataFrame:
    rows = []
    for c in drawn:
        started = dt.datetime(2024, 6, 1) + dt.timedelta(hours=c["start_hour"])
        lacks_time = c["workdays"] is None
        completed = {"in_month": dt.datetime(2024, 6, 30, 12), "later": dt.datetime(2024, 7, 2, 12),
                     "open": None}[c["ends"]]
        c.update(started_at=started, lacks_time_of_day=lacks_time)
        rows.append({
            "region_code": c["region_code"],
            "breakdown": c["breakdown"] if with_breakdown else None,
            "started_at": started,
            "completed_at": completed,
            # a duration exists only for a completed case with times of day (core.v_case_workdays)
            "workdays": c["workdays"] if c["ends"] == "in_month" else None,
            "lacks_time_of_day": lacks_time,
        })
    frame = pd.DataFrame(rows, columns=["region_code", "breakdown", "started_at", "completed_at", "workdays",
                                        "lacks_time_of_day"])
    return frame.astype({"started_at": "datetime64[us]", "completed_at": "datetime64[us]", "workdays": "float64",
                         "lacks_time_of_day": bool, "region_code": object, "breakdown": object})


def _close(left, right) -> bool:
    if left is None or pd.isna(left):
        return right is None
    if right is None:
        return False
    if isinstance(right, dt.datetime):
        return pd.Timestamp(left) == pd.Timestamp(right)
    return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("warehouse_settings", ["duckdb", "postgres"], indirect=True)
def test_duration_shape_matches_the_definition(warehouse_settings) -> None:
    engine = make_engine(warehouse_settings.warehouse_url)
    statement = (f"with cases as (select * from ops.duration_shape_cases)\n"
                 f"select * from (\n{sql_text(DURATION_SHAPE)}\n) as shaped")
    with engine.begin() as conn:
        conn.execute(text(
            "create table ops.duration_shape_cases (region_code varchar, breakdown varchar, started_at timestamp, "
            "completed_at timestamp, workdays double precision, lacks_time_of_day boolean)"))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(case, min_size=0, max_size=14), st.booleans())
    def check(drawn: list[dict], with_breakdown: bool) -> None:
        frame = _cases_frame(drawn, with_breakdown)
        with engine.begin() as conn:
            conn.execute(text("delete from ops.duration_shape_cases"))
            if len(frame):
                bulk_insert(conn, "ops.duration_shape_cases", frame)
            found = query_statement_df(conn, statement, {"month_end": MONTH_END, "prefecture_code": P,
                                                         "policy_limit": LIMIT})
        expected = oracle(drawn, with_breakdown)
        got = {(r["region_code"], r["breakdown"] or ""): r for r in found.to_dict("records")}
        assert set(got) == set(expected)
        for key, values in expected.items():
            for column, value in values.items():
                assert _close(got[key][column], value), (key, column, got[key][column], value)

    try:
        check()
    finally:
        engine.dispose()
