"""A batch split into chunks finds exactly the repeated rows and key conflicts that the whole
batch at once does (pandas' `duplicated` over the whole batch), however it is split."""

from __future__ import annotations

import platform
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bizenv import chunks
from bizenv.chunks import KeyClaims, SeenRows, release_chunk_memory, row_hashes

VALUES = st.sampled_from(["a", "b", "", None])
TIMES = st.sampled_from([pd.Timestamp("2024-06-01 08:00"), pd.Timestamp("2024-06-01 08:00:01"), None])


@st.composite
def batches(draw):
    size = draw(st.integers(0, 40))
    frame = pd.DataFrame({
        "code": pd.array(draw(st.lists(VALUES, min_size=size, max_size=size)), dtype="string"),
        "at": pd.to_datetime(pd.Series(draw(st.lists(TIMES, min_size=size, max_size=size)), dtype="object")),
        "amount": pd.array(draw(st.lists(st.sampled_from([1.5, 0.0, -0.0, None]), min_size=size, max_size=size)),
                           dtype="Float64"),
    })
    frame.insert(0, "source_row", np.arange(2, size + 2))
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=5)))
    return frame, [0, *cuts, size]


def _chunk(frame: pd.DataFrame) -> pd.DataFrame:
    # typed on its own, as each chunk of a batch is: a column without a value there is untyped
    return frame.reset_index(drop=True).assign(**{
        name: pd.Series([None] * len(frame), dtype=object)
        for name in ("code", "at", "amount") if frame[name].isna().all()})


def _chunks(frame: pd.DataFrame, bounds: list[int]) -> list[pd.DataFrame]:
    return [_chunk(frame.iloc[a:b]) for a, b in pairwise(bounds)]


# the production run sizes, and runs so small that every chunk merges and spills to files
RUN_SIZES = [{}, {"merged_run_rows": 4, "spilled_run_rows": 2}]


@pytest.mark.parametrize("run_sizes", RUN_SIZES)
@settings(max_examples=50, deadline=None)
@given(batch=batches())
def test_repeated_rows_across_chunks_are_the_whole_batch_duplicates(run_sizes, batch):
    frame, bounds = batch
    seen = SeenRows(**run_sizes)
    found = np.concatenate([seen.repeated(chunk[["code", "at", "amount"]]) for chunk in _chunks(frame, bounds)]
                           or [np.array([], dtype=bool)])
    expected = frame[["code", "at", "amount"]].astype(object).duplicated(keep="first").to_numpy()
    assert found.tolist() == expected.tolist()


def _shared_keys(frame: pd.DataFrame) -> set[int]:
    keyed = frame[frame[["code", "at"]].notna().any(axis=1)]
    return set(keyed.loc[keyed[["code", "at"]].astype(object).duplicated(keep=False), "source_row"].tolist())


@pytest.mark.parametrize("run_sizes", RUN_SIZES)
@settings(max_examples=50, deadline=None)
@given(batch=batches())
def test_key_conflicts_across_chunks_with_those_inside_chunks_are_the_whole_batch_conflicts(run_sizes, batch):
    frame, bounds = batch
    claims = KeyClaims(["code", "at"], **run_sizes)
    flagged: set[int] = set()
    for chunk in _chunks(frame, bounds):
        current, earlier = claims.conflicts(chunk)
        flagged |= set(current.tolist()) | set(earlier.tolist())
        flagged |= _shared_keys(chunk)  # what the suite finds in each chunk
    assert flagged == _shared_keys(frame)


def test_a_missing_value_hashes_alike_whatever_dtype_its_chunk_gave_the_column():
    as_objects = pd.DataFrame({"at": [None], "amount": [None], "code": [None]}, dtype=object)
    typed = pd.DataFrame({"at": pd.to_datetime([None]), "amount": pd.array([None], dtype="Float64"),
                          "code": pd.array([None], dtype="string")})
    assert [h.tolist() for h in row_hashes(as_objects)] == [h.tolist() for h in row_hashes(typed)]
    assert row_hashes(typed)[0].tolist() != row_hashes(typed.assign(code="x"))[0].tolist()


def test_chunk_memory_goes_back_to_the_system_on_glibc() -> None:
    # on glibc (the production image is Debian) the trim must be found, or what each chunk freed
    # stays mapped and the peak creeps up chunk by chunk; other C libraries have no malloc_trim
    assert (chunks._MALLOC_TRIM is not None) == (platform.libc_ver()[0] == "glibc")
    release_chunk_memory()


def test_big_runs_live_in_files_that_close_deletes() -> None:
    seen = SeenRows(merged_run_rows=8, spilled_run_rows=4)
    frame = pd.DataFrame({"code": pd.array([f"c{n}" for n in range(12)], dtype="string")})
    assert not seen.repeated(frame.iloc[:10]).any()  # a run of 10 rows: spilled to a file
    assert not seen.repeated(frame.iloc[10:]).any()  # a run of 2 rows: kept in memory
    directory = Path(seen._runs._directory.name)
    assert len(list(directory.glob("run-*.npy"))) == 1 and len(seen._runs.runs) == 1 and len(seen) == 12
    assert seen.repeated(frame.iloc[[11, 0, 4]]).all()  # found in memory (11) and in the file (0, 4)
    seen.close()
    assert not directory.exists() and len(seen) == 0
