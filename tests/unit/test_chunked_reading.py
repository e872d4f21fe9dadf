"""Department files read chunk by chunk: the chunks put together are the whole file, row numbers
count on across chunks, and what a later row shows still refuses the file in one line naming the
row, never its values."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest

from bizenv.datasets import REGISTRATION
from bizenv.sources import files
from bizenv.sources.drop import load_drop_file, read_drop_chunks
from bizenv.sources.files import BatchRejected, iter_department_file, read_department_file

HEADER = "企业名称,市场主体类型,所属区划代码,成立日期,登记状态,更新时间"
RESIDENT_ID = "110101199003074518"


def _row(i: int) -> str:
    return f"企业{i}有限公司,企业,0{152921 + i},2024-06-03,存续,2024-06-03 12:00:00"


# quoted fields with a line break, a comma and a quote, leading zeros, spaces as delivered
TRICKY = ['"甲\n有限,公司",企业,0152921, 2024-06-03 ,存续,"2024-06-03\r\n12:00"',
          '"乙""引号""",个体工商户,0152922,2024-06-04,存续,2024-06-04 12:00:00']
EXPECTED_NAMES = ["甲\n有限,公司", '乙"引号"', *[f"企业{i}有限公司" for i in range(9)]]


def _csv(tmp_path, text: str, encoding: str, name: str = "登记.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _xlsx(tmp_path, rows: list[list[str]]):
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    path = tmp_path / "登记.xlsx"
    book.save(path)
    return path


def _chunks(path, size: int, **options) -> list[pd.DataFrame]:
    return list(iter_department_file(path, REGISTRATION, size, **options))


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and RESIDENT_ID not in message and RESIDENT_ID[6:14] not in message
    return message


@pytest.mark.parametrize("kind", ["utf-8", "utf-8-sig", "gb18030", "utf-16", "xlsx"])
def test_the_chunks_put_together_are_the_whole_file_whatever_the_chunk_size(tmp_path, kind):
    lines = [HEADER, *TRICKY, *(_row(i) for i in range(9))]
    if kind == "xlsx":
        path = _xlsx(tmp_path, list(csv.reader(io.StringIO("\n".join(lines), newline=""))))
    else:
        path = _csv(tmp_path, "\r\n".join(lines) + "\r\n", kind)
    whole = read_department_file(path, REGISTRATION)
    assert whole["name"].tolist() == EXPECTED_NAMES
    assert whole.loc[0, "region_code"] == "0152921" and whole.loc[0, "established_date"] == " 2024-06-03 "
    assert whole["source_row"].tolist() == list(range(2, 13))
    assert whole["name"].dtype.storage == "pyarrow"  # arrow-backed text, not Python objects
    for size in (1, 2, 3, 7, 100):
        chunks = _chunks(path, size)
        assert [len(c) for c in chunks] == [min(size, 11 - start) for start in range(0, 11, size)]
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


def test_rows_short_of_fields_trailing_commas_and_blank_lines_across_parser_blocks(tmp_path, monkeypatch):
    """The rows the parser takes and those put right one by one (a field short, a trailing
    comma, a line of spaces) keep their order and numbers where parser blocks end."""
    monkeypatch.setattr(files, "_CSV_BLOCK_BYTES", 1024)
    lines, names = [HEADER], []
    for i in range(400):
        kind = i % 7
        if kind == 3:
            lines.append(f"短{i},企业")
            names.append(f"短{i}")
        elif kind == 5:
            lines.append(_row(i) + ",")
            names.append(f"企业{i}有限公司")
        elif i % 11 == 0:
            lines.append(f'"引\n号{i}",企业,152921,2024-06-03,存续,x')
            names.append(f"引\n号{i}")
        else:
            lines.append(_row(i))
            names.append(f"企业{i}有限公司")
        if i % 13 == 0:
            lines.append("  \t" if i % 2 else "")
    path = _csv(tmp_path, "\n".join(lines) + "\n", "gb18030")
    for size in (7, 1000):
        frame = pd.concat(_chunks(path, size), ignore_index=True)
        assert frame["name"].tolist() == names
        assert frame["source_row"].tolist() == list(range(2, 402))
        assert frame.loc[3, "region_code"] == "" and frame.loc[5, "region_code"] == "0152926"


def test_a_row_with_too_many_fields_in_a_later_chunk_refuses_the_file_naming_its_row(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_CSV_BLOCK_BYTES", 1024)
    lines = [HEADER, *(_row(i) for i in range(60))]
    lines.insert(45, f"{RESIDENT_ID}张三,企业,152921,2024-06-03,存续,x,{RESIDENT_ID},备注")
    path = _csv(tmp_path, "\n".join(lines) + "\n", "utf-8")
    read = []
    with pytest.raises(BatchRejected) as error:
        for chunk in iter_department_file(path, REGISTRATION, 7):
            read.append(chunk)
    assert _one_line(error) == ("登记.csv: line 46 has 8 fields, the header 6; nothing loaded "
                                "(its values would shift under the wrong headers)")
    assert read and read[-1]["source_row"].iloc[-1] < 46


def test_a_filled_field_beyond_the_header_refuses_the_file_after_counting_such_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_CSV_BLOCK_BYTES", 1024)
    for trailing in ("", ","):  # without trailing commas, and with one on every row
        lines = [HEADER, *(_row(i) + trailing for i in range(60))]
        lines[30] = f"{RESIDENT_ID}张三,企业,152921,2024-06-03,存续,x,{RESIDENT_ID}"
        lines[50] = _row(50) + ",备注"
        path = _csv(tmp_path, "\n".join(lines) + "\n", "utf-8")
        with pytest.raises(BatchRejected) as error:
            _chunks(path, 7)
        assert _one_line(error) == ("登记.csv: row 31 has more fields than the header (6); nothing loaded "
                                    "(its values would shift under the wrong headers; 2 such row(s))")


def test_a_quoted_field_never_closed_refuses_the_file_naming_its_row(tmp_path):
    path = _csv(tmp_path, f'{HEADER}\n{_row(1)}\n乙,"企业,152921\n{_row(2)}\n{_row(3)}\n', "utf-8")
    with pytest.raises(BatchRejected) as error:
        _chunks(path, 2)
    assert _one_line(error) == ("登记.csv: a quoted field in row 3 is not closed before the end of the file "
                                "(the rest of the file would load as one value); nothing loaded")


def test_an_encoding_error_deep_in_the_file_names_its_line_and_byte_before_any_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_DECODE_BLOCK_BYTES", 64)  # characters split across blocks
    good = "\n".join([HEADER, *(_row(i) for i in range(30))]).encode() + b"\n"
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"\xff" + _row(31).encode() + b"\n")
    chunks = iter_department_file(path, REGISTRATION, 5)
    with pytest.raises(BatchRejected) as error:
        next(chunks)
    assert _one_line(error) == f"broken.csv: not valid UTF-8 text at line 32, byte offset {len(good)}"

    good = "\n".join([HEADER, *(_row(i) for i in range(30))]).encode("gb18030") + b"\n"
    path.write_bytes(good + b"\x81\x20" + _row(31).encode("gb18030") + b"\n")
    with pytest.raises(BatchRejected) as error:
        _chunks(path, 5)
    assert _one_line(error) == ("broken.csv: not readable as UTF-8 or GB18030 text (UTF-8 fails at line 1, "
                                f"byte offset 0; GB18030 at line 32, byte offset {len(good)})")

    path.write_bytes(("\ufeff" + HEADER + "\n" + _row(1) + "\n").encode("utf-16-le") + b"\x00")
    with pytest.raises(BatchRejected) as error:
        _chunks(path, 5)
    size = path.stat().st_size
    assert _one_line(error) == (f"broken.csv: not readable as utf-16 text at line 3, byte offset {size - 1} "
                                "(the file ends inside a character: cut short?)")


def test_a_source_mapping_applies_before_the_headers_and_outside_fields_are_named_once(tmp_path, caplog):
    text = "qymc,市场主体类型,所属区划代码,成立日期,登记状态,更新时间,备注\n" + "\n".join(
        f"{_row(i)},内部" for i in range(10)) + "\n"
    path = _csv(tmp_path, text, "gb18030")
    with caplog.at_level(logging.WARNING, logger="bizenv.sources.files"):
        chunks = _chunks(path, 3, encoding="gb18030", columns={"qymc": "name"})
    assert pd.concat(chunks)["name"].tolist() == [f"企业{i}有限公司" for i in range(10)]
    assert [r.getMessage() for r in caplog.records] == [
        "登记.csv: columns outside the registration contract are not loaded: 备注"]
    path = _csv(tmp_path, f"qymc,{HEADER}\n甲,{_row(1)}\n", "utf-8")
    with pytest.raises(BatchRejected, match=r"^登记.csv: headers 'qymc' and '企业名称' both name column 企业名称"):
        _chunks(path, 3, columns={"qymc": "name"})


def test_a_file_without_rows_gives_no_chunk_and_an_empty_frame_with_the_columns(tmp_path):
    path = _csv(tmp_path, HEADER + "\r\n", "utf-16")
    assert _chunks(path, 3) == []
    frame = read_department_file(path, REGISTRATION)
    assert frame.empty and list(frame.columns) == [*REGISTRATION.column_names, "source_row"]
    assert frame["source_row"].dtype == "int64"


def test_a_formula_without_a_value_is_found_however_the_sheet_xml_is_cut(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_DECODE_BLOCK_BYTES", 50)
    rows = [HEADER.split(","), *(_row(i).split(",") for i in range(20))]
    rows[15][2] = "=1+1"  # openpyxl saves no value for it
    rows[18][4] = "=C3"
    with pytest.raises(BatchRejected) as error:
        _chunks(_xlsx(tmp_path, rows), 4)
    assert _one_line(error).startswith("登记.xlsx: cell C16 (row 16, column '所属区划代码') is a formula without a "
                                       "saved value (2 such cell(s))")


def test_a_drop_file_is_checksummed_in_blocks_and_read_in_chunks_with_the_source_options(tmp_path):
    text = "qymc,市场主体类型,所属区划代码,成立日期,登记状态,更新时间\n" + "\n".join(_row(i) for i in range(5)) + "\n"
    path = _csv(tmp_path, text, "gb18030")
    drop = load_drop_file(path)
    assert drop.checksum == hashlib.sha256(path.read_bytes()).hexdigest() and not hasattr(drop, "data")
    source = SimpleNamespace(encoding="gb18030", columns={"qymc": "name"})
    chunks = list(read_drop_chunks(drop, source, REGISTRATION, 2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert pd.concat(chunks)["name"].tolist() == [f"企业{i}有限公司" for i in range(5)]
    path.write_bytes(path.read_bytes() + _row(9).encode("gb18030") + b"\n")
    with pytest.raises(BatchRejected, match=r"^登记.csv: the file changed while it was being read; nothing loaded"):
        next(read_drop_chunks(drop, source, REGISTRATION, 2))


def test_a_quoted_field_left_open_or_a_row_longer_than_a_parser_block_refuses_the_file(tmp_path):
    rows = [_row(i) for i in range(12_000)]  # 1.3 MB, more than a parser block
    rows[5] = f'"{RESIDENT_ID}张三,企业,152921,2024-06-03,存续,x'
    path = _csv(tmp_path, "\n".join([HEADER, *rows]) + "\n", "utf-8")
    with pytest.raises(BatchRejected) as error:
        _chunks(path, 1000)
    assert _one_line(error) == ("登记.csv: a quoted field in row 7 is not closed before the end of the file "
                                "(the rest of the file would load as one value); nothing loaded")
    rows[5] = f'"{RESIDENT_ID}张三{"长" * 1_000_000}",企业,152921,2024-06-03,存续,x'  # 3 MB
    path = _csv(tmp_path, "\n".join([HEADER, *rows]) + "\n", "utf-8")
    with pytest.raises(BatchRejected) as error:
        _chunks(path, 1000)
    assert _one_line(error) == ("登记.csv: the rows from row 7 on cannot be told apart: a quoted field is not "
                                "closed, or a row is longer than about 1 MB; nothing loaded")
