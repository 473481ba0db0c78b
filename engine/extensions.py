"""Reading the job settings of a task from the extensions each modeler writes.

A task becomes a job (see ``engine/jobs.py``) when it is a ``bpmn:serviceTask``, or a send task /
business rule task marked external.  Its **topic** comes from

- Camunda 7: ``camunda:type="external" camunda:topic="..."``
- Camunda 8 / Zeebe: ``<zeebe:taskDefinition type="..." retries="..."/>``
- SpiffArena: ``<spiffworkflow:serviceTaskOperator id="...">`` (its parameters become inputs)
- none of these: the task id.

Inputs and outputs come from ``camunda:inputOutput`` or ``zeebe:ioMapping`` (or the SpiffArena operator's
parameters and ``resultVariable``).  Deployment has translated their JUEL (``${...}``) and FEEL (``=...``)
to ``${<python>}`` (``engine/expressions.py``): that form is unwrapped, text without it is a constant.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

#: the XML namespaces every reader of BPMN files here uses (one definition for the whole engine)
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
PROPERTIES = "baton:properties"  # key of an element's properties in its task spec's extensions


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def expression_of(text: str | None) -> str:
    """A Camunda/Zeebe mapping value (``${<python>}`` after deployment, or a constant) as a Python expression."""
    value = (text or "").strip()
    if value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    return repr(text or "")


def _extension(node: Any, ns: str, name: str) -> list[Any]:
    return node.findall(f"{_q('http://www.omg.org/spec/BPMN/20100524/MODEL', 'extensionElements')}/{_q(ns, name)}")


def is_external(node: Any) -> bool:
    """True when a send task or business rule task is marked as a job for a worker."""
    return (node.get(_q(CAMUNDA, "type")) == "external" or node.get(_q(CAMUNDA, "topic")) is not None
            or bool(_extension(node, ZEEBE, "taskDefinition")))


def job_definition(node: Any) -> dict[str, Any]:
    """Topic, retries, timeout and input/output mappings of a job task (JSON-ready)."""
    topic = node.get(_q(CAMUNDA, "topic"))
    retries: int | None = None
    retry_cycle: str | None = None
    inputs: list[dict[str, str]] | None = None
    outputs: list[dict[str, str]] | None = None
    result_variable: str | None = None

    for task_def in _extension(node, ZEEBE, "taskDefinition"):
        topic = topic or expression_constant(task_def.get("type"))
        if task_def.get("retries"):
            retries = _int(task_def.get("retries"), "zeebe:taskDefinition retries", node)
    for operator in _extension(node, SPIFF, "serviceTaskOperator"):
        topic = topic or operator.get("id")
        result_variable = operator.get("resultVariable") or None
        inputs = [{"name": p.get("id"), "expression": p.get("value") or "None"}
                  for p in operator.iter(_q(SPIFF, "parameter"))]
    found_in, found_out = io_mappings(node)
    inputs = found_in or inputs
    outputs = found_out or outputs
    for cycle in _extension(node, CAMUNDA, "failedJobRetryTimeCycle"):
        retry_cycle = (cycle.text or "").strip() or None
    spiff_retry = node.get(_q(SPIFF, "retry")) or next(
        (el.text for el in _extension(node, SPIFF, "retry") if el.text), None)
    if spiff_retry:
        retries = _int(spiff_retry, "spiffworkflow:retry", node)
    return {
        "topic": topic or node.get("id"),
        "retries": retries,
        "retry_cycle": retry_cycle,
        "timeout": _property(node, "timeout"),
        "inputs": inputs,
        "outputs": outputs,
        "result_variable": result_variable,
        "properties": properties(node) or None,
    }


def io_mappings(node: Any) -> tuple[list[dict[str, str]] | None, list[dict[str, str]] | None]:
    """(inputs, outputs) of ``camunda:inputOutput`` or ``zeebe:ioMapping``: each ``{"name", "expression"}``;
    None where the element has none."""
    inputs: list[dict[str, str]] | None = None
    outputs: list[dict[str, str]] | None = None
    for io in _extension(node, CAMUNDA, "inputOutput"):
        inputs = [_camunda_param(p) for p in io.findall(_q(CAMUNDA, "inputParameter"))] or inputs
        outputs = [_camunda_param(p) for p in io.findall(_q(CAMUNDA, "outputParameter"))] or outputs
    for io in _extension(node, ZEEBE, "ioMapping"):
        inputs = [{"name": m.get("target"), "expression": expression_of(m.get("source"))}
                  for m in io.findall(_q(ZEEBE, "input"))] or inputs
        outputs = [{"name": m.get("target"), "expression": expression_of(m.get("source"))}
                   for m in io.findall(_q(ZEEBE, "output"))] or outputs
    return inputs, outputs


def expression_constant(text: str | None) -> str | None:
    """A Zeebe ``type`` may be written ``="name"``; keep only plain names."""
    if text is None:
        return None
    value = text.strip()
    if value.startswith("="):
        value = value[1:].strip().strip("\"'")
    return value or None


def _camunda_param(param: Any) -> dict[str, Any]:
    """One ``camunda:inputParameter`` / ``outputParameter``: a value, ``${expr}``, a list, a map or a script.

    A script parameter (Python only) that is one expression is kept as that expression; a longer script is
    kept whole with ``"script": True`` (its value is its last expression, see ``engine.activity_io``).
    """
    mapping: dict[str, Any] = {"name": param.get("name")}
    children = [c for c in param if isinstance(c.tag, str)]
    if not children:
        return {**mapping, "expression": expression_of(param.text)}
    child = children[0]
    kind = child.tag.rsplit("}", 1)[-1]
    if kind == "list":
        return {**mapping, "expression": "[" + ", ".join(_nested(v) for v in child if isinstance(v.tag, str)) + "]"}
    if kind == "map":
        return {**mapping, "expression": _nested(child)}
    if kind == "script":
        text = (child.text or "None").strip()
        if "\n" in text or ";" in text:
            return {**mapping, "expression": text, "script": True}
        return {**mapping, "expression": text}
    return {**mapping, "expression": expression_of(child.text)}


def _nested(el: Any) -> str:
    """A ``camunda:value`` / ``list`` / ``map`` element (lists and maps nest) as a Python expression."""
    kind = el.tag.rsplit("}", 1)[-1]
    if kind == "list":
        return "[" + ", ".join(_nested(v) for v in el if isinstance(v.tag, str)) + "]"
    if kind == "map":
        return "{" + ", ".join(f"{e.get('key')!r}: {_entry(e)}" for e in el if isinstance(e.tag, str)) + "}"
    return expression_of(el.text)


def _entry(entry: Any) -> str:
    children = [c for c in entry if isinstance(c.tag, str)]
    return _nested(children[0]) if children else expression_of(entry.text)


def properties(node: Any) -> dict[str, str]:
    """Every ``camunda:property`` (name -> value) and Zeebe task header (key -> value) of an element: agents get
    them as ``context.properties`` (Zeebe's custom headers), the task and job JSON as ``properties``."""
    found: dict[str, str] = {}
    for props in _extension(node, CAMUNDA, "properties"):
        for prop in props.findall(_q(CAMUNDA, "property")):
            if prop.get("name"):
                found[prop.get("name")] = prop.get("value") or ""
    for headers in _extension(node, ZEEBE, "taskHeaders"):
        for header in headers.findall(_q(ZEEBE, "header")):
            if header.get("key"):
                found[header.get("key")] = header.get("value") or ""
    return found


def _property(node: Any, name: str) -> str | None:
    for props in _extension(node, CAMUNDA, "properties"):
        for prop in props.findall(_q(CAMUNDA, "property")):
            if prop.get("name") == f"baton:{name}" or prop.get("name") == name:
                return prop.get("value")
    for headers in _extension(node, ZEEBE, "taskHeaders"):
        for header in headers.findall(_q(ZEEBE, "header")):
            if header.get("key") == name:
                return header.get("value")
    return None


def _int(text: str | None, what: str, node: Any) -> int:
    try:
        value = int(expression_constant(text) or "")
    except ValueError:
        raise ValidationException(f"{what} must be a whole number, not {text!r}", node=node) from None
    return value
