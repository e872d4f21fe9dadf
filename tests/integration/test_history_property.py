"""Reading the warehouse at a cut-off, against an independent oracle (docs/history.md).

Hypothesis draws sequences of tax-filing deliveries (a few filings, each delivered again with
other 更新时间 and 申报渠道, out of order, with duplicates inside a batch) and merges them one batch
after another through the production merge. Plain Python, written from the definition, keeps what
the warehouse held after each batch: within a batch the row with the latest 更新时间 (the later
file row on a tie) stands for its filing, and it replaces the held version only when its 更新时间
is newer. At every batch's data cut-off, core.v_tax_filing_as_of must hold exactly that state,
and in the present core.tax_filing and the view agree with the oracle's last state.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bizenv.datasets import get_dataset
from bizenv.history import latest_change, reading_as_of
from bizenv.ingest import merge_staged
from bizenv.warehouse import make_engine, query_statement_df

BASE = dt.datetime(2024, 6, 3, 9, 0)
FILINGS = ("F1", "F2", "F3")
CHANNELS = ("电子税务局", "移动端", "办税服务厅")

delivery = st.tuples(st.sampled_from(FILINGS), st.integers(0, 6), st.sampled_from(CHANNELS))
histories = st.lists(st.lists(delivery, min_size=1, max_size=4), min_size=1, max_size=5)


def _stage(batch_id: str, rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "batch_id": batch_id,
            "source_row": range(1, len(rows) + 1),
            "filing_id": [f for f, _, _ in rows],
            "uscc": "91152921MA0P00017X",
            "region_code": "152921",
            "tax_period": "2024-05",
            "filed_at": BASE,
            "channel": [c for _, _, c in rows],
            "tax_amount": None,
            "refund_requested_at": pd.NaT,
            "refund_completed_at": pd.NaT,
            "updated_at": [BASE + dt.timedelta(hours=h) for _, h, _ in rows],
            "refund_requested_at_date_only": False,
            "refund_completed_at_date_only": False,
        }
    ).astype({"refund_requested_at": "datetime64[us]", "refund_completed_at": "datetime64[us]"})


def _oracle_after(state: dict, rows: list[tuple[str, int, str]]) -> dict:
    latest_in_batch: dict[str, tuple[int, int, str]] = {}
    for source_row, (filing, hours, channel) in enumerate(rows, start=1):
        seen = latest_in_batch.get(filing)
        if seen is None or (hours, source_row) > (seen[0], seen[1]):
            latest_in_batch[filing] = (hours, source_row, channel)
    state = dict(state)
    for filing, (hours, _, channel) in latest_in_batch.items():
        if filing not in state or hours > state[filing][0]:
            state[filing] = (hours, channel)
    return state


def _held(conn, view: str) -> dict:
    frame = query_statement_df(conn, f"select filing_id, updated_at, channel from {view}")
    assert frame["filing_id"].is_unique, frame  # one version of a filing at a time
    return {
        r.filing_id: (int((pd.Timestamp(r.updated_at) - BASE) / pd.Timedelta(hours=1)), r.channel)
        for r in frame.itertuples()
    }


@pytest.mark.parametrize("warehouse_settings", ["duckdb", "postgres"], indirect=True)
def test_as_of_reads_what_the_warehouse_held(warehouse_settings) -> None:
    engine = make_engine(warehouse_settings.warehouse_url)
    dataset = get_dataset("tax_filing")

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(histories)
    def check(batches: list[list[tuple[str, int, str]]]) -> None:
        with engine.begin() as conn:
            for table in ("core.tax_filing", "core.tax_filing_version"):
                conn.execute(text(f"delete from {table}"))
        states, cutoffs, state = [], [], {}
        for k, rows in enumerate(batches):
            with engine.begin() as conn:
                merge_staged(conn, dataset, f"b{k}", _stage(f"b{k}", rows), BASE + dt.timedelta(seconds=k))
            with engine.connect() as conn:
                cutoffs.append(latest_change(conn))
            state = _oracle_after(state, rows)
            states.append(state)
        for cutoff, expected in zip(cutoffs, states, strict=True):
            with engine.connect() as conn, reading_as_of(conn, cutoff):
                assert _held(conn, "core.v_tax_filing_as_of") == expected
        with engine.connect() as conn:
            assert _held(conn, "core.tax_filing") == states[-1]
            assert _held(conn, "core.v_tax_filing_as_of") == states[-1]

    try:
        check()
    finally:
        engine.dispose()
