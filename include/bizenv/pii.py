"""The personal-ID hash key's identity in the warehouse (docs/security.md).

One person must hash alike in every load: a load under a different key than the one that hashed
the warehouse's resident IDs so far would give the same person a second hash and break every
link across datasets and months. The warehouse therefore keeps the fingerprint of the key that
first hashed into it (`ops.pii_key`, a keyed hash of a constant, never the key) and a load under
any other key is refused before it writes anything.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from bizenv.codes import pii_key_fingerprint
from bizenv.errors import Refused
from bizenv.locks import lock_merge
from bizenv.settings import Settings
from bizenv.timeutil import utc_now
from bizenv.warehouse import query_df, run_sql


class PiiKeyMismatch(Refused, RuntimeError):
    """The configured key is not the one the warehouse's resident-ID hashes were made with."""


def verified_pii_key(engine: Engine, settings: Settings) -> bytes:
    """The configured key, once the warehouse has recorded it (first use) or confirmed it is the
    key recorded before; PiiKeyMismatch otherwise."""
    key = settings.pii_key
    fingerprint = pii_key_fingerprint(key)
    now = utc_now()
    with engine.begin() as conn:
        # two first loads under different keys at once would both find the table empty
        lock_merge(conn, "pii_key")
        run_sql(conn, "ops/record_pii_key.sql", {"fingerprint": fingerprint, "first_used_at": now})
        known = query_df(conn, "ops/pii_key_fingerprints.sql")
    others = known[known["fingerprint"] != fingerprint]
    if not others.empty:
        first = others.iloc[0]
        raise PiiKeyMismatch(
            f"the personal-ID hash key ({_source(settings)}) is not the key this warehouse's resident IDs "
            f"were hashed with (first used {first['first_used_at']:%Y-%m-%d %H:%M} UTC, fingerprint "
            f"{first['fingerprint'][:12]}…); restore that key, or load into a new warehouse"
        )
    return key


def _source(settings: Settings) -> str:
    return "BIZENV_PII_KEY" if os.environ.get("BIZENV_PII_KEY") else str(settings.pii_key_file)
