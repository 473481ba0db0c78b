"""Call activities: which version they call and which variables cross into and out of the called process.

**Which version** (resolved at deploy time: a deployed version keeps the called spec it was deployed with):

- ``camunda:calledElementBinding="latest"`` (the default): the process of this deployment with that id,
  else the latest version deployed before;
- ``deployment``: the process deployed together with the caller (an error if the deployment has none);
- ``version`` with ``camunda:calledElementVersion``: that version number (a constant; an expression that
  needs variables is refused, since Baton binds at deploy);
- ``versionTag`` with ``camunda:calledElementVersionTag``: the newest version whose process carries that
  ``camunda:versionTag``.

Zeebe's ``<zeebe:calledElement processId="..."/>`` names the process the same way (:func:`normalize` copies it
to ``calledElement`` before SpiffWorkflow parses).

**Which variables** (:class:`BatonCallActivity`):

- no ``camunda:in`` / ``camunda:out`` at all: every variable is copied in, and every variable of the called
  process comes back (SpiffWorkflow's behaviour, kept);
- with any of them, only mapped variables cross, as in Camunda: ``<camunda:in source="a" target="b"/>``,
  ``sourceExpression="${...}"``, ``variables="all"`` (``local="true"`` is read as all: Baton has no
  variable scopes below the instance); ``<camunda:out .../>`` likewise, evaluated over the called process's
  variables. ``<camunda:in businessKey="..."/>`` is accepted; the called process runs inside the caller's
  instance and shares its business key.
- Zeebe: ``propagateAllParentVariables="false"`` passes only the call activity's input mappings in;
  ``propagateAllChildVariables="false"`` brings back only what its output mappings take.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.parser.task_parsers import CallActivityParser
from SpiffWorkflow.bpmn.specs.defaults import CallActivity

from .extensions import BPMN as _BPMN
from .extensions import CAMUNDA, ZEEBE, expression_constant, expression_of

CALL = "baton:call"
BINDINGS = ("latest", "deployment", "version", "versionTag")


def normalize(root: Any) -> None:
    """Give Zeebe call activities the ``calledElement`` attribute SpiffWorkflow reads."""
    for node in root.iter(f"{{{_BPMN}}}callActivity"):
        if node.get("calledElement"):
            continue
        found = node.find(f"{{{_BPMN}}}extensionElements/{{{ZEEBE}}}calledElement")
        if found is not None and expression_constant(found.get("processId")):
            node.set("calledElement", expression_constant(found.get("processId")) or "")


def _mapping(el: Any) -> dict[str, Any]:
    if el.get("variables") == "all":
        return {"all": True}
    if el.get("businessKey") is not None:
        return {"business_key": True}
    expression = el.get("sourceExpression")
    source = el.get("source")
    return {"target": el.get("target") or source,
            "expression": expression_of(expression) if expression else source}


def read_call(node: Any) -> dict[str, Any]:
    """The binding and variable mappings of a call activity (JSON-ready, kept in the spec's extensions)."""
    ext = node.find(f"{{{_BPMN}}}extensionElements")
    ins = [_mapping(el) for el in ext.findall(f"{{{CAMUNDA}}}in")] if ext is not None else []
    outs = [_mapping(el) for el in ext.findall(f"{{{CAMUNDA}}}out")] if ext is not None else []
    zeebe = ext.find(f"{{{ZEEBE}}}calledElement") if ext is not None else None
    info: dict[str, Any] = {
        "binding": node.get(f"{{{CAMUNDA}}}calledElementBinding") or "latest",
        "version": node.get(f"{{{CAMUNDA}}}calledElementVersion"),
        "version_tag": node.get(f"{{{CAMUNDA}}}calledElementVersionTag"),
        "ins": ins if ins or outs else None,
        "outs": outs if ins or outs else None,
    }
    if zeebe is not None:
        info["parent_vars"] = zeebe.get("propagateAllParentVariables", "true").strip().lower() != "false"
        info["child_vars"] = zeebe.get("propagateAllChildVariables", "true").strip().lower() != "false"
    return info


class BatonCallActivity(CallActivity):
    """A call activity that passes variables as its ``camunda:in`` / ``out`` (or Zeebe flags) say."""

    def _call(self) -> dict[str, Any]:
        ext = getattr(self, "extensions", None)
        return (ext.get(CALL) if isinstance(ext, dict) else None) or {}

    def copy_data(self, my_task: Any, subworkflow: Any) -> None:
        call = self._call()
        if call.get("ins") is None and call.get("parent_vars", True):
            return super().copy_data(my_task, subworkflow)
        if call.get("ins") is None:  # Zeebe, propagateAllParentVariables="false": the input mappings only
            io = (getattr(self, "extensions", None) or {}).get("baton:io") or {}
            names = [m["name"] for m in io.get("inputs", [])]
            data = {n: my_task.data[n] for n in names if n in my_task.data}
        else:
            data = _mapped(my_task, call["ins"], my_task.data)
        start = subworkflow.get_next_task(spec_name="Start")
        start.set_data(**deepcopy(data))

    def update_data(self, my_task: Any, subworkflow: Any) -> None:
        call = self._call()
        child = subworkflow.last_task.data
        if call.get("outs") is not None:
            my_task.data.update(deepcopy(_mapped(my_task, call["outs"], child)))
        elif not call.get("child_vars", True):  # Zeebe: only the output mappings (engine.activity_io) take
            io = (getattr(self, "extensions", None) or {}).get("baton:io") or {}
            if io.get("outputs"):
                my_task.data.update(deepcopy(child))
        else:
            super().update_data(my_task, subworkflow)


def outputs_at_throw(task: Any, child: dict[str, Any]) -> dict[str, Any]:
    """What call activity ``task``'s ``camunda:out`` mappings take of the called process's variables ``child``
    when an error or escalation thrown in it passes the call activity ({} without such mappings)."""
    ext = getattr(task.task_spec, "extensions", None)
    call = (ext.get(CALL) if isinstance(ext, dict) else None) or {}
    return _mapped(task, call["outs"], child) if call.get("outs") is not None else {}


def _mapped(task: Any, mappings: list[dict[str, Any]], scope: dict[str, Any]) -> dict[str, Any]:
    from .activity_io import mapping_value

    engine = task.workflow.script_engine
    result: dict[str, Any] = {}
    for mapping in mappings:
        if mapping.get("all"):
            result.update(scope)
        elif mapping.get("target"):
            expression = mapping["expression"]
            if expression.isidentifier():  # a plain source: a missing variable crosses as None, as in Camunda
                result[mapping["target"]] = scope.get(expression)
            else:
                result[mapping["target"]] = mapping_value(engine, task, {"expression": expression}, scope)
    return result


class BatonCallActivityParser(CallActivityParser):
    """Reads the binding and the in/out mappings (checked here, so a bad one fails the deployment)."""

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        from .activity_io import check_mappings

        info = read_call(self.node)
        if info["binding"] not in BINDINGS:
            self.raise_validation_exception(
                f"camunda:calledElementBinding {info['binding']!r} is not one of {', '.join(BINDINGS)}")
        if info["binding"] == "version":
            info["version"] = self._version(info["version"])
        if info["binding"] == "versionTag" and not (info["version_tag"] or "").strip():
            self.raise_validation_exception("calledElementBinding 'versionTag' needs camunda:calledElementVersionTag")
        mappings = [{"name": m["target"], "expression": m["expression"]}
                    for m in (info["ins"] or []) + (info["outs"] or []) if m.get("target")]
        if any(not m.get("expression") for m in mappings):
            self.raise_validation_exception("a camunda:in / camunda:out mapping needs source or sourceExpression")
        check_mappings(mappings, self.node, self.filename)
        return {CALL: info}

    def _version(self, text: str | None) -> int:
        value = (text or "").strip()
        if value.startswith("${") and value.endswith("}"):
            value = value[2:-1].strip()
        try:
            return int(value)
        except ValueError:
            self.raise_validation_exception(
                f"camunda:calledElementVersion {text!r} must be a version number (Baton binds the called "
                "process when the caller is deployed, so it cannot depend on variables)")
        raise AssertionError("unreachable")


def tagged_definition(conn: Any, key: str, tag: str) -> Any:
    """The newest deployed version of ``key`` whose process has ``camunda:versionTag`` ``tag`` (its row)."""
    from .parsing import safe_parse  # engine.parsing imports this module
    from .store import queries as q

    for row in reversed(q.list_definitions(conn, key)):
        found = q.resource_content(conn, row.resource_id)
        root = safe_parse(found[1].encode(), found[0]) if found else None
        if root is not None and any(p.get("id") == key and p.get(f"{{{CAMUNDA}}}versionTag") == tag
                                    for p in root.iter(f"{{{_BPMN}}}process")):
            return row
    return None
