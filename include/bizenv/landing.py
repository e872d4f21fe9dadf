"""Landing zone: every extraction is kept as an immutable raw Parquet batch.

The root is a local directory by default and any fsspec URL (s3://, hdfs://, ...) in
production, from BIZENV_LANDING_ROOT. A batch is written and read a chunk (one Parquet row
group) at a time, so neither side ever holds the whole batch in memory.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Iterator

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def landing_path(root: str, dataset: str, batch_id: str, landed_on: dt.date) -> str:
    return f"{root.rstrip('/')}/{dataset}/{landed_on:%Y/%m/%d}/{batch_id}.parquet"


def _as_text_table(raw: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    table = pa.Table.from_pandas(
        raw.astype({c: "string" for c in raw.columns if c != "source_row"}), preserve_index=False
    )
    return table if schema is None else table.cast(schema)


class LandingWriter:
    """Writes one batch's raw chunks to a temporary file beside its landing path; `commit`
    moves it into place. A batch that is never committed (its source failed half-way) leaves
    no landing file: `discard` removes the partial one."""

    def __init__(self, root: str, dataset: str, batch_id: str, landed_on: dt.date) -> None:
        self.path = landing_path(root, dataset, batch_id, landed_on)
        self.fs, self._final = fsspec.core.url_to_fs(self.path)
        if self.fs.exists(self._final):
            raise FileExistsError(f"landing batch {self.path} exists already; raw batches are immutable")
        self._partial = f"{self._final}.{secrets.token_hex(4)}.partial"
        self._handle = None
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, raw: pd.DataFrame) -> None:
        table = _as_text_table(raw, self._writer.schema if self._writer is not None else None)
        if self._writer is None:
            self.fs.makedirs(self._final.rsplit("/", 1)[0], exist_ok=True)
            self._handle = self.fs.open(self._partial, "wb")
            self._writer = pq.ParquetWriter(self._handle, table.schema, compression="zstd")
        if table.num_rows or self.rows == 0:
            self._writer.write_table(table)
        self.rows += table.num_rows

    @property
    def started(self) -> bool:
        """Whether the file exists yet (a first chunk, if only its columns, was written)."""
        return self._writer is not None

    def commit(self) -> str:
        if self._writer is None:
            raise ValueError(f"landing batch {self.path}: nothing was written, not even its columns")
        self._close()
        self.fs.mv(self._partial, self._final)
        return self.path

    def discard(self) -> None:
        self._close()
        if self.fs.exists(self._partial):
            self.fs.rm(self._partial)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None:
            self._handle.close()
        self._writer = self._handle = None


def land_raw_batch(root: str, dataset: str, batch_id: str, raw: pd.DataFrame | Iterable[pd.DataFrame],
                   landed_on: dt.date) -> str:
    """Write the raw text rows (a frame, or its chunks) once; an existing batch file is never
    overwritten."""
    writer = LandingWriter(root, dataset, batch_id, landed_on)
    try:
        for chunk in [raw] if isinstance(raw, pd.DataFrame) else raw:
            writer.write(chunk)
        return writer.commit()
    except BaseException:
        writer.discard()
        raise


def iter_landed_batch(path: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The landed rows, at most `chunk_rows` at a time, in landing order."""
    fs, fs_path = fsspec.core.url_to_fs(path)
    with fs.open(fs_path, "rb") as handle:
        landed = pq.ParquetFile(handle)
        for batch in landed.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def landed_row_count(path: str) -> int:
    """The row count of a landing file, from its Parquet footer."""
    fs, fs_path = fsspec.core.url_to_fs(path)
    with fs.open(fs_path, "rb") as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def read_landed_batch(path: str) -> pd.DataFrame:
    fs, fs_path = fsspec.core.url_to_fs(path)
    with fs.open(fs_path, "rb") as handle:
        return pq.read_table(handle).to_pandas()
