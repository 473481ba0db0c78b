"""The timer scheduler every ``baton serve`` and ``baton worker`` process runs.

An APScheduler ``BackgroundScheduler`` with its in-memory job store.  It
holds no state of its own: the database's ``timers.due_at`` column does.
The scheduler only decides *when to look*:

- at the next due time it read from the database (a one-off ``date`` job,
  moved earlier whenever this process arms an earlier timer);
- every ``timer_poll`` seconds as a safety net, which is how a process
  learns of timers armed by other nodes or by a node that died.

Each look calls :meth:`Engine.fire_due_timers`, which fires every due
timer in its own transaction; on several nodes each timer fires once.
While the database is unreachable a look fails; the next one is planned
with backoff (``engine.reconnect``), and timers that fell due meanwhile
fire as soon as it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from .errors import DatabaseUnavailable
from .reconnect import Reconnect

log = logging.getLogger("baton.scheduler")

BATCH = 500


class TimerScheduler:
    """Fires due timers of ``engine`` on time, in a background thread."""

    def __init__(self, engine: Any, poll: float | None = None) -> None:
        self.engine = engine
        self.poll = float(poll if poll is not None else engine.settings.timer_poll)
        self._scheduler = BackgroundScheduler(
            timezone=dt.UTC, job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None})
        self._planned: dt.datetime | None = None
        self._lock = threading.Lock()
        self._firing = threading.Lock()
        self._again = False
        self._reconnect = Reconnect.of(engine.settings, "firing due timers", log)

    def start(self) -> None:
        self._scheduler.add_job(self.tick, "interval", seconds=self.poll, id="poll",
                                next_run_time=dt.datetime.now(dt.UTC))
        self.engine.on_timer_armed = self.wake
        self._scheduler.start()
        log.info("timer scheduler started (safety-net poll every %g s)", self.poll)

    def stop(self) -> None:
        self.engine.on_timer_armed = None
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def tick(self) -> None:
        """Fire what is due, then plan the next look at the next due time (one look at a time)."""
        if not self._firing.acquire(blocking=False):
            self._again = True  # a look is running: it looks once more when it is done
            return
        try:
            self._again = True
            while self._again:
                self._again = False
                while len(self.engine.fire_due_timers(limit=BATCH)) >= BATCH:
                    pass
            self._plan(self.engine.next_timer_due())
            self._reconnect.succeeded()
        except DatabaseUnavailable as exc:  # look again after a backoff (the safety-net poll goes on too)
            self._plan(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self._reconnect.failed(exc)))
        except Exception:  # the scheduler must survive a database outage; the next poll tries again
            log.exception("firing due timers failed; retrying at the next poll")
        finally:
            self._firing.release()

    def wake(self, due: dt.datetime) -> None:
        """Called after a commit in this process armed a timer due at ``due``."""
        self._plan(due)

    def _plan(self, due: dt.datetime | None) -> None:
        if due is None:
            return
        with self._lock:
            now = dt.datetime.now(dt.UTC)
            if self._planned is not None and now <= self._planned <= due:
                return  # an earlier (or the same) look is already planned
            self._planned = max(due, now)
            if self._scheduler.running:
                self._scheduler.add_job(self._wake_tick, "date", run_date=self._planned, id="wake",
                                        replace_existing=True)

    def _wake_tick(self) -> None:
        with self._lock:
            self._planned = None
        self.tick()
