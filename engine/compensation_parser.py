"""Parsing compensation: boundary events and their handlers, throw events, compensation event subprocesses.

SpiffWorkflow's parser turns a compensation boundary into an ordinary boundary event and fails; its throw
and start event parsers ignore ``compensateEventDefinition``.  These parsers build the specs of
``engine/compensation.py`` instead and refuse, at deploy time and naming the element, what cannot run:
a compensation boundary without an associated handler, a handler not marked ``isForCompensation`` or
reached by sequence flows, an ``activityRef`` naming no activity, a compensation start event outside an
event subprocess.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import EndEventParser, IntermediateThrowEventParser, StartEventParser
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from .compensation import (
    CompensateEventDefinition,
    CompensationBoundaryEvent,
    CompensationEndEvent,
    CompensationStartEvent,
    CompensationThrowEvent,
)

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


class CompensationEventParserMixin:
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


class CompensationThrowEventParser(CompensationEventParserMixin, IntermediateThrowEventParser):
    """``intermediateThrowEvent``: a compensation throw when it has a ``compensateEventDefinition``."""

    compensation_class = CompensationThrowEvent

    def check_compensation(self, definition: Any) -> None:
        _check_activity_ref(self, definition)


class CompensationEndEventParser(CompensationEventParserMixin, EndEventParser):
    """``endEvent``: a compensation end event when it has a ``compensateEventDefinition``."""

    compensation_class = CompensationEndEvent

    def check_compensation(self, definition: Any) -> None:
        _check_activity_ref(self, definition)

    def connect_compensation(self, task: Any) -> None:
        task.connect(self.spec.end)


class CompensationStartEventParser(CompensationEventParserMixin, StartEventParser):
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
