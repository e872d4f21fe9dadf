"""Personal-ID handling reads its columns from the dataset contracts (datasets.py): a
personal-ID column added to a contract is hashed and masked with no other change."""

from __future__ import annotations

import dataclasses

import pandas as pd

from bizenv import codes
from bizenv.datasets import REAL_ESTATE_CASE, REGISTRATION, Column
from bizenv.ingest import _stage_frame

KEY = b"k" * 32
PERSON = "152921199001011235"


def empty_rows(contract, n: int) -> dict:
    """Typed-missing values for every column, as standardize hands them on."""
    def missing(column: Column):
        if column.kind in ("date", "timestamp"):
            return pd.Series([pd.NaT] * n, dtype="datetime64[us]")
        return [None] * n
    return {c.name: missing(c) for c in contract.columns}


def test_a_personal_id_column_added_to_a_contract_is_hashed_and_masked():
    contract = dataclasses.replace(
        REGISTRATION, columns=(*REGISTRATION.columns, Column("contact_id", "联络员证件号码", "personal_id")))
    rows = pd.DataFrame(empty_rows(contract, 1) | {
        "uscc": [codes.make_uscc("91", "152921", "MA0M0001")], "legal_rep_id": [PERSON], "contact_id": [PERSON],
        "source_row": [2]})
    staged = _stage_frame(contract, "b1", rows, KEY)
    for column in ("legal_rep_id", "contact_id"):
        assert column not in staged
        assert staged[f"{column}_masked"].iloc[0] == codes.mask_resident_id(PERSON)
        assert len(staged[f"{column}_hash"].iloc[0]) == 64
    assert staged["contact_id_hash"].iloc[0] == staged["legal_rep_id_hash"].iloc[0]


def test_an_enterprise_holder_keeps_its_uscc_and_is_never_hashed():
    company = codes.make_uscc("91", "152921", "MA0M0002")
    rows = pd.DataFrame(empty_rows(REAL_ESTATE_CASE, 2) | {
        "applicant_type": ["企业", "个人"], "applicant_id": [company, PERSON], "source_row": [2, 3]})
    staged = _stage_frame(REAL_ESTATE_CASE, "b1", rows, KEY)
    assert staged["applicant_uscc"].tolist()[0] == company and pd.isna(staged["applicant_uscc"].tolist()[1])
    assert pd.isna(staged["applicant_id_hash"].tolist()[0]) and len(staged["applicant_id_hash"].tolist()[1]) == 64
    assert staged["applicant_id_masked"].tolist()[1] == codes.mask_resident_id(PERSON)
