"""What DAG files may read while being parsed: the department source catalog (a local YAML
file in the image), nothing from databases, Variables or Connections."""

from __future__ import annotations

from bizenv.sources.config import SourceConfig, load_sources


def department_sources() -> list[SourceConfig]:
    return list(load_sources().values())


def dataset_asset_uri(dataset: str) -> str:
    return f"bizenv://core/{dataset}"
