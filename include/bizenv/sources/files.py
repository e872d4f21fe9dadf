"""Reading department files: CSV in UTF-8, UTF-8 with BOM, UTF-16 with BOM or GB18030, and XLSX.

Everything is read as text so that codes keep their leading zeros; typing happens in
`bizenv.standardize`. Row numbers are those a spreadsheet shows (the header is row 1).
A file that cannot be read as its rows under their own headers is refused whole, with one line
naming the file and the spot: a partial or shifted read would load values under the wrong
columns without any row failing.
"""

from __future__ import annotations

import csv
import hashlib
import html
import importlib.util
import io
import logging
import re
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from bizenv.codes import masked_file_name
from bizenv.datasets import Dataset
from bizenv.errors import Refused

log = logging.getLogger(__name__)

WORKBOOK_MAGIC = b"PK\x03\x04"
LEGACY_WORKBOOK_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: Excel 97-2003 .xls
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# A UTF-8 file with one broken spot decodes as GB18030 mojibake without any error (UTF-8 CJK
# bytes are mostly valid GB18030 pairs). This many bytes of valid multi-byte UTF-8 before the
# broken spot mark the file as UTF-8; GB18030 text is almost never that long valid UTF-8.
_UTF8_EVIDENCE_BYTES = 8
_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


class BatchRejected(Refused):
    """A whole batch cannot be accepted; the message is one line naming the file and the problem."""


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _position(data: bytes, error: UnicodeDecodeError, encoding: str) -> str:
    line = data[: error.start].decode(encoding, errors="replace").count("\n") + 1
    cut = " (the file ends inside a character: cut short?)" if error.end >= len(data) else ""
    return f"line {line}, byte offset {error.start}{cut}"


def _decode(data: bytes, name: str, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise BatchRejected(f"{name}: not readable as {encoding} text at {_position(data, error, encoding)}") from None
    except LookupError:
        raise BatchRejected(f"{name}: unknown text encoding {encoding!r}") from None


def decode_text(data: bytes, name: str, encoding: str = "auto") -> str:
    """The file's text: in `encoding`, or (auto) by its BOM, else UTF-8, else GB18030.
    A file that is not valid in its encoding is refused naming the line and byte."""
    if encoding not in ("", "auto"):
        return _decode(data, name, encoding)
    for bom, bom_encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data, name, bom_encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        multibyte = len(before) - len(before.decode("utf-8"))
        truncated = error.end >= len(data) and multibyte > 0
        if truncated or multibyte >= _UTF8_EVIDENCE_BYTES:
            raise BatchRejected(f"{name}: not valid UTF-8 text at {_position(data, error, 'utf-8')}") from None
        utf8_error = error
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as error:
        raise BatchRejected(
            f"{name}: not readable as UTF-8 or GB18030 text (UTF-8 fails at "
            f"{_position(data, utf8_error, 'utf-8')}; GB18030 at {_position(data, error, 'gb18030')})") from None


def is_workbook(data: bytes) -> bool:
    return data[:4] == WORKBOOK_MAGIC


def is_legacy_workbook(data: bytes) -> bool:
    return data[:8] == LEGACY_WORKBOOK_MAGIC


def legacy_workbook_engine() -> str | None:
    """The pandas engine for .xls files when one is installed (xlrd); there is none by default."""
    return "xlrd" if importlib.util.find_spec("xlrd") is not None else None


def _with_headers(cells: pd.DataFrame) -> pd.DataFrame:
    """A frame read without headers: its first row as the (possibly repeated) column labels."""
    if cells.empty:
        return pd.DataFrame()
    frame = cells.iloc[1:].reset_index(drop=True)
    frame.columns = [str(h) for h in cells.iloc[0].tolist()]
    return frame


def read_workbook(data: bytes, name: str) -> pd.DataFrame:
    """The one sheet of an XLSX delivery that holds rows. Several such sheets (one per banner,
    say) are refused: reading only the first would drop the others without a trace, and their
    row numbers would be ambiguous in the feedback. Headers are read as cells, not by pandas,
    so that two equal headers stay visible to `map_columns` instead of becoming `X.1`."""
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, dtype=str, keep_default_na=False,
                           engine="openpyxl")
    filled = {title: frame for title, frame in sheets.items() if len(frame) > 1}
    if len(filled) > 1:
        raise BatchRejected(f"{name}: {len(filled)} sheets hold rows ({', '.join(filled)}); "
                            "deliver one sheet per file")
    title, cells = next(iter(filled.items()), next(iter(sheets.items())))
    _refuse_formulas_without_values(data, name, title, cells)
    return _with_headers(cells)


_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)', re.DOTALL)
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]")


def _sheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> its XML part in the package."""
    workbook = archive.read("xl/workbook.xml").decode("utf-8")
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets = {}
    for rel in re.finditer(r"<(?:\w+:)?Relationship\b[^>]*>", rels):
        found_id, target = re.search(r'\bId="([^"]+)"', rel[0]), re.search(r'\bTarget="([^"]+)"', rel[0])
        if found_id and target:
            path = target[1].lstrip("/")
            targets[found_id[1]] = path if path.startswith("xl/") else f"xl/{path}"
    paths = {}
    for sheet in re.finditer(r"<(?:\w+:)?sheet\b[^>]*>", workbook):
        title, rel_id = re.search(r'\bname="([^"]*)"', sheet[0]), re.search(r'\br:id="([^"]+)"', sheet[0])
        if title and rel_id and rel_id[1] in targets:
            paths[html.unescape(title[1])] = targets[rel_id[1]]
    return paths


def _refuse_formulas_without_values(data: bytes, name: str, title: str, cells: pd.DataFrame) -> None:
    """A formula cell the writing program never calculated (a generated workbook not opened in
    Excel) has no saved value; read as empty it would load NULL without a trace."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        path = _sheet_paths(archive).get(title)
        if path is None:
            return
        xml = archive.read(path)
    if not _FORMULA.search(xml):
        return
    missing = []
    for match in _CELL.finditer(xml):
        body = match[2] or b""
        if _FORMULA.search(body) and not _VALUE.search(body) and b't="str"' not in match[1]:
            ref = _REF.search(match[1])
            if ref:
                missing.append((ref[1].decode(), int(ref[2])))
    if not missing:
        return
    letters, row = missing[0]
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    header = str(cells.iat[0, index - 1]) if not cells.empty and index <= cells.shape[1] else ""
    raise BatchRejected(
        f"{name}: cell {letters}{row} (row {row}, column {header!r}) is a formula without a saved value "
        f"({len(missing)} such cell(s)); open the workbook in Excel and save it, or paste the values, "
        "then deliver it again")


def read_csv_text(text: str, name: str) -> pd.DataFrame:
    """CSV text as its rows under the header's labels. A data row with more fields than the
    header would shift every value one column on (pandas then reads the first field as an
    index): an extra last field that is empty on every row (a trailing comma) is dropped, any
    other extra field refuses the file naming its row."""
    buffer = io.StringIO(text)
    try:
        header = next(csv.reader(buffer))  # leaves `buffer` at the first data row
    except StopIteration:
        raise BatchRejected(f"{name}: empty file, no header row") from None
    except csv.Error as error:
        raise BatchRejected(f"{name}: header row not readable as CSV ({error})") from None
    width = len(header)
    try:
        cells = pd.read_csv(buffer, header=None, names=range(width + 1), dtype=str, keep_default_na=False,
                            index_col=False)
    except pd.errors.EmptyDataError:
        cells = pd.DataFrame({i: pd.Series(dtype=str) for i in range(width + 1)})
    except pd.errors.ParserError as error:
        found = _FIELD_COUNT.search(str(error))
        if found:
            raise BatchRejected(
                f"{name}: line {int(found[2]) + 1} has {found[3]} fields, the header {width}; nothing loaded "
                "(its values would shift under the wrong headers)") from None
        raise
    filled = np.flatnonzero(cells[width].to_numpy(dtype=object) != "")
    if len(filled):
        raise BatchRejected(
            f"{name}: row {int(filled[0]) + 2} has more fields than the header ({width}); nothing loaded "
            f"(its values would shift under the wrong headers; {len(filled)} such row(s))")
    frame = cells.iloc[:, :width]
    frame.columns = [str(h) for h in header]
    return frame


def read_table(data: bytes, name: str, encoding: str = "auto") -> pd.DataFrame:
    """A delivered file's rows under its own header labels, all text; BatchRejected (one line
    naming the file) when it cannot be read whole."""
    try:
        if is_workbook(data):
            return read_workbook(data, name)
        if is_legacy_workbook(data):
            engine = legacy_workbook_engine()
            if engine is None:
                raise BatchRejected(f"{name}: an Excel 97-2003 workbook (.xls) cannot be read here; "
                                    "save it as .xlsx or CSV and deliver it again")
            cells = pd.read_excel(io.BytesIO(data), header=None, dtype=str, keep_default_na=False, engine=engine)
            return _with_headers(cells)
        return read_csv_text(decode_text(data, name, encoding), name)
    except BatchRejected:
        raise
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BatchRejected(f"{name}: not a readable CSV or XLSX file ({first_line})") from None


def read_department_file(path: Path, dataset: Dataset) -> pd.DataFrame:
    """The file's rows as text under the dataset's English column names, plus `source_row`."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BatchRejected(f"{masked_file_name(path)}: cannot read file ({error.strerror or error})") from None
    name = masked_file_name(path.name)
    return map_columns(read_table(data, name), dataset, name)


def _header_key(header: object) -> str:
    """A header as compared with the contract: NFKC (full-width （）and letters become ASCII),
    without a BOM or any whitespace (Excel wraps long headers onto two lines)."""
    return "".join(unicodedata.normalize("NFKC", str(header).replace("\ufeff", "")).split())


def map_columns(frame: pd.DataFrame, dataset: Dataset, origin: str,
                delivered: list[str] | None = None) -> pd.DataFrame:
    """Rename Chinese or English headers to column names; a missing required column rejects the
    batch, and so do two headers naming the same column (which of them holds the department's
    value is unknowable, and keeping either drops the other without a trace). `delivered`:
    the department's own field names when `frame`'s labels were renamed already (messages)."""
    aliases = {_header_key(alias): column for alias, column in dataset.header_aliases().items()}
    chosen: dict[str, str] = {}
    positions, names, unmapped = [], [], []
    shown = delivered if delivered is not None else [str(h) for h in frame.columns]
    for position, (header, as_delivered) in enumerate(zip(frame.columns, shown, strict=True)):
        column = aliases.get(_header_key(header))
        if column is None:
            unmapped.append(as_delivered)
        elif column in chosen:
            raise BatchRejected(
                f"{origin}: headers {chosen[column]!r} and {as_delivered!r} both name column "
                f"{dataset.column(column).header_zh}({column}); deliver one of them")
        else:
            chosen[column] = as_delivered
            positions.append(position)
            names.append(column)
    if unmapped:
        log.warning("%s: columns outside the %s contract are not loaded: %s", origin, dataset.name,
                    ", ".join(re.sub(r"\d", "*", h) if len(re.findall(r"\d", h)) >= 15 else h for h in unmapped))
    mapped = frame.iloc[:, positions]
    mapped.columns = names
    missing = [c for c in dataset.required if c not in chosen]
    if missing:
        described = ", ".join(f"{dataset.column(c).header_zh}({c})" for c in missing)
        raise BatchRejected(f"{origin}: missing required column(s) {described}")
    out = pd.DataFrame(index=mapped.index)
    for column in dataset.column_names:
        out[column] = mapped[column].astype(str) if column in chosen else ""
    out["source_row"] = range(2, len(out) + 2)
    return out.reset_index(drop=True)
