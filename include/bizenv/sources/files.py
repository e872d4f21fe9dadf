"""Reading department files: CSV in UTF-8, UTF-8 with BOM or GB18030, and XLSX.

Everything is read as text so that codes keep their leading zeros; typing happens in
`bizenv.standardize`. Row numbers are those a spreadsheet shows (the header is row 1).
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from pathlib import Path

import pandas as pd

from bizenv.datasets import Dataset

log = logging.getLogger(__name__)


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


def is_workbook(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def read_workbook(data: bytes, name: str) -> pd.DataFrame:
    """The one sheet of an XLSX delivery that holds rows. Several such sheets (one per banner,
    say) are refused: reading only the first would drop the others without a trace, and their
    row numbers would be ambiguous in the feedback."""
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=str, keep_default_na=False, engine="openpyxl")
    filled = {title: frame for title, frame in sheets.items() if not frame.empty}
    if len(filled) > 1:
        raise BatchRejected(f"{name}: {len(filled)} sheets hold rows ({', '.join(filled)}); "
                            "deliver one sheet per file")
    return next(iter(filled.values()), next(iter(sheets.values())))


def _read_bytes(path: Path, data: bytes) -> pd.DataFrame:
    if is_workbook(data):
        return read_workbook(data, path.name)
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


def _header_key(header: object) -> str:
    """A header as compared with the contract: NFKC (full-width （）and letters become ASCII),
    without a BOM or any whitespace (Excel wraps long headers onto two lines)."""
    return "".join(unicodedata.normalize("NFKC", str(header).replace("\ufeff", "")).split())


def map_columns(frame: pd.DataFrame, dataset: Dataset, origin: str) -> pd.DataFrame:
    """Rename Chinese or English headers to column names; a missing required column rejects the batch."""
    aliases = {_header_key(alias): column for alias, column in dataset.header_aliases().items()}
    renamed, unmapped = {}, []
    for header in frame.columns:
        column = aliases.get(_header_key(header))
        if column is None:
            unmapped.append(str(header))
        elif column not in renamed.values():
            renamed[header] = column
    if unmapped:
        log.warning("%s: columns outside the %s contract are not loaded: %s", origin, dataset.name,
                    ", ".join(unmapped))
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
