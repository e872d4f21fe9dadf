"""`make test-fast` holds the unit and DAG tests to their time budget (tests/fast.py)."""

from __future__ import annotations

import subprocess
import sys

import fast
import pytest


def test_tests_within_the_budget_pass():
    assert fast.verdict(0, cpu_seconds=41, wall_seconds=66, budget_seconds=60) == (0, None)


def test_too_much_cpu_fails_with_one_line_naming_the_budget():
    code, message = fast.verdict(0, cpu_seconds=75, wall_seconds=76, budget_seconds=60)
    assert code == 1
    assert "75s of CPU, over the 60s budget" in message and "tests/integration" in message
    assert "\n" not in message


def test_a_test_that_waits_instead_of_working_fails_too():
    code, message = fast.verdict(0, cpu_seconds=30, wall_seconds=130, budget_seconds=60)
    assert code == 1 and "a test waits" in message


def test_failing_tests_keep_their_exit_code_and_no_budget_means_none():
    assert fast.verdict(2, cpu_seconds=500, wall_seconds=500, budget_seconds=60) == (2, None)
    assert fast.verdict(0, cpu_seconds=500, wall_seconds=500, budget_seconds=0) == (0, None)


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("FAST_BUDGET_SECONDS", raising=False)
    assert fast.budget_from_environment() == 60
    monkeypatch.setenv("FAST_BUDGET_SECONDS", "90")
    assert fast.budget_from_environment() == 90
    monkeypatch.setenv("FAST_BUDGET_SECONDS", "a minute")
    with pytest.raises(SystemExit, match="FAST_BUDGET_SECONDS must be a number of seconds, got 'a minute'"):
        fast.budget_from_environment()


def test_the_runner_measures_its_pytest_child(tmp_path, monkeypatch, capsys):
    """main() charges the CPU of the pytest process it starts, and fails an over-budget run."""
    burner = tmp_path / "burn.py"
    burner.write_text("import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end:\n    pass\n")
    calls = []
    real_call = subprocess.call

    def fake_call(command, cwd):
        calls.append(command)
        return real_call([sys.executable, str(burner)])

    monkeypatch.setattr(fast.subprocess, "call", fake_call)
    monkeypatch.setenv("FAST_BUDGET_SECONDS", "0.25")
    assert fast.main(["-x"]) == 1
    out, err = capsys.readouterr()
    assert "s CPU (budget 0.25s CPU)" in out
    assert "s of CPU, over the 0.25s budget" in err
    assert calls[0][1:] == ["-m", "pytest", "-q", "tests/unit", "tests/dags", "-x"]
