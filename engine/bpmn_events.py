"""BPMN errors and escalations, routed the way Camunda 7 routes them.

SpiffWorkflow 3.2 sends a thrown error or escalation up the workflows to the first waiting task that
catches it, but: an uncaught error is silently dropped (the instance goes on as if nothing happened), event
subprocesses started by an error or escalation are not parsed (their start event becomes a none start event,
so they run as soon as the instance starts), a subprocess whose error end event was caught completes
normally before its boundary interrupts it, and code and message never reach the catching scope.

Here a throw looks for a catcher from the inside out: boundary events attached to the activity, then the
event subprocesses of the scope that holds it, then the boundary events of that scope's activity, and so on
up to the process and, through a call activity, the calling process.  At each level a catcher naming the
code wins over a catch-all one (no ``errorRef``, or an error/escalation without a code).  An error thrown in
an event subprocess is not caught by the event subprocesses of the scope it belongs to.

- An error (always interrupting) or an escalation caught by an interrupting catcher cancels the scope it
  interrupts at once: the attached activity of a boundary event, or (see ``engine.scopes``) the rest of the
  scope of an interrupting event subprocess.  The throwing event itself completes.
- An escalation caught by a non-interrupting catcher, or not caught at all, lets the thrower go on.
- An error nobody catches is :class:`UncaughtBpmnError`: the throwing task is put in ERROR, so the instance
  becomes ``failed`` with a message naming the code and the element (a retry throws it again).

``camunda:errorCodeVariable`` / ``camunda:errorMessageVariable`` / ``camunda:escalationCodeVariable`` on the
catching event receive the code and message (``camunda:errorMessage`` of the thrown ``bpmn:error``).
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    BoundaryEventParser,
    EndEventParser,
    IntermediateThrowEventParser,
)
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import EndEvent, IntermediateThrowEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    CodeEventDefinition,
    ErrorEventDefinition,
    EscalationEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from .call_activities import outputs_at_throw
from .extensions import CAMUNDA as CAMUNDA_NS
from .loop_variables import is_loop_instance
from .scopes import (
    ScopeStartEventParser,
    TransactionCancelMixin,
    cancel_tree,
    is_event_subprocess,
    trigger_event_subprocess,
)
from .timers import unwrap

BUSINESS_KEY_EXPRESSIONS = ("${execution.processBusinessKey}", "#{execution.processBusinessKey}")
END_EVENT_XPATHS = [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, CANCEL_EVENT_XPATH, ERROR_EVENT_XPATH,
                    ESCALATION_EVENT_XPATH, TERMINATION_EVENT_XPATH]


class UncaughtBpmnError(WorkflowTaskException):
    """A BPMN error that no boundary event or event subprocess catches."""

    error_type = "UncaughtBpmnError"


class _CodeVariables:
    """Extra fields of Baton's error/escalation definitions (message thrown, variables the catcher fills)."""

    code: str | None

    def __init__(self, name, code=None, message=None, code_variable=None, message_variable=None, **kwargs):
        super().__init__(name, code, **kwargs)  # type: ignore[call-arg]
        self.message = message
        self.code_variable = code_variable
        self.message_variable = message_variable

    def catcher_data(self, thrown: CodeEventDefinition, message: str | None) -> dict[str, Any]:
        """The variables this catching definition sets from a thrown one."""
        data: dict[str, Any] = {}
        if self.code_variable:
            data[self.code_variable] = thrown.code
        if self.message_variable:
            data[self.message_variable] = message
        return data


class BatonErrorEventDefinition(_CodeVariables, ErrorEventDefinition):
    """An error definition with ``camunda:errorMessage`` and the catcher's code/message variable names."""


class BatonEscalationEventDefinition(_CodeVariables, EscalationEventDefinition):
    """An escalation definition with the catcher's ``camunda:escalationCodeVariable``."""


# ---- routing ---------------------------------------------------------------------------------------------


def _kind(definition: Any) -> type | None:
    for kind in (ErrorEventDefinition, EscalationEventDefinition):
        if isinstance(definition, kind):
            return kind
    return None


def _pick(candidates: list[tuple[Any, Any]], thrown: CodeEventDefinition) -> tuple[Any, Any] | None:
    """The catcher naming the thrown code, else a catch-all one (``candidates``: (handle, definition))."""
    kind = _kind(thrown)
    fitting = [c for c in candidates if kind is not None and isinstance(c[1], kind)]
    named = [c for c in fitting if c[1].code is not None and c[1].code == thrown.code]
    return named[0] if named else next((c for c in fitting if c[1].code is None), None)


def _boundary_catchers(activity: Any) -> list[tuple[Any, Any]]:
    split = activity.parent
    if split is not None and is_loop_instance(activity):  # one instance of a multi-instance activity:
        split = split.parent  # the boundary events are attached to the multi-instance activity
    if split is None or not isinstance(split.task_spec, BoundaryEventSplit):
        return []
    return [(t, t.task_spec.event_definition) for t in split.children
            if isinstance(t.task_spec, BoundaryEvent) and t.state == TaskState.WAITING]


def _event_subprocess_catchers(workflow: Any) -> list[tuple[Any, Any]]:
    top = workflow.top_workflow
    found = []
    for name in workflow.spec.start.trigger_specs:
        for start in top.subprocess_specs[name].bpmn_start_events:
            found.append(((name, start), start.event_definition))
    return found


def _parent_task(workflow: Any) -> Any:
    return None if workflow.parent_task_id is None else workflow.top_workflow.get_task_from_id(workflow.parent_task_id)


@dataclass
class Catcher:
    """Where a throw is caught: a waiting boundary event task, or an event subprocess of a scope to start."""

    definition: Any
    interrupting: bool
    data: dict[str, Any]
    boundary: Any = None  # the boundary event task
    scope: Any = None  # the workflow holding the event subprocess
    event_subprocess: str = ""
    start_spec: Any = None


def find_catcher(thrower: Any, thrown: CodeEventDefinition, payload: dict[str, Any] | None = None) -> Catcher | None:
    """The catcher of an error/escalation thrown at task ``thrower``, from the inside out, or None.

    ``payload``: variables handed to the catcher (default: the thrower's; past a call activity, what its
    ``camunda:out`` mappings take of them).
    """
    return _search(thrower, thrown, payload)[0]


def _search(thrower: Any, thrown: CodeEventDefinition,
            payload: dict[str, Any] | None) -> tuple[Catcher | None, list[tuple[Any, dict[str, Any]]]]:
    """The catcher (or None) and the call activities the throw passed on its way out, each with its outputs."""
    data = deepcopy(thrower.data) if payload is None else dict(payload)
    crossed: list[tuple[Any, dict[str, Any]]] = []
    activity = thrower
    while activity is not None:
        hit = _pick(_boundary_catchers(activity), thrown)
        if hit is not None:
            task, definition = hit
            return Catcher(definition, bool(task.task_spec.cancel_activity), data, boundary=task), crossed
        workflow = activity.workflow
        if not is_event_subprocess(activity):
            found = _pick(_event_subprocess_catchers(workflow), thrown)
            if found is not None:
                (name, start_spec), definition = found
                return Catcher(definition, getattr(start_spec, "interrupting", True), data, scope=workflow,
                               event_subprocess=name, start_spec=start_spec), crossed
        activity = _parent_task(workflow)
        if activity is not None and isinstance(activity.task_spec, CallActivity):
            # a called process's variables reach the caller only through its output mappings
            data = outputs_at_throw(activity, data)
            crossed.append((activity, data))
    return None, crossed


def deliver(catcher: Catcher, thrown: CodeEventDefinition, message: str | None) -> None:
    """Fire the catcher; an interrupting boundary event cancels its activity at once (so a subprocess whose
    error end event was caught cannot complete normally first)."""
    definition = catcher.definition
    caught = definition.catcher_data(thrown, message) if isinstance(definition, _CodeVariables) else {}
    data = {**catcher.data, **caught}
    if catcher.boundary is not None:
        task = catcher.boundary
    else:
        task = trigger_event_subprocess(catcher.scope, catcher.event_subprocess, catcher.start_spec)
        holder = _parent_task(task.workflow)  # the event subprocess in its scope
        if holder is not None:  # as in Camunda, the code variables are the scope's at once, not once it ends
            holder.data.update(caught)
    task.task_spec.catch(task, BpmnEvent(definition, payload=data))
    task.task_spec._update(task)
    if catcher.boundary is not None and catcher.interrupting:
        for sibling in catcher.boundary.parent.children:
            if not isinstance(sibling.task_spec, BoundaryEvent):
                cancel_tree(sibling)


def route(thrower: Any, thrown: CodeEventDefinition, message: str | None = None,
          payload: dict[str, Any] | None = None) -> Catcher | None:
    """Find the catcher of a throw and fire it; None when nothing catches it.

    Each call activity the throw passes on its way out takes its ``camunda:out`` mappings at once (as in
    Camunda, also when nothing catches an escalation and the called process goes on).
    """
    catcher, crossed = _search(thrower, thrown, payload)
    for call_task, outputs in crossed:
        call_task.data.update(deepcopy(outputs))
    if catcher is not None:
        deliver(catcher, thrown, message)
    return catcher


def thrown_message(definition: Any, task: Any) -> str | None:
    """The ``camunda:errorMessage`` of a thrown error; an expression (``${...}``) is evaluated at the thrower."""
    message = getattr(definition, "message", None)
    if not message:
        return message
    text, is_expression = unwrap(message)
    return str(task.workflow.script_engine.evaluate(task, text)) if is_expression else message


def describe_thrower(task: Any) -> str:
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    return f"'{name}' ({spec.bpmn_id})" if name and name != spec.bpmn_id else f"'{spec.bpmn_id}'"


class CodeThrowMixin:
    """A throwing event whose errors and escalations go through :func:`route`.

    An uncaught error fails the task before it completes; the throw itself happens once the task is
    completed, so cancelling the scope around it (interrupting catchers) also cancels what follows it.
    """

    event_definition: Any

    def _run_hook(self, my_task):
        definition = self.event_definition
        if _kind(definition) is None:
            return super()._run_hook(my_task)  # type: ignore[misc]
        if isinstance(definition, ErrorEventDefinition) and find_catcher(my_task, definition) is None:
            my_task._set_state(TaskState.ERROR)
            message = thrown_message(definition, my_task)
            reason = f"BPMN error {definition.code!r} thrown by {describe_thrower(my_task)} was not caught"
            raise UncaughtBpmnError(reason + (f": {message}" if message else ""), task=my_task)
        return super(ThrowingEvent, self)._run_hook(my_task)  # type: ignore[misc]  # the base hook, not its throw

    def _on_complete(self, my_task):
        # after the task's own completion is fully announced: a subprocess cancelled by the catcher must not
        # be reported as completed by that announcement
        super()._on_complete(my_task)  # type: ignore[misc]
        definition = self.event_definition
        if _kind(definition) is not None:
            route(my_task, definition, thrown_message(definition, my_task))


class BatonEndEvent(CodeThrowMixin, TransactionCancelMixin, EndEvent):
    """End event: errors and escalations routed by Baton; a cancel end event compensates its transaction."""

    bpmn_type = "endEvent"


class BatonIntermediateThrowEvent(CodeThrowMixin, IntermediateThrowEvent):
    """Intermediate throw event: escalations routed by Baton."""

    bpmn_type = "intermediateThrowEvent"


# ---- parsing ---------------------------------------------------------------------------------------------


class CodeEventParserMixin:
    """Reads error/escalation definitions into Baton's classes, with message and Camunda variable names."""

    process_parser: Any

    def _code_definition(self, node: Any, ref_attr: str, tag: str, code_attr: str, cls: type) -> Any:
        ref = node.get(ref_attr)
        name, code, message = f"None {tag.capitalize()} Event", None, None
        if ref:
            root, bpmn_ns = node.getroottree().getroot(), node.tag.split("}")[0].lstrip("{")
            found = root.xpath(f".//bpmn:{tag}[@id=$ref]", ref=ref, namespaces={"bpmn": bpmn_ns})
            if found:
                name = found[0].get("name") or ref
                code = found[0].get(code_attr) or None
                message = found[0].get(f"{{{CAMUNDA_NS}}}errorMessage")
            else:  # as Camunda 7 does: a reference to no declared error/escalation is the code itself
                name, code = ref, ref
        return cls(name, code, message=message,
                   code_variable=node.get(f"{{{CAMUNDA_NS}}}{tag}CodeVariable"),
                   message_variable=node.get(f"{{{CAMUNDA_NS}}}errorMessageVariable"),
                   description=self.process_parser.parser.spec_descriptions.get(node.tag))

    def parse_signal_event(self, signal_event):
        """A signal definition, with the ``<camunda:in>`` mappings of a throw (read by event_specs.BatonSignal)."""
        definition = super().parse_signal_event(signal_event)  # type: ignore[misc]
        inputs = [dict(item.attrib) for item in signal_event.iterfind(f"{{*}}extensionElements/{{{CAMUNDA_NS}}}in")]
        for item in inputs:
            key = item.get("businessKey")
            if key is not None and key.replace(" ", "") not in BUSINESS_KEY_EXPRESSIONS:
                self.raise_validation_exception(  # type: ignore[attr-defined]
                    f"camunda:in businessKey=\"{key}\" is not supported on a signal: Baton passes the thrower's "
                    "own business key (businessKey=\"${execution.processBusinessKey}\") or none")
        definition.camunda_inputs = inputs or None
        return definition

    def parse_error_event(self, error_event):
        return self._code_definition(error_event, "errorRef", "error", "errorCode", BatonErrorEventDefinition)

    def parse_escalation_event(self, escalation_event):
        return self._code_definition(escalation_event, "escalationRef", "escalation", "escalationCode",
                                     BatonEscalationEventDefinition)


class BatonStartEventParser(CodeEventParserMixin, ScopeStartEventParser):
    """Start events (``engine.scopes``) whose error/escalation definitions carry Camunda's variable names."""


class BatonEndEventParser(CodeEventParserMixin, EndEventParser):
    """End events, signal end events included (SpiffWorkflow parses those as none end events)."""

    def create_task(self):
        event_definition = self.get_event_definition(END_EVENT_XPATHS)
        task = self._create_task(event_definition)
        task.connect(self.spec.end)
        return task


class BatonIntermediateThrowEventParser(CodeEventParserMixin, IntermediateThrowEventParser):
    pass


class BatonBoundaryEventParser(CodeEventParserMixin, BoundaryEventParser):
    pass
