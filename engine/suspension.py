"""Suspending and resuming instances (mixed into :class:`engine.runtime.Engine`).

A suspended instance does not move, and nothing is lost while it waits:

- its jobs stay in the table but are not handed to workers (claiming skips them), and a worker that was
  already running one cannot complete it (the lease runs out and the job is claimed again after resume);
- its timers keep their due time but do not fire; once it is resumed the next scheduler pass fires
  those that are due;
- messages and signals do not match it: a message with a time to live waits in the buffer and is
  delivered when the instance is resumed, one without a time to live finds no subscription;
- its user tasks cannot be completed (:class:`InvalidStateError` naming the suspension).

Resuming puts it back exactly as it was.  Both are recorded in the history.  Cancelling a suspended
instance is allowed (an operator must be able to stop it) and ends the suspension.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from . import execution
from .errors import ConcurrentModification, InvalidStateError
from .records import Instance
from .store import event_queries as eq
from .store import instance_queries as iq
from .store import queries as q


class SuspensionMixin:
    """Suspend and resume, and the check every call that would move an instance makes."""

    now: Callable[[], dt.datetime]
    _tx: Any
    _instance_row: Any
    _claim_buffered: Any
    _armed: Any
    get_instance: Any

    def suspend(self, instance_id: str) -> Instance:
        """Hold an unfinished instance where it stands: no jobs, timers, messages or task completions."""
        self._set_suspended(instance_id, True)
        return self.get_instance(instance_id)  # type: ignore[no-any-return]

    def resume(self, instance_id: str) -> Instance:
        """Let a suspended instance move again: due timers fire, waiting jobs and buffered messages go out."""
        self._set_suspended(instance_id, False)
        return self.get_instance(instance_id)  # type: ignore[no-any-return]

    def _set_suspended(self, instance_id: str, suspended: bool) -> None:
        with self._tx() as conn:
            row = self._instance_row(conn, instance_id)
            if row.status in execution.FINAL_STATUSES:
                raise InvalidStateError(f"instance {instance_id} is already {row.status}: only unfinished "
                                        "instances can be suspended or resumed", status=row.status)
            if bool(row.suspended) == suspended:
                which = "already suspended" if suspended else "not suspended"
                raise InvalidStateError(f"instance {instance_id} is {which}", suspended=bool(row.suspended))
            if not iq.set_suspended(conn, instance_id, row.lock_version, suspended, self.now()):
                raise ConcurrentModification(f"instance {instance_id} was changed by someone else at the same "
                                             "time; nothing was applied, try again", instance_id=instance_id)
            event = "instance_suspended" if suspended else "instance_resumed"
            q.insert_history(conn, [{"instance_id": instance_id, "at": self.now(), "event": event,
                                     "element_id": None, "element_name": None, "element_type": None,
                                     "task_id": None, "details": {"status": row.status}}])
            if not suspended:
                self._release(conn, row)

    def _release(self, conn: Connection, row: Any) -> None:
        """After a resume: wake the workers and the scheduler, and hand over buffered messages."""
        conn.info["baton_jobs_created"] = True
        armed, subscribed = eq.instance_waits(conn, row.id)
        dues = [due for due in (q.as_utc(value) for value in armed.values()) if due is not None]
        if dues:
            self._armed(conn, min(dues))
        for task_id, subs in sorted(subscribed.items()):
            for kind, name, key in sorted(subs, key=str):
                sub = {"kind": kind, "name": name, "correlation_key": key, "business_key": row.business_key,
                       "instance_id": row.id, "task_id": task_id}
                if kind == "message" and self._claim_buffered(conn, sub):
                    break  # one message per waiting task, as when the subscription appeared

    def _refuse_if_suspended(self, row: Any, action: str) -> None:
        """Called before anything that would move the instance ``row`` (completing a task or a job)."""
        if getattr(row, "suspended", False):
            raise InvalidStateError(f"instance {row.id} is suspended: resume it before {action}",
                                    instance_id=row.id, suspended=True)
