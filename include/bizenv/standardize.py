"""Standardization: department text in, typed canonical columns plus row-level failures out.

Every transformation is vectorised over the whole batch; the slow regex fallbacks run only
on the values that the fast canonical parse did not understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from bizenv import codes
from bizenv.datasets import Column, Dataset

EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_DATE_PARTS = r"^(\d{4})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?"
_TIME_PARTS = r"(?:[ T]+(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*分?(?:\s*:?\s*(\d{1,2}(?:\.\d+)?)\s*秒?)?)?$"
_COMPACT_DATE = r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2}):?(\d{2})?)?$"
_EXCEL_SERIAL = r"^\d{4,5}(\.\d+)?$"

FAILURE_COLUMNS = ["source_row", "field", "rule", "value"]


@dataclass
class Standardized:
    """The typed rows of a batch and the failures found while typing them."""

    rows: pd.DataFrame
    failures: pd.DataFrame


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def clean_text(values: pd.Series) -> pd.Series:
    """NFKC (full-width to half-width), trimmed, inner whitespace folded; empty becomes missing."""
    text = values.astype("string").str.normalize("NFKC").str.strip().str.replace(r"\s+", " ", regex=True)
    return text.mask(text == "")


def clean_code(values: pd.Series) -> pd.Series:
    """Codes: NFKC, no whitespace at all, upper case."""
    text = values.astype("string").str.normalize("NFKC").str.replace(r"\s+", "", regex=True).str.upper()
    return text.mask(text == "")


def simplified_key(names: pd.Series) -> pd.Series:
    """A comparison key for names: simplified characters, no spaces, no punctuation variants."""
    present = names.dropna()
    if present.empty:
        return names.copy()
    converted = _t2s().convert("\n".join(present.tolist())).split("\n")
    key = pd.Series(converted, index=present.index, dtype="string").str.replace(
        r"[\s()（）·.,，]", "", regex=True
    )
    return key.reindex(names.index)


def _assemble(parts: pd.DataFrame) -> pd.Series:
    numbers = parts.apply(pd.to_numeric, errors="coerce")
    frame = pd.DataFrame(
        {
            "year": numbers[0],
            "month": numbers[1],
            "day": numbers[2],
            "hour": numbers.get(3, 0),
            "minute": numbers.get(4, 0),
            "second": numbers.get(5, 0),
        }
    ).fillna({"hour": 0, "minute": 0, "second": 0})
    complete = frame[["year", "month", "day"]].notna().all(axis=1)
    result = pd.Series(pd.NaT, index=parts.index, dtype="datetime64[us]")
    if complete.any():
        result[complete] = pd.to_datetime(frame[complete], errors="coerce")
    return result


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse every date form the departments send into datetime64 (NaT where unreadable).

    Accepted: 2024-06-03[ 09:15[:00]], 2024/6/3, 2024年6月3日[ 9时15分], 20240603[ 091500],
    ISO with T, and Excel serial day numbers (with a fraction for the time of day).
    """
    text = values.astype("string").str.normalize("NFKC").str.strip()
    text = text.mask(text == "")
    parsed = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    pending = text.notna() & parsed.isna()
    if pending.any():
        date_only = pd.to_datetime(text[pending], format="%Y-%m-%d", errors="coerce")
        parsed[pending] = date_only
        pending = text.notna() & parsed.isna()
    if pending.any():
        rest = text[pending]
        found = rest.str.extract(_DATE_PARTS + _TIME_PARTS)
        parsed[pending] = _assemble(found)
        pending = text.notna() & parsed.isna()
    if pending.any():
        rest = text[pending]
        found = rest.str.extract(_COMPACT_DATE)
        parsed[pending] = _assemble(found)
        pending = text.notna() & parsed.isna()
    if pending.any():
        rest = text[pending]
        serial = rest.where(rest.str.match(_EXCEL_SERIAL)).astype("Float64")
        serial = serial.where((serial >= 1) & (serial < 80000))
        offsets = pd.to_timedelta(serial.astype("float64"), unit="D").dt.round("s")
        parsed[pending] = EXCEL_EPOCH + offsets
    return parsed.astype("datetime64[us]")


def parse_amounts(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.normalize("NFKC").str.replace(r"[\s,，¥元]", "", regex=True)
    text = text.mask(text == "")
    return pd.to_numeric(text, errors="coerce")


def parse_periods(values: pd.Series) -> pd.Series:
    """Tax periods as YYYY-MM from 2024-06, 2024/06, 2024年6月 or 202406."""
    text = values.astype("string").str.normalize("NFKC").str.strip()
    found = text.str.extract(r"^(\d{4})\s*[-/年.]?\s*(\d{1,2})\s*月?$")
    month = pd.to_numeric(found[1], errors="coerce")
    valid = found[0].notna() & month.between(1, 12)
    period = found[0] + "-" + month.astype("Int64").astype("string").str.zfill(2)
    return period.where(valid)


class _Failures:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, source_rows: pd.Series, mask: pd.Series, field: str, rule: str, values: pd.Series) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            self.parts.append(
                pd.DataFrame(
                    {
                        "source_row": source_rows[mask].to_numpy(),
                        "field": field,
                        "rule": rule,
                        "value": values[mask].astype("string").fillna("").to_numpy(),
                    }
                )
            )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in FAILURE_COLUMNS})
        return pd.concat(self.parts, ignore_index=True)


def _standardize_column(column: Column, raw: pd.Series, rows: pd.Series, failures: _Failures) -> pd.Series:
    if column.kind in ("date", "timestamp"):
        parsed = parse_timestamps(raw)
        present = clean_text(raw).notna()
        failures.add(rows, present & parsed.isna(), column.name, f"{column.kind}_format", raw)
        return parsed.dt.normalize() if column.kind == "date" else parsed
    if column.kind == "amount":
        parsed = parse_amounts(raw)
        present = clean_text(raw).notna()
        failures.add(rows, present & parsed.isna(), column.name, "amount_format", raw)
        return parsed
    if column.kind == "period":
        parsed = parse_periods(raw)
        failures.add(rows, clean_text(raw).notna() & parsed.isna(), column.name, "period_format", raw)
        return parsed
    if column.kind in ("code", "personal_id"):
        code = clean_code(raw)
        mangled = code.str.match(r"^\d(\.\d+)?E\+\d+$").fillna(False)
        failures.add(rows, mangled, column.name, "excel_mangled", raw)
        return code.mask(mangled)
    return clean_text(raw)


def standardize(dataset: Dataset, raw: pd.DataFrame) -> Standardized:
    """Type the raw text columns of `dataset`; `raw` has the English column names and
    `source_row`. Unparseable values become missing and are reported as failures."""
    failures = _Failures()
    rows = raw["source_row"]
    out = pd.DataFrame({"source_row": rows.astype("int64")})
    for column in dataset.columns:
        out[column.name] = _standardize_column(column, raw[column.name], rows, failures)
    if "name" in out:
        out["name_key"] = simplified_key(out["name"])
    return Standardized(rows=out, failures=failures.frame())


def code_checks(dataset: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """The identifier rules of DESIGN §5 that GX has no expectation for."""
    failures = _Failures()
    source_rows = rows["source_row"]
    for column in ("uscc",):
        if column in rows:
            values = rows[column]
            problems = values.map(lambda v: codes.uscc_problem(v) if isinstance(v, str) else None)
            for rule in ("uscc_format", "uscc_check_char", "uscc_org_code"):
                failures.add(source_rows, problems == rule, column, rule, values)
    if "legal_rep_id" in rows:
        _check_resident_ids(rows["legal_rep_id"], source_rows, "legal_rep_id", failures)
    if "applicant_id" in rows:
        company = rows["applicant_type"] == "企业"
        values = rows["applicant_id"]
        problems = values.map(lambda v: codes.uscc_problem(v) if isinstance(v, str) else None)
        failures.add(source_rows, company & problems.notna(), "applicant_id", "uscc_check", values)
        _check_resident_ids(values.where(~company.fillna(False)), source_rows, "applicant_id", failures)
    if "unit_code" in rows:
        values = rows["unit_code"]
        bad = values.notna() & ~values.map(lambda v: isinstance(v, str) and codes.is_valid_unit_code(v))
        failures.add(source_rows, bad, "unit_code", "unit_code_format", values)
    if "legacy_reg_no" in rows:
        values = rows["legacy_reg_no"]
        bad = values.notna() & ~values.map(lambda v: isinstance(v, str) and codes.is_legacy_reg_no(v))
        failures.add(source_rows, bad, "legacy_reg_no", "legacy_reg_no_format", values)
    return failures.frame()


def _check_resident_ids(values: pd.Series, source_rows: pd.Series, field: str, failures: _Failures) -> None:
    problems = values.map(lambda v: codes.resident_id_problem(v) if isinstance(v, str) else None)
    masked = values.map(lambda v: codes.mask_resident_id(v) if isinstance(v, str) else v)
    failures.add(source_rows, problems.notna(), field, "resident_id", masked)


def protect_personal_ids(
    rows: pd.DataFrame,
    column: str,
    key: bytes,
    hash_col: str,
    mask_col: str,
    personal: pd.Series | None = None,
) -> pd.DataFrame:
    """Replace a personal-ID column by its keyed hash and masked display form."""
    values = rows[column]
    if personal is not None:
        values = values.where(personal.fillna(False))
    present = values.notna().to_numpy()
    hashes = np.full(len(rows), None, dtype=object)
    masks = np.full(len(rows), None, dtype=object)
    hashes[present] = [codes.hash_personal_id(v, key) for v in values[present]]
    masks[present] = [codes.mask_resident_id(v) for v in values[present]]
    rows = rows.drop(columns=[column])
    rows[hash_col] = hashes
    rows[mask_col] = masks
    return rows
