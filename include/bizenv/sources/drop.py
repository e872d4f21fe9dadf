"""File drops: a directory a department delivers CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX
files into.

A run picks up the files directly in the drop directory that match the source's patterns, in
delivery order (modification time, then name). It leaves alone partial uploads (`*.part`,
`*.tmp`, `~$*`, dot files, ... and, with `min_age_seconds`, files modified too recently),
subdirectories, and anything that resolves outside the drop directory (a symlink pointing
elsewhere is never followed). Each file is read once into memory; its SHA-256 is the batch
checksum, so a re-delivered file (the same bytes under any name) is recognised against the
loaded batches in ops.batch and not loaded twice. Processed files move to the archive.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bizenv.datasets import Dataset
from bizenv.sources.config import FileDropOptions, SourceConfig, SourceRefused
from bizenv.sources.files import BatchRejected, detect_encoding, is_workbook, read_workbook
from bizenv.sources.frames import to_dataset_frame

log = logging.getLogger(__name__)


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
    data: bytes
    checksum: str

    @property
    def name(self) -> str:
        return self.path.name


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def new_files(options: FileDropOptions, drop_dir: Path, *, now: float | None = None) -> list[Path]:
    """Files ready for pickup, oldest delivery first."""
    if not drop_dir.is_dir():
        log.info("drop directory %s does not exist (yet): nothing to pick up", drop_dir)
        return []
    root = drop_dir.resolve()
    now = time.time() if now is None else now
    ready: list[tuple[float, str, Path]] = []
    for entry in os.scandir(drop_dir):
        name = entry.name
        if _matches(name, options.ignore) or not _matches(name, options.pattern):
            continue
        path = Path(entry.path)
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            log.warning("ignoring %s: broken link or unreadable path", path)
            continue
        if not resolved.is_relative_to(root) or resolved == root:
            log.warning("ignoring %s: it resolves outside the drop directory %s", path, root)
            continue
        if not resolved.is_file():
            continue
        modified = resolved.stat().st_mtime
        if options.min_age_seconds and now - modified < options.min_age_seconds:
            log.info("leaving %s for the next run: modified %.0f s ago", path, now - modified)
            continue
        ready.append((modified, name, path))
    return [path for _, _, path in sorted(ready)]


def load_drop_file(path: Path) -> DropFile:
    """The file's bytes, read once (the checksum and the parsed rows come from the same bytes)."""
    root = path.parent.resolve()
    resolved = path.resolve(strict=True)
    if not resolved.is_relative_to(root):
        raise BatchRejected(f"{path.name}: resolves outside the drop directory")
    try:
        data = resolved.read_bytes()
    except OSError as error:
        raise BatchRejected(f"{path.name}: cannot read file ({error.strerror or error})") from None
    return DropFile(path=path, data=data, checksum=hashlib.sha256(data).hexdigest())


def read_drop_frame(drop: DropFile, source: SourceConfig, dataset: Dataset) -> pd.DataFrame:
    """The file's rows as text under the dataset's column names, plus `source_row`."""
    data = drop.data
    try:
        if is_workbook(data):
            frame = read_workbook(data, drop.name)
        else:
            encoding = source.encoding if source.encoding != "auto" else detect_encoding(data)
            if not encoding:
                raise BatchRejected(f"{drop.name}: not readable as UTF-8 or GB18030 text")
            try:
                decoded = data.decode(encoding)
            except UnicodeDecodeError:
                raise BatchRejected(f"{drop.name}: not readable as {encoding} text") from None
            frame = pd.read_csv(io.StringIO(decoded), dtype=str, keep_default_na=False)
    except BatchRejected:
        raise
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BatchRejected(f"{drop.name}: not a readable CSV or XLSX file ({first_line})") from None
    return to_dataset_frame(frame, dataset, source.columns, drop.name)


def archive(path: Path, archive_dir: Path, suffix: str) -> Path:
    """Move a processed file into the archive; an existing name gets `suffix` appended."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    target = archive_dir / path.name
    if target.exists() or target.is_symlink():
        target = archive_dir / f"{path.stem}.{suffix}{path.suffix}"
    shutil.move(str(path), str(target))
    return target
