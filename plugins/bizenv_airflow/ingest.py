"""Task body of the generated ingest DAGs: the same `ingest_source` the CLI runs."""

from __future__ import annotations

from bizenv_airflow.runtime import task_settings


def ingest_department_source(source_name: str) -> list[dict]:
    """Extract incrementally, land, validate and merge. Source failures raise and are retried
    by Airflow; a batch rejected for its content fails without retry (the data must change)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowFailException

    from bizenv.sources import Connection, get_source, ingest_source
    from bizenv.sources.files import BatchRejected

    source = get_source(source_name)
    connection = None
    if source.connection_id:
        airflow_connection = BaseHook.get_connection(source.connection_id)
        connection = Connection.from_uri(source.connection_id, airflow_connection.get_uri())
    try:
        summaries = ingest_source(task_settings(), source_name, connection=connection)
    except BatchRejected as rejected:
        raise AirflowFailException(str(rejected)) from None
    refused = [s for s in summaries if s.status != "loaded"]
    if refused:
        raise AirflowFailException("; ".join(s.reason or s.batch_id for s in refused))
    return [s.as_dict() for s in summaries]
