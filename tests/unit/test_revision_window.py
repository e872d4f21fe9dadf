"""The revision window (BIZENV_REVISION_WINDOW_DAYS) and the release stage it gives a month
(docs/history.md, "Revisions"), and the `--as-of` time of `bizenv indicators compute`."""

from __future__ import annotations

import datetime as dt

import pytest

from bizenv.cli import _as_of
from bizenv.errors import Refused
from bizenv.indicators.revisions import (
    REVISION_WINDOW_ENV,
    RevisionWindowInvalid,
    release_stage,
    revision_window,
)


@pytest.mark.parametrize(("raw", "days"), [(None, 15), ("", 15), (" 7 ", 7), ("0.5", 0.5), ("0", 0)])
def test_the_window_is_days_from_the_environment_15_by_default(monkeypatch, raw, days) -> None:
    if raw is None:
        monkeypatch.delenv(REVISION_WINDOW_ENV, raising=False)
    else:
        monkeypatch.setenv(REVISION_WINDOW_ENV, raw)
    assert revision_window() == dt.timedelta(days=days)


@pytest.mark.parametrize("raw", ["fifteen", "-1", "inf", "nan", "1e9"])
def test_a_window_that_is_no_number_of_days_is_refused_in_one_line(monkeypatch, raw) -> None:
    monkeypatch.setenv(REVISION_WINDOW_ENV, raw)
    with pytest.raises(RevisionWindowInvalid) as refused:
        revision_window()
    assert isinstance(refused.value, Refused)
    message = str(refused.value)
    assert message.startswith(f"{REVISION_WINDOW_ENV}=") and "days" in message and "\n" not in message


def test_a_month_is_provisional_until_its_window_ends_and_final_from_then_on() -> None:
    final_from = dt.datetime(2024, 7, 16, 19, 0)
    assert release_stage(final_from, final_from - dt.timedelta(seconds=1)) == "初步"
    assert release_stage(final_from, final_from) == "正式"
    assert release_stage(final_from, final_from + dt.timedelta(days=300)) == "正式"
    assert release_stage(None, final_from) == "正式"  # published before windows were recorded


def test_as_of_is_naive_utc() -> None:
    assert _as_of("2024-07-05T16:00:00+08:00") == dt.datetime(2024, 7, 5, 8, 0)
    assert _as_of("2024-07-05 08:00") == dt.datetime(2024, 7, 5, 8, 0)
    with pytest.raises(ValueError, match="--as-of 'yesterday' is not a timestamp"):
        _as_of("yesterday")
