"""The indicator catalog: `include/config/indicators.yaml` (or $BIZENV_INDICATORS_FILE), validated
into `IndicatorDef`s in file order."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bizenv.config_files import ConfigFileError, Text, describe, number_at_least, read_yaml, shown
from bizenv.datasets import DATASETS as _CONTRACTS
from bizenv.settings import CONFIG_DIR

DEFAULT_CATALOG_PATH = CONFIG_DIR / "indicators.yaml"
# read at every load, so tests and operators can point at another catalog without a restart
INDICATORS_FILE_ENV = "BIZENV_INDICATORS_FILE"
DATASETS = tuple(_CONTRACTS)
DIRECTIONS = ("higher_is_better", "lower_is_better", "neutral")
TARGET_OPERATORS = ("<=", ">=")
RATIO_UNIT = "ratio"
COUNT_UNIT = "户"
WORKDAY_UNIT = "个工作日"
UNITS = (COUNT_UNIT, WORKDAY_UNIT, "条/户", RATIO_UNIT)
DEFAULT_MINIMUM_SAMPLE = 5
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class IndicatorDef:
    code: str
    name_zh: str
    name_en: str
    unit: str
    direction: str
    target: float | None
    target_operator: str | None
    definition: str
    policy_reference: str | None
    policy_limit: float | None
    breakdown_name: str | None
    datasets: tuple[str, ...]

    @property
    def is_ratio(self) -> bool:
        return self.unit == RATIO_UNIT

    @property
    def is_count(self) -> bool:
        return self.unit == COUNT_UNIT

    @property
    def is_duration(self) -> bool:
        return self.unit == WORKDAY_UNIT

    def meets(self, value: float | None) -> bool | None:
        """Whether `value` meets the target; None without a value or without a target."""
        if value is None or _is_nan(value) or self.target is None or self.target_operator is None:
            return None
        if self.target_operator == "<=":
            return bool(value <= self.target)
        return bool(value >= self.target)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def catalog_path() -> Path:
    """The catalog in use: $BIZENV_INDICATORS_FILE, else include/config/indicators.yaml."""
    configured = os.environ.get(INDICATORS_FILE_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_CATALOG_PATH


def _identifier(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"must be a lowercase identifier such as new_entities (it names "
                         f"sql/indicators/<code>.sql), got {value!r}")
    return value


def _known_datasets(value: Any) -> Any:
    # one message for the whole list: "datasets[1] must be ..." would hide that it is a list
    if not isinstance(value, list) or not value or any(d not in DATASETS for d in value):
        raise ValueError(f"must be a non-empty list of {', '.join(DATASETS)}, got {shown(value)}")
    repeated = sorted({d for d in value if value.count(d) > 1})
    if repeated:
        raise ValueError(f"lists {', '.join(repeated)} more than once")
    return value


class _Indicator(BaseModel):
    """One entry of indicators.yaml. Every key is required, the nullable ones as an explicit
    null, so that a forgotten target is a visible decision rather than a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[Text, AfterValidator(_identifier)]
    name_zh: Text
    name_en: Text
    # is_ratio / is_count / is_duration compare the unit: a misspelt one would silently skip the
    # snapshot suite's [0, 1] check of a ratio or the zero of a count
    unit: Literal[UNITS]
    direction: Literal[DIRECTIONS]
    target: number_at_least(0) | None
    target_operator: Literal[TARGET_OPERATORS] | None
    definition: Text
    policy_reference: Text | None
    policy_limit: number_at_least(0) | None
    breakdown_name: Text | None
    datasets: Annotated[tuple[Literal[DATASETS], ...], BeforeValidator(_known_datasets)]

    @model_validator(mode="after")
    def _consistent(self) -> _Indicator:
        if (self.target is None) != (self.target_operator is None):
            raise ValueError("target and target_operator must both be set or both be null")
        if self.unit == RATIO_UNIT and self.target is not None and self.target > 1:
            raise ValueError(f"target must be at most 1 for unit {RATIO_UNIT} (a share), got {self.target:g}")
        if self.policy_limit is not None and self.unit != WORKDAY_UNIT:
            raise ValueError(f"policy_limit applies to durations (unit {WORKDAY_UNIT}) only; "
                             f"it must be null for unit {self.unit}")
        return self


class _Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum_sample: Annotated[int, Field(strict=True, ge=1)] = DEFAULT_MINIMUM_SAMPLE
    indicators: Annotated[list[_Indicator], Field(min_length=1)]


def _read_catalog(path: Path | str | None) -> tuple[Path, _Catalog]:
    path = Path(path) if path is not None else catalog_path()
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}: expected a mapping with a non-empty list 'indicators'")
    entries = raw.get("indicators")

    def entry_of(loc: tuple[Any, ...]) -> tuple[str, int]:
        if len(loc) >= 2 and loc[0] == "indicators" and isinstance(loc[1], int):
            code = entries[loc[1]].get("code") if isinstance(entries[loc[1]], dict) else None
            number = loc[1] + 1
            return (f"indicator {code!r} (entry {number})" if isinstance(code, str) else f"entry {number}"), 2
        return "", 0

    try:
        catalog = _Catalog.model_validate(raw)
    except ValidationError as error:
        raise ConfigFileError(f"{path}: {describe(error, _Catalog, entry_of)}") from None
    first_entry: dict[str, int] = {}
    for number, indicator in enumerate(catalog.indicators, start=1):
        if indicator.code in first_entry:
            raise ConfigFileError(f"{path}: indicator {indicator.code!r} (entry {number}): duplicate indicator "
                                  f"codes: code {indicator.code!r} is also entry {first_entry[indicator.code]}")
        first_entry[indicator.code] = number
    return path, catalog


def load_minimum_sample(path: Path | str | None = None) -> int:
    """Below this many cases a region's meets_target is null (样本不足); `minimum_sample` in the
    catalog file, default 5. The whole file is checked, as for load_catalog."""
    return _read_catalog(path)[1].minimum_sample


def load_catalog(path: Path | str | None = None) -> list[IndicatorDef]:
    """The indicator catalog (default: catalog_path()), in its file order. An invalid file raises
    ConfigFileError, one line naming the file, the indicator and the field."""
    _, catalog = _read_catalog(path)
    return [IndicatorDef(**indicator.model_dump()) for indicator in catalog.indicators]

