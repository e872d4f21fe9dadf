"""Reading department files: CSV in UTF-8, UTF-8 with BOM or GB18030, and XLSX.

Everything is read as text so that codes keep their leading zeros; typing happens in
`bizenv.standardize`. Row numbers are those a spreadsheet shows (the header is row 1).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd

from bizenv.datasets import Dataset


class BatchRejected(Exception):
    """A whole batch cannot be accepted; the message is one line naming the file and the problem."""


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as such, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            data.decode("gb18030")
        except UnicodeDecodeError:
            return ""
        return "gb18030"
    return "utf-8"


def _read_bytes(path: Path, data: bytes) -> pd.DataFrame:
    if data[:4] == b"PK\x03\x04":
        return pd.read_excel(io.BytesIO(data), dtype=str, keep_default_na=False, engine="openpyxl")
    encoding = detect_encoding(data)
    if not encoding:
        raise BatchRejected(f"{path.name}: not readable as UTF-8 or GB18030 text")
    return pd.read_csv(
        io.StringIO(data.decode(encoding)), dtype=str, keep_default_na=False, skipinitialspace=False
    )


def read_department_file(path: Path, dataset: Dataset) -> pd.DataFrame:
    """The file's rows as text under the dataset's English column names, plus `source_row`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BatchRejected(f"{path}: cannot read file ({error.strerror or error})") from None
    try:
        frame = _read_bytes(path, data)
    except BatchRejected:
        raise
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BatchRejected(f"{path.name}: not a readable CSV or XLSX file ({first_line})") from None
    return map_columns(frame, dataset, path.name)


def map_columns(frame: pd.DataFrame, dataset: Dataset, origin: str) -> pd.DataFrame:
    """Rename Chinese or English headers to column names; a missing required column rejects the batch."""
    aliases = dataset.header_aliases()
    renamed = {}
    for header in frame.columns:
        normalized = str(header).replace("\ufeff", "").strip()
        if normalized in aliases:
            renamed[header] = aliases[normalized]
    frame = frame.rename(columns=renamed)
    missing = [c for c in dataset.required if c not in frame.columns]
    if missing:
        names = ", ".join(f"{dataset.column(c).header_zh}({c})" for c in missing)
        raise BatchRejected(f"{origin}: missing required column(s) {names}")
    out = pd.DataFrame(index=frame.index)
    for column in dataset.column_names:
        out[column] = frame[column].astype(str) if column in frame.columns else ""
    out["source_row"] = range(2, len(out) + 2)
    return out.reset_index(drop=True)
