"""Intermediate link events: a link throw event continues at the link catch event of the same name.

SpiffWorkflow parses a link throw as a none throw event with no outgoing flow (the path just ends there)
and never reaches the catch event (it has no incoming flow).  :class:`LinkProcessParser` connects each
throw to its catch in the same scope (process or subprocess), so the token jumps from one to the other.

Deploy-time checks, each naming the element: a throw with no catch of its name in its scope, two catches
with the same name in one scope, a link catch event after an event-based gateway.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def _tag(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


def link_name(event: Any) -> str | None:
    """The link name of an intermediate event with a ``linkEventDefinition``, else None."""
    definition = event.find(_tag("linkEventDefinition"))
    if definition is None:
        return None
    return definition.get("name") or event.get("name") or ""


class LinkProcessParser(ProcessParser):
    """A process (or subprocess) parser that checks and wires the link events of its scope."""

    def add_tasks(self):
        targets = self._link_targets()
        super().add_tasks()
        wired: set[str] = set()
        while True:  # a catch can lead to another throw: wire until nothing new was parsed
            pending = [(t, c) for t, c in targets.items() if t not in wired and t in self.spec.task_specs]
            if not pending:
                break
            for throw_id, catch_node in pending:
                wired.add(throw_id)
                self.spec.task_specs[throw_id].connect(self.parse_node(catch_node))

    def _fail(self, message: str, node: Any) -> None:
        raise ValidationException(message, node=node, file_name=self.filename)

    def _link_targets(self) -> dict[str, Any]:
        """{throw event id: catch event node}, after checking the scope's links."""
        catches: dict[str, Any] = {}
        for event in self.node.findall(_tag("intermediateCatchEvent")):
            name = link_name(event)
            if name is None:
                continue
            if name in catches:
                self._fail(f"link catch events '{catches[name].get('id')}' and '{event.get('id')}' have the same "
                           f"link name '{name}' in one scope: a link throw would not know where to go", event)
            catches[name] = event
            self._refuse_after_event_gateway(event)
        targets = {}
        for event in self.node.findall(_tag("intermediateThrowEvent")):
            name = link_name(event)
            if name is None:
                continue
            if name not in catches:
                self._fail(f"link throw event '{event.get('id')}' goes to link '{name}', but no link catch event "
                           "of that name is in the same scope", event)
            targets[event.get("id")] = catches[name]
        return targets

    def _refuse_after_event_gateway(self, event: Any) -> None:
        gateways = {g.get("id") for g in self.node.findall(_tag("eventBasedGateway"))}
        for flow in self.node.findall(_tag("sequenceFlow")):
            if flow.get("targetRef") == event.get("id") and flow.get("sourceRef") in gateways:
                self._fail(f"link catch event '{event.get('id')}' follows event-based gateway "
                           f"'{flow.get('sourceRef')}': a link event cannot be waited for there", event)
