"""Compensation (the saga pattern): undoing completed work, with BPMN 2.0 semantics as Camunda 7 runs them.

SpiffWorkflow 3.2 has no compensation (its parser fails on compensation boundaries, its throws do nothing),
so Baton adds it here, parser classes included:

- a compensation boundary event on an activity becomes a :class:`CompensationBoundaryEvent` spec that is
  connected to nothing: it only records which activity (``attached_to``) is undone by which handler
  (``handler``, an ``isForCompensation`` activity of the same scope, also connected to nothing);
- a compensation throw event (:class:`CompensationThrowEvent`, :class:`CompensationEndEvent`),
  when it runs, finds the **completed** activities of its scope (all of them, or those of ``activityRef``)
  and starts their handlers, latest completion first; it then waits (state STARTED) until every handler
  has finished (Camunda's ``waitForCompletion``, which Camunda applies always);
- a handler task is added to the task tree as a child of the compensated task, with a copy of the data
  that task had when it completed (each multi-instance instance has its own), so the ordinary engine
  runs it: a script runs, a user task waits for a person, a service task becomes a job, a subprocess runs;
- a completed embedded subprocess is compensated through its compensation event subprocess
  (:class:`CompensationStartEvent`) when it has one, else by compensating its own completed activities;
- a compensated task is marked (``internal_data['compensated']``), so a second throw does not undo it again.

Bookkeeping lives in task ``internal_data`` only, so it survives the save/load after every engine call.
:func:`settle` (called by ``engine.execution.run`` after each engine pass) completes the tasks whose
handlers are all done and merges the variables the handlers changed into them.  A handler reads the
snapshot of its activity on top of the current variables, and handlers that finish at once (scripts) run
one after the other, so each sees what the previous one changed, as in Camunda.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.parser.event_parsers import EndEventParser, IntermediateThrowEventParser, StartEventParser
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
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
HANDLING = "compensating"  # internal_data of a handler task: the id of the task it undoes


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
        if not _is_event_subprocess(parent.task_spec):
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
        if record["pending"] or any(h is not None and not h.has_state(TaskState.FINISHED_MASK) for h in handlers):
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
        for handler_id, target_id in record["handlers"]:
            handler, target = _task(owner, handler_id), _task(owner, target_id)
            if handler_id not in record["merged"] and handler is not None and handler.state == TaskState.COMPLETED:
                owner.data.update(_changes(handler, target))
                record["merged"].append(handler_id)
        last = _task(owner, record["handlers"][-1][0]) if record["handlers"] else None
        if last is not None and last.state == TaskState.READY and not last.task_spec.manual:
            return started  # the engine runs it first
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
    handler.internal_data[HANDLING] = str(target.id)
    handler.data = {**deepcopy(variables), **deepcopy(target.data)}
    anchor.data, saved = handler.data, anchor.data  # the handler inherits nothing else from its anchor
    try:
        handler.task_spec._update(handler)
    finally:
        anchor.data = saved
    return handler


def _changes(handler: Task, target: Task | None) -> dict[str, Any]:
    """The variables a finished handler set: those that differ from its activity's snapshot."""
    base = target.data if target is not None else {}
    return {k: deepcopy(v) for k, v in handler.data.items() if k not in base or base[k] != v}


def _boundaries(process_spec: Any) -> list[CompensationBoundaryEvent]:
    return [s for s in process_spec.task_specs.values() if isinstance(s, CompensationBoundaryEvent)]


def _is_event_subprocess(spec: Any) -> bool:
    # SpiffWorkflow's parser reads triggeredByEvent wrongly and builds a plain SubWorkflowTask; the start task's
    # trigger specs are what tells an event subprocess
    return isinstance(spec, EventSubprocess) or spec.name in getattr(spec._wf_spec.start, "trigger_specs", ())


def _is_embedded(spec: Any) -> bool:
    return isinstance(spec, SubWorkflowTask) and not isinstance(spec, CallActivity) and not _is_event_subprocess(spec)


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


# --- parsing -------------------------------------------------------------------------------------------------

_COMPENSATE = "bpmn:compensateEventDefinition"
_ACTIVITY_TAGS = ("task", "Task", "subProcess", "callActivity", "transaction")


def _is_compensation(node: Any) -> bool:
    return any(isinstance(c.tag, str) and c.tag.endswith("}compensateEventDefinition") for c in node)


class CompensationProcessParser(ProcessParser):
    """A process (or subprocess) parser that reads compensation boundaries and their handlers.

    SpiffWorkflow would turn a compensation boundary into an ordinary boundary event (and fail); here it is
    left out of the boundary events and recorded as a :class:`CompensationBoundaryEvent`, and its handler
    (reachable by no sequence flow) is parsed on its own.
    """

    def _index_process_nodes(self) -> None:
        super()._index_process_nodes()
        for attached, nodes in self.boundary_events_by_attached.items():
            self.boundary_events_by_attached[attached] = [n for n in nodes if not _is_compensation(n)]

    def add_tasks(self) -> None:
        super().add_tasks()
        for boundary in self.xpath("./bpmn:boundaryEvent[bpmn:compensateEventDefinition]"):
            handler = self._handler_of(boundary)
            self.parse_node(handler)
            record = CompensationBoundaryEvent(
                self.spec, boundary.get("id"), attached_to=boundary.get("attachedToRef"), handler=handler.get("id"),
                bpmn_name=boundary.get("name"))
            record.connect(self.spec.task_specs[handler.get("id")])  # a spec must have an input to become ready
        for event_sub in self.xpath(f"./bpmn:subProcess[@triggeredByEvent='true'][bpmn:startEvent/{_COMPENSATE}]"):
            # the compensation event subprocess handles the compensation of this whole (sub)process
            record = CompensationBoundaryEvent(self.spec, f"{event_sub.get('id')}.compensation", attached_to=None,
                                               handler=event_sub.get("id"))
            record.connect(self.spec.task_specs[event_sub.get("id")])

    def _refuse(self, node: Any, message: str) -> None:
        raise ValidationException(f"{node.get('id')}: {message}", node=node, file_name=self.filename)

    def _handler_of(self, boundary: Any) -> Any:
        """The activity a compensation boundary is associated with, checked to be a valid handler."""
        bid = boundary.get("id")
        if self.get_node_by_id(boundary.get("attachedToRef") or "") is None:
            self._refuse(boundary, f"the compensation boundary is attached to an unknown activity "
                                   f"'{boundary.get('attachedToRef')}'")
        targets = [a.get("targetRef") for a in self.document_root.iter(f"{{{self.nsmap['bpmn']}}}association")
                   if a.get("sourceRef") == bid]
        if not targets:
            self._refuse(boundary, "the compensation boundary event has no association to a compensation "
                                   "handler (draw an association to an activity marked isForCompensation)")
        handler = self.get_node_by_id(targets[0])
        if handler is None or not handler.tag.endswith(_ACTIVITY_TAGS):
            self._refuse(boundary, f"the compensation boundary is associated with '{targets[0]}', which is not "
                                   "an activity of the same process")
        hid = handler.get("id")
        if handler.get("isForCompensation") != "true":
            self._refuse(handler, "a compensation handler must be marked isForCompensation=\"true\"")
        if self.get_outgoing_sequence_flows(hid) or self.xpath(f".//bpmn:sequenceFlow[@targetRef='{hid}']"):
            self._refuse(handler, "a compensation handler must have no incoming or outgoing sequence flows")
        return handler


class _CompensationEventParser:
    """Mixin: build ``compensation_class`` when the event has a ``compensateEventDefinition``."""

    compensation_class: type

    def create_task(self) -> Any:
        found = self.xpath(f"./{_COMPENSATE}")  # type: ignore[attr-defined]
        if not found:
            return super().create_task()  # type: ignore[misc]
        self.check_compensation(found[0])
        definition = CompensateEventDefinition(found[0].get("activityRef"), description="Compensation")
        task = self.compensation_class(self.spec, self.bpmn_id,  # type: ignore[attr-defined]
                                       event_definition=definition, **self.bpmn_attributes)  # type: ignore[attr-defined]
        self.connect_compensation(task)
        return task

    def check_compensation(self, definition: Any) -> None:
        """Refuse what Baton cannot run (overridden per event kind)."""

    def connect_compensation(self, task: Any) -> None:
        """Link the new task into its process (overridden where SpiffWorkflow's parser does it)."""


def _check_activity_ref(parser: Any, definition: Any) -> None:
    """An ``activityRef`` must name an activity of the same process (any of its scopes)."""
    ref = definition.get("activityRef")
    if ref is None:
        return
    root = parser.process_parser
    while root.parent is not None:
        root = root.parent
    node = root.get_node_by_id(ref)
    if node is None or not node.tag.endswith(_ACTIVITY_TAGS):
        parser.raise_validation_exception(f"{parser.bpmn_id}: activityRef '{ref}' names no activity of this process")


class CompensationThrowEventParser(_CompensationEventParser, IntermediateThrowEventParser):
    """``intermediateThrowEvent``: a compensation throw when it has a ``compensateEventDefinition``."""

    compensation_class = CompensationThrowEvent

    def check_compensation(self, definition: Any) -> None:
        _check_activity_ref(self, definition)


class CompensationEndEventParser(_CompensationEventParser, EndEventParser):
    """``endEvent``: a compensation end event when it has a ``compensateEventDefinition``."""

    compensation_class = CompensationEndEvent

    def check_compensation(self, definition: Any) -> None:
        _check_activity_ref(self, definition)

    def connect_compensation(self, task: Any) -> None:
        task.connect(self.spec.end)


class CompensationStartEventParser(_CompensationEventParser, StartEventParser):
    """``startEvent``: the start of a compensation event subprocess (the only place it is allowed)."""

    compensation_class = CompensationStartEvent

    def check_compensation(self, definition: Any) -> None:
        parent = self.node.getparent()  # type: ignore[attr-defined]
        if not (parent.tag.endswith("}subProcess") and parent.get("triggeredByEvent") == "true"):
            self.raise_validation_exception(  # type: ignore[attr-defined]
                f"{self.bpmn_id}: a compensation start event is only allowed in an event "  # type: ignore[attr-defined]
                "subprocess (triggeredByEvent=\"true\")")

    def connect_compensation(self, task: Any) -> None:
        self.spec.start.connect(task)  # type: ignore[attr-defined]


# --- serialization -----------------------------------------------------------------------------------------

CompensateEventDefinitionConverter = EventDefinitionConverter  # activityRef is kept in ``name``


class CompensationBoundaryConverter(BpmnTaskSpecConverter):
    """Keeps which activity a compensation boundary undoes and with which handler."""

    def to_dict(self, spec: CompensationBoundaryEvent) -> dict[str, Any]:
        dct = self.get_default_attributes(spec)
        dct["attached_to"] = spec.attached_to
        dct["handler"] = spec.handler
        return dct
