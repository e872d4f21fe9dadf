"""The benchmark script runs end to end on both warehouses and prints every measurement.

Speed is not asserted here (docs/benchmarks.md holds the numbers); this keeps the command that
produces them working, including its check that the timed merges really loaded and versioned
every row.
"""

from __future__ import annotations

import re

import pytest

from bizenv.simulator import benchmark
from conftest import POSTGRES_ADMIN_URL

LINE = re.compile(
    r"^(?P<label>.+?)\s+rows=\s*(?P<rows>[\d,]+)\s+seconds=\s*(?P<seconds>[\d.]+)\s+rows/s=\s*(?P<rate>[\d,]+)"
)


@pytest.mark.postgres
def test_benchmark_prints_every_measurement(capsys):
    benchmark.main(["--entities", "300", "--repeat", "1", "--merge-repeat", "1", "--postgres", POSTGRES_ADMIN_URL])
    printed = {m["label"].strip(): m for m in map(LINE.match, capsys.readouterr().out.splitlines()) if m}
    expected = {"standardize+validate", "prepare stage"} | {
        f"{step} {kind}" for kind in ("duckdb", "postgresql") for step in ("merge", "bulk write", "core write")
    }
    labels = {label.removesuffix(" load").removesuffix(" update") for label in printed}
    assert labels == expected
    assert {f"merge {kind} {step}" for kind in ("duckdb", "postgresql") for step in ("load", "update")} <= set(printed)
    for label, match in printed.items():
        assert int(match["rows"].replace(",", "")) >= 290, label  # 300 entities, exact duplicates dropped
        assert int(match["rate"].replace(",", "")) > 0, label  # seconds print as 0.00 for tiny steps
