"""Validation with Great Expectations 1.x (called directly, not through an Airflow provider).

Each dataset has one suite in `expectations/<dataset>.json`. GX reports the failing rows of
every expectation through `unexpected_index_list` keyed on `source_row`; critical failures
quarantine their rows, warnings are only recorded.

A run is two GX passes over the same batch so that clean data pays only for counting:
every expectation first runs with result_format BOOLEAN_ONLY (pass/fail only), then the
expectations that failed run again with COMPLETE, whose `unexpected_index_list` names their
rows (the frame is indexed by `source_row`). GX sees only the columns the suite uses, in dtypes it handles without
per-value Python (see `_gx_frame`). `build_data_docs` renders a run as GX Data Docs that
open without network access: the scripts, styles and fonts GX's pages take from public CDNs are
served from copies in `include/bizenv/static/vendor` (provenance and licences in its README.md).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bizenv.codes import mask_resident_ids
from bizenv.datasets import get_dataset
from bizenv.errors import Refused
from bizenv.regions import load_regions
from bizenv.settings import EXPECTATIONS_DIR
from bizenv.standardize import FAILURE_COLUMNS

# GX phones home and prints progress bars unless told not to; neither belongs in a batch job.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

RESULT_COLUMNS = ["rule", "column_name", "severity", "success", "element_count", "unexpected_count"]
ROW_ID = "source_row"


@dataclass
class ValidationOutcome:
    failures: pd.DataFrame  # critical row failures: source_row, field, rule, value
    results: pd.DataFrame  # one row per expectation: RESULT_COLUMNS
    gx_result: Any = None  # the GX ExpectationSuiteValidationResult (for Data Docs)


@cache
def load_suite_document(dataset: str) -> dict:
    path = EXPECTATIONS_DIR / f"{dataset}.json"
    return json.loads(Path(path).read_text(encoding="utf-8"))


def suite_columns(dataset: str) -> list[str]:
    """The columns the dataset's suite reads, in suite order."""
    columns: list[str] = []
    for expectation in load_suite_document(dataset)["expectations"]:
        kwargs = expectation["kwargs"]
        names = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
        for name in [*names, *kwargs.get("column_list", [])]:
            if name and name not in columns:
                columns.append(name)
    return columns


def suite_parameters(dataset: str) -> dict[str, list[str]]:
    """What a dataset's suite takes from outside its file: the configured region codes and, as
    `<column>_values`, each enum column's allowed values from its contract in datasets.py, so
    that the suite holds no second copy of them."""
    contract = get_dataset(dataset)
    allowed = {f"{c.name}_values": list(c.values) for c in contract.columns if c.values}
    return {"region_codes": load_regions().codes, **allowed}


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


@cache
def _set_columns(dataset: str) -> frozenset[str]:
    return frozenset(
        e["kwargs"]["column"]
        for e in load_suite_document(dataset)["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set"
    )


def _gx_frame(dataset: str, rows: pd.DataFrame) -> pd.DataFrame:
    """What GX gets: the suite's columns (a missing one stays missing, so GX reports it),
    indexed by `source_row`. GX fingerprints, filters and compares these per expectation, so their dtype
    decides its cost: text checked against a value set becomes a categorical (few distinct
    values: cheap to hash and `isin`), other text stays Arrow-backed, and nullable floats become
    float64 (NaN is missing to GX too) so range checks are vectorised instead of per value."""
    wanted = [c for c in suite_columns(dataset) if c in rows.columns and c != ROW_ID]
    # `source_row` as the (unnamed) index: GX then reports failing rows as plain index values;
    # `unexpected_index_column_names` would build one dict per failing row with `.at` lookups
    frame = rows[wanted].set_axis(pd.Index(rows[ROW_ID].to_numpy(), name=None), axis=0)
    # GX keeps failing values in its results: a personal-ID field reaches it masked (its rules
    # only ask whether a value is there, which the mask tells as well)
    personal = [c.name for c in get_dataset(dataset).columns if c.kind == "personal_id" and c.name in frame.columns]
    if personal:
        frame = frame.assign(**{c: pd.Series(pd.arrays.ArrowExtensionArray(mask_resident_ids(frame[c])),
                                             index=frame.index).astype(pd.StringDtype("pyarrow"))
                                for c in personal})
    frame = _dated_ends_by_day(dataset, rows, frame)
    in_set = _set_columns(dataset)
    conversions: dict[str, str] = {}
    for column in frame.columns:
        dtype = frame[column].dtype
        if column in in_set and (isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)):
            conversions[column] = "category"
        elif isinstance(dtype, pd.Float64Dtype | pd.Float32Dtype):
            conversions[column] = "float64"
    return frame.astype(conversions) if conversions else frame


def _dated_ends_by_day(dataset: str, rows: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """A duration's end delivered as a date without a time of day is some time on that day: it
    reads as midnight, which would fail the order check against a start later that same day.
    For the checks it stands at the start's time then, so such a pair is compared by day."""
    bounds = get_dataset(dataset).duration_bounds
    if len(bounds) != 2:
        return frame
    start, end = (column.name for column in bounds)
    flag = end + "_date_only"
    if not {start, end, flag} <= set(rows.columns) or end not in frame.columns:
        return frame
    starts = rows[start].to_numpy(dtype="datetime64[us]")
    ends = rows[end].to_numpy(dtype="datetime64[us]")
    same_day = starts.astype("datetime64[D]") == ends.astype("datetime64[D]")
    later_start = rows[flag].to_numpy(dtype=bool) & same_day & (starts > ends)
    if not later_start.any():
        return frame
    return frame.assign(**{end: np.where(later_start, starts, ends)})


def _severity(config) -> str:
    return str(getattr(config.severity, "value", config.severity))


def _raise_if_broken(item) -> None:
    if item.exception_info and item.exception_info.get("raised_exception"):
        config = item.expectation_config
        message = item.exception_info.get("exception_message")
        raise RuntimeError(f"expectation {config.type} on {_column_of(config.kwargs)} could not run: {message}")


def _detail_failing(definition, frame: pd.DataFrame, failing: list, parameters: dict) -> dict[str, Any]:
    """Second pass: the failing expectations with their rows (COMPLETE), by expectation id."""
    import great_expectations as gx

    wanted = {item.expectation_config.id for item in failing}
    originals = [e for e in definition.suite.expectations if e.id in wanted]
    suite = gx.ExpectationSuite(name=f"{definition.suite.name}_failing", expectations=[copy.copy(e) for e in originals])
    # the validator ValidationDefinition.run uses, without storing a result: one batch load
    # (Batch.validate would load and fingerprint the frame twice)
    from great_expectations.validator.v1_validator import Validator

    detailed = Validator(
        batch_definition=definition.batch_definition,
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "return_unexpected_index_query": False},
    ).validate_expectation_suite(suite, parameters)
    # the copies have no ids; match them back on what they check
    id_of = {_identity(e.configuration): e.id for e in originals}
    by_id = {}
    for item in detailed.results:
        _raise_if_broken(item)
        by_id[id_of[_identity(item.expectation_config)]] = item
    return by_id


def _identity(config) -> tuple:
    # not the kwargs themselves: GX resolves $PARAMETER values into the result's copy
    return (config.type, _column_of(config.kwargs), json.dumps(config.meta, sort_keys=True, default=str))


def run_suite(dataset: str, rows: pd.DataFrame, *, docs_dir: Path | None = None) -> ValidationOutcome:
    """Validate the standardized `rows` (with a unique `source_row`) against the dataset's suite.

    With `docs_dir`, the run is also rendered as GX Data Docs there (see `build_data_docs`)."""
    if rows.empty:
        empty = pd.DataFrame(columns=FAILURE_COLUMNS)
        return ValidationOutcome(empty, pd.DataFrame(columns=RESULT_COLUMNS))
    definition = _validation_definition(dataset)
    frame = _gx_frame(dataset, rows)
    parameters = suite_parameters(dataset)
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=parameters,
        result_format={"result_format": "BOOLEAN_ONLY"},
    )
    _forget_stored_results(definition)
    for item in result.results:
        _raise_if_broken(item)
    # `mostly` lets an expectation succeed with bad rows, so those always get the second pass
    failing = [i for i in result.results if not i.success or "mostly" in i.expectation_config.kwargs]
    detailed = _detail_failing(definition, frame, failing, parameters) if failing else {}
    result.results = [detailed.get(i.expectation_config.id, i) for i in result.results]

    failure_parts: list[pd.DataFrame] = []
    summary: list[dict] = []
    for item in result.results:
        config = item.expectation_config
        rule = config.meta["rule"]
        column = _column_of(config.kwargs)
        severity = _severity(config)
        res = item.result or {}
        unexpected_rows = [int(row) for row in res.get("unexpected_index_list") or []]
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
            field = column.split("+")[0]
            values = frame.loc[unexpected_rows, field].astype("string").fillna("")
            failure_parts.append(
                pd.DataFrame({ROW_ID: unexpected_rows, "field": field, "rule": rule, "value": values.to_numpy()})
            )
    failures = (
        pd.concat(failure_parts, ignore_index=True).drop_duplicates()
        if failure_parts
        else pd.DataFrame(columns=FAILURE_COLUMNS)
    )
    outcome = ValidationOutcome(failures, pd.DataFrame(summary, columns=RESULT_COLUMNS), result)
    if docs_dir is not None:
        publish_data_docs(dataset, result, outcome.results, docs_dir)
    return outcome


def key_uniqueness_rule(dataset: str) -> tuple[str, list[str]]:
    """The suite's rule that no two rows of a batch share a key: (rule, key columns)."""
    for expectation in load_suite_document(dataset)["expectations"]:
        if expectation["type"] == "expect_compound_columns_to_be_unique":
            return expectation["meta"]["rule"], list(expectation["kwargs"]["column_list"])
    raise ValueError(f"expectations/{dataset}.json has no expect_compound_columns_to_be_unique")


def combined_results(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One result per expectation for a batch validated in chunks (each part: RESULT_COLUMNS in
    suite order, as `run_suite` gives them): counts added up, a success only where every chunk
    succeeded. (No suite uses `mostly`, whose success a sum could not decide.)"""
    parts = [p.reset_index(drop=True) for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    stacked = pd.concat(parts, keys=range(len(parts)), names=["chunk", "position"]).reset_index("position")
    combined = stacked.groupby("position", sort=True).agg(
        rule=("rule", "first"), column_name=("column_name", "first"), severity=("severity", "first"),
        success=("success", "all"), element_count=("element_count", "sum"),
        unexpected_count=("unexpected_count", "sum"))
    return combined.reset_index(drop=True)[RESULT_COLUMNS]


def publish_data_docs(dataset: str, gx_result: Any, results: pd.DataFrame, docs_dir: Path) -> None:
    """Render a batch's validation as Data Docs with the batch's counts (`results`: one row per
    expectation, as `combined_results` gives for a batch validated in chunks) on the GX result
    of one of its chunks. The docs report on the batch: a disk that refuses them, or a GX page
    that would load from the internet, is logged and does not fail the batch."""
    if gx_result is None:
        return
    if len(results) != len(gx_result.results):
        raise ValueError(f"{dataset}: {len(results)} results for {len(gx_result.results)} expectations")
    for item, total in zip(gx_result.results, results.to_dict(orient="records"), strict=True):
        elements, unexpected = int(total["element_count"]), int(total["unexpected_count"])
        item.success = bool(total["success"])
        item.result = {**(item.result or {}), "element_count": elements, "unexpected_count": unexpected,
                       "unexpected_percent": 100.0 * unexpected / elements if elements else 0.0}
    evaluated = len(gx_result.results)
    passed = sum(bool(item.success) for item in gx_result.results)
    gx_result.success = passed == evaluated
    gx_result.statistics = {**(gx_result.statistics or {}), "evaluated_expectations": evaluated,
                            "successful_expectations": passed, "unsuccessful_expectations": evaluated - passed,
                            "success_percent": 100.0 * passed / evaluated if evaluated else None}
    try:
        build_data_docs(dataset, gx_result, docs_dir)
    except OSError as error:
        logging.getLogger(__name__).warning(
            "%s: Data Docs not written to %s: %s: %s", dataset, docs_dir,
            error.filename or type(error).__name__, error.strerror or error)
    except Refused as error:  # a page GX wrote that would load from the internet (an upgrade): the
        # batch is fine, the docs are not; the browser tests fail on it before a release
        logging.getLogger(__name__).warning("%s: Data Docs in %s not usable offline: %s", dataset, docs_dir, error)


@dataclass(frozen=True)
class FailedExpectation:
    rule: str  # the expectation's meta.rule, else its type
    column: str  # "" for a table-level expectation, "a+b" for a compound one
    rows: list  # the `row_id` values of the failing rows; empty for a table-level failure
    observed: Any  # GX's observed value (a table-level expectation's count)


def failed_expectations(suite: str, frame: pd.DataFrame, parameters: dict[str, Any], *,
                        row_id: str) -> list[FailedExpectation]:
    """Run `expectations/<suite>.json` over `frame` in one COMPLETE pass and return what failed,
    naming failing rows by the values of its column `row_id`. For small frames (one indicator
    snapshot); a department batch goes through `run_suite`. An expectation that cannot run at
    all raises RuntimeError."""
    definition = _validation_definition(suite)
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=parameters,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [row_id]},
    )
    _forget_stored_results(definition)
    failed = []
    for item in result.results:
        _raise_if_broken(item)
        if item.success:
            continue
        config = item.expectation_config
        res = item.result or {}
        failed.append(FailedExpectation(
            rule=(config.meta or {}).get("rule", config.type),
            column=_column_of(config.kwargs),
            rows=[entry[row_id] for entry in res.get("unexpected_index_list") or []],
            observed=res.get("observed_value"),
        ))
    return failed


def _forget_stored_results(definition) -> None:
    """ValidationDefinition.run keeps every result in the (in-memory) results store; a worker
    that validates many batches would grow without bound."""
    store = _context_of(definition).validation_results_store
    for key in store.list_keys():
        store.remove_key(key)


def _context_of(definition):
    return definition.batch_definition.data_asset.datasource.data_context


@cache
def _docs_site(dataset: str, docs_dir: Path) -> tuple[str, str]:
    """A filesystem Data Docs site in `docs_dir` and, under `docs_dir/.results`, the store of
    the validation results it renders (the site index lists every run kept there, so runs of
    earlier batches and processes stay listed). Returns (site name, results store name)."""
    context = _context_of(_validation_definition(dataset))
    number = len(context.list_data_docs_sites())
    store_name, site_name = f"bizenv_docs_results_{number}", f"bizenv_docs_{number}"
    results_backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir / ".results")}
    context.add_store(store_name, {"class_name": "ValidationResultsStore", "store_backend": results_backend})
    context.add_data_docs_site(
        site_name,
        {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            # the "how to" footer and walkthrough only link to GX's website
            "show_how_to_buttons": False,
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "site_section_builders": {"validations": {"source_store_name": store_name}, "profiling": "None"},
        },
    )
    return site_name, store_name


def build_data_docs(dataset: str, outcome_or_result, docs_dir: Path) -> Path:
    """Render one validation run (a ValidationOutcome or a GX suite result) as GX Data Docs in
    `docs_dir`: a local filesystem site with index.html, the suite's page and one page per run
    (earlier runs stay). The run's result is kept as JSON under `docs_dir/.results`. Only this
    run's page and the index are rendered, so the cost does not grow with the site. The pages
    load everything from the site itself (see `_localise_site`): a page GX writes with an external
    reference this module does not know raises Refused naming it. Returns the index.html path."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    result = getattr(outcome_or_result, "gx_result", outcome_or_result)
    if result is None:
        raise ValueError("no GX result to render (an empty batch is not validated)")
    docs_dir = Path(docs_dir).resolve()
    docs_dir.mkdir(parents=True, exist_ok=True)
    context = _context_of(_validation_definition(dataset))
    site_name, store_name = _docs_site(dataset, docs_dir)
    before = _page_stamps(docs_dir)
    suite_id = ExpectationSuiteIdentifier(name=result.suite_name)
    result_id = ValidationResultIdentifier(suite_id, result.meta["run_id"], dataset)
    kept = [item.result for item in result.results]
    try:
        for item in result.results:
            item.result = _counts_only(item.result)
        context.stores[store_name].set(result_id, result)
        context.build_data_docs(site_names=[site_name], resource_identifiers=[result_id, suite_id])
    finally:
        for item, original in zip(result.results, kept, strict=True):
            item.result = original
    _localise_site(docs_dir, before)
    return docs_dir / "index.html"


# Data Docs offline. GX's page templates load bootstrap, jquery, vega, font-awesome and more from
# public CDNs and its logo from S3; an intranet browser cannot reach them and shows the pages
# unstyled. Each URL GX 1.24.1 writes maps to the same file, taken from the library's npm package,
# under include/bizenv/static/vendor/<library>/<version>/ (copied into the site's static/vendor).
# `integrity` attributes are checked against the copy here and then dropped with `crossorigin`:
# from a file:// page (origin null) Chromium blocks a crossorigin request, and the script with it.
VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
_SITE_VENDOR = "static/vendor"
_GX_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
VENDORED_URLS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/4.3.1/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/4.3.1/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/1.12.9/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/1.19.1/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # the index asks for the minified, the other pages for the plain build of the same stylesheet
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/1.19.0/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/1.19.0/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark/1.1.0/css/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "fontawesome-free/6.6.0/css/all.min.css",
    # jsDelivr serves the newest release of the major version; these are the releases vendored
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/6.29.0/vega-embed.min.js",
}
# GX's own images: the logo is in the static files GX copies into every site; the dark-mode logo
# is not, so dark mode shows the same logo
_GX_IMAGES = {_GX_ASSETS + "logo-long.png": "logo-long.png", _GX_ASSETS + "full_logo_dark.png": "logo-long.png"}
# links to GX's website (the footer and sidebar): kept as text, not as links off the intranet
_UNLINKED_URLS = frozenset({
    "https://greatexpectations.io",
    "https://greatexpectations.io/newsletter?utm_source=datadocs&utm_medium=product&utm_campaign=newsletter"
    "&utm_content=form",
})
# GX's newsletter footer: an invitation to a website the intranet cannot reach
_NEWSLETTER = re.compile(r"<footer>\s*<p>Stay current on everything GX with our newsletter\s*<a\b[^>]*>Subscribe</a>"
                         r"</p>\s*</footer>")
_URL = re.compile(r"""(?:https?:)?//[^\s"'()<>]+""", re.IGNORECASE)
_CACHE_BUSTER = re.compile(r"\?d=[0-9TZ.]+$")  # GX's add_data_context_id_to_url
# any http(s) URL, and protocol-relative ones where a page or stylesheet loads something
_EXTERNAL = re.compile(
    r"""(https?:[^\s"'()<>]*)|(?:\b(?:src|href|srcset|action|formaction|poster|data|background)\s*=\s*["']?\s*"""
    r"""|url\(\s*["']?\s*|@import\s+["']?)(//[^\s"'()<>]*)""",
    re.IGNORECASE,
)
_UNLINK = re.compile(r"""\s+href\s*=\s*(["'])((?:https?:)?//[^"']*)\1""", re.IGNORECASE)
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_INTEGRITY = re.compile(r"""\s+integrity\s*=\s*(["'])([^"']*)\1""", re.IGNORECASE)
_CROSSORIGIN = re.compile(r"""\s+crossorigin(?:\s*=\s*(["'])[^"']*\1)?""", re.IGNORECASE)
_STATIC_REF = re.compile(r"""(\b(?:src|href)\s*=\s*["'])(?:\.\.?/)*static/""", re.IGNORECASE)


def _page_stamps(docs_dir: Path) -> dict[Path, tuple[int, int]]:
    """(mtime, size) of the site's pages and stylesheets, to tell which ones a build wrote."""
    stamps = {}
    for path in docs_dir.rglob("*"):
        if path.suffix in (".html", ".css") and not _skipped(path.relative_to(docs_dir)):
            status = path.stat()
            stamps[path] = (status.st_mtime_ns, status.st_size)
    return stamps


def _skipped(relative: Path) -> bool:
    return relative.parts[0] == ".results" or relative.as_posix().startswith(_SITE_VENDOR + "/")


def _localise_site(docs_dir: Path, before: dict[Path, tuple[int, int]]) -> None:
    """Copy the vendored files into the site and point every page and stylesheet the last build
    wrote at them; the pages other builds wrote were localised then, except in a site without
    static/vendor yet (written before the pages were localised): there every page is."""
    everything = not (docs_dir / _SITE_VENDOR).is_dir()
    _install_vendor(docs_dir)
    refused: Refused | None = None
    for path, stamp in _page_stamps(docs_dir).items():
        if everything or before.get(path) != stamp:
            text = path.read_text(encoding="utf-8")
            try:
                localised = localise_page(text, path.relative_to(docs_dir))
            except Refused as error:  # the other pages are still localised
                refused = refused or error
                continue
            if localised != text:
                path.write_text(localised, encoding="utf-8")
    if refused is not None:
        raise refused


def _install_vendor(docs_dir: Path) -> None:
    # copyfile, not copy2: the site's files take the process umask (private), not the package's
    # modes. The paths carry the library's version, so a copy of the same size is that file.
    target_root = docs_dir / _SITE_VENDOR
    for source in VENDOR_DIR.rglob("*"):
        if not source.is_file():
            continue
        target = target_root / source.relative_to(VENDOR_DIR)
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def localise_page(text: str, relative: Path) -> str:
    """`text` of the page or stylesheet at `relative` (to the site root) with every external
    reference replaced by a relative path into the site. A reference no table here knows raises
    Refused naming it, so a GX upgrade that adds one fails its tests instead of shipping pages
    that call out to the internet."""
    root = "../" * (len(relative.parts) - 1)

    def local(url: str) -> str | None:
        url = _CACHE_BUSTER.sub("", url)
        if url in VENDORED_URLS:
            return f"{root}{_SITE_VENDOR}/{VENDORED_URLS[url]}"
        if url in _GX_IMAGES:
            return f"{root}static/images/{_GX_IMAGES[url]}"
        return None

    def tag(match: re.Match) -> str:
        text = match.group(0)
        found = _URL.search(text)
        checks = _INTEGRITY.findall(text)
        if found is None or not checks:
            return text
        vendored = VENDORED_URLS.get(found.group(0))
        if vendored is None:
            return text  # reported below as unknown
        for _, expected in checks:
            if expected not in _integrity(vendored):
                raise Refused(f"Data Docs: {VENDOR_DIR / vendored} does not match the integrity {expected} "
                              f"GX gives for {found.group(0)}")
        return _CROSSORIGIN.sub("", _INTEGRITY.sub("", text))

    text = _NEWSLETTER.sub("", _TAG.sub(tag, text))
    text = _UNLINK.sub(lambda m: "" if m.group(2) in _UNLINKED_URLS else m.group(0), text)
    text = _URL.sub(lambda m: local(m.group(0)) or m.group(0), text)
    if relative.suffix == ".html":
        # GX's favicon link on a validation page is one directory short of the site root
        text = _STATIC_REF.sub(lambda m: f"{m.group(1)}{root}static/", text)
    leftover = _EXTERNAL.search(text)
    if leftover:
        url = leftover.group(1) or leftover.group(2)
        raise Refused(f"Data Docs page {relative.as_posix()} references {url}, which is not vendored in "
                      f"include/bizenv/static/vendor (see its README.md)")
    return text


@cache
def _integrity(vendored: str) -> frozenset[str]:
    data = (VENDOR_DIR / vendored).read_bytes()
    return frozenset(f"{name}-{base64.b64encode(hashlib.new(name, data).digest()).decode()}"
                     for name in ("sha256", "sha384", "sha512"))


# What of an expectation's result Data Docs show and keep on disk: how many values failed, never
# which. The values would put whatever a department typed (personal data, markup that GX's pages
# render unescaped) into HTML and JSON files; the failing rows are in quarantine, masked.
_DOCS_RESULT_KEYS = ("element_count", "missing_count", "missing_percent", "unexpected_count",
                     "unexpected_percent", "unexpected_percent_total", "unexpected_percent_nonmissing")


def _counts_only(result: dict | None) -> dict:
    result = result or {}
    kept = {key: result[key] for key in _DOCS_RESULT_KEYS if key in result}
    observed = result.get("observed_value")
    if isinstance(observed, int | float) and not isinstance(observed, bool):
        kept["observed_value"] = observed
    return kept
