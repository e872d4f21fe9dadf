"""Every error bizenv defines is one of two kinds, Retryable or Refused (bizenv.errors), so a
scheduler can decide from the kind alone whether to try again."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import bizenv
from bizenv.errors import Refused, Retryable

# alembic's env.py runs a migration when imported; the revisions define no errors
_NOT_IMPORTED = ("bizenv.migrations",)


def _bizenv_modules() -> list:
    modules = []
    for info in pkgutil.walk_packages(bizenv.__path__, prefix="bizenv."):
        if not info.name.startswith(_NOT_IMPORTED):
            modules.append(importlib.import_module(info.name))
    return modules


def _error_classes() -> set[type]:
    found = set()
    for module in _bizenv_modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            # a Warning category is not an error: it is never raised at a scheduler
            if (issubclass(value, Exception) and not issubclass(value, Warning)
                    and value.__module__.startswith("bizenv") and value not in (Retryable, Refused)):
                found.add(value)
    return found


def test_every_bizenv_error_is_either_retryable_or_refused() -> None:
    classes = _error_classes()
    # the walk must reach the modules that define errors, or the check below proves nothing
    names = {c.__name__ for c in classes}
    assert {"ConfigFileError", "SourceError", "SourceRefused", "BatchRejected", "WarehouseUnavailable",
            "SnapshotInvalid", "PiiKeyMismatch", "HttpRequestRefused", "DatabaseSourceError"} <= names
    both_or_neither = sorted(f"{c.__module__}.{c.__name__}" for c in classes
                             if issubclass(c, Retryable) == issubclass(c, Refused))
    assert both_or_neither == []


def test_outages_are_retryable_and_refusals_refused() -> None:
    from bizenv.calendar import CalendarCoverageError
    from bizenv.config_files import ConfigFileError
    from bizenv.datasets import UnknownDatasetError
    from bizenv.indicators import SnapshotInvalid
    from bizenv.pii import PiiKeyMismatch
    from bizenv.sources import ConnectionNotFound, SourceConfigError, SourceError, SourceRefused
    from bizenv.sources.database import DatabaseQueryRefused, DatabaseSourceError
    from bizenv.sources.drop import DropRejected
    from bizenv.sources.files import BatchRejected
    from bizenv.sources.http import HttpRequestRefused, HttpSourceError
    from bizenv.warehouse import WarehouseUnavailable

    for outage in (SourceError, HttpSourceError, DatabaseSourceError, WarehouseUnavailable):
        assert issubclass(outage, Retryable), outage
    for refusal in (SourceRefused, SourceConfigError, ConnectionNotFound, HttpRequestRefused, DatabaseQueryRefused,
                    BatchRejected, DropRejected, ConfigFileError, CalendarCoverageError, UnknownDatasetError,
                    SnapshotInvalid, PiiKeyMismatch):
        assert issubclass(refusal, Refused), refusal
