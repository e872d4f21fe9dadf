"""Department files as people make them: headers typed or wrapped, workbooks with sheets."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from bizenv.datasets import REGISTRATION
from bizenv.sources.files import BatchRejected, map_columns, read_department_file


def test_full_width_brackets_wrapped_lines_and_a_bom_still_match_the_contract(caplog):
    frame = pd.DataFrame({
        "\ufeff企业名称": ["甲有限公司"], "市场主体类型": ["企业"], "所属区划代码": ["152921"],
        "成立日期": ["2024-06-03"], "登记状态": ["存续"], "更新时间": ["2024-06-03 12:00:00"],
        "注册资本（万元）": ["100"], "申请\n时间": ["2024-06-03 09:00:00"], "备注": ["内部"],
    })
    with caplog.at_level(logging.WARNING, logger="bizenv.sources.files"):
        mapped = map_columns(frame, REGISTRATION, "登记.xlsx")
    assert mapped.loc[0, "name"] == "甲有限公司"
    assert mapped.loc[0, "registered_capital"] == "100"
    assert mapped.loc[0, "submitted_at"] == "2024-06-03 09:00:00"
    assert [r.getMessage() for r in caplog.records] == [
        "登记.xlsx: columns outside the registration contract are not loaded: 备注"]


def _workbook(path, sheets: dict[str, pd.DataFrame]):
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for title, frame in sheets.items():
            frame.to_excel(writer, sheet_name=title, index=False)
    return path


def test_a_workbook_is_read_from_its_one_sheet_with_rows_and_refused_with_several(tmp_path):
    rows = pd.DataFrame({"企业名称": ["甲有限公司"], "市场主体类型": ["企业"], "所属区划代码": ["152921"],
                         "成立日期": ["2024-06-03"], "登记状态": ["存续"], "更新时间": ["2024-06-03 12:00:00"]})
    one = _workbook(tmp_path / "one.xlsx", {"说明": pd.DataFrame(), "登记": rows})
    assert read_department_file(one, REGISTRATION)["name"].tolist() == ["甲有限公司"]
    several = _workbook(tmp_path / "banners.xlsx", {"阿拉善左旗": rows, "阿拉善右旗": rows})
    with pytest.raises(BatchRejected, match=r"^banners.xlsx: 2 sheets hold rows \(阿拉善左旗, 阿拉善右旗\); "
                                            r"deliver one sheet per file$"):
        read_department_file(several, REGISTRATION)
