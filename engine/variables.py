"""Editing the variables of a live instance (the cockpit's variable form and the REST API use it)."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState

from . import execution
from .errors import InvalidStateError
from .records import Instance
from .serialization import check_variables, to_jsonable

_OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


class VariablesMixin:
    """``set_variables`` for :class:`engine.Engine`."""

    def set_variables(self, instance_id: str, variables: dict[str, Any]) -> Instance:
        """Merge ``variables`` into every open path of a live instance, with a ``variables_changed`` event.

        The event's details hold the old and the new value of each name (``old`` is absent for new names).
        Finished instances (completed, failed for good, cancelled) are refused.
        """
        variables = dict(variables)
        check_variables(variables)
        with self._tx() as conn:  # type: ignore[attr-defined]
            row = self._instance_row(conn, instance_id)  # type: ignore[attr-defined]
            if row.status in execution.FINAL_STATUSES:
                raise InvalidStateError(f"instance {instance_id} is {row.status}; only live instances can have "
                                        "their variables changed", status=row.status)
            workflow = self._load(conn, row)  # type: ignore[attr-defined]
            before = execution.snapshot(workflow)
            old = row.variables or {}
            for task in execution.all_tasks(workflow):
                if task.state & _OPEN:
                    task.data.update(variables)
            out = execution.outcome(workflow, before, None)
            changes = {name: {**({"old": old[name]} if name in old else {}), "new": to_jsonable(value)}
                       for name, value in variables.items()}
            event = {"at": self.now(), "event": "variables_changed",  # type: ignore[attr-defined]
                     "details": {"variables": changes}}
            self._save(conn, row, workflow, out, before, [event])  # type: ignore[attr-defined]
        return self.get_instance(instance_id)  # type: ignore[attr-defined, no-any-return]
