"""Reading quarantined rows back, for `bizenv quarantine list` and department feedback."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from bizenv.datasets import DATASETS, get_dataset
from bizenv.warehouse import query_df

LIST_COLUMNS = [
    "dataset",
    "batch_id",
    "file_name",
    "source_row",
    "record_key",
    "region_code",
    "reason_zh",
    "reason_en",
    "failures",
    "record",
    "quarantined_at",
    "resolved_at",
    "resolved_by_batch",
]


def list_quarantine(
    engine: Engine, dataset: str | None = None, *, include_resolved: bool = False
) -> pd.DataFrame:
    names = [get_dataset(dataset).name] if dataset else list(DATASETS)
    with engine.connect() as conn:
        frames = [
            query_df(conn, f"quarantine/list_{name}.sql", {"include_resolved": include_resolved})
            for name in names
        ]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LIST_COLUMNS)
