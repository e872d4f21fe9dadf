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


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse_url: str
    landing_root: str
    pii_key_file: Path
    docs_dir: Path
    reports_dir: Path  # the monthly HTML reports of the scheduled runs

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
            return self.pii_key_file.read_bytes().strip()
        raise RuntimeError(
            f"no personal-ID hash key: set BIZENV_PII_KEY or run `bizenv db upgrade` "
            f"to create {self.pii_key_file}"
        )

    def ensure_pii_key(self) -> None:
        if os.environ.get("BIZENV_PII_KEY") or self.pii_key_file.exists():
            return
        self.pii_key_file.parent.mkdir(parents=True, exist_ok=True)
        self.pii_key_file.write_text(secrets.token_hex(32))
        self.pii_key_file.chmod(0o600)


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
