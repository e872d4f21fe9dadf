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
from functools import cache
from pathlib import Path

import yaml

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


def regions_path() -> Path:
    configured = os.environ.get("BIZENV_REGIONS_FILE")
    return Path(configured) if configured else DEFAULT_REGIONS_PATH


def load_regions(path: Path | None = None) -> Regions:
    """The configured prefecture and reporting units (default: BIZENV_REGIONS_FILE, else
    include/config/regions.yaml), checked: six-digit codes, each once, names present."""
    return _load(Path(path) if path is not None else regions_path())


@cache
def _load(path: Path) -> Regions:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        prefecture_code, prefecture_name = str(data["prefecture"]["code"]), str(data["prefecture"]["name"])
        units = [(str(r["code"]), str(r["name"]), str(r.get("kind", "旗县区"))) for r in data["regions"]]
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: expected prefecture.code/name and regions[].code/name[/kind] ({error})") from None
    codes = [prefecture_code, *(code for code, _, _ in units)]
    for code in codes:
        if not _DIVISION_CODE.match(code):
            raise ValueError(f"{path}: division code {code!r} is not six digits (quote it in YAML)")
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise ValueError(f"{path}: division codes {repeated} appear more than once (the prefecture's own code "
                         "is its total and cannot be a reporting unit)")
    for code, name, kind in units:
        if not name.strip():
            raise ValueError(f"{path}: unit {code} has no name")
        if kind not in UNIT_KINDS:
            raise ValueError(f"{path}: unit {code} has kind {kind!r}; expected one of {', '.join(UNIT_KINDS)}")
    return Regions(
        prefecture_code,
        prefecture_name,
        {code: name for code, name, _ in units},
        {code: kind for code, _, kind in units},
    )
