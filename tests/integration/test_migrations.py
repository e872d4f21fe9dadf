"""Migrations on a warehouse that already holds data: down and up again keep every row, on DuckDB
and PostgreSQL."""

from __future__ import annotations

import pandas as pd

from bizenv import codes
from bizenv.ingest import ingest_file
from bizenv.quarantine import list_quarantine
from bizenv.warehouse import downgrade, make_engine, upgrade

HEADERS = ["统一社会信用代码", "企业名称", "市场主体类型", "所属区划代码", "成立日期", "登记状态", "更新时间"]


def registration_file(path, rows):
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="gb18030")
    return path


def quarantined(settings) -> pd.DataFrame:
    engine = make_engine(settings.warehouse_url)
    try:
        return list_quarantine(engine, "registration", include_resolved=True).set_index("source_row")
    finally:
        engine.dispose()


def test_quarantine_second_key_migration_keeps_rows(warehouse_settings, tmp_path):
    good = codes.make_uscc("91", "152921", "MA0M0001")
    bad_check = codes.make_uscc("91", "152921", "MA0M0002")[:-1] + "0"
    first = ingest_file(warehouse_settings, "registration", registration_file(tmp_path / "a.csv", [
        [good, "驼峰科技有限公司", "企业", "152921", "2024-06-03", "存续", "2024-06-30 10:00:00"],
        [bad_check, "校验位有限公司", "企业", "152921", "2024-06-04", "存续", "2024-06-30 10:00:00"],
    ]), max_bad_share=0.9)
    assert (first.loaded, first.quarantined) == (1, 1)

    assert downgrade(warehouse_settings, "0006") == "0006"
    assert upgrade(warehouse_settings) == "0014"
    rows = quarantined(warehouse_settings)
    assert rows.index.tolist() == [3] and rows.loc[3, "status"] == "open"
    assert rows.loc[3, "batch_id"] == first.batch_id and rows.loc[3, "record_key"] == bad_check

    # a row quarantined before the revision has no name key: only its USCC can resolve it
    fixed = codes.make_uscc("91", "152921", "MA0M0002")
    ingest_file(warehouse_settings, "registration", registration_file(tmp_path / "b.csv", [
        [fixed, "校验位有限公司", "企业", "152921", "2024-06-04", "存续", "2024-07-01 10:00:00"],
    ]))
    assert quarantined(warehouse_settings).loc[3, "status"] == "open"
