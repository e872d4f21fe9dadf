import datetime as dt

import pandas as pd

from bizenv.datasets import REGISTRATION
from bizenv.standardize import (
    clean_code,
    parse_amounts,
    parse_periods,
    parse_timestamps,
    simplified_key,
    standardize,
)


def test_every_department_date_form():
    values = pd.Series(
        ["2024-06-03", "2024/6/3", "2024年6月3日", "20240603", "45446", "２０２４－０６－０３", ""]
    )
    parsed = parse_timestamps(values)
    assert list(parsed[:6]) == [pd.Timestamp("2024-06-03")] * 6
    assert pd.isna(parsed[6])


def test_timestamps_with_time_of_day():
    values = pd.Series(
        [
            "2024-06-03 09:15:00",
            "2024/6/3 9:15",
            "2024年6月3日 9时15分",
            "45446.385416667",
            "2024-06-03T09:15:00",
        ]
    )
    parsed = parse_timestamps(values)
    assert all(p == pd.Timestamp("2024-06-03 09:15:00") for p in parsed)


def test_unreadable_date_is_missing():
    assert pd.isna(parse_timestamps(pd.Series(["2024-13-45"]))[0])
    assert pd.isna(parse_timestamps(pd.Series(["soon"]))[0])


def test_codes_are_nfkc_upper_and_unspaced():
    assert clean_code(pd.Series(["ｍａ０ｎ 1234"]))[0] == "MA0N1234"


def test_amounts_with_separators():
    assert list(parse_amounts(pd.Series(["12,345.60", "１２３", "¥1，000"]))) == [12345.6, 123.0, 1000.0]


def test_periods():
    assert list(parse_periods(pd.Series(["2024-06", "2024年6月", "202406", "2024-13"])).fillna("")) == [
        "2024-06",
        "2024-06",
        "2024-06",
        "",
    ]


def test_simplified_key_matches_traditional_and_simplified():
    keys = simplified_key(pd.Series(["阿拉善經濟開發區有限責任公司", "阿拉善经济开发区 有限责任公司"]))
    assert keys[0] == keys[1]


def test_standardize_reports_failures_with_row_and_field():
    raw = pd.DataFrame([{c: "" for c in REGISTRATION.column_names}] * 2)
    raw["established_date"] = ["2024-06-03", "someday"]
    raw["uscc"] = ["91152921MA0N12340T", "9.1E+17"]
    raw["source_row"] = [2, 3]
    result = standardize(REGISTRATION, raw)
    assert result.rows.loc[0, "established_date"] == pd.Timestamp(dt.date(2024, 6, 3))
    failures = {(r.source_row, r.field, r.rule) for r in result.failures.itertuples()}
    assert failures == {(3, "established_date", "date_format"), (3, "uscc", "excel_mangled")}
