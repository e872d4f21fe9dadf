"""The department-data simulator: determinism, valid codes, cross-department consistency,
injected defects and the department files it writes."""

from __future__ import annotations

import re
import statistics
import unicodedata

import numpy as np
import opencc
import pandas as pd
import pytest
from openpyxl import load_workbook
from stdnum.cn import ric

from bizenv import codes
from bizenv.calendar import working_days_between
from bizenv.datasets import DATASETS
from bizenv.simulator.simulate import (
    CHINESE_HEADERS,
    EXPECTED_OUTCOME,
    DefectRates,
    SimulatedData,
    is_outsider_uscc,
    simulate,
    write_files,
)

MONTHS = ("2024-05", "2024-06")
REGIONS = {"152900", "152921", "152922", "152923"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_FORMS = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{4}/\d{1,2}/\d{1,2}|\d{4}年\d{1,2}月\d{1,2}日|\d{8})$")
DATASET_NAMES = ("registration", "tax_filing", "credit_record", "real_estate_case")

DESIGN_COLUMNS = {
    "registration": [
        "uscc",
        "legacy_reg_no",
        "name",
        "entity_type",
        "legal_rep_name",
        "legal_rep_id",
        "region_code",
        "industry_code",
        "registered_capital",
        "established_date",
        "submitted_at",
        "issued_at",
        "channel",
        "event_type",
        "status",
        "status_date",
        "updated_at",
    ],
    "tax_filing": [
        "filing_id",
        "uscc",
        "region_code",
        "tax_period",
        "filed_at",
        "channel",
        "tax_amount",
        "refund_requested_at",
        "refund_completed_at",
        "updated_at",
    ],
    "credit_record": [
        "record_id",
        "uscc",
        "region_code",
        "record_type",
        "record_date",
        "removal_date",
        "authority",
        "updated_at",
    ],
    "real_estate_case": [
        "case_id",
        "unit_code",
        "applicant_type",
        "applicant_id",
        "registration_type",
        "region_code",
        "submitted_at",
        "completed_at",
        "channel",
        "updated_at",
    ],
}

HIGH = DefectRates(**{name: 0.2 for name in DefectRates.__dataclass_fields__})


@pytest.fixture(scope="module")
def clean() -> SimulatedData:
    return simulate(entities=300, months=MONTHS, seed=5, defects=DefectRates.none())


@pytest.fixture(scope="module")
def noisy() -> SimulatedData:
    return simulate(entities=300, months=MONTHS, seed=5, defects=HIGH)


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.replace("", None), format="%Y-%m-%d %H:%M:%S")


def _normalized_code(value: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).upper()


# --------------------------------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data():
    first = simulate(entities=60, months=MONTHS, seed=11)
    second = simulate(entities=60, months=MONTHS, seed=11)
    for name in (*DATASET_NAMES, "crosswalk", "defects"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    other = simulate(entities=60, months=MONTHS, seed=12)
    assert not other.registration["uscc"].equals(first.registration["uscc"])


def test_columns_headers_and_string_values(clean):
    assert CHINESE_HEADERS["registration"]["registered_capital"] == "注册资本(万元)"
    assert CHINESE_HEADERS["tax_filing"]["tax_amount"] == "应纳税额(元)"
    assert CHINESE_HEADERS["real_estate_case"]["unit_code"] == "不动产单元号"
    for name in DATASET_NAMES:
        frame = clean.dataset(name)
        assert list(frame.columns) == DESIGN_COLUMNS[name] == list(CHINESE_HEADERS[name])
        assert len(frame) > 0, name
        assert frame.notna().all().all(), f"{name}: missing values must be empty strings"
        assert all(isinstance(v, str) for v in frame.to_numpy().ravel()), name
        assert frame["updated_at"].str.match(TIMESTAMP).all(), name
        assert set(frame["region_code"]) <= REGIONS, name
    assert clean.defects.empty
    assert list(clean.defects.columns) == ["dataset", "row_number", "defect", "expected_outcome"]


def test_registration_is_realistic(clean):
    reg = clean.registration
    assert reg["uscc"].is_unique
    assert reg["established_date"].str.match(DATE_FORMS).all()
    assert (~reg["established_date"].str.match(DATE)).any(), "a few other date forms are mixed in"
    assert set(reg["entity_type"]) <= {"企业", "个体工商户", "农民专业合作社"}
    prefix = reg["entity_type"].map({"企业": "91", "个体工商户": "92", "农民专业合作社": "93"})
    assert (reg["uscc"].str[:2] == prefix).all()
    assert (reg["uscc"].str[2:8] == reg["region_code"]).all()
    exited = reg["status"].isin(["注销", "吊销", "迁出"])
    assert set(reg["status"]) <= {"存续", "在业", "注销", "吊销", "迁出"}
    assert reg.loc[exited, "status_date"].str.match(DATE).all()
    assert (reg.loc[~exited, "status_date"] == "").all()
    # Stock established before the range; legacy (pre-2015) entities carry a 注册号 and no times.
    stock = reg["established_date"].map(_iso_date) < MONTHS[0] + "-01"
    assert 0.05 < stock.mean() < 0.3
    assert (reg.loc[~stock, "established_date"].map(_iso_date) <= "2024-06-30").all()
    legacy = reg["legacy_reg_no"] != ""
    assert legacy.any()
    assert reg.loc[legacy, "legacy_reg_no"].map(codes.is_legacy_reg_no).all()
    assert (reg.loc[legacy, "submitted_at"] == "").all()
    assert sorted(clean.crosswalk["legacy_reg_no"]) == sorted(reg.loc[legacy, "legacy_reg_no"])
    # Times: approval after submission, update after approval, mostly online.
    timed = reg[reg["submitted_at"] != ""]
    submitted, issued, updated = _ts(timed["submitted_at"]), _ts(timed["issued_at"]), _ts(timed["updated_at"])
    assert (issued > submitted).all()
    assert (updated >= issued).all()
    assert (timed["channel"] == "全程电子化").mean() > 0.85
    new = timed[issued >= pd.Timestamp(MONTHS[0] + "-01")]
    workdays = [
        working_days_between(a.to_pydatetime(), b.to_pydatetime())
        for a, b in zip(_ts(new["submitted_at"]), _ts(new["issued_at"]), strict=True)
    ]
    assert 0.2 < statistics.median(workdays) < 0.7
    assert max(workdays) <= 5.01
    assert (_ts(new["issued_at"]) < pd.Timestamp("2024-07-01")).all()


def test_all_codes_valid_in_a_clean_run(clean):
    reg, tax, credit, estate = (
        clean.registration,
        clean.tax_filing,
        clean.credit_record,
        clean.real_estate_case,
    )
    company = estate["applicant_type"] == "企业"
    for values in (
        reg["uscc"],
        tax["uscc"],
        credit["uscc"],
        estate.loc[company, "applicant_id"],
        clean.crosswalk["uscc"],
    ):
        problems = {v: codes.uscc_problem(v) for v in values}
        assert not {v: p for v, p in problems.items() if p is not None}
    people = pd.concat([reg["legal_rep_id"], estate.loc[~company, "applicant_id"]])
    assert people.map(ric.is_valid).all()
    assert reg["legal_rep_id"].str.startswith("1529").all()
    births = reg["legal_rep_id"].str[6:10].astype(int)
    assert births.between(1960, 2000).all()
    assert estate["unit_code"].map(codes.is_valid_unit_code).all()
    assert (estate["unit_code"].str.len() == 28).all()
    assert (estate["unit_code"].str[:6] == estate["region_code"]).all()
    for name, key in (
        ("tax_filing", "filing_id"),
        ("credit_record", "record_id"),
        ("real_estate_case", "case_id"),
    ):
        assert clean.dataset(name)[key].is_unique, name
    assert tax["filing_id"].str.match(r"^SB\d{13}$").all()


def test_cross_department_consistency(clean):
    reg = clean.registration.set_index("uscc")
    known = set(reg.index)
    tax, credit, estate = clean.tax_filing, clean.credit_record, clean.real_estate_case
    company_ids = estate.loc[estate["applicant_type"] == "企业", "applicant_id"]
    for name, values in (("tax", tax["uscc"]), ("credit", credit["uscc"]), ("real estate", company_ids)):
        outsider = values.map(is_outsider_uscc)
        assert values[~outsider].isin(known).all(), name
        assert not values[outsider].isin(known).any(), name
    outsiders = tax["uscc"].map(is_outsider_uscc)
    assert 0.0 < outsiders.mean() < 0.04
    local = tax[~outsiders]
    entity = reg.loc[local["uscc"]]
    assert (local["region_code"].to_numpy() == entity["region_code"].to_numpy()).all()
    assert set(entity["entity_type"]) <= {"企业", "个体工商户"}
    # Filed in the following month's first 15 days, never before the entity existed.
    filed = _ts(tax["filed_at"])
    period_start = pd.to_datetime(tax["tax_period"] + "-01")
    next_month = period_start + pd.offsets.MonthBegin(1)
    assert (filed >= next_month).all()
    assert (filed < next_month + pd.Timedelta(days=15)).all()
    established = pd.to_datetime(entity["established_date"].map(_iso_date))
    assert (established.to_numpy() < next_month[~outsiders].to_numpy()).all()
    assert tax["tax_amount"].str.replace(",", "").str.match(r"^\d+\.\d{2}$").all()
    assert set(tax["channel"]) <= {"电子税务局", "移动端", "自助终端", "办税服务厅"}
    refunds = tax[tax["refund_requested_at"] != ""]
    assert (_ts(refunds["refund_completed_at"]) > _ts(refunds["refund_requested_at"])).all()
    # Credit records fall in the range; dishonest entities are companies.
    assert credit["record_date"].between("2024-05-01", "2024-06-30").all()
    dishonest = credit[(credit["record_type"] == "严重失信主体名单") & ~credit["uscc"].map(is_outsider_uscc)]
    assert (reg.loc[dishonest["uscc"], "entity_type"] == "企业").all()
    removed = credit[credit["removal_date"] != ""]
    assert (removed["removal_date"] > removed["record_date"]).all()
    # Real-estate cases: both applicant kinds, 0.3–3 working days.
    assert set(estate["applicant_type"]) == {"企业", "个人"}
    assert set(estate["registration_type"]) <= {"首次登记", "转移登记", "变更登记", "抵押登记"}
    for start, end in zip(_ts(estate["submitted_at"]), _ts(estate["completed_at"]), strict=True):
        assert 0.29 <= working_days_between(start.to_pydatetime(), end.to_pydatetime()) <= 3.01


def _iso_date(value: str) -> str:
    parts = re.findall(r"\d+", value)
    if len(parts) == 1:
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return "{}-{:0>2}-{:0>2}".format(*parts)


def test_high_defect_rates_are_listed_and_really_carried(noisy):
    defects = noisy.defects
    assert set(defects["defect"]) == set(EXPECTED_OUTCOME)
    assert (defects["expected_outcome"] == defects["defect"].map(EXPECTED_OUTCOME)).all()
    assert not defects.duplicated(["dataset", "row_number"]).any(), "one defect per row"
    t2s = opencc.OpenCC("t2s")
    crosswalk = set(noisy.crosswalk["legacy_reg_no"])
    for name in DATASET_NAMES:
        frame = noisy.dataset(name)
        listed = defects[defects["dataset"] == name]
        assert listed["row_number"].between(1, len(frame)).all()
        code_column = "applicant_id" if name == "real_estate_case" else "uscc"
        key = DATASETS[name].key
        as_text = frame.apply(lambda row: "\x1f".join(row), axis=1)
        normalized = frame.map(_normalized_code).apply(lambda row: "\x1f".join(row), axis=1)
        for row_number, defect in zip(listed["row_number"], listed["defect"], strict=True):
            row = frame.iloc[row_number - 1]
            code = row[code_column]
            if defect == "bad_check_char":
                assert codes.uscc_problem(code) == "uscc_check_char", (name, row_number, code)
            elif defect == "excel_mangled":
                assert codes.is_excel_mangled(code), (name, row_number, code)
            elif defect == "full_width":
                assert any("\uff01" <= c <= "\uff5e" for c in code)
                fixed = _normalized_code(code)
                assert codes.uscc_problem(fixed) is None or ric.is_valid(fixed)
            elif defect == "traditional_name":
                assert t2s.convert(row["name"]) != row["name"]
            elif defect == "legacy_reg_no_only":
                assert row["uscc"] == "" and row["legacy_reg_no"] in crosswalk
            elif defect == "completion_before_submission":
                done = "issued_at" if name == "registration" else "completed_at"
                assert _ts(pd.Series([row[done]]))[0] < _ts(pd.Series([row["submitted_at"]]))[0]
            elif defect == "unknown_region":
                assert row["region_code"] not in REGIONS
            elif defect == "exact_duplicate":
                earlier = as_text.iloc[: row_number - 1]
                assert (earlier == as_text.iloc[row_number - 1]).any(), (name, row_number)
            elif defect == "near_duplicate":
                earlier = normalized.iloc[: row_number - 1]
                assert not (as_text.iloc[: row_number - 1] == as_text.iloc[row_number - 1]).any()
                assert (earlier == normalized.iloc[row_number - 1]).any(), (name, row_number, row[key])
    duplicates = defects["expected_outcome"] == "duplicate"
    for name in DATASET_NAMES:
        base = simulate(entities=300, months=MONTHS, seed=5, defects=DefectRates.none()).dataset(name)
        added = (duplicates & (defects["dataset"] == name)).sum()
        assert len(noisy.dataset(name)) == len(base) + added


def test_default_rates_inject_a_few_defects():
    data = simulate(entities=500, months=("2024-01", "2024-03"), seed=7)
    share = len(data.defects) / sum(len(data.dataset(n)) for n in DATASET_NAMES)
    assert 0.01 < share < 0.15
    assert "legacy_reg_no_only" not in set(data.defects["defect"])


def test_write_files_csv_round_trip(tmp_path):
    data = simulate(
        entities=120, months=MONTHS, seed=3, defects=DefectRates(full_width=0.1, traditional_name=0.2)
    )
    paths = write_files(data, tmp_path)
    assert set(paths) == set(DATASET_NAMES)
    encodings = {
        "registration": "gb18030",
        "tax_filing": "utf-8-sig",
        "credit_record": "utf-8",
        "real_estate_case": "gb18030",
    }
    for name, encoding in encodings.items():
        back = pd.read_csv(paths[name], encoding=encoding, dtype=str, keep_default_na=False)
        assert list(back.columns) == list(CHINESE_HEADERS[name].values())
        expected = data.dataset(name).rename(columns=CHINESE_HEADERS[name])
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert paths["registration"].read_bytes()[:2] != b"\xef\xbb"
    with pytest.raises(UnicodeDecodeError):
        paths["registration"].read_bytes().decode("utf-8")
    assert paths["tax_filing"].read_bytes().startswith(b"\xef\xbb\xbf")
    assert not paths["credit_record"].read_bytes().startswith(b"\xef\xbb\xbf")
    crosswalk = pd.read_csv(tmp_path / "crosswalk.csv", dtype=str, keep_default_na=False)
    assert list(crosswalk.columns) == ["注册号", "统一社会信用代码"]
    assert crosswalk["注册号"].tolist() == data.crosswalk["legacy_reg_no"].tolist()
    defects = pd.read_csv(tmp_path / "defects.csv", keep_default_na=False)
    assert defects.to_dict("list") == data.defects.to_dict("list")


def test_write_files_xlsx_round_trip(tmp_path):
    data = simulate(entities=60, months=MONTHS, seed=4)
    paths = write_files(
        data,
        tmp_path,
        encoding_by_dataset={"credit_record": "gb18030"},
        xlsx={"registration", "real_estate_case"},
    )
    assert paths["registration"].suffix == ".xlsx" and paths["tax_filing"].suffix == ".csv"
    for name in ("registration", "real_estate_case"):
        sheet = load_workbook(paths[name], read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == list(CHINESE_HEADERS[name].values())
        cells = [["" if v is None else v for v in row] for row in rows[1:]]
        assert all(isinstance(v, str) for row in cells for v in row), "codes must be text, not numbers"
        assert cells == data.dataset(name).to_numpy().tolist()
    back = pd.read_csv(paths["credit_record"], encoding="gb18030", dtype=str, keep_default_na=False)
    assert back["记录编号"].tolist() == data.credit_record["record_id"].tolist()


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="YYYY-MM"):
        simulate(entities=10, months=("2024-1x", "2024-02"))
    with pytest.raises(ValueError, match="ends before"):
        simulate(entities=10, months=("2024-03", "2024-02"))
    with pytest.raises(ValueError, match="working-day calendar"):
        simulate(entities=10, months=("2099-01", "2099-02"))
    with pytest.raises(ValueError, match="probability"):
        DefectRates(full_width=1.5)
    with pytest.raises(ValueError, match="unknown dataset"):
        write_files(simulate(entities=10, months=MONTHS), tmp_path, xlsx={"nope"})
    assert all(v == 0 for v in DefectRates.none().__dict__.values())
    assert np.isclose(DefectRates().bad_check_char, 0.01)
