"""Snapshot runs in ops: their statuses move computed -> validated -> published, or computed ->
failed, and rows of a run are never updated (a re-run writes a new version)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection

from bizenv.timeutil import utc_now
from bizenv.warehouse import query_df, run_sql


@dataclass
class SnapshotRun:
    run_id: str
    month: str
    version: int
    status: str
    row_count: int


def get_run(conn: Connection, run_id: str) -> SnapshotRun:
    frame = query_df(conn, "snapshot/get_run.sql", {"run_id": run_id})
    if frame.empty:
        raise ValueError(f"no snapshot run {run_id!r}")
    row = frame.iloc[0]
    row_count = row["row_count"]
    return SnapshotRun(
        run_id=str(row["run_id"]),
        month=str(row["month"]),
        version=int(row["version"]),
        status=str(row["status"]),
        row_count=0 if row_count is None or pd.isna(row_count) else int(row_count),
    )


def set_status(conn: Connection, run: SnapshotRun, status: str, reason: str | None = None) -> None:
    run_sql(
        conn,
        "snapshot/set_run_status.sql",
        {
            "run_id": run.run_id,
            "status": status,
            "from_status": run.status,
            "reason": reason,
            "finished_at": utc_now(),
        },
    )
    if get_run(conn, run.run_id).status != status:
        raise RuntimeError(f"snapshot run {run.run_id} changed status concurrently; {status!r} not recorded")

