"""Compensation (the saga pattern): undoing completed work, with BPMN 2.0 semantics as Camunda 7 runs them.

SpiffWorkflow 3.2 has no compensation (its parser fails on compensation boundaries, its throws do nothing),
so Baton adds it: the task specs and their behaviour are here, the parser classes in
``engine/compensation_parser.py``.

- a compensation boundary event on an activity becomes a :class:`CompensationBoundaryEvent` spec outside
  the flow: it only records which activity (``attached_to``) is undone by which handler (``handler``, an
  ``isForCompensation`` activity of the same scope, which no sequence flow reaches);
- a compensation throw event (:class:`CompensationThrowEvent`, :class:`CompensationEndEvent`),
  when it runs, finds the **completed** activities of its scope (all of them, or those of ``activityRef``)
  and starts their handlers, latest completion first; it then waits (state STARTED) until every handler
  has finished (Camunda's ``waitForCompletion``, which Camunda applies always);
- a handler task is added to the task tree as a child of the compensated task, reading the data that task
  had when it completed (each multi-instance instance has its own) over the current variables, so the
  ordinary engine runs it: a script runs, a user task waits for a person, a service task becomes a job,
  a subprocess runs;
- a completed embedded subprocess is compensated through its compensation event subprocess
  (:class:`CompensationStartEvent`) when it has one, else by compensating its own completed activities;
- a compensated task is marked (``internal_data['compensated']``), so a second throw does not undo it again.

Bookkeeping lives in task ``internal_data`` only, so it survives the save/load after every engine call.
:func:`settle` (called by ``engine.execution.run`` after each engine pass) starts the next handler once the
previous one no longer needs the engine (a script has run: the next one sees its changes; a user task or
job waits: they run side by side, as Camunda starts them), merges what finished handlers changed into the
throw's variables, and completes the throw when every handler is done.  :func:`compensate_scope` is the
entry point for any task that must compensate a scope (a transaction's cancel, for example).
"""

from __future__ import annotations

import hashlib
import json
from copy import deepcopy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.helpers.spec import EventDefinitionConverter
from SpiffWorkflow.bpmn.specs.control import SimpleBpmnTask
from SpiffWorkflow.bpmn.specs.defaults import (
    CallActivity,
    EndEvent,
    EventSubprocess,
    IntermediateThrowEvent,
    StartEvent,
    SubWorkflowTask,
)
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

WAITING_FOR = "compensation"  # internal_data of a task waiting for handlers: handlers and reopened scopes
COMPENSATED = "compensated"  # internal_data flag of a task whose compensation has been started
HANDLING = "compensating"  # internal_data of a handler task: the task it undoes, digests of its starting data
_DONE = TaskState.COMPLETED | TaskState.CANCELLED  # a failed handler (ERROR) is not done: it waits for a retry


class CompensateEventDefinition(EventDefinition):
    """``compensateEventDefinition``; ``name`` holds the ``activityRef`` (None: the whole scope).

    Keeping the reference in ``name`` lets SpiffWorkflow's own event-definition converter store it.
    """

    @property
    def activity_ref(self) -> str | None:
        return self.name

    def has_fired(self, my_task: Task) -> bool:
        # a compensation start event only runs because Baton started its event subprocess
        return True


class CompensationBoundaryEvent(SimpleBpmnTask):
    """Records that ``handler`` undoes ``attached_to`` (None: the whole process: a compensation event subprocess).

    It is never part of the task tree; it is connected to its handler only so the handler spec has an input.
    """

    def __init__(self, wf_spec: Any, bpmn_id: str, attached_to: str | None, handler: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.bpmn_id = bpmn_id
        self.bpmn_name = kwargs.get("bpmn_name")
        self.attached_to = attached_to
        self.handler = handler


class CompensationStartEvent(StartEvent):
    """The start event of a compensation event subprocess: it fires as soon as Baton starts the subprocess."""


class _CompensationThrow:
    """Behaviour shared by the intermediate and the end compensation throw events."""

    event_definition: CompensateEventDefinition

    def _run_hook(self, my_task: Task) -> bool | None:
        return None if compensate_scope(my_task, activity_ref=self.event_definition.activity_ref) else True


class CompensationThrowEvent(_CompensationThrow, IntermediateThrowEvent):  # type: ignore[misc]
    """``intermediateThrowEvent`` with a ``compensateEventDefinition``."""


class CompensationEndEvent(_CompensationThrow, EndEvent):  # type: ignore[misc]
    """``endEvent`` with a ``compensateEventDefinition``."""


def compensation_scope(workflow: Any) -> Any:
    """The scope a throw compensates: its own (sub)process, or, inside an event subprocess, the enclosing one."""
    top = workflow.top_workflow
    while workflow is not top:
        parent = top.get_task_from_id(workflow.parent_task_id)
        if not is_event_subprocess_spec(parent.task_spec):
            break
        workflow = parent.workflow
    return workflow


def compensate_scope(owner: Task, scope: Any = None, activity_ref: str | None = None) -> bool:
    """Start compensating the completed activities of ``scope`` on behalf of ``owner``; True: ``owner`` must wait.

    ``scope`` is a workflow or subworkflow (default: the owner's, see :func:`compensation_scope`);
    ``activity_ref`` limits it to one activity.  When this returns True the owner's run hook must return
    None (the task stays STARTED): :func:`settle` starts the remaining handlers and completes the owner once
    every handler has finished.
    """
    targets = _targets(scope or compensation_scope(owner.workflow), activity_ref)
    record = owner.internal_data.get(WAITING_FOR) or {"pending": [], "handlers": [], "merged": [], "reopened": []}
    record["pending"].extend(_claim(targets))
    if not record["pending"] and not record["handlers"]:
        return False
    owner._set_internal_data(**{WAITING_FOR: record})
    _advance(owner, record)
    return True


def settle(workflow: Any) -> bool:
    """Move every waiting compensation on: start the next handlers, complete owners whose handlers are done.

    True when something changed (the engine must run again).
    """
    changed = False
    for owner in _all_tasks(workflow):
        record = owner.internal_data.get(WAITING_FOR)
        if owner.state != TaskState.STARTED or not record:
            continue
        changed = _advance(owner, record) or changed
        handlers = [_task(owner, h) for h, _ in record["handlers"]]
        if record["pending"] or any(h is not None and not h.has_state(_DONE) for h in handlers):
            continue
        for parent_id in record["reopened"]:
            _close(workflow.top_workflow.subprocesses.get(UUID(parent_id)))
        owner.internal_data.pop(WAITING_FOR)
        owner.complete()
        changed = True
    return changed


def _advance(owner: Task, record: dict[str, Any]) -> bool:
    """Merge what finished handlers changed into the owner and start pending handlers, one at a time.

    The next handler starts once the previous one no longer waits for the engine: a script has run (so the
    next handler sees its changes), a user task, job or subprocess handler waits (they run side by side,
    as Camunda starts them).  True when a handler was started.
    """
    started = False
    while True:
        for handler_id, _ in record["handlers"]:
            handler = _task(owner, handler_id)
            if handler_id not in record["merged"] and handler is not None and handler.state == TaskState.COMPLETED:
                owner.data.update(_changes(handler))
                record["merged"].append(handler_id)
        last = _task(owner, record["handlers"][-1][0]) if record["handlers"] else None
        if last is not None and (last.state == TaskState.ERROR
                                 or last.state == TaskState.READY and not last.task_spec.manual):
            return started  # the engine runs it first (or a retry does)
        if not record["pending"]:
            return started
        target = _task(owner, record["pending"].pop(0))
        if target is None:
            continue
        handler_spec, anchor, inner = _compensation_of(target)
        record["pending"][:0] = _claim(inner)
        if handler_spec is not None:
            handler = _start(target, handler_spec, anchor, owner.data)
            record["handlers"].append([str(handler.id), str(target.id)])
            parent_id = handler.workflow.parent_task_id
            if parent_id is not None and str(parent_id) not in record["reopened"]:
                record["reopened"].append(str(parent_id))
            started = True


def _claim(targets: list[Task]) -> list[str]:
    """Mark tasks as being compensated (a later throw skips them) and return their ids."""
    for target in targets:
        target._set_internal_data(**{COMPENSATED: True})
    return [str(t.id) for t in targets]


def _compensation_of(target: Task) -> tuple[Any, Any, list[Task]]:
    """What undoes one completed task: (handler spec, task to hang it under, inner tasks to compensate instead)."""
    spec = target.task_spec
    handler = next((b.handler for b in _boundaries(target.workflow.spec) if b.attached_to == spec.bpmn_id), None)
    if handler is not None:
        return target.workflow.spec.task_specs[handler], target, []
    sub = target.workflow.top_workflow.subprocesses.get(target.id) if _is_embedded(spec) else None
    if sub is None:
        return None, None, []
    event_sub = next((b.handler for b in _boundaries(sub.spec) if b.attached_to is None), None)
    if event_sub is not None:
        return sub.spec.task_specs[event_sub], sub.last_task or sub.task_tree, []
    return None, None, _targets(sub, None)


def _start(target: Task, handler_spec: Any, anchor: Task, variables: dict[str, Any]) -> Task:
    """Add a handler task under ``anchor`` reading the target's data over ``variables``; the engine runs it."""
    _reopen(anchor.workflow)
    handler = anchor._add_child(handler_spec, TaskState.FUTURE)
    handler.triggered = True  # never dropped when the anchor's children are synced
    handler.data = {**deepcopy(variables), **deepcopy(target.data)}
    handler.internal_data[HANDLING] = {"target": str(target.id),
                                       "start": {k: _fingerprint(v) for k, v in handler.data.items()}}
    anchor.data, saved = handler.data, anchor.data  # the handler inherits nothing else from its anchor
    try:
        handler.task_spec._update(handler)
    finally:
        anchor.data = saved
    return handler


def _changes(handler: Task) -> dict[str, Any]:
    """The variables a finished handler set (not those it only read: they may be stale by now)."""
    start = handler.internal_data[HANDLING]["start"]
    return {k: deepcopy(v) for k, v in handler.data.items() if start.get(k) != _fingerprint(v)}


def _fingerprint(value: Any) -> str:
    """A short digest of a variable's value, so a handler's starting values need not be stored in full."""
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def cancel_handlers(workflow: Any) -> None:
    """After ``workflow.cancel()``: cancel handlers still open in finished subprocesses reopened for them.

    SpiffWorkflow only cancels subprocesses whose own task is still open.
    """
    for task in _all_tasks(workflow):
        if HANDLING in task.internal_data and task.has_state(TaskState.NOT_FINISHED_MASK):
            task.cancel()
    for sub in workflow.subprocesses.values():
        _close(sub)


def _boundaries(process_spec: Any) -> list[CompensationBoundaryEvent]:
    return [s for s in process_spec.task_specs.values() if isinstance(s, CompensationBoundaryEvent)]


def is_event_subprocess_spec(spec: Any) -> bool:
    """True for an event subprocess.  SpiffWorkflow's parser builds a plain SubWorkflowTask for it: one started
    by a message or signal is among the start task's trigger specs, one started by a timer hangs from the start
    task itself (no ordinary subprocess does: its path begins at a start event)."""
    if isinstance(spec, EventSubprocess) or spec.name in getattr(spec._wf_spec.start, "trigger_specs", ()):
        return True
    return (isinstance(spec, SubWorkflowTask) and not isinstance(spec, CallActivity)
            and spec._wf_spec.start in spec.inputs)


def _is_embedded(spec: Any) -> bool:
    return (isinstance(spec, SubWorkflowTask) and not isinstance(spec, CallActivity)
            and not is_event_subprocess_spec(spec))


def _targets(scope: Any, activity_ref: str | None) -> list[Task]:
    """Completed, not yet compensated tasks of ``scope`` that can be compensated, latest completion first."""
    undoable = {b.attached_to for b in _boundaries(scope.spec)}
    handlers = {b.handler for b in _boundaries(scope.spec)}
    found = []
    for order, task in enumerate(scope.tasks.values()):
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        if (task.state != TaskState.COMPLETED or task.internal_data.get(COMPENSATED) or bpmn_id is None
                or isinstance(spec, LoopTask) or spec.name in handlers):
            continue
        if activity_ref is not None and bpmn_id != activity_ref:
            continue
        if isinstance(task.parent.task_spec, LoopTask) and task.parent.state != TaskState.COMPLETED:
            continue  # instances of a multi-instance activity count once the whole activity has completed
        if bpmn_id in undoable or _is_embedded(spec):
            found.append((task.last_state_change, order, task))
    return [task for _, _, task in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]


def _reopen(workflow: Any) -> None:
    """A finished subprocess gets new work: mark it unfinished so the engine runs its tasks again."""
    if workflow is not workflow.top_workflow and workflow.completed:
        workflow.completed = False


def _close(workflow: Any) -> None:
    if workflow is not None and not workflow.completed and not any(
            t.has_state(TaskState.NOT_FINISHED_MASK) for t in workflow.tasks.values()):
        workflow.completed = True


def _task(owner: Task, task_id: str) -> Any:
    top = owner.workflow.top_workflow
    uuid = UUID(task_id)
    return next((wf.tasks[uuid] for wf in [top, *top.subprocesses.values()] if uuid in wf.tasks), None)


def _all_tasks(workflow: Any) -> list[Task]:
    tasks = list(workflow.tasks.values())
    for sub in workflow.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


CompensateEventDefinitionConverter = EventDefinitionConverter  # activityRef is kept in ``name``


class CompensationBoundaryConverter(BpmnTaskSpecConverter):
    """Keeps which activity a compensation boundary undoes and with which handler."""

    def to_dict(self, spec: CompensationBoundaryEvent) -> dict[str, Any]:
        dct = self.get_default_attributes(spec)
        dct["attached_to"] = spec.attached_to
        dct["handler"] = spec.handler
        return dct
