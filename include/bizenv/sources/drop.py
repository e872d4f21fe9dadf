"""File drops: a directory a department delivers CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM,
GB18030) or XLSX files into.

A run picks up the files directly in the drop directory that match the source's patterns, in
delivery order (modification time, then name). It leaves alone partial uploads (`*.part`,
`*.tmp`, `~$*`, dot files, ...), subdirectories, and anything that resolves outside the drop
directory (a symlink pointing elsewhere is never followed). Any other file it does not take is
named in a warning; an Excel 97-2003 `.xls` beside the `*.xlsx` pattern is taken so that it is
refused (or read, with xlrd installed) rather than ignored.

A file is ready when a marker `<file>.done` sits beside it (whatever its age), or when its size
and modification time stayed the same for `stable_seconds` (the source's option when set, else
$BIZENV_DROP_STABLE_SECONDS, default 30; the run watches the pending files that long, once):
a modification time alone proves nothing, `cp -p` and `rsync -t` give a half-copied file its
source's old time. With `min_age_seconds`, files modified too recently also wait.

Each file is claimed before it is read (a lock file `.<file>.bizenv-claim` held with flock, so a
crashed run leaves no stale claim), so two runs over the same directory never take the same
file: the later one skips it with one line. A file's SHA-256 (read in blocks, the file is never
held whole in memory) is the batch checksum, so a re-delivered file (the same bytes under any
name) is recognised against the loaded batches in ops.batch and not loaded twice; its rows are
then read chunk by chunk, and a file that changes in between is refused rather than loaded under
another content's checksum. Processed files move to the archive.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bizenv.codes import masked_file_name
from bizenv.datasets import Dataset
from bizenv.settings import env_number
from bizenv.sources.config import FileDropOptions, SourceConfig, SourceRefused
from bizenv.sources.files import BatchRejected, file_checksum, iter_department_file

log = logging.getLogger(__name__)

DONE_SUFFIX = ".done"
CLAIM_SUFFIX = ".bizenv-claim"
STABLE_SECONDS_ENV = "BIZENV_DROP_STABLE_SECONDS"
DEFAULT_STABLE_SECONDS = 30.0


class DropRejected(SourceRefused, BatchRejected):
    """Some dropped files could not be read at all (unreadable, missing required columns); they
    were moved to the archive's `rejected/`. `summaries` holds the batches of the files that
    were processed in the same run. A BatchRejected: the data must change, retrying won't help."""

    def __init__(self, message: str, summaries: list) -> None:
        super().__init__(message)
        self.summaries = summaries


@dataclass(frozen=True)
class DropFile:
    path: Path  # as found in the drop directory (what gets archived)
    checksum: str  # SHA-256 of its content: the batch checksum
    stamp: tuple[int, int, int]  # size, modification time and inode while the checksum was taken

    @property
    def name(self) -> str:
        return masked_file_name(self.path.name)

    def refuse_if_changed(self) -> None:
        """The checksum stands for the rows read only while the file stays as it was."""
        try:
            current = _stamp(self.path)
        except OSError as error:
            raise BatchRejected(f"{self.name}: cannot read file ({error.strerror or error})") from None
        if current != self.stamp:
            raise BatchRejected(f"{self.name}: the file changed while it was being read; nothing loaded, "
                                "deliver it again")


def _stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns, status.st_ino


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def stable_seconds(options: FileDropOptions) -> float:
    """How long a file without a `.done` marker must keep its size: the source's
    `stable_seconds` when set, else $BIZENV_DROP_STABLE_SECONDS, else 30."""
    if options.stable_seconds is not None:
        return float(options.stable_seconds)
    try:
        return env_number(STABLE_SECONDS_ENV, DEFAULT_STABLE_SECONDS, "seconds")
    except ValueError as error:
        raise SourceRefused(str(error)) from None


def done_marker(path: Path) -> Path:
    return path.with_name(path.name + DONE_SUFFIX)


def _is_legacy_workbook_name(name: str, patterns: tuple[str, ...]) -> bool:
    return name.lower().endswith(".xls") and any(p.lower().endswith(".xlsx") for p in patterns)


def _snapshot(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def new_files(options: FileDropOptions, drop_dir: Path, *, now: float | None = None,
              stable_for: float | None = None, sleep: Callable[[float], None] | None = None) -> list[Path]:
    """Files ready for pickup, oldest delivery first. `stable_for` overrides `stable_seconds`
    (tests); `sleep` is how the run waits while it watches pending files."""
    if not drop_dir.is_dir():
        log.info("drop directory %s does not exist (yet): nothing to pick up", drop_dir)
        return []
    root = drop_dir.resolve()
    now = time.time() if now is None else now
    wait = stable_seconds(options) if stable_for is None else stable_for
    entries = {entry.name: entry for entry in os.scandir(drop_dir)}
    names = set(entries)
    candidates: list[tuple[float, str, Path]] = []
    for name in sorted(names):
        if name.endswith(CLAIM_SUFFIX) or _matches(name, options.ignore):
            continue
        if entries[name].is_dir(follow_symlinks=False):
            continue
        if name.endswith(DONE_SUFFIX) and name.removesuffix(DONE_SUFFIX) in names:
            continue
        if not _matches(name, options.pattern) and not _is_legacy_workbook_name(name, options.pattern):
            log.warning("%s: not taken, its name matches none of the source's patterns (%s)",
                        masked_file_name(drop_dir / name), ", ".join(options.pattern))
            continue
        path = drop_dir / name
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            log.warning("ignoring %s: broken link or unreadable path", masked_file_name(path))
            continue
        if not resolved.is_relative_to(root) or resolved == root:
            log.warning("ignoring %s: it resolves outside the drop directory %s", masked_file_name(path), root)
            continue
        if not resolved.is_file():
            continue
        modified = resolved.stat().st_mtime
        marked = name + DONE_SUFFIX in names  # the department says the upload is complete
        if options.min_age_seconds and not marked and now - modified < options.min_age_seconds:
            log.info("leaving %s for the next run: modified %.0f s ago", masked_file_name(path), now - modified)
            continue
        candidates.append((modified, name, path))
    pending = {path: _snapshot(path) for _, name, path in candidates
               if wait > 0 and name + DONE_SUFFIX not in names}
    if pending:
        log.info("%s: watching %d file(s) without a .done marker for %.0f s to see that their size "
                 "stays the same", drop_dir, len(pending), wait)
        (sleep or time.sleep)(wait)
    ready = []
    for _modified, _name, path in sorted(candidates):
        if path in pending and _snapshot(path) != pending[path]:
            log.info("leaving %s for the next run: still being written (its size or time changed "
                     "within %.0f s)", masked_file_name(path), wait)
            continue
        ready.append(path)
    return ready


def _lock(handle: int, lock_path: Path, path: Path) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
            raise
        log.warning("%s: skipped, another run is processing it", masked_file_name(path))
        return False
    try:
        current = os.stat(lock_path).st_ino
    except FileNotFoundError:
        current = None
    ours = os.fstat(handle).st_ino
    if current != ours or not os.path.lexists(path):
        # the other run finished between our listing and our claim: the file is archived
        if current == ours:
            lock_path.unlink(missing_ok=True)
        log.warning("%s: skipped, another run has taken it already", masked_file_name(path))
        return False
    return True


@contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """Hold the claim on a drop file while it is processed; yields False (and logs why) when
    another run holds it or has taken the file already. The claim is an flock on a lock file
    beside it: the kernel drops it when its process dies, so a crashed run blocks nothing."""
    lock_path = path.with_name(f".{path.name}{CLAIM_SUFFIX}")
    try:
        handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        reason = error.strerror or error
        raise SourceRefused(f"{masked_file_name(path.name)}: cannot claim the file ({reason})") from None
    try:
        if not _lock(handle, lock_path, path):
            yield False
            return
        try:
            yield True
        finally:
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(handle)


def load_drop_file(path: Path) -> DropFile:
    """The file and its checksum, read in blocks (`read_drop_chunks` reads its rows)."""
    root = path.parent.resolve()
    try:
        resolved = path.resolve(strict=True)
    except OSError as error:
        raise BatchRejected(f"{masked_file_name(path.name)}: cannot read file ({error.strerror or error})") from None
    if not resolved.is_relative_to(root):
        raise BatchRejected(f"{masked_file_name(path.name)}: resolves outside the drop directory")
    try:
        stamp = _stamp(resolved)
        checksum = file_checksum(resolved)
    except OSError as error:
        raise BatchRejected(f"{masked_file_name(path.name)}: cannot read file ({error.strerror or error})") from None
    drop = DropFile(path=path, checksum=checksum, stamp=stamp)
    drop.refuse_if_changed()
    return drop


def read_drop_chunks(drop: DropFile, source: SourceConfig, dataset: Dataset, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows as text under the dataset's column names, plus `source_row`, at most
    `chunk_rows` a chunk (`iter_department_file` with the source's encoding and field mapping).
    A file that changed since its checksum was taken is refused, before the first chunk or
    after the last."""
    drop.refuse_if_changed()
    yield from iter_department_file(drop.path, dataset, chunk_rows, encoding=source.encoding, columns=source.columns)
    drop.refuse_if_changed()


def archive(path: Path, archive_dir: Path, suffix: str) -> Path:
    """Move a processed file into the archive; an existing name gets `suffix` appended. Its
    `.done` marker has served its purpose and goes."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    kept = Path(masked_file_name(path.name))
    target = archive_dir / kept.name
    if target.exists() or target.is_symlink():
        target = archive_dir / f"{kept.stem}.{suffix}{kept.suffix}"
    shutil.move(str(path), str(target))
    done_marker(path).unlink(missing_ok=True)
    return target
