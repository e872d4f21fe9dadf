"""Hostile and broken department files read into a batch: repeated headers, formula cells the
writing program never calculated, trailing commas, UTF-16, files cut inside a character,
Excel 97-2003 workbooks, NUL characters and 更新时间 in the future."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest

from bizenv.datasets import REGISTRATION
from bizenv.sources.files import BatchRejected, legacy_workbook_engine, read_department_file
from bizenv.sources.frames import latest_change, to_dataset_frame
from bizenv.standardize import LOCAL_TIMEZONE, latest_plausible_change, standardize

HEADER = "企业名称,市场主体类型,所属区划代码,成立日期,登记状态,更新时间"
ROW_A = "甲有限公司,企业,152921,2024-06-03,存续,2024-06-03 12:00:00"
ROW_B = "乙有限公司,个体工商户,152922,2024-06-04,存续,2024-06-04 12:00:00"


def _csv(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("second", ["企业 名称", "name", "企业名称"])
def test_two_headers_for_one_column_refuse_the_file_naming_both(tmp_path, second):
    path = _csv(tmp_path, "dup.csv", f"{HEADER},{second}\n{ROW_A},乙\n")
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error) == (f"dup.csv: headers '企业名称' and {second!r} both name column 企业名称(name); "
                                "deliver one of them")


def test_two_source_fields_landing_in_one_column_refuse_the_batch():
    frame = pd.DataFrame({"qymc": ["甲"], "企业名称": ["乙"], "市场主体类型": ["企业"], "所属区划代码": ["152921"],
                          "成立日期": ["2024-06-03"], "登记状态": ["存续"], "更新时间": ["2024-06-03 12:00:00"]})
    with pytest.raises(BatchRejected, match=r"^api: headers 'qymc' and '企业名称' both name column 企业名称\(name\)"):
        to_dataset_frame(frame, REGISTRATION, {"qymc": "name"}, "api")


def test_an_xlsx_formula_without_a_saved_value_refuses_the_file_naming_cell_row_and_column(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "登记"
    sheet.append(HEADER.split(","))
    sheet.append(ROW_A.split(","))
    sheet.append(["=A2&\"分公司\"", *ROW_B.split(",")[1:]])  # openpyxl saves no value for it
    path = tmp_path / "公式.xlsx"
    book.save(path)
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error).startswith("公式.xlsx: cell A3 (row 3, column '企业名称') is a formula without a "
                                       "saved value (1 such cell(s))")


def test_an_xlsx_formula_with_its_saved_value_loads_the_value(tmp_path):
    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    book.active.append(ROW_A.split(","))
    path = tmp_path / "values.xlsx"
    book.save(path)
    # what Excel writes for a calculated formula: the formula and its cached value
    import zipfile

    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    cell = sheet[sheet.index(b'<c r="A2"'):]
    cell = cell[: cell.index(b"</c>") + 4]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        cell, b'<c r="A2" t="str"><f>"\xe7\x94\xb2"&amp;"\xe6\x9c\x89\xe9\x99\x90\xe5\x85\xac\xe5\x8f\xb8"</f>'
              b"<v>\xe7\x94\xb2\xe6\x9c\x89\xe9\x99\x90\xe5\x85\xac\xe5\x8f\xb8</v></c>")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert read_department_file(path, REGISTRATION)["name"].tolist() == ["甲有限公司"]


def test_a_trailing_comma_on_every_data_row_is_dropped_and_nothing_shifts(tmp_path):
    path = _csv(tmp_path, "trailing.csv", f"{HEADER}\n{ROW_A},\n{ROW_B},\n")
    frame = read_department_file(path, REGISTRATION)
    assert frame["name"].tolist() == ["甲有限公司", "乙有限公司"]
    assert frame["region_code"].tolist() == ["152921", "152922"]
    assert frame["updated_at"].tolist() == ["2024-06-03 12:00:00", "2024-06-04 12:00:00"]
    assert frame["source_row"].tolist() == [2, 3]


def test_a_data_row_with_a_filled_field_beyond_the_header_refuses_the_file_naming_the_row(tmp_path):
    path = _csv(tmp_path, "extra.csv", f"{HEADER}\n{ROW_A},\n{ROW_B},备注\n")
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error).startswith("extra.csv: row 3 has more fields than the header (6); nothing loaded")
    path = _csv(tmp_path, "two_extra.csv", f"{HEADER}\n{ROW_A}\n{ROW_B},x,y\n")
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error).startswith("two_extra.csv: line 3 has 8 fields, the header 6; nothing loaded")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_files_with_a_bom_are_read(tmp_path, encoding):
    bom = "\ufeff".encode(encoding)
    path = tmp_path / "utf16.csv"
    path.write_bytes(bom + f"{HEADER}\r\n{ROW_A}\r\n".encode(encoding))
    frame = read_department_file(path, REGISTRATION)
    assert frame[["name", "region_code"]].values.tolist() == [["甲有限公司", "152921"]]


def test_a_utf8_file_cut_inside_a_character_names_line_and_byte(tmp_path):
    data = f"{HEADER}\n{ROW_A}\n乙有".encode()[:-1]
    path = tmp_path / "cut.csv"
    path.write_bytes(data)
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error) == (f"cut.csv: not valid UTF-8 text at line 3, byte offset {len(data) - 2} "
                                "(the file ends inside a character: cut short?)")


def test_a_gb18030_file_cut_inside_a_character_names_line_and_byte(tmp_path):
    data = f"{HEADER}\n{ROW_A}\n乙有".encode("gb18030")[:-1]
    path = tmp_path / "cut_gb.csv"
    path.write_bytes(data)
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    message = _one_line(error)
    assert message.startswith("cut_gb.csv: not readable as UTF-8 or GB18030 text")
    assert message.endswith(f"GB18030 at line 3, byte offset {len(data) - 1} "
                            "(the file ends inside a character: cut short?))")


def test_a_utf8_file_with_one_broken_byte_is_refused_not_read_as_gb18030(tmp_path):
    good = f"{HEADER}\n{ROW_A}\n".encode()
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"\xff" + ROW_B.encode() + b"\n")
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error) == f"broken.csv: not valid UTF-8 text at line 3, byte offset {len(good)}"


def test_an_xls_workbook_is_refused_naming_the_file_unless_an_engine_is_installed(tmp_path):
    path = tmp_path / "登记.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    assert legacy_workbook_engine() is None  # xlrd is not a dependency
    with pytest.raises(BatchRejected) as error:
        read_department_file(path, REGISTRATION)
    assert _one_line(error) == ("登记.xls: an Excel 97-2003 workbook (.xls) cannot be read here; "
                                "save it as .xlsx or CSV and deliver it again")


def _raw(**values: list[str]) -> pd.DataFrame:
    size = len(next(iter(values.values())))
    raw = pd.DataFrame({c: [""] * size for c in REGISTRATION.column_names})
    for column, column_values in values.items():
        raw[column] = column_values
    raw["source_row"] = range(2, size + 2)
    return raw


def test_a_nul_character_fails_its_row_and_field_and_is_blanked():
    raw = _raw(name=["甲\x00公司", "乙公司"], updated_at=["2024-06-03 12:00:00"] * 2)
    typed = standardize(REGISTRATION, raw)
    assert typed.failures.values.tolist() == [[2, "name", "nul_byte", "甲\\x00公司"]]
    assert typed.rows["name"].isna().tolist() == [True, False]


def test_an_update_time_beyond_now_and_the_tolerance_fails_its_row(monkeypatch):
    now = dt.datetime.now(LOCAL_TIMEZONE).replace(tzinfo=None)  # the zone of every naive department time
    soon = (now + dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    raw = _raw(updated_at=["2024-06-03 12:00:00", "2099-01-01 00:00:00", "9999-12-31 23:59:59", soon])
    failing = standardize(REGISTRATION, raw).failures
    assert failing[["source_row", "field", "rule"]].values.tolist() == [
        [3, "updated_at", "updated_in_future"], [4, "updated_at", "updated_in_future"]]
    monkeypatch.setenv("BIZENV_FUTURE_TOLERANCE_HOURS", "0")
    failing = standardize(REGISTRATION, raw).failures
    assert failing["source_row"].tolist() == [3, 4, 5]
    # the watermark is not pushed by a quarantined row
    assert latest_change(raw["updated_at"].iloc[:3]) == dt.datetime(2024, 6, 3, 12)
    monkeypatch.setenv("BIZENV_FUTURE_TOLERANCE_HOURS", "soon")
    with pytest.raises(ValueError, match="BIZENV_FUTURE_TOLERANCE_HOURS='soon' is not a number of hours"):
        latest_plausible_change()
