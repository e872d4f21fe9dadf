"""A department source database filled from simulated frames (SQLite or PostgreSQL), for demos
and tests of the `database` source kind.

A dataset with a `database` source in include/config/sources.yaml gets that source's table and
department field names (the inverse of its column mapping, e.g. `bdc_case` with `ywh`, `gxsj`,
...); any other dataset gets a table named after the dataset with the Chinese headers of
bizenv.datasets. On PostgreSQL the timestamp columns are real `timestamp` columns (as a department's
business database has them); everything else, and every column on SQLite, is text exactly as
simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Column, DateTime, Index, MetaData, Table, Text, insert
from sqlalchemy.engine import make_url

from bizenv.datasets import DATASETS, get_dataset
from bizenv.simulator.simulate import CHINESE_HEADERS
from bizenv.sources.config import SourceConfig, load_sources
from bizenv.sources.database import source_engine


def department_table(dataset: str, sources: Mapping[str, SourceConfig]) -> tuple[str, dict[str, str]]:
    """(table name, dataset column -> department field) for a dataset."""
    for source in sources.values():
        if source.kind == "database" and source.dataset == dataset and source.database \
                and source.database.table:
            return source.database.table, {column: field for field, column in source.columns.items()}
    return dataset, dict(CHINESE_HEADERS[dataset])


def _frames(frames: Any) -> dict[str, pd.DataFrame]:
    if hasattr(frames, "dataset") and not isinstance(frames, Mapping):
        return {name: frames.dataset(name) for name in DATASETS}
    return dict(frames)


def fill_department_database(
    url: str,
    frames: Any,
    *,
    sources: Mapping[str, SourceConfig] | None = None,
    if_exists: Literal["replace", "append"] = "replace",
) -> dict[str, int]:
    """Create (or append to) the department tables for `frames` (a SimulatedData or a mapping
    dataset -> frame with the dataset's column names). Returns table -> rows written."""
    sources = load_sources() if sources is None else sources
    engine = source_engine(url)
    postgres = make_url(url).get_backend_name() == "postgresql"
    written: dict[str, int] = {}
    try:
        for name, frame in _frames(frames).items():
            dataset = get_dataset(name)
            table_name, fields = department_table(name, sources)
            schema, _, bare = table_name.rpartition(".")
            timestamps = {c.name for c in dataset.columns if c.kind == "timestamp"} if postgres else set()
            metadata = MetaData(schema=schema or None)
            table = Table(
                bare, metadata,
                *[Column(fields.get(c, c), DateTime() if c in timestamps else Text())
                  for c in dataset.column_names],
            )
            updated = fields.get("updated_at", "updated_at")
            Index(f"ix_{bare}_changed", table.c[updated])
            values = frame.reindex(columns=dataset.column_names).fillna("").astype(str)
            records = []
            for row in values.itertuples(index=False, name=None):
                record = {}
                for column, value in zip(dataset.column_names, row, strict=True):
                    if column in timestamps:
                        stamp = pd.to_datetime(value, errors="coerce") if value else pd.NaT
                        record[fields.get(column, column)] = None if pd.isna(stamp) else stamp.to_pydatetime()
                    else:
                        record[fields.get(column, column)] = value if value != "" else None
                records.append(record)
            with engine.begin() as conn:
                if if_exists == "replace":
                    table.drop(conn, checkfirst=True)
                table.create(conn, checkfirst=True)
                if records:
                    conn.execute(insert(table), records)
            written[table_name] = len(records)
    finally:
        engine.dispose()
    return written
