"""Reading department files: CSV in UTF-8, UTF-8 with BOM, UTF-16 with BOM or GB18030, and XLSX.

A file is read chunk by chunk (`iter_department_file`), so that its size never decides the
memory a run needs. Everything is read as text so that codes keep their leading zeros; typing
happens in `bizenv.standardize`. Row numbers are those a spreadsheet shows (the header is row 1;
blank lines of a CSV file are not rows). A file that cannot be read as its rows under their own
headers is refused whole, with one line naming the file and the spot: a partial or shifted read
would load values under the wrong columns without any row failing. The text encoding, the
header and the columns are checked before the first chunk; what only a row shows (a row with
more fields than the header, say) may refuse the file after some chunks were read, which is why
a caller keeps nothing of a file until its last chunk is in.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import html
import importlib.util
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bizenv.codes import mask_resident_ids_in_text, masked_file_name
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
_DECODE_BLOCK_BYTES = 1 << 20
# pyarrow parses a CSV file in blocks of this size; one row must fit into a block
_CSV_BLOCK_BYTES = 1 << 20
# `read_department_file` is the concatenation of chunks of this size
_WHOLE_FILE_CHUNK_ROWS = 200_000


class BatchRejected(Refused):
    """A whole batch cannot be accepted; the message is one line naming the file and the problem."""


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Columns: the header resolved once per file, applied to every chunk


def _header_key(header: object) -> str:
    """A header as compared with the contract: NFKC (full-width （）and letters become ASCII),
    without a BOM or any whitespace (Excel wraps long headers onto two lines)."""
    return "".join(unicodedata.normalize("NFKC", str(header).replace("\ufeff", "")).split())


def _shown_header(header: str) -> str:
    """A header as logged: a headerless file's first row holds values, a resident ID maybe."""
    return re.sub(r"\d", "*", header) if len(re.findall(r"\d", header)) >= 15 else header


@dataclass(frozen=True)
class ColumnPlan:
    """Where each dataset column delivered by a file sits among its fields (decided once from
    its header), and how a chunk of its rows becomes a frame under the dataset's columns."""

    dataset: Dataset
    positions: Mapping[str, int]  # dataset column -> position among the delivered fields

    def pandas_frame(self, frame: pd.DataFrame, first_row: int = 2) -> pd.DataFrame:
        """`frame` (the delivered fields in their order) under the dataset's column names, its
        rows numbered from `first_row` (2: a whole batch, the header being row 1)."""
        out = pd.DataFrame(index=frame.index)
        for column in self.dataset.column_names:
            out[column] = frame.iloc[:, self.positions[column]].astype(str) if column in self.positions else ""
        out["source_row"] = range(first_row, len(out) + first_row)
        return out.reset_index(drop=True)

    def arrow_frame(self, field_at: Callable[[int], pa.Array | pa.ChunkedArray], rows: int,
                    first_row: int) -> pd.DataFrame:
        """A chunk of `rows` rows whose delivered field at a position is `field_at(position)`,
        under the dataset's column names: arrow-backed text columns, a column the file does not
        deliver '' throughout."""
        arrays = {column: field_at(self.positions[column]) if column in self.positions else pa.repeat("", rows)
                  for column in self.dataset.column_names}
        arrays["source_row"] = pa.array(np.arange(first_row, first_row + rows, dtype=np.int64))
        return pa.table(arrays).to_pandas()

    def empty_frame(self) -> pd.DataFrame:
        return self.arrow_frame(lambda _position: pa.array([], pa.string()), 0, 2)


def resolve_columns(labels: Sequence[object], dataset: Dataset, origin: str,
                    delivered: Sequence[str] | None = None) -> ColumnPlan:
    """Resolve Chinese or English headers to column names; a missing required column rejects the
    batch, and so do two headers naming the same column (which of them holds the department's
    value is unknowable, and keeping either drops the other without a trace). Headers outside
    the contract are named in one warning. `delivered`: the department's own field names when
    `labels` were renamed already (messages)."""
    aliases = {_header_key(alias): column for alias, column in dataset.header_aliases().items()}
    chosen: dict[str, str] = {}
    positions: dict[str, int] = {}
    unmapped = []
    shown = delivered if delivered is not None else [str(h) for h in labels]
    for position, (header, as_delivered) in enumerate(zip(labels, shown, strict=True)):
        column = aliases.get(_header_key(header))
        if column is None:
            unmapped.append(as_delivered)
        elif column in chosen:
            raise named_twice(dataset, origin, column, chosen[column], as_delivered)
        else:
            chosen[column] = as_delivered
            positions[column] = position
    if unmapped:
        log.warning("%s: columns outside the %s contract are not loaded: %s", origin, dataset.name,
                    ", ".join(_shown_header(h) for h in unmapped))
    refuse_missing_columns(dataset, origin, chosen)
    return ColumnPlan(dataset, positions)


def named_twice(dataset: Dataset, origin: str, column: str, first: str, second: str) -> BatchRejected:
    """Two delivered fields naming one column: which holds the department's value is unknowable."""
    return BatchRejected(f"{origin}: headers {first!r} and {second!r} both name column "
                         f"{dataset.column(column).header_zh}({column}); deliver one of them")


def refuse_missing_columns(dataset: Dataset, origin: str, delivered: Collection[str]) -> None:
    """BatchRejected naming the required columns not among `delivered`, if any."""
    missing = [c for c in dataset.required if c not in delivered]
    if missing:
        described = ", ".join(f"{dataset.column(c).header_zh}({c})" for c in missing)
        raise BatchRejected(f"{origin}: missing required column(s) {described}")


def map_columns(frame: pd.DataFrame, dataset: Dataset, origin: str,
                delivered: list[str] | None = None) -> pd.DataFrame:
    """A whole frame under the dataset's column names, plus `source_row` (`resolve_columns`
    for the rules)."""
    return resolve_columns(list(frame.columns), dataset, origin, delivered).pandas_frame(frame)


def _file_plan(header: Sequence[str], dataset: Dataset, name: str,
               columns: Mapping[str, str] | None) -> ColumnPlan:
    """The plan for a file's header; a source's field -> column mapping applies first."""
    if not columns:
        return resolve_columns(header, dataset, name)
    return resolve_columns([columns.get(field, field) for field in header], dataset, name, list(header))


# ---------------------------------------------------------------------------------------------
# Text encoding: decided and verified over the whole file before any row is read


@dataclass(frozen=True)
class _DecodeFailure:
    start: int  # byte offset of the first byte not readable
    line: int
    multibyte: int  # bytes before `start` beyond one per character (UTF-8 evidence)
    cut: bool  # the file ends inside the character

    def __str__(self) -> str:
        cut = " (the file ends inside a character: cut short?)" if self.cut else ""
        return f"line {self.line}, byte offset {self.start}{cut}"


def _first_decode_failure(path: Path, codec: str) -> _DecodeFailure | None:
    """Where the file stops being text in `codec`, or None: one pass over fixed-size blocks."""
    decoder = codecs.getincrementaldecoder(codec)()
    size = path.stat().st_size
    offset = lines = chars = 0
    with path.open("rb") as handle:
        while True:
            block = handle.read(_DECODE_BLOCK_BYTES)
            pending, state = decoder.getstate()
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                # error positions count from the bytes the decoder held back from the last block
                base = offset - len(pending)
                prefix = codecs.getincrementaldecoder(codec)(errors="replace")
                prefix.setstate((b"", state))
                before = prefix.decode((pending + block)[: error.start])
                start = base + error.start
                return _DecodeFailure(start=start, line=lines + before.count("\n") + 1,
                                      multibyte=start - chars - len(before), cut=base + error.end >= size)
            lines += text.count("\n")
            chars += len(text)
            offset += len(block)
            if not block:
                return None


def _text_codec(path: Path, name: str, encoding: str) -> str:
    """The file's encoding: `encoding`, or (auto) its BOM's, else UTF-8, else GB18030. A file
    that is not valid text in it throughout is refused naming the line and byte."""
    if encoding not in ("", "auto"):
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise BatchRejected(f"{name}: unknown text encoding {encoding!r}") from None
        failure = _first_decode_failure(path, encoding)
        if failure is not None:
            raise BatchRejected(f"{name}: not readable as {encoding} text at {failure}")
        return encoding
    with path.open("rb") as handle:
        head = handle.read(4)
    for bom, bom_codec in _BOMS:
        if head.startswith(bom):
            failure = _first_decode_failure(path, bom_codec)
            if failure is not None:
                raise BatchRejected(f"{name}: not readable as {bom_codec} text at {failure}")
            return bom_codec
    utf8 = _first_decode_failure(path, "utf-8")
    if utf8 is None:
        return "utf-8"
    if (utf8.cut and utf8.multibyte > 0) or utf8.multibyte >= _UTF8_EVIDENCE_BYTES:
        raise BatchRejected(f"{name}: not valid UTF-8 text at {utf8}")
    gb18030 = _first_decode_failure(path, "gb18030")
    if gb18030 is not None:
        raise BatchRejected(f"{name}: not readable as UTF-8 or GB18030 text (UTF-8 fails at {utf8}; "
                            f"GB18030 at {gb18030})")
    return "gb18030"


class _Utf8Stream(io.RawIOBase):
    """A text file as UTF-8 bytes (transcoded block by block unless it is UTF-8 already, without
    a BOM), followed by `ending`."""

    def __init__(self, handle: BinaryIO, codec: str, ending: bytes) -> None:
        super().__init__()
        self._handle = handle
        self._ending = ending
        canonical = codecs.lookup(codec).name
        self._decoder = None if canonical in ("utf-8", "utf-8-sig") else codecs.getincrementaldecoder(codec)()
        if canonical == "utf-8-sig" and handle.read(3) != codecs.BOM_UTF8:
            handle.seek(0)
        self._pending = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        target = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(target):
            if not self._pending:
                if self._done:
                    break
                self._pending = memoryview(self._next_block())
                continue
            take = min(len(target) - filled, len(self._pending))
            target[filled:filled + take] = self._pending[:take]
            self._pending = self._pending[take:]
            filled += take
        return filled

    def _next_block(self) -> bytes:
        block = self._handle.read(_DECODE_BLOCK_BYTES)
        data = block if self._decoder is None else self._decoder.decode(block, final=not block).encode("utf-8")
        if not block:
            self._done = True
            return data + self._ending
        return data


# ---------------------------------------------------------------------------------------------
# CSV


def _read_csv_header(path: Path, name: str, codec: str) -> tuple[list[str], list[str] | None]:
    """The header and the first data record, read as Python's csv module reads the text (a
    quoted header may span lines)."""
    with path.open("rb") as handle, io.TextIOWrapper(handle, encoding=codec, newline="\n") as text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise BatchRejected(f"{name}: empty file, no header row") from None
        except csv.Error as error:
            raise BatchRejected(f"{name}: header row not readable as CSV ({error})") from None
        try:
            first = next((record for record in reader if record), None)
        except csv.Error:
            first = None
    return header, first


@dataclass(frozen=True)
class _Fields:
    values: list[str]
    filled_beyond_header: bool


@dataclass(frozen=True)
class _Unreadable:
    fields: int | None  # how many fields the row has (None: it could not be split)


_SKIPPED = "skipped"  # the header (read already) or a line of spaces and tabs (no row, as in pandas)
_END = "end"


class _OffWidthRows:
    """The rows pyarrow does not take (another number of fields than it has columns), by their
    record number (the header is 1), as its parser meets them: rows short of fields
    are completed with '', a trailing empty field is dropped, anything else refuses the file."""

    def __init__(self, width: int, columns: int, end_record: str) -> None:
        self.width = width
        self.columns = columns
        self.end_record = end_record
        self.rows: list[tuple[int, _Fields | _Unreadable | str]] = []

    def __call__(self, row) -> str:
        number = row.number if row.number is not None else -1  # known when parsing on one thread
        self.rows.append((number, self._classify(number, row.text)))
        return "skip"

    def _classify(self, number: int, text: str) -> _Fields | _Unreadable | str:
        if number == 1 or not text.strip(" \t"):
            return _SKIPPED
        if text == self.end_record:
            return _END
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            values = next(reader)
            if next(reader, None) is not None:
                return _Unreadable(None)
        except (csv.Error, StopIteration):
            return _Unreadable(None)
        if len(values) > self.width + 1:
            return _Unreadable(len(values))
        filled = len(values) == self.width + 1 and values[-1] != ""
        return _Fields((values + [""] * self.columns)[: self.columns], filled)


class _CsvChunks:
    """A CSV file's rows as pyarrow reads them, in chunks of text columns."""

    def __init__(self, path: Path, name: str, codec: str, width: int, columns: int, plan: ColumnPlan,
                 chunk_rows: int) -> None:
        self.path, self.name, self.codec = path, name, codec
        self.width, self.columns, self.plan, self.chunk_rows = width, columns, plan, chunk_rows
        self.names = [f"f{i}" for i in range(columns)]
        # appended after the file: a record of more fields than any row may have, which the
        # parser sees as a record of its own only when the file ends outside a quoted field
        end_record = ",".join(["\x00bizenv-end-of-file\x00"] * (width + 2))
        self.ending = f"\n{end_record}\n".encode()
        self.off_width = _OffWidthRows(width, columns, end_record)
        self.next_record = 1
        self.rows = 0  # rows read so far (the last one is spreadsheet row `rows + 1`)
        # rows with a filled field beyond the header: the file is refused after its last row,
        # naming the first and how many (a row of too many fields found meanwhile goes first)
        self.first_filled = 0
        self.filled_count = 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        buffered: list[pa.Table] = []
        count = emitted = 0
        with self.path.open("rb") as handle:
            reader = self._open(_Utf8Stream(handle, self.codec, self.ending))
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid:
                    raise self._inseparable(self.rows + 2) from None
                rows = self._place(batch, final=False)
                if rows is not None and not self.filled_count:
                    buffered.append(rows)
                    count += rows.num_rows
                while count >= self.chunk_rows:
                    chunk, buffered = _split(buffered, self.chunk_rows)
                    count -= self.chunk_rows
                    yield self._frame(chunk, emitted + 2)
                    emitted += self.chunk_rows
            rows = self._finish()
        if self.filled_count:
            raise BatchRejected(
                f"{self.name}: row {self.first_filled} has more fields than the header ({self.width}); nothing loaded "
                f"(its values would shift under the wrong headers; {self.filled_count} such row(s))")
        if rows is not None:
            buffered.append(rows)
            count += rows.num_rows
        while count:
            chunk, buffered = _split(buffered, min(count, self.chunk_rows))
            count -= chunk.num_rows
            yield self._frame(chunk, emitted + 2)
            emitted += chunk.num_rows

    def _open(self, stream: io.RawIOBase) -> pacsv.CSVStreamingReader:
        try:
            return pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=self.names, block_size=_CSV_BLOCK_BYTES,
                                               use_threads=False),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=self.off_width),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(self.names, pa.string()),
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                     check_utf8=False))
        except pa.ArrowInvalid:
            raise self._inseparable(2) from None

    def _inseparable(self, row: int) -> BatchRejected:
        """The parser found no end of a row within its blocks. Its own message is not passed on:
        it may quote the row."""
        return BatchRejected(f"{self.name}: the rows from row {row} on cannot be told apart: a quoted field is not "
                             f"closed, or a row is longer than about {_CSV_BLOCK_BYTES >> 20} MB; nothing loaded")

    def _place(self, batch: pa.RecordBatch | None, final: bool) -> pa.Table | None:
        """The rows of `batch` with the off-width rows among them put back in their places (the
        parser may have met some of the next block's already): the file's rows in order."""
        taken = batch.num_rows if batch is not None else 0
        pending = self.off_width.rows
        among = 0
        if final:
            among = len(pending)
        elif taken:
            # an off-width record lies among this batch's rows when it comes before the last of them
            while among < len(pending) and pending[among][0] <= self.next_record + taken + among - 1:
                among += 1
        placed, self.off_width.rows = pending[:among], pending[among:]
        total = taken + among
        first = self.next_record
        self.next_record += total
        # at the end of the file the record appended after it must come last, else the file
        # ends inside a quoted field that took in the rest of the file (and that record)
        unclosed = final and not (placed and placed[-1][1] == _END)
        if not total:
            if unclosed:
                self._refuse_unclosed(self.rows + 1)
            return None
        order = np.full(total, -2, dtype=np.int64)
        slots = np.array([number - first for number, _ in placed], dtype=np.int64)
        if len(slots) and (slots.min() < 0 or slots.max() >= total or len(np.unique(slots)) != len(slots)):
            raise BatchRejected(f"{self.name}: not a readable CSV file (the rows after row {self.rows + 1} "
                                "cannot be put in order); nothing loaded")
        order[slots] = -1
        order[order == -2] = np.arange(taken)
        if first == 1 and taken and (not len(slots) or slots.min() > 0):
            order[0] = -1  # the header, read by the csv module already
        extra: list[list[str]] = []
        problems = []
        for slot, (_number, kind) in zip(slots.tolist(), placed, strict=True):
            if isinstance(kind, _Fields):
                order[slot] = taken + len(extra)
                extra.append(kind.values)
                if kind.filled_beyond_header:
                    problems.append((slot, "filled"))
            elif kind == _END and final and slot == total - 1:
                continue
            elif kind != _SKIPPED:
                problems.append((slot, kind))
        kept = np.cumsum(order >= 0)
        for slot, kind in problems:
            row = self.rows + int(kept[slot]) + (1 if kind == "filled" else 2)
            if kind == "filled":
                self.first_filled = self.first_filled or row
                self.filled_count += 1
            elif not (unclosed and slot == total - 1):
                fields = kind.fields if isinstance(kind, _Unreadable) else self.width + 2
                if fields is None:
                    raise BatchRejected(f"{self.name}: line {row} cannot be split into fields; nothing loaded")
                raise BatchRejected(f"{self.name}: line {row} has {fields} fields, the header {self.width}; "
                                    "nothing loaded (its values would shift under the wrong headers)")
        if unclosed:
            self._refuse_unclosed(self.rows + int(kept[-1]) + (1 if order[-1] >= 0 else 2))
        rows = pa.Table.from_batches([batch]) if batch is not None else _empty_table(self.names)
        if extra:
            rows = pa.concat_tables([rows, _table(self.names, extra)])
        picked = order[order >= 0]
        if len(picked) != rows.num_rows or not np.array_equal(picked, np.arange(len(picked))):
            rows = rows.take(pa.array(picked))
        if self.columns > self.width:
            self._note_filled(rows.column(self.width))
        self.rows += rows.num_rows
        return rows.select(sorted(set(self.plan.positions.values()))) if rows.num_rows else None

    def _refuse_unclosed(self, row: int) -> None:
        raise BatchRejected(f"{self.name}: a quoted field in row {row} is not closed before the end of the file "
                            "(the rest of the file would load as one value); nothing loaded")

    def _note_filled(self, beyond: pa.ChunkedArray) -> None:
        filled = np.flatnonzero(pc.not_equal(beyond, "").to_numpy(zero_copy_only=False))
        if len(filled):
            self.first_filled = self.first_filled or self.rows + int(filled[0]) + 2
            self.filled_count += len(filled)

    def _finish(self) -> pa.Table | None:
        return self._place(None, final=True)

    def _frame(self, chunk: pa.Table, first_row: int) -> pd.DataFrame:
        selected = sorted(set(self.plan.positions.values()))
        at = {position: index for index, position in enumerate(selected)}
        return self.plan.arrow_frame(lambda position: chunk.column(at[position]), chunk.num_rows, first_row)


def _table(names: list[str], rows: list[list[str]]) -> pa.Table:
    return pa.table({n: pa.array([row[i] for row in rows], pa.string()) for i, n in enumerate(names)})


def _empty_table(names: list[str]) -> pa.Table:
    return pa.table({n: pa.array([], pa.string()) for n in names})


def _split(tables: list[pa.Table], rows: int) -> tuple[pa.Table, list[pa.Table]]:
    """The first `rows` rows of the buffered tables, and the rest (zero-copy slices)."""
    whole = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    rest = whole.slice(rows)
    return whole.slice(0, rows), [rest] if rest.num_rows else []


# ---------------------------------------------------------------------------------------------
# Workbooks


def is_workbook(head: bytes) -> bool:
    return head[:4] == WORKBOOK_MAGIC


def is_legacy_workbook(head: bytes) -> bool:
    return head[:8] == LEGACY_WORKBOOK_MAGIC


def legacy_workbook_engine() -> str | None:
    """The pandas engine for .xls files when one is installed (xlrd); there is none by default."""
    return "xlrd" if importlib.util.find_spec("xlrd") is not None else None


def _cell_text(cell) -> str | None:
    """A cell as `pandas.read_excel(dtype=str)` gives it: '' when empty, None (missing) for an
    error value, a whole number without '.0'."""
    value = cell.value
    if value is None:
        return ""
    if cell.data_type == "e":
        return None
    if cell.data_type == "n":
        whole = int(value)
        return str(whole) if whole == value else str(float(value))
    return str(value)


def _sheet_rows(sheet) -> Iterator[list[str | None]]:
    """A sheet's rows as text, without their trailing empty cells (an empty row is [])."""
    sheet.reset_dimensions()  # a sheet's declared size can be wrong: rows are read to their end
    for row in sheet.rows:
        values = [_cell_text(cell) for cell in row]
        while values and values[-1] == "":
            values.pop()
        yield values


def _holds_rows(sheet) -> bool:
    """Whether a sheet has anything below its first row."""
    return any(values for index, values in enumerate(_sheet_rows(sheet)) if index >= 1)


def _without_trailing_empty_rows(rows: Iterator[list[str | None]]) -> Iterator[list[str | None]]:
    empty = 0
    for values in rows:
        if not values:
            empty += 1
            continue
        yield from ([] for _ in range(empty))
        empty = 0
        yield values


_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)', re.DOTALL)
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]")
_ROW_END = re.compile(rb"</(?:\w+:)?row>")


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


def _whole_rows(part: BinaryIO) -> Iterator[bytes]:
    """A sheet's XML in blocks that end after a row's end tag (the last one: the rest)."""
    carry = b""
    while block := part.read(_DECODE_BLOCK_BYTES):
        data = carry + block
        ends = [match.end() for match in _ROW_END.finditer(data, max(0, len(data) - len(block) - 16))]
        if not ends:
            carry = data
            continue
        yield data[: ends[-1]]
        carry = data[ends[-1]:]
    if carry:
        yield carry


def _refuse_formulas_without_values(path: Path, name: str, title: str, header: list[str]) -> None:
    """A formula cell the writing program never calculated (a generated workbook not opened in
    Excel) has no saved value; read as empty it would load NULL without a trace."""
    missing = 0
    first: tuple[str, int] | None = None
    with zipfile.ZipFile(path) as archive:
        part = _sheet_paths(archive).get(title)
        if part is None:
            return
        with archive.open(part) as stream:
            for xml in _whole_rows(stream):
                if not _FORMULA.search(xml):
                    continue
                for match in _CELL.finditer(xml):
                    body = match[2] or b""
                    if _FORMULA.search(body) and not _VALUE.search(body) and b't="str"' not in match[1]:
                        ref = _REF.search(match[1])
                        if ref:
                            missing += 1
                            first = first or (ref[1].decode(), int(ref[2]))
    if first is None:
        return
    letters, row = first
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    column = header[index - 1] if index <= len(header) else ""
    raise BatchRejected(
        f"{name}: cell {letters}{row} (row {row}, column {column!r}) is a formula without a saved value "
        f"({missing} such cell(s)); open the workbook in Excel and save it, or paste the values, "
        "then deliver it again")


def _header_labels(values: list[str | None]) -> list[str]:
    return ["nan" if value is None else value for value in values]


def _row_chunks(plan: ColumnPlan, rows: Iterator[list[str | None]], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Rows of cells (a short row lacks its trailing empty cells) in chunks under the dataset's
    columns."""

    def frame(batch: list[list[str | None]], first_row: int) -> pd.DataFrame:
        def field_at(position: int) -> pa.Array:
            return pa.array([row[position] if position < len(row) else "" for row in batch], pa.string())

        return plan.arrow_frame(field_at, len(batch), first_row)

    batch: list[list[str | None]] = []
    first_row = 2
    for row in rows:
        batch.append(row)
        if len(batch) == chunk_rows:
            yield frame(batch, first_row)
            first_row += len(batch)
            batch = []
    if batch:
        yield frame(batch, first_row)


# ---------------------------------------------------------------------------------------------
# Department files


@dataclass
class _Opened:
    plan: ColumnPlan
    chunks: Callable[[int], Iterator[pd.DataFrame]]


@contextmanager
def _opened_workbook(path: Path, name: str, dataset: Dataset,
                     columns: Mapping[str, str] | None) -> Iterator[_Opened]:
    """The one sheet of an XLSX delivery that holds rows. Several such sheets (one per banner,
    say) are refused: reading only the first would drop the others without a trace, and their
    row numbers would be ambiguous in the feedback. Headers are read as cells, so that two
    equal headers stay visible to `resolve_columns` instead of becoming `X.1`."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        sheets = book.worksheets
        if not sheets:
            raise BatchRejected(f"{name}: the workbook has no sheet")
        filled = [sheet.title for sheet in sheets if _holds_rows(sheet)]
        if len(filled) > 1:
            raise BatchRejected(f"{name}: {len(filled)} sheets hold rows ({', '.join(filled)}); "
                                "deliver one sheet per file")
        title = filled[0] if filled else sheets[0].title
        rows = _sheet_rows(book[title])
        header = _header_labels(next(rows, []))
        _refuse_formulas_without_values(path, name, title, header)
        plan = _file_plan(header, dataset, name, columns)
        yield _Opened(plan, lambda chunk_rows: _row_chunks(plan, _without_trailing_empty_rows(rows), chunk_rows))
    finally:
        book.close()


@contextmanager
def _opened_legacy_workbook(path: Path, name: str, dataset: Dataset,
                            columns: Mapping[str, str] | None) -> Iterator[_Opened]:
    """An Excel 97-2003 workbook, read whole: the format holds at most 65,536 rows."""
    engine = legacy_workbook_engine()
    if engine is None:
        raise BatchRejected(f"{name}: an Excel 97-2003 workbook (.xls) cannot be read here; "
                            "save it as .xlsx or CSV and deliver it again")
    cells = pd.read_excel(path, header=None, dtype=str, keep_default_na=False, engine=engine)
    table = [[None if pd.isna(value) else str(value) for value in row] for row in cells.itertuples(index=False)]
    header = _header_labels(table[0]) if table else []
    plan = _file_plan(header, dataset, name, columns)
    yield _Opened(plan, lambda chunk_rows: _row_chunks(plan, iter(table[1:]), chunk_rows))


@contextmanager
def _opened_csv(path: Path, name: str, dataset: Dataset, encoding: str,
                columns: Mapping[str, str] | None) -> Iterator[_Opened]:
    """A CSV file's rows under its header's labels. A data row with more fields than the header
    would shift every value one column on: an extra last field that is empty (a trailing comma)
    is dropped, any other extra field refuses the file naming its row. A row short of fields
    has '' in the ones it lacks."""
    codec = _text_codec(path, name, encoding)
    header, first = _read_csv_header(path, name, codec)
    plan = _file_plan(header, dataset, name, columns)
    width = len(header)
    # a file with a trailing comma on its rows is read with one more column: those rows then
    # need no handling one by one
    parsed = width + 1 if first is not None and len(first) == width + 1 else width
    yield _Opened(plan, lambda chunk_rows: iter(_CsvChunks(path, name, codec, width, parsed, plan, chunk_rows)))


@contextmanager
def _opened(path: Path, dataset: Dataset, encoding: str, columns: Mapping[str, str] | None) -> Iterator[_Opened]:
    name = masked_file_name(path.name)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
        if is_workbook(head):
            opened = _opened_workbook(path, name, dataset, columns)
        elif is_legacy_workbook(head):
            opened = _opened_legacy_workbook(path, name, dataset, columns)
        else:
            opened = _opened_csv(path, name, dataset, encoding, columns)
        with opened as reading:
            yield reading
    except BatchRejected:
        raise
    except OSError as error:
        raise BatchRejected(f"{masked_file_name(path)}: cannot read file ({error.strerror or error})") from None
    except Exception as error:
        # the library's own words, masked: a parser may quote the value it stumbled over
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        shown = mask_resident_ids_in_text(first_line)[0]
        raise BatchRejected(f"{name}: not a readable CSV or XLSX file ({shown})") from None


def iter_department_file(path: Path, dataset: Dataset, chunk_rows: int, *, encoding: str = "auto",
                         columns: Mapping[str, str] | None = None) -> Iterator[pd.DataFrame]:
    """The file's rows as text under the dataset's column names, plus `source_row`, at most
    `chunk_rows` rows a chunk (a file without rows gives none). `encoding`: the source's text
    encoding ('auto': by BOM, else UTF-8, else GB18030); `columns`: the source's department
    field -> dataset column mapping, applied before the header names. BatchRejected before
    the first chunk for an unreadable file, header or encoding; from a later chunk when a row
    shows the file cannot be read (its values would shift)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    with _opened(path, dataset, encoding, columns) as reading:
        yield from reading.chunks(chunk_rows)


def read_department_file(path: Path, dataset: Dataset) -> pd.DataFrame:
    """The whole file at once: `iter_department_file`'s chunks put together (a file without rows
    gives an empty frame with the columns)."""
    with _opened(path, dataset, "auto", None) as reading:
        chunks = list(reading.chunks(_WHOLE_FILE_CHUNK_ROWS))
        if not chunks:
            return reading.plan.empty_frame()
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
