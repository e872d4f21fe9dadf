"""Monthly business-environment indicator snapshots (docs/indicators.md).

One snapshot run per `compute`: every indicator of `include/config/indicators.yaml` is computed
by its own SQL file `sql/indicators/<code>.sql` for every configured region and the whole
prefecture (recomputed from rows, never averaged), written as a new immutable version, checked
by the Great Expectations suite `expectations/indicator_snapshot.json` and only then published.
Dashboards read the latest published version of each month through `mart.v_indicator_trend`
(the newest month alone: `mart.v_indicator_latest`; docs/dashboard-contract.md).

The package has one module per job, in the order a month goes through them:

- `catalog`: the indicator catalog file and its validation;
- `reference`: the reference tables a snapshot reads (catalog, office hours, working days);
- `freshness`: whether department data covers the month;
- `snapshot`: computing a new version (`compute`);
- `runs`: run statuses, computed -> validated -> published, or computed -> failed;
- `checks`: the snapshot suite (`validate_snapshot`);
- `publishing`: `publish`, `compute_snapshot` (all three steps) and `show`;
- `revisions`: 初步 and 正式, recomputing open months after a delivery (`revise_open_months`)
  and revising a final one with a reason (`revise`).

This is the single code path behind `bizenv indicators ...` and the `monthly_indicators` DAG.
"""

from bizenv.indicators.catalog import (
    COUNT_UNIT,
    DATASETS,
    DEFAULT_CATALOG_PATH,
    INDICATORS_FILE_ENV,
    RATIO_UNIT,
    UNITS,
    WORKDAY_UNIT,
    IndicatorDef,
    catalog_path,
    load_catalog,
    load_minimum_sample,
)
from bizenv.indicators.checks import SnapshotInvalid, validate_snapshot
from bizenv.indicators.freshness import dataset_freshness, stale_datasets
from bizenv.indicators.publishing import SHOW_COLUMNS, compute_snapshot, publish, show
from bizenv.indicators.reference import refresh_reference_tables
from bizenv.indicators.revisions import MonthFinal, release_stage, revise, revise_open_months, revision_window
from bizenv.indicators.runs import SnapshotRun
from bizenv.indicators.snapshot import compute, compute_as_of
from bizenv.timeutil import month_bounds

__all__ = [
    "COUNT_UNIT",
    "DATASETS",
    "DEFAULT_CATALOG_PATH",
    "INDICATORS_FILE_ENV",
    "RATIO_UNIT",
    "SHOW_COLUMNS",
    "UNITS",
    "WORKDAY_UNIT",
    "IndicatorDef",
    "MonthFinal",
    "SnapshotInvalid",
    "SnapshotRun",
    "catalog_path",
    "compute",
    "compute_as_of",
    "compute_snapshot",
    "dataset_freshness",
    "load_catalog",
    "load_minimum_sample",
    "month_bounds",
    "publish",
    "refresh_reference_tables",
    "release_stage",
    "revise",
    "revise_open_months",
    "revision_window",
    "show",
    "stale_datasets",
    "validate_snapshot",
]
