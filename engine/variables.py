"""Editing the variables of a live instance (mixed into :class:`engine.runtime.Engine`).

An operator fixes a wrong amount, adds a missing field before a retry, or clears a value: the new values
go into every open path of the instance (each waiting, ready, running or failed task), so whichever path
moves next sees them, and the inputs of its waiting jobs are computed again.  The instance does not run:
editing is not a step.  History records each changed name with its old and new value.  Finished
(completed or cancelled) instances are refused: their variables are a record of what happened.

Two modes, as the REST API offers them:

- ``set`` (``PUT``): each given name gets the given value, whole;
- ``merge`` (``PATCH``, JSON merge patch, RFC 7386): objects are merged key by key into the current
  value, and ``null`` removes a variable (or a key of an object).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.util.task import TaskState

from . import conditions, execution
from .errors import InvalidStateError, VariableError
from .records import Instance
from .serialization import check_variables, to_jsonable
from .store import job_queries as jq

_OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_GONE = object()  # a variable removed by a merge patch
MODES = ("set", "merge")


def merge_patch(current: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``None`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class VariablesMixin:
    """``set_variables``: change variables of an unfinished instance in one transaction."""

    now: Callable[[], dt.datetime]
    script_engine: Any
    _tx: Any
    _instance_row: Any
    _load: Any
    _save: Any
    _job_inputs: Any
    get_instance: Any

    def set_variables(self, instance_id: str, variables: dict[str, Any], mode: str = "set") -> Instance:
        """Set (``mode="set"``) or merge (``mode="merge"``) variables of an unfinished instance."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        variables = dict(variables)
        for name in variables:
            if not isinstance(name, str) or not name.isidentifier():
                raise VariableError(f"variable name {name!r} is not a valid identifier", variable=str(name))
        with self._tx() as conn:
            row = self._instance_row(conn, instance_id)
            if row.status in execution.FINAL_STATUSES:
                raise InvalidStateError(f"instance {instance_id} is {row.status}: the variables of a finished "
                                        "instance cannot be changed", status=row.status)
            old = dict(row.variables or {})
            new = {name: (_GONE if value is None else merge_patch(old.get(name), value)) if mode == "merge"
                   else value for name, value in variables.items()}
            check_variables({name: value for name, value in new.items() if value is not _GONE})
            changes = {name: {"old": old.get(name), "new": None if value is _GONE else value}
                       for name, value in new.items() if old.get(name, _GONE) != value}
            if not changes:
                return self.get_instance(instance_id)  # type: ignore[no-any-return]
            workflow = self._load(conn, row)
            before = execution.snapshot(workflow)
            for task in execution.all_tasks(workflow):
                if task.state & _OPEN:
                    for name in changes:
                        if new[name] is _GONE:
                            task.data.pop(name, None)
                        else:
                            task.data[name] = copy.deepcopy(new[name])
            error = conditions.reevaluate(workflow)  # a conditional event may hold now
            self._refresh_job_inputs(conn, row, workflow)
            out = execution.outcome(workflow, before, error)
            event = {"at": self.now(), "event": "variables_changed",
                     "details": to_jsonable({"mode": mode, "changes": changes})}
            self._save(conn, row, workflow, out, before, [event])
        return self.get_instance(instance_id)  # type: ignore[no-any-return]

    def _refresh_job_inputs(self, conn: Any, row: Any, workflow: Any) -> None:
        """Jobs not yet in a worker's hands take their inputs from the new values."""
        for job in jq.list_jobs(conn, instance_id=row.id, limit=10_000):
            if job.status == jq.LOCKED:
                continue
            task = workflow.get_task_from_id(uuid.UUID(job.task_id))
            if task is None or task.state != TaskState.STARTED:
                continue
            try:
                inputs = to_jsonable(self._job_inputs(task))
            except Exception as exc:  # noqa: BLE001 - a mapping that breaks on the new values refuses them
                raise VariableError(f"the input mapping of '{job.element_name or job.element_id}' fails with "
                                    f"these values: {exc}", element_id=job.element_id) from exc
            jq.update_job(conn, job.id, variables=inputs)
