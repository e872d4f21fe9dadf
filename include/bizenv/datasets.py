"""The four department file contracts (docs/architecture.md): column names, Chinese headers, kinds and keys.

One place describes each dataset; reading, standardizing, validating, quarantining and
merging all take their column lists from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bizenv.errors import Refused

Kind = Literal["code", "text", "name", "date", "timestamp", "amount", "period", "enum", "personal_id"]


@dataclass(frozen=True)
class Column:
    name: str
    header_zh: str
    kind: Kind
    required: bool = False
    values: tuple[str, ...] = ()
    # a timestamp that bounds a working-day duration: a value delivered as a date without a time
    # of day leaves the duration unknown, recorded beside it as `<name>_date_only`
    bounds_duration: bool = False
    # a personal-ID column that holds an enterprise's USCC instead when another column says so
    # (column, value): such a value is kept as the USCC and never hashed as a person's
    enterprise_when: tuple[str, str] | None = None

    @property
    def date_only_flag(self) -> str:
        return f"{self.name}_date_only"

    @property
    def hash_column(self) -> str:
        return f"{self.name}_hash"

    @property
    def mask_column(self) -> str:
        return f"{self.name}_masked"


@dataclass(frozen=True)
class Dataset:
    name: str
    department_zh: str
    key: str
    columns: tuple[Column, ...]
    # typed columns kept with a quarantined row besides its key, so that a re-delivery whose key
    # itself was the defect (a registration's USCC) still finds and resolves the row
    quarantine_match: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def duration_bounds(self) -> list[Column]:
        return [c for c in self.columns if c.bounds_duration]

    @property
    def personal_ids(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "personal_id"]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def header_aliases(self) -> dict[str, str]:
        """Every accepted header (Chinese or English) -> column name."""
        aliases = {c.header_zh: c.name for c in self.columns}
        aliases.update({c.name: c.name for c in self.columns})
        return aliases


ENTITY_TYPES = ("企业", "个体工商户", "农民专业合作社")
REGISTRATION_STATUSES = ("存续", "在业", "注销", "吊销", "迁出")
# 业务类型 of a registration application; derived when a department does not send it
# (docs/indicators.md, "Registration events")
EVENT_TYPES = ("设立", "变更", "迁入", "迁出", "注销", "吊销")

REGISTRATION = Dataset(
    name="registration",
    department_zh="市场监管局",
    key="uscc",
    columns=(
        Column("uscc", "统一社会信用代码", "code"),
        Column("legacy_reg_no", "注册号", "code"),
        Column("name", "企业名称", "name", required=True),
        Column("entity_type", "市场主体类型", "enum", required=True, values=ENTITY_TYPES),
        Column("legal_rep_name", "法定代表人", "text"),
        Column("legal_rep_id", "法定代表人证件号码", "personal_id"),
        Column("region_code", "所属区划代码", "code", required=True),
        Column("industry_code", "行业代码", "code"),
        Column("registered_capital", "注册资本(万元)", "amount"),
        Column("established_date", "成立日期", "date", required=True),
        Column("submitted_at", "申请时间", "timestamp", bounds_duration=True),
        Column("issued_at", "核准时间", "timestamp", bounds_duration=True),
        Column("channel", "办理方式", "enum", values=("全程电子化", "窗口")),
        Column("event_type", "业务类型", "enum", values=EVENT_TYPES),
        Column("status", "登记状态", "enum", required=True, values=REGISTRATION_STATUSES),
        Column("status_date", "状态日期", "date"),
        Column("updated_at", "更新时间", "timestamp", required=True),
    ),
    quarantine_match=("name_key", "established_date"),
)

TAX_FILING = Dataset(
    name="tax_filing",
    department_zh="税务局",
    key="filing_id",
    columns=(
        Column("filing_id", "申报流水号", "code", required=True),
        Column("uscc", "纳税人识别号", "code", required=True),
        Column("region_code", "所属区划代码", "code", required=True),
        Column("tax_period", "所属期", "period", required=True),
        Column("filed_at", "申报时间", "timestamp", required=True),
        Column(
            "channel",
            "申报渠道",
            "enum",
            required=True,
            values=("电子税务局", "移动端", "自助终端", "办税服务厅"),
        ),
        Column("tax_amount", "应纳税额(元)", "amount"),
        Column("refund_requested_at", "退税申请时间", "timestamp", bounds_duration=True),
        Column("refund_completed_at", "退税办结时间", "timestamp", bounds_duration=True),
        Column("updated_at", "更新时间", "timestamp", required=True),
    ),
)

CREDIT_RECORD = Dataset(
    name="credit_record",
    department_zh="信用信息共享平台",
    key="record_id",
    columns=(
        Column("record_id", "记录编号", "code", required=True),
        Column("uscc", "统一社会信用代码", "code", required=True),
        Column("region_code", "所属区划代码", "code", required=True),
        Column(
            "record_type",
            "记录类型",
            "enum",
            required=True,
            values=("严重失信主体名单", "履约践诺", "信用修复"),
        ),
        Column("record_date", "认定日期", "date", required=True),
        Column("removal_date", "移出日期", "date"),
        Column("authority", "认定部门", "text"),
        Column("updated_at", "更新时间", "timestamp", required=True),
    ),
)

REAL_ESTATE_CASE = Dataset(
    name="real_estate_case",
    department_zh="不动产登记中心",
    key="case_id",
    columns=(
        Column("case_id", "业务号", "code", required=True),
        Column("unit_code", "不动产单元号", "code", required=True),
        Column("applicant_type", "申请人类型", "enum", required=True, values=("企业", "个人")),
        Column("applicant_id", "申请人证件号", "personal_id", required=True,
               enterprise_when=("applicant_type", "企业")),
        Column("registration_type", "登记类型", "text", required=True),
        Column("region_code", "所属区划代码", "code", required=True),
        Column("submitted_at", "受理时间", "timestamp", required=True, bounds_duration=True),
        Column("completed_at", "办结时间", "timestamp", bounds_duration=True),
        Column("channel", "办理渠道", "enum", values=("线上", "窗口")),
        Column("updated_at", "更新时间", "timestamp", required=True),
    ),
)

DATASETS: dict[str, Dataset] = {
    d.name: d for d in (REGISTRATION, TAX_FILING, CREDIT_RECORD, REAL_ESTATE_CASE)
}
# the fields that may hold a resident ID in full: stored only as keyed hash and mask
PERSONAL_ID_COLUMNS = frozenset(c.name for d in DATASETS.values() for c in d.columns if c.kind == "personal_id")


class UnknownDatasetError(Refused, ValueError):
    """No dataset contract of that name."""


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise UnknownDatasetError(f"unknown dataset {name!r} (known: {known})") from None
