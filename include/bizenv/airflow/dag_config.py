"""What DAG files may read while being parsed: the department source catalog (a local YAML
file in the image), nothing from databases, Variables or Connections."""

from __future__ import annotations

import logging
import warnings

from bizenv.sources.config import SourceConfig, load_sources_checked

log = logging.getLogger(__name__)


class SourceEntrySkipped(UserWarning):
    """An entry of sources.yaml is invalid: it gets no DAG, the others keep theirs."""


def department_sources() -> list[SourceConfig]:
    """The valid sources. An invalid entry is skipped with one line naming the file, the entry
    and the field, logged as an error and raised as a warning, which Airflow shows among the
    DAG file's import warnings; a DAG file that raised would instead drop every source's DAG."""
    sources, errors = load_sources_checked()
    for error in errors:
        message = f"{error}; no DAG for this entry until it is fixed"
        log.error("%s", message)
        warnings.warn(message, SourceEntrySkipped, stacklevel=2)
    return list(sources.values())


def dataset_asset_uri(dataset: str) -> str:
    return f"bizenv://core/{dataset}"


# The Airflow pool every task that writes the warehouse runs in. Airflow's scheduler never
# starts a task of a pool that does not exist, so deployments create it (docker-compose.yaml
# airflow-init: `airflow pools set`); `dag.test()` and `airflow dags test` ignore pools.
WAREHOUSE_POOL = "bizenv_warehouse"
