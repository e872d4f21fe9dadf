"""On PostgreSQL the merge plans its joins with statistics of the batch it merges, whatever
autovacuum last recorded for the stage (most often the stage empty, between two merges: with
those, the planner nests loops over the whole batch and a 100,000-row merge takes minutes)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bizenv.ingest import ingest_file
from bizenv.simulator.simulate import DefectRates, simulate, write_files
from bizenv.warehouse import make_engine


@pytest.mark.postgres
def test_the_stage_is_analyzed_with_the_batch_in_it(postgres_settings, tmp_path):
    files = write_files(simulate(entities=400, months=("2024-05", "2024-06"), seed=5, defects=DefectRates.none()),
                        tmp_path / "department")
    engine = make_engine(postgres_settings.warehouse_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("analyze ops.stage_registration"))  # as autovacuum does, the stage empty
            before = conn.execute(text("select reltuples from pg_class "
                                       "where oid = 'ops.stage_registration'::regclass")).scalar_one()
        summary = ingest_file(postgres_settings, "registration", files["registration"])
        with engine.connect() as conn:
            after = conn.execute(text("select reltuples from pg_class "
                                      "where oid = 'ops.stage_registration'::regclass")).scalar_one()
            staged_now = conn.execute(text("select count(*) from ops.stage_registration")).scalar_one()
    finally:
        engine.dispose()
    assert before <= 0 and summary.status == "loaded" and summary.loaded > 300
    assert after == summary.extracted - summary.duplicates - summary.quarantined  # the batch, as merged
    assert staged_now == 0
