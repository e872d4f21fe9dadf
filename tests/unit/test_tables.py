import datetime as dt
import unicodedata

import numpy as np
import pandas as pd
import pytest

from bizenv import tables
from bizenv.tables import MISSING, display_width


def cells_under_rule(table: str) -> list[list[str]]:
    """Split every line of `table` by the display columns of its dashed rule (its second line);
    fails when a character sits in the gap between two columns or straddles a column edge, i.e.
    when the columns do not line up on a terminal."""
    lines = table.split("\n")
    rule = lines[1]
    spans, start = [], None
    for column, char in enumerate(rule + " "):
        if char == "-" and start is None:
            start = column
        elif char != "-" and start is not None:
            spans.append((start, column))
            start = None
    rows = []
    for line in lines:
        cells = [""] * len(spans)
        column = 0
        for char in line:
            width = display_width(char)
            inside = [i for i, (a, b) in enumerate(spans) if a <= column and column + width <= b]
            if char != " ":
                assert inside, f"{char!r} at display column {column} is outside every column: {line!r}"
            if inside:
                cells[inside[0]] += char
            column += width
        assert column <= spans[-1][1], f"line wider than its rule: {line!r}"
        rows.append([cell.strip() for cell in cells])
    return rows


def indicator_frame() -> pd.DataFrame:
    """Four rows as `bizenv.indicators.show` returns them: a missed ratio, a duration below the
    minimum sample, a breakdown without value (NaN and None mixed), a count without a target in a
    region the names do not know."""
    return pd.DataFrame({
        "region_code": ["152900", "152921", "152921", "152923"],
        "indicator_code": ["full_e_registration_rate", "re_enterprise_workdays_median",
                           "re_enterprise_workdays_median", "new_entities"],
        "name_zh": ["全程电子化登记率", "企业不动产登记时长", "企业不动产登记时长", "新设市场主体数"],
        "unit": ["ratio", "个工作日", "个工作日", "户"],
        "breakdown": ["", "", "转移登记", ""],
        "value": [0.934, 0.4375, np.nan, 12345.0],
        "target": [0.95, 0.5, 0.5, np.nan],
        "meets_target": [False, None, None, None],
        "sample_size": pd.array([1532, 3, 0, 12345], dtype="Int64"),
        "previous_value": [0.9, None, np.nan, 12000.0],
        "last_year_value": [np.nan, 1.0, None, pd.NA],
    })


REGION_NAMES = {"152900": "阿拉善盟", "152921": "阿拉善左旗"}
OPERATORS = {"full_e_registration_rate": ">=", "re_enterprise_workdays_median": "<="}


def test_indicator_table_literal():
    table = tables.indicator_table(indicator_frame(), region_names=REGION_NAMES, target_operators=OPERATORS)
    assert table.split("\n") == [
        "区划代码  区划        指标                分项      单位        数值     目标"
        "  达标      样本量    上月  去年同期",
        "--------  ----------  ------------------  --------  --------  ------  -------"
        "  --------  ------  ------  --------",
        "152900    阿拉善盟    全程电子化登记率    —         %          93.4%  ≥ 95.0%"
        "  未达标     1,532   90.0%         —",
        "152921    阿拉善左旗  企业不动产登记时长  —         个工作日    0.44   ≤ 0.50"
        "  样本不足       3       —      1.00",
        "152921    阿拉善左旗  企业不动产登记时长  转移登记  个工作日       —   ≤ 0.50"
        "  无数据         0       —         —",
        "152923    —           新设市场主体数      —         户        12,345        —"
        "  无目标    12,345  12,000         —",
    ]


def test_indicator_columns_line_up_by_display_width():
    table = tables.indicator_table(indicator_frame(), region_names=REGION_NAMES, target_operators=OPERATORS)
    rows = cells_under_rule(table)
    assert rows[0] == [c.header for c in tables.INDICATOR_COLUMNS]
    assert [row[1] for row in rows[2:]] == ["阿拉善盟", "阿拉善左旗", "阿拉善左旗", MISSING]
    # counted in characters, the lines differ; in terminal columns every full line is as wide as its rule
    lines = table.split("\n")
    assert len({len(line) for line in lines}) > 1
    assert display_width(lines[0]) == display_width(lines[1]) == display_width(lines[2])
    # numbers end at their column's right edge
    for line in lines[2:]:
        assert line.endswith("—") or line.endswith("1.00")


def test_no_nan_none_or_na_spelling_reaches_a_table():
    frame = pd.DataFrame({"a": [np.nan, None, "x"], "b": pd.array([pd.NA, 1, 2], dtype="Int64"),
                          "c": [pd.NaT, pd.Timestamp("2024-06-01 08:00"), pd.NaT], "d": ["", "  ", "y"]})
    table = tables.frame_table(frame)
    for spelling in ("nan", "NaN", "None", "<NA>", "NaT"):
        assert spelling not in table
    assert table == (
        "a  b  c                    d\n"
        "-  -  -------------------  -\n"
        "—  —  —                    —\n"
        "—  1  2024-06-01 08:00:00  —\n"
        "x  2  —                    y"
    )


def test_frame_table_right_aligns_numbers_and_drops_whole_float_decimals():
    frame = pd.DataFrame({"数据集": ["registration", "不动产登记"], "open": [3, 120], "share": [1.0, 0.25],
                          "fresh": [True, False]})
    assert tables.frame_table(frame) == (
        "数据集        open  share  fresh\n"
        "------------  ----  -----  -----\n"
        "registration     3      1  true\n"
        "不动产登记     120   0.25  false"
    )


def test_quarantine_table_literal_with_local_time_and_masked_reason():
    frame = pd.DataFrame({
        "dataset": ["registration", "real_estate_case"],
        "batch_id": ["registration-20240701T020000-1a2b3c4d", "real_estate_case-20240702T020000-5e6f7a8b"],
        "file_name": ["市场监管2024-06.csv", None],
        "source_row": [28, 3],
        "record_key": ["92152921A1HH4TF26X", "BDC-0003"],
        "region_code": ["152921", "152922"],
        "reason_zh": ["核准时间「2024-06-10 03:01:34」：办结时间早于申请时间",
                      "统一社会信用代码「1529**********123X」：填写的是居民身份证号码"],
        "reason_en": ["x", "y"], "failures": ["[]", "[]"], "record": ["{}", "{}"],
        # naive UTC as quarantine stores it; shown at Asia/Shanghai time (UTC+8)
        "quarantined_at": [dt.datetime(2024, 7, 1, 2, 0, 5), dt.datetime(2024, 7, 1, 17, 30)],
        "status": ["resolved", "open"],
        "resolved_at": [dt.datetime(2024, 7, 2, 2, 0), None],
        "resolved_by_batch": ["registration-20240702T020000-9c9c9c9c", None],
        "resolved_by_file": ["市场监管2024-06更正.csv", None],
    })
    assert tables.quarantine_table(frame) == (
        "数据集            批次号                                     文件名               行号  记录键              "
        "区划代码  问题说明                                                        发现时间\n"
        "----------------  -----------------------------------------  -------------------  ----  ------------------  "
        "--------  --------------------------------------------------------------  -------------------\n"
        "registration      registration-20240701T020000-1a2b3c4d      市场监管2024-06.csv    28  92152921A1HH4TF26X  "
        "152921    核准时间「2024-06-10 03:01:34」：办结时间早于申请时间           2024-07-01 10:00:05\n"
        "real_estate_case  real_estate_case-20240702T020000-5e6f7a8b  —                       3  BDC-0003            "
        "152922    统一社会信用代码「1529**********123X」：填写的是居民身份证号码  2024-07-02 01:30:00"
    )
    with_resolution = tables.quarantine_table(frame, with_resolution=True).split("\n")
    assert cells_under_rule("\n".join(with_resolution))[2][-2:] == ["已更正", "registration-20240702T020000-9c9c9c9c"]
    assert with_resolution[3].endswith("2024-07-02 01:30:00  待更正  —")


def test_an_empty_frame_is_one_line():
    assert tables.indicator_table(indicator_frame().iloc[0:0]) == "(no rows)"
    assert tables.quarantine_table(pd.DataFrame(columns=["dataset"])) == "(no rows)"


@pytest.mark.parametrize(("text", "width"), [
    ("152921", 6), ("阿拉善左旗", 10), ("ＡＢ", 4),  # fullwidth Latin takes two columns
    ("—≤", 2),  # ambiguous width: one column outside a CJK locale
    ("e\u0301", 1),  # a combining accent takes none
    ("", 0),
])
def test_display_width(text, width):
    assert display_width(text) == width


def test_control_characters_are_shown_escaped():
    frame = pd.DataFrame({"文件名": ["a\x1b[31mb\nc.csv", "\u202etxt.exe"]})
    assert tables.frame_table(frame) == (
        "文件名\n"
        "-----------------\n"
        "a\\x1b[31mb\\nc.csv\n"
        "\\u202etxt.exe"
    )
    lines = tables.frame_table(frame).split("\n")
    assert len(lines) == 4 and all(unicodedata.category(ch) != "Cc" for line in lines for ch in line)


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (0.934, "ratio", "93.4%"), (1.0, "ratio", "100.0%"), (0.0, "ratio", "0.0%"),
    (0.375, "个工作日", "0.38"), (2.0, "个工作日", "2.00"), (1 / 6, "条/户", "0.17"),
    # half up as the value reads in decimal (四舍五入), not the float's half-to-even: 0.125 is one office hour
    (0.125, "个工作日", "0.13"), (0.625, "个工作日", "0.63"), (0.9345, "ratio", "93.5%"), (0.0005, "ratio", "0.1%"),
    (1234.5, "个工作日", "1,234.50"), (2.5, "户", "3"),
    (12345.0, "户", "12,345"), (0, "户", "0"),
    (None, "ratio", MISSING), (np.nan, "个工作日", MISSING), (pd.NA, "户", MISSING),
])
def test_number_cell(value, unit, shown):
    assert tables.number_cell(value, unit) == shown


@pytest.mark.parametrize(("row", "shown"), [
    ({"attainment": "met"}, "达标"),
    ({"attainment": "insufficient_sample"}, "样本不足"),
    ({"attainment": "no_data", "target": 0.5}, "无数据"),
    ({"target": None, "value": 3.0, "meets_target": None}, "无目标"),
    ({"target": 0.5, "value": np.nan, "meets_target": None}, "无数据"),
    ({"target": 0.5, "value": 0.4, "meets_target": None}, "样本不足"),
    ({"target": 0.5, "value": 0.4, "meets_target": True}, "达标"),
    ({"target": 0.95, "value": 0.5, "meets_target": False}, "未达标"),
])
def test_attainment_cell(row, shown):
    assert tables.attainment_cell(row) == shown


def test_units_are_the_catalogs():
    from bizenv.indicators import catalog

    assert (tables.RATIO_UNIT, tables.COUNT_UNIT) == (catalog.RATIO_UNIT, catalog.COUNT_UNIT)


def test_a_row_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="2 cells for 1 columns"):
        tables.render([tables.Column("a")], [["1", "2"]])


def test_the_alignment_check_catches_padding_by_character_count():
    names = ["阿拉善左旗", "Alxa"]
    by_characters = "\n".join([
        "区划".ljust(5) + "  n", "-" * 5 + "  -", *(name.ljust(5) + "  1" for name in names)])
    with pytest.raises(AssertionError, match="outside every column"):
        cells_under_rule(by_characters)
    rendered = tables.render([tables.Column("区划"), tables.Column("n", right=True)], [[n, "1"] for n in names])
    assert cells_under_rule(rendered) == [["区划", "n"], ["-" * 10, "-"], ["阿拉善左旗", "1"], ["Alxa", "1"]]
