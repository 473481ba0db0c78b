"""Baton's event definitions, swapped into a parsed spec, and what the engine reads from them.

The parser builds SpiffWorkflow's own event definitions; :func:`adopt` then
replaces the ones Baton runs differently:

- timers by :mod:`engine.timers` (literals as editors write them, the
  engine's clock, cron);
- signals by :class:`BatonSignal`, which reaches every other instance too
  (SpiffWorkflow only lets a signal leave its instance when nothing in it
  catches the signal);
- a message's Zeebe ``correlationKey`` (``<zeebe:subscription>``) becomes a
  correlation property, so a waiting message has a key to be found by.

The helpers at the bottom tell the engine what a waiting task waits for.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import ReceiveTask
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import CorrelationProperty, MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from . import timers
from .timers import REPLACEMENTS

ZEEBE_KEY = "zeebe_correlation_key"  # the correlation property Baton makes of a Zeebe correlationKey


class BatonSignal(SignalEventDefinition):
    """A signal that is caught inside its own instance *and* broadcast to every other one.

    ``inputs``: the ``<camunda:in>`` mappings of a throwing signal (``source``/``target``,
    ``sourceExpression``/``target``, ``variables="all"``, ``businessKey``), as Camunda 7 reads them; the
    payload then holds only what they name.  Without them the thrower's variables all go with the signal.
    """

    def __init__(self, name: str, inputs: list[dict[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.inputs = inputs

    @property
    def passes_business_key(self) -> bool:
        """Whether an instance this signal starts gets the thrower's business key (``camunda:in businessKey``)."""
        return any("businessKey" in item for item in self.inputs or [])

    def payload(self, my_task: Any) -> dict[str, Any]:
        data = my_task.data
        if not self.inputs:
            return deepcopy(data)
        payload: dict[str, Any] = {}
        for item in self.inputs:
            if item.get("variables") == "all":
                payload.update(deepcopy(data))
            elif "source" in item and item["source"] in data:
                payload[item.get("target") or item["source"]] = deepcopy(data[item["source"]])
            elif "sourceExpression" in item:
                expression = timers.unwrap(item["sourceExpression"])[0]
                payload[item.get("target") or expression] = my_task.workflow.script_engine.evaluate(my_task,
                                                                                                  expression)
        return payload

    def throw(self, my_task: Any) -> None:
        workflow = my_task.workflow.top_workflow
        queued = len(workflow.bpmn_events)
        event = BpmnEvent(self, payload=self.payload(my_task))
        workflow.catch(event)
        if len(workflow.bpmn_events) == queued:  # caught inside: it still goes out to the others
            workflow.bpmn_events.append(event)


class BatonMessage(MessageEventDefinition):
    """A message whose correlation properties may be missing from a payload (they are then not compared).

    SpiffWorkflow evaluates every correlation property on every payload and fails when a variable is absent;
    Baton finds the waiting instance by its subscription row and only records what it can compute.
    """

    def calculate_correlations(self, script_engine: Any, cp: Any, ctx: Any) -> dict[str, Any]:
        correlations: dict[str, Any] = {}
        for prop in cp:
            try:
                value = script_engine.environment.evaluate(prop.retrieval_expression, ctx)
            except Exception:  # the payload does not carry this property
                continue
            for key in prop.correlation_keys:
                correlations.setdefault(key, {})[prop.name] = value
        return correlations


def _replace(definition: Any, zeebe_keys: dict[str, str]) -> Any:
    cls = REPLACEMENTS.get(type(definition))
    if cls is not None:
        return cls(definition.name, definition.expression, description=definition.description)
    if type(definition) is SignalEventDefinition:
        return BatonSignal(definition.name, getattr(definition, "camunda_inputs", None),
                           description=definition.description)
    if type(definition) is MessageEventDefinition:
        definition = BatonMessage(definition.name, definition.correlation_properties,
                                  description=definition.description)
    if isinstance(definition, MessageEventDefinition) and definition.name in zeebe_keys:
        if not any(p.name == ZEEBE_KEY for p in definition.correlation_properties):
            definition.correlation_properties.append(
                CorrelationProperty(ZEEBE_KEY, zeebe_keys[definition.name], [ZEEBE_KEY]))
    if isinstance(definition, MultipleEventDefinition):
        definition.event_definitions = [_replace(d, zeebe_keys) for d in definition.event_definitions]
    return definition


def task_specs(spec: Any, subprocess_specs: dict[str, Any]) -> Iterator[Any]:
    for process in [spec, *subprocess_specs.values()]:
        yield from process.task_specs.values()


def adopt(spec: Any, subprocess_specs: dict[str, Any], zeebe_keys: dict[str, str] | None = None) -> None:
    """Swap Baton's event definitions into a freshly parsed spec (in place).

    A receive task without a message (Camunda continues it with ``runtimeService.signal``; SpiffWorkflow runs
    straight through it) waits for a message named after its element id.
    """
    for task_spec in task_specs(spec, subprocess_specs):
        definition = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, ReceiveTask) and isinstance(definition, NoneEventDefinition):
            definition = BatonMessage(task_spec.bpmn_id, description="Message")
        if definition is not None:
            task_spec.event_definition = _replace(definition, zeebe_keys or {})


def zeebe_correlation_keys(root: Any) -> dict[str, str]:
    """{message name: correlation key expression} from ``<zeebe:subscription correlationKey=...>``."""
    found = {}
    for message in root.iter("{*}message"):
        for sub in message.iter("{http://camunda.org/schema/zeebe/1.0}subscription"):
            key = sub.get("correlationKey")
            if key and message.get("name"):
                found[message.get("name")] = timers.unwrap(key)[0]
    return found


# ---- what a process or a waiting task waits for ----------------------------------------------------------

def definitions_of(definition: Any) -> list[Any]:
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


def start_events(spec: Any) -> list[Any]:
    """The process's own start events (not those of its event subprocesses), in document order."""
    return [t for t in spec.task_specs.values() if isinstance(t, StartEvent)]


def start_triggers(spec: Any) -> Iterable[tuple[str, str, Any]]:
    """(kind, name or timer expression, start event spec) for each message, signal and timer start event."""
    for task_spec in start_events(spec):
        for definition in definitions_of(task_spec.event_definition):
            if isinstance(definition, MessageEventDefinition):
                yield "message", definition.name, task_spec
            elif isinstance(definition, SignalEventDefinition):
                yield "signal", definition.name, task_spec
            elif isinstance(definition, timers.TimerEventDefinition):
                yield "timer", definition.expression, task_spec


def subscriptions_of(task: Any) -> set[tuple[str, str, str | None]]:
    """{(kind, name, correlation key)} of the messages and signals a waiting task waits for."""
    found = set()
    for definition in definitions_of(getattr(task.task_spec, "event_definition", None)):
        if isinstance(definition, MessageEventDefinition):
            found.add(("message", definition.name, _correlation_key(task, definition)))
        elif isinstance(definition, SignalEventDefinition):
            found.add(("signal", definition.name, None))
    return found


def _correlation_key(task: Any, definition: MessageEventDefinition) -> str | None:
    """The key a waiting message is found by: its correlation property evaluated on the instance's data."""
    engine = task.workflow.script_engine
    for prop in definition.correlation_properties:
        try:
            value = engine.environment.evaluate(prop.retrieval_expression, dict(task.data))
        except Exception:  # the variable is not there (yet): keep looking, else the key is unknown
            value = None
        if value is not None:
            return str(value)
    for values in task.workflow.top_workflow.correlations.values():
        for value in values.values():
            return str(value)
    return None


Waits = set[tuple[str, str, str | None]]  # {(kind, name, correlation key)}


@dataclass(frozen=True)
class Trigger:
    """A message or signal event subprocess an instance waits for: where it is and what starts it."""

    start_id: str  # the event subprocess's start event
    waits: Waits
    scope: str  # "" for the process, else the id of the task running the embedded subprocess it belongs to
    name: str  # the event subprocess's spec
    start_spec: Any


def event_subprocess_triggers(workflow: Any, instance_id: str) -> dict[str, Trigger]:
    """{pseudo task id: Trigger} of the message and signal event subprocesses of the process and of every open
    embedded subprocess.

    SpiffWorkflow creates such an event subprocess only when its event is caught, so no task waits for it;
    Baton subscribes on the instance's behalf under a stable id made from the instance, scope and subprocess.
    """
    found: dict[str, Trigger] = {}
    scopes = [("", workflow)] + [(str(key), sub) for key, sub in workflow.subprocesses.items() if not sub.completed]
    for scope, owner in scopes:
        if _interrupted(workflow, owner):
            continue  # an interrupting event subprocess runs: the scope's other event subprocesses stop listening
        for name in getattr(owner.spec.start, "trigger_specs", []):
            for start in getattr(workflow.subprocess_specs.get(name), "bpmn_start_events", []):
                waits: Waits = set()
                for definition in definitions_of(start.event_definition):
                    if isinstance(definition, MessageEventDefinition):
                        waits.add(("message", definition.name, None))
                    elif isinstance(definition, SignalEventDefinition):
                        waits.add(("signal", definition.name, None))
                if waits:
                    key = uuid.uuid5(uuid.NAMESPACE_URL, f"{instance_id}/{scope}/{name}/{start.bpmn_id}")
                    found[str(key)] = Trigger(start.bpmn_id, waits, scope, name, start)
    return found


def _interrupted(workflow: Any, owner: Any) -> bool:
    """True when an interrupting event subprocess of scope ``owner`` has started (it ends the scope)."""
    names = set(getattr(owner.spec.start, "trigger_specs", []))
    for task in owner.tasks.values():
        if task.task_spec.name not in names or task.state & (TaskState.CANCELLED | TaskState.PREDICTED_MASK):
            continue
        sub = workflow.subprocesses.get(task.id)
        if sub is not None and any(getattr(t.task_spec, "interrupting", True) for t in sub.tasks.values()
                                   if isinstance(t.task_spec, StartEvent) and t.state & TaskState.FINISHED_MASK
                                   and t.state != TaskState.CANCELLED):
            return True
    return False


def trigger_definition(trigger: Trigger, kind: str, name: str) -> Any:
    """The event definition of the trigger's start event that a message or signal ``name`` matches."""
    wanted = MessageEventDefinition if kind == "message" else SignalEventDefinition
    for definition in definitions_of(trigger.start_spec.event_definition):
        if isinstance(definition, wanted) and definition.name == name:
            return definition
    return None


def rearm_boundary(task: Any) -> None:
    """A non-interrupting boundary event that caught its event waits again while its activity is active.

    SpiffWorkflow fires a boundary event once; BPMN (and Camunda) lets a non-interrupting one fire each time.
    A new waiting copy next to it takes the next message or signal (it is cancelled with the others when the
    activity ends).
    """
    spec = task.task_spec
    if isinstance(spec, BoundaryEvent) and not spec.cancel_activity and task.parent is not None:
        again = task.parent._add_child(spec, TaskState.FUTURE)
        spec._predict(again, mask=TaskState.NOT_FINISHED_MASK)
        spec._update(again)


def correlation_key_of(event: BpmnEvent) -> str | None:
    """The correlation key of a message thrown by an instance (from its correlation properties)."""
    for values in (event.correlations or {}).values():
        for value in values.values():
            if value is not None:
                return str(value)
    return None


def timer_due(task: Any) -> dt.datetime | None:
    return timers.due_of(task)


def choose_start(workflow: Any, element_id: str | None) -> None:
    """Make a new instance start at ``element_id`` (or its only kind of start) and not at its other start events.

    A none start event starts the instance by itself (SpiffWorkflow then cancels the rest); a process whose
    start events all wait for something starts at the first of them when started by hand.
    """
    starts = start_events(workflow.spec)
    if element_id is None:
        if not starts or any(isinstance(s.event_definition, NoneEventDefinition) for s in starts):
            return
        element_id = starts[0].bpmn_id
    for task in [t for t in workflow.tasks.values() if t.task_spec in starts]:
        if task.task_spec.bpmn_id == element_id:
            task._set_internal_data(event_fired=True)
        else:
            task.cancel()
