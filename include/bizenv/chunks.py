"""What a batch processed chunk by chunk must still see whole: rows repeated anywhere in it, and
keys that two of its rows claim (docs/performance.md).

Both remember 96 bits per row (a 64-bit hash of the values and 32 bits of a second, independent
one; the key claims a row number too), never the rows: memory grows by 12 (16) bytes a row
however wide the rows are. Two different rows of a 10-million-row batch look alike with
probability about 10^-15. The hashes are kept as sorted runs, merged like a log-structured tree
up to 262,144 rows a run, and a chunk is looked up in each run by binary search. Runs of 131,072
rows and more go to temporary files, so every run left in memory is smaller than that whatever
the batch's size; each chunk reads the earlier runs back one at a time. `close()` deletes the
files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

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
# A run this big is written to a temporary file and read back, one run at a time, to look a chunk
# up in it: every run kept in memory is smaller than this however long the batch, and every
# chunk reads the runs written before it (12-16 bytes a row from the page cache, a fraction of a
# second a chunk at ten million rows).
SPILLED_RUN_ROWS = 1 << 17


def _repeated_within(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Which (first, second) pairs repeat one higher up in the same arrays."""
    return pd.DataFrame({"first": first, "second": second}).duplicated(keep="first").to_numpy()


def _kept_bits(second: np.ndarray) -> np.ndarray:
    """The 32 bits of the second hash a run keeps."""
    return (second >> np.uint64(32)).astype(np.uint32)


class _Runs:
    """Sorted runs of (first hash, 32 bits of the second hash[, payload]): the small ones in
    memory, the big ones in files of a temporary directory that goes when the runs do. A hash is
    added once (its owners add only what they did not find), so a lookup may visit the runs in
    any order."""

    def __init__(self, payload: type | None = None, *, merged_run_rows: int = MERGED_RUN_ROWS,
                 spilled_run_rows: int = SPILLED_RUN_ROWS) -> None:
        self.payload = payload
        self.merged_run_rows = merged_run_rows
        self.spilled_run_rows = spilled_run_rows
        self.runs: list[tuple[np.ndarray, ...]] = []
        self.spilled: list[tuple[Path, int]] = []
        self._directory: tempfile.TemporaryDirectory | None = None

    def _spill(self, run: tuple[np.ndarray, ...]) -> None:
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix="bizenv-chunks-")
        path = Path(self._directory.name) / f"run-{len(self.spilled)}.npy"
        with path.open("wb") as handle:
            for part in run:
                np.save(handle, part, allow_pickle=False)
        self.spilled.append((path, len(run[0])))

    def _read(self, path: Path) -> tuple[np.ndarray, ...]:
        with path.open("rb") as handle:
            return tuple(np.load(handle, allow_pickle=False) for _ in range(2 if self.payload is None else 3))

    def _every_run(self) -> Iterator[tuple[np.ndarray, ...]]:
        for path, _ in self.spilled:
            yield self._read(path)
        yield from self.runs

    def find(self, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """For each (first, second): whether it is held, and the payload held with it."""
        found = np.zeros(len(first), dtype=bool)
        payload = np.zeros(len(first), dtype=self.payload) if self.payload is not None else None
        second = _kept_bits(second)
        for run in self._every_run():
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
        second = _kept_bits(second)
        parts = (first, second) if self.payload is None else (first, second, payload.astype(self.payload))
        self.runs.append(tuple(part[order] for part in parts))
        while (len(self.runs) > 1 and len(self.runs[-2][0]) <= len(self.runs[-1][0])
               and len(self.runs[-2][0]) + len(self.runs[-1][0]) <= self.merged_run_rows):
            newer, older = self.runs.pop(), self.runs.pop()
            merged = [np.concatenate([a, b]) for a, b in zip(older, newer, strict=True)]
            del newer, older
            order = np.argsort(merged[0], kind="stable")
            self.runs.append(tuple(part[order] for part in merged))
        while self.runs and len(self.runs[-1][0]) >= self.spilled_run_rows:
            self._spill(self.runs.pop())

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self.runs) + sum(rows for _, rows in self.spilled)

    def close(self) -> None:
        """Forget every run and delete the files now, not when the object is collected: a failed
        task's traceback keeps it alive, and its process ends without running finalizers."""
        self.runs, self.spilled = [], []
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None


class SeenRows:
    """Rows already met in this batch: `repeated` marks each row of a chunk that repeats an
    earlier one, in an earlier chunk or higher up in the same chunk (the first stays)."""

    def __init__(self, *, merged_run_rows: int = MERGED_RUN_ROWS, spilled_run_rows: int = SPILLED_RUN_ROWS) -> None:
        self._runs = _Runs(merged_run_rows=merged_run_rows, spilled_run_rows=spilled_run_rows)

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

    def close(self) -> None:
        self._runs.close()


class KeyClaims:
    """Which row first claimed each key of this batch (a key: the values of `columns`). A row
    claiming a key a row of an earlier chunk claimed conflicts with it; conflicts inside one
    chunk are the validation suite's. Rows whose key columns are all missing claim nothing
    (as Great Expectations' compound-uniqueness check ignores them)."""

    def __init__(self, columns: list[str], *, merged_run_rows: int = MERGED_RUN_ROWS,
                 spilled_run_rows: int = SPILLED_RUN_ROWS) -> None:
        self.columns = columns
        # the payload is a source row: a file's row number fits
        self._runs = _Runs(payload=np.int32, merged_run_rows=merged_run_rows, spilled_run_rows=spilled_run_rows)

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

    def close(self) -> None:
        self._runs.close()


def _glibc_malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _glibc_malloc_trim()


def release_chunk_memory() -> None:
    """Hand the memory a finished chunk freed back to the operating system. Arrow's pool and
    glibc's arenas otherwise keep it, fragmented, and each chunk's peak lands a little higher
    than the last: a 2M-row file peaked 80 MB above what its chunks and bookkeeping need."""
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
