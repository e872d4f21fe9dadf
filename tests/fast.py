"""`make test-fast`: the unit and DAG tests, held to a time budget (docs/architecture.md, "Tests and
fast feedback").

The budget is on the CPU time the tests use: on a machine shared with other runs the wall clock
measures the neighbours too, while the CPU time of one single-process pytest run is what it takes
on a machine of its own. A test that waits instead of working uses no CPU, so the wall clock is
held to twice the budget as well. Both are printed.

    python tests/fast.py [pytest options]      FAST_BUDGET_SECONDS (default 60; 0: no budget)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST_PATHS = ("tests/unit", "tests/dags")
DEFAULT_BUDGET_SECONDS = 60.0


def verdict(tests_exit: int, cpu_seconds: float, wall_seconds: float,
            budget_seconds: float) -> tuple[int, str | None]:
    """The exit code of `make test-fast` and the line that explains a budget failure."""
    if tests_exit != 0:
        return tests_exit, None
    if budget_seconds <= 0:
        return 0, None
    advice = "(FAST_BUDGET_SECONDS): move the slowest (pytest --durations=10) to tests/integration"
    if cpu_seconds > budget_seconds:
        return 1, (f"make test-fast: the tests took {cpu_seconds:.0f}s of CPU, over the {budget_seconds:g}s "
                   f"budget {advice}")
    if wall_seconds > 2 * budget_seconds:
        return 1, (f"make test-fast: the tests took {wall_seconds:.0f}s, over twice the {budget_seconds:g}s "
                   f"budget, while using {cpu_seconds:.0f}s of CPU: a test waits {advice}")
    return 0, None


def budget_from_environment() -> float:
    raw = os.environ.get("FAST_BUDGET_SECONDS", "").strip() or str(DEFAULT_BUDGET_SECONDS)
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"FAST_BUDGET_SECONDS must be a number of seconds, got {raw!r}") from None


def children_cpu_seconds() -> float:
    """User and system CPU of every finished child process, the tests' own subprocesses included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    budget = budget_from_environment()
    before = children_cpu_seconds()
    start = time.monotonic()
    tests_exit = subprocess.call([sys.executable, "-m", "pytest", "-q", *FAST_PATHS, *argv], cwd=ROOT)
    wall = time.monotonic() - start
    cpu = children_cpu_seconds() - before
    shown = f"{budget:g}s CPU" if budget > 0 else "none"
    print(f"make test-fast: {wall:.0f}s wall clock, {cpu:.0f}s CPU (budget {shown})")
    code, message = verdict(tests_exit, cpu, wall, budget)
    if message:
        print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
