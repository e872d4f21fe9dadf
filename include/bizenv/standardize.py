"""Standardization: department text in, typed canonical columns plus row-level failures out.

Every transformation is vectorised over the whole batch on Arrow strings (pyarrow.compute):
NFKC runs in Python only on the few values that contain a character NFKC could change, the
canonical date forms are parsed from fixed-width byte matrices, and the slow regex fallbacks
run only on the values that the fast canonical parse did not understand.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bizenv import codes
from bizenv.codes import arrow_strings
from bizenv.datasets import Column, Dataset
from bizenv.settings import env_number
from bizenv.timeutil import LOCAL_TIMEZONE

EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_DATE_PARTS = r"^(\d{4})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?"
_TIME_PARTS = r"(?:[ T]+(\d{1,2})\s*[:时点]\s*(\d{1,2})\s*分?(?:\s*:?\s*(\d{1,2}(?:\.\d+)?)\s*秒?)?)?$"
_COMPACT_DATE = r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2}):?(\d{2})?)?$"
# Excel day numbers of 1950-01-01 .. 2099-12-31: five digits, so a bare year such as "2024"
# is unreadable rather than a day in 1905
_EXCEL_SERIAL = r"^\d{5}(\.\d+)?$"
_EXCEL_SERIAL_RANGE = (18264, 73051)
# ISO 8601 with a UTC offset (API payloads): converted to Asia/Shanghai wall time
FUTURE_TOLERANCE_ENV = "BIZENV_FUTURE_TOLERANCE_HOURS"
DEFAULT_FUTURE_TOLERANCE_HOURS = 24.0
_OFFSET_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"

# the date forms with no time of day: a day written out, a compact day, a whole Excel day number
_DATE_WITHOUT_TIME = r"^(\d{4}\s*[-/年.]\s*\d{1,2}\s*[-/月.]\s*\d{1,2}\s*日?|\d{8}|\d{5})$"

FAILURE_COLUMNS = ["source_row", "field", "rule", "value"]

# Python's whitespace (str.isspace, regex \s, str.strip); none lies above U+3000. RE2's \s is
# ASCII-only, so the Arrow kernels get the set spelled out.
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
_WS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"
_OTHER_WS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE if c != " ") + "]"
_FOLD = re.compile(r"\s+")
_EXCEL_MANGLED = r"^[0-9](\.[0-9]+)?E\+[0-9]+$"
_PLAIN_DECIMAL = r"^[0-9]{1,15}(\.[0-9]{1,6})?$"
_NAME_KEY_DROP = "[" + _WS[1:-1] + r"()（）·.,，]"
_NAME_KEY_DROP_BUT_NEWLINE = "[" + _WS[1:-1].replace("\\x{a}", "") + r"()（）·.,，]"


@dataclass
class Standardized:
    """The typed rows of a batch and the failures found while typing them."""

    rows: pd.DataFrame
    failures: pd.DataFrame


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def _ranges_class(points: list[int]) -> str:
    parts, start, prev = [], None, None
    for cp in [*sorted(points), None]:
        if start is not None and (cp is None or cp != prev + 1):
            parts.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
            start = None
        if cp is not None and start is None:
            start = cp
        prev = cp
    return "[" + "".join(parts) + "]"


@cache
def nfkc_unstable_class() -> str:
    """An RE2 class of every character that may change under NFKC or combine with its
    neighbour: anything with a decomposition or a non-zero combining class, the second half
    of every canonical pair, and the Hangul vowel and trailing jamo. A string without any of
    them passes the NFKC quick check as YES, i.e. it is already NFKC. (No such character lies
    above U+2FFFF; tests/unit/test_standardize.py checks the whole code space.)"""
    points: set[int] = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for cp in range(0x80, 0x30000):
        char = chr(cp)
        decomposition = unicodedata.decomposition(char)
        if decomposition or unicodedata.combining(char):
            points.add(cp)
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                points.add(int(parts[1], 16))
    return _ranges_class(sorted(points))


def _series(arr: pa.Array, like: pd.Series) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(arr), index=like.index, name=like.name, copy=False)


def _all_text(arr: pa.Array) -> pa.Array:
    """The characters of all values as one Arrow string (zero-copy: the data buffer)."""
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    bounds = pa.py_buffer(np.array([offsets[0], offsets[-1]], dtype=np.int64).tobytes())
    return pa.LargeStringArray.from_buffers(1, bounds, arr.buffers()[2])


def _may_contain(arr: pa.Array, char_class: str) -> bool:
    """Whether any value may contain a character of `char_class`: one regex scan over the
    whole column instead of one per value (per-value regex calls dominate at 1M rows)."""
    if not len(arr) or arr.null_count == len(arr):
        return False
    return bool(pc.match_substring_regex(_all_text(arr), char_class)[0].as_py())


def _python_map(arr: pa.Array, mask: pa.Array, func) -> pa.Array:
    """Apply a Python string function to the values selected by `mask` only."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return arr
    changed = [func(v) for v in arr.filter(mask).to_pylist()]
    return pc.replace_with_mask(arr, mask, pa.array(changed, type=arr.type))


def _nfkc(arr: pa.Array) -> pa.Array:
    if pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return arr
    if not _may_contain(arr, nfkc_unstable_class()):
        return arr
    needs = pc.match_substring_regex(arr, nfkc_unstable_class())
    return _python_map(arr, needs, lambda v: unicodedata.normalize("NFKC", v))


def _empty_to_null(arr: pa.Array) -> pa.Array:
    empty = pc.equal(pc.binary_length(arr), 0)
    if not pc.any(empty).as_py():
        return arr
    return pc.if_else(empty, pa.scalar(None, arr.type), arr)


def _trimmed(arr: pa.Array) -> pa.Array:
    """NFKC, stripped, empty as missing: the text every parser starts from."""
    return _empty_to_null(pc.utf8_trim(_nfkc(arr), WHITESPACE))


def _python_clean_text(value: str) -> str:
    return _FOLD.sub(" ", unicodedata.normalize("NFKC", value).strip())


def _clean_text(arr: pa.Array) -> pa.Array:
    # Values with a character NFKC may change or whitespace other than a space (rare) get the
    # Python treatment; the rest only need trimming and runs of spaces folded.
    special = _OTHER_WS if pc.all(pc.string_is_ascii(arr)).as_py() is not False else _other_ws_or_nfkc_unstable()
    if _may_contain(arr, special):
        arr = _python_map(arr, pc.match_substring_regex(arr, special), _python_clean_text)
    arr = pc.utf8_trim(arr, WHITESPACE)
    if _may_contain(arr, "  "):
        arr = pc.replace_substring_regex(arr, " {2,}", " ")
    return _empty_to_null(arr)


@cache
def _other_ws_or_nfkc_unstable() -> str:
    return "[" + _OTHER_WS[1:-1] + nfkc_unstable_class()[1:-1] + "]"


def _clean_code(arr: pa.Array) -> pa.Array:
    arr = _nfkc(arr)
    if _may_contain(arr, _WS):
        arr = pc.replace_substring_regex(arr, _WS, "")
    ascii_only = pc.string_is_ascii(arr)
    arr = pc.ascii_upper(arr)
    arr = _python_map(arr, pc.invert(ascii_only), str.upper)
    return _empty_to_null(arr)


def clean_text(values: pd.Series) -> pd.Series:
    """NFKC (full-width to half-width), trimmed, inner whitespace folded; empty becomes missing."""
    return _series(_clean_text(arrow_strings(values)), values)


def clean_code(values: pd.Series) -> pd.Series:
    """Codes: NFKC, no whitespace at all, upper case."""
    return _series(_clean_code(arrow_strings(values)), values)


def _joined_lines(arr: pa.Array) -> str:
    """All values of a null-free string array as one text, each followed by a newline."""
    arr = arr.cast(pa.large_string())
    empty, newline = pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string())
    lines = pc.binary_join_element_wise(arr, empty, newline)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]].decode("utf-8")


def _drop_for_key(text: str) -> pa.Array:
    """`_NAME_KEY_DROP` removed from newline-separated lines in one regex call (not per name)."""
    return pc.replace_substring_regex(pa.array([text], type=pa.large_string()), _NAME_KEY_DROP_BUT_NEWLINE, "")


def _split_lines(text: pa.Array, count: int) -> pa.Array | None:
    """The inverse of `_joined_lines` on a one-element array (None when the count differs)."""
    parts = pc.split_pattern(text, "\n").flatten()
    if len(parts) != count + 1:
        return None
    return parts.slice(0, count)


def simplified_key(names: pd.Series) -> pd.Series:
    """A comparison key for names: simplified characters, no spaces, no punctuation variants."""
    arr = arrow_strings(names)
    present = pc.is_valid(arr)
    texts = arr.filter(present)
    if not len(texts):
        return names.copy()
    keys = None
    if not pc.any(pc.match_substring(texts, "\n")).as_py():
        # one OpenCC call per 64k names, without a Python string per name
        chunks = [texts.slice(i, 65536) for i in range(0, len(texts), 65536)]
        parts = [_split_lines(_drop_for_key(_t2s().convert(_joined_lines(chunk))), len(chunk)) for chunk in chunks]
        if all(part is not None for part in parts):
            keys = pa.concat_arrays(parts)
    if keys is None:
        converted = pa.array([_t2s().convert(t) for t in texts.to_pylist()], type=pa.large_string())
        keys = pc.replace_substring_regex(converted, _NAME_KEY_DROP, "")
    keys = keys.cast(arr.type)
    if len(keys) < len(arr):
        keys = pc.replace_with_mask(arr, present, keys)
    return _series(keys, names)


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


# width: (year, month, day, hour, minute, second) offsets and the separators between them
_LAYOUTS = {
    19: ((0, 5, 8, 11, 14, 17), {4: "-", 7: "-", 10: " ", 13: ":", 16: ":"}),  # 2024-06-03 09:15:00
    10: ((0, 5, 8), {4: "-", 7: "-"}),  # 2024-06-03
    8: ((0, 4, 6), {}),  # 20240603
}


def _number(digits: np.ndarray, at: int, size: int) -> np.ndarray:
    value = digits[:, at].astype(np.int32)
    for i in range(at + 1, at + size):
        value = value * 10 + digits[:, i]
    return value


def _fixed_width_timestamps(text: pa.Array) -> np.ndarray:
    return codes._chunked(_fixed_width_chunk, text)


def _fixed_width_chunk(text: pa.Array) -> np.ndarray:
    """The canonical forms `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` and `YYYYMMDD`, parsed from
    byte matrices. Returns datetime64[us] with NaT for everything else, including impossible
    dates and times (which the general parser then rejects as well)."""
    result = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    for width, (starts, separators) in _LAYOUTS.items():
        rows, chars = codes._byte_matrix(text, width)
        if not len(rows):
            continue
        digits = chars - np.uint8(ord("0"))  # wraps around below "0": a digit is < 10
        separator_row = np.full(width, 255, dtype=np.uint8)  # 255 never occurs in UTF-8
        for at, separator in separators.items():
            separator_row[at] = ord(separator)
        digit_row = separator_row == 255
        ok = ((digits < 10) & digit_row | (chars == separator_row)).all(axis=1)
        year = _number(digits, 0, 4)
        month, day, *clock = (_number(digits, i, 2) for i in starts[1:])
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = codes._DAYS_IN_MONTH[np.clip(month, 0, 12)] + (leap & (month == 2))
        # within the years pandas parses to the same value on every path
        ok &= (year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
        seconds = np.zeros(len(rows), dtype=np.int64)
        if clock:
            hour, minute, second = clock
            ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
            seconds = hour.astype(np.int64) * 3600 + minute * 60 + second
        rows, year, month, day, seconds = rows[ok], year[ok], month[ok], day[ok], seconds[ok]
        months = ((year.astype(np.int64) - 1970) * 12 + month - 1).astype("datetime64[M]")
        days = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
        result[rows] = days.astype("datetime64[us]") + seconds.astype("timedelta64[s]")
    return result


def _parse_text_timestamps(text: pd.Series) -> pd.Series:
    """The general parser for trimmed, non-empty text (the values the fast path left)."""
    # microseconds throughout: database timestamps carry fractions of a second
    parsed = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S", errors="coerce").astype("datetime64[us]")
    pending = text.notna() & parsed.isna()
    if pending.any():
        date_only = pd.to_datetime(text[pending], format="%Y-%m-%d", errors="coerce")
        parsed[pending] = date_only.astype("datetime64[us]")
        pending = text.notna() & parsed.isna()
    if pending.any():
        rest = text[pending]
        with_offset = rest[rest.str.match(_OFFSET_TIMESTAMP)]
        if not with_offset.empty:
            aware = pd.to_datetime(with_offset, format="ISO8601", utc=True, errors="coerce")
            parsed[with_offset.index] = aware.dt.tz_convert(LOCAL_TIMEZONE).dt.tz_localize(None).astype(
                "datetime64[us]")
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
        serial = serial.where((serial >= _EXCEL_SERIAL_RANGE[0]) & (serial < _EXCEL_SERIAL_RANGE[1]))
        offsets = pd.to_timedelta(serial.astype("float64"), unit="D").dt.round("s")
        parsed[pending] = EXCEL_EPOCH + offsets
    return parsed.astype("datetime64[us]")


def _timestamps(text: pa.Array, index: pd.Index) -> pd.Series:
    parsed = _fixed_width_timestamps(text)
    pending = pc.is_valid(text).to_numpy(zero_copy_only=False) & np.isnat(parsed)
    if pending.any():
        # the other forms repeat a lot (dates): parse each distinct text once
        rows = np.flatnonzero(pending)
        encoded = pc.dictionary_encode(text.take(pa.array(rows)))
        distinct = pd.Series(pd.arrays.ArrowStringArray(encoded.dictionary))
        parsed[rows] = _parse_text_timestamps(distinct).to_numpy()[encoded.indices.to_numpy()]
    return pd.Series(parsed, index=index)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse every date form the departments send into datetime64 (NaT where unreadable).

    Accepted: 2024-06-03[ 09:15[:00[.123456]]], 2024/6/3, 2024年6月3日[ 9时15分],
    20240603[ 091500], ISO with T (an offset or Z is converted to Asia/Shanghai wall time), and
    Excel serial day numbers of 1950–2099 (with a fraction for the time of day)."""
    return _timestamps(_trimmed(arrow_strings(values)), values.index)


def _amounts(arr: pa.Array, index: pd.Index) -> pd.Series:
    arr = _nfkc(arr)
    if _may_contain(arr, _WS + "|[,，¥元]"):
        arr = pc.replace_substring_regex(arr, _WS + "|[,，¥元]", "")
    arr = _empty_to_null(arr)
    plain = pc.fill_null(pc.match_substring_regex(arr, _PLAIN_DECIMAL), False)
    numbers = pc.cast(pc.if_else(plain, arr, pa.scalar(None, arr.type)), pa.float64())
    result = pd.Series(pd.arrays.ArrowExtensionArray(numbers), index=index).astype("Float64")
    other = (pc.is_valid(arr).to_numpy(zero_copy_only=False)) & ~plain.to_numpy(zero_copy_only=False)
    if other.any():
        rest = pd.Series(pd.arrays.ArrowStringArray(arr.filter(pa.array(other))))
        result[other] = pd.to_numeric(rest, errors="coerce").astype("Float64").to_numpy()
    return result


def parse_amounts(values: pd.Series) -> pd.Series:
    """Amounts as Float64: NFKC, no spaces, thousands separators, ¥ or 元."""
    return _amounts(arrow_strings(values), values.index)


def parse_periods(values: pd.Series) -> pd.Series:
    """Tax periods as YYYY-MM from 2024-06, 2024/06, 2024年6月 or 202406."""
    text = _series(_trimmed(arrow_strings(values)), values)
    found = text.str.extract(r"^(\d{4})\s*[-/年.]?\s*(\d{1,2})\s*月?$")
    month = pd.to_numeric(found[1], errors="coerce")
    valid = found[0].notna() & month.between(1, 12)
    period = found[0] + "-" + month.astype("Int64").astype("string").str.zfill(2)
    return period.where(valid)


class _Failures:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, source_rows: pd.Series, mask, field: str, rule: str, values: pd.Series, display=None) -> None:
        mask = np.asarray(pd.Series(mask).fillna(False), dtype=bool)
        if mask.any():
            shown = values[mask].astype("string").fillna("")
            if display is not None:
                shown = shown.map(display)
            self.parts.append(
                pd.DataFrame(
                    {
                        "source_row": source_rows[mask].to_numpy(),
                        "field": field,
                        "rule": rule,
                        "value": shown.to_numpy(dtype=object),
                    }
                )
            )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in FAILURE_COLUMNS})
        return pd.concat(self.parts, ignore_index=True)


def _by_distinct(arr: pa.Array, clean) -> pa.Array:
    """`clean` over each distinct value once when a sample says values repeat a lot (enums,
    division codes); over all values otherwise."""
    sample = arr.slice(0, 4096)
    if len(arr) <= len(sample) or pc.count_distinct(sample).as_py() * 8 > len(sample):
        return clean(arr)
    encoded = pc.dictionary_encode(arr)
    return clean(encoded.dictionary).take(encoded.indices)


def date_without_time(values: pd.Series) -> pd.Series:
    """True where a timestamp was delivered as a date with no time of day (`2024-06-04`,
    `2024年6月4日`, `20240604`, a whole Excel day number): its time is unknown, not midnight."""
    text = _trimmed(_nfkc(arrow_strings(values)))
    found = pc.fill_null(pc.match_substring_regex(text, _DATE_WITHOUT_TIME), False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def derive_event_types(rows: pd.DataFrame) -> pd.Series:
    """业务类型 of registration applications the department did not label: 设立 when 成立日期
    falls within the application (申请时间 .. 核准时间, by day), else the exit its status records
    (注销 / 吊销 / 迁出), else 变更. A 迁入 cannot be told from a 变更 and needs the column."""
    submitted = rows["submitted_at"].dt.normalize()
    issued = rows["issued_at"].dt.normalize()
    established = rows["established_date"]
    founding = (established >= submitted.fillna(issued)) & (established <= issued.fillna(submitted))
    exit_status = rows["status"].where(rows["status"].isin(["注销", "吊销", "迁出"]))
    derived = pd.Series("变更", index=rows.index, dtype=object)
    derived = derived.mask(exit_status.notna(), exit_status).mask(founding.fillna(False).astype(bool), "设立")
    return rows["event_type"].astype(object).where(rows["event_type"].notna(), derived)


def _standardize_column(column: Column, raw: pd.Series, rows: pd.Series, failures: _Failures) -> pd.Series:
    arr = arrow_strings(raw)
    if column.kind in ("date", "timestamp", "amount", "period"):
        text = _trimmed(arr)
        present = pc.is_valid(text).to_numpy(zero_copy_only=False)
        if column.kind == "amount":
            parsed = _amounts(arr, raw.index)
        elif column.kind == "period":
            parsed = parse_periods(raw)
        else:
            parsed = _timestamps(text, raw.index)
        failures.add(rows, present & parsed.isna().to_numpy(), column.name, f"{column.kind}_format", raw)
        return parsed.dt.normalize() if column.kind == "date" else parsed
    if column.kind in ("code", "personal_id"):
        code = _by_distinct(arr, _clean_code)
        mangled = _may_contain(code, r"E\+") and pc.fill_null(pc.match_substring_regex(code, _EXCEL_MANGLED), False)
        if mangled and pc.any(mangled).as_py():
            failures.add(rows, mangled.to_numpy(zero_copy_only=False), column.name, "excel_mangled", raw)
            code = pc.if_else(mangled, pa.scalar(None, code.type), code)
        return _series(code, raw)
    return _series(_by_distinct(arr, _clean_text), raw)


def _without_nul(raw: pd.Series, rows: pd.Series, field: str, failures: _Failures) -> pd.Series:
    """A NUL character is nothing a department typed: the value is corrupt (and PostgreSQL
    cannot store it). Its row fails `nul_byte`, shown with the NUL spelled out, and the value is
    blanked so that nothing downstream carries it."""
    arr = arrow_strings(raw)
    if not _may_contain(arr, r"\x00"):
        return raw
    corrupt = pc.fill_null(pc.match_substring(arr, "\x00"), False).to_numpy(zero_copy_only=False)
    failures.add(rows, corrupt, field, "nul_byte", raw, display=lambda v: v.replace("\x00", "\\x00"))
    return raw.where(~corrupt, "")


def latest_plausible_change(now: dt.datetime | None = None) -> dt.datetime:
    """The latest 更新时间 a row may carry: now (Asia/Shanghai wall time) plus
    $BIZENV_FUTURE_TOLERANCE_HOURS (default 24, for clocks that run ahead). A later one would
    stay the record's current version however many corrections follow it."""
    hours = env_number(FUTURE_TOLERANCE_ENV, DEFAULT_FUTURE_TOLERANCE_HOURS, "hours")
    now = now or dt.datetime.now(LOCAL_TIMEZONE).replace(tzinfo=None)
    return now + dt.timedelta(hours=hours)


# Kinds whose values are free text: a resident ID typed into one is masked and the row loads (a
# name, an authority); in every other kind but the personal-ID fields it makes the row invalid.
FREE_TEXT_KINDS = ("name", "text")
RESIDENT_ID_IN_FIELD_RULE = "resident_id_in_field"


def _keep_in(column: Column):
    """Numbers of a resident ID's shape that belong in `column`: an enterprise's USCC (unless it is
    also a valid resident ID, a natural person's 纳税人识别号) and a checked 15-digit 注册号."""
    if column.name == "uscc":
        return codes.is_enterprise_code
    if column.name == "legacy_reg_no":
        return codes.is_legacy_reg_no_checked
    return None


def _excel_float_ids(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """An amount field holding a resident ID that Excel turned into a float (1.52922711010819E+14):
    the number's digits are an ID's, so the whole value is replaced by the ID's mask."""
    hit = np.zeros(len(arr), dtype=bool)
    if not _may_contain(arr, "[eE]"):
        return arr, hit
    shaped = pc.fill_null(pc.match_substring_regex(arr, r"^\s*[0-9.]+[eE]\+?[0-9]+\s*$"), False)
    rows = np.flatnonzero(shaped.to_numpy(zero_copy_only=False))
    masks = []
    for row, value in zip(rows, arr.take(pa.array(rows, type=pa.int64())).to_pylist(), strict=True):
        number = float(value)
        digits = f"{number:.0f}" if number.is_integer() else ""
        if codes.looks_like_resident_id(digits):
            hit[row] = True
            masks.append(codes.mask_resident_id(digits))
    if not hit.any():
        return arr, hit
    return pc.replace_with_mask(arr, pa.array(hit), pa.array(masks, type=arr.type)), hit


def hide_resident_ids(dataset: Dataset, raw: pd.DataFrame) -> pd.DataFrame:
    """`raw` with every resident ID outside the dataset's personal-ID fields replaced by its mask
    (docs/security.md: the one rule, applied before a batch is landed, validated or logged).
    The personal-ID fields keep the number: it is hashed and masked on its way to the warehouse.
    Idempotent: a mask holds no ID."""
    scanned, changed = {}, []
    for column in dataset.columns:
        if column.kind == "personal_id" or column.name not in raw.columns:
            continue
        arr, hit = codes.hide_resident_ids_in_column(raw[column.name], _keep_in(column))
        if column.kind == "amount":
            arr, in_float = _excel_float_ids(arr)
            hit |= in_float
        # the columns go on as Arrow strings: the conversion is paid once, here, not again by
        # every step after this one (at 1M rows it costs more than the scan itself)
        scanned[column.name] = _series(arr, raw[column.name])
        if hit.any():
            changed.append(column.name)
    if changed:
        logging.getLogger(__name__).info(
            "%s: resident ID(s) masked in field(s) %s", dataset.name, ", ".join(sorted(changed)))
    return raw.assign(**scanned)


def _misplaced_ids(column: Column, raw: pd.DataFrame, rows: pd.Series, failures: _Failures) -> pd.DataFrame:
    """A field that cannot hold a resident ID (a code, an amount, a date) and holds a masked one
    (masked by `hide_resident_ids` now or when the batch was landed): its row fails
    `resident_id_in_field` (`resident_id_as_uscc` in the USCC) and the value is blanked, so its
    own checks do not repeat the finding with the mask as the value."""
    if column.kind in (*FREE_TEXT_KINDS, "personal_id"):
        return raw
    arr = arrow_strings(raw[column.name])
    if not _may_contain(arr, r"\*{7}"):
        return raw
    found = pc.fill_null(pc.match_substring_regex(arr, codes.MASKED_ID_PATTERN), False)
    misplaced = found.to_numpy(zero_copy_only=False)
    if not misplaced.any():
        return raw
    rule = "resident_id_as_uscc" if column.name == "uscc" else RESIDENT_ID_IN_FIELD_RULE
    shown = pd.Series(pc.utf8_trim(arr, WHITESPACE).to_pylist(), index=raw.index, dtype="object")
    failures.add(rows, misplaced, column.name, rule, shown)
    return raw.assign(**{column.name: raw[column.name].where(~misplaced, "")})


def standardize(dataset: Dataset, raw: pd.DataFrame) -> Standardized:
    """Type the raw text columns of `dataset`; `raw` has the English column names and
    `source_row`. Unparseable values become missing and are reported as failures."""
    failures = _Failures()
    raw = hide_resident_ids(dataset, raw)
    rows = raw["source_row"]
    out = {"source_row": rows.astype("int64")}
    for column in dataset.columns:
        raw = _misplaced_ids(column, raw, rows, failures)
        values = _without_nul(raw[column.name], rows, column.name, failures)
        out[column.name] = _standardize_column(column, values, rows, failures)
        if column.bounds_duration:
            out[column.date_only_flag] = date_without_time(values) & out[column.name].notna()
    if "updated_at" in out:
        future = (out["updated_at"] > latest_plausible_change()).fillna(False).to_numpy(dtype=bool)
        failures.add(rows, future, "updated_at", "updated_in_future", raw["updated_at"])
    if "name" in out:
        out["name_key"] = simplified_key(out["name"])
    for column in dataset.personal_ids:
        enterprise = None
        if column.enterprise_when is not None:
            holder, value = column.enterprise_when
            enterprise = (out[holder] == value).fillna(False).astype(bool)
        out[column.name] = _upgraded_resident_ids(out[column.name], enterprise)
    typed = pd.DataFrame(out)
    if "event_type" in typed:
        typed["event_type"] = derive_event_types(typed).astype(typed["event_type"].dtype)
    return Standardized(rows=typed, failures=failures.frame())


def _upgraded_resident_ids(values: pd.Series, enterprise: pd.Series | None) -> pd.Series:
    """15-digit resident IDs as 18 digits; an enterprise holder's 15 digits are a 注册号, kept."""
    legacy = values.str.fullmatch(r"\d{15}").fillna(False).astype(bool)
    if enterprise is not None:
        legacy &= ~enterprise
    if not legacy.any():
        return values
    values = values.copy()
    values[legacy] = values[legacy].map(codes.upgrade_legacy_resident_id)
    return values


def code_checks(dataset: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """The identifier rules of bizenv.codes that GX has no expectation for (vectorised)."""
    failures = _Failures()
    source_rows = rows["source_row"]
    if "uscc" in rows:
        values = rows["uscc"]
        problems = codes.uscc_problems(values)
        for rule in ("uscc_format", "uscc_check_char", "uscc_org_code"):
            failures.add(source_rows, problems == rule, "uscc", rule, values)
        _check_not_a_person(values, problems, source_rows, "uscc", failures)
    for column in dataset.personal_ids:
        if column.name not in rows:
            continue
        values = rows[column.name]
        if column.enterprise_when is None:
            _check_resident_ids(values, source_rows, column.name, failures)
            continue
        holder, enterprise = column.enterprise_when
        company = (rows[holder] == enterprise).fillna(False).astype(bool)
        problems = codes.uscc_problems(values)
        for rule in ("uscc_format", "uscc_check_char", "uscc_org_code"):
            failures.add(source_rows, company & (problems == rule), column.name, rule, values)
        _check_not_a_person(values.where(company), problems, source_rows, column.name, failures)
        _check_resident_ids(values.where(~company), source_rows, column.name, failures)
    if "unit_code" in rows:
        values = rows["unit_code"]
        bad = values.notna().to_numpy() & ~codes.unit_codes_valid(values)
        failures.add(source_rows, bad, "unit_code", "unit_code_format", values)
    if "legacy_reg_no" in rows:
        values = rows["legacy_reg_no"]
        bad = values.notna().to_numpy() & ~codes.legacy_reg_nos_valid(values)
        failures.add(source_rows, bad, "legacy_reg_no", "legacy_reg_no_format", values)
    return failures.frame()


def _check_not_a_person(values: pd.Series, uscc_problems: pd.Series, source_rows: pd.Series, field: str,
                        failures: _Failures) -> None:
    """A few resident IDs also pass every USCC check; one in an enterprise's code field is a
    person's number (a natural person's 纳税人识别号, a mislabelled applicant) and must not reach
    core in clear."""
    # the values are cleaned codes: only those of a resident ID's shape can be both, and only
    # they are checked (the rule's scalar path would take every USCC with a letter)
    shaped = pc.match_substring_regex(arrow_strings(values), f"^{codes.RESIDENT_ID_PATTERN}$")
    candidates = uscc_problems.isna().to_numpy(dtype=bool) & pc.fill_null(shaped, False).to_numpy(
        zero_copy_only=False)
    if candidates.any():
        person = np.zeros(len(values), dtype=bool)
        person[candidates] = codes.resident_id_problems(values[candidates]).isna().to_numpy(dtype=bool)
        failures.add(source_rows, person, field, "resident_id_as_uscc", values, display=codes.mask_resident_id)


def _check_resident_ids(values: pd.Series, source_rows: pd.Series, field: str, failures: _Failures) -> None:
    problems = codes.resident_id_problems(values)
    failures.add(source_rows, problems.notna(), field, "resident_id", values, display=codes.mask_resident_id)


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
    text = pd.StringDtype("pyarrow")
    hashes = pd.Series(codes.hash_personal_ids(values, key), index=rows.index, dtype=text)
    masks = pd.Series(pd.arrays.ArrowExtensionArray(codes.mask_resident_ids(values)), index=rows.index)
    rows = rows.drop(columns=[column])
    rows[hash_col] = hashes
    rows[mask_col] = masks.astype(text)
    return rows
