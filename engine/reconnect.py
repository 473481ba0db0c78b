"""Waiting for a database that went away: capped exponential backoff with jitter, and the log lines that show it.

A worker's claim loop, a worker thread recording a job's result and the timer scheduler each keep one
:class:`Reconnect`.  While calls fail with :class:`~engine.errors.DatabaseUnavailable` they wait
:meth:`Reconnect.failed` seconds between attempts (full-jitter exponential: a random delay up to
``db_retry_base * 2**(n-1)`` seconds, at most ``db_retry_cap``) and log one warning per attempt::

    WARNING baton.worker database unavailable, retrying claim_jobs in 1.7 s what=claim_jobs attempt=3 retry_in=1.7 ...

and once a call succeeds again, one line saying how long it was away (:meth:`Reconnect.succeeded`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .durations import backoff
from .errors import DatabaseUnavailable


class Reconnect:
    """Backoff state of one loop that talks to the database (not shared between threads)."""

    def __init__(self, what: str, logger: logging.Logger, base: float = 0.5, cap: float = 10.0) -> None:
        self.what, self.log, self.base, self.cap = what, logger, base, cap
        self.attempts = 0
        self._since: float | None = None

    @classmethod
    def of(cls, settings: Any, what: str, logger: logging.Logger) -> Reconnect:
        return cls(what, logger, settings.db_retry_base, settings.db_retry_cap)

    def failed(self, exc: DatabaseUnavailable, **extra: Any) -> float:
        """Count a failed attempt, log it; returns the seconds to wait before the next one."""
        self.attempts += 1
        if self._since is None:
            self._since = time.monotonic()
        delay = backoff(self.attempts, self.base, self.cap)
        self.log.warning(
            "database unavailable, retrying %s in %.1f s",
            self.what,
            delay,
            extra={
                **extra,
                "what": self.what,
                "attempt": self.attempts,
                "retry_in": round(delay, 2),
                "error": exc.message,
            },
        )
        return delay

    def succeeded(self, **extra: Any) -> None:
        """The database answered: after failures, log how long it was away, and start counting afresh."""
        if self._since is None:
            return
        away = time.monotonic() - self._since
        self.log.info(
            "database reachable again, %s resumed after %.1f s and %d attempt(s)",
            self.what,
            away,
            self.attempts,
            extra={**extra, "what": self.what, "attempts": self.attempts, "away_s": round(away, 1)},
        )
        self.attempts, self._since = 0, None
