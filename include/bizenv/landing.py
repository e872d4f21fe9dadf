"""Landing zone: every extraction is kept as an immutable raw Parquet batch.

The root is a local directory by default and any fsspec URL (s3://, hdfs://, ...) in
production, from BIZENV_LANDING_ROOT.
"""

from __future__ import annotations

import datetime as dt

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def landing_path(root: str, dataset: str, batch_id: str, landed_on: dt.date) -> str:
    return f"{root.rstrip('/')}/{dataset}/{landed_on:%Y/%m/%d}/{batch_id}.parquet"


def land_raw_batch(root: str, dataset: str, batch_id: str, raw: pd.DataFrame, landed_on: dt.date) -> str:
    """Write the raw text rows once; an existing batch file is never overwritten."""
    path = landing_path(root, dataset, batch_id, landed_on)
    fs, fs_path = fsspec.core.url_to_fs(path)
    if fs.exists(fs_path):
        raise FileExistsError(f"landing batch {path} exists already; raw batches are immutable")
    fs.makedirs(fs_path.rsplit("/", 1)[0], exist_ok=True)
    table = pa.Table.from_pandas(
        raw.astype({c: "string" for c in raw.columns if c != "source_row"}), preserve_index=False
    )
    with fs.open(fs_path, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
    return path


def read_landed_batch(path: str) -> pd.DataFrame:
    fs, fs_path = fsspec.core.url_to_fs(path)
    with fs.open(fs_path, "rb") as handle:
        return pq.read_table(handle).to_pandas()
