"""Camunda Forms (the JSON ``.form`` files of Camunda Modeler's form editor) on user tasks.

A ``.form`` file is deployed together with the BPMN (``baton deploy order.bpmn review.form``) or before it.
A user task refers to one as

- Zeebe: ``<zeebe:formDefinition formId="review"/>`` (the form's ``id``), or
  ``formKey="camunda-forms:bpmn:ID"`` with the JSON inline in ``<zeebe:userTaskForm id="ID">`` of the process;
- Camunda 7: ``camunda:formRef="review"`` (the form's ``id``), or
  ``camunda:formKey="camunda-forms:deployment:review.form"`` (the file's name).

The reference is resolved when the process is deployed (this deployment's forms first, then the newest
deployed form with that id or file name) and a reference to nothing fails the deployment.  The form's
components become the task's form fields (checked by ``engine.forms`` when the task is completed):

=============  ======================  ==============================================
component      field type              notes
=============  ======================  ==============================================
textfield      string                  ``validate.minLength/maxLength/pattern``
textarea       string
number         number                  ``validate.min/max``
checkbox       boolean
select, radio  enum                    static ``values`` (label/value)
datetime       date                    ``subtype`` date (others as text)
=============  ======================  ==============================================

``validate.required``, ``defaultValue``, ``readonly`` / ``disabled`` are kept; groups are flattened; text,
buttons and other display-only components are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any

from SpiffWorkflow.camunda.specs.user_task import EnumFormField, FormField

from .errors import DeploymentError
from .extensions import BPMN as _BPMN
from .extensions import CAMUNDA, ZEEBE

_TYPES = {"textfield": "string", "textarea": "string", "number": "number", "checkbox": "boolean",
          "select": "enum", "radio": "enum", "datetime": "date"}
_DISPLAY_ONLY = {"text", "button", "spacer", "separator", "image", "html", "iframe", "table", "expression"}

# a form reference -> its JSON (None when nothing deployed has it); given ("id", X) or ("file", name)
LookupForm = Callable[[str, str], dict[str, Any] | None]


def load(name: str, content: bytes) -> dict[str, Any]:
    """A ``.form`` file's JSON, checked to be a Camunda Form (an object with ``components``)."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeploymentError(f"not a Camunda Form: the file is not valid JSON ({exc})", file=name) from exc
    if not isinstance(data, dict) or not isinstance(data.get("components"), list):
        raise DeploymentError("not a Camunda Form: expected a JSON object with a 'components' list", file=name)
    return data


def reference(node: Any) -> tuple[str, str] | None:
    """What form a user task refers to: ("id", form id), ("file", file name) or ("inline", user task form id)."""
    for definition in node.findall(f"{{{_BPMN}}}extensionElements/{{{ZEEBE}}}formDefinition"):
        if definition.get("formId"):
            return "id", definition.get("formId").strip()
        key = (definition.get("formKey") or "").strip()
        if key.startswith("camunda-forms:bpmn:"):
            return "inline", key.split(":", 2)[2]
        if key:
            return "id", key
    if node.get(f"{{{CAMUNDA}}}formRef"):
        return "id", node.get(f"{{{CAMUNDA}}}formRef").strip()
    key = (node.get(f"{{{CAMUNDA}}}formKey") or "").strip()
    if key.startswith("camunda-forms:deployment:"):
        return "file", key.split(":", 2)[2]
    if key.startswith("camunda-forms:bpmn:"):
        return "inline", key.split(":", 2)[2]
    return None


def resolve(node: Any, lookup: LookupForm) -> dict[str, Any] | None:
    """The Camunda Form JSON a user task refers to (None when it refers to none); ``ValueError`` when missing."""
    ref = reference(node)
    if ref is None:
        return None
    kind, value = ref
    if kind == "inline":
        process = next(node.iterancestors(f"{{{_BPMN}}}process"), None)
        found = process.findall(f".//{{{ZEEBE}}}userTaskForm") if process is not None else []
        for el in found:
            if el.get("id") == value:
                try:
                    data = json.loads(el.text or "")
                except ValueError as exc:
                    raise ValueError(f"zeebe:userTaskForm '{value}' is not valid JSON: {exc}") from None
                if isinstance(data, dict) and isinstance(data.get("components"), list):
                    return data
                raise ValueError(f"zeebe:userTaskForm '{value}' is not a Camunda Form (no components list)")
        raise ValueError(f"the form key refers to zeebe:userTaskForm '{value}', which the process does not have")
    data = lookup(kind, value)
    if data is None:
        what = "form id" if kind == "id" else "form file"
        raise ValueError(f"the user task's form refers to {what} '{value}', which is neither in this deployment "
                         "nor deployed before (deploy the .form file with the diagram)")
    return data


def _components(items: list[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("components"), list):  # group, dynamic list: flattened
            yield from _components(item["components"])
        elif item.get("type") not in _DISPLAY_ONLY and item.get("key"):
            yield item


def fields(data: dict[str, Any]) -> list[FormField]:
    """The form fields of a Camunda Form (SpiffWorkflow's field objects, as ``camunda:formData`` gives)."""
    out: list[FormField] = []
    for comp in _components(data.get("components") or []):
        kind = _TYPES.get(str(comp.get("type")), "string")
        if kind == "date" and comp.get("subtype") not in (None, "date"):
            kind = "string"
        values = comp.get("values") if isinstance(comp.get("values"), list) else None
        if kind == "enum" and not values:
            kind = "string"  # options from a variable (valuesKey): taken as text
        field: FormField = EnumFormField() if kind == "enum" else FormField()
        field.id, field.type, field.label = str(comp["key"]), kind, comp.get("label") or str(comp["key"])
        default = comp.get("defaultValue")
        field.default_value = None if default is None else default if isinstance(default, str) else json.dumps(default)
        if kind == "enum":
            for option in values or []:
                if isinstance(option, dict) and "value" in option:
                    field.add_option(str(option["value"]), str(option.get("label", option["value"])))
        validate = comp.get("validate")
        rules: dict[str, Any] = validate if isinstance(validate, dict) else {}
        for name, config in (("required", None), ("minLength", "minlength"), ("maxLength", "maxlength"),
                             ("min", "min"), ("max", "max"), ("pattern", "pattern")):
            if name == "required" and rules.get("required"):
                field.add_validation("required", None)
            elif config and rules.get(name) not in (None, ""):
                field.add_validation(config, str(rules[name]))
        if comp.get("readonly") is True or comp.get("disabled") is True:
            field.add_validation("readonly", None)
        out.append(field)
    return out


def checksums(tree: Any, lookup: LookupForm) -> list[str]:
    """One ``form:<reference>=<sha256>`` per user task of ``tree`` that refers to a deployed form."""
    parts = []
    for el in tree.iter(f"{{{_BPMN}}}userTask"):
        ref = reference(el)
        data = lookup(*ref) if ref is not None and ref[0] != "inline" else None
        if data is not None:
            parts.append(f"form:{ref}={hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()}")
    return parts


def stored(conn: Any, kind: str, value: str) -> dict[str, Any] | None:
    """The newest deployed Camunda Form with that id (``kind`` "id") or file name (``kind`` "file")."""
    from .store import queries as q

    for name, content in q.form_resources(conn):
        if kind == "file" and PurePath(name).name != value:
            continue
        try:
            data = json.loads(content)
        except ValueError:
            continue
        if isinstance(data, dict) and (kind == "file" or str(data.get("id")) == value):
            return data
    return None
