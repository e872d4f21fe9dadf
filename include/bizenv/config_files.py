"""Reading the YAML configuration files through pydantic models, with one-line errors.

indicators.yaml, regions.yaml and work_calendar.yaml are validated by pydantic v2 models in
their own modules; this module turns a pydantic error, which is several lines long and speaks
of "Input should be …", into one line naming the file, the entry and the field, the form
sources.yaml uses too (`<file>: source '<name>' (entry N): <field> ...`). An operator reads the
line in a failed task's log or on stderr of the CLI and fixes the file without a traceback.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails

from bizenv.errors import Refused

# text that is not blank, stripped; strict, so a number typed where text belongs is refused
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, strict=True)]

_MAX_SHOWN = 60


class ConfigFileError(Refused, ValueError):
    """A configuration file is unreadable or invalid; the message is one line naming the file,
    the entry and the field."""


def number_at_least(minimum: float) -> Any:
    """A number (an int is fine, a bool or a quoted number is not) of at least `minimum`."""
    return Annotated[float, Field(strict=True, ge=minimum)]


def read_yaml(path: Path) -> Any:
    """The parsed document, or ConfigFileError naming the file (and the line of a syntax error)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ConfigFileError(f"{path}: not valid YAML{where}: {problem}") from None


def shown(value: Any) -> str:
    """A value for a message: its repr, on one line and short."""
    text = " ".join(repr(value).split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def field_name(loc: Sequence[Any]) -> str:
    """('datasets', 1) -> 'datasets[1]'; ('notice', 'date') -> 'notice.date'."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def _unwrap(annotation: Any, part: Any) -> Any:
    """The annotation one step further along a pydantic error location."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    arguments = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset) and arguments:
        return arguments[0]
    if origin is dict and len(arguments) == 2:
        return arguments[1]
    return None


def _base_at(model: type[BaseModel], loc: Sequence[Any]) -> Any:
    """The annotation of the value at `loc` inside a `model` document, without Annotated or None."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation, part)
    while typing.get_origin(annotation) in (Annotated, typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def allowed_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys the mapping at `loc` (inside a `model` document) may have, for the message."""
    annotation = _base_at(model, loc)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _bound(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def problem_text(problem: ErrorDetails, field: str, *, whole: bool = False) -> str:
    """One pydantic problem in words, about `field` ('' for a check of the whole entry; `whole`:
    the field holds a whole number). A custom validator's ValueError is used as written, after
    the field's name."""
    kind, value, context = problem["type"], problem.get("input"), problem.get("ctx") or {}
    subject = field or "entry"
    number = "a whole number" if whole else "a number"
    if kind in ("value_error", "assertion_error"):
        text = str(context.get("error", problem["msg"]))
        return f"{field} {text}" if field else text
    if kind == "missing":
        return f"missing {subject}"
    if kind == "literal_error":
        return f"{subject} must be {context.get('expected')}, got {shown(value)}"
    if kind == "greater_than_equal":
        return f"{subject} must be {number} of at least {_bound(context.get('ge'))}, got {shown(value)}"
    if kind == "less_than_equal":
        return f"{subject} must be {number} of at most {_bound(context.get('le'))}, got {shown(value)}"
    if kind.startswith("int_"):
        return f"{subject} must be a whole number, got {shown(value)}"
    if kind.startswith("float_"):
        return f"{subject} must be a number, got {shown(value)}"
    if kind == "string_too_short":
        return f"{subject} must not be empty"
    if kind == "string_pattern_mismatch":
        return f"{subject} {shown(value)} is not valid (expected {context.get('pattern')})"
    if kind.startswith("string_"):
        return f"{subject} must be text, got {shown(value)}"
    if kind == "too_short":
        return f"{subject} must be a non-empty list, got {shown(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"{subject} must be a list, got {shown(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{subject} must be a mapping, got {shown(value)}"
    return f"{subject}: {problem['msg']}, got {shown(value)}"


def describe(
    error: ValidationError,
    model: type[BaseModel],
    entry_of: Callable[[tuple[Any, ...]], tuple[str, int]],
) -> str:
    """The first problem of `error` (raised validating a `model` document) as one line.

    `entry_of(loc)` names the entry a location lies in ('' for the top of the file) and how many
    leading parts of the location it takes up; the rest names the field. Missing and unknown keys
    of one mapping are reported together, with the keys it allows."""
    problems = error.errors(include_url=False)
    first = problems[0]
    label, depth = entry_of(tuple(first["loc"]))
    kind = first["type"]
    if kind in ("missing", "extra_forbidden"):
        parent = tuple(first["loc"][:-1])
        keys = [str(p["loc"][-1]) for p in problems if p["type"] == kind and tuple(p["loc"][:-1]) == parent]
        inside = field_name(parent[depth:])
        where = f" in {inside}" if inside else ""
        if kind == "missing":
            message = f"missing keys {', '.join(keys)}{where}"
        else:
            allowed = ", ".join(allowed_keys(model, parent))
            message = f"unknown keys {', '.join(keys)}{where} (allowed: {allowed})"
    else:
        whole = _base_at(model, first["loc"]) is int
        message = problem_text(first, field_name(first["loc"][depth:]), whole=whole)
    return f"{label}: {message}" if label else message
