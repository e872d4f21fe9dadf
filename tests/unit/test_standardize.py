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


def test_fractions_of_a_second_and_utc_offsets():
    """Database timestamps carry microseconds; API payloads may carry an offset or Z."""
    values = pd.Series(["2024-06-03 09:15:00.123456", "2024-06-03 09:15:00.5", "2024-06-03T01:15:00Z",
                        "2024-06-03T09:15:00+08:00", "2024-06-03T02:15:00.250+01:00"])
    assert parse_timestamps(values).tolist() == [
        pd.Timestamp("2024-06-03 09:15:00.123456"), pd.Timestamp("2024-06-03 09:15:00.5"),
        pd.Timestamp("2024-06-03 09:15:00"), pd.Timestamp("2024-06-03 09:15:00"),
        pd.Timestamp("2024-06-03 09:15:00.250")]


def test_a_bare_year_is_not_an_excel_day_number():
    parsed = parse_timestamps(pd.Series(["2024", "1900", "18263", "18264", "73050", "73051"]))
    assert parsed.isna().tolist() == [True, True, True, False, False, True]
    assert parsed[3] == pd.Timestamp("1950-01-01") and parsed[4] == pd.Timestamp("2099-12-31")


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


def test_15_digit_resident_ids_become_18_digits_but_a_company_applicants_number_does_not():
    from bizenv.datasets import get_dataset

    real_estate = get_dataset("real_estate_case")
    raw = pd.DataFrame([{c: "" for c in real_estate.column_names}] * 2)
    raw["applicant_type"] = ["个人", "企业"]
    raw["applicant_id"] = ["152921750101123", "152921000012345"]
    raw["source_row"] = [2, 3]
    assert standardize(real_estate, raw).rows["applicant_id"].tolist() == ["152921197501011232", "152921000012345"]
    registration = pd.DataFrame([{c: "" for c in REGISTRATION.column_names}])
    registration["legal_rep_id"] = ["152921750101123"]
    registration["source_row"] = [2]
    assert standardize(REGISTRATION, registration).rows["legal_rep_id"].tolist() == ["152921197501011232"]


# --- the Arrow fast paths agree with the plain Python / pandas definitions -----------------------

import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import unicodedata  # noqa: E402

from bizenv.standardize import (  # noqa: E402
    _parse_text_timestamps,
    clean_text,
    code_checks,
    nfkc_unstable_class,
)

PIECES = ["阿拉善", "經濟", "ＭＡ０Ｎ", "ﾊﾝｶｸ", "e\u0301", "\u1100\u1161", "\u1161", "ﬁ", "①", "Ⅻ", "㈱", "\u00a0",
          "\u3000", "\t", "\n", "  ", " ", "\x1c", "\u2028", "\u0085", "a", "Z", "1", ",", "，", "¥", "·", "（有限）"]


def _random_texts(seed: int, count: int) -> list[str | None]:
    rng = random.Random(seed)
    values: list[str | None] = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6))) for _ in range(count)]
    return [*values, None, ""]


def test_nfkc_class_covers_every_character_that_is_not_nfkc_stable():
    # the class is built from U+0080..U+2FFFF; nothing above can change under NFKC or combine
    assert nfkc_unstable_class().startswith("[")
    for cp in range(0x30000, sys.maxunicode + 1):
        char = chr(cp)
        assert not unicodedata.decomposition(char) and not unicodedata.combining(char), hex(cp)


def test_clean_text_and_code_equal_the_python_definitions():
    values = _random_texts(1, 3000)
    series = pd.Series(values, dtype="object")

    def text_ref(v):
        if v is None:
            return None
        out = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", v).strip())
        return out or None

    def code_ref(v):
        if v is None:
            return None
        out = re.sub(r"\s+", "", unicodedata.normalize("NFKC", v)).upper()
        return out or None

    text = clean_text(series)
    code = clean_code(series)
    assert [None if pd.isna(v) else v for v in text] == [text_ref(v) for v in values]
    assert [None if pd.isna(v) else v for v in code] == [code_ref(v) for v in values]
    assert str(text.dtype) == "string" and str(code.dtype) == "string"


def test_fast_timestamp_path_equals_pandas_on_canonical_and_impossible_values():
    rng = random.Random(2)
    values = []
    for _ in range(3000):
        y, m, d = rng.choice([1600, 1677, 1678, 1999, 2000, 2024, 2100, 2262]), rng.randint(0, 13), rng.randint(0, 32)
        hh, mm, ss = rng.randint(0, 24), rng.randint(0, 60), rng.randint(0, 60)
        values.append(rng.choice([f"{y:04d}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}", f"{y:04d}-{m:02d}-{d:02d}",
                                  f"{y:04d}{m:02d}{d:02d}"]))
    parsed = parse_timestamps(pd.Series(values))
    general = _parse_text_timestamps(pd.Series(values, dtype="string"))  # the parser without fast path
    for value, got, want in zip(values, parsed, general, strict=True):
        assert (pd.isna(got) and pd.isna(want)) or got == want, (value, got, want)


def test_amounts_equal_pandas_to_numeric():
    rng = random.Random(4)
    values = [f"{rng.randint(0, 10**9)}.{rng.randint(0, 999999):0{rng.randint(1, 6)}d}" for _ in range(2000)]
    values += ["1e3", "-5", " 12 ", "１２３", "abc", "", "0.1", "12,345.60", "¥1，000元"]
    got = parse_amounts(pd.Series(values))
    cleaned = [re.sub(r"[\s,，¥元]", "", unicodedata.normalize("NFKC", v)) for v in values]
    want = pd.to_numeric(pd.Series(cleaned, dtype="object").replace("", None), errors="coerce")
    assert str(got.dtype) == "Float64"
    assert [None if pd.isna(v) else float(v) for v in got] == [None if pd.isna(v) else float(v) for v in want]


def test_simplified_key_uses_phrases_and_keeps_missing():
    keys = simplified_key(pd.Series(["深沈科技（有限）公司", None, "意志消沈 商行"], index=[5, 6, 7], dtype="string"))
    assert keys[5] == "深沉科技有限公司" and pd.isna(keys[6]) and keys[7] == "意志消沉商行"


def test_standardize_on_object_and_arrow_input_agree():
    raw = pd.DataFrame([{c: "" for c in REGISTRATION.column_names}] * 3)
    raw["name"] = ["  阿拉善　經濟 ", "ＡＢＣ\t公司", ""]
    raw["established_date"] = ["2024年6月3日", "20240603", "2024-02-30"]
    raw["updated_at"] = ["2024-06-03 09:15:00", "2024/6/3 9:15", "45446.385416667"]
    raw["source_row"] = [2, 3, 4]
    as_object = standardize(REGISTRATION, raw.astype({c: object for c in REGISTRATION.column_names}))
    as_arrow = standardize(REGISTRATION, raw.astype({c: "str" for c in REGISTRATION.column_names}))
    pd.testing.assert_frame_equal(as_object.rows, as_arrow.rows)
    assert list(as_object.rows["name"].fillna("-")) == ["阿拉善 經濟", "ABC 公司", "-"]
    assert list(as_object.rows["name_key"].fillna("-")) == ["阿拉善经济", "ABC公司", "-"]
    assert set(as_object.failures["rule"]) == {"date_format"}


def test_code_checks_name_each_identifier_rule():
    from bizenv import codes

    good = codes.make_uscc("91", "152921", "MA0N0001")
    rows = pd.DataFrame(
        {
            "source_row": [2, 3, 4, 5],
            "uscc": pd.Series([good, good[:-1] + ("0" if good[-1] != "0" else "1"), "91", None], dtype="string"),
            "legal_rep_id": pd.Series(["152921199001011235", "152921199001011234", None, "1529"], dtype="string"),
            "legacy_reg_no": pd.Series(["152921000012345", None, "12345", None], dtype="string"),
        }
    )
    failures = code_checks(REGISTRATION, rows)
    found = {(r.source_row, r.field, r.rule, r.value) for r in failures.itertuples()}
    assert found == {
        (3, "uscc", "uscc_check_char", rows.loc[1, "uscc"]),
        (4, "uscc", "uscc_format", "91"),
        (3, "legal_rep_id", "resident_id", "1529**********1234"),
        (5, "legal_rep_id", "resident_id", "****"),
        (4, "legacy_reg_no", "legacy_reg_no_format", "12345"),
    }


def test_a_date_without_a_time_of_day_is_told_apart_from_midnight():
    from bizenv.standardize import date_without_time

    values = pd.Series(["2024-06-04", "2024/6/4", "2024年6月4日", "20240604", "45447", "２０２４－０６－０４",
                        "2024-06-04 00:00:00", "2024-06-04 09:30", "2024年6月4日 9时30分", "45447.5",
                        "2024-06-04T00:00:00+08:00", "", None])
    assert date_without_time(values).tolist() == [True] * 6 + [False] * 7


def _registration_rows(**columns):
    base = {"source_row": [2], "uscc": ["91152921MA0M000012"], "name": ["驼峰科技有限公司"], "entity_type": ["企业"],
            "region_code": ["152921"], "established_date": ["2024-06-04"], "status": ["存续"],
            "updated_at": ["2024-06-05 10:00:00"], "submitted_at": ["2024-06-03 09:00"],
            "issued_at": ["2024-06-04"], "event_type": [None]}
    base.update(columns)
    raw = pd.DataFrame({c.name: [None] * len(base["source_row"]) for c in REGISTRATION.columns})
    for name, values in base.items():
        raw[name] = pd.Series(values, dtype="str" if name != "source_row" else "int64")
    return raw


def test_a_date_only_approval_loads_with_its_flag_and_no_failure():
    result = standardize(REGISTRATION, _registration_rows())
    row = result.rows.iloc[0]
    assert row["issued_at"] == pd.Timestamp("2024-06-04")
    assert bool(row["issued_at_date_only"]) is True
    assert bool(row["submitted_at_date_only"]) is False
    assert result.failures.empty


def test_event_type_is_derived_only_when_the_department_did_not_send_it():
    raw = _registration_rows(
        source_row=[2, 3, 4, 5, 6],
        uscc=["A"] * 5, name=["甲"] * 5, entity_type=["企业"] * 5, region_code=["152921"] * 5,
        updated_at=["2024-07-01 10:00:00"] * 5,
        # 成立日期 within the application -> 设立; outside it -> the exit its status records, or 变更
        established_date=["2024-06-04", "2020-01-01", "2020-01-01", "2020-01-01", "2024-06-04"],
        status=["存续", "注销", "迁出", "存续", "存续"],
        submitted_at=["2024-06-03 09:00", "2024-06-20 09:00", "2024-06-20 09:00", "2024-06-20 09:00",
                      "2024-06-03 09:00"],
        issued_at=["2024-06-04 10:00", "2024-06-21 10:00", "2024-06-21 10:00", "2024-06-21 10:00",
                   "2024-06-04 10:00"],
        event_type=[None, None, None, None, "迁入"],
    )
    rows = standardize(REGISTRATION, raw).rows
    assert rows["event_type"].tolist() == ["设立", "注销", "迁出", "变更", "迁入"]
