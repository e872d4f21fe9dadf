"""The prefecture and its reporting units (GB/T 2260 division codes), from
include/config/regions.yaml, or the file named by BIZENV_REGIONS_FILE.

A reporting unit is any unit with a registration authority code of its own: a banner or county
(旗县区), a development zone (开发区), the prefecture's own level (盟本级). Every unit gets its
own snapshot rows, validation accepts its code and the report shows it; adding one is an edit of
this file only (docs/indicators.md, "Reporting units").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from bizenv.config_files import ConfigFileError, Text, describe, read_yaml, shown
from bizenv.settings import CONFIG_DIR

DEFAULT_REGIONS_PATH = CONFIG_DIR / "regions.yaml"
UNIT_KINDS = ("旗县区", "开发区", "盟本级")
_DIVISION_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Regions:
    prefecture_code: str
    prefecture_name: str
    names: dict[str, str]
    kinds: dict[str, str] | None = None

    @property
    def codes(self) -> list[str]:
        """The reporting units' codes plus the prefecture's own (records may carry either)."""
        return [self.prefecture_code, *self.names]


def _division_code(value: Any) -> Any:
    # YAML reads an unquoted 152921 as a number and an unquoted 010101 as octal 4161: only a
    # quoted code is sure to be the code that was written
    if isinstance(value, str) and _DIVISION_CODE.match(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{value} is not six digits in quotes: YAML reads an unquoted code as a number; "
                         f'write "{value}"')
    raise ValueError(f"{shown(value)} is not six digits (a GB/T 2260 division code)")


DivisionCode = Annotated[str, BeforeValidator(_division_code)]


class _Prefecture(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: DivisionCode
    name: Text


class _Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: DivisionCode
    name: Text
    kind: Literal[UNIT_KINDS] = "旗县区"


class _RegionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prefecture: _Prefecture
    regions: list[_Unit]


def regions_path() -> Path:
    configured = os.environ.get("BIZENV_REGIONS_FILE")
    return Path(configured) if configured else DEFAULT_REGIONS_PATH


# path -> (file content, regions): an edit is seen at once, an unchanged file is checked once
_loaded: dict[str, tuple[bytes, Regions]] = {}


def load_regions(path: Path | None = None) -> Regions:
    """The configured prefecture and reporting units (default: BIZENV_REGIONS_FILE, else
    include/config/regions.yaml), checked: six-digit codes in quotes, each once, names present,
    kinds known. An invalid file raises ConfigFileError, one line naming the file, the unit and
    the field."""
    path = Path(path) if path is not None else regions_path()
    try:
        content = path.read_bytes()
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read ({error.strerror or error})") from None
    cached = _loaded.get(str(path))
    if cached is not None and cached[0] == content:
        return cached[1]
    regions = _parse(path)
    _loaded[str(path)] = (content, regions)
    return regions


def _unit_label(raw: Any, index: int) -> str:
    code = raw.get("code") if isinstance(raw, dict) else None
    named = f"region {code!r} " if isinstance(code, str | int) and not isinstance(code, bool) else ""
    return f"{named}(entry {index + 1})" if named else f"regions entry {index + 1}"


def _parse(path: Path) -> Regions:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}: expected a mapping with 'prefecture' (code, name) and a list 'regions'")
    units = raw.get("regions")

    def entry_of(loc: tuple[Any, ...]) -> tuple[str, int]:
        if len(loc) >= 2 and loc[0] == "regions" and isinstance(loc[1], int):
            return _unit_label(units[loc[1]], loc[1]), 2
        if loc and loc[0] == "prefecture" and len(loc) > 1:
            return "prefecture", 1
        return "", 0

    try:
        document = _RegionsFile.model_validate(raw)
    except ValidationError as error:
        message = describe(error, _RegionsFile, entry_of)
        if "missing keys" in message:  # the expected shape, in the words of the file's header
            message += (" (expected prefecture.code/name)" if message.startswith("prefecture")
                        else " (expected regions[].code/name[/kind])")
        raise ConfigFileError(f"{path}: {message}") from None
    prefecture = document.prefecture
    first_entry: dict[str, int] = {}
    for number, unit in enumerate(document.regions, start=1):
        where = f"{path}: region {unit.code!r} (entry {number})"
        if unit.code == prefecture.code:
            raise ConfigFileError(f"{where}: code {unit.code!r} appears more than once: it is the prefecture's "
                                  "own code, its total, and cannot be a reporting unit")
        if unit.code in first_entry:
            raise ConfigFileError(f"{where}: code {unit.code!r} appears more than once (also entry "
                                  f"{first_entry[unit.code]})")
        first_entry[unit.code] = number
    return Regions(
        prefecture.code,
        prefecture.name,
        {unit.code: unit.name for unit in document.regions},
        {unit.code: unit.kind for unit in document.regions},
    )
