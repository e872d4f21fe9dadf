"""Task body of the generated ingest DAGs: the same `ingest_source` the CLI runs."""

from __future__ import annotations

import logging

from bizenv_airflow.runtime import task_settings

log = logging.getLogger(__name__)


def ingest_department_source(source_name: str) -> list[dict]:
    """Extract incrementally, land, validate and merge. An outage of the source or the
    warehouse raises and is retried by Airflow; anything else fails without retry, because a
    rerun would meet the same refusal, batch content or defect (DESIGN §8: no retries for
    validation). Batches a failed run did load are logged before it fails."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowFailException
    from sqlalchemy.exc import OperationalError

    from bizenv.sources import Connection, SourceError, SourceRefused, get_source, ingest_source
    from bizenv.sources.files import BatchRejected
    from bizenv.warehouse import WarehouseUnavailable

    source = get_source(source_name)
    connection = None
    if source.connection_id:
        airflow_connection = BaseHook.get_connection(source.connection_id)
        connection = Connection.from_uri(source.connection_id, airflow_connection.get_uri())
    try:
        summaries = ingest_source(task_settings(), source_name, connection=connection)
    except (BatchRejected, SourceRefused) as refused:
        for summary in getattr(refused, "summaries", []):
            log.info("loaded before the failure: %s", summary.as_dict())
        raise AirflowFailException(str(refused)) from None
    except (SourceError, WarehouseUnavailable, OperationalError):
        raise
    except OSError as error:  # a read-only or full landing root / data directory: fix it, then rerun
        from bizenv.cli import describe_os_error

        raise AirflowFailException(f"{source_name}: {describe_os_error(error)}") from None
    except Exception as error:
        raise AirflowFailException(f"{source_name}: {type(error).__name__}: {error}".splitlines()[0]) from error
    refused = [s for s in summaries if s.status != "loaded"]
    if refused:
        raise AirflowFailException("; ".join(s.reason or s.batch_id for s in refused))
    return [s.as_dict() for s in summaries]
