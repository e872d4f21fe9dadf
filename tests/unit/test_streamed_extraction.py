"""Connector extractions handed on chunk by chunk: HTTP pages and database cursors become frames
of BIZENV_CHUNK_ROWS rows whose concatenation is the batch a whole read would have given, and
a check that fails on the last page raises from the iteration instead of ending it. No network
and no warehouse: the API is a session answering from a list, the database a SQLite file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import sqlite3
from typing import Any

import pandas as pd
import pytest
import requests

from bizenv.datasets import REGISTRATION, TAX_FILING
from bizenv.sources import _dataset_chunks, _with_rows, load_sources
from bizenv.sources.config import Connection, SourceConfig
from bizenv.sources.database import extract_database
from bizenv.sources.files import BatchRejected
from bizenv.sources.frames import DatasetChunks, records_to_frame, to_dataset_frame
from bizenv.sources.http import HttpExtraction, HttpExtractor, HttpSourceError

STARTED = dt.datetime(2030, 1, 1)  # the extraction began after every change below


def tax_records(count: int) -> list[dict[str, Any]]:
    """Department records of the tax API; some leave fields out, as JSON APIs drop empty values:
    `channel` (a required column) is missing from the first four, `taxPayable` from all but the last."""
    records = []
    for number in range(count):
        record = {"filingNo": f"F{number:03d}", "taxpayerId": "91152921MA0000000X", "divisionCode": "152921",
                  "taxPeriod": "2024-05", "filedTime": "2024-06-01 09:00:00", "channel": "电子税务局",
                  "refundApplyTime": None, "updateTime": f"2024-06-01 10:{number:02d}:00"}
        if number < 4:
            del record["channel"]
        if number == count - 1:
            record["taxPayable"] = 12.5
        records.append(record)
    return records


class DepartmentApi(requests.Session):
    """Answers the extractor from `records` as the department API pages them (page numbers or
    cursors); `short_last_page` drops a record of the last page, `declared_total` overrides the
    total the pages declare."""

    def __init__(self, records: list[dict[str, Any]], *, short_last_page: bool = False,
                 declared_total: int | None = None) -> None:
        super().__init__()
        self.records = records
        self.short_last_page = short_last_page
        self.declared_total = declared_total
        self.served = 0

    def get(self, url: str, params: dict[str, Any] | None = None, **_kwargs: Any) -> requests.Response:
        params = params or {}
        self.served += 1
        size = int(params["page_size"])
        offset = int(params["cursor"]) if "cursor" in params else (int(params.get("page", 1)) - 1) * size
        items = self.records[offset:offset + size]
        following = offset + len(items)
        if self.short_last_page and following >= len(self.records):
            items = items[:-1]
        total = len(self.records) if self.declared_total is None else self.declared_total
        body = {"items": items, "total": total, "page_size": size,
                "next_cursor": str(following) if following < len(self.records) else None}
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(json.dumps(body, ensure_ascii=False).encode())
        return response


def tax_source(pagination: str = "page", page_size: int = 4) -> SourceConfig:
    base = load_sources()["tax_filing_api"]
    return dataclasses.replace(base, http=dataclasses.replace(base.http, pagination=pagination, page_size=page_size,
                                                              max_attempts=1))


def http_extraction(source: SourceConfig, api: DepartmentApi, chunk_rows: int) -> HttpExtraction:
    connection = Connection.from_uri(source.connection_id, "http://:token@127.0.0.1:9")
    return HttpExtraction(HttpExtractor(source, connection, session=api), None, chunk_rows)


@pytest.mark.parametrize("pagination", ["page", "cursor"])
def test_http_chunks_smaller_than_a_page_put_together_are_the_whole_batch(pagination: str) -> None:
    records = tax_records(10)
    source = tax_source(pagination, page_size=4)
    api = DepartmentApi(records)
    extraction = http_extraction(source, api, chunk_rows=3)

    chunks = list(_dataset_chunks(source, TAX_FILING, extraction, STARTED))

    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert (extraction.pages, extraction.requests, extraction.records) == (3, 3, 10)
    whole = to_dataset_frame(records_to_frame(records), TAX_FILING, source.columns, source.name)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert list(whole["source_row"]) == list(range(2, 12))
    assert list(whole["channel"][:4]) == [""] * 4 and whole["tax_amount"].iloc[-1] == "12.5"


@pytest.mark.parametrize(
    ("pagination", "api", "message"),
    [
        ("page", DepartmentApi(tax_records(10), short_last_page=True),
         "tax_filing_api: page 3 holds 1 records, fewer than the page size 4, but only 9 of 10 were received: "
         "truncated; nothing loaded"),
        ("cursor", DepartmentApi(tax_records(10), declared_total=11),
         "tax_filing_api: 10 records received but total is 11: truncated; nothing loaded"),
    ],
)
def test_a_truncation_found_on_the_last_page_raises_from_the_iteration(
        pagination: str, api: DepartmentApi, message: str) -> None:
    extraction = http_extraction(tax_source(pagination), api, chunk_rows=3)
    handed_on = []
    with pytest.raises(HttpSourceError) as failed:
        for chunk in extraction:
            handed_on.append(chunk)
    assert str(failed.value) == message
    # the first pages were handed on already: whatever took them must drop them, as land_batch
    # does when the iteration raises instead of ending
    assert [len(chunk) for chunk in handed_on] == [3, 3]
    assert api.served == 3


def test_a_record_moved_onto_a_later_page_fails_after_the_last_chunk() -> None:
    records = tax_records(8)
    records.append(dict(records[1], updateTime="2030-01-01 00:00:05"))  # changed while the pages were read
    source = tax_source("page", page_size=4)
    extraction = http_extraction(source, DepartmentApi(records), chunk_rows=3)
    chunks = _dataset_chunks(source, TAX_FILING, extraction, STARTED)
    handed_on = []
    with pytest.raises(HttpSourceError, match=r"^tax_filing_api: record F001 came on two pages \(1 repeated\)"):
        for chunk in chunks:
            handed_on.append(chunk)
    assert sum(len(chunk) for chunk in handed_on) == 9  # every record was handed on, then the check failed


def test_cursor_pages_are_not_checked_for_moved_records() -> None:
    records = tax_records(8)
    records.append(dict(records[1], updateTime="2030-01-01 00:00:05"))
    source = tax_source("cursor", page_size=4)
    chunks = list(_dataset_chunks(source, TAX_FILING, http_extraction(source, DepartmentApi(records), 5), STARTED))
    assert [len(chunk) for chunk in chunks] == [5, 4]


def test_database_chunks_of_chunk_rows_cover_every_row_once(tmp_path) -> None:
    path = tmp_path / "bdc.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table bdc_case (ywh text, gxsj text)")
        db.executemany("insert into bdc_case values (?, ?)",
                       [(f"C{n:02d}", f"2024-06-01 10:{n:02d}:00") for n in range(13)])
    db.close()
    base = load_sources()["bdc_real_estate_db"]
    source = dataclasses.replace(base, database=dataclasses.replace(base.database, table="bdc_case", chunk_size=3))
    connection = Connection.from_uri(source.connection_id, f"sqlite:///{path}")

    extraction = extract_database(source, connection, None, chunk_rows=5)
    chunks = list(extraction)

    assert [len(chunk) for chunk in chunks] == [5, 5, 3]
    assert list(pd.concat(chunks)["ywh"]) == [f"C{n:02d}" for n in range(13)]
    assert (extraction.rows, extraction.chunks, extraction.fetches) == (13, 3, 5)
    since = dt.datetime(2024, 6, 1, 10, 12)
    assert list(extract_database(source, connection, since, chunk_rows=5)) == []  # nothing changed: no chunk


def registration_frame(*rows: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), dtype=str)


REGISTRATION_ROW = {"市场主体类型": "企业", "所属区划代码": "152921", "成立日期": "2024-06-03", "登记状态": "存续",
                    "更新时间": "2024-06-03 12:00:00"}


def test_two_fields_of_one_column_in_different_chunks_refuse_the_extraction() -> None:
    mapping = DatasetChunks(REGISTRATION, {"qymc": "name"}, "api", fields_vary=True)
    first = mapping.map(registration_frame({"qymc": "甲", **REGISTRATION_ROW}))
    assert first["name"].tolist() == ["甲"] and first["source_row"].tolist() == [2]
    with pytest.raises(BatchRejected) as refused:
        mapping.map(registration_frame({"企业名称": "乙", **REGISTRATION_ROW}))
    assert str(refused.value) == ("api: headers 'qymc' and '企业名称' both name column 企业名称(name); "
                                  "deliver one of them")


def test_a_required_column_is_missing_only_when_no_chunk_names_it() -> None:
    without_status = {k: v for k, v in REGISTRATION_ROW.items() if k != "登记状态"}
    varying = DatasetChunks(REGISTRATION, {}, "api", fields_vary=True)
    varying.map(registration_frame({"企业名称": "甲", **without_status}))
    later = varying.map(registration_frame({"企业名称": "乙", **REGISTRATION_ROW}))
    varying.finish()
    assert later["status"].tolist() == ["存续"] and later["source_row"].tolist() == [3]

    never = DatasetChunks(REGISTRATION, {}, "api", fields_vary=True)
    never.map(registration_frame({"企业名称": "甲", **without_status}))
    with pytest.raises(BatchRejected, match=r"^api: missing required column\(s\) 登记状态\(status\)$"):
        never.finish()

    fixed = DatasetChunks(REGISTRATION, {}, "db")  # a cursor: every chunk has every field
    with pytest.raises(BatchRejected, match=r"^db: missing required column\(s\) 登记状态\(status\)$"):
        fixed.map(registration_frame({"企业名称": "甲", **without_status}))


def test_an_extraction_of_empty_chunks_is_nothing_changed() -> None:
    empty = pd.DataFrame(columns=["qymc"], dtype=str)
    assert _with_rows(iter([empty, empty])) is None
    assert _with_rows(iter([])) is None
    chunks = _with_rows(iter([empty, registration_frame({"a": "1"}), registration_frame({"a": "2"})]))
    assert chunks is not None
    assert [chunk["a"].tolist() for chunk in chunks] == [["1"], ["2"]]


@pytest.mark.parametrize("pagination", ["page", "cursor"])
def test_an_api_with_nothing_changed_hands_on_no_chunk(pagination: str) -> None:
    source = tax_source(pagination)
    extraction = http_extraction(source, DepartmentApi([]), chunk_rows=3)
    assert _with_rows(_dataset_chunks(source, TAX_FILING, extraction, STARTED)) is None
    assert (extraction.pages, extraction.records) == (1, 0)
