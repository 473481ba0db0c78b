"""How specs and instance states are written to and read from the database.

- A deployed process version stores its spec once: ``dump_spec`` gives a
  JSON-ready dict of the process spec and every spec it calls.
- An instance stores only its live state, never the spec: ``dump_state``
  leaves the specs out and ``load_state`` puts the (cached) spec objects back.
- Every state carries ``STATE_FORMAT`` so a later Baton can migrate old rows;
  golden serialized instances under ``tests/fixtures`` pin the format.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.event_definition import ErrorEscalationEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter, EventConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.helpers.spec import EventDefinitionConverter
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.defaults import CallActivity
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.camunda.serializer.task_spec import UserTaskConverter
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.dmn.serializer.task_spec import BaseBusinessRuleTaskConverter

from .bpmn_events import (
    BatonEndEvent,
    BatonErrorEventDefinition,
    BatonEscalationEventDefinition,
    BatonIntermediateThrowEvent,
)
from .bpmn_parser import JobTask, PassThroughTask
from .call_activities import BatonCallActivity
from .compensation import (
    CompensateEventDefinition,
    CompensateEventDefinitionConverter,
    CompensationBoundaryConverter,
    CompensationBoundaryEvent,
    CompensationEndEvent,
    CompensationStartEvent,
    CompensationThrowEvent,
)
from .decisions import BatonBusinessRuleTask
from .errors import VariableError
from .event_specs import BatonMessage, BatonSignal
from .expressions import ElementVariable, ExpressionDataReference
from .scopes import ScopeStartEvent
from .timers import REPLACEMENTS

SPIFF_FORMAT = "1.5"
STATE_FORMAT = f"baton-1/spiff-{SPIFF_FORMAT}"
SPEC_FORMAT = f"baton-1/spiff-{SPIFF_FORMAT}"


class JobTaskConverter(BpmnTaskSpecConverter):
    """Keeps a job task's topic, retries and mappings with its spec."""

    def to_dict(self, spec: JobTask) -> dict[str, Any]:
        dct = self.get_default_attributes(spec)
        dct["job"] = spec.job
        dct["bpmn_type"] = spec.bpmn_type
        return dct


class BatonUserTaskConverter(UserTaskConverter):
    """Camunda's user task converter, plus what Baton reads onto a user task (see bpmn_parser): the SpiffArena
    JSON-schema form, and the assignment texts (assignee, candidates; see ``engine.assignment``)."""

    _EXTRA = ("json_schema", "json_schema_file", "ui_schema_file")

    def to_dict(self, spec: UserTask) -> dict[str, Any]:
        dct = super().to_dict(spec)
        dct["form"].update({name: getattr(spec.form, name, None) for name in self._EXTRA})
        dct["assignment"] = getattr(spec, "assignment", None)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> UserTask:
        dct = dict(dct)
        assignment = dct.pop("assignment", None)
        form = dict(dct["form"])
        extra = {name: form.pop(name, None) for name in self._EXTRA}
        spec = super().from_dict({**dct, "form": form})
        for name, value in extra.items():
            setattr(spec.form, name, value)
        spec.assignment = assignment
        return spec


class ScopeStartEventConverter(EventConverter):
    """A start event with its ``interrupting`` flag (engine.scopes)."""

    def to_dict(self, spec: ScopeStartEvent) -> dict[str, Any]:
        dct = super().to_dict(spec)
        dct["interrupting"] = spec.interrupting
        return dct


class CodeEventDefinitionConverter(ErrorEscalationEventDefinitionConverter):
    """Error/escalation definitions with the message thrown and the variables a catcher fills."""

    def to_dict(self, event_definition: Any) -> dict[str, Any]:
        dct = super().to_dict(event_definition)
        dct.update(message=event_definition.message, code_variable=event_definition.code_variable,
                   message_variable=event_definition.message_variable)
        return dct


class BatonSignalConverter(EventDefinitionConverter):
    """A signal definition with the ``camunda:in`` mappings of its throw."""

    def to_dict(self, event_definition: BatonSignal) -> dict[str, Any]:
        dct = super().to_dict(event_definition)
        dct["inputs"] = event_definition.inputs
        return dct


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """The top workflow without its specs; they are stored once per process version."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        dct = dict(dct)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dict(dct["subprocesses"]), workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _registry() -> DefaultRegistry:
    config = dict(DEFAULT_CONFIG)
    config[UserTask] = BatonUserTaskConverter
    config[BusinessRuleTask] = BaseBusinessRuleTaskConverter
    config[PassThroughTask] = BpmnTaskSpecConverter
    config[JobTask] = JobTaskConverter
    config[BatonCallActivity] = config[CallActivity]
    config[BatonBusinessRuleTask] = BaseBusinessRuleTaskConverter
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    for spiff_timer, baton_timer in REPLACEMENTS.items():
        config[baton_timer] = config[spiff_timer]
    config[BatonSignal] = BatonSignalConverter
    config[BatonMessage] = config[MessageEventDefinition]
    config[CompensateEventDefinition] = CompensateEventDefinitionConverter
    config[CompensationThrowEvent] = EventConverter
    config[CompensationEndEvent] = EventConverter
    config[CompensationStartEvent] = EventConverter
    config[CompensationBoundaryEvent] = CompensationBoundaryConverter
    config[ScopeStartEvent] = ScopeStartEventConverter
    config[BatonEndEvent] = EventConverter
    config[ExpressionDataReference] = config[TaskDataReference]  # multi-instance collections given as expressions
    config[ElementVariable] = config[TaskDataReference]  # Camunda / Zeebe element variables
    config[BatonIntermediateThrowEvent] = EventConverter
    config[BatonErrorEventDefinition] = CodeEventDefinitionConverter
    config[BatonEscalationEventDefinition] = CodeEventDefinitionConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(decimal.Decimal, lambda v: {"value": str(v)}, lambda v: decimal.Decimal(v["value"]))
    registry.register(dt.date, lambda v: {"value": v.isoformat()}, lambda v: dt.date.fromisoformat(v["value"]))
    return registry


_REGISTRY = _registry()
_SERIALIZER = BpmnWorkflowSerializer(registry=_REGISTRY)


def dump_spec(spec: Any, subprocess_specs: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": SPEC_FORMAT,
        "spec": _REGISTRY.convert(spec),
        "subprocess_specs": {name: _REGISTRY.convert(s) for name, s in subprocess_specs.items()},
    }


def load_spec(data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    spec = _REGISTRY.restore(data["spec"])
    subs = {name: _REGISTRY.restore(s) for name, s in data["subprocess_specs"].items()}
    return spec, subs


def dump_state(workflow: BpmnWorkflow) -> str:
    """The instance's live state as JSON text (no spec inside)."""
    _REGISTRY._encoder_mode = False
    dct = _SERIALIZER.to_dict(workflow)
    try:
        return json.dumps(dct, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise VariableError(f"the instance state cannot be stored: {exc}") from exc


def load_state(text: str, spec: Any, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
    dct = json.loads(text)
    return _SERIALIZER.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)


def to_jsonable(value: Any) -> Any:
    """Variables as plain JSON (dates as ISO text, decimals as text) for display and the variables column."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | UUID):
        return str(value)
    return value


_STORABLE_SCALARS = (str, int, float, bool, type(None), dt.datetime, dt.date, dt.timedelta, decimal.Decimal, UUID)


def check_variables(variables: dict[str, Any]) -> None:
    """Refuse variable names and values Baton cannot store, naming the culprit."""
    for name, value in variables.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise VariableError(f"variable name {name!r} is not a valid identifier", variable=str(name))
        problem = _unstorable(value)
        if problem:
            raise VariableError(f"variable '{name}' holds {problem}, which cannot be stored", variable=name)


def _unstorable(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    if isinstance(value, str) and "\x00" in value:
        return "text with a NUL character"
    if isinstance(value, _STORABLE_SCALARS):
        return None
    if isinstance(value, list | tuple):
        for item in value:
            problem = _unstorable(item)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a dict with a non-text key {key!r}"
            problem = _unstorable(item)
            if problem:
                return problem
        return None
    return f"a {type(value).__name__}"
