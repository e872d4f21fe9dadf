"""Synthetic department data for the four datasets (bizenv.datasets), for demos, tests and load runs.

`simulate()` draws a population of market entities in the configured prefecture (阿拉善盟 by
default) and, consistently with it, what
each department would deliver for a range of months: the 市场监管局 registration file, monthly
tax filings, credit records and real-estate registration cases. Everything is drawn from one
seeded numpy Generator, so a seed gives the same data every time, and it is vectorised (one
Python loop over months at most; per-row Python only where python-stdnum computes a check
character) so 100 000 entities over a year take seconds.

Values are strings exactly as a department writes them (empty string for missing). Realistic
defects are injected at the rates of `DefectRates` and listed in `SimulatedData.defects` with the
1-based data row of the file and the outcome the pipeline must reach for that row.

Deliberate outsiders: about 1 % of tax filings, credit records and 企业 real-estate applicants
carry valid USCCs of entities registered in other prefectures, which are not in the
registration file; `is_outsider_uscc` tells them apart (their division code is not the
prefecture's, 1529xx by default).

What production holds as contract or config is read from there, never declared again here, so
simulated data follows an edit of either: the reporting units and the prefecture from
`bizenv.regions` (regions.yaml), office hours from office_hours.yaml and statutory working days
from `bizenv.calendar` (work_calendar.yaml, then chinese_calendar), and headers, 市场主体类型,
登记状态, 业务类型, channels, record and applicant types from the contracts of `bizenv.datasets`.
What stays here is only what the simulator invents: shares, names, durations.

The simulated months must lie in years with an official working-day calendar (else
CalendarCoverageError, a ValueError); the days after the range, which only receive spill-over
(filings of the last month, late completions), fall back to Monday–Friday when no calendar has the
year yet.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_10

from bizenv import codes
from bizenv.calendar import covered_years, load_office_periods, require_years, working_days_table
from bizenv.datasets import DATASETS, REAL_ESTATE_CASE, REGISTRATION, TAX_FILING
from bizenv.regions import Regions, load_regions

# ---------------------------------------------------------------------------------------------
# Public constants

CHINESE_HEADERS: dict[str, dict[str, str]] = {
    name: {column.name: column.header_zh for column in dataset.columns} for name, dataset in DATASETS.items()
}
"""dataset -> {english column: Chinese header}, in the column order of bizenv.datasets."""

DEFAULT_ENCODINGS: dict[str, str] = {
    "registration": "gb18030",
    "tax_filing": "utf-8-sig",
    "credit_record": "utf-8",
    "real_estate_case": "gb18030",
}
CROSSWALK_FILE = "crosswalk.csv"
DEFECTS_FILE = "defects.csv"
CROSSWALK_HEADERS = {"legacy_reg_no": "注册号", "uscc": "统一社会信用代码"}
DEFECT_COLUMNS = ["dataset", "row_number", "defect", "expected_outcome"]

# Other prefectures' divisions used for the deliberate outsiders: 呼和浩特新城区, 包头昆都仑区,
# 鄂尔多斯东胜区, 锡林浩特市, 银川兴庆区, 兰州城关区 (those inside the configured prefecture are
# skipped).
OUTSIDER_DIVISIONS = ("150102", "150203", "150602", "152502", "640104", "620102")
# Candidates for the unknown_region defect; a code configured in regions.yaml is skipped, since
# a row carrying it would load.
UNKNOWN_REGION_CODES = ("152924", "152925", "152901", "152999", "150121")

EXPECTED_OUTCOME = {
    "bad_check_char": "quarantined",
    "full_width": "loaded",
    "traditional_name": "loaded",
    "excel_mangled": "quarantined",
    "exact_duplicate": "duplicate",
    "near_duplicate": "duplicate",
    "completion_before_submission": "quarantined",
    "unknown_region": "quarantined",
    "legacy_reg_no_only": "loaded",
}

USCC_REFORM_DATE = dt.date(2015, 10, 1)  # 三证合一: entities registered before hold a 15-digit 注册号


def _local_prefix(regions: Regions) -> str:
    """Province and prefecture digits of a division code: every unit of the prefecture has them."""
    return regions.prefecture_code[:4]


def is_outsider_uscc(code: str) -> bool:
    """A (valid) USCC issued outside the configured prefecture: its division code does not start
    with the prefecture's four digits (1529xx by default)."""
    return len(code) == 18 and code[2:6] != _local_prefix(load_regions())


@dataclass(frozen=True)
class DefectRates:
    """Probability per row of each injected defect (rows get at most one defect each)."""

    bad_check_char: float = 0.01
    full_width: float = 0.02
    traditional_name: float = 0.02
    excel_mangled: float = 0.005
    exact_duplicate: float = 0.01
    near_duplicate: float = 0.01
    completion_before_submission: float = 0.005
    unknown_region: float = 0.005
    legacy_reg_no_only: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DefectRates.{field.name} must be a probability in [0, 1], got {value}")

    @classmethod
    def none(cls) -> DefectRates:
        return cls(**{field.name: 0.0 for field in fields(cls)})


@dataclass
class SimulatedData:
    registration: pd.DataFrame
    tax_filing: pd.DataFrame
    credit_record: pd.DataFrame
    real_estate_case: pd.DataFrame
    crosswalk: pd.DataFrame
    defects: pd.DataFrame

    def dataset(self, name: str) -> pd.DataFrame:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
        return getattr(self, name)


# ---------------------------------------------------------------------------------------------
# Vocabulary

_ENTITY_TYPES = np.array(REGISTRATION.column("entity_type").values, dtype=object)
_COMPANY, _SHOP, _COOPERATIVE = "企业", "个体工商户", "农民专业合作社"
# Per 市场主体类型: share of registrations, USCC category (GB 32100: 9 market regulation, then
# 1/2/3), leading digit of the pre-2015 注册号 sequence, median registered capital (万元).
_TYPE_PROFILE = {
    _COMPANY: (0.60, "91", "0", 100.0),
    _SHOP: (0.37, "92", "6", 5.0),
    _COOPERATIVE: (0.03, "93", "2", 50.0),
}
# The first reporting unit of regions.yaml (the prefecture's seat, 阿拉善左旗 by default) gets
# this share of the entities, the others split the rest evenly.
_SEAT_SHARE = 0.70


def _check_vocabulary() -> None:
    """The contract's value lists that the simulator gives shares to: a value added to
    include/bizenv/datasets.py needs a share here before data can be drawn for it."""
    for what, contract, shares in (
        ("市场主体类型", _ENTITY_TYPES, _TYPE_PROFILE),
        ("申报渠道", _TAX_CHANNELS, _TAX_CHANNEL_SHARE),
    ):
        missing = [value for value in contract if value not in shares]
        if missing:
            raise ValueError(f"simulate: {what} {', '.join(missing)} of bizenv.datasets has no share in "
                             "bizenv.simulator.simulate")


def _type_index(entity_type: str) -> int:
    return list(_ENTITY_TYPES).index(entity_type)


# (GB/T 4754-2017 code, name phrase, weight) per entity type.
_INDUSTRIES: dict[str, tuple[tuple[str, str, float], ...]] = {
    _COMPANY: (
        ("F5211", "商贸", 12),
        ("E4790", "建筑工程", 10),
        ("G5421", "物流", 9),
        ("H6110", "酒店管理", 5),
        ("H6210", "餐饮管理", 7),
        ("B0610", "矿业", 4),
        ("C2613", "化工", 4),
        ("D4415", "风电", 3),
        ("D4416", "新能源", 4),
        ("I6513", "网络科技", 5),
        ("L7243", "商务咨询", 6),
        ("A0313", "牧业", 4),
        ("A0170", "生物科技", 3),
        ("L7291", "旅游开发", 5),
        ("K7020", "物业服务", 4),
        ("O8111", "汽车服务", 4),
        ("M7482", "工程技术", 3),
    ),
    _SHOP: (
        ("F5213", "便利店", 20),
        ("F5225", "蔬菜水果店", 8),
        ("F5226", "牛羊肉店", 5),
        ("H6210", "饭店", 14),
        ("H6220", "快餐店", 8),
        ("H6130", "民宿", 4),
        ("H6129", "宾馆", 5),
        ("O8040", "理发店", 8),
        ("O8111", "汽车修理部", 6),
        ("G5421", "货运部", 6),
        ("A0313", "养殖场", 5),
    ),
    _COOPERATIVE: (
        ("A0313", "养殖", 40),
        ("A0311", "肉牛养殖", 15),
        ("A0170", "苁蓉种植", 20),
        ("A0141", "蔬菜种植", 15),
        ("A0319", "骆驼养殖", 10),
    ),
}
_TRADE_NAME_CHARS = np.array(
    list(
        "恒源兴达盛鑫隆华泰昌丰瑞祥宏远金沙驼漠绿洲胡杨贺兰峰云天骄鼎诚信嘉禾蒙银发长东汇联顺龙凤"
        "乐聚德福宝星腾飞阳光时代新润佳"
    ),
    dtype=object,
)
_COMPANY_PREFIX = np.array(["{region}", "{prefecture}", "内蒙古", "{prefecture_short}"], dtype=object)
_COMPANY_PREFIX_P = (0.55, 0.20, 0.15, 0.10)
_COMPANY_FORM = np.array(["有限公司", "有限责任公司", "股份有限公司"], dtype=object)
_COMPANY_FORM_P = (0.85, 0.10, 0.05)
_SURNAMES = np.array(
    list(
        "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    ),
    dtype=object,
)
_GIVEN_CHARS = np.array(
    list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红建文辉力斌宇浩凯鹏"), dtype=object
)
_MONGOLIAN_NAMES = np.array(
    [
        "巴特尔",
        "乌日娜",
        "其木格",
        "额尔敦",
        "苏日娜",
        "宝音",
        "那仁",
        "图雅",
        "阿拉坦",
        "朝鲁",
        "格日勒",
        "斯琴",
        "敖日格乐",
        "孟克",
    ],
    dtype=object,
)
_ALIVE_STATUS = np.array(["存续", "在业"], dtype=object)
_EXIT_STATUS = np.array(["注销", "吊销", "迁出"], dtype=object)
_EXIT_RATE_PER_YEAR = np.array([0.020, 0.005, 0.003])
_FOUNDING = "设立"  # the 业务类型 of an entity's first registration
_REGISTRATION_CHANNELS = REGISTRATION.column("channel").values  # (online, at the window)

_TAX_CHANNELS = np.array(TAX_FILING.column("channel").values, dtype=object)
# Share per 申报渠道 of the contract; the first two are online (any time of day).
_TAX_CHANNEL_SHARE = {"电子税务局": 0.80, "移动端": 0.12, "自助终端": 0.03, "办税服务厅": 0.05}
_ONLINE_TAX_CHANNELS = ("电子税务局", "移动端")

_DISHONEST, _FULFILMENT, _REPAIR = "严重失信主体名单", "履约践诺", "信用修复"
_APPLICANT_COMPANY, _APPLICANT_PERSON = REAL_ESTATE_CASE.column("applicant_type").values
_RE_CHANNELS = REAL_ESTATE_CASE.column("channel").values  # (online, at the window)

_DISHONEST_AUTHORITIES = np.array(
    [
        "{prefecture}市场监督管理局",
        "国家税务总局{prefecture}税务局",
        "{prefecture}人力资源和社会保障局",
        "{prefecture}应急管理局",
        "{prefecture}生态环境局",
    ],
    dtype=object,
)
_FULFIL_AUTHORITIES = np.array(
    [
        "{prefecture}发展和改革委员会",
        "{prefecture}市场监督管理局",
        "{prefecture}住房和城乡建设局",
        "{prefecture}工业和信息化局",
        "{region}市场监督管理局",
    ],
    dtype=object,
)
_REPAIR_AUTHORITIES = np.array(["{prefecture}发展和改革委员会", "{prefecture}市场监督管理局"], dtype=object)

_RE_TYPES = np.array(["首次登记", "转移登记", "变更登记", "抵押登记"], dtype=object)
_RE_TYPE_P = (0.12, 0.40, 0.13, 0.35)
_PARCEL_KINDS = np.array(["GB", "JC", "GS", "GX", "JB"], dtype=object)
_PARCEL_KIND_P = (0.72, 0.12, 0.06, 0.04, 0.06)
_FIXTURE_KINDS = np.array(["F", "W", "L", "Q"], dtype=object)
_FIXTURE_KIND_P = (0.85, 0.10, 0.03, 0.02)
# Resident-ID divisions of applicants from elsewhere; only codes that python-stdnum's division
# table accepts for every birth year we draw
# (土默特左旗, 固阳县, 二连浩特市, 永宁县, 贺兰县, 平罗县, 北京朝阳区).
_OTHER_ID_PREFIXES = np.array(
    ["150121", "150222", "152501", "640121", "640122", "640221", "110105"], dtype=object
)

_DAY = 86400
_EPOCH = dt.date(1970, 1, 1)
_NONE = np.int64(-(2**62))  # missing timestamp/day marker in the int64 arrays

_FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


@dataclass(frozen=True)
class _Places:
    """The configured prefecture (regions.yaml) as the simulator draws from it."""

    codes: np.ndarray  # reporting units, in the order of the file
    names: np.ndarray
    p: np.ndarray
    prefecture: str
    outsider_divisions: np.ndarray
    unknown_codes: np.ndarray

    @classmethod
    def configured(cls) -> _Places:
        regions = load_regions()
        units = list(regions.names)
        if not units:
            raise ValueError("regions.yaml lists no reporting unit to simulate entities in")
        rest = (1.0 - _SEAT_SHARE) / (len(units) - 1) if len(units) > 1 else 0.0
        p = np.array([_SEAT_SHARE if len(units) > 1 else 1.0] + [rest] * (len(units) - 1))
        local = _local_prefix(regions)
        unknown = [c for c in UNKNOWN_REGION_CODES if c not in regions.codes]
        return cls(
            codes=np.array(units, dtype=object),
            names=np.array([regions.names[c] for c in units], dtype=object),
            p=p,
            prefecture=regions.prefecture_name,
            outsider_divisions=np.array([d for d in OUTSIDER_DIVISIONS if d[:4] != local], dtype=object),
            unknown_codes=np.array(unknown, dtype=object),
        )

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Indexes into `codes`."""
        return rng.choice(len(self.codes), size=size, p=self.p)

    def name_of(self, codes: np.ndarray) -> np.ndarray:
        lookup = dict(zip(self.codes.tolist(), self.names.tolist(), strict=True))
        return np.array([lookup[c] for c in codes], dtype=object)

    def fill(self, templates: np.ndarray) -> np.ndarray:
        """`{prefecture}` and `{prefecture_short}` (阿拉善盟, 阿拉善) filled in."""
        trimmed = len(self.prefecture) > 2 and self.prefecture[-1] in "盟市州"
        short = self.prefecture[:-1] if trimmed else self.prefecture
        return np.array(
            [t.replace("{prefecture_short}", short).replace("{prefecture}", self.prefecture) for t in templates],
            dtype=object,
        )


# ---------------------------------------------------------------------------------------------
# Working time


def _day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


class _WorkCalendar:
    """Working seconds since the calendar's first day, and back (timestamps as int64 epoch seconds),
    over the office hours and statutory working days production measures durations with."""

    def __init__(self, first_day: int, last_day: int, strict: tuple[int, int]) -> None:
        periods = load_office_periods()
        self.starts = np.array([p.start.hour * 3600 + p.start.minute * 60 for p in periods], dtype=np.int64)
        self.lengths = np.array([round(p.seconds) for p in periods], dtype=np.int64)
        self.ends = np.cumsum(self.lengths)  # working seconds of the day at the end of each period
        self.workday = int(self.ends[-1])
        self.first = first_day
        first, last = (_EPOCH + dt.timedelta(days=day) for day in (first_day, last_day))
        require_years(range((_EPOCH + dt.timedelta(days=strict[0])).year,
                            (_EPOCH + dt.timedelta(days=strict[1])).year + 1))
        covered = covered_years()
        work = np.zeros(last_day - first_day + 1, dtype=bool)
        for year in range(first.year, last.year + 1):
            lo, hi = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
            if year in covered:
                flags = [working for _, working, _ in working_days_table(lo, hi)]
            else:  # spill-over past the last covered year only; the strict range was checked above
                flags = [(lo + dt.timedelta(days=i)).weekday() < 5 for i in range((hi - lo).days + 1)]
            work[_day_number(lo) - first_day : _day_number(hi) - first_day + 1] = flags
        self.work = work
        self.cum = np.concatenate(([0], np.cumsum(work))).astype(np.int64) * self.workday
        self.work_days = (np.flatnonzero(work) + first_day).astype(np.int64)

    def to_work(self, ts: np.ndarray) -> np.ndarray:
        ts = np.asarray(ts, dtype=np.int64)
        day = ts // _DAY
        index = day - self.first
        if index.size and (index.min() < 0 or index.max() >= len(self.work)):
            raise ValueError("timestamp outside the simulation calendar")
        sod = ts - day * _DAY
        within = sum(np.clip(sod - start, 0, length) for start, length in zip(self.starts, self.lengths, strict=True))
        return self.cum[index] + np.where(self.work[index], within, 0)

    def from_work(self, work_seconds: np.ndarray) -> np.ndarray:
        w = np.maximum(np.asarray(work_seconds, dtype=np.int64), 1)
        k = (w - 1) // self.workday
        if k.size and k.max() >= len(self.work_days):
            raise ValueError("working time beyond the simulation calendar")
        r = w - k * self.workday  # 1..workday: the end of a period belongs to it, not to the next
        period = np.searchsorted(self.ends, r, side="left")
        sod = self.starts[period] + r - (self.ends[period] - self.lengths[period])
        return self.work_days[k] * _DAY + sod

    def add(self, ts: np.ndarray, work_seconds: np.ndarray) -> np.ndarray:
        return self.from_work(self.to_work(ts) + np.asarray(work_seconds, dtype=np.int64))

    def sample_office(
        self, rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, size: int
    ) -> np.ndarray:
        """Timestamps uniform over the office time in (lo, hi]."""
        wl = self.to_work(np.broadcast_to(np.asarray(lo, dtype=np.int64), (size,)))
        wh = self.to_work(np.broadcast_to(np.asarray(hi, dtype=np.int64), (size,)))
        wh = np.maximum(wh, wl + 1)
        return self.from_work(rng.integers(wl, wh, size=size, endpoint=False) + 1)

    def next_workday(self, days: np.ndarray) -> np.ndarray:
        """The first working day on or after each day number."""
        pos = np.searchsorted(self.work_days, days)
        return self.work_days[np.minimum(pos, len(self.work_days) - 1)]


def _workdays_to_seconds(
    rng: np.random.Generator,
    workday: int,
    median: np.ndarray | float,
    sigma: float,
    lo: float,
    hi: float,
    size: int,
) -> np.ndarray:
    """Lognormal durations in working seconds, median and bounds given in working days."""
    days = np.asarray(median) * np.exp(rng.normal(0.0, sigma, size))
    outside = (days < lo) | (days > hi)
    days = np.where(outside, rng.uniform(lo, hi, size), days)  # no pile-up at the bounds
    return np.round(days * workday).astype(np.int64)


def _anytime(
    rng: np.random.Generator, lo_day: np.ndarray | int, hi_day: np.ndarray | int, size: int
) -> np.ndarray:
    """Timestamps on days [lo_day, hi_day) at a time of day people use online services."""
    day = rng.integers(lo_day, hi_day, size=size)
    sod = np.clip(rng.normal(14.5 * 3600, 3.6 * 3600, size), 6.5 * 3600, 23.95 * 3600).astype(np.int64)
    return day * _DAY + sod


# ---------------------------------------------------------------------------------------------
# Formatting


def _fmt_ts(ts: np.ndarray) -> np.ndarray:
    """'2024-06-03 09:15:00' for epoch seconds; '' where missing."""
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        return np.empty(0, dtype=object)
    missing = ts == _NONE
    text = np.datetime_as_string(np.where(missing, 0, ts).astype("datetime64[s]"), unit="s")
    chars = text.view("U1").reshape(len(text), -1)
    chars[:, 10] = " "
    out = text.astype(object)
    out[missing] = ""
    return out


def _fmt_day(days: np.ndarray) -> np.ndarray:
    """'2024-06-03' for day numbers; '' where missing."""
    days = np.asarray(days, dtype=np.int64)
    missing = days == _NONE
    out = np.datetime_as_string(np.where(missing, 0, days).astype("datetime64[D]"), unit="D").astype(object)
    out[missing] = ""
    return out


def _fmt_cents(cents: np.ndarray) -> np.ndarray:
    """'12345.60' from integer cents (non-negative)."""
    cents = np.asarray(cents, dtype=np.int64)
    whole = pd.Series(cents // 100).astype(str)
    frac = pd.Series(cents % 100).astype(str).str.zfill(2)
    return (whole + "." + frac).to_numpy(dtype=object)


def _alternate_date_forms(
    rng: np.random.Generator, days: np.ndarray, text: np.ndarray, share: float
) -> np.ndarray:
    """Rewrite about `share` of the dates (each form) as 2024/6/3, 2024年6月3日 or 20240603."""
    out = text.copy()
    form = rng.choice(4, size=len(days), p=(1 - 3 * share, share, share, share))
    chosen = np.flatnonzero((form > 0) & (days != _NONE))
    if chosen.size:
        stamp = pd.to_datetime(days[chosen].astype("datetime64[D]"))
        y = pd.Series(stamp.year.astype(str))
        m = pd.Series(stamp.month.astype(str))
        d = pd.Series(stamp.day.astype(str))
        variants = np.stack(
            [
                (y + "/" + m + "/" + d).to_numpy(dtype=object),
                (y + "年" + m + "月" + d + "日").to_numpy(dtype=object),
                (y + m.str.zfill(2) + d.str.zfill(2)).to_numpy(dtype=object),
            ]
        )
        out[chosen] = variants[form[chosen] - 1, np.arange(chosen.size)]
    return out


def _full_width(values: np.ndarray) -> np.ndarray:
    return np.array([v.translate(_FULL_WIDTH) for v in values], dtype=object)


def _s2t(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values.copy()
    import opencc

    converted = opencc.OpenCC("s2t").convert("\n".join(values.tolist())).split("\n")
    return np.array(converted, dtype=object)


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation of object arrays and scalars."""
    out: np.ndarray | str = ""
    for part in parts:
        out = out + part  # numpy object arrays concatenate element-wise
    return np.asarray(out, dtype=object)


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    return pd.Series(np.asarray(values, dtype=np.int64)).astype(str).str.zfill(width).to_numpy(dtype=object)


# ---------------------------------------------------------------------------------------------
# Identifiers


def _usccs(
    rng: np.random.Generator, categories: np.ndarray, divisions: np.ndarray, taken: set[str] | None = None
) -> np.ndarray:
    """Unique valid USCCs: category + division + random organisation code (with its check)."""
    alphabet = np.array(list(codes.USCC_ALPHABET), dtype="U1")
    seen = set() if taken is None else taken
    out = np.empty(len(categories), dtype=object)
    pending = np.arange(len(categories))
    while pending.size:
        org = alphabet[rng.integers(0, len(alphabet), size=(pending.size, 8))]
        org8 = org.view("U8").ravel()
        retry = []
        for i, first8 in zip(pending.tolist(), org8.tolist(), strict=True):
            code = codes.make_uscc(categories[i], divisions[i], first8)
            if code in seen:
                retry.append(i)
            else:
                seen.add(code)
                out[i] = code
        pending = np.array(retry, dtype=np.int64)
    return out


def _resident_ids(
    rng: np.random.Generator, prefixes: np.ndarray, birth_lo: np.ndarray | int, birth_hi: np.ndarray | int
) -> np.ndarray:
    """Valid GB 11643 numbers: division prefix, birth day in [birth_lo, birth_hi], sequence, check."""
    size = len(prefixes)
    births = rng.integers(birth_lo, np.maximum(birth_hi, np.asarray(birth_lo) + 1), size=size)
    birth_text = np.char.replace(np.datetime_as_string(births.astype("datetime64[D]"), unit="D"), "-", "")
    body = _cat(prefixes, birth_text.astype(object), _zfill(rng.integers(1, 1000, size=size), 3))
    return np.array([b + ric.calc_check_digit(b + "0") for b in body], dtype=object)


def _legacy_reg_nos(rng: np.random.Generator, regions: np.ndarray, type_index: np.ndarray) -> np.ndarray:
    """15-digit 注册号: registration authority code, 8-digit sequence, ISO 7064 MOD 11,10 check."""
    size = len(regions)
    lead = np.array([_TYPE_PROFILE[t][2] for t in _ENTITY_TYPES], dtype=object)[type_index]
    out = np.empty(size, dtype=object)
    seen: set[str] = set()
    pending = np.arange(size)
    while pending.size:
        body = _cat(regions[pending], lead[pending], _zfill(rng.integers(0, 10**7, size=pending.size), 7))
        retry = []
        for i, b in zip(pending.tolist(), body.tolist(), strict=True):
            if b in seen:
                retry.append(i)
            else:
                seen.add(b)
                out[i] = b + mod_11_10.calc_check_digit(b)
        pending = np.array(retry, dtype=np.int64)
    return out


def _person_names(rng: np.random.Generator, size: int) -> np.ndarray:
    surname = _SURNAMES[rng.integers(0, len(_SURNAMES), size)]
    given1 = _GIVEN_CHARS[rng.integers(0, len(_GIVEN_CHARS), size)]
    given2 = np.where(rng.random(size) < 0.7, _GIVEN_CHARS[rng.integers(0, len(_GIVEN_CHARS), size)], "")
    han = _cat(surname, given1, given2)
    mongolian = _MONGOLIAN_NAMES[rng.integers(0, len(_MONGOLIAN_NAMES), size)]
    return np.where(rng.random(size) < 0.15, mongolian, han).astype(object)


# ---------------------------------------------------------------------------------------------
# The population


@dataclass
class _Range:
    start_day: int  # first day of the first month
    end_day: int  # last day of the last month
    months: list[tuple[int, int, int, int]]  # (year, month, first day, last day)

    @property
    def start_ts(self) -> int:
        return self.start_day * _DAY

    @property
    def end_ts(self) -> int:  # exclusive
        return (self.end_day + 1) * _DAY


def _parse_months(months: tuple[str, str]) -> _Range:
    try:
        first, last = (dt.datetime.strptime(m.strip(), "%Y-%m").date() for m in months)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"months must be two 'YYYY-MM' strings, got {months!r}") from None
    if last < first:
        raise ValueError(f"months range ends before it starts: {months[0]}..{months[1]}")
    spans = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        nxt = dt.date(year + month // 12, month % 12 + 1, 1)
        spans.append((year, month, _day_number(dt.date(year, month, 1)), _day_number(nxt) - 1))
        year, month = nxt.year, nxt.month
    return _Range(spans[0][2], spans[-1][3], spans)


@dataclass
class _Entities:
    uscc: np.ndarray
    legacy_reg_no: np.ndarray
    type_index: np.ndarray
    region: np.ndarray
    name: np.ndarray
    industry: np.ndarray
    capital: np.ndarray
    rep_name: np.ndarray
    rep_id: np.ndarray
    submitted: np.ndarray  # epoch seconds or _NONE
    issued: np.ndarray
    established: np.ndarray  # day number
    channel: np.ndarray
    exit_day: np.ndarray  # day number or _NONE
    status: np.ndarray
    updated: np.ndarray

    @property
    def alive_until(self) -> np.ndarray:
        """Last day of existence (exit day) or a far-future day."""
        return np.where(self.exit_day == _NONE, np.int64(10**7), self.exit_day)


_STOCK_SHARE = 0.15
_STOCK_YEARS = 15
_STOCK_RECENCY_YEARS = 8.0


def _registration_times(
    rng: np.random.Generator,
    cal: _WorkCalendar,
    span: _Range,
    stock: np.ndarray,
    online: np.ndarray,
    stock_lo: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Submission and approval times: new entities approved within the range, stock before it."""
    size = len(stock)
    submitted = np.zeros(size, dtype=np.int64)
    issued = np.zeros(size, dtype=np.int64)
    w_range = (int(cal.to_work(np.array([span.start_ts]))[0]), int(cal.to_work(np.array([span.end_ts]))[0]))
    w_stock = (int(cal.to_work(np.array([stock_lo]))[0]), w_range[0])
    pending = np.arange(size)
    for attempt in range(30):
        if not pending.size:
            break
        n = pending.size
        is_stock = stock[pending]
        is_online = online[pending]
        # Stock: uniform working time with a recency skew (registries grew over time).
        u = rng.random(n)
        length = _STOCK_YEARS / _STOCK_RECENCY_YEARS
        back = -np.log1p(-u * (1 - math.exp(-length))) / length
        w_old = np.round(w_stock[1] - back * (w_stock[1] - w_stock[0])).astype(np.int64)
        sub = np.where(is_stock, cal.from_work(w_old), 0)
        # New: office hours, or any time for a fifth of the online applications.
        office = cal.sample_office(rng, span.start_ts, span.end_ts, n)
        anytime = _anytime(rng, span.start_day, span.end_day + 1, n)
        use_any = is_online & (rng.random(n) < 0.2)
        sub = np.where(is_stock, sub, np.where(use_any, anytime, office))
        if attempt == 29:  # a pathological range: start at the very beginning
            sub = np.where(
                is_stock, cal.from_work(np.full(n, w_stock[0] + 1)), cal.from_work(np.full(n, w_range[0] + 1))
            )
        median = np.where(is_online, 0.38, 0.6)
        duration = _workdays_to_seconds(rng, cal.workday, median, 0.8, 0.03, 5.0, n)
        iss = cal.add(sub, duration)
        submitted[pending] = sub
        issued[pending] = iss
        limit = np.where(is_stock, span.start_ts, span.end_ts)
        pending = pending[iss >= limit]
    return submitted, issued


def _population(
    rng: np.random.Generator, cal: _WorkCalendar, span: _Range, places: _Places, entities: int, stock_lo: int
) -> _Entities:
    n = entities
    profiles = [_TYPE_PROFILE[t] for t in _ENTITY_TYPES]
    company, shop = _type_index(_COMPANY), _type_index(_SHOP)
    type_index = rng.choice(len(_ENTITY_TYPES), size=n, p=[share for share, _, _, _ in profiles])
    region_index = places.draw(rng, n)
    region = places.codes[region_index]
    stock = rng.random(n) < _STOCK_SHARE
    online = rng.random(n) < 0.96
    submitted, issued = _registration_times(rng, cal, span, stock, online, stock_lo)
    established = issued // _DAY
    legacy = established < _day_number(USCC_REFORM_DATE)

    categories = np.array([category for _, category, _, _ in profiles], dtype=object)[type_index]
    uscc = _usccs(rng, categories, region)
    legacy_reg_no = np.full(n, "", dtype=object)
    if legacy.any():
        legacy_reg_no[legacy] = _legacy_reg_nos(rng, region[legacy], type_index[legacy])

    # Industry and name.
    industry = np.empty(n, dtype=object)
    phrase = np.empty(n, dtype=object)
    for t, entity_type in enumerate(_ENTITY_TYPES):
        table = _INDUSTRIES[entity_type]
        rows = np.flatnonzero(type_index == t)
        weights = np.array([w for _, _, w in table], dtype=float)
        pick = rng.choice(len(table), size=rows.size, p=weights / weights.sum())
        industry[rows] = np.array([c for c, _, _ in table], dtype=object)[pick]
        phrase[rows] = np.array([p for _, p, _ in table], dtype=object)[pick]
    region_label = places.names[region_index]
    trade = _cat(
        _TRADE_NAME_CHARS[rng.integers(0, len(_TRADE_NAME_CHARS), n)],
        _TRADE_NAME_CHARS[rng.integers(0, len(_TRADE_NAME_CHARS), n)],
    )
    prefix = places.fill(_COMPANY_PREFIX)[rng.choice(len(_COMPANY_PREFIX), size=n, p=_COMPANY_PREFIX_P)]
    prefix = np.where(prefix == "{region}", region_label, prefix)
    form = _COMPANY_FORM[rng.choice(len(_COMPANY_FORM), size=n, p=_COMPANY_FORM_P)]
    rep_name = _person_names(rng, n)
    surname_trade = _cat(pd.Series(rep_name, dtype=object).str[0].to_numpy(dtype=object), "记")
    shop_trade = np.where(rng.random(n) < 0.3, surname_trade, trade)
    name = np.select(
        [type_index == company, type_index == shop],
        [_cat(prefix, trade, phrase, form), _cat(region_label, shop_trade, phrase)],
        default=_cat(region_label, trade, phrase, "专业合作社"),
    ).astype(object)

    # Capital (万元): companies ~100, shops ~5 (often not stated), cooperatives ~50.
    median = np.array([capital for _, _, _, capital in profiles])[type_index]
    capital = np.clip(median * np.exp(rng.normal(0, 1.1, n)), 1, 50000)
    round_number = rng.random(n) < 0.8
    cents = np.where(round_number, np.round(capital) * 100, np.round(capital * 100)).astype(np.int64)
    capital_text = pd.Series(_fmt_cents(cents)).str.replace(r"\.00$", "", regex=True).to_numpy(dtype=object)
    capital_text[(type_index == shop) & (rng.random(n) < 0.3)] = ""

    # Legal representative: local ID, adult at establishment, born 1960–2000.
    other_region = places.draw(rng, n)
    id_prefix = np.where(rng.random(n) < 0.9, region, places.codes[other_region]).astype(object)
    birth_hi = np.minimum(_day_number(dt.date(2000, 12, 31)), established - 18 * 366)
    rep_id = _resident_ids(rng, id_prefix, _day_number(dt.date(1960, 1, 1)), birth_hi)

    # Exits (注销 / 吊销 / 迁出) with a constant yearly hazard from establishment.
    rate = _EXIT_RATE_PER_YEAR.sum()
    exit_raw = established + 1 + np.floor(rng.exponential(365.25 / rate, n)).astype(np.int64)
    exit_raw = np.minimum(exit_raw, span.end_day + 1)
    exit_day = cal.next_workday(exit_raw)
    exited = exit_day <= span.end_day
    exit_day = np.where(exited, exit_day, _NONE)
    exit_kind = rng.choice(3, size=n, p=_EXIT_RATE_PER_YEAR / rate)
    status = np.where(
        exited, _EXIT_STATUS[exit_kind], _ALIVE_STATUS[(rng.random(n) < 0.2).astype(int)]
    ).astype(object)

    channel = np.where(online, _REGISTRATION_CHANNELS[0], _REGISTRATION_CHANNELS[1]).astype(object)
    submitted = np.where(legacy, _NONE, submitted)
    channel[legacy] = ""

    # updated_at: shortly after approval, later for stock entities that filed changes, and
    # after the status date for those that left.
    base = np.where(legacy, established * _DAY + 9 * 3600, issued)
    updated = base + np.round(np.exp(rng.normal(math.log(1800), 1.5, n))).astype(np.int64) + 1
    changed = stock & (rng.random(n) < 0.4)
    later = base + (rng.random(n) * np.maximum(span.start_ts - base, 1)).astype(np.int64)
    updated = np.where(changed, np.maximum(updated, later), updated)
    exit_ts = np.where(exited, exit_day, 0) * _DAY + rng.integers(9 * 3600, 17 * 3600 + 1800, n)
    updated = np.where(exited, np.maximum(updated, exit_ts + rng.integers(60, 4 * 3600, n)), updated)
    issued = np.where(legacy, _NONE, issued)

    return _Entities(
        uscc=uscc,
        legacy_reg_no=legacy_reg_no,
        type_index=type_index,
        region=region,
        name=name,
        industry=industry,
        capital=capital_text,
        rep_name=rep_name,
        rep_id=rep_id,
        submitted=submitted,
        issued=issued,
        established=established,
        channel=channel,
        exit_day=exit_day,
        status=status,
        updated=updated,
    )


def _outsiders(
    rng: np.random.Generator, places: _Places, size: int, taken: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Entities registered elsewhere that deal with the prefecture: valid USCC, local region."""
    divisions = places.outsider_divisions[rng.integers(0, len(places.outsider_divisions), size)]
    uscc = _usccs(rng, np.full(size, _TYPE_PROFILE[_COMPANY][1], dtype=object), divisions, taken)
    region = places.codes[places.draw(rng, size)]
    return uscc, region


# ---------------------------------------------------------------------------------------------
# Department datasets (dicts of object arrays, columns in file order)

Columns = dict[str, np.ndarray]


def _registration(rng: np.random.Generator, ent: _Entities) -> Columns:
    order = np.lexsort((np.where(ent.issued == _NONE, 0, ent.issued), ent.established))
    established = _fmt_day(ent.established)
    established = _alternate_date_forms(rng, ent.established, established, 0.03)
    cols: Columns = {
        "uscc": ent.uscc,
        "legacy_reg_no": ent.legacy_reg_no,
        "name": ent.name,
        "entity_type": _ENTITY_TYPES[ent.type_index],
        "legal_rep_name": ent.rep_name,
        "legal_rep_id": ent.rep_id,
        "region_code": ent.region,
        "industry_code": ent.industry,
        "registered_capital": ent.capital,
        "established_date": established,
        "submitted_at": _fmt_ts(ent.submitted),
        "issued_at": _fmt_ts(ent.issued),
        "channel": ent.channel,
        # each row is the entity's founding application, carrying its latest state
        "event_type": np.full(len(ent.uscc), _FOUNDING, dtype=object),
        "status": ent.status,
        "status_date": _fmt_day(ent.exit_day),
        "updated_at": _fmt_ts(ent.updated),
    }
    return {k: np.asarray(v, dtype=object)[order] for k, v in cols.items()}


def _tax_filing(
    rng: np.random.Generator,
    cal: _WorkCalendar,
    span: _Range,
    ent: _Entities,
    out_uscc: np.ndarray,
    out_region: np.ndarray,
) -> Columns:
    n = len(ent.uscc)
    company, shop = _type_index(_COMPANY), _type_index(_SHOP)
    files_tax = (ent.type_index == company) | (ent.type_index == shop)  # cooperatives are exempt here
    exempt = (ent.type_index == shop) & (rng.random(n) < 0.6)
    base = np.where(ent.type_index == company, 3000.0, 200.0) * np.exp(rng.normal(0, 1.4, n))
    base = np.where(exempt, 0.0, base)
    out_base = 5000.0 * np.exp(rng.normal(0, 1.4, len(out_uscc)))
    alive_until = ent.alive_until
    parts: list[dict[str, np.ndarray]] = []
    for year, month, first, last in span.months:
        local = np.flatnonzero(files_tax & (ent.established <= last) & (alive_until >= first))
        n_out = min(len(out_uscc), int(rng.binomial(local.size, 0.01 / 0.99))) if local.size else 0
        outs = rng.choice(len(out_uscc), size=n_out, replace=False)
        uscc = np.concatenate([ent.uscc[local], out_uscc[outs]])
        region = np.concatenate([ent.region[local], out_region[outs]])
        amount = np.concatenate([base[local], out_base[outs]])
        size = uscc.size
        window_lo = last + 1  # the following month's first 15 days
        channel_index = rng.choice(len(_TAX_CHANNELS), size=size, p=[_TAX_CHANNEL_SHARE[c] for c in _TAX_CHANNELS])
        online = np.isin(_TAX_CHANNELS[channel_index], _ONLINE_TAX_CHANNELS)
        filed = np.where(
            online,
            _anytime(rng, window_lo, window_lo + 15, size),
            cal.sample_office(rng, window_lo * _DAY, (window_lo + 15) * _DAY, size),
        )
        cents = np.round(amount * np.exp(rng.normal(0, 0.4, size)) * 100).astype(np.int64)
        parts.append(
            {
                "period": np.full(size, year * 100 + month, dtype=np.int64),
                "uscc": uscc,
                "region": region,
                "filed": filed,
                "channel": _TAX_CHANNELS[channel_index],
                "cents": cents,
            }
        )
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    size = data["uscc"].size
    order = np.lexsort((data["filed"], data["period"]))
    data = {k: v[order] for k, v in data.items()}
    # 申报流水号: SB + period + a running number per period in filing order.
    period = data["period"]
    starts = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
    counts = np.diff(np.r_[starts, size])
    rank = np.arange(size) - np.repeat(starts, counts)
    offset = np.repeat(rng.integers(1, 200_000, size=starts.size), counts)
    filing_id = _cat("SB", pd.Series(period).astype(str).to_numpy(dtype=object), _zfill(offset + rank, 7))
    # Amounts: two decimals, some with thousands separators.
    amount_text = _fmt_cents(data["cents"])
    sep = np.flatnonzero((rng.random(size) < 0.08) & (data["cents"] >= 100_000))
    amount_text[sep] = [f"{c / 100:,.2f}" for c in data["cents"][sep].tolist()]
    # Refunds: ~3 % request a refund days after filing, completed a few working days later.
    refund = rng.random(size) < 0.03
    requested = data["filed"] + rng.integers(3600, 20 * _DAY, size)
    requested = np.where(refund, requested, data["filed"])
    completed = cal.add(requested, _workdays_to_seconds(rng, cal.workday, 2.0, 0.7, 0.1, 8.0, size))
    requested = np.where(refund, requested, _NONE)
    completed = np.where(refund, completed, _NONE)
    last_event = np.where(refund, completed, data["filed"])
    updated = last_event + rng.integers(60, _DAY, size)
    final = np.argsort(data["filed"], kind="stable")
    cols: Columns = {
        "filing_id": filing_id,
        "uscc": data["uscc"],
        "region_code": data["region"],
        "tax_period": pd.Series(period)
        .astype(str)
        .str.replace(r"^(\d{4})(\d{2})$", r"\1-\2", regex=True)
        .to_numpy(dtype=object),
        "filed_at": _fmt_ts(data["filed"]),
        "channel": data["channel"],
        "tax_amount": amount_text,
        "refund_requested_at": _fmt_ts(requested),
        "refund_completed_at": _fmt_ts(completed),
        "updated_at": _fmt_ts(updated),
    }
    return {k: np.asarray(v, dtype=object)[final] for k, v in cols.items()}


def _record_days(rng: np.random.Generator, span: _Range, ent: _Entities, rows: np.ndarray) -> np.ndarray:
    lo = np.maximum(span.start_day, ent.established[rows])
    hi = np.minimum(span.end_day, ent.alive_until[rows])
    return rng.integers(lo, np.maximum(hi, lo) + 1)


def _credit_record(
    rng: np.random.Generator,
    span: _Range,
    places: _Places,
    ent: _Entities,
    out_uscc: np.ndarray,
    out_region: np.ndarray,
) -> Columns:
    in_range = (ent.established <= span.end_day) & (ent.alive_until >= span.start_day)
    companies = np.flatnonzero(in_range & (ent.type_index == _type_index(_COMPANY)))
    alive = np.flatnonzero(in_range)
    # 严重失信主体名单 for ~2 % of companies, some removed later (and then repaired).
    dishonest = rng.choice(companies, size=int(rng.binomial(companies.size, 0.02)), replace=False)
    d_day = _record_days(rng, span, ent, dishonest)
    removable = (d_day <= span.end_day - 30) & (rng.random(dishonest.size) < 0.3)
    removal = np.where(
        removable,
        d_day + 30 + (rng.random(dishonest.size) * np.maximum(span.end_day - d_day - 30, 0)).astype(np.int64),
        _NONE,
    )
    # 履约践诺 for ~10 % of entities; 信用修复 after each removal and for a few others.
    fulfil = rng.choice(alive, size=int(rng.binomial(alive.size, 0.10)), replace=False)
    f_day = _record_days(rng, span, ent, fulfil)
    repaired = dishonest[removable]
    extra = rng.choice(alive, size=int(rng.binomial(alive.size, 0.003)), replace=False)
    e_day = _record_days(rng, span, ent, extra)

    entity_rows = np.concatenate([dishonest, fulfil, repaired, extra])
    kind = np.concatenate(
        [np.zeros(dishonest.size, int), np.ones(fulfil.size, int), np.full(repaired.size + extra.size, 2)]
    )
    day = np.concatenate([d_day, f_day, removal[removable], e_day])
    removal_day = np.concatenate([removal, np.full(fulfil.size + repaired.size + extra.size, _NONE)])
    uscc = ent.uscc[entity_rows]
    region = ent.region[entity_rows]
    # ~1 % from entities registered elsewhere (履约践诺 with a local authority).
    n_out = int(rng.binomial(max(len(entity_rows), 1), 0.01))
    if n_out:
        pick = rng.integers(0, len(out_uscc), n_out)
        uscc = np.concatenate([uscc, out_uscc[pick]])
        region = np.concatenate([region, out_region[pick]])
        kind = np.concatenate([kind, np.ones(n_out, int)])
        day = np.concatenate([day, rng.integers(span.start_day, span.end_day + 1, n_out)])
        removal_day = np.concatenate([removal_day, np.full(n_out, _NONE)])
    size = uscc.size
    region_label = places.name_of(region)
    authority = np.select(
        [kind == 0, kind == 1],
        [
            places.fill(_DISHONEST_AUTHORITIES)[rng.integers(0, len(_DISHONEST_AUTHORITIES), size)],
            places.fill(_FULFIL_AUTHORITIES)[rng.integers(0, len(_FULFIL_AUTHORITIES), size)],
        ],
        default=places.fill(_REPAIR_AUTHORITIES)[rng.integers(0, len(_REPAIR_AUTHORITIES), size)],
    ).astype(object)
    templated = authority == "{region}市场监督管理局"
    authority[templated] = _cat(region_label[templated], "市场监督管理局")
    last_day = np.where(removal_day == _NONE, day, removal_day)
    updated = last_day * _DAY + rng.integers(9 * 3600, 18 * 3600, size) + rng.integers(0, 3 * _DAY, size)
    order = np.lexsort((rng.random(size), day))
    record_type = np.array([_DISHONEST, _FULFILMENT, _REPAIR], dtype=object)[kind]
    year = pd.Series(pd.to_datetime(day[order].astype("datetime64[D]")).year.astype(str)).to_numpy(
        dtype=object
    )
    record_id = _cat("XY", year, _zfill(rng.integers(1, 10**6) + np.arange(size), 8))
    cols: Columns = {
        "record_id": record_id,
        "uscc": uscc[order],
        "region_code": region[order],
        "record_type": record_type[order],
        "record_date": _fmt_day(day[order]),
        "removal_date": _fmt_day(removal_day[order]),
        "authority": authority[order],
        "updated_at": _fmt_ts(updated[order]),
    }
    return {k: np.asarray(v, dtype=object) for k, v in cols.items()}


def _unit_codes(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    size = len(region)
    fixture = _FIXTURE_KINDS[rng.choice(len(_FIXTURE_KINDS), size=size, p=_FIXTURE_KIND_P)]
    building = _cat(_zfill(rng.integers(1, 61, size), 4), _zfill(rng.integers(1, 301, size), 4))
    fixture_no = np.where(
        fixture == "F",
        building,
        np.where(fixture == "W", "00000000", _zfill(rng.integers(1, 10**5, size), 8)),
    )
    return _cat(
        region,
        _zfill(rng.integers(1, 31, size), 3),
        _zfill(rng.integers(1, 41, size), 3),
        _PARCEL_KINDS[rng.choice(len(_PARCEL_KINDS), size=size, p=_PARCEL_KIND_P)],
        _zfill(rng.integers(1, 10**5, size), 5),
        fixture,
        fixture_no.astype(object),
    )


def _real_estate_case(
    rng: np.random.Generator,
    cal: _WorkCalendar,
    span: _Range,
    places: _Places,
    ent: _Entities,
    out_uscc: np.ndarray,
    out_region: np.ndarray,
) -> Columns:
    alive_until = ent.alive_until
    per_month = max(3.0, 0.06 * len(ent.uscc))
    parts: list[dict[str, np.ndarray]] = []
    for _year, _month, first, last in span.months:
        size = int(rng.poisson(per_month))
        submitted = cal.sample_office(rng, first * _DAY, (last + 1) * _DAY, size)
        candidates = np.flatnonzero(
            (ent.type_index == _type_index(_COMPANY)) & (ent.established < first) & (alive_until > last)
        )
        company = (rng.random(size) < 0.30) & (candidates.size > 0)
        outsider = company & (rng.random(size) < 0.01)
        local_company = company & ~outsider
        region = places.codes[places.draw(rng, size)]
        applicant = np.empty(size, dtype=object)
        rows = np.flatnonzero(local_company)
        if rows.size:
            chosen = candidates[rng.integers(0, candidates.size, rows.size)]
            applicant[rows] = ent.uscc[chosen]
            region[rows] = np.where(rng.random(rows.size) < 0.8, ent.region[chosen], region[rows])
        rows = np.flatnonzero(outsider)
        if rows.size:
            applicant[rows] = out_uscc[rng.integers(0, len(out_uscc), rows.size)]
        rows = np.flatnonzero(~company)
        if rows.size:
            local = rng.random(rows.size) < 0.85
            prefix = np.where(
                local,
                region[rows],
                _OTHER_ID_PREFIXES[rng.integers(0, len(_OTHER_ID_PREFIXES), rows.size)],
            )
            applicant[rows] = _resident_ids(
                rng, prefix.astype(object), _day_number(dt.date(1950, 1, 1)), first - 18 * 366
            )
        median = np.where(company, 0.8, 1.1)
        completed = cal.add(submitted, _workdays_to_seconds(rng, cal.workday, median, 0.5, 0.3, 3.0, size))
        parts.append(
            {
                "submitted": submitted,
                "completed": completed,
                "company": company,
                "applicant": applicant,
                "region": region,
                "month_key": np.full(size, _year * 100 + _month, dtype=np.int64),
            }
        )
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(data["submitted"], kind="stable")
    data = {k: v[order] for k, v in data.items()}
    size = data["submitted"].size
    month_key = data["month_key"]
    starts = np.flatnonzero(np.r_[True, month_key[1:] != month_key[:-1]]) if size else np.array([], int)
    counts = np.diff(np.r_[starts, size])
    rank = np.arange(size) - np.repeat(starts, counts) + 1
    case_id = _cat("BDC", pd.Series(month_key).astype(str).to_numpy(dtype=object), _zfill(rank, 6))
    company = data["company"]
    updated = data["completed"] + rng.integers(60, 2 * 3600, size)
    cols: Columns = {
        "case_id": case_id,
        "unit_code": _unit_codes(rng, data["region"]),
        "applicant_type": np.where(company, _APPLICANT_COMPANY, _APPLICANT_PERSON).astype(object),
        "applicant_id": data["applicant"],
        "registration_type": _RE_TYPES[rng.choice(len(_RE_TYPES), size=size, p=_RE_TYPE_P)],
        "region_code": data["region"],
        "submitted_at": _fmt_ts(data["submitted"]),
        "completed_at": _fmt_ts(data["completed"]),
        "channel": np.where(rng.random(size) < 0.4, _RE_CHANNELS[0], _RE_CHANNELS[1]).astype(object),
        "updated_at": _fmt_ts(updated),
    }
    return {k: np.asarray(v, dtype=object) for k, v in cols.items()}


# ---------------------------------------------------------------------------------------------
# Defect injection

_CODE_COLUMN = {
    "registration": "uscc",
    "tax_filing": "uscc",
    "credit_record": "uscc",
    "real_estate_case": "applicant_id",
}
_KEY_COLUMN = {name: dataset.key for name, dataset in DATASETS.items()}
_STAMPS = {
    "registration": ("submitted_at", "issued_at"),
    "real_estate_case": ("submitted_at", "completed_at"),
}
# Narrow eligibility first so that high rates still give every kind some rows.
_DEFECT_ORDER = (
    "legacy_reg_no_only",
    "traditional_name",
    "completion_before_submission",
    "excel_mangled",
    "bad_check_char",
    "unknown_region",
    "full_width",
    "exact_duplicate",
    "near_duplicate",
)


def _eligible(name: str, defect: str, cols: Columns, traditional: np.ndarray | None) -> np.ndarray | None:
    """Rows that can carry `defect`, or None when the dataset cannot have it."""
    size = len(cols[_KEY_COLUMN[name]])
    everything = np.ones(size, dtype=bool)
    if defect == "legacy_reg_no_only":
        return cols["legacy_reg_no"] != "" if name == "registration" else None
    if defect == "traditional_name":
        return (traditional != cols["name"]) if name == "registration" and traditional is not None else None
    if defect == "completion_before_submission":
        if name not in _STAMPS:
            return None
        sub, done = _STAMPS[name]
        return (cols[sub] != "") & (cols[done] != "")
    if defect in ("excel_mangled", "bad_check_char"):
        if name == "real_estate_case":
            return cols["applicant_type"] == _APPLICANT_COMPANY
        return cols[_CODE_COLUMN[name]] != ""
    return everything


def _inject(
    rng: np.random.Generator, name: str, cols: Columns, rates: DefectRates, unknown_regions: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    size = len(cols[_KEY_COLUMN[name]])
    cols = {k: v.copy() for k, v in cols.items()}
    traditional = None
    if name == "registration" and rates.traditional_name > 0:
        traditional = _s2t(cols["name"])
    eligibility = {d: _eligible(name, d, cols, traditional) for d in _DEFECT_ORDER}
    if not len(unknown_regions):  # every candidate is a configured unit: the defect cannot be drawn
        eligibility["unknown_region"] = None
    wanted = {
        d: int(rng.binomial(size, getattr(rates, d))) for d in _DEFECT_ORDER if eligibility[d] is not None
    }
    total, cap = sum(wanted.values()), int(0.8 * size)
    if total > cap:
        wanted = {d: math.floor(c * cap / total) for d, c in wanted.items()}
    free = np.ones(size, dtype=bool)
    picked: dict[str, np.ndarray] = {}
    for defect, count in wanted.items():
        candidates = np.flatnonzero(free & eligibility[defect])
        rows = np.sort(rng.choice(candidates, size=min(count, candidates.size), replace=False))
        free[rows] = False
        picked[defect] = rows

    code, key = _CODE_COLUMN[name], _KEY_COLUMN[name]
    for defect, rows in picked.items():
        if not rows.size:
            continue
        if defect == "legacy_reg_no_only":
            cols["uscc"][rows] = ""
        elif defect == "traditional_name":
            cols["name"][rows] = traditional[rows]
        elif defect == "completion_before_submission":
            sub, done = _STAMPS[name]
            start = pd.to_datetime(pd.Series(cols[sub][rows]), format="%Y-%m-%d %H:%M:%S").to_numpy(
                "datetime64[s]"
            )
            early = start.astype(np.int64) - rng.integers(600, 2 * _DAY, rows.size)
            cols[done][rows] = _fmt_ts(early)
        elif defect == "excel_mangled":
            cols[code][rows] = [f"{c[0]}.{c[1:6]}E+17" for c in cols[code][rows]]
        elif defect == "bad_check_char":
            alphabet = codes.USCC_ALPHABET
            shift = rng.integers(1, len(alphabet), rows.size)
            cols[code][rows] = [
                c[:17] + alphabet[(alphabet.index(c[17]) + s) % len(alphabet)]
                for c, s in zip(cols[code][rows], shift.tolist(), strict=True)
            ]
        elif defect == "unknown_region":
            cols["region_code"][rows] = unknown_regions[rng.integers(0, len(unknown_regions), rows.size)]
        elif defect == "full_width":
            cols[code][rows] = _full_width(cols[code][rows])
            also = rows[rng.random(rows.size) < 0.5]
            second = "unit_code" if name == "real_estate_case" else "region_code"
            cols[second][also] = _full_width(cols[second][also])

    # Duplicates: exact copies right after their original, near copies somewhere later.
    exact, near = (
        picked.get("exact_duplicate", np.array([], int)),
        picked.get("near_duplicate", np.array([], int)),
    )
    copies = {k: np.concatenate([v[exact], v[near]]) for k, v in cols.items()}
    if near.size:
        variant = rng.integers(0, 3, near.size)
        values = copies[key][exact.size :]
        copies[key][exact.size :] = np.where(
            variant == 0,
            _full_width(values),
            np.where(variant == 1, _cat(" ", values, " "), _cat(values, "\u3000")),
        )
        if name == "registration":
            copies["name"][exact.size :] = _cat(
                copies["name"][exact.size :], np.where(variant == 2, "  ", " ")
            )
        elif code != key:
            nonempty = copies[code][exact.size :] != ""
            copies[code][exact.size :] = np.where(
                nonempty & (variant != 0), _full_width(copies[code][exact.size :]), copies[code][exact.size :]
            )
    sort_key = np.concatenate(
        [
            np.arange(size, dtype=float),
            exact + 0.5,
            near + 0.5 + rng.random(near.size) * (size - near - 0.5),
        ]
    )
    order = np.argsort(sort_key, kind="stable")
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    frame = pd.DataFrame({k: np.concatenate([v, copies[k]])[order] for k, v in cols.items()}, dtype="str")

    records = []
    for defect, rows in picked.items():
        if defect == "exact_duplicate":
            row_ids = size + np.arange(exact.size)
        elif defect == "near_duplicate":
            row_ids = size + exact.size + np.arange(near.size)
        else:
            row_ids = rows
        records.append(
            pd.DataFrame(
                {
                    "dataset": name,
                    "row_number": position[row_ids] + 1,
                    "defect": defect,
                    "expected_outcome": EXPECTED_OUTCOME[defect],
                }
            )
        )
    return frame, (pd.concat(records, ignore_index=True) if records else _empty_defects())


def _empty_defects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": pd.Series(dtype="str"),
            "row_number": pd.Series(dtype="int64"),
            "defect": pd.Series(dtype="str"),
            "expected_outcome": pd.Series(dtype="str"),
        }
    )


# ---------------------------------------------------------------------------------------------
# Public API


def simulate(
    entities: int = 500,
    months: tuple[str, str] = ("2024-01", "2024-06"),
    seed: int = 7,
    defects: DefectRates | None = None,
) -> SimulatedData:
    """Department data for `entities` market entities over `months` (inclusive, 'YYYY-MM').

    `defects=None` injects the default (small) `DefectRates`; `DefectRates.none()` gives clean data.
    """
    if entities < 1:
        raise ValueError(f"entities must be at least 1, got {entities}")
    _check_vocabulary()
    rates = DefectRates() if defects is None else defects
    span = _parse_months(months)
    rng = np.random.default_rng(seed)
    stock_lo_day = _day_number(
        dt.date(dt.date.fromordinal(span.start_day + _EPOCH.toordinal()).year - _STOCK_YEARS, 1, 1)
    )
    cal = _WorkCalendar(stock_lo_day - 10, span.end_day + 200, (span.start_day, span.end_day))
    places = _Places.configured()
    ent = _population(rng, cal, span, places, entities, stock_lo_day * _DAY)
    out_uscc, out_region = _outsiders(
        rng, places, max(3, math.ceil(0.015 * entities) + 2), set(ent.uscc.tolist())
    )

    raw: dict[str, Columns] = {
        "registration": _registration(rng, ent),
        "tax_filing": _tax_filing(rng, cal, span, ent, out_uscc, out_region),
        "credit_record": _credit_record(rng, span, places, ent, out_uscc, out_region),
        "real_estate_case": _real_estate_case(rng, cal, span, places, ent, out_uscc, out_region),
    }
    frames: dict[str, pd.DataFrame] = {}
    defect_frames = []
    for name, cols in raw.items():
        frames[name], found = _inject(rng, name, cols, rates, places.unknown_codes)
        defect_frames.append(found)
    defects_frame = pd.concat(defect_frames, ignore_index=True)
    defects_frame["row_number"] = defects_frame["row_number"].astype("int64")
    dataset_rank = defects_frame["dataset"].map({n: i for i, n in enumerate(DATASETS)})
    defects_frame = (
        defects_frame.assign(_rank=dataset_rank)
        .sort_values(["_rank", "row_number"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )

    legacy = ent.legacy_reg_no != ""
    crosswalk = pd.DataFrame(
        {"legacy_reg_no": ent.legacy_reg_no[legacy], "uscc": ent.uscc[legacy]}, dtype="str"
    )
    crosswalk = crosswalk.sort_values("legacy_reg_no", kind="stable").reset_index(drop=True)
    return SimulatedData(crosswalk=crosswalk, defects=defects_frame, **frames)


def _write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    from openpyxl import Workbook

    if len(frame) + 1 > 1_048_576:
        raise ValueError(f"{path.name}: {len(frame)} rows do not fit in one XLSX sheet; write it as CSV")
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=sheet)
    worksheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        worksheet.append([value if value != "" else None for value in row])  # str cells stay text
    workbook.save(path)


def write_files(
    data: SimulatedData,
    out_dir: Path,
    encoding_by_dataset: dict[str, str] | None = None,
    xlsx: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Path]:
    """One department file per dataset (Chinese headers, column order of bizenv.datasets), plus
    crosswalk.csv and defects.csv (UTF-8). Returns dataset -> path of its file."""
    unknown = (set(encoding_by_dataset or {}) | set(xlsx)) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown dataset(s) {sorted(unknown)} (known: {', '.join(DATASETS)})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    encodings = {**DEFAULT_ENCODINGS, **(encoding_by_dataset or {})}
    paths: dict[str, Path] = {}
    for name, headers in CHINESE_HEADERS.items():
        frame = data.dataset(name)[list(headers)].rename(columns=headers)
        if name in xlsx:
            path = out_dir / f"{name}.xlsx"
            _write_xlsx(frame, path, DATASETS[name].department_zh)
        else:
            path = out_dir / f"{name}.csv"
            frame.to_csv(path, index=False, encoding=encodings[name])
        paths[name] = path
    data.crosswalk[list(CROSSWALK_HEADERS)].rename(columns=CROSSWALK_HEADERS).to_csv(
        out_dir / CROSSWALK_FILE, index=False, encoding="utf-8"
    )
    data.defects[DEFECT_COLUMNS].to_csv(out_dir / DEFECTS_FILE, index=False, encoding="utf-8")
    return paths
