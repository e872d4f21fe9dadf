"""Identifier rules: USCC (GB 32100), organisation code (GB 11714), resident ID (GB 11643),
division codes (GB/T 2260) and real-estate unit codes (GB/T 37346).

python-stdnum covers the USCC check character and the resident ID; this module adds what it
lacks: the embedded organisation-code check, registration-authority codes other than digits
(stdnum rejects a first-eight that is not all digits), the keyed hash and masked display of
personal IDs, and the unit-code format.

Every rule exists twice: a scalar function (the reference, built on python-stdnum) and a
vectorised form for whole batches (`uscc_problems`, `resident_id_problems`, ...) that works on
fixed-width byte matrices with numpy. tests/unit/test_codes.py checks that both agree on
thousands of random valid and invalid codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# ASCII digits only, and no trailing newline: Python's \d and $ would also accept other
# scripts' digits and a final "\n", which no department code contains.
RESIDENT_ID_PATTERN = r"[0-9]{17}[0-9X]"
_RESIDENT_ID_SHAPE = re.compile(RESIDENT_ID_PATTERN)
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_LEGACY_REG_NO_PATTERN = r"[0-9]{15}"
_UNIT_CODE_PATTERN = r"[0-9]{6}[0-9]{6}[A-Z]{2}[0-9]{5}[A-Z][0-9]{8}"
_LEGACY_REG_NO = re.compile(_LEGACY_REG_NO_PATTERN)
_UNIT_CODE = re.compile(_UNIT_CODE_PATTERN)
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
    if len(code) != 18 or not _USCC_SHAPE.fullmatch(code):
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
    return bool(_LEGACY_REG_NO.fullmatch(code))


def resident_id_problem(number: str) -> str | None:
    """Why `number` is not a valid GB 11643 resident ID, or None when it is: 18 characters, 17
    digits and the check character, a real birth date, and an address code that has existed.

    The address code is the household registration's when the number was issued, which may be
    years after the birth: a division created in 1990 appears in the numbers of people born in
    1975. So any period of the code counts, not only the birth year (stdnum's rule, which
    rejects those valid numbers)."""
    if len(number) != 18:
        return "id_format"
    number = _ric.compact(number)
    if not _RESIDENT_ID_SHAPE.fullmatch(number):
        return "id_format"
    if number[17] != _ric.calc_check_digit(number):
        return "id_check_char"
    try:
        _ric.get_birth_date(number)
    except ValidationError:
        return "id_format"
    return None if _division_known(int(number[:6])) else "id_format"


def upgrade_legacy_resident_id(number: str) -> str:
    """A 15-digit first-generation resident ID as its 18-digit form (GB 11643: the century 19
    inserted before the two-digit birth year, then the check character), so that one person
    hashes alike whichever card a department recorded; anything else unchanged."""
    if not re.fullmatch(r"[0-9]{15}", number):
        return number
    body = number[:6] + "19" + number[6:]
    return body + _ric.calc_check_digit(body + "0")


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
    return bool(_UNIT_CODE.fullmatch(code))


# --- Vectorised forms for whole batches --------------------------------------------------------

_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)  # 1, 3, 9, 27, 19, ...
_ORG_WEIGHTS_ARRAY = np.array(_ORG_WEIGHTS, dtype=np.int64)
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)  # 7, 9, 10, 5, ...
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _lookup(pairs: dict[str, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int8)
    for char, value in pairs.items():
        table[ord(char)] = value
    return table


_ALPHABET_INDEX = _lookup({c: i for i, c in enumerate(USCC_ALPHABET)})
_DIGIT = _lookup({str(i): i for i in range(10)})
_BASE36 = _lookup({c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})


def _weighted(matrix: np.ndarray, weights) -> np.ndarray:
    """Row sums of small int8 values times weights, one column at a time in int64 (a
    matrix-vector product through BLAS is slower here: threads, float conversion)."""
    total = np.zeros(len(matrix), dtype=np.int64)
    for column, weight in enumerate(weights):
        total += matrix[:, column].astype(np.int64) * int(weight)
    return total


def arrow_strings(values) -> pa.Array:
    """`values` (a Series, list or Arrow array of text) as one Arrow string array; missing is null."""
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    else:
        series = values if isinstance(values, pd.Series) else pd.Series(values, dtype="object")
        dtype = series.dtype
        if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
            series = series.astype(pd.StringDtype("pyarrow"))
        arr = pa.array(series.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    return arr


def _byte_matrix(arr: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values exactly `width` bytes long, and those values as a uint8 matrix."""
    lengths = pc.fill_null(pc.binary_length(arr), -1).to_numpy()
    rows = np.flatnonzero(lengths == width)
    if not len(rows):
        return rows, np.empty((0, width), dtype=np.uint8)
    sub = arr if len(rows) == len(arr) else arr.take(pa.array(rows))
    offsets = np.frombuffer(
        sub.buffers()[1], dtype=np.int64 if pa.types.is_large_string(sub.type) else np.int32
    )[sub.offset : sub.offset + len(sub) + 1]
    start = int(offsets[0])
    data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)[start : start + len(sub) * width]
    return rows, data.reshape(len(sub), width)


CHUNK = 131_072  # rows per byte matrix: big enough for numpy, small enough for the CPU caches


def _chunked(check, arr: pa.Array) -> np.ndarray:
    """`check` (Arrow array -> numpy array) over slices of CHUNK rows."""
    if len(arr) <= CHUNK:
        return check(arr)
    return np.concatenate([check(arr.slice(i, CHUNK)) for i in range(0, len(arr), CHUNK)])


def _result(values, problems: np.ndarray) -> pd.Series:
    index = values.index if isinstance(values, pd.Series) else None
    return pd.Series(problems, index=index, dtype="object")


def uscc_problems(values) -> pd.Series:
    """`uscc_problem` for every value at once (None where valid or missing)."""
    return _result(values, _chunked(_uscc_problems, arrow_strings(values)))


def _uscc_problems(arr: pa.Array) -> np.ndarray:
    out = np.full(len(arr), None, dtype=object)
    out[pc.is_valid(arr).to_numpy(zero_copy_only=False)] = "uscc_format"
    rows, chars = _byte_matrix(arr, 18)
    if len(rows):
        index = _ALPHABET_INDEX[chars]
        shape_ok = (index >= 0).all(axis=1) & (_DIGIT[chars[:, 2:8]] >= 0).all(axis=1)
        check = (31 - _weighted(index[:, :17], _USCC_WEIGHTS) % 31) % 31
        check_ok = index[:, 17] == check
        org_remainder = 11 - _weighted(_BASE36[chars[:, 8:16]], _ORG_WEIGHTS_ARRAY) % 11
        org_expected = np.where(org_remainder == 10, ord("X"), ord("0") + org_remainder % 11)
        org_ok = chars[:, 16] == org_expected
        out[rows] = np.where(
            ~shape_ok,
            "uscc_format",
            np.where(~check_ok, "uscc_check_char", np.where(~org_ok, "uscc_org_code", None)),
        )
    return out


@lru_cache(maxsize=8192)
def _division_known(prefix: int) -> bool:
    """The six-digit address code is in stdnum's table of divisions, in any period."""
    from stdnum import numdb

    return any(props for _, props in numdb.get("cn/loc").info(f"{prefix:06d}"))


def resident_id_problems(values) -> pd.Series:
    """`resident_id_problem` for every value at once (None where valid or missing).

    18 ASCII digits (the last may be X) are checked here: check digit, then birth date, then
    the address code through stdnum once per distinct code. Anything else of length 18 goes
    through the scalar rule.
    """
    return _result(values, _chunked(_resident_id_problems, arrow_strings(values)))


def _resident_id_problems(arr: pa.Array) -> np.ndarray:
    present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    out = np.full(len(arr), None, dtype=object)
    char_lengths = pc.fill_null(pc.utf8_length(arr), -1).to_numpy()
    out[present & (char_lengths != 18)] = "id_format"
    rows, chars = _byte_matrix(arr, 18)
    digits = _DIGIT[chars[:, :17]]
    last = chars[:, 17]
    fast = (digits >= 0).all(axis=1) & ((last == ord("X")) | (_DIGIT[last] >= 0))
    slow = present & (char_lengths == 18)
    slow[rows[fast]] = False
    for i in np.flatnonzero(slow):
        out[i] = resident_id_problem(arr[int(i)].as_py())
    rows, digits, last = rows[fast], digits[fast], last[fast]
    if len(rows):
        check = (12 - _weighted(digits, _RIC_WEIGHTS) % 11) % 11
        check_ok = last == np.where(check == 10, ord("X"), ord("0") + check)
        year = _weighted(digits[:, 6:10], [1000, 100, 10, 1])
        month = _weighted(digits[:, 10:12], [10, 1])
        day = _weighted(digits[:, 12:14], [10, 1])
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + (leap & (month == 2))
        date_ok = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
        place_ok = np.zeros(len(rows), dtype=bool)
        ask = check_ok & date_ok
        if ask.any():
            prefix = _weighted(digits[ask, :6], [100000, 10000, 1000, 100, 10, 1])
            keys, inverse = np.unique(prefix, return_inverse=True)
            known = np.array([_division_known(int(k)) for k in keys])
            place_ok[ask] = known[inverse.ravel()]
        out[rows] = np.where(~check_ok, "id_check_char", np.where(date_ok & place_ok, None, "id_format"))
    return out


def are_resident_ids(values) -> np.ndarray:
    """Which values are valid resident IDs (18 digits, or 15 that upgrade to a valid 18), after
    the code cleaning (NFKC, no spaces, upper case): a person's number wherever it was typed."""
    cleaned = [
        upgrade_legacy_resident_id("".join(unicodedata.normalize("NFKC", v).split()).upper())
        if isinstance(v, str) and v else None
        for v in pd.Series(values, dtype="object")
    ]
    candidates = pd.Series(cleaned, dtype="string")
    return (candidates.notna() & resident_id_problems(candidates).isna()).to_numpy(dtype=bool)


def mask_resident_ids(values) -> pa.Array:
    """`mask_resident_id` for every value (null where missing)."""
    arr = arrow_strings(values)
    length = pc.utf8_length(arr)
    star = pa.scalar("*", type=arr.type)
    kept = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(arr, 0, 4),
        pc.binary_repeat(star, pc.max_element_wise(pc.subtract(length, 8), 0)),
        pc.utf8_slice_codeunits(arr, -4, np.iinfo(np.int32).max),
        pa.scalar("", type=arr.type),
    )
    return pc.if_else(pc.less_equal(length, 8), pc.binary_repeat(star, length), kept)


def hash_personal_ids(values, key: bytes) -> list[str | None]:
    """`hash_personal_id` for every value (None where missing). HMAC (RFC 2104) with the keyed
    inner and outer SHA-256 states computed once and copied per value: a new HMAC per value
    spends most of its time on the key schedule."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def keyed(number: str) -> str:
        message = inner.copy()
        message.update(number.encode("ascii", "replace"))
        digest = outer.copy()
        digest.update(message.digest())
        return digest.hexdigest()

    return [None if number is None else keyed(number) for number in arrow_strings(values).to_pylist()]


def _full_match(values, pattern: str) -> np.ndarray:
    arr = arrow_strings(values)
    return pc.fill_null(pc.match_substring_regex(arr, f"^(?:{pattern})$"), False).to_numpy(zero_copy_only=False)


def unit_codes_valid(values) -> np.ndarray:
    """`is_valid_unit_code` for every value (False where missing)."""
    return _full_match(values, _UNIT_CODE_PATTERN)


def legacy_reg_nos_valid(values) -> np.ndarray:
    """`is_legacy_reg_no` for every value (False where missing)."""
    return _full_match(values, _LEGACY_REG_NO_PATTERN)


# --- Resident IDs typed where they do not belong ----------------------------------------------

# GB/T 2260 province-level codes: the first two digits of every resident ID
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})
_DIGIT_CHARS = "0-9\uff10-\uff19"  # ASCII and full-width digits (a department form in full-width mode)
_SEPARATOR = "[ \t\u3000]?"  # one space between digit groups, as IDs are often written out
# 15 digits, optionally 2 more and a check character: not part of a longer run of digits, so an
# 18-digit number never matches as its first 15 and a 19-digit bank card not at all
_ID_IN_TEXT = re.compile(
    rf"(?<![{_DIGIT_CHARS}])[{_DIGIT_CHARS}](?:{_SEPARATOR}[{_DIGIT_CHARS}]){{14}}"
    rf"(?:(?:{_SEPARATOR}[{_DIGIT_CHARS}]){{2}}{_SEPARATOR}[{_DIGIT_CHARS}XxＸｘ])?(?![{_DIGIT_CHARS}])"
)
# the RE2 form (no look-around) of "some value may hold one": 15 digits in a row, spaced or not
_ID_CANDIDATE_RE2 = r"[0-9\x{ff10}-\x{ff19}](?:[ \t\x{3000}]?[0-9\x{ff10}-\x{ff19}]){14}"
# what `mask_resident_id` leaves of a 15- or 18-character number
MASKED_ID_PATTERN = r"[0-9]{4}\*{7,10}[0-9]{3}[0-9Xx]"


def looks_like_resident_id(number: str) -> bool:
    """Whether 15 or 18 ASCII characters (digits, the last of 18 may be X) have a resident ID's
    structure: a province code and a real birth date. The check character is not required: a
    mistyped number is still a person's number, and masking a number that only looks like one
    costs nothing."""
    import datetime as dt

    if len(number) == 18:
        birth = number[6:14]
    elif len(number) == 15:
        birth = "19" + number[6:12]
    else:
        return False
    if not number[:17].isdigit() or int(number[:2]) not in _PROVINCES:
        return False
    try:
        born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


def mask_resident_ids_in_text(value: str, keep=None) -> tuple[str, bool]:
    """`value` with every resident ID in it (spaced, full-width, inside longer text) replaced by
    its mask, and whether there was one. `keep(number)` may spare a number that is legitimately
    there (a 注册号 with its own check digit)."""
    found = False

    def replace(match: re.Match) -> str:
        nonlocal found
        number = "".join(unicodedata.normalize("NFKC", match.group(0)).split()).upper()
        if not looks_like_resident_id(number) or (keep is not None and keep(number)):
            return match.group(0)
        found = True
        return mask_resident_id(number)

    return _ID_IN_TEXT.sub(replace, value), found


def masked_file_name(name: object) -> str:
    """A delivered file's name or path as the pipeline records, logs and archives it: departments
    name files after people too (登记_<身份证号>.csv), so a resident ID in it is masked."""
    return mask_resident_ids_in_text(str(name))[0]


def _whole_text(arr: pa.Array) -> pa.Array:
    """All values of `arr` as one string (zero-copy), for one regex scan instead of one per value."""
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    bounds = pa.py_buffer(np.array([offsets[0], offsets[-1]], dtype=np.int64).tobytes())
    return pa.LargeStringArray.from_buffers(1, bounds, arr.buffers()[2])


def hide_resident_ids_in_column(values, keep=None) -> tuple[pa.Array, np.ndarray]:
    """`mask_resident_ids_in_text` over a column: the column with every resident ID masked and
    which values held one. One regex scan of the whole column decides whether any value may hold
    one (almost never: the common case costs that scan only); then RE2 finds the values, and
    Python masks those few."""
    arr = arrow_strings(values)
    hit = np.zeros(len(arr), dtype=bool)
    if not len(arr) or arr.null_count == len(arr):
        return arr, hit
    # values are joined without a separator, so a run may span two: only a prefilter
    if not pc.match_substring_regex(_whole_text(arr), _ID_CANDIDATE_RE2)[0].as_py():
        return arr, hit
    candidates = pc.fill_null(pc.match_substring_regex(arr, _ID_CANDIDATE_RE2), False)
    rows = np.flatnonzero(candidates.to_numpy(zero_copy_only=False))
    if not len(rows):
        return arr, hit
    masked = []
    for row, value in zip(rows, arr.take(pa.array(rows)).to_pylist(), strict=True):
        text, found = mask_resident_ids_in_text(value, keep)
        hit[row] = found
        masked.append(text)
    if not hit.any():
        return arr, hit
    changed = pa.array([m for m, h in zip(masked, hit[rows], strict=True) if h], type=arr.type)
    return pc.replace_with_mask(arr, pa.array(hit), changed), hit


def is_legacy_reg_no_checked(number: str) -> bool:
    """A 15-digit 注册号 carrying its ISO 7064 MOD 11,10 check digit (GS15-2006)."""
    from stdnum.iso7064 import mod_11_10

    return bool(_LEGACY_REG_NO.fullmatch(number)) and mod_11_10.is_valid(number)


def is_enterprise_code(number: str) -> bool:
    """A valid USCC that is not also a valid resident ID: an enterprise's code, kept as delivered."""
    return uscc_problem(number) is None and resident_id_problem(number) is not None


def pii_key_fingerprint(key: bytes) -> str:
    """Identifies the personal-ID hash key without revealing it (stored in ops.pii_key)."""
    return hmac.new(key, b"bizenv-pii-key-fingerprint", hashlib.sha256).hexdigest()
