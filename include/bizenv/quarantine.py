"""Reading quarantined rows back: `bizenv quarantine list`, the monthly summary and the
feedback files (数据异议/纠错反馈) that go back to each department; and the entities whose exit
the warehouse can date by the department's 更新时间 alone (`bizenv quarantine list --rule
exit_without_date`, docs/indicators.md, "Month-end entity state"), which loaded but wait for the
department to supply their 状态日期.

A quarantined row stays open until a later batch delivers the same record key as a valid row
(sql/merge/*/resolve_quarantine.sql sets resolved_at and resolved_by_batch). quarantined_at and
resolved_at are stored as naive UTC; months here are Asia/Shanghai months.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from bizenv.datasets import DATASETS, Dataset, UnknownDatasetError, get_dataset
from bizenv.errors import Refused
from bizenv.reasons import RULES, field_header
from bizenv.timeutil import LOCAL_TIMEZONE, month_bounds_utc
from bizenv.warehouse import query_df

LIST_COLUMNS = [
    "dataset",
    "batch_id",
    "file_name",
    "source_row",
    "record_key",
    "region_code",
    "reason_zh",
    "reason_en",
    "failures",
    "record",
    "quarantined_at",
    "status",
    "resolved_at",
    "resolved_by_batch",
    "resolved_by_file",
]
SUMMARY_COLUMNS = ["dataset", "department", "open", "resolved", "total"]

# not a rule a row fails on ingest: the exit loads, and core.v_exit_without_date lists it
EXIT_WITHOUT_DATE_RULE = "exit_without_date"
EXIT_WITHOUT_DATE_COLUMNS = [
    "uscc",
    "name",
    "region_code",
    "entity_type",
    "status",
    "established_date",
    "dated_by_updated_at",
    "updated_at",
    "batch_id",
]

# The feedback file: where the row came from and what is wrong with it, then the row as the
# department delivered it under the dataset's own Chinese headers.
FEEDBACK_BATCH = "批次号"
FEEDBACK_FILE = "文件名"
FEEDBACK_ROW = "行号"
FEEDBACK_KEY = "记录键"
FEEDBACK_REASON = "问题说明"
FEEDBACK_FIELDS = "问题字段"
FEEDBACK_RULES = "校验规则"
FEEDBACK_FOUND = "发现时间"
REGION_HEADER = "所属区划代码"
FEEDBACK_LEADING = [FEEDBACK_BATCH, FEEDBACK_FILE, FEEDBACK_ROW, FEEDBACK_KEY, REGION_HEADER, FEEDBACK_REASON,
                    FEEDBACK_FIELDS, FEEDBACK_RULES, FEEDBACK_FOUND]


def _bounds(month: str | None) -> dict[str, dt.datetime | None]:
    start, end = month_bounds_utc(month) if month else (None, None)
    return {"quarantined_from": start, "quarantined_to": end}


class UnknownRuleError(Refused):
    """A --rule that is neither a validation rule (bizenv.reasons.RULES) nor exit_without_date."""


def check_rule(rule: str) -> str:
    """`rule` when `bizenv quarantine list --rule` knows it, else one line naming the known ones."""
    if rule in RULES or rule == EXIT_WITHOUT_DATE_RULE:
        return rule
    known = ", ".join([*RULES, EXIT_WITHOUT_DATE_RULE])
    raise UnknownRuleError(f"unknown rule {rule!r} (known: {known})")


def _failed(failures: str, rule: str) -> bool:
    return any(failure.get("rule") == rule for failure in json.loads(failures or "[]"))


def list_quarantine(
    engine: Engine,
    dataset: str | None = None,
    *,
    include_resolved: bool = False,
    month: str | None = None,
    rule: str | None = None,
) -> pd.DataFrame:
    """Quarantined rows, open ones only unless `include_resolved`; `status` is open/resolved and
    a resolved row names the batch (and file) whose corrected delivery resolved it. `month`
    ('YYYY-MM', Asia/Shanghai) keeps rows quarantined in that month, `rule` (a validation rule of
    bizenv.reasons.RULES) the rows that failed it."""
    if rule is not None and check_rule(rule) == EXIT_WITHOUT_DATE_RULE:
        raise UnknownRuleError(f"rule {rule!r} quarantines no rows: its entities come from list_exits_without_date")
    params = {
        "dataset": get_dataset(dataset).name if dataset else None,
        "include_resolved": include_resolved,
        **_bounds(month),
    }
    with engine.connect() as conn:
        frame = query_df(conn, "quarantine/list_rejected_rows.sql", params)
    if rule is not None and not frame.empty:
        frame = frame[[_failed(failures, rule) for failures in frame["failures"]]]
    if frame.empty:
        return pd.DataFrame(columns=LIST_COLUMNS)
    return frame[LIST_COLUMNS].reset_index(drop=True)


def list_exits_without_date(engine: Engine) -> pd.DataFrame:
    """The exits (注销/吊销/迁出) dated by the department's 更新时间 alone, one row per exit by unit:
    no 状态日期 and no 核准时间 or 申请时间 of an application of that exit (core.v_exit_without_date).
    Loaded and counted at that date until the department supplies the 状态日期. No personal data."""
    with engine.connect() as conn:
        frame = query_df(conn, "quarantine/list_exit_without_date.sql")
    if frame.empty:
        return pd.DataFrame(columns=EXIT_WITHOUT_DATE_COLUMNS)
    return frame[EXIT_WITHOUT_DATE_COLUMNS]


def exits_without_date_line(frame: pd.DataFrame) -> str:
    """The count line of `bizenv quarantine list --rule exit_without_date`: how many entities,
    and how many in each unit, e.g. `2 entities exit without 状态日期; dated by 更新时间: 152921 1,
    152922 1`."""
    entities = frame.drop_duplicates("uscc")
    count = len(entities)
    if count == 0:
        return "0 entities exit without 状态日期; none dated by 更新时间"
    per_unit = entities.groupby("region_code", sort=True)["uscc"].count()
    units = ", ".join(f"{region} {int(n)}" for region, n in per_unit.items())
    subject = "1 entity exits" if count == 1 else f"{count} entities exit"
    return f"{subject} without 状态日期; dated by 更新时间: {units}"


def quarantine_summary(engine: Engine, month: str | None = None) -> pd.DataFrame:
    """Per dataset (all four, zeros included): rows still open and rows resolved by a corrected
    re-delivery, optionally only those quarantined in `month` ('YYYY-MM', Asia/Shanghai)."""
    with engine.connect() as conn:
        counts = query_df(conn, "quarantine/summary.sql", _bounds(month)).set_index("dataset")
    frame = pd.DataFrame({"dataset": list(DATASETS)})
    frame["department"] = [DATASETS[name].department_zh for name in DATASETS]
    for column, source in (("open", "open_rows"), ("resolved", "resolved_rows")):
        frame[column] = [int(counts[source].get(name, 0) or 0) for name in DATASETS]
    frame["total"] = frame["open"] + frame["resolved"]
    return frame[SUMMARY_COLUMNS]


def feedback_datasets(department_or_dataset: str) -> list[Dataset]:
    """A dataset name (registration) or a department (市场监管局) -> the datasets it delivers."""
    wanted = (department_or_dataset or "").strip()
    if wanted in DATASETS:
        return [DATASETS[wanted]]
    matches = [d for d in DATASETS.values() if d.department_zh == wanted]
    if not matches:
        known = ", ".join(f"{d.department_zh} ({d.name})" for d in DATASETS.values())
        raise UnknownDatasetError(f"unknown department or dataset {department_or_dataset!r} (known: {known})")
    return matches


def feedback_frame(dataset: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """Open quarantined rows of one dataset (from `list_quarantine`) as the department sees them.

    Headers are unique and the delivered values stand under the dataset's own Chinese headers,
    so a department can correct the values in this very file and send it back as a delivery
    (extra columns are ignored on ingest). Personal ID numbers stay masked: they must be
    re-entered. The same row quarantined again by a re-run of an uncorrected file is listed
    once, from its latest batch."""
    headers = [c.header_zh for c in dataset.columns]
    columns = [*FEEDBACK_LEADING, *(h for h in headers if h != REGION_HEADER)]
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    rows = (
        rows.sort_values(["quarantined_at", "batch_id", "source_row"], kind="stable")
        .drop_duplicates(["record", "failures"], keep="last")
        .sort_values(["quarantined_at", "batch_id", "source_row"], kind="stable")
    )
    records = [json.loads(r) for r in rows["record"]]
    failures = [json.loads(f) for f in rows["failures"]]
    out = pd.DataFrame(
        {
            FEEDBACK_BATCH: rows["batch_id"].to_numpy(),
            FEEDBACK_FILE: rows["file_name"].fillna("").to_numpy(),
            FEEDBACK_ROW: rows["source_row"].astype("int64").to_numpy(),
            FEEDBACK_KEY: rows["record_key"].fillna("").to_numpy(),
            FEEDBACK_REASON: rows["reason_zh"].to_numpy(),
            FEEDBACK_FIELDS: [
                "、".join(dict.fromkeys(field_header(dataset.name, f["field"]) for f in items))
                for items in failures
            ],
            FEEDBACK_RULES: [", ".join(dict.fromkeys(f["rule"] for f in items)) for items in failures],
            FEEDBACK_FOUND: [
                pd.Timestamp(t).tz_localize("UTC").tz_convert(LOCAL_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")
                for t in rows["quarantined_at"]
            ],
        }
    )
    for column in dataset.columns:
        out[column.header_zh] = [_text(record.get(column.name)) for record in records]
    return out[columns].reset_index(drop=True)


def _text(value: object) -> str:
    return "" if value is None else str(value)


# A cell a spreadsheet would evaluate: a formula (=, and + - @ which Excel turns into one) or a
# value whose leading tab or carriage return hides such a start (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: object) -> object:
    """A delivered value as a feedback file may hold it: text that a spreadsheet would run as a
    formula (=HYPERLINK(...), =cmd|' /C calc'!A0) gets a leading single quote, so it is shown and
    not evaluated; characters XLSX cannot hold (control characters) are dropped."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    """Every cell as text with the text number format, so Excel cannot turn codes into 9.1E+17."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet[:31]
    worksheet.append(list(frame.columns))
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    for values in frame.itertuples(index=False, name=None):
        worksheet.append([neutralised(str(v)) if v is not None else "" for v in values])
    for column_cells in worksheet.iter_cols(min_row=1, max_row=worksheet.max_row):
        for cell in column_cells:
            cell.number_format = "@"
            if cell.data_type == "f":  # nothing in a feedback file is a formula, whatever it starts with
                cell.data_type = "s"
        width = max(len(str(c.value or "")) for c in column_cells)
        worksheet.column_dimensions[column_cells[0].column_letter].width = min(max(8, width * 2 + 2), 60)
    worksheet.freeze_panes = "A2"
    workbook.save(path)


def export_feedback(engine: Engine, department_or_dataset: str, month: str, out_dir: Path) -> list[Path]:
    """Write the feedback files (数据异议/纠错反馈) for one department or dataset and month.

    CLI: `bizenv quarantine export --department 市场监管局|--dataset registration
    --month YYYY-MM --out DIR`.

    For each dataset the department delivers, the rows still open in quarantine that were
    quarantined in `month` (Asia/Shanghai) go to `反馈_<部门>_<dataset>_<YYYY-MM>.csv`
    (GB18030) and `.xlsx` in `out_dir`: 批次号, 文件名, 行号 (row in the delivered file, header
    = row 1), 记录键, 所属区划代码, 问题说明 (the Chinese reasons), 问题字段, 校验规则, 发现时间,
    then the delivered values under their Chinese headers with personal ID numbers masked.
    Both files are always written, empty when nothing is open, so an earlier export of the same
    month is replaced once every row has been corrected. Returns the paths written (csv, xlsx
    per dataset).
    """
    datasets = feedback_datasets(department_or_dataset)
    month_bounds_utc(month)  # validates before anything is written
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for dataset in datasets:
        frame = feedback_frame(dataset, list_quarantine(engine, dataset.name, month=month)).map(neutralised)
        stem = f"反馈_{dataset.department_zh}_{dataset.name}_{month}"
        csv_path = out_dir / f"{stem}.csv"
        frame.to_csv(csv_path, index=False, encoding="gb18030")
        xlsx_path = out_dir / f"{stem}.xlsx"
        _write_xlsx(frame, xlsx_path, f"{dataset.department_zh}{month}")
        written += [csv_path, xlsx_path]
    return written
