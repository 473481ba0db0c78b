"""Advancing one SpiffWorkflow instance in memory and describing what changed.

Nothing here touches the database: the runtime loads a workflow, calls
:func:`snapshot`, changes the workflow (start, complete a task, retry),
calls :func:`run`, then :func:`outcome` and stores the result in one
transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from . import compensation, continuations, pruning, quality_gates
from .bpmn_parser import JobTask
from .errors import BatonError, ScriptError
from .extensions import PROPERTIES
from .scripting import describe_error
from .serialization import to_jsonable

log = logging.getLogger("baton.engine")

READY, WAITING, STARTED, COMPLETED, ERROR, CANCELLED = (
    TaskState.READY, TaskState.WAITING, TaskState.STARTED, TaskState.COMPLETED, TaskState.ERROR,
    TaskState.CANCELLED,
)
_LIVE = READY | WAITING | STARTED | ERROR
_MAX_SETTLE = 100

RUNNING, WAITING_STATUS, COMPLETED_STATUS, FAILED, CANCELLED_STATUS, INCIDENT = (
    "running", "waiting", "completed", "failed", "cancelled", "incident",
)
STATUSES = (RUNNING, WAITING_STATUS, INCIDENT, FAILED, COMPLETED_STATUS, CANCELLED_STATUS)
FINAL_STATUSES = (COMPLETED_STATUS, CANCELLED_STATUS)


def element_type(task_spec: Any) -> str:
    name = type(task_spec).__name__
    if name == "PassThroughTask":
        return "task"
    if getattr(task_spec, "bpmn_type", None):  # Baton's own specs name the element they stand for
        return str(task_spec.bpmn_type)
    if name.endswith("MultiInstanceTask") or name == "StandardLoopTask":
        return "loop"
    return name[:1].lower() + name[1:]


def is_element(task: Task) -> bool:
    """True for tasks that stand for a BPMN element (not SpiffWorkflow's internal helper specs)."""
    return getattr(task.task_spec, "bpmn_id", None) is not None


def all_tasks(workflow: BpmnWorkflow) -> Iterator[Task]:
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def waits_for_job(task: Task) -> bool:
    """True for a job task and for a task held at an async boundary (its job is a continuation)."""
    return isinstance(task.task_spec, JobTask) or continuations.HOLD in task.internal_data


def snapshot(workflow: BpmnWorkflow) -> dict[Any, int]:
    return {task.id: task.state for task in all_tasks(workflow)}


@dataclass
class RunError:
    element_id: str | None
    element_name: str | None
    task_id: str | None
    message: str
    reason: str
    line: int | None
    error_type: str

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def run(workflow: BpmnWorkflow) -> RunError | None:
    """Run every engine task until each path waits or fails (compensation handlers included)."""
    pruner = pruning.DuringRun(workflow) if pruning.enabled(workflow) else None  # a long loop stays cheap
    try:
        for _ in range(_MAX_SETTLE):
            continuations.engine_steps(workflow, all_tasks, pruner)  # do_engine_steps, stopping at async boundaries
            while compensation.settle(workflow):
                continuations.engine_steps(workflow, all_tasks, pruner)
            # timers whose due time the engine's clock has passed become ready, once what the change made
            # ready has run (a caught event that ends an event-based gateway cancels the gateway's timers)
            workflow.refresh_timers()
            # do_engine_steps looks at timers last: one that is already due is ready but has not run yet
            if not any(t.state == READY and not t.task_spec.manual for t in all_tasks(workflow)):
                break
        return None
    except BatonError:
        raise
    except Exception as exc:  # a script, expression or model failure inside the instance
        return run_error(workflow, exc)


def run_error(workflow: BpmnWorkflow, exc: BaseException) -> RunError:
    """What failed where: the element (the task in ERROR, else the one the exception names) and the reason."""
    failed = next((t for t in all_tasks(workflow) if t.state == ERROR), None)
    info = describe_error(exc)
    spec = failed.task_spec if failed is not None else getattr(exc, "task_spec", None)
    element_id = getattr(spec, "bpmn_id", None)
    name = getattr(spec, "bpmn_name", None)
    where = (f" in '{name}' ({element_id})" if name and name != element_id
             else f" in '{element_id}'" if element_id else "")
    line = info.get("line")
    at_line = f" at line {line}" if line else ""
    return RunError(
        element_id=element_id,
        element_name=getattr(spec, "bpmn_name", None),
        task_id=str(failed.id) if failed is not None else None,
        message=f"{info['error_type']}{where}{at_line}: {info['reason']}",
        reason=info["reason"],
        line=line,
        error_type=info["error_type"],
    )


@contextmanager
def applying(workflow: BpmnWorkflow, what: str) -> Iterator[None]:
    """Apply the change an engine call asks for (complete a task, deliver an event, take a job's result).

    A SpiffWorkflow failure while applying it (an output mapping, a completion condition, a script run by the
    change itself) becomes a :class:`ScriptError` naming the element; the engine call's transaction is then
    rolled back, so the instance is as it was.  Failures in the steps that follow are the instance's own
    (:func:`run` records them and the instance fails).
    """
    try:
        yield
    except BatonError:
        raise
    except SpiffWorkflowException as exc:
        found = run_error(workflow, exc)
        raise ScriptError(f"{what} failed: {found.message}; nothing was changed", element_id=found.element_id,
                          line=found.line, reason=found.reason) from exc


def form_of(task_spec: Any) -> dict[str, Any] | None:
    form = getattr(task_spec, "form", None)
    schema, schema_file = getattr(form, "json_schema", None), getattr(form, "json_schema_file", None)
    if form is None or (not form.fields and not form.key and not schema and not schema_file):
        return None
    fields = []
    for f in form.fields:
        item: dict[str, Any] = {
            "id": f.id, "label": f.label, "type": f.type, "default": f.default_value,
            "validation": [{"name": v.name, "config": v.config} for v in f.validation],
            "properties": {p.id: p.value for p in f.properties},
        }
        if f.type == "enum":
            item["options"] = [{"id": o.id, "name": o.name} for o in f.options]
        fields.append(item)
    result: dict[str, Any] = {"key": form.key, "fields": fields}
    if schema or schema_file:
        result.update(json_schema=schema, json_schema_file=schema_file,
                      ui_schema_file=getattr(form, "ui_schema_file", None))
    return result


def properties_of(task_spec: Any) -> dict[str, str] | None:
    """The ``camunda:properties`` of the element (None when it has none)."""
    ext = getattr(task_spec, "extensions", None)
    return (ext.get(PROPERTIES) or None) if isinstance(ext, dict) else None


def variables_of(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The instance's variables: the final data when finished, else the merged data of its open paths."""
    if workflow.completed:
        return dict(workflow.data)
    merged: dict[str, Any] = {}
    frontier = sorted(
        # multi-instance children ("X [child]") hold per-item data, not the instance's variables
        # and a compensation handler holds a snapshot of old variables
        (t for t in workflow.tasks.values() if t.state & _LIVE and t.task_spec.name == t.task_spec.bpmn_id
         and compensation.HANDLING not in t.internal_data),
        key=lambda t: t.last_state_change,
    )
    if not frontier and workflow.last_task is not None:
        frontier = [workflow.last_task]
    for task in frontier:
        merged.update(task.data)
    return merged


@dataclass
class Outcome:
    status: str
    variables: dict[str, Any]
    active: list[dict[str, Any]]
    human_tasks: dict[str, Task]
    events: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    new_jobs: list[Task] = field(default_factory=list)  # job tasks that started waiting for a job now
    gone_jobs: list[str] = field(default_factory=list)  # ids of job tasks that stopped waiting now


def _stamp(task: Task) -> dt.datetime:
    return dt.datetime.fromtimestamp(task.last_state_change, dt.UTC)


_EVENT_FOR_STATE = {
    COMPLETED: "activity_completed",
    STARTED: "activity_started",
    ERROR: "activity_failed",
    CANCELLED: "activity_cancelled",
}


def task_event(task: Task, event: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = task.task_spec
    return {
        "at": _stamp(task),
        "event": event,
        "element_id": spec.bpmn_id,
        "element_name": spec.bpmn_name,
        "element_type": element_type(spec),
        "task_id": str(task.id),
        "details": details,
    }


def outcome(workflow: BpmnWorkflow, before: dict[Any, int], error: RunError | None,
            cancelled: bool = False) -> Outcome:
    """Status, variables, open elements, ready human tasks and history events after a change."""
    events: list[tuple[float, dict[str, Any]]] = []
    active: list[dict[str, Any]] = []
    humans: dict[str, Task] = {}
    has_running = False
    new_jobs: list[Task] = []
    gone_jobs: list[str] = []
    pruned = getattr(workflow, "baton_pruned", [])  # tasks pruned while this engine call ran (engine.pruning)
    for task in [*all_tasks(workflow), *pruned]:
        state = task.state
        element = is_element(task)
        if waits_for_job(task):
            was = before.get(task.id)
            if state == STARTED and was != STARTED:
                new_jobs.append(task)
            elif was == STARTED and state != STARTED:
                gone_jobs.append(str(task.id))
        if element and state & _LIVE:
            active.append({"element_id": task.task_spec.bpmn_id, "name": task.task_spec.bpmn_name,
                           "type": element_type(task.task_spec), "state": TaskState.get_name(state),
                           "task_id": str(task.id)})
        if state == READY and task.task_spec.manual and element:
            humans[str(task.id)] = task
        elif state == STARTED and (isinstance(task.task_spec, ServiceTask) or waits_for_job(task)):
            has_running = True
        if not element or before.get(task.id) == state:
            continue
        name = _EVENT_FOR_STATE.get(state)
        if state == READY and task.task_spec.manual:
            name = "task_created"
        elif state == WAITING and isinstance(task.task_spec, CatchingEvent):
            name = "activity_waiting"
        if name is None:
            continue
        details = error.to_dict() if state == ERROR and error is not None else None
        events.append((task.last_state_change, task_event(task, name, details)))
        if state == COMPLETED and (gate := quality_gates.gate_event(task, _stamp(task))) is not None:
            events.append((task.last_state_change, gate))
    events.sort(key=lambda pair: pair[0])
    if cancelled:
        status = CANCELLED_STATUS
    elif error is not None:
        status = FAILED
    elif workflow.completed:
        status = COMPLETED_STATUS
    else:
        status = RUNNING if has_running else WAITING_STATUS
    return Outcome(
        status=status,
        variables=to_jsonable(variables_of(workflow)),
        active=active,
        human_tasks={} if status in FINAL_STATUSES else humans,
        events=[e for _, e in events],
        error=error.to_dict() if error is not None else None,
        new_jobs=new_jobs,
        gone_jobs=gone_jobs,
    )
