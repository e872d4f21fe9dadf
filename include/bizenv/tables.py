"""Aligned text tables for the terminal: `bizenv indicators show` and `bizenv quarantine list`
(and the other commands' `--format table`).

Columns line up by display width, not by character count: a Chinese character takes two
terminal columns (Unicode East Asian Width W or F), a combining mark none. Ambiguous-width
characters (—, ≤, ≥) count as one, as terminals outside a CJK locale draw them. Every missing
value, whatever pandas or the driver made of it (None, NaN, NaT, <NA>, an empty text), is the one
marker `MISSING`. Delivered text (file names, record keys, reasons quoting a value) can hold
control characters; they are shown escaped, so a cell can neither break a row nor send a
terminal escape sequence.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np
import pandas as pd

from bizenv.timeutil import LOCAL_TIMEZONE

MISSING = "—"
NO_ROWS = "(no rows)"
GAP = "  "

# the units of include/config/indicators.yaml, as bizenv.indicators.catalog names them (not
# imported: that package loads Great Expectations, a second on every table)
RATIO_UNIT = "ratio"
COUNT_UNIT = "户"

# mart.v_indicator_trend.attainment (docs/dashboard-contract.md) -> (Chinese, English), as the
# terminal and the report label it
ATTAINMENT_LABELS = {
    "met": ("达标", "met"),
    "missed": ("未达标", "missed"),
    "insufficient_sample": ("样本不足", "too few cases"),
    "no_target": ("无目标", "no target"),
    "no_data": ("无数据", "no data"),
}
ATTAINMENT_ZH = {code: zh for code, (zh, _) in ATTAINMENT_LABELS.items()}
_OPERATORS = {"<=": "≤", ">=": "≥"}


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # numbers are right-aligned, text left-aligned


def is_missing(value: object) -> bool:
    """None, NaN, NaT and pandas' NA: every spelling of "no value"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns `text` takes."""
    return sum(_char_width(char) for char in text)


def printable(text: str) -> str:
    """`text` with control and format characters (newline, ESC, bidi overrides) escaped."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill


def render(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> str:
    """A header line, a rule of dashes and one line per row; cells are text already, two spaces
    between columns, no trailing spaces. No rows gives `NO_ROWS`."""
    body = [[printable(cell) for cell in row] for row in rows]
    if not body:
        return NO_ROWS
    for row in body:
        if len(row) != len(columns):
            raise ValueError(f"a table row has {len(row)} cells for {len(columns)} columns")
    widths = [max(display_width(c.header), *(display_width(row[i]) for row in body)) for i, c in enumerate(columns)]
    lines = [
        [pad(c.header, w, right=c.right) for c, w in zip(columns, widths, strict=True)],
        ["-" * w for w in widths],
        *([pad(cell, w, right=c.right) for cell, c, w in zip(row, columns, widths, strict=True)] for row in body),
    ]
    return "\n".join(GAP.join(line).rstrip() for line in lines)


# ---------------------------------------------------------------------------------------------
# cells


def text_cell(value: object) -> str:
    if is_missing(value):
        return MISSING
    text = str(value).strip()
    return text if text else MISSING


_EVERY_FLOAT = Context(prec=400)  # the largest float has 309 digits before the point


def rounded(value: object, places: int, *, shift: int = 0) -> Decimal:
    """`value` rounded half up (四舍五入) as it reads in decimal: 0.125 -> 0.13. Medians of working
    days fall on such ties all the time (eighths of a day are whole office hours), and a float's
    own rounding goes by its binary value and half-to-even (0.125 -> 0.12, 0.375 -> 0.38)."""
    number = Decimal(repr(float(value))).scaleb(shift)  # shift 2: per cent, exactly in decimal
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_EVERY_FLOAT)


def count_cell(value: object) -> str:
    """A whole number with thousands separators."""
    if is_missing(value):
        return MISSING
    return f"{rounded(value, 0):,}" if math.isfinite(float(value)) else str(value)


def number_cell(value: object, unit: str) -> str:
    """An indicator value: a ratio in per cent to one decimal, a count (户) whole, anything else
    (working days, records per entity) with two decimals; rounded half up."""
    if is_missing(value):
        return MISSING
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if unit == RATIO_UNIT:
        return f"{rounded(number, 1, shift=2):,}%"
    if unit == COUNT_UNIT:
        return f"{rounded(number, 0):,}"
    return f"{rounded(number, 2):,}"


def unit_cell(unit: object) -> str:
    return "%" if unit == RATIO_UNIT else text_cell(unit)


def target_cell(target: object, operator: object, unit: str) -> str:
    symbol = _OPERATORS.get(str(operator)) if not is_missing(operator) else None
    if is_missing(target) or symbol is None:
        return MISSING
    return f"{symbol} {number_cell(target, unit)}"


def derive_attainment(value: object, target: object, meets_target: object) -> str:
    """The attainment of a row that carries none, by the rule of mart.v_indicator_trend: no
    target, no value, no verdict (样本不足, `meets_target` is null below the minimum sample), else
    the verdict."""
    if is_missing(target):
        return "no_target"
    if is_missing(value):
        return "no_data"
    if is_missing(meets_target):
        return "insufficient_sample"
    return "met" if bool(meets_target) else "missed"


def attainment_cell(row: Mapping[str, object]) -> str:
    """达标 / 未达标 / 样本不足 / 无目标 / 无数据: the view's `attainment` where the frame has it,
    else derived the same way (derive_attainment)."""
    attainment = row.get("attainment")
    if is_missing(attainment) or attainment not in ATTAINMENT_ZH:
        attainment = derive_attainment(row.get("value"), row.get("target"), row.get("meets_target"))
    return ATTAINMENT_ZH[str(attainment)]


def local_time_cell(value: object) -> str:
    """A naive UTC timestamp (what bizenv records) as Asia/Shanghai wall time."""
    if is_missing(value):
        return MISSING
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(LOCAL_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")


def plain_cell(value: object) -> str:
    """Any value of a frame without a known meaning: whole floats without their `.0`."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, pd.Timestamp | dt.datetime):
        return str(pd.Timestamp(value))
    return text_cell(value)


# ---------------------------------------------------------------------------------------------
# the tables


INDICATOR_COLUMNS = (
    Column("区划代码"),
    Column("区划"),
    Column("指标"),
    Column("分项"),
    Column("单位"),
    Column("数值", right=True),
    Column("目标", right=True),
    Column("达标"),
    Column("样本量", right=True),
    Column("上月", right=True),
    Column("去年同期", right=True),
)


def indicator_table(
    frame: pd.DataFrame,
    *,
    region_names: Mapping[str, str] | None = None,
    target_operators: Mapping[str, str] | None = None,
) -> str:
    """The rows of `bizenv.indicators.show` as people read them. The frame's own region_name and
    target_operator are used where it has them, else `region_names` (code -> name) and
    `target_operators` (indicator code -> '<=' or '>=')."""
    region_names = region_names or {}
    target_operators = target_operators or {}
    rows = []
    for record in frame.to_dict("records"):
        unit = str(record["unit"])
        region = str(record["region_code"])
        name = record.get("region_name")
        operator = record.get("target_operator")
        if is_missing(operator):
            operator = target_operators.get(str(record["indicator_code"]))
        rows.append([
            region,
            text_cell(region_names.get(region) if is_missing(name) else name),
            text_cell(record["name_zh"]),
            text_cell(record["breakdown"]),
            unit_cell(unit),
            number_cell(record["value"], unit),
            target_cell(record["target"], operator, unit),
            attainment_cell(record),
            count_cell(record["sample_size"]),
            number_cell(record["previous_value"], unit),
            number_cell(record["last_year_value"], unit),
        ])
    return render(INDICATOR_COLUMNS, rows)


QUARANTINE_COLUMNS = (
    Column("数据集"),
    Column("批次号"),
    Column("文件名"),
    Column("行号", right=True),
    Column("记录键"),
    Column("区划代码"),
    Column("问题说明"),
    Column("发现时间"),
)
RESOLUTION_COLUMNS = (Column("状态"), Column("更正批次"))
STATUS_ZH = {"open": "待更正", "resolved": "已更正"}


def quarantine_table(frame: pd.DataFrame, *, with_resolution: bool = False) -> str:
    """The rows of `bizenv.quarantine.list_quarantine`: where each came from and what is wrong with
    it (the reason quotes the value, masked like everything quarantine stores), found at Asia/Shanghai
    time; with `with_resolution` (`--all`) also whether a corrected delivery resolved it and which
    batch did. The masked record itself is in `--format json|csv`."""
    columns = QUARANTINE_COLUMNS + (RESOLUTION_COLUMNS if with_resolution else ())
    rows = []
    for record in frame.to_dict("records"):
        row = [
            text_cell(record["dataset"]),
            text_cell(record["batch_id"]),
            text_cell(record["file_name"]),
            MISSING if is_missing(record["source_row"]) else str(int(record["source_row"])),
            text_cell(record["record_key"]),
            text_cell(record["region_code"]),
            text_cell(record["reason_zh"]),
            local_time_cell(record["quarantined_at"]),
        ]
        if with_resolution:
            status = record["status"]
            row += [STATUS_ZH.get(str(status), text_cell(status)), text_cell(record["resolved_by_batch"])]
        rows.append(row)
    return render(columns, rows)


def frame_table(frame: pd.DataFrame) -> str:
    """Any frame under its own column names; numeric columns right-aligned."""
    columns = [Column(str(name), right=pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))
               for name, dtype in zip(frame.columns, frame.dtypes, strict=True)]
    rows = [[plain_cell(value) for value in values] for values in frame.itertuples(index=False, name=None)]
    return render(columns, rows)
