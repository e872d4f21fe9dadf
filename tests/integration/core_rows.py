"""Seeding core directly, as tests of views and indicators do: a row written into a dataset's
current table is also its current version (core.<dataset>_version, docs/history.md), as a merge
would write it, because indicators read the versions."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

from bizenv.warehouse import bulk_insert

VERSIONED = ("core.registration", "core.tax_filing", "core.credit_record", "core.real_estate_case")


def insert_core_rows(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    bulk_insert(conn, table, frame)
    if table not in VERSIONED:
        return
    # from the table, so its defaults (event_key, the *_date_only flags) are the version's too
    for batch_id in frame["batch_id"].unique():
        params = {"batch_id": str(batch_id)}
        conn.execute(text(f"delete from {table}_version where batch_id = :batch_id"), params)
        conn.execute(text(f"insert into {table}_version select t.*, cast(null as timestamp) "
                          f"from {table} as t where t.batch_id = :batch_id"), params)


def delete_core_rows(conn: Connection, table: str, batch_id: str) -> None:
    for name in (table, f"{table}_version") if table in VERSIONED else (table,):
        conn.execute(text(f"delete from {name} where batch_id = :batch_id"), {"batch_id": batch_id})
