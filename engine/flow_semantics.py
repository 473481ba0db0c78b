"""Camunda's sequence-flow semantics, given to SpiffWorkflow in the parse tree at deploy time.

BPMN and Camunda 7 accept two things SpiffWorkflow refuses:

- an outgoing flow of an exclusive or inclusive gateway with no condition that is not the gateway's
  ``default``: Camunda treats the missing condition as true (an exclusive gateway takes the first flow,
  in document order, whose condition holds; an inclusive gateway takes every such flow).  Baton gives
  these flows the condition ``True`` in the parse tree;
- an activity or event with several outgoing flows (an implicit split): every flow without a condition
  is taken, and every conditional flow whose condition holds.  Baton inserts a gateway after the element in
  the parse tree: a parallel gateway when no flow has a condition, else an inclusive gateway (unconditional
  flows get ``True``, the element's ``default`` flow stays the default).

Document order of an exclusive gateway's flows is kept by :class:`DocumentOrderGatewayParser`
(SpiffWorkflow sorts a node's outgoing flows by the y coordinate of their targets in the diagram).
Only executable processes are touched; the stored file stays as uploaded.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser

from .extensions import BPMN

NSMAP = {"bpmn": BPMN}
_GATEWAYS = {f"{{{BPMN}}}{t}" for t in ("exclusiveGateway", "inclusiveGateway", "parallelGateway",
                                         "eventBasedGateway", "complexGateway")}
_CONDITIONAL = {f"{{{BPMN}}}{t}" for t in ("exclusiveGateway", "inclusiveGateway")}
_CONTAINERS = {f"{{{BPMN}}}{t}" for t in ("process", "subProcess", "transaction", "adHocSubProcess")}


def _executable(el: Any) -> bool:
    process = el.xpath("ancestor-or-self::bpmn:process", namespaces=NSMAP)
    return not process or process[0].get("isExecutable", "true") == "true"


def _has_condition(flow: Any) -> bool:
    cond = flow.find(f"{{{BPMN}}}conditionExpression")
    return cond is not None and bool((cond.text or "").strip())


def _set_true(flow: Any) -> None:
    cond = flow.find(f"{{{BPMN}}}conditionExpression")
    if cond is None:  # the parse tree only: the schema was checked before
        cond = etree.SubElement(flow, f"{{{BPMN}}}conditionExpression")
    cond.text = "True"


def _outgoing(container: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for flow in container.findall(f"{{{BPMN}}}sequenceFlow"):
        found.setdefault(flow.get("sourceRef"), []).append(flow)
    return found


def apply(root: Any) -> None:
    """Give unconditional gateway flows ``True`` and turn implicit splits into gateways (executable processes)."""
    for container in root.iter(*_CONTAINERS):
        if not _executable(container):
            continue
        outgoing = _outgoing(container)
        for node in list(container):
            if not isinstance(node.tag, str) or node.tag == f"{{{BPMN}}}sequenceFlow":
                continue
            flows = outgoing.get(node.get("id"), [])
            if len(flows) < 2:
                continue
            if node.tag in _CONDITIONAL:
                _conditions_default_true(node, flows)
            elif node.tag not in _GATEWAYS:
                _split(container, node, flows)


def _conditions_default_true(gateway: Any, flows: list[Any]) -> None:
    for flow in flows:
        if flow.get("id") != gateway.get("default") and not _has_condition(flow):
            _set_true(flow)


def _split(container: Any, node: Any, flows: list[Any]) -> None:
    conditional = any(_has_condition(f) for f in flows) or node.get("default")
    kind = "inclusiveGateway" if conditional else "parallelGateway"
    gateway_id = f"{node.get('id')}_implicitSplit"
    gateway = etree.Element(f"{{{BPMN}}}{kind}", id=gateway_id)
    if node.get("default"):
        gateway.set("default", node.attrib.pop("default"))
    container.insert(container.index(node) + 1, gateway)
    link = etree.Element(f"{{{BPMN}}}sequenceFlow", id=f"{gateway_id}_in", sourceRef=node.get("id"),
                         targetRef=gateway_id)
    container.insert(container.index(gateway) + 1, link)
    for flow in flows:
        flow.set("sourceRef", gateway_id)
    if conditional:
        _conditions_default_true(gateway, flows)


class DocumentOrderGatewayParser(ConditionalGatewayParser):
    """Exclusive and inclusive gateways whose outgoing flows keep their order in the file, as in Camunda."""

    def get_position(self, node: Any = None) -> dict[str, float]:
        if node is None or node is self.node:
            return dict(super().get_position(node))
        targets = [f.get("targetRef") for f in self.process_parser.get_outgoing_sequence_flows(self.bpmn_id)]
        index = targets.index(node.get("id")) if node.get("id") in targets else len(targets)
        return {"x": 0.0, "y": float(index)}
