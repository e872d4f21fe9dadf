"""Task body of the generated ingest DAGs: the same `ingest_source` the CLI runs."""

from __future__ import annotations

from bizenv_airflow.runtime import task_settings


def ingest_department_source(source_name: str) -> list[dict]:
    """Extract incrementally, land, validate and merge. Source failures raise and are retried
    by Airflow; a batch rejected for its content fails without retry (the data must change)."""
    from airflow.exceptions import AirflowFailException

    from bizenv.sources import ingest_source

    summaries = ingest_source(task_settings(), source_name)
    rejected = [s for s in summaries if s.status != "loaded"]
    if rejected:
        raise AirflowFailException("; ".join(s.reason or s.batch_id for s in rejected))
    return [s.as_dict() for s in summaries]
