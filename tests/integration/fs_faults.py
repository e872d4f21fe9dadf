"""Real file-system faults for tests: a read-only directory and a full one.

Tests run as root in CI, and root ignores permission bits, so a chmod would prove nothing:
as root a directory is made read-only with a read-only bind mount (else `chattr +i`), and a
full disk is a tiny tmpfs filled to the last byte. Without root, permission bits do the job
and a full disk is simulated at the `open` call. Each helper checks that the fault is real
before handing it over.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*command: str) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _write_fails(directory: Path, expected: set[int]) -> bool:
    probe = directory / ".fs-fault-probe"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"x" * 8192)
    except OSError as error:
        return error.errno in expected
    probe.unlink()
    return False


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """`directory` (created if missing, contents kept) read-only for this process."""
    directory.mkdir(parents=True, exist_ok=True)
    undo: tuple[str, ...] | None = None
    if os.geteuid() != 0:
        directory.chmod(0o555)
        undo = ("chmod", "0755", str(directory))
    elif _run("mount", "--bind", str(directory), str(directory)):
        if not _run("mount", "-o", "remount,bind,ro", str(directory)):
            _run("umount", str(directory))
        else:
            undo = ("umount", str(directory))
    if undo is None and os.geteuid() == 0 and _run("chattr", "+i", str(directory)):
        undo = ("chattr", "-i", str(directory))
    try:
        if undo is None or not _write_fails(directory, {errno.EROFS, errno.EACCES, errno.EPERM}):
            pytest.fail(f"could not make {directory} read-only (needs mount or chattr as root)")
        yield directory
    finally:
        if undo is not None and not _run(*undo) and undo[0] == "umount":
            _run("umount", "-l", str(directory))


@contextlib.contextmanager
def full_disk(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`directory` on a file system with no space left (ENOSPC on the first write)."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and _run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory))
    try:
        if mounted:
            with contextlib.suppress(OSError), open(directory / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        else:
            real_open = builtins.open

            def open_on_full_disk(file, mode="r", *args, **kwargs):
                writing = any(flag in mode for flag in "wax+")
                if writing and Path(os.fspath(file)).absolute().is_relative_to(directory.absolute()):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(file))
                return real_open(file, mode, *args, **kwargs)

            monkeypatch.setattr(builtins, "open", open_on_full_disk)
        if not _write_fails(directory, {errno.ENOSPC}):
            pytest.fail(f"could not fill {directory}")
        yield directory
    finally:
        if mounted and not _run("umount", str(directory)):
            _run("umount", "-l", str(directory))
