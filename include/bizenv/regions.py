"""The prefecture and its regions (GB/T 2260), from include/config/regions.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from bizenv.settings import CONFIG_DIR


@dataclass(frozen=True)
class Regions:
    prefecture_code: str
    prefecture_name: str
    names: dict[str, str]

    @property
    def codes(self) -> list[str]:
        """The county-level codes plus the prefecture's own (records may carry either)."""
        return [self.prefecture_code, *self.names]


@cache
def load_regions(path: Path = CONFIG_DIR / "regions.yaml") -> Regions:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        names = {str(r["code"]): str(r["name"]) for r in data["regions"]}
        return Regions(str(data["prefecture"]["code"]), str(data["prefecture"]["name"]), names)
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path}: expected prefecture.code/name and regions[].code/name ({error})") from None
