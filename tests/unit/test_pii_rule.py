"""The one rule for resident IDs outside the personal-ID fields (docs/security.md): masked in every
field of every dataset before anything is stored, and the row quarantined where the field cannot
hold one; legitimate values that only look alike are left alone."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_10

from bizenv import codes
from bizenv.datasets import DATASETS
from bizenv.ingest import _quarantine_frame, _without_resident_ids
from bizenv.simulator.simulate import DefectRates, simulate
from bizenv.sources.files import map_columns
from bizenv.standardize import FREE_TEXT_KINDS, RESIDENT_ID_IN_FIELD_RULE, hide_resident_ids, standardize
from bizenv.validate import _counts_only, _gx_frame


def resident_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


ID = resident_id("15292219800101123")
WRONG_CHECK = ID[:-1] + ("0" if ID[-1] != "0" else "1")
WITH_X = next(resident_id(f"15292219800101{n:03d}") for n in range(1000)
              if resident_id(f"15292219800101{n:03d}").endswith("X"))
LEGACY = "152922711010819"


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


HOSTILE = {
    "plain": (ID, codes.mask_resident_id(ID)),
    "wrong check character": (WRONG_CHECK, codes.mask_resident_id(WRONG_CHECK)),
    "check character X, lower case": (WITH_X.lower(), codes.mask_resident_id(WITH_X)),
    "spaced": (f"{ID[:6]} {ID[6:14]} {ID[14:]}", codes.mask_resident_id(ID)),
    "full-width": (full_width(ID), codes.mask_resident_id(ID)),
    "full-width space": (f"{ID[:6]}\u3000{ID[6:]}", codes.mask_resident_id(ID)),
    "inside text": (f"法人张三（{ID}）代办", f"法人张三（{codes.mask_resident_id(ID)}）代办"),
    "15-digit": (LEGACY, codes.mask_resident_id(LEGACY)),
    "15-digit inside text": (f"旧证{LEGACY}号", f"旧证{codes.mask_resident_id(LEGACY)}号"),
    "amount float": ("152922711010819.0", codes.mask_resident_id(LEGACY) + ".0"),
}


@pytest.mark.parametrize("form", list(HOSTILE))
def test_every_form_of_a_resident_id_is_masked(form):
    given, expected = HOSTILE[form]
    assert codes.mask_resident_ids_in_text(given) == (expected, True)
    masked, hit = codes.hide_resident_ids_in_column(pd.Series(["无", given, None], dtype="object"))
    assert masked.to_pylist() == ["无", expected, None] and hit.tolist() == [False, True, False]


LEGITIMATE = {
    "USCC with letters": codes.make_uscc("91", "152921", "MA0F0001"),
    "16-digit number": "1529221980010112",
    "bank card, 19 digits": "6222021529221980011",
    "amount, 15 integer digits": "123456789012345.67",
    "amount, thousands": "1,000,000.00",
    "no birth date": "152922000000001",
    "no province": "992922198001011234",
    "unit code": "152922011007GB18941F00400022",
    "timestamp": "2024-06-03 09:15:00",
    "compact timestamp": "20240603 091500",
    "phone": "0483-8221234 13912345678",
    "filing number": "SB2024050000001",
}


@pytest.mark.parametrize("kind", list(LEGITIMATE))
def test_values_that_only_look_alike_are_left_alone(kind):
    value = LEGITIMATE[kind]
    assert codes.mask_resident_ids_in_text(value) == (value, False)


def test_an_enterprise_code_in_its_own_field_is_kept_but_a_person_in_it_is_not():
    # category 1 type 1 (a government organ), a division ending in 19 and an organisation code
    # starting 800101: 18 digits with a province and a birth date, yet an enterprise's code
    all_digits_uscc = next(u for u in (codes.make_uscc("11", "152919", f"{80010100 + n:08d}") for n in range(100))
                           if u.isdigit() and codes.looks_like_resident_id(u)
                           and codes.resident_id_problem(u) is not None)
    person_too = "110105198001013014"  # passes every USCC check and every resident-ID check
    checked_reg_no = next(n for n in (f"15292271101{i:03d}" for i in range(1000))
                          if codes.looks_like_resident_id(n + mod_11_10.calc_check_digit(n)))
    checked_reg_no += mod_11_10.calc_check_digit(checked_reg_no)
    raw = pd.DataFrame({
        "uscc": [all_digits_uscc, person_too], "legacy_reg_no": [checked_reg_no, LEGACY],
        "source_row": [2, 3]})
    raw = raw.reindex(columns=[*DATASETS["registration"].column_names, "source_row"], fill_value="")
    hidden = hide_resident_ids(DATASETS["registration"], raw)
    assert hidden["uscc"].tolist() == [all_digits_uscc, codes.mask_resident_id(person_too)]
    assert hidden["legacy_reg_no"].tolist() == [checked_reg_no, codes.mask_resident_id(LEGACY)]


@pytest.fixture(scope="module")
def clean_rows():
    data = simulate(entities=30, months=("2024-06", "2024-06"), seed=3, defects=DefectRates.none())
    return {name: getattr(data, name).iloc[0].to_dict() for name in DATASETS}


CASES = [(dataset.name, column.name) for dataset in DATASETS.values() for column in dataset.columns
         if column.kind != "personal_id"]


@pytest.mark.parametrize(("dataset", "field"), CASES)
@pytest.mark.parametrize("form", ["plain", "spaced", "full-width", "inside text", "15-digit"])
def test_every_field_of_every_dataset_is_covered(clean_rows, dataset, field, form):
    """The fields come from bizenv.datasets: a field added to a contract is covered, or fails here."""
    given, expected = HOSTILE[form]
    raw = pd.DataFrame([{**clean_rows[dataset], field: given}]).astype(object)
    raw["source_row"] = 2
    kind = DATASETS[dataset].column(field).kind
    typed = standardize(DATASETS[dataset], raw)
    personal = [c.name for c in DATASETS[dataset].columns if c.kind == "personal_id"]  # hashed later
    shown = typed.rows.drop(columns=personal).astype(str).to_string() + typed.failures.astype(str).to_string()
    assert codes.mask_resident_ids_in_text(shown)[1] is False, shown
    assert ID not in shown and LEGACY not in shown
    rules = set(typed.failures.loc[typed.failures["field"] == field, "rule"])
    if kind in FREE_TEXT_KINDS:
        assert typed.rows[field].iloc[0] == expected.replace("（", "(").replace("）", ")")
        assert not rules
    else:
        assert rules == {"resident_id_as_uscc" if field == "uscc" else RESIDENT_ID_IN_FIELD_RULE}, rules
        assert typed.failures.loc[typed.failures["field"] == field, "value"].tolist() == [expected]


def test_the_personal_id_fields_keep_their_number_for_the_hash():
    raw = pd.DataFrame({"legal_rep_id": [ID], "name": [ID], "source_row": [2]})
    raw = raw.reindex(columns=[*DATASETS["registration"].column_names, "source_row"], fill_value="")
    hidden = hide_resident_ids(DATASETS["registration"], raw)
    assert hidden["legal_rep_id"].tolist() == [ID] and hidden["name"].tolist() == [codes.mask_resident_id(ID)]


def test_quarantine_values_reasons_and_typed_columns_hold_masks_only(clean_rows):
    """Even rows that reach quarantine without the rule (a batch landed before it): the reasons of
    an amount field (`152922711010819.0`), the typed region code and the record are masked."""
    dataset = DATASETS["registration"]
    row = {**clean_rows["registration"], "region_code": ID, "registered_capital": "152922711010819.0",
           "name": f"{ID}商行"}
    raw = pd.DataFrame([row]).astype(object)
    raw["source_row"] = 2
    rows = pd.DataFrame([row]).assign(source_row=2, name_key=f"{ID}商行", established_date=pd.Timestamp("2024-06-03"))
    failures = pd.DataFrame({"source_row": [2, 2], "field": ["registered_capital", "region_code"],
                             "rule": ["out_of_range", "region_unknown"], "value": ["152922711010819.0", ID]})
    frame = _quarantine_frame(dataset, "b1", raw, rows, failures, pd.Timestamp("2024-06-30"))
    text = frame.astype(str).to_string() + "".join(frame["record"]) + "".join(frame["failures"])
    assert ID not in text and LEGACY not in text, text
    assert frame["region_code"].iloc[0] == codes.mask_resident_id(ID)
    assert json.loads(frame["failures"].iloc[0])[0]["value"] == codes.mask_resident_id(LEGACY) + ".0"
    values = _without_resident_ids(pd.Series(["152922711010819.0", "1000.00"]), personal=False)
    assert values.tolist() == [codes.mask_resident_id(LEGACY) + ".0", "1000.00"]


def test_great_expectations_sees_personal_ids_masked_and_docs_keep_counts_only():
    rows = pd.DataFrame({"source_row": [2], "case_id": ["C1"], "unit_code": ["U"], "applicant_type": ["个人"],
                         "applicant_id": [ID], "registration_type": ["<img src=x onerror=alert(1)>"],
                         "region_code": ["152921"], "submitted_at": [pd.Timestamp("2024-06-03")],
                         "completed_at": [pd.NaT], "channel": ["窗口"], "updated_at": [pd.Timestamp("2024-06-03")]})
    frame = _gx_frame("real_estate_case", rows)
    assert frame["applicant_id"].tolist() == [codes.mask_resident_id(ID)]
    result = {"element_count": 3, "unexpected_count": 1, "unexpected_percent": 33.3, "observed_value": 3,
              "partial_unexpected_list": [ID], "unexpected_list": ["<img src=x onerror=alert(1)>"],
              "partial_unexpected_counts": [{"value": ID, "count": 1}], "unexpected_index_list": [2]}
    assert _counts_only(result) == {"element_count": 3, "unexpected_count": 1, "unexpected_percent": 33.3,
                                    "observed_value": 3}


def test_a_headerless_file_does_not_log_its_first_row(caplog):
    """Without a header row the first data row is taken for the headers: the warning naming the
    unknown ones must not print a resident ID among them."""
    first_row = ["张三", f"身份证 {ID}", "152921", "2024-06-03"]
    frame = pd.DataFrame([["李四", WRONG_CHECK, "152921", "2024-06-04"]], columns=first_row)
    caplog.set_level(logging.WARNING)
    with pytest.raises(Exception, match="missing required column"):
        map_columns(frame, DATASETS["registration"], "no-header.csv")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "no-header.csv" in logged and ID not in logged and ID[6:14] not in logged
