"""Shared by the connectors: department values as text, department fields to dataset columns,
and the latest change time of a batch (its watermark)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from bizenv.datasets import Dataset
from bizenv.sources.files import map_columns
from bizenv.standardize import LOCAL_TIMEZONE, latest_plausible_change, parse_timestamps


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
