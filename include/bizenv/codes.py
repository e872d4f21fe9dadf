"""Identifier rules: USCC (GB 32100), organisation code (GB 11714), resident ID (GB 11643),
division codes (GB/T 2260) and real-estate unit codes (GB/T 37346).

python-stdnum covers the USCC check character and the resident ID; this module adds what it
lacks: the embedded organisation-code check, registration-authority codes other than digits
(stdnum rejects a first-eight that is not all digits), the keyed hash and masked display of
personal IDs, and the unit-code format.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{9}[0-9A-HJ-NPQRTUWXY]$")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_LEGACY_REG_NO = re.compile(r"^\d{15}$")
_UNIT_CODE = re.compile(r"^\d{6}\d{6}[A-Z]{2}\d{5}[A-Z]\d{8}$")
_EXCEL_MANGLED = re.compile(r"^\d(\.\d+)?E\+\d+$", re.IGNORECASE)


def is_excel_mangled(value: str) -> bool:
    """A code that Excel turned into a float in scientific notation (9.1E+17)."""
    return bool(_EXCEL_MANGLED.match(value))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 mod-31 check character for the first 17 characters."""
    return _uscc.calc_check_digit(first17)


def org_code_check_char(first8: str) -> str:
    """The GB 11714 mod-11 check character for an organisation code's first 8 characters."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    remainder = 11 - total % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid USCC, or None when it is.

    The answer is a rule name used in quarantine reasons: uscc_format, uscc_check_char,
    uscc_org_code.
    """
    if len(code) != 18 or not _USCC_SHAPE.match(code):
        return "uscc_format"
    if code[17] != uscc_check_char(code[:17]):
        return "uscc_check_char"
    org = code[8:17]
    if not org[:8].isalnum() or org[8] != org_code_check_char(org[:8]):
        return "uscc_org_code"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None


def make_uscc(authority_category: str, division: str, org_first8: str) -> str:
    """A valid USCC from its parts (used by the simulator and tests)."""
    org = org_first8 + org_code_check_char(org_first8)
    body = authority_category + division + org
    return body + uscc_check_char(body)


def is_legacy_reg_no(code: str) -> bool:
    """A pre-2015 15-digit 注册号."""
    return bool(_LEGACY_REG_NO.match(code))


def resident_id_problem(number: str) -> str | None:
    """Why `number` is not a valid GB 11643 resident ID, or None when it is."""
    if len(number) != 18:
        return "id_format"
    try:
        _ric.validate(number)
    except ValidationError as error:
        return "id_check_char" if type(error).__name__ == "InvalidChecksum" else "id_format"
    return None


def mask_resident_id(number: str) -> str:
    """Display form that keeps the first 4 and last 4 characters: 1529**********123X."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def hash_personal_id(number: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256) so the same person links across datasets without the number."""
    return hmac.new(key, number.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def is_valid_unit_code(code: str) -> bool:
    """GB/T 37346 不动产单元号: 6-digit division, 6-digit cadastral zone/subzone, 2-letter
    parcel kind, 5-digit parcel number, 1-letter fixture kind, 8-digit fixture number."""
    return bool(_UNIT_CODE.match(code))
