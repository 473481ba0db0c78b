"""Structural rules of BPMN that Camunda enforces at deploy and SpiffWorkflow does not, and what it ignores.

Each check raises a :class:`ModelError` naming the file, line and element, so a model Camunda rejects is
rejected by Baton too, with the reason, instead of running in a way its author cannot have meant.
Only executable processes are checked (drawings may be incomplete).
"""

from __future__ import annotations

from typing import Any

from .bpmn_parser import NSMAP
from .errors import ModelError
from .extensions import CAMUNDA

BPMN = NSMAP["bpmn"]
#: the event definitions that make a start event something other than a none start event
EVENT_START_DEFINITIONS = ("errorEventDefinition", "signalEventDefinition", "messageEventDefinition",
                      "timerEventDefinition", "escalationEventDefinition", "conditionalEventDefinition",
                      "compensateEventDefinition")


def _executable(el: Any) -> bool:
    process = el.xpath("ancestor::bpmn:process", namespaces=NSMAP)
    return not process or process[0].get("isExecutable", "true") == "true"


def check_called_elements(name: str, root: Any) -> None:
    """A call activity whose ``calledElement`` is an expression: Baton binds called processes at deploy.

    Checked before the XML schema, which would only say that ``${...}`` is not a valid QName."""
    for call in root.iter(f"{{{BPMN}}}callActivity"):
        called = (call.get("calledElement") or "").strip()
        if _executable(call) and called.startswith(("${", "#{")):
            raise ModelError(
                f"calledElement {called!r} is an expression: Baton resolves the called process when the caller is "
                "deployed (calledElementBinding latest, deployment, version or versionTag), so it cannot depend on "
                "variables; name the process key, or choose between call activities with a gateway",
                file=name, line=call.sourceline, element_id=call.get("id"))


def check_structure(name: str, root: Any) -> None:
    """Reject asyncAfter on event-based gateways, timers without a time and event start events in subprocesses
    that are not event subprocesses (Camunda's BpmnParse rules)."""
    for gw in root.iter(f"{{{BPMN}}}eventBasedGateway"):
        if _executable(gw) and gw.get(f"{{{CAMUNDA}}}asyncAfter") == "true":
            raise ModelError(
                f"camunda:asyncAfter is not supported on event-based gateway '{gw.get('id')}': the gateway waits "
                "for the first of its events, there is no step after it to continue in a job",
                file=name, line=gw.sourceline, element_id=gw.get("id"))
    for timer in root.iter(f"{{{BPMN}}}timerEventDefinition"):
        if _executable(timer) and not any(isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] in
                                          ("timeDate", "timeDuration", "timeCycle") for c in timer):
            event = timer.getparent()
            raise ModelError(
                f"timer event '{event.get('id')}' has no timeDate, timeDuration or timeCycle: it could never fire",
                file=name, line=timer.sourceline, element_id=event.get("id"))
    check_event_references(name, root)
    check_reserved_ids(name, root)
    for tag in ("subProcess", "transaction", "adHocSubProcess"):
        for sub in root.iter(f"{{{BPMN}}}{tag}"):
            if sub.get("triggeredByEvent") == "true" or not _executable(sub):
                continue
            for start in sub.findall(f"{{{BPMN}}}startEvent"):
                for definition in start:
                    kind = definition.tag.rsplit("}", 1)[-1] if isinstance(definition.tag, str) else ""
                    if kind in EVENT_START_DEFINITIONS:
                        raise ModelError(
                            f"start event '{start.get('id')}' has a {kind}, which is only allowed on the start "
                            f"event of an event subprocess (triggeredByEvent=\"true\"); {tag} '{sub.get('id')}' "
                            "is not one: its start event must be a none start event",
                            file=name, line=start.sourceline, element_id=start.get("id"))


def check_reserved_ids(name: str, root: Any) -> None:
    """Reject element ids SpiffWorkflow gives its own tasks in every process (``Start``, ``End`` and
    ``<process id>.EndJoin``): such an element would be confused with them and the process could not start."""
    for process in root.iter(f"{{{BPMN}}}process"):
        if process.get("isExecutable", "true") != "true":
            continue
        reserved = {"Start", "End", f"{process.get('id')}.EndJoin"}
        for el in process.iter():
            if isinstance(el.tag, str) and el.get("id") in reserved:
                raise ModelError(
                    f"element id '{el.get('id')}' is reserved by the engine for the process's own start and end "
                    f"steps; rename the {el.tag.rsplit('}', 1)[-1]} (for example to '{el.get('id')}Event')",
                    file=name, line=el.sourceline, element_id=el.get("id"))


_EVENT_REFERENCES = (("messageEventDefinition", "messageRef", "message"),
                     ("signalEventDefinition", "signalRef", "signal"),
                     ("receiveTask", "messageRef", "message"), ("sendTask", "messageRef", "message"))


def check_event_references(name: str, root: Any) -> None:
    """Reject a ``messageRef`` / ``signalRef`` that names no ``<message>`` / ``<signal>`` of the file.

    (An ``errorRef`` / ``escalationRef`` naming nothing is Camunda's way of giving the code itself: allowed.)
    """
    declared = {kind: {el.get("id") for el in root.iter(f"{{{BPMN}}}{kind}")} for kind in ("message", "signal")}
    for tag, attr, kind in _EVENT_REFERENCES:
        for el in root.iter(f"{{{BPMN}}}{tag}"):
            ref = (el.get(attr) or "").strip()
            if not ref or not _executable(el) or ref.rsplit(":", 1)[-1] in declared[kind] or ref in declared[kind]:
                continue
            element = el if tag in ("receiveTask", "sendTask") else el.getparent()
            raise ModelError(
                f"{tag} of '{element.get('id')}' refers to {kind} {ref!r}, which the file does not declare: add "
                f'<bpmn:{kind} id="{ref}" name="..."/> to the definitions or correct the {attr}',
                file=name, line=el.sourceline, element_id=element.get("id"))


def drop_data_stores(root: Any) -> None:
    """Remove data stores, their references and the data associations that read or write them, in the parse tree.

    Like Camunda 7, Baton gives data stores no run-time meaning (they stand for a database or a system outside
    the process); SpiffWorkflow would refuse every data store that has no Python implementation registered.
    The deployed file keeps them: they still show in the diagram.
    """
    stores = list(root.iter(f"{{{BPMN}}}dataStore", f"{{{BPMN}}}dataStoreReference"))
    ids = {el.get("id") for el in stores}
    if not ids:
        return
    for assoc in list(root.iter(f"{{{BPMN}}}dataInputAssociation", f"{{{BPMN}}}dataOutputAssociation")):
        refs = {(ref.text or "").strip() for ref in assoc if isinstance(ref.tag, str)
                and ref.tag in (f"{{{BPMN}}}sourceRef", f"{{{BPMN}}}targetRef")}
        if refs & ids:
            assoc.getparent().remove(assoc)
    for el in stores:
        el.getparent().remove(el)


_REFERENCES = (("sequenceFlow", "sourceRef"), ("sequenceFlow", "targetRef"), ("messageFlow", "sourceRef"),
               ("messageFlow", "targetRef"), ("boundaryEvent", "attachedToRef"), ("exclusiveGateway", "default"),
               ("inclusiveGateway", "default"), ("complexGateway", "default"))


def check_references(name: str, root: Any) -> None:
    """Every flow's source and target, boundary event's host, gateway's default and diagram shape's element
    must be an element of the file (drawings included: a modeler could not draw the file otherwise)."""
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for tag, attr in _REFERENCES:
        for el in root.iter(f"{{{BPMN}}}{tag}"):
            _check_reference(name, el, attr, ids, tag)
    for el in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape",
                        "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNEdge"):
        _check_reference(name, el, "bpmnElement", ids, el.tag.rsplit("}", 1)[-1])


def _check_reference(name: str, el: Any, attr: str, ids: set[str], tag: str) -> None:
    ref = el.get(attr)
    if ref is not None and ref.split(":")[-1] not in ids:
        raise ModelError(f"{tag} '{el.get('id')}' has {attr}=\"{ref}\", which is no element of this file",
                         file=name, line=el.sourceline, element_id=el.get("id"))
