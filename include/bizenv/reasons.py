"""Quarantine reasons in Chinese and English, for departments and for engineers."""

from __future__ import annotations

from bizenv.datasets import DATASETS

# the one "failure" of a valid row held back with its rejected batch: a row, not a field
BATCH_REJECTED_RULE = "batch_rejected"

RULES: dict[str, tuple[str, str]] = {
    "required": ("必填项为空", "required value missing"),
    "not_in_allowed_values": ("取值不在规定范围内", "value not in the allowed list"),
    "region_unknown": ("行政区划代码不在本地区范围", "unknown division code"),
    "completion_before_submission": ("办结时间早于申请时间", "completed before it was submitted"),
    "updated_before_issued": ("更新时间早于核准时间", "updated before it was issued"),
    "removal_before_record": ("移出日期早于认定日期", "removed before it was recorded"),
    "out_of_range": ("数值超出合理范围", "value out of range"),
    "conflicting_duplicate": (
        "同一记录同一更新时间出现不同内容",
        "conflicting versions with the same update time",
    ),
    "uscc_format": ("统一社会信用代码格式错误", "USCC has the wrong format"),
    "uscc_check_char": ("统一社会信用代码校验位错误", "USCC check character is wrong"),
    "uscc_org_code": (
        "统一社会信用代码中组织机构代码校验位错误",
        "organisation code inside the USCC fails its check",
    ),
    "uscc_unresolved": (
        "无统一社会信用代码且注册号无法对应",
        "no USCC and the registration number has no crosswalk entry",
    ),
    "resident_id": ("身份证号码无效", "resident ID number is not valid"),
    "excel_mangled": ("代码被Excel转换为科学计数法", "code was turned into scientific notation by Excel"),
    "date_format": ("日期无法识别", "date not readable"),
    "timestamp_format": ("时间无法识别", "timestamp not readable"),
    "amount_format": ("金额无法识别", "amount not readable"),
    "period_format": ("所属期无法识别", "tax period not readable"),
    "unit_code_format": ("不动产单元号格式错误", "real-estate unit code has the wrong format"),
    "legacy_reg_no_format": ("注册号格式错误", "registration number has the wrong format"),
    "industry_code_format": ("行业代码格式错误", "industry code has the wrong format"),
    "nul_byte": ("含有空字符（NUL），数据已损坏", "contains a NUL character: the value is corrupt"),
    "updated_in_future": ("更新时间晚于当前时间", "update time lies in the future"),
    "resident_id_in_field": (
        "此字段不应填写居民身份证号码（已遮蔽）",
        "a resident ID number (masked) in a field that cannot hold one",
    ),
    "resident_id_as_uscc": (
        "此处应为统一社会信用代码，填写的是居民身份证号码",
        "a resident ID number where an enterprise's USCC belongs",
    ),
    BATCH_REJECTED_RULE: (
        "本行无误，但所在批次因错误行过多被整体退回，请随更正后的文件重新报送",
        "row is valid but its batch was rejected for too many bad rows; deliver it again with the corrected file",
    ),
}


def field_header(dataset: str, field: str) -> str:
    """The Chinese header departments know a field by (the field name when it has none)."""
    return next((c.header_zh for c in DATASETS[dataset].columns if c.name == field), field)


def rule_text(rule: str) -> tuple[str, str]:
    """A rule as (Chinese, English) text; an unknown rule is shown by its name."""
    return RULES.get(rule, (rule, rule))


def describe(dataset: str, field: str, rule: str, value: str) -> tuple[str, str]:
    """One failure as (Chinese, English) text: field header, rule and the offending value."""
    zh_rule, en_rule = rule_text(rule)
    if not field:
        return zh_rule, en_rule
    shown = f"「{value}」" if value else ""
    return (
        f"{field_header(dataset, field)}{shown}：{zh_rule}",
        f"{field} {value!r}: {en_rule}" if value else f"{field}: {en_rule}",
    )
