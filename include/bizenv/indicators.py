"""Monthly business-environment indicator snapshots (DESIGN §7).

One snapshot run per `compute`: every indicator of `include/config/indicators.yaml` is computed
by its own SQL file `sql/indicators/<code>.sql` for every configured region and the whole
prefecture (recomputed from rows, never averaged), written as a new immutable version, checked
by the Great Expectations suite `expectations/indicator_snapshot.json` and only then published.
Dashboards read the latest published version of each month through `mart.v_indicator_latest`.

Run statuses: computed -> validated -> published, or computed -> failed. Rows of a run are
never updated; a re-run writes a new version.

This is the single code path behind `bizenv indicators ...` and the `monthly_indicators` DAG.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, Engine

from bizenv import calendar
from bizenv.config_files import ConfigFileError, Text, describe, number_at_least, read_yaml, shown
from bizenv.regions import load_regions
from bizenv.settings import CONFIG_DIR, EXPECTATIONS_DIR
from bizenv.warehouse import bulk_insert, consistent_transaction, query_df, run_sql

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)
log = logging.getLogger(__name__)

DEFAULT_CATALOG_PATH = CONFIG_DIR / "indicators.yaml"
# read at every load, so tests and operators can point at another catalog without a restart
INDICATORS_FILE_ENV = "BIZENV_INDICATORS_FILE"
SUITE_NAME = "indicator_snapshot"
DATASETS = ("registration", "tax_filing", "credit_record", "real_estate_case")
DIRECTIONS = ("higher_is_better", "lower_is_better", "neutral")
TARGET_OPERATORS = ("<=", ">=")
RATIO_UNIT = "ratio"
COUNT_UNIT = "户"
WORKDAY_UNIT = "个工作日"
UNITS = (COUNT_UNIT, WORKDAY_UNIT, "条/户", RATIO_UNIT)
DEFAULT_MINIMUM_SAMPLE = 5
RESULT_COLUMNS = ["region_code", "value", "numerator", "denominator", "sample_size"]
# what the duration indicators return besides (docs/indicators.md, "Durations")
DURATION_COLUMNS = [
    "breakdown",
    "within_limit_share",
    "p90_value",
    "cases_without_time",
    "backlog_open",
    "backlog_oldest_started_at",
]
SHOW_COLUMNS = [
    "month",
    "region_code",
    "indicator_code",
    "name_zh",
    "name_en",
    "unit",
    "value",
    "numerator",
    "denominator",
    "sample_size",
    "target",
    "meets_target",
    "previous_value",
    "last_year_value",
    "breakdown",
    "within_limit_share",
    "policy_limit",
    "p90_value",
    "cases_without_time",
    "backlog_open",
    "backlog_oldest_workdays",
    "version",
    "run_id",
    "computed_at",
]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


class SnapshotInvalid(ValueError):
    """A computed snapshot failed its checks and cannot be published."""


@dataclass(frozen=True)
class IndicatorDef:
    code: str
    name_zh: str
    name_en: str
    unit: str
    direction: str
    target: float | None
    target_operator: str | None
    definition: str
    policy_reference: str | None
    policy_limit: float | None
    breakdown_name: str | None
    datasets: tuple[str, ...]

    @property
    def is_ratio(self) -> bool:
        return self.unit == RATIO_UNIT

    @property
    def is_count(self) -> bool:
        return self.unit == COUNT_UNIT

    @property
    def is_duration(self) -> bool:
        return self.unit == WORKDAY_UNIT

    def meets(self, value: float | None) -> bool | None:
        """Whether `value` meets the target; None without a value or without a target."""
        if value is None or _is_nan(value) or self.target is None or self.target_operator is None:
            return None
        if self.target_operator == "<=":
            return bool(value <= self.target)
        return bool(value >= self.target)


@dataclass
class SnapshotRun:
    run_id: str
    month: str
    version: int
    status: str
    row_count: int


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --------------------------------------------------------------------------------------------
# catalog and months


def catalog_path() -> Path:
    """The catalog in use: $BIZENV_INDICATORS_FILE, else include/config/indicators.yaml."""
    configured = os.environ.get(INDICATORS_FILE_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_CATALOG_PATH


def _identifier(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"must be a lowercase identifier such as new_entities (it names "
                         f"sql/indicators/<code>.sql), got {value!r}")
    return value


def _known_datasets(value: Any) -> Any:
    # one message for the whole list: "datasets[1] must be ..." would hide that it is a list
    if not isinstance(value, list) or not value or any(d not in DATASETS for d in value):
        raise ValueError(f"must be a non-empty list of {', '.join(DATASETS)}, got {shown(value)}")
    repeated = sorted({d for d in value if value.count(d) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return value


class _Indicator(BaseModel):
    """One entry of indicators.yaml. Every key is required, the nullable ones as an explicit
    null, so that a forgotten target is a visible decision rather than a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[Text, AfterValidator(_identifier)]
    name_zh: Text
    name_en: Text
    # is_ratio / is_count / is_duration compare the unit: a misspelt one would silently skip the
    # snapshot suite's [0, 1] check of a ratio or the zero of a count
    unit: Literal[UNITS]
    direction: Literal[DIRECTIONS]
    target: number_at_least(0) | None
    target_operator: Literal[TARGET_OPERATORS] | None
    definition: Text
    policy_reference: Text | None
    policy_limit: number_at_least(0) | None
    breakdown_name: Text | None
    datasets: Annotated[tuple[Literal[DATASETS], ...], BeforeValidator(_known_datasets)]

    @model_validator(mode="after")
    def _consistent(self) -> _Indicator:
        if (self.target is None) != (self.target_operator is None):
            raise ValueError("target and target_operator must both be set or both be null")
        if self.unit == RATIO_UNIT and self.target is not None and self.target > 1:
            raise ValueError(f"target must be at most 1 for unit {RATIO_UNIT} (a share), got {self.target:g}")
        if self.policy_limit is not None and self.unit != WORKDAY_UNIT:
            raise ValueError(f"policy_limit applies to durations (unit {WORKDAY_UNIT}) only; "
                             f"it must be null for unit {self.unit}")
        return self


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum_sample: Annotated[int, Field(strict=True, ge=1)] = DEFAULT_MINIMUM_SAMPLE
    indicators: Annotated[list[_Indicator], Field(min_length=1)]


def _read_catalog(path: Path | str | None) -> tuple[Path, _Catalog]:
    path = Path(path) if path is not None else catalog_path()
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}: expected a mapping with a non-empty list 'indicators'")
    entries = raw.get("indicators")

    def entry_of(loc: tuple[Any, ...]) -> tuple[str, int]:
        if len(loc) >= 2 and loc[0] == "indicators" and isinstance(loc[1], int):
            code = entries[loc[1]].get("code") if isinstance(entries[loc[1]], dict) else None
            number = loc[1] + 1
            return (f"indicator {code!r} (entry {number})" if isinstance(code, str) else f"entry {number}"), 2
        return "", 0

    try:
        catalog = _Catalog.model_validate(raw)
    except ValidationError as error:
        raise ConfigFileError(f"{path}: {describe(error, _Catalog, entry_of)}") from None
    first_entry: dict[str, int] = {}
    for number, indicator in enumerate(catalog.indicators, start=1):
        if indicator.code in first_entry:
            raise ConfigFileError(f"{path}: indicator {indicator.code!r} (entry {number}): duplicate indicator "
                                  f"codes: code {indicator.code!r} is also entry {first_entry[indicator.code]}")
        first_entry[indicator.code] = number
    return path, catalog


def load_minimum_sample(path: Path | str | None = None) -> int:
    """Below this many cases a region's meets_target is null (样本不足); `minimum_sample` in the
    catalog file, default 5. The whole file is checked, as for load_catalog."""
    return _read_catalog(path)[1].minimum_sample


def load_catalog(path: Path | str | None = None) -> list[IndicatorDef]:
    """The indicator catalog (default: catalog_path()), in its file order. An invalid file raises
    ConfigFileError, one line naming the file, the indicator and the field."""
    _, catalog = _read_catalog(path)
    return [IndicatorDef(**indicator.model_dump()) for indicator in catalog.indicators]


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2024-06' -> (2024-06-01, 2024-07-01): the first day and the first day of the next month."""
    match = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise ValueError(f"month must be YYYY-MM (e.g. 2024-06), got {month!r}")
    year, number = int(match.group(1)), int(match.group(2))
    first = dt.date(year, number, 1)
    following = dt.date(year + 1, 1, 1) if number == 12 else dt.date(year, number + 1, 1)
    return first, following


def _shift_month(month: str, months: int) -> str:
    first, _ = month_bounds(month)
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


# --------------------------------------------------------------------------------------------
# reference tables


def _refresh_catalog(conn: Connection, catalog: list[IndicatorDef]) -> None:
    for d in catalog:
        run_sql(
            conn,
            "snapshot/upsert_indicator_catalog.sql",
            {
                "indicator_code": d.code,
                "name_zh": d.name_zh,
                "name_en": d.name_en,
                "unit": d.unit,
                "direction": d.direction,
                "target": d.target,
                "target_operator": d.target_operator,
                "definition": d.definition,
                "policy_reference": d.policy_reference,
                "policy_limit": d.policy_limit,
                "breakdown_name": d.breakdown_name,
            },
        )


def _refresh_office_periods(conn: Connection) -> None:
    periods = calendar.load_office_periods()
    stored = query_df(conn, "snapshot/office_periods.sql")
    wanted = [(i + 1, p.start, p.end) for i, p in enumerate(periods)]
    have = [
        (int(n), s, e) for n, s, e in stored[["period_no", "start_time", "end_time"]].itertuples(index=False)
    ]
    if have == wanted:
        return
    run_sql(conn, "snapshot/delete_extra_office_periods.sql", {"period_count": len(wanted)})
    for number, start, end in wanted:
        run_sql(
            conn,
            "snapshot/upsert_office_period.sql",
            {"period_no": number, "start_time": start.isoformat(), "end_time": end.isoformat()},
        )


def _refresh_work_calendar(conn: Connection, month: str, first_day: dt.date, month_end: dt.date) -> str:
    """Store every day from `first_day` to the month end with its flag and source; returns the
    calendar source of each year used, for the snapshot run."""
    last_day = month_end - dt.timedelta(days=1)
    try:
        days = calendar.working_days_table(first_day, last_day)
        sources = "; ".join(
            f"{year}: {calendar.year_source(year)}" for year in range(first_day.year, last_day.year + 1)
        )
    except calendar.CalendarCoverageError as error:
        raise calendar.CalendarCoverageError(
            f"cannot compute the indicators of {month}: working days from {first_day} to {last_day} "
            f"are needed: {error}"
        ) from error
    stored = query_df(conn, "snapshot/work_calendar_days.sql", {"first_day": first_day, "last_day": last_day})
    have = {pd.Timestamp(d).date(): (bool(w), source) for d, w, source in stored.itertuples(index=False)}
    missing = [day for day in days if day[0] not in have]
    changed = [day for day in days if day[0] in have and have[day[0]] != (day[1], day[2])]
    if missing:
        frame = pd.DataFrame(
            {
                "day": pd.Series([d for d, _, _ in missing], dtype=object),
                "is_working_day": pd.Series([w for _, w, _ in missing], dtype=bool),
                "source": pd.Series([source for _, _, source in missing], dtype=object),
            }
        )
        bulk_insert(conn, "ops.work_calendar", frame)
    for day, working, source in changed:
        run_sql(
            conn, "snapshot/update_work_calendar_day.sql", {"day": day, "is_working_day": working, "source": source}
        )
    return sources


def refresh_reference_tables(conn: Connection, month: str) -> str:
    """Bring the reference tables the snapshot of `month` reads up to date, idempotently:
    mart.indicator_catalog from indicators.yaml, ops.office_period from office_hours.yaml and
    ops.work_calendar for every day a duration of the month needs (from 1 January of the
    previous year, or the earliest start of a case completed in the month if earlier, through
    the month end). Returns the calendar source of each year. Raises
    calendar.CalendarCoverageError when no calendar source covers a year it needs."""
    month_start, month_end = month_bounds(month)
    _refresh_catalog(conn, load_catalog())
    _refresh_office_periods(conn)
    first_day = dt.date(month_start.year - 1, 1, 1)
    earliest = query_df(
        conn, "snapshot/earliest_case_start.sql", {"month_start": month_start, "month_end": month_end}
    )["earliest"].iloc[0]
    if earliest is not None and not pd.isna(earliest):
        first_day = min(first_day, pd.Timestamp(earliest).date())
    return _refresh_work_calendar(conn, month, first_day, month_end)


# --------------------------------------------------------------------------------------------
# compute


def _indicator_rows(conn: Connection, indicator: IndicatorDef, params: dict) -> pd.DataFrame:
    frame = query_df(conn, f"indicators/{indicator.code}.sql", {**params, "policy_limit": indicator.policy_limit})
    extra = [c for c in frame.columns if c not in RESULT_COLUMNS]
    if not set(RESULT_COLUMNS) <= set(frame.columns) or any(c not in DURATION_COLUMNS for c in extra):
        raise RuntimeError(
            f"sql/indicators/{indicator.code}.sql must return {RESULT_COLUMNS} and optionally "
            f"{DURATION_COLUMNS}, got {list(frame.columns)}"
        )
    frame = frame.reindex(columns=[*RESULT_COLUMNS, *DURATION_COLUMNS])
    frame["breakdown"] = frame["breakdown"].fillna("").astype(str)
    frame["region_code"] = frame["region_code"].astype(str)
    duplicated = frame[frame.duplicated(["region_code", "breakdown"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise RuntimeError(
            f"sql/indicators/{indicator.code}.sql returned region {row['region_code']} "
            f"breakdown {row['breakdown']!r} twice"
        )
    return frame


def _reference_values(conn: Connection, month: str) -> dict[tuple[str, str, str], float | None]:
    frame = query_df(conn, "snapshot/latest_values.sql", {"month": month})
    return {
        (str(r), str(i), str(b)): (None if v is None or pd.isna(v) else float(v))
        for r, i, b, v in frame[["region_code", "indicator_code", "breakdown", "value"]].itertuples(index=False)
    }


def _number(value: object) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _whole(value: object) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(value)


def _backlog_age(oldest_start: object, month_end: dt.date) -> float | None:
    """Working days the oldest open case has waited by the month end. Working time only grows
    with an earlier start, so the case that started first is the oldest in working days too."""
    if oldest_start is None or pd.isna(oldest_start):
        return None
    return calendar.working_days_between(pd.Timestamp(oldest_start).to_pydatetime(), dt.datetime.combine(
        month_end, dt.time()))


def _snapshot_rows(
    indicator: IndicatorDef,
    found: pd.DataFrame,
    region_codes: list[str],
    covered: bool,
    minimum_sample: int,
    month_end: dt.date,
) -> list[dict]:
    """One row per region for the indicator's own value (breakdown ''), plus one per region and
    breakdown part the SQL found. A count is a number only when every dataset it reads covers
    the month: then a region the SQL found nothing for is 0 (nothing happened there); otherwise
    it is no data (null), rows or not. Other indicators without rows have no value."""
    rows = []
    by_key = {(r["region_code"], r["breakdown"]): r for r in found.to_dict("records")}
    parts = sorted({b for _, b in by_key if b})
    for region in region_codes:
        for breakdown in ["", *parts]:
            row = by_key.get((region, breakdown))
            if row is None and breakdown:
                continue
            if row is None:
                zero = indicator.is_count and covered
                row = {"value": 0.0 if zero else None, "sample_size": 0}
            value = _number(row.get("value")) if covered or not indicator.is_count else None
            sample_size = _whole(row.get("sample_size")) or 0
            sufficient = sample_size >= minimum_sample
            rows.append(
                {
                    "region_code": region,
                    "breakdown": breakdown,
                    "value": value,
                    "numerator": _number(row.get("numerator")),
                    "denominator": _number(row.get("denominator")),
                    "sample_size": sample_size,
                    "target": indicator.target,
                    "meets_target": indicator.meets(value) if sufficient else None,
                    "within_limit_share": _number(row.get("within_limit_share")),
                    "p90_value": _number(row.get("p90_value")),
                    "cases_without_time": _whole(row.get("cases_without_time")),
                    "backlog_open": _whole(row.get("backlog_open")),
                    "backlog_oldest_workdays": _backlog_age(row.get("backlog_oldest_started_at"), month_end),
                }
            )
    return rows


def compute(engine: Engine, month: str, *, triggered_by: str = "cli") -> SnapshotRun:
    """Compute a new version of the month's snapshot (status 'computed'), in one transaction."""
    month_start, month_end = month_bounds(month)
    month = f"{month_start:%Y-%m}"
    catalog = load_catalog()
    minimum_sample = load_minimum_sample()
    regions = load_regions()
    region_codes = regions.codes
    params = {"month_start": month_start, "month_end": month_end, "prefecture_code": regions.prefecture_code}
    started_at = _utc_now()
    # every indicator of one snapshot reads the same state of core, whatever ingests commit meanwhile
    with consistent_transaction(engine) as conn:
        calendar_source = refresh_reference_tables(conn, month)
        version = int(query_df(conn, "snapshot/next_version.sql", {"month": month})["version"].iloc[0])
        run_id = f"{month}-v{version}"
        previous = _reference_values(conn, _shift_month(month, -1))
        last_year = _reference_values(conn, _shift_month(month, -12))
        stale = set(_stale_datasets(conn, month_start, month_end))
        computed_at = _utc_now()
        records = []
        for indicator in catalog:
            found = _indicator_rows(conn, indicator, params)
            stray = sorted(set(found["region_code"]) - set(region_codes))
            if stray:
                log.warning(
                    "%s: regions %s are not configured; they count in the prefecture only",
                    indicator.code,
                    stray,
                )
            covered = not stale.intersection(indicator.datasets)
            for row in _snapshot_rows(indicator, found, region_codes, covered, minimum_sample, month_end):
                key = (row["region_code"], indicator.code, row["breakdown"])
                records.append(
                    {
                        "run_id": run_id,
                        "version": version,
                        "month": month,
                        "indicator_code": indicator.code,
                        **row,
                        "previous_value": previous.get(key),
                        "last_year_value": last_year.get(key),
                        "computed_at": computed_at,
                    }
                )
        frame = pd.DataFrame.from_records(records)
        for column in ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                       "within_limit_share", "p90_value", "backlog_oldest_workdays"):
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
        for column in ("cases_without_time", "backlog_open"):
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("Int64")
        frame["sample_size"] = frame["sample_size"].astype("int64")
        frame["version"] = frame["version"].astype("int64")
        frame["meets_target"] = frame["meets_target"].astype(object)
        run_sql(
            conn,
            "snapshot/insert_run.sql",
            {
                "run_id": run_id,
                "month": month,
                "version": version,
                "status": "computed",
                "row_count": len(frame),
                "started_at": started_at,
                "finished_at": _utc_now(),
                "calendar_source": calendar_source,
            },
        )
        bulk_insert(conn, "mart.indicator_snapshot", frame)
    log.info("computed snapshot %s (%d rows, triggered by %s)", run_id, len(frame), triggered_by)
    return SnapshotRun(run_id=run_id, month=month, version=version, status="computed", row_count=len(frame))


# --------------------------------------------------------------------------------------------
# validate and publish


def _get_run(conn: Connection, run_id: str) -> SnapshotRun:
    frame = query_df(conn, "snapshot/get_run.sql", {"run_id": run_id})
    if frame.empty:
        raise ValueError(f"no snapshot run {run_id!r}")
    row = frame.iloc[0]
    row_count = row["row_count"]
    return SnapshotRun(
        run_id=str(row["run_id"]),
        month=str(row["month"]),
        version=int(row["version"]),
        status=str(row["status"]),
        row_count=0 if row_count is None or pd.isna(row_count) else int(row_count),
    )


def _set_status(conn: Connection, run: SnapshotRun, status: str, reason: str | None = None) -> None:
    run_sql(
        conn,
        "snapshot/set_run_status.sql",
        {
            "run_id": run.run_id,
            "status": status,
            "from_status": run.status,
            "reason": reason,
            "finished_at": _utc_now(),
        },
    )
    if _get_run(conn, run.run_id).status != status:
        raise RuntimeError(f"snapshot run {run.run_id} changed status concurrently; {status!r} not recorded")


@cache
def load_suite_document() -> dict:
    return json.loads((EXPECTATIONS_DIR / f"{SUITE_NAME}.json").read_text(encoding="utf-8"))


@cache
def _validation_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in batch logs
    source = context.data_sources.add_pandas(name=f"{SUITE_NAME}_source")
    asset = source.add_dataframe_asset(name=SUITE_NAME)
    batch_definition = asset.add_batch_definition_whole_dataframe(f"{SUITE_NAME}_batch")
    suite = context.suites.add(gx.ExpectationSuite(**load_suite_document()))
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{SUITE_NAME}_validation", data=batch_definition, suite=suite)
    )


def _suite_failures(rows: pd.DataFrame, catalog: list[IndicatorDef], region_codes: list[str]) -> list[str]:
    """Run the GX suite over the rows of one run; one message per failure (row-level ones name
    the indicator and region)."""
    units = {d.code: d.unit for d in catalog}
    frame = rows.reset_index(drop=True).copy()
    frame["row_id"] = range(len(frame))
    is_ratio = frame["indicator_code"].map(units).eq(RATIO_UNIT)
    frame["ratio_value"] = frame["value"].where(is_ratio)
    for column in (
        "value",
        "numerator",
        "denominator",
        "ratio_value",
        "target",
        "previous_value",
        "last_year_value",
        "within_limit_share",
        "p90_value",
        "cases_without_time",
        "backlog_open",
        "backlog_oldest_workdays",
    ):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    # GX hashes and sizes the whole frame per run; plain object columns keep that cheap.
    frame = frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)})
    result = _validation_definition().run(
        batch_parameters={"dataframe": frame},
        expectation_parameters={
            # one row per indicator and region, plus the breakdown rows the month has
            "expected_row_count": len(catalog) * len(region_codes) + int(frame["breakdown"].ne("").sum()),
            "region_codes": list(region_codes),
            "indicator_codes": [d.code for d in catalog],
        },
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"]},
    )
    by_id = frame.set_index("row_id")
    messages: list[str] = []
    table_level: list[str] = []
    for item in result.results:
        config = item.expectation_config
        rule = (config.meta or {}).get("rule", config.type)
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"snapshot expectation {config.type} could not run: "
                f"{item.exception_info.get('exception_message')}"
            )
        if item.success:
            continue
        res = item.result or {}
        row_ids = [entry["row_id"] for entry in res.get("unexpected_index_list") or []]
        column = config.kwargs.get("column") or "+".join(config.kwargs.get("column_list", []))
        for row_id in row_ids:
            row = by_id.loc[row_id]
            shown = row[column] if column in by_id.columns else ""
            messages.append(
                f"{rule} failed for indicator {row['indicator_code']} region {row['region_code']}"
                + (f" ({column}={shown})" if column in by_id.columns else "")
            )
        if not row_ids:
            table_level.append(f"{rule} failed (observed {res.get('observed_value')})")
    # GX counts the rows; name the missing region x indicator pairs exactly, before the count.
    overall = frame[frame["breakdown"].eq("")]
    present = set(zip(overall["region_code"].astype(str), overall["indicator_code"].astype(str), strict=True))
    missing = [
        f"missing row for indicator {d.code} region {region}"
        for region in region_codes
        for d in catalog
        if (region, d.code) not in present
    ]
    messages = messages + missing + table_level
    return messages


def validate_snapshot(engine: Engine, run_id: str) -> None:
    """Check a computed run against expectations/indicator_snapshot.json. On success the run
    becomes 'validated'; on failure 'failed' with a one-line reason, and SnapshotInvalid is
    raised naming the run, indicator and region."""
    catalog = load_catalog()
    region_codes = load_regions().codes
    with engine.connect() as conn:
        run = _get_run(conn, run_id)
        rows = query_df(conn, "snapshot/run_rows.sql", {"run_id": run_id})
    if run.status == "validated":
        return
    if run.status != "computed":
        raise ValueError(f"snapshot run {run_id} is {run.status}; only a computed run can be validated")
    messages = _suite_failures(rows, catalog, region_codes)
    with engine.begin() as conn:
        if messages:
            more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
            reason = f"snapshot run {run_id} is invalid: {messages[0]}{more}"
            _set_status(conn, run, "failed", reason)
        else:
            _set_status(conn, run, "validated")
    if messages:
        log.error(reason)
        raise SnapshotInvalid(reason)


def publish(engine: Engine, run_id: str) -> SnapshotRun:
    """Publish a validated run: it becomes the month's latest version in mart.v_indicator_latest."""
    with engine.begin() as conn:
        run = _get_run(conn, run_id)
        if run.status != "validated":
            raise ValueError(
                f"snapshot run {run_id} is {run.status}; only a computed run that passed validation "
                "can be published"
            )
        _set_status(conn, run, "published")
    log.info("published snapshot %s", run_id)
    return SnapshotRun(run.run_id, run.month, run.version, "published", run.row_count)


def compute_snapshot(engine: Engine, month: str, *, triggered_by: str = "cli") -> SnapshotRun:
    """compute -> validate -> publish; the run stays 'failed' (and SnapshotInvalid propagates)
    when the checks fail."""
    run = compute(engine, month, triggered_by=triggered_by)
    validate_snapshot(engine, run.run_id)
    return publish(engine, run.run_id)


# --------------------------------------------------------------------------------------------
# reading


def show(engine: Engine, month: str, region: str | None = None) -> pd.DataFrame:
    """The latest published snapshot of `month` (optionally one region), by region then in
    catalog order; empty when the month has no published snapshot."""
    month_start, _ = month_bounds(month)
    with engine.connect() as conn:
        frame = query_df(conn, "snapshot/latest_month.sql", {"month": f"{month_start:%Y-%m}"})
    if frame.empty:
        return pd.DataFrame(columns=SHOW_COLUMNS)
    if region is not None:
        frame = frame[frame["region_code"] == str(region)]
    order = {d.code: i for i, d in enumerate(load_catalog())}
    frame = frame.assign(_order=frame["indicator_code"].map(order).fillna(len(order)))
    frame = frame.sort_values(["region_code", "_order", "indicator_code", "breakdown"]).drop(columns="_order")
    for column in ("value", "numerator", "denominator", "target", "previous_value", "last_year_value",
                   "within_limit_share", "policy_limit", "p90_value", "backlog_oldest_workdays"):
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in ("cases_without_time", "backlog_open"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    frame["meets_target"] = frame["meets_target"].astype(object).where(frame["meets_target"].notna(), None)
    return frame[SHOW_COLUMNS].reset_index(drop=True)


def _freshness(conn: Connection) -> dict[str, dt.datetime | None]:
    frame = query_df(conn, "snapshot/dataset_freshness.sql")
    latest = {
        str(d): (None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime())
        for d, v in frame.itertuples(index=False)
    }
    return {d: latest.get(d) for d in DATASETS}


def dataset_freshness(engine: Engine, month: str) -> dict[str, dt.datetime | None]:
    """The latest department update time (max updated_at) per core dataset."""
    month_bounds(month)
    with engine.connect() as conn:
        return _freshness(conn)


def _last_working_day(month_start: dt.date, month_end: dt.date) -> dt.date:
    day = month_end - dt.timedelta(days=1)
    while day >= month_start:
        if calendar.is_working_day(day):
            return day
        day -= dt.timedelta(days=1)
    return month_start


def _stale_datasets(conn: Connection, month_start: dt.date, month_end: dt.date) -> list[str]:
    cutoff = dt.datetime.combine(_last_working_day(month_start, month_end), dt.time())
    return [d for d, latest in _freshness(conn).items() if latest is None or latest < cutoff]


def stale_datasets(engine: Engine, month: str) -> list[str]:
    """Datasets that do not yet cover `month`: no rows, or no update on or after the month's
    last statutory working day (departments deliver on working days, so a quiet weekend at the
    month end does not count as missing data)."""
    month_start, month_end = month_bounds(month)
    with engine.connect() as conn:
        return _stale_datasets(conn, month_start, month_end)
