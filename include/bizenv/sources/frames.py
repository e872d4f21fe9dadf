"""Shared by the connectors: department values as text, department fields to dataset columns
(a whole frame, or an extraction chunk by chunk), and the latest change time of a batch (its
watermark)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from bizenv.datasets import Dataset
from bizenv.sources.files import (
    ColumnPlan,
    _header_key,
    _shown_header,
    map_columns,
    named_twice,
    refuse_missing_columns,
)
from bizenv.standardize import LOCAL_TIMEZONE, latest_plausible_change, parse_timestamps

log = logging.getLogger(__name__)


def to_text(value: Any, encoding: str = "utf-8") -> str:
    """A department value as the text a department file would hold ('' for missing).

    Timestamps become 'YYYY-MM-DD HH:MM:SS' in Asia/Shanghai local time; numbers keep their
    digits (no float formatting of codes); bytes are decoded with the source's encoding."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(LOCAL_TIMEZONE).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8" if encoding == "auto" else encoding)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def records_to_frame(records: Iterable[Mapping[str, Any]], encoding: str = "utf-8") -> pd.DataFrame:
    """Department records (dicts) as a frame of text columns; absent fields are ''."""
    rows = [{k: to_text(v, encoding) for k, v in record.items()} for record in records]
    frame = pd.DataFrame.from_records(rows)
    return frame.fillna("").astype(str) if not frame.empty else frame


def rows_to_frame(columns: list[str], rows: Iterable[tuple], encoding: str = "utf-8") -> pd.DataFrame:
    """Database rows (tuples) as a frame of text columns."""
    data = [[to_text(v, encoding) for v in row] for row in rows]
    if not data:
        return pd.DataFrame(columns=columns, dtype=str)
    return pd.DataFrame(data, columns=columns, dtype=str)


def to_dataset_frame(frame: pd.DataFrame, dataset: Dataset, columns: Mapping[str, str],
                     origin: str) -> pd.DataFrame:
    """Department fields renamed to dataset columns (the source's mapping first, then the
    Chinese/English headers), plus `source_row`; a missing required column, or two fields that
    land in the same column, raise BatchRejected."""
    delivered = [str(field) for field in frame.columns]
    renamed = frame.set_axis([columns.get(field, field) for field in delivered], axis=1)
    return map_columns(renamed, dataset, origin, delivered)


class DatasetChunks:
    """Maps the chunks of one extraction to dataset columns as `to_dataset_frame` maps a whole
    frame, so that the chunks put together are the frame it would have given: a department
    field lands in the same column in every chunk, a column that no field of a chunk names is
    '' in that chunk, and `source_row` counts on across chunks (the first record is row 2).

    Two fields naming one column refuse the extraction in the chunk where the second appears.
    A required column no field names refuses it too: at once when every chunk has the same
    fields (a database cursor), after the last chunk (`finish`) when the fields vary by chunk
    (`fields_vary`: JSON records may leave out a field, an empty one say, on a whole page)."""

    def __init__(self, dataset: Dataset, columns: Mapping[str, str], origin: str, *,
                 fields_vary: bool = False) -> None:
        self.dataset = dataset
        self.columns = columns
        self.origin = origin
        self.fields_vary = fields_vary
        self.rows = 0
        self._aliases = {_header_key(alias): column for alias, column in dataset.header_aliases().items()}
        self._delivering: dict[str, str] = {}  # dataset column -> the department field it comes from
        self._outside_contract: set[str] = set()

    def map(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One chunk (text columns under department field names) under the dataset's columns,
        plus `source_row`."""
        positions = self._resolve([str(field) for field in frame.columns])
        if not self.fields_vary:
            refuse_missing_columns(self.dataset, self.origin, self._delivering)
        out = ColumnPlan(self.dataset, positions).pandas_frame(frame.reset_index(drop=True), self.rows + 2)
        self.rows += len(out)
        return out

    def finish(self) -> None:
        """After the last chunk: refuse an extraction with rows but without a required column.
        (Without rows nothing is landed, and nothing is refused: as with a whole empty frame.)"""
        if self.rows:
            refuse_missing_columns(self.dataset, self.origin, self._delivering)

    def _resolve(self, fields: list[str]) -> dict[str, int]:
        """Dataset column -> its position among `fields`, for the columns they deliver."""
        positions: dict[str, int] = {}
        unmapped = []
        for position, field in enumerate(fields):
            column = self._aliases.get(_header_key(self.columns.get(field, field)))
            if column is None:
                if field not in self._outside_contract:
                    self._outside_contract.add(field)
                    unmapped.append(field)
                continue
            earlier = self._delivering.setdefault(column, field)
            if earlier != field or column in positions:
                raise named_twice(self.dataset, self.origin, column, earlier, field)
            positions[column] = position
        if unmapped:
            log.warning("%s: columns outside the %s contract are not loaded: %s", self.origin, self.dataset.name,
                        ", ".join(_shown_header(field) for field in unmapped))
        return positions


def latest_change(values: pd.Series, now: dt.datetime | None = None) -> dt.datetime | None:
    """The batch's watermark: the latest readable change time, never later than now (a
    future-dated row must not make the next runs skip what arrives meanwhile). Times beyond
    the tolerance of `latest_plausible_change` are quarantined rows, not changes."""
    now = now or dt.datetime.now(LOCAL_TIMEZONE).replace(tzinfo=None, microsecond=0)
    parsed = parse_timestamps(values).dropna()
    parsed = parsed[parsed <= latest_plausible_change(now)]
    if parsed.empty:
        return None
    latest = parsed.max().to_pydatetime().replace(microsecond=0)
    return min(latest, now)


class FrameStream:
    """An extraction read as it is iterated: subclasses set `_chunks`, the generator of its
    frames. `close` ends it early and lets go of what the generator holds."""

    _chunks: Iterator[pd.DataFrame]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self

    def __next__(self) -> pd.DataFrame:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
