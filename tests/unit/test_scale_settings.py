"""The knobs that bound an ingest's memory: rows per chunk and the embedded warehouse's limit."""

from __future__ import annotations

import argparse

import pytest

from bizenv.cli import _row_counts
from bizenv.settings import CHUNK_ROWS_ENV, DEFAULT_CHUNK_ROWS, chunk_rows
from bizenv.warehouse import DEFAULT_DUCKDB_MEMORY_LIMIT, DUCKDB_MEMORY_LIMIT_ENV, duckdb_memory_limit


def test_chunk_rows_default_and_override(monkeypatch):
    monkeypatch.delenv(CHUNK_ROWS_ENV, raising=False)
    assert chunk_rows() == DEFAULT_CHUNK_ROWS == 100_000
    monkeypatch.setenv(CHUNK_ROWS_ENV, "5000")
    assert chunk_rows() == 5000
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(CHUNK_ROWS_ENV, bad)
        with pytest.raises(ValueError, match=CHUNK_ROWS_ENV):
            chunk_rows()


def test_the_embedded_warehouse_memory_limit_is_a_size(monkeypatch):
    monkeypatch.delenv(DUCKDB_MEMORY_LIMIT_ENV, raising=False)
    assert duckdb_memory_limit() == DEFAULT_DUCKDB_MEMORY_LIMIT
    monkeypatch.setenv(DUCKDB_MEMORY_LIMIT_ENV, "512MB")
    assert duckdb_memory_limit() == "512MB"
    monkeypatch.setenv(DUCKDB_MEMORY_LIMIT_ENV, "half; drop table x")
    with pytest.raises(ValueError, match=f"{DUCKDB_MEMORY_LIMIT_ENV}='half; drop table x' is not a size"):
        duckdb_memory_limit()


def test_bench_memory_rows_are_a_list_of_counts():
    assert _row_counts("200000,2000000") == [200000, 2000000]
    for bad in ("", "0,5", "a,b"):
        with pytest.raises(argparse.ArgumentTypeError):
            _row_counts(bad)
