"""Suspending and resuming an instance (the ``instances.suspended`` flag), each with a history event.

Minimal version written for the cockpit pages: the flag and the history are what the pages show; the api
branch owns the full semantics (what a suspended instance refuses) and the lead reconciles the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from . import execution
from .errors import InvalidStateError
from .records import Instance
from .store import queries as q
from .store.queries import instances


class SuspensionMixin:
    """``suspend`` / ``resume`` for :class:`engine.Engine`."""

    def suspend(self, instance_id: str) -> Instance:
        """Mark an unfinished instance suspended; refused when it is finished or already suspended."""
        return self._set_suspended(instance_id, True)

    def resume(self, instance_id: str) -> Instance:
        """Clear the suspended mark; refused when the instance is not suspended."""
        return self._set_suspended(instance_id, False)

    def _set_suspended(self, instance_id: str, suspended: bool) -> Instance:
        with self._tx() as conn:  # type: ignore[attr-defined]
            row: Any = self._instance_row(conn, instance_id)  # type: ignore[attr-defined]
            if row.status in execution.FINAL_STATUSES:
                raise InvalidStateError(f"instance {instance_id} is already {row.status}", status=row.status)
            if bool(row.suspended) == suspended:
                state = "suspended" if suspended else "not suspended"
                raise InvalidStateError(f"instance {instance_id} is {state}", suspended=bool(row.suspended))
            _write(conn, instance_id, suspended, self.now())  # type: ignore[attr-defined]
        return self.get_instance(instance_id)  # type: ignore[attr-defined, no-any-return]


def _write(conn: Connection, instance_id: str, suspended: bool, now: Any) -> None:
    conn.execute(update(instances).where(instances.c.id == instance_id).values(suspended=suspended, updated_at=now))
    q.insert_history(conn, [{"instance_id": instance_id, "at": now,
                             "event": "instance_suspended" if suspended else "instance_resumed",
                             "element_id": None, "element_name": None, "element_type": None, "task_id": None,
                             "details": None}])
