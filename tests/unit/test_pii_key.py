"""The personal-ID hash key file (docs/security.md): never short, created atomically with mode
0600, and a full disk while creating it leaves no key at all rather than a short one."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from bizenv import settings as settings_module
from bizenv.codes import pii_key_fingerprint
from bizenv.settings import MIN_PII_KEY_CHARS, Settings, restrict_new_files


def make(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    return Settings(data_dir=data, warehouse_url=f"duckdb:///{data / 'w.duckdb'}", landing_root=str(data / "landing"),
                    pii_key_file=data / "pii.key", docs_dir=data / "docs", reports_dir=data / "reports")


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv("BIZENV_PII_KEY", raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("content", [b"", b"\n", b"0123456789abcdef", b"x" * (MIN_PII_KEY_CHARS - 1) + b"\n"])
def test_an_empty_or_short_key_file_is_refused_in_one_line(tmp_path, content):
    settings = make(tmp_path)
    settings.data_dir.mkdir(parents=True)
    settings.pii_key_file.write_bytes(content)
    with pytest.raises(RuntimeError) as refused:
        _ = settings.pii_key
    message = str(refused.value)
    assert "\n" not in message
    assert str(settings.pii_key_file) in message and "shorter than 32" in message
    assert "bizenv db upgrade" in message  # how to get a new one
    with pytest.raises(RuntimeError, match="shorter than 32"):
        settings.ensure_pii_key()  # `bizenv db upgrade` does not pass over it either


def test_the_key_file_is_created_private_and_full_length(tmp_path):
    settings = make(tmp_path)
    settings.ensure_pii_key()
    assert mode(settings.pii_key_file) == 0o600
    assert mode(settings.data_dir) == 0o700
    assert len(settings.pii_key) == 64
    assert [p.name for p in settings.data_dir.iterdir()] == ["pii.key"]  # no temporary file left
    first = settings.pii_key
    settings.ensure_pii_key()
    assert settings.pii_key == first  # never replaced once there


@pytest.mark.parametrize("written_before_the_disk_fills", [0, 10])
def test_a_full_disk_while_creating_the_key_leaves_no_key(tmp_path, monkeypatch, written_before_the_disk_fills):
    settings = make(tmp_path)
    real_write = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1 and written_before_the_disk_fills:
            return real_write(fd, bytes(data[:written_before_the_disk_fills]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(settings_module.os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        settings.ensure_pii_key()
    assert not settings.pii_key_file.exists()
    assert list(settings.data_dir.iterdir()) == []  # nor a temporary file
    monkeypatch.setattr(settings_module.os, "write", real_write)
    settings.ensure_pii_key()  # once there is room, a full key
    assert len(settings.pii_key) == 64


def test_db_upgrade_closes_an_existing_open_data_directory(tmp_path):
    settings = make(tmp_path)
    settings.data_dir.mkdir(mode=0o755)
    settings.data_dir.chmod(0o755)
    settings.ensure_pii_key()
    assert mode(settings.data_dir) == 0o700


def test_a_short_key_in_the_environment_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BIZENV_PII_KEY", "too-short")
    with pytest.raises(RuntimeError, match="shorter than 32"):
        _ = make(tmp_path).pii_key


def test_the_fingerprint_identifies_the_key_without_revealing_it():
    key = b"k" * 64
    fingerprint = pii_key_fingerprint(key)
    assert fingerprint == pii_key_fingerprint(key) != pii_key_fingerprint(b"j" * 64)
    assert len(fingerprint) == 64 and "k" not in fingerprint


def test_files_created_after_settings_are_private(tmp_path):
    previous = os.umask(0o022)
    try:
        make(tmp_path)
        (tmp_path / "made").mkdir()
        (tmp_path / "made" / "file").write_text("x")
        assert mode(tmp_path / "made") == 0o700 and mode(tmp_path / "made" / "file") == 0o600
        os.umask(0o027)
        restrict_new_files()  # tightens, never loosens: 027 | 077
        assert os.umask(0o077) == 0o077
    finally:
        os.umask(previous)
