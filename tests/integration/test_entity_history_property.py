"""The golden record's history (core.market_entity, SCD type 2) against an independent oracle.

Hypothesis draws sequences of registration deliveries for two enterprises: states with other
更新时间 and 登记状态, out of order, a state delivered again in a later batch with other content.
Each sequence is merged batch after batch through the production merge. Plain Python, written from
the definition in docs/history.md, keeps the history: every state (enterprise, 更新时间) the
warehouse ever received is one version, with the content of its first delivery; a version is
valid from its 更新时间 until the next version of the enterprise begins, and the last one is
current. After every batch core.market_entity must hold exactly that history.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bizenv import codes
from bizenv.datasets import get_dataset
from bizenv.ingest import merge_staged
from bizenv.warehouse import make_engine, query_statement_df

BASE = dt.datetime(2024, 6, 3, 9, 0)
ENTERPRISES = tuple(codes.make_uscc("91", "152921", f"MA0H{n:04d}") for n in (1, 2))
STATUSES = ("存续", "迁出", "注销")

# one delivered state: (enterprise, hours after BASE of its 更新时间, 登记状态); a batch holds each
# (enterprise, 更新时间) once, as validation leaves it (conflicting duplicates are quarantined)
state = st.tuples(st.sampled_from(range(len(ENTERPRISES))), st.integers(0, 8), st.sampled_from(STATUSES))
batch = st.lists(state, min_size=1, max_size=5, unique_by=lambda s: (s[0], s[1]))
histories = st.lists(batch, min_size=1, max_size=5)


def _stage(batch_id: str, rows: list[tuple[int, int, str]]) -> pd.DataFrame:
    usccs = [ENTERPRISES[e] for e, _, _ in rows]
    updated = [BASE + dt.timedelta(hours=h) for _, h, _ in rows]
    return pd.DataFrame(
        {
            "batch_id": batch_id,
            "source_row": range(1, len(rows) + 1),
            "uscc": usccs,
            "legacy_reg_no": None,
            "name": [f"企业{u[-6:]}" for u in usccs],
            "entity_type": "企业",
            "legal_rep_name": "张三",
            "region_code": "152921",
            "industry_code": "E4790",
            "registered_capital": "100",
            "established_date": dt.date(2024, 1, 2),
            "submitted_at": updated,
            "submitted_at_date_only": False,
            "issued_at": updated,
            "issued_at_date_only": False,
            "channel": "全程电子化",
            "event_type": "变更",
            "status": [s for _, _, s in rows],
            "status_date": pd.NaT,
            "updated_at": updated,
            "name_key": [f"企业{u[-6:]}" for u in usccs],
            "legal_rep_id_hash": None,
            "legal_rep_id_masked": None,
        }
    ).astype({"submitted_at": "datetime64[us]", "issued_at": "datetime64[us]", "updated_at": "datetime64[us]",
              "status_date": "datetime64[s]"})


def _oracle_history(batches: list[list[tuple[int, int, str]]]) -> set[tuple]:
    """(uscc, valid_from hours, valid_to hours or None, is_current, status) of every version."""
    first_delivery: dict[tuple[int, int], str] = {}
    for rows in batches:
        for enterprise, hours, status in rows:
            first_delivery.setdefault((enterprise, hours), status)
    history = set()
    for enterprise in range(len(ENTERPRISES)):
        starts = sorted(h for e, h in first_delivery if e == enterprise)
        for position, hours in enumerate(starts):
            following = starts[position + 1] if position + 1 < len(starts) else None
            history.add((ENTERPRISES[enterprise], hours, following, following is None,
                         first_delivery[(enterprise, hours)]))
    return history


def _hours(value) -> int | None:
    return None if pd.isna(value) else int((pd.Timestamp(value) - BASE) / pd.Timedelta(hours=1))


def _held(conn) -> set[tuple]:
    frame = query_statement_df(conn, "select uscc, valid_from, valid_to, is_current, status from core.market_entity")
    return {(r.uscc, _hours(r.valid_from), _hours(r.valid_to), bool(r.is_current), r.status)
            for r in frame.itertuples()}


@pytest.mark.parametrize("warehouse_settings", ["duckdb", "postgres"], indirect=True)
def test_entity_history_is_every_state_received(warehouse_settings) -> None:
    engine = make_engine(warehouse_settings.warehouse_url)
    dataset = get_dataset("registration")

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(histories)
    def check(batches: list[list[tuple[int, int, str]]]) -> None:
        with engine.begin() as conn:
            for table in ("core.market_entity", "core.registration", "core.registration_version"):
                conn.execute(text(f"delete from {table}"))
        for k, rows in enumerate(batches):
            with engine.begin() as conn:
                merge_staged(conn, dataset, f"b{k}", _stage(f"b{k}", rows), BASE + dt.timedelta(seconds=k))
            with engine.connect() as conn:
                assert _held(conn) == _oracle_history(batches[: k + 1]), f"after batch {k}"

    try:
        check()
    finally:
        engine.dispose()
