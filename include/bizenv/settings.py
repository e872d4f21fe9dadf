"""Runtime settings, read from the environment only (Airflow adapters translate Connections
into these variables or pass values explicitly). Nothing here is a secret default."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "include" / "config"
SQL_DIR = PROJECT_ROOT / "sql"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
MIN_PII_KEY_CHARS = 32
# what a process that handles bizenv data creates is its own: files 0600, directories 0700
PRIVATE_UMASK = 0o077


def env_number(name: str, default: float, unit: str, *, positive: bool = False) -> float:
    """A finite non-negative number (positive with `positive`) from environment variable `name`,
    `default` when unset or blank; one-line ValueError naming the variable otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 <= value < float("inf")) or (positive and value == 0):
        raise ValueError(f"{name}={raw!r} is not a number of {unit} {'> 0' if positive else '>= 0'}")
    return value


CHUNK_ROWS_ENV = "BIZENV_CHUNK_ROWS"
DEFAULT_CHUNK_ROWS = 100_000


def chunk_rows() -> int:
    """How many rows a batch is read, standardized, validated and staged at a time
    (BIZENV_CHUNK_ROWS): the bound on an ingest's memory, whatever the batch's size."""
    return max(1, int(env_number(CHUNK_ROWS_ENV, DEFAULT_CHUNK_ROWS, "rows", positive=True)))


def restrict_new_files() -> None:
    """Make every file and directory this process creates from now on private to its user.

    The data directory holds the raw landing zone (resident IDs as delivered), the warehouse
    file, Data Docs, reports, exports and the key; DuckDB, Great Expectations, fsspec and the
    Airflow task runner create some of those themselves, with the process umask, so the umask is
    the one control that covers them all. Only ever tightened, never loosened."""
    current = os.umask(PRIVATE_UMASK)
    os.umask(current | PRIVATE_UMASK)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse_url: str
    landing_root: str
    pii_key_file: Path
    docs_dir: Path
    reports_dir: Path  # the monthly HTML reports of the scheduled runs

    def __post_init__(self) -> None:
        # every code path that reads or writes bizenv data builds its Settings first
        restrict_new_files()

    @property
    def pii_key(self) -> bytes:
        """The key of the personal-ID hash. From BIZENV_PII_KEY, else from the key file that
        `bizenv db upgrade` creates for an embedded installation. Never logged."""
        value = os.environ.get("BIZENV_PII_KEY")
        if value:
            # resident ID numbers are few and structured: a guessable key makes every hash reversible
            if value.startswith("CHANGE_ME") or len(value) < MIN_PII_KEY_CHARS:
                raise RuntimeError(
                    f"BIZENV_PII_KEY is a placeholder or shorter than {MIN_PII_KEY_CHARS} characters; "
                    "generate one: python -c 'import secrets; print(secrets.token_hex(32))'"
                )
            return value.encode()
        if self.pii_key_file.exists():
            key = self.pii_key_file.read_bytes().strip()
            # an empty or truncated file (a full disk while it was written by an older version)
            # would key the hash with next to nothing: every ID could be recovered by trying all
            if len(key) < MIN_PII_KEY_CHARS:
                raise RuntimeError(
                    f"{self.pii_key_file}: personal-ID hash key is {len(key)} bytes, shorter than "
                    f"{MIN_PII_KEY_CHARS}; if no resident ID was ever hashed with it, delete the file and run "
                    "`bizenv db upgrade` to create a new key, else restore the original key file"
                )
            return key
        raise RuntimeError(
            f"no personal-ID hash key: set BIZENV_PII_KEY or run `bizenv db upgrade` "
            f"to create {self.pii_key_file}"
        )

    def ensure_pii_key(self) -> None:
        """Create the key file of an embedded installation once; an existing one must be usable.
        Also closes the data directory of an installation made before files were private."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if os.environ.get("BIZENV_PII_KEY"):
            return
        if not self.pii_key_file.exists():
            write_private_file(self.pii_key_file, secrets.token_hex(32).encode("ascii"))
        _ = self.pii_key  # refuses a short key now, not at the first load


def write_private_file(path: Path, data: bytes) -> None:
    """Write `path` atomically with mode 0600: a temporary file beside it, flushed to disk, then
    renamed over it. A failure (a full disk) leaves no file, never a partial one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Flush a directory's entries, so a rename into it survives a crash too."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def load_settings() -> Settings:
    data_dir = Path(os.environ.get("BIZENV_DATA_DIR", Path.cwd() / "var")).resolve()
    return Settings(
        data_dir=data_dir,
        warehouse_url=os.environ.get("BIZENV_WAREHOUSE_URL", f"duckdb:///{data_dir / 'warehouse.duckdb'}"),
        landing_root=os.environ.get("BIZENV_LANDING_ROOT", str(data_dir / "landing")),
        pii_key_file=Path(os.environ.get("BIZENV_PII_KEY_FILE", data_dir / "pii.key")),
        docs_dir=Path(os.environ.get("BIZENV_DOCS_DIR", data_dir / "docs")),
        reports_dir=Path(os.environ.get("BIZENV_REPORTS_DIR", data_dir / "reports")),
    )
