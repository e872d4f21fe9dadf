"""Validation with Great Expectations 1.x (called directly, not through an Airflow provider).

Each dataset has one suite in `expectations/<dataset>.json`. GX reports the failing rows of
every expectation through `unexpected_index_list` keyed on `source_row`; critical failures
quarantine their rows, warnings are only recorded.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from bizenv.regions import load_regions
from bizenv.settings import EXPECTATIONS_DIR
from bizenv.standardize import FAILURE_COLUMNS

# GX phones home and prints progress bars unless told not to; neither belongs in a batch job.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

RESULT_COLUMNS = ["rule", "column_name", "severity", "success", "element_count", "unexpected_count"]


@dataclass
class ValidationOutcome:
    failures: pd.DataFrame  # critical row failures: source_row, field, rule, value
    results: pd.DataFrame  # one row per expectation: RESULT_COLUMNS


@cache
def load_suite_document(dataset: str) -> dict:
    path = EXPECTATIONS_DIR / f"{dataset}.json"
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _column_of(kwargs: dict) -> str:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return kwargs["column_A"]
    return "+".join(kwargs.get("column_list", []))


@cache
def _validation_definition(dataset: str):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX pins this module's logger to INFO, which would announce a temp dir on every run.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name=f"{dataset}_source")
    asset = source.add_dataframe_asset(name=dataset)
    batch_definition = asset.add_batch_definition_whole_dataframe(f"{dataset}_batch")
    suite = context.suites.add(gx.ExpectationSuite(**load_suite_document(dataset)))
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{dataset}_validation", data=batch_definition, suite=suite)
    )


def run_suite(dataset: str, rows: pd.DataFrame) -> ValidationOutcome:
    """Validate the standardized `rows` (with a unique `source_row`) against the dataset's suite."""
    if rows.empty:
        empty = pd.DataFrame(columns=FAILURE_COLUMNS)
        return ValidationOutcome(empty, pd.DataFrame(columns=RESULT_COLUMNS))
    definition = _validation_definition(dataset)
    # GX hashes and sizes the whole frame per run; on Arrow-backed strings that costs more than
    # the expectations themselves, on plain object columns it is cheap.
    frame = rows.reset_index(drop=True)
    frame = frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)})
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters={"region_codes": load_regions().codes},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["source_row"]},
    )
    failure_parts: list[pd.DataFrame] = []
    summary: list[dict] = []
    for item in result.results:
        config = item.expectation_config
        rule = config.meta["rule"]
        column = _column_of(config.kwargs)
        severity = str(getattr(config.severity, "value", config.severity))
        if item.exception_info and item.exception_info.get("raised_exception"):
            message = item.exception_info.get("exception_message")
            raise RuntimeError(f"expectation {config.type} on {column} could not run: {message}")
        res = item.result or {}
        unexpected_rows = [entry["source_row"] for entry in res.get("unexpected_index_list") or []]
        summary.append(
            {
                "rule": rule,
                "column_name": column,
                "severity": severity,
                "success": bool(item.success),
                "element_count": int(res.get("element_count") or len(frame)),
                "unexpected_count": len(set(unexpected_rows)),
            }
        )
        if unexpected_rows and severity == "critical":
            values_of = frame.set_index("source_row")
            fields = column.split("+")
            values = values_of.loc[unexpected_rows, fields[0]].astype("string").fillna("")
            failure_parts.append(
                pd.DataFrame(
                    {
                        "source_row": unexpected_rows,
                        "field": fields[0],
                        "rule": rule,
                        "value": values.to_numpy(),
                    }
                )
            )
    failures = (
        pd.concat(failure_parts, ignore_index=True).drop_duplicates()
        if failure_parts
        else pd.DataFrame(columns=FAILURE_COLUMNS)
    )
    return ValidationOutcome(failures, pd.DataFrame(summary, columns=RESULT_COLUMNS))
