"""A reporting unit added to the regions file (a development zone with its own registration
authority code) is validated, computed, published and reported with no code change, on DuckDB
and PostgreSQL."""

from __future__ import annotations

import pandas as pd
from test_indicators import P, seed_core

from bizenv import codes, indicators
from bizenv.ingest import ingest_file
from bizenv.report import write_report
from bizenv.settings import CONFIG_DIR
from bizenv.warehouse import make_engine

ZONE = "152971"
HEADERS = ["统一社会信用代码", "企业名称", "市场主体类型", "所属区划代码", "成立日期", "申请时间", "核准时间",
           "办理方式", "登记状态", "更新时间"]


def test_a_development_zone_needs_only_the_regions_file(warehouse_settings, tmp_path, monkeypatch) -> None:
    regions = tmp_path / "regions.yaml"
    shipped = (CONFIG_DIR / "regions.yaml").read_text(encoding="utf-8")
    zone = f'  - code: "{ZONE}"\n    name: 阿拉善经济开发区\n    kind: 开发区\n'
    regions.write_text(shipped + zone, encoding="utf-8")
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(regions))

    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        seed_core(engine)
        drop = tmp_path / "registration.csv"
        pd.DataFrame([[codes.make_uscc("91", ZONE, "MA0K0001"), "开发区新材料有限公司", "企业", ZONE, "2024-06-12",
                       "2024-06-11 09:00:00", "2024-06-12 10:00:00", "全程电子化", "存续", "2024-06-28 17:00:00"]],
                     columns=HEADERS).to_csv(drop, index=False, encoding="gb18030")
        loaded = ingest_file(warehouse_settings, "registration", drop)
        # the zone's code passes validation; its delivery (更新时间 on June's last working day) covers
        # the month for the zone, so its counts are numbers (docs/indicators.md, coverage)
        assert (loaded.loaded, loaded.quarantined) == (1, 0)

        run = indicators.compute_snapshot(engine, "2024-06")
        shown = indicators.show(engine, "2024-06")
        shown = shown[shown["breakdown"] == ""].set_index(["region_code", "indicator_code"])
        assert len(shown) == 5 * 10 and run.status == "published"
        assert shown.loc[(ZONE, "new_entities"), "value"] == 1
        assert shown.loc[(ZONE, "surviving_entities"), "value"] == 1
        # Tue 06-11 09:00 -> Wed 06-12 10:00: 3 h + 4.5 h + 1.5 h = 9 h = 1.125 working days
        assert shown.loc[(ZONE, "startup_workdays_median"), "value"] == 1.125
        assert shown.loc[(ZONE, "full_e_registration_rate"), "value"] == 1.0
        assert shown.loc[(P, "new_entities"), "value"] == 8  # the prefecture's 7 and the zone's
        report = write_report(engine, "2024-06", tmp_path / "report.html")
        assert "阿拉善经济开发区" in (tmp_path / "report.html").read_text(encoding="utf-8")
        assert report["rows"] == run.row_count
    finally:
        engine.dispose()
