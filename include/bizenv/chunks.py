"""What a batch processed chunk by chunk must still see whole: rows repeated anywhere in it, and
keys that two of its rows claim (docs/performance.md).

Both remember 128 bits per row (two independent 64-bit hashes of the values; the key claims a
row number too), never the rows: memory grows by 16 (20) bytes a row however wide the rows are.
The hashes are kept as sorted runs, merged like a log-structured tree up to a million rows a
run, and a chunk is looked up in each run by binary search.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# (hash key for text, constant mixed into numbers) of each of the two hashes
_HASHINGS = (("bizenv-chunks-01", np.uint64(0x9E3779B97F4A7C15)), ("bizenv-chunks-02", np.uint64(0xC2B2AE3D27D4EB4F)))
_MISSING = np.uint64(0x5BD1E9955BD1E995)
_MULTIPLIER = np.uint64(0x100000001B3)


def _column_hash(values: pd.Series, text_key: str, salt: np.uint64) -> np.ndarray:
    """A 64-bit hash per value. A missing value hashes the same whatever dtype its chunk gave the
    column (an all-missing column comes back as object in one chunk, as datetime in the next);
    numbers and times hash their bits, text its characters."""
    missing = values.isna().to_numpy(dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        bits = values.to_numpy(dtype="datetime64[us]").view(np.int64).view(np.uint64)
        hashed = pd.util.hash_array(bits ^ salt)
    elif pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=0.0) + 0.0  # -0.0 and 0.0 alike
        hashed = pd.util.hash_array(numbers.view(np.uint64) ^ salt)
    else:
        text = values.astype("string").fillna("")
        hashed = pd.util.hash_pandas_object(text, index=False, hash_key=text_key).to_numpy(np.uint64)
    return np.where(missing, _MISSING, hashed)


def row_hashes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes per row of `frame`'s values (column order matters, the
    index does not)."""
    result = []
    with np.errstate(over="ignore"):
        for text_key, salt in _HASHINGS:
            combined = np.full(len(frame), salt, dtype=np.uint64)
            for name in frame.columns:
                combined = (combined * _MULTIPLIER) ^ _column_hash(frame[name], text_key, salt)
            result.append(pd.util.hash_array(combined))
    return result[0], result[1]


# Runs are merged until they hold this many rows: bigger merges would cost more memory in
# temporary copies (a merge copies both runs) than the lookups they save.
MERGED_RUN_ROWS = 1 << 18


def _repeated_within(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Which (first, second) pairs repeat one higher up in the same arrays."""
    return pd.DataFrame({"first": first, "second": second}).duplicated(keep="first").to_numpy()


class _Runs:
    """Sorted runs of (first hash, second hash[, payload])."""

    def __init__(self, payload: type | None = None) -> None:
        self.payload = payload
        self.runs: list[tuple[np.ndarray, ...]] = []

    def find(self, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """For each (first, second): whether it is held, and the payload held with it."""
        found = np.zeros(len(first), dtype=bool)
        payload = np.zeros(len(first), dtype=self.payload) if self.payload is not None else None
        for run in self.runs:
            run_first, run_second = run[0], run[1]
            at = np.searchsorted(run_first, first)
            inside = at < len(run_first)
            at = np.where(inside, at, 0)
            # equal first hashes of different rows are a 2^-64 event; the second hash tells them apart
            hit = inside & (run_first[at] == first) & (run_second[at] == second) & ~found
            if payload is not None:
                payload[hit] = run[2][at[hit]]
            found |= hit
        return found, payload

    def add(self, first: np.ndarray, second: np.ndarray, payload: np.ndarray | None = None) -> None:
        if not len(first):
            return
        order = np.argsort(first, kind="stable")
        parts = (first, second) if self.payload is None else (first, second, payload.astype(self.payload))
        self.runs.append(tuple(part[order] for part in parts))
        while (len(self.runs) > 1 and len(self.runs[-2][0]) <= len(self.runs[-1][0])
               and len(self.runs[-2][0]) + len(self.runs[-1][0]) <= MERGED_RUN_ROWS):
            newer, older = self.runs.pop(), self.runs.pop()
            merged = [np.concatenate([a, b]) for a, b in zip(older, newer, strict=True)]
            del newer, older
            order = np.argsort(merged[0], kind="stable")
            self.runs.append(tuple(part[order] for part in merged))

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self.runs)


class SeenRows:
    """Rows already met in this batch: `repeated` marks each row of a chunk that repeats an
    earlier one, in an earlier chunk or higher up in the same chunk (the first stays)."""

    def __init__(self) -> None:
        self._runs = _Runs()

    def repeated(self, rows: pd.DataFrame) -> np.ndarray:
        first, second = row_hashes(rows)
        earlier, _ = self._runs.find(first, second)
        within = _repeated_within(first, second)
        repeated = earlier | within
        new = ~repeated
        self._runs.add(first[new], second[new])
        return repeated

    def __len__(self) -> int:
        return len(self._runs)


class KeyClaims:
    """Which row first claimed each key of this batch (a key: the values of `columns`). A row
    claiming a key a row of an earlier chunk claimed conflicts with it; conflicts inside one
    chunk are the validation suite's. Rows whose key columns are all missing claim nothing
    (as Great Expectations' compound-uniqueness check ignores them)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self._runs = _Runs(payload=np.int32)  # a source row: a file's row number fits

    def conflicts(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Claim the keys of `rows` (with `source_row`): returns the source rows of this chunk
        whose key an earlier chunk claimed, and the earlier source rows they conflict with."""
        keyed = rows[self.columns].notna().any(axis=1).to_numpy()
        rows = rows[keyed]
        first, second = row_hashes(rows[self.columns])
        source_rows = rows["source_row"].to_numpy(np.int64)
        earlier, earlier_rows = self._runs.find(first, second)
        unclaimed = ~earlier & ~_repeated_within(first, second)
        self._runs.add(first[unclaimed], second[unclaimed], source_rows[unclaimed])
        return source_rows[earlier], np.unique(earlier_rows[earlier]).astype(np.int64)
