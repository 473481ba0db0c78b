"""The SpiffWorkflow parser Baton uses, with the extension readers it needs.

Standard BPMN 2.0 is read by SpiffWorkflow's own task parsers.  On top of
them Baton reads:

- who works on a user task: ``camunda:assignee`` / ``candidateUsers`` /
  ``candidateGroups`` or Zeebe's ``assignmentDefinition`` (``engine.assignment``);
- user task forms written as ``camunda:formData`` / ``camunda:formField``
  (SpiffWorkflow's Camunda parser only reads them when ``camunda:formKey`` is
  also set; Baton reads them whenever they are there);
- SpiffArena JSON-schema forms: ``spiffworkflow:properties`` with ``formJsonSchemaFilename`` (and
  ``formUiSchemaFilename``), or Baton's inline ``formJsonSchema`` (the schema as JSON text), kept on
  the form as ``json_schema`` / ``json_schema_file`` / ``ui_schema_file`` (see ``engine/forms.py``);
- a plain ``bpmn:task`` as a pass-through step, as Camunda and the BPMN
  spec treat it (SpiffWorkflow makes it wait for a person);
- compensation boundary events, throws and compensation event subprocesses
  (see :mod:`engine.compensation_parser`);
- the decision a business rule task calls, from ``camunda:decisionRef`` or
  SpiffArena's ``spiffworkflow:calledDecisionId``, with a clear error when
  neither is given (SpiffWorkflow raises ``KeyError``).
"""

from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import DEFAULT_NSMAP, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import SendTaskParser as SpiffSendTaskParser
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    ExclusiveGateway,
    InclusiveGateway,
    ManualTask,
    NoneTask,
    SendTask,
    ServiceTask,
)
from SpiffWorkflow.camunda.parser.task_spec import UserTaskParser as CamundaUserTaskParser
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.camunda.specs.user_task import Form, FormField, UserTask
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser

from . import activity_io, camunda_forms, continuations, decisions, quality_gates
from . import join_variables as _join_variables  # noqa: F401  (a join merges only what each branch changed)
from .bpmn_events import (
    BatonBoundaryEventParser,
    BatonEndEvent,
    BatonEndEventParser,
    BatonIntermediateThrowEvent,
    BatonIntermediateThrowEventParser,
    BatonStartEventParser,
)
from .call_activities import BatonCallActivity, BatonCallActivityParser
from .compensation_parser import (
    CompensationEndEventParser,
    CompensationProcessParser,
    CompensationStartEventParser,
    CompensationThrowEventParser,
)
from .extensions import CAMUNDA as CAMUNDA_NS
from .extensions import PROPERTIES, is_external, job_definition, properties
from .extensions import SPIFF as SPIFF_NS
from .extensions import ZEEBE as ZEEBE_NS
from .flow_semantics import DocumentOrderGatewayParser
from .scopes import ScopeProcessParser, ScopeStartEvent

NSMAP = {**DEFAULT_NSMAP, "camunda": CAMUNDA_NS, "spiffworkflow": SPIFF_NS, "zeebe": ZEEBE_NS}


class PassThroughTask(NoneTask):
    """A ``bpmn:task`` with no behaviour: the token passes straight through."""

    def __init__(self, wf_spec, bpmn_id, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class ManualPassThroughTask(PassThroughTask):
    """A ``bpmn:manualTask`` of a Camunda diagram: done without the engine, so the token passes through."""

    bpmn_type = "manualTask"


def is_camunda_diagram(root: Any) -> bool:
    """True when ``definitions`` declares Camunda 7's or Zeebe's namespace or Camunda Modeler exported the file."""
    return bool({CAMUNDA_NS, ZEEBE_NS} & set(root.nsmap.values())) or \
        "camunda modeler" in (root.get("exporter") or "").lower()


class ManualTaskParser(TaskParser):
    """Manual tasks wait for a person to say they are done (SpiffArena's behaviour), except in Camunda diagrams:
    Camunda 7 and 8 pass straight through them (BPMN: the work happens without the engine)."""

    def create_task(self):  # type: ignore[no-untyped-def]
        if is_camunda_diagram(self.node.getroottree().getroot()):
            return ManualPassThroughTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        return super().create_task()


class JobTask(ServiceTask):
    """A task done outside the engine: reaching it creates a job; the task waits (STARTED) until the job ends.

    ``job`` holds the topic, retries, timeout and input/output mappings read by ``engine.extensions``;
    ``bpmn_type`` the element it was drawn as (serviceTask, sendTask, businessRuleTask).
    """

    def __init__(self, wf_spec, bpmn_id, job=None, bpmn_type="serviceTask", **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.job = job or {"topic": bpmn_id}
        self.bpmn_type = bpmn_type


class JobTaskParser(TaskParser):
    """Service tasks, and send / business rule tasks marked external, become :class:`JobTask`."""

    def create_task(self):
        job = job_definition(self.node)
        activity_io.check_mappings((job["inputs"] or []) + (job["outputs"] or []), self.node, self.filename)
        bpmn_type = self.node.tag.rsplit("}", 1)[-1]
        return JobTask(self.spec, self.bpmn_id, job=job, bpmn_type=bpmn_type, **self.bpmn_attributes)


class SendTaskParser(SpiffSendTaskParser):
    """A send task marked external (Camunda topic, Zeebe task definition) is a job; otherwise a message throw."""

    def create_task(self):
        if is_external(self.node):
            return JobTaskParser.create_task(self)  # type: ignore[arg-type]
        return super().create_task()


class UserTaskParser(CamundaUserTaskParser):
    """A user task with the form fields of ``camunda:formData``, formKey or not."""

    # standard BPMN multi-instance (loopDataInputRef / inputDataItem), not the Camunda 7 variant
    _add_multiinstance_task = TaskParser._add_multiinstance_task

    def create_task(self) -> UserTask:
        from .assignment import literal_problem, read_assignment  # imported here: it needs the records

        task = super().create_task()
        task.assignment = read_assignment(self.node)  # assignee, candidates, due date (engine/assignment.py)
        problem = literal_problem(task.assignment)
        if problem:
            self.raise_validation_exception(problem)
        return task

    def get_form(self) -> Form:
        form = Form()
        form.key = self.node.get(f"{{{CAMUNDA_NS}}}formKey")
        self._read_json_schema(form)
        try:  # a Camunda Form (.form file or zeebe:userTaskForm), see engine.camunda_forms
            camunda_form = camunda_forms.resolve(self.node, self.process_parser.parser.lookup_form)
        except ValueError as exc:
            self.raise_validation_exception(str(exc))
        if camunda_form is not None:
            form.key = form.key or str(camunda_form.get("id") or "") or None
            for field in camunda_forms.fields(camunda_form):
                form.add_field(field)
            return form
        fields = self.xpath(".//camunda:formData/camunda:formField")
        if form.key is None and not fields:
            return form
        for xml_field in fields:
            field = self.get_enum_field(xml_field) if xml_field.get("type") == "enum" else FormField()
            field.id = xml_field.get("id")
            field.type = xml_field.get("type")
            field.label = xml_field.get("label")
            field.default_value = xml_field.get("defaultValue")
            for child in xml_field:
                if child.tag == f"{{{CAMUNDA_NS}}}properties":
                    for prop in child:
                        field.add_property(prop.get("id"), prop.get("value"))
                elif child.tag == f"{{{CAMUNDA_NS}}}validation":
                    for constraint in child:
                        field.add_validation(constraint.get("name"), constraint.get("config"))
            form.add_field(field)
        return form

    def _read_json_schema(self, form: Form) -> None:
        """SpiffArena's form properties; an inline schema must be a valid JSON schema (checked at deploy)."""
        found = self.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property")
        props = {p.get("name"): p.get("value") for p in found}
        form.json_schema_file = props.get("formJsonSchemaFilename") or None
        form.ui_schema_file = props.get("formUiSchemaFilename") or None
        form.json_schema = None
        inline = props.get("formJsonSchema")
        if inline:
            from .forms import schema_problem

            try:
                schema = json.loads(inline)
            except ValueError as exc:
                self.raise_validation_exception(f"formJsonSchema is not valid JSON: {exc}")
            problem = schema_problem(schema)
            if problem:
                self.raise_validation_exception(f"formJsonSchema is not a valid JSON schema: {problem}")
            form.json_schema = schema


class BusinessRuleTaskParser(JobTaskParser):
    """A business rule task that evaluates a DMN decision."""

    @staticmethod
    def get_decision_ref(node) -> str | None:
        decision_ref = node.get(f"{{{CAMUNDA_NS}}}decisionRef")
        if decision_ref is None:
            called = node.xpath(".//spiffworkflow:calledDecisionId", namespaces=NSMAP)
            decision_ref = called[0].text.strip() if called and called[0].text else None
        return decision_ref or None

    def create_task(self):
        if is_external(self.node):
            return super().create_task()
        decision_ref = self.get_decision_ref(self.node)
        if not decision_ref:
            self.raise_validation_exception(
                "Business rule task has no decision to evaluate: set camunda:decisionRef "
                "(or spiffworkflow:calledDecisionId) to the id of a deployed DMN decision"
            )
        info = decisions.read_decision(self.node)
        problem = decisions.problem(info)
        if problem:
            self.raise_validation_exception(problem)
        parser = self.process_parser.parser
        found = parser.dmn_parsers.get(decision_ref)
        if info["binding"] == "deployment" and found is not None and str(found.filename).startswith("<deployed"):
            self.raise_validation_exception(
                f"camunda:decisionRefBinding is 'deployment' but decision '{decision_ref}' is not in this deployment")
        engine = parser.get_engine(decision_ref, self.node)
        return decisions.BatonBusinessRuleTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)

    def parse_extensions(self, node=None):
        return {decisions.DECISION: decisions.read_decision(self.node)}


class StartEventParser(CompensationStartEventParser, BatonStartEventParser):
    """Start events: compensation start events of event subprocesses, else error/escalation/interrupting ones."""


class EndEventParser(CompensationEndEventParser, BatonEndEventParser):
    """End events: compensation throws, else error, escalation, cancel, signal, message, terminate ends."""


class IntermediateThrowEventParser(CompensationThrowEventParser, BatonIntermediateThrowEventParser):
    """Intermediate throw events: compensation throws, else escalations, signals, messages, links."""


INITIATOR = "camunda:initiator"


class ProcessParser(CompensationProcessParser, ScopeProcessParser):
    """Processes: compensation handlers kept out of the flow, then event subprocesses, implicit ends, links;
    every element's ``camunda:asyncBefore`` / ``asyncAfter`` / retry cycle (``engine.continuations``) and
    input/output parameters (``engine.activity_io``)."""

    def parse_node(self, node):
        known = node.get("id") in self.spec.task_specs
        task_spec = super().parse_node(node)
        if not known:
            continuations.mark(self.spec, node, self.filename)
            activity_io.mark(self.spec, node, self.filename)
            found = self.spec.task_specs.get(node.get("id"))
            props = properties(node)
            initiator = node.get(f"{{{CAMUNDA_NS}}}initiator") if node.tag == full_tag("startEvent") else None
            if initiator and found is not None and isinstance(getattr(found, "extensions", None), dict):
                found.extensions[INITIATOR] = initiator.strip()  # the variable that gets the starting user
            if props and found is not None and isinstance(getattr(found, "extensions", None), dict):
                found.extensions[PROPERTIES] = props  # shown with the task (engine.execution.properties_of)
                quality_gates.mark(found, node, props)  # a gateway deciding on a score keeps its flows
        return task_spec


class BatonParser(BpmnDmnParser):
    """BPMN + DMN parser with Baton's extension readers."""

    OVERRIDE_PARSER_CLASSES = {
        full_tag("task"): (TaskParser, PassThroughTask),
        full_tag("manualTask"): (ManualTaskParser, ManualTask),  # passes through in Camunda diagrams
        # flows in document order, as Camunda evaluates them (engine.flow_semantics)
        full_tag("exclusiveGateway"): (DocumentOrderGatewayParser, ExclusiveGateway),
        full_tag("inclusiveGateway"): (DocumentOrderGatewayParser, InclusiveGateway),
        full_tag("serviceTask"): (JobTaskParser, JobTask),
        full_tag("sendTask"): (SendTaskParser, SendTask),
        full_tag("userTask"): (UserTaskParser, UserTask),
        full_tag("callActivity"): (BatonCallActivityParser, BatonCallActivity),  # bindings, in/out mappings
        full_tag("businessRuleTask"): (BusinessRuleTaskParser, BusinessRuleTask),
        # errors, escalations, interrupting event subprocesses, transactions (engine.bpmn_events, engine.scopes),
        # each composed with compensation (engine.compensation_parser), which takes over only for compensate events
        full_tag("startEvent"): (StartEventParser, ScopeStartEvent),
        full_tag("endEvent"): (EndEventParser, BatonEndEvent),
        full_tag("intermediateThrowEvent"): (IntermediateThrowEventParser, BatonIntermediateThrowEvent),
        full_tag("boundaryEvent"): (BatonBoundaryEventParser, BoundaryEvent),
    }
    PROCESS_PARSER_CLASS = ProcessParser  # compensation handlers, event subprocesses, implicit ends, link events

    def __init__(self) -> None:
        super().__init__(namespaces=NSMAP, validator=None)
        self.lookup_form: camunda_forms.LookupForm = lambda kind, value: None  # set by engine.parsing
