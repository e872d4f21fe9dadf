"""The two kinds of failure every bizenv error is (docs/architecture.md).

A scheduler decides from the kind alone whether to try again: a `Retryable` error may pass
unchanged on a later attempt (a source or the warehouse is down, a page changed while it was
read); a `Refused` one cannot, because the input, the configuration or the state must change
first (a rejected batch, a wrong token, a missing calendar year). Every exception class bizenv
defines derives from exactly one of the two, and its message is one line.
"""

from __future__ import annotations


class Retryable(Exception):
    """An outage: the same call may succeed later, so schedulers retry it."""


class Refused(Exception):
    """Retrying cannot help: something must be corrected first. Schedulers fail at once."""
