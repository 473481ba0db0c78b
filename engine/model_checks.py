"""Structural rules of BPMN that Camunda enforces at deploy and SpiffWorkflow does not.

Each check raises a :class:`ModelError` naming the file, line and element, so a model Camunda rejects is
rejected by Baton too, with the reason, instead of running in a way its author cannot have meant.
Only executable processes are checked (drawings may be incomplete).
"""

from __future__ import annotations

from typing import Any

from .bpmn_parser import NSMAP
from .errors import ModelError

BPMN = NSMAP["bpmn"]
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
_START_DEFINITIONS = ("errorEventDefinition", "signalEventDefinition", "messageEventDefinition",
                      "timerEventDefinition", "escalationEventDefinition", "conditionalEventDefinition",
                      "compensateEventDefinition")


def _executable(el: Any) -> bool:
    process = el.xpath("ancestor::bpmn:process", namespaces=NSMAP)
    return not process or process[0].get("isExecutable", "true") == "true"


def check_structure(name: str, root: Any) -> None:
    """Reject asyncAfter on event-based gateways and event start events in subprocesses that are not event
    subprocesses (Camunda's BpmnParse rules)."""
    for gw in root.iter(f"{{{BPMN}}}eventBasedGateway"):
        if _executable(gw) and gw.get(f"{{{CAMUNDA}}}asyncAfter") == "true":
            raise ModelError(
                f"camunda:asyncAfter is not supported on event-based gateway '{gw.get('id')}': the gateway waits "
                "for the first of its events, there is no step after it to continue in a job",
                file=name, line=gw.sourceline, element_id=gw.get("id"))
    for tag in ("subProcess", "transaction", "adHocSubProcess"):
        for sub in root.iter(f"{{{BPMN}}}{tag}"):
            if sub.get("triggeredByEvent") == "true" or not _executable(sub):
                continue
            for start in sub.findall(f"{{{BPMN}}}startEvent"):
                for definition in start:
                    kind = definition.tag.rsplit("}", 1)[-1] if isinstance(definition.tag, str) else ""
                    if kind in _START_DEFINITIONS:
                        raise ModelError(
                            f"start event '{start.get('id')}' has a {kind}, which is only allowed on the start "
                            f"event of an event subprocess (triggeredByEvent=\"true\"); {tag} '{sub.get('id')}' "
                            "is not one: its start event must be a none start event",
                            file=name, line=start.sourceline, element_id=start.get("id"))
