"""Reporting units from regions.yaml (or BIZENV_REGIONS_FILE): checked when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizenv.regions import load_regions


def _write(tmp_path: Path, units: str) -> Path:
    path = tmp_path / "regions.yaml"
    path.write_text('prefecture:\n  code: "152900"\n  name: 阿拉善盟\nregions:\n' + units, encoding="utf-8")
    return path


def test_the_shipped_file() -> None:
    regions = load_regions()
    assert regions.codes == ["152900", "152921", "152922", "152923"]
    assert set(regions.kinds.values()) == {"旗县区"}


def test_a_development_zone_and_the_file_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    path = _write(tmp_path, '  - {code: "152921", name: 阿拉善左旗}\n'
                            '  - {code: "152971", name: 阿拉善经济开发区, kind: 开发区}\n')
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(path))
    regions = load_regions()
    assert regions.codes == ["152900", "152921", "152971"]
    assert regions.kinds == {"152921": "旗县区", "152971": "开发区"}
    assert regions.names["152971"] == "阿拉善经济开发区"


@pytest.mark.parametrize(("units", "message"), [
    ('  - {code: 152921, name: 阿拉善左旗}\n  - {code: "15292", name: x}\n', "not six digits"),
    ('  - {code: "152921", name: a}\n  - {code: "152921", name: b}\n', "more than once"),
    ('  - {code: "152900", name: 盟本级, kind: 盟本级}\n', "more than once"),
    ('  - {code: "152971", name: 开发区, kind: 园区}\n', "kind"),
    ('  - {code: "152971"}\n', "regions\\[\\].code/name"),
])
def test_bad_units_are_refused_naming_the_file(tmp_path: Path, units: str, message: str) -> None:
    path = _write(tmp_path, units)
    with pytest.raises(ValueError, match=message) as caught:
        load_regions(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
