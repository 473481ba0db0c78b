"""The start form of a process: ``camunda:formData`` on its none start event (Camunda Modeler's "Forms" tab).

SpiffWorkflow reads forms of user tasks only, so the start event's form is read from the deployed XML here, in
the shape :func:`engine.execution.form_of` gives a task's form (``{"key", "fields": [{"id", "label", "type",
"default", "validation", "properties", "options"}]}``), so that the same page code draws it and
:func:`engine.forms.check` checks what is submitted.  Only the page that starts an instance uses it; the API
and ``baton start`` take variables as they are.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .errors import BatonError
from .extensions import BPMN, CAMUNDA
from .model_checks import EVENT_START_DEFINITIONS
from .parsing import safe_parse


def start_form(xml: str | bytes, process_key: str) -> dict[str, Any] | None:
    """The form of process ``process_key``'s none start event, or None when it has none."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        root = safe_parse(data, f"{process_key}.bpmn")
    except BatonError:
        return None
    for process in root.iter(f"{{{BPMN}}}process"):
        if process.get("id") != process_key:
            continue
        for event in process.findall(f"{{{BPMN}}}startEvent"):
            if any(etree.QName(child).localname in EVENT_START_DEFINITIONS for child in event):
                continue
            fields = [_field(f) for f in event.iterfind(f".//{{{CAMUNDA}}}formData/{{{CAMUNDA}}}formField")]
            if fields:
                return {"key": event.get(f"{{{CAMUNDA}}}formKey"), "fields": fields}
    return None


def _field(node: Any) -> dict[str, Any]:
    field: dict[str, Any] = {
        "id": node.get("id"),
        "label": node.get("label"),
        "type": node.get("type") or "string",
        "default": node.get("defaultValue"),
        "validation": [
            {"name": c.get("name"), "config": c.get("config")}
            for c in node.iterfind(f"{{{CAMUNDA}}}validation/{{{CAMUNDA}}}constraint")
        ],
        "properties": {
            p.get("id"): p.get("value") for p in node.iterfind(f"{{{CAMUNDA}}}properties/{{{CAMUNDA}}}property")
        },
    }
    if field["type"] == "enum":
        field["options"] = [{"id": v.get("id"), "name": v.get("name")} for v in node.iterfind(f"{{{CAMUNDA}}}value")]
    return field
