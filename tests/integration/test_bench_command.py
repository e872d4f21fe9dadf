"""`bizenv bench` measures every stage, on both warehouses, on exactly the rows it simulated.

300 entities over the default 12 months to 2024-06 (seed 1, no defects) are what
`simulate(300, ("2023-07", "2024-06"), seed=1, DefectRates.none())` returns: the bench must report
those counts for each `ingest_<dataset>` stage and load every row (clean data: nothing
quarantined, nothing duplicate), the registration count for each of the five breakdown stages
and for both baselines, and a positive time and peak RSS for everything. A stage that silently
did nothing (a child that exits 0 without work, a merge of no rows, a wrapper that never fired)
reports 0 rows or the wrong count and fails here. Speed is not asserted: docs/performance.md
holds the figures.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from bizenv.cli import main
from bizenv.datasets import DATASETS
from bizenv.simulator.bench import BREAKDOWN, run_measured
from bizenv.simulator.simulate import DefectRates, simulate
from conftest import POSTGRES_ADMIN_URL


@pytest.mark.postgres
def test_bench_times_every_stage_on_the_simulated_rows(tmp_path, capsys):
    figures_file = tmp_path / "bench.json"
    assert main(["bench", "--entities", "300", "--postgres", POSTGRES_ADMIN_URL, "--json", str(figures_file),
                 "--memory-rows", "5000,300"]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(figures_file.read_text(encoding="utf-8"))

    data = simulate(entities=300, months=("2023-07", "2024-06"), seed=1, defects=DefectRates.none())
    expected = {name: len(data.dataset(name)) for name in DATASETS}
    assert figures["simulated_rows"] == expected
    assert (figures["first_month"], figures["month"]) == ("2023-07", "2024-06")

    names = ({f"ingest_{d}" for d in DATASETS} | {f"registration_{s}" for s in BREAKDOWN}
             | {"indicators", "report"})
    for kind in ("duckdb", "postgresql"):
        measured = figures["warehouses"][kind]
        stages = measured["stages"]
        assert set(stages) == names, kind
        for name, stage in stages.items():
            assert stage["rows"] > 0 and stage["seconds"] > 0 and stage["peak_rss_mb"] > 0, (kind, name)
            assert stage["rows_per_s"] == pytest.approx(stage["rows"] / stage["seconds"], rel=0.01), (kind, name)
        for dataset, count in expected.items():
            assert stages[f"ingest_{dataset}"]["rows"] == count, (kind, dataset)
            assert measured["batches"][dataset] == {"extracted": count, "loaded": count, "quarantined": 0,
                                                    "duplicates": 0}, (kind, dataset)
        for step in BREAKDOWN:
            assert stages[f"registration_{step}"]["rows"] == expected["registration"], (kind, step)
        # the snapshot the report shows is the one the indicators stage published
        assert stages["report"]["rows"] == stages["indicators"]["rows"]
        assert measured["fixed_cost"]["seconds"] > 0 and measured["fixed_cost"]["peak_rss_mb"] > 0
        breakdown = measured["registration_breakdown"]
        assert 0 <= breakdown["other_seconds"] < breakdown["in_process_seconds"] < breakdown["child_seconds"]
        assert f"{kind}: fixed cost of a task" in printed

    baselines = figures["baselines"]
    ours = figures["warehouses"]["postgresql"]["stages"]["ingest_registration"]["seconds"]
    for name, ratio in (("to_sql", "ratio_vs_to_sql"), ("copy", "ratio_vs_copy")):
        assert baselines[name]["rows"] == expected["registration"], name
        assert baselines[name]["seconds"] > 0 and baselines[name]["peak_rss_mb"] > 0, name
        assert figures[ratio] > 0
        assert figures[ratio] == pytest.approx(baselines[name]["seconds"] / ours, rel=0.01)
        assert f"{ratio}=" in printed

    # the memory runs: tax-filing files of exactly the sizes asked (more rows than simulated: the
    # filings over again, numbered anew), each ingested whole into a new warehouse
    memory = figures["memory"]
    assert memory["dataset"] == "tax_filing" and memory["chunk_rows"] == 100_000
    for kind in ("duckdb", "postgresql"):
        runs = memory["warehouses"][kind]["runs"]
        assert set(runs) == {"300", "5000"}, kind
        assert all(runs[n]["rows"] == int(n) and runs[n]["peak_rss_mb"] > 0 for n in runs), kind
        assert memory["warehouses"][kind]["peak_growth"] == pytest.approx(
            runs["5000"]["peak_rss_mb"] / runs["300"]["peak_rss_mb"], rel=0.01)
    assert "peak RSS" in printed and "from 300 to 5,000 rows" in printed


def test_a_measured_child_reports_its_own_peak_memory_not_the_parents(tmp_path):
    """Linux carries a process's peak RSS over fork and exec, so a child forked straight from this
    test process (pandas and more loaded: well over 100 MB) would report at least that much. An
    empty interpreter measured through the bench's launcher reports its own few MB."""
    import pandas  # noqa: F401  (the parent is large, as `bizenv bench` is)

    seconds, peak_rss_mb, stdout = run_measured("empty", [sys.executable, "-c", "print('ok')"], dict(os.environ),
                                                tmp_path)
    assert stdout == "ok\n"
    assert seconds > 0
    assert 1 < peak_rss_mb < 40


def test_a_failing_child_names_its_step_and_its_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"bench step doomed exited 1: ValueError: no such month"):
        run_measured("doomed", [sys.executable, "-c", "raise ValueError('no such month')"], dict(os.environ), tmp_path)
