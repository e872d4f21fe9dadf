"""A batch split into chunks finds exactly the repeated rows and key conflicts that the whole
batch at once does (pandas' `duplicated` over the whole batch), however it is split."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bizenv.chunks import KeyClaims, SeenRows, row_hashes

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


@settings(max_examples=80, deadline=None)
@given(batches())
def test_repeated_rows_across_chunks_are_the_whole_batch_duplicates(batch):
    frame, bounds = batch
    seen = SeenRows()
    found = np.concatenate([seen.repeated(chunk[["code", "at", "amount"]]) for chunk in _chunks(frame, bounds)]
                           or [np.array([], dtype=bool)])
    expected = frame[["code", "at", "amount"]].astype(object).duplicated(keep="first").to_numpy()
    assert found.tolist() == expected.tolist()


def _shared_keys(frame: pd.DataFrame) -> set[int]:
    keyed = frame[frame[["code", "at"]].notna().any(axis=1)]
    return set(keyed.loc[keyed[["code", "at"]].astype(object).duplicated(keep=False), "source_row"].tolist())


@settings(max_examples=80, deadline=None)
@given(batches())
def test_key_conflicts_across_chunks_with_those_inside_chunks_are_the_whole_batch_conflicts(batch):
    frame, bounds = batch
    claims = KeyClaims(["code", "at"])
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
