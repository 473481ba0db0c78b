"""Quality gates: an exclusive gateway that decides on a score an agent reported, with every round on record.

An exclusive gateway is a quality gate when it carries Camunda extension properties (Camunda Modeler's
"Extension properties" tab)::

    quality-gate.score      name of the variable holding the score (a number)
    quality-gate.threshold  name of the variable holding the threshold, or a number literal such as 0.8
    quality-gate.reason     name of the variable holding the reason text (optional)

The gateway's flow conditions still decide where the instance goes; the properties say what to record.  Each
time the gateway is passed, a ``quality_gate`` history event is written with the round (1, 2, ... per gateway
and instance), the score, the threshold, whether the score met it, the flow taken (id and name) and the reason.
A missing variable or a value that is not a number never stops the instance: the round is recorded with a
``note`` saying what was wrong.

At deploy time :func:`check_tree` rejects a misplaced or misspelt property, or a gate without a score or a
threshold, naming the element; :func:`mark` keeps the gateway's outgoing flows (target -> flow id and name) on
its task spec; :func:`gate_event` builds the event when the gateway completes (``engine.execution.outcome``) and
:func:`number_rounds` numbers the rounds when the history is written (``engine.runtime``).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection, func, select

from .errors import ModelError
from .extensions import BPMN, PROPERTIES, properties
from .store import queries as q

EVENT = "quality_gate"
PREFIX = "quality-gate."
SCORE, THRESHOLD, REASON = f"{PREFIX}score", f"{PREFIX}threshold", f"{PREFIX}reason"
FLOWS = "baton:quality-gate-flows"  # key of the gateway's outgoing flows in its task spec's extensions
MAX_REASON = 2000


KNOWN = (SCORE, THRESHOLD, REASON)


def check_tree(name: str, root: Any) -> None:
    """Refuse ``quality-gate.*`` properties that cannot work: on anything but an exclusive gateway, an unknown
    one (a typo), or a gate without ``quality-gate.score`` or ``quality-gate.threshold``."""
    for process in root.iter(f"{{{BPMN}}}process"):
        if process.get("isExecutable", "true") != "true":
            continue
        for node in process.iter():
            if not isinstance(node.tag, str):
                continue
            gate = {k: v for k, v in properties(node).items() if k.startswith(PREFIX)}
            if gate:
                _check_gate(name, node, gate)


def _check_gate(name: str, node: Any, gate: dict[str, str]) -> None:
    where = {"file": name, "line": node.sourceline, "element_id": node.get("id")}
    kind = node.tag.rsplit("}", 1)[-1]
    if kind != "exclusiveGateway":
        raise ModelError(
            f"'{node.get('id')}' ({kind}) is not an exclusive gateway: quality-gate properties only work on one",
            **where,
        )
    unknown = sorted(set(gate) - set(KNOWN))
    if unknown:
        raise ModelError(
            f"gateway '{node.get('id')}' has the unknown property {unknown[0]!r}; a quality gate "
            f"takes {', '.join(KNOWN)}",
            **where,
        )
    for needed in (SCORE, THRESHOLD):
        if not gate.get(needed, "").strip():
            raise ModelError(
                f"quality gate '{node.get('id')}' needs '{needed}' (a variable name"
                + (" or a number" if needed == THRESHOLD else "")
                + ")",
                **where,
            )


def mark(task_spec: Any, node: Any, props: dict[str, str]) -> None:
    """Remember the outgoing flows of an exclusive gateway that has ``quality-gate.*`` properties."""
    if node.tag != f"{{{BPMN}}}exclusiveGateway" or not any(k.startswith(PREFIX) for k in props):
        return
    parent = node.getparent()
    flows = {}
    for flow in parent.findall(f"{{{BPMN}}}sequenceFlow") if parent is not None else []:
        if flow.get("sourceRef") == node.get("id"):
            flows[flow.get("targetRef")] = {"id": flow.get("id"), "name": flow.get("name")}
    task_spec.extensions[FLOWS] = flows


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _literal(text: str) -> float | None:
    try:
        return _number(float(text))
    except ValueError:
        return None


def gate_event(task: Any, at: Any) -> dict[str, Any] | None:
    """The ``quality_gate`` history event of a gateway task that just completed (None: not a quality gate)."""
    spec = task.task_spec
    ext = getattr(spec, "extensions", None)
    if not isinstance(ext, dict) or FLOWS not in ext:
        return None
    props: dict[str, str] = ext.get(PROPERTIES) or {}
    data = task.data
    notes: list[str] = []
    score = _read(data, props.get(SCORE), "score", notes)
    threshold_text = (props.get(THRESHOLD) or "").strip()
    threshold = _literal(threshold_text) if threshold_text else None
    if threshold is None:
        threshold = _read(data, threshold_text or None, "threshold", notes)
    reason_var = (props.get(REASON) or "").strip()
    reason = data.get(reason_var) if reason_var else None
    if reason_var and reason_var not in data:
        notes.append(f"reason variable '{reason_var}' is not set")
    flow = _taken(task, ext[FLOWS])
    details = {
        "round": None,  # numbered when the history is written (number_rounds)
        "score": score,
        "threshold": threshold,
        "met": score >= threshold if score is not None and threshold is not None else None,
        "flow_id": flow.get("id"),
        "flow_name": flow.get("name"),
        "reason": None if reason is None else str(reason)[:MAX_REASON],
        "score_variable": props.get(SCORE),
        "threshold_setting": threshold_text or None,
    }
    if notes:
        details["note"] = "; ".join(notes)
    return {
        "at": at,
        "event": EVENT,
        "element_id": spec.bpmn_id,
        "element_name": spec.bpmn_name,
        "element_type": "exclusiveGateway",
        "task_id": str(task.id),
        "details": details,
    }


def _read(data: dict[str, Any], name: str | None, what: str, notes: list[str]) -> float | None:
    name = (name or "").strip()
    if not name:
        notes.append(f"{PREFIX}{what} is not set on the gateway")
        return None
    if name not in data:
        notes.append(
            f"{what} variable '{name}' is not set"
            if what == "score"
            else f"threshold '{name}' is neither a number nor a variable that is set"
        )
        return None
    value = _number(data[name])
    if value is None:
        notes.append(f"{what} variable '{name}' holds {data[name]!r}, not a number")
    return value


def _taken(task: Any, flows: dict[str, dict[str, str | None]]) -> dict[str, str | None]:
    """The flow from the gateway to the element the instance went to (its child task)."""
    for child in task.children:
        for target in (child.task_spec.bpmn_id, child.task_spec.name):
            if target in flows:
                return flows[target]
    return {}


def number_rounds(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Give each quality-gate event about to be written its round: 1 + the rounds of its gateway so far."""
    seen: dict[tuple[str, str], int] = {}
    h = q.history
    for row in rows:
        if row.get("event") != EVENT or not isinstance(row.get("details"), dict):
            continue
        key = (row["instance_id"], row["element_id"])
        if key not in seen:
            seen[key] = int(
                conn.execute(
                    select(func.count()).where(h.c.instance_id == key[0], h.c.element_id == key[1], h.c.event == EVENT)
                ).scalar()
                or 0
            )
        seen[key] += 1
        row["details"] = {**row["details"], "round": seen[key]}


def rounds(history: list[Any]) -> list[dict[str, Any]]:
    """The quality gates of an instance, from its history: ``[{element_id, name, rounds: [details + at]}]``."""
    gates: dict[str, dict[str, Any]] = {}
    for h in history:
        if h.event != EVENT:
            continue
        gate = gates.setdefault(
            h.element_id, {"element_id": h.element_id, "name": h.element_name or h.element_id, "rounds": []}
        )
        gate["rounds"].append({**(h.details or {}), "at": h.at})
    return list(gates.values())
