"""The registration suite through run_suite: row-level failures for every rule kind, the
per-expectation summary, and GX Data Docs. Here rather than in the fast suite: importing Great
Expectations alone costs seconds of CPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from bizenv import codes
from bizenv.datasets import DATASETS, REGISTRATION
from bizenv.standardize import standardize
from bizenv.validate import (
    RESULT_COLUMNS,
    build_data_docs,
    load_suite_document,
    run_suite,
    suite_columns,
    suite_parameters,
)


def _row(n: int, **changes: str) -> dict[str, str]:
    row = {
        "uscc": codes.make_uscc("91", "152921", f"MA0N{n:04d}"),
        "legacy_reg_no": "",
        "name": f"测试{n}有限公司",
        "entity_type": "企业",
        "legal_rep_name": "张三",
        "legal_rep_id": "152921199001011235",
        "region_code": "152921",
        "industry_code": "I6510",
        "registered_capital": "100",
        "established_date": "2024-06-03",
        "submitted_at": "2024-06-03 09:00:00",
        "issued_at": "2024-06-03 11:00:00",
        "channel": "全程电子化",
        "event_type": "",
        "status": "存续",
        "status_date": "",
        "updated_at": "2024-06-30 10:00:00",
    }
    return row | changes


# source_row -> (field, rule) it must fail (row 2 is clean)
BROKEN = {
    3: ({"uscc": ""}, ("uscc", "required")),
    4: ({"name": "  "}, ("name", "required")),
    5: ({"entity_type": ""}, ("entity_type", "required")),
    6: ({"region_code": ""}, ("region_code", "required")),
    7: ({"established_date": ""}, ("established_date", "required")),
    8: ({"status": ""}, ("status", "required")),
    9: ({"updated_at": ""}, ("updated_at", "required")),
    10: ({"entity_type": "外资企业"}, ("entity_type", "not_in_allowed_values")),
    11: ({"status": "歇业"}, ("status", "not_in_allowed_values")),
    12: ({"channel": "邮寄"}, ("channel", "not_in_allowed_values")),
    13: ({"region_code": "152999"}, ("region_code", "region_unknown")),
    14: ({"issued_at": "2024-06-02 11:00:00"}, ("issued_at", "completion_before_submission")),
    15: ({"updated_at": "2024-06-03 10:00:00"}, ("updated_at", "updated_before_issued")),
    16: ({"registered_capital": "-5"}, ("registered_capital", "out_of_range")),
}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    records = [_row(2)] + [_row(n, **changes) for n, (changes, _) in BROKEN.items()]
    # rows 17 and 18: the same entity and update time twice with different content
    records += [_row(17, industry_code="I651"), _row(17, industry_code="I652")]
    # row 19: industry code in the wrong shape (a warning: recorded, not a row failure)
    records += [_row(19, industry_code="6510X")]
    raw = pd.DataFrame(records)
    raw["source_row"] = range(2, len(raw) + 2)
    return standardize(REGISTRATION, raw).rows


def test_every_rule_kind_reports_its_rows(rows):
    outcome = run_suite("registration", rows)
    found = {(r.source_row, r.field, r.rule) for r in outcome.failures.itertuples()}
    expected = {(row, field, rule) for row, (_, (field, rule)) in BROKEN.items()}
    expected |= {(17, "uscc", "conflicting_duplicate"), (18, "uscc", "conflicting_duplicate")}
    assert found == expected
    rules_in_suite = {e["meta"]["rule"] for e in load_suite_document("registration")["expectations"]}
    assert {rule for _, _, rule in found} | {"industry_code_format"} == rules_in_suite


def test_failure_values_are_the_offending_values(rows):
    failures = run_suite("registration", rows).failures.set_index(["source_row", "rule"])["value"]
    assert failures[(13, "region_unknown")] == "152999"
    assert failures[(12, "not_in_allowed_values")] == "邮寄"
    assert failures[(16, "out_of_range")] == "-5.0"
    assert failures[(3, "required")] == ""


def test_summary_has_one_row_per_expectation_with_counts(rows):
    results = run_suite("registration", rows).results
    assert list(results.columns) == RESULT_COLUMNS
    assert len(results) == len(load_suite_document("registration")["expectations"])
    assert (results["element_count"] == len(rows)).all()
    warning = results[results["rule"] == "industry_code_format"].iloc[0]
    assert warning["severity"] == "warning" and not warning["success"] and warning["unexpected_count"] == 1
    required = results[results["rule"] == "required"].set_index("column_name")["unexpected_count"]
    assert required.to_dict() == {c: 1 for c in ["uscc", "name", "entity_type", "region_code",
                                                 "established_date", "status", "updated_at"]}
    assert results.loc[results["rule"] == "conflicting_duplicate", "unexpected_count"].item() == 2


def test_clean_rows_pass_without_failures(rows):
    outcome = run_suite("registration", rows[rows["source_row"] == 2])
    assert outcome.failures.empty
    assert outcome.results["success"].all()
    assert (outcome.results["unexpected_count"] == 0).all()


def test_empty_batch_and_suite_columns():
    outcome = run_suite("registration", pd.DataFrame(columns=["source_row", *REGISTRATION.column_names]))
    assert outcome.failures.empty and outcome.results.empty and outcome.gx_result is None
    assert {"uscc", "updated_at", "issued_at", "submitted_at", "industry_code"} <= set(suite_columns("registration"))
    assert "legal_rep_id" not in suite_columns("registration")  # GX never sees personal IDs


def test_data_docs_index_mentions_the_suite(rows, tmp_path: Path):
    outcome = run_suite("registration", rows)
    index = build_data_docs("registration", outcome, tmp_path / "docs")
    assert index == (tmp_path / "docs" / "index.html").resolve()
    html = index.read_text(encoding="utf-8")
    assert "registration" in html
    pages = list((tmp_path / "docs" / "validations").rglob("*.html"))
    assert len(pages) == 1
    assert "registration" in pages[0].read_text(encoding="utf-8")
    # a second run through run_suite(docs_dir=...) adds its page next to the first
    run_suite("registration", rows[rows["source_row"] == 2], docs_dir=tmp_path / "docs")
    assert len(list((tmp_path / "docs" / "validations").rglob("*.html"))) == 2
    assert index.read_text(encoding="utf-8").count("validations/registration/") == 2  # both runs listed


def test_data_docs_accepts_the_gx_result(rows, tmp_path: Path):
    outcome = run_suite("registration", rows)
    index = build_data_docs("registration", outcome.gx_result, tmp_path)
    assert index.exists()
    with pytest.raises(ValueError):
        build_data_docs("registration", run_suite("registration", rows.iloc[0:0]), tmp_path)


def test_a_rejection_names_the_first_failing_row_and_the_commonest_failure_over_every_chunk():
    from bizenv.ingest import _FailureTally

    chunks = [
        pd.DataFrame({"source_row": [9, 7], "field": ["region_code", "region_code"],
                      "rule": ["region_known", "region_known"], "value": ["152999", "152999"]}),
        pd.DataFrame({"source_row": [4, 5, 5], "field": ["uscc", "region_code", "region_code"],
                      "rule": ["uscc_check_char", "region_known", "region_known"],
                      "value": ["91152921MA0N0001X", "152999", "152999"]}),
    ]
    tally = _FailureTally()
    for failures in chunks:
        tally.add(failures)
    assert tally.detail(REGISTRATION) == (
        "first at row 4 field 统一社会信用代码 (uscc_check_char); most frequent: 所属区划代码 (region_known) in 3 rows")


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_the_suites_take_their_value_sets_from_the_dataset_contracts(dataset):
    in_set = [e["kwargs"] for e in load_suite_document(dataset)["expectations"]
              if e["type"] == "expect_column_values_to_be_in_set"]
    # no list of values in the suite file: a second copy could drift from datasets.py
    assert all(set(kwargs["value_set"]) == {"$PARAMETER"} for kwargs in in_set)
    enums = {c.name for c in DATASETS[dataset].columns if c.values}
    checked = {k["column"] for k in in_set if k["value_set"]["$PARAMETER"] == f"{k['column']}_values"}
    assert checked == enums  # every contract value list is checked, and nothing else by that name
    parameters = suite_parameters(dataset)
    assert {name: parameters[name] for name in (f"{c}_values" for c in enums)} == {
        f"{c.name}_values": list(c.values) for c in DATASETS[dataset].columns if c.values}


def test_a_value_added_to_the_contract_is_accepted_without_touching_the_suite(rows, monkeypatch):
    by_post = rows[rows["source_row"] == 12]  # channel 邮寄
    assert set(run_suite("registration", by_post).failures["rule"]) == {"not_in_allowed_values"}
    channel = REGISTRATION.column("channel")
    widened = dataclasses.replace(channel, values=(*channel.values, "邮寄"))
    contract = dataclasses.replace(
        REGISTRATION, columns=tuple(widened if c.name == "channel" else c for c in REGISTRATION.columns))
    monkeypatch.setitem(DATASETS, "registration", contract)
    assert run_suite("registration", by_post).failures.empty
