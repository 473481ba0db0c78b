"""The instance page and what it can do: diagram with the path taken, timeline of who worked when
(``web.timeline``), quality-gate rounds, variables (edit with a confirmation), history, incidents with retry,
cancel / suspend / resume, send a message; a small JSON for live refresh.

``GET  /instances/<id>``                               the page (the ``pages.instance`` endpoint renders it)
``GET  /instances/<id>/live``                          ``{"stamp", "status", "suspended"}``: changed means reload
``POST /instances/<id>/variables``                     ``var.<name>`` / ``new_name`` + ``new_value`` (JSON or
                                                       text); first shows a confirmation, saves with ``confirmed``
``POST /instances/<id>/cancel`` · ``/suspend`` · ``/resume`` · ``/retry``
``POST /instances/<id>/message``                       ``name`` and optional ``variables`` (a JSON object)
``POST /instances/<id>/incidents/<incident_id>/retry``   optional ``variables`` (a JSON object)

Every action redirects back to the page with ``?done=<action>``; a refused action shows the page again with
the reason and the status code of the error (400, 404, 409, 422), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from engine import quality_gates
from engine.errors import BatonError, InstanceNotFound
from engine.execution import FINAL_STATUSES
from engine.records import Instance

from . import get_engine
from .errors import RequestError, status_for
from .timeline import timeline

bp = Blueprint("instance_page", __name__)
DONE = {
    "variables": "Variables saved.", "cancel": "Instance cancelled.", "suspend": "Instance suspended.",
    "resume": "Instance resumed.", "message": "Message delivered.", "retry": "Retried.",
    "artifact": "Artifact attached.",
}
MAX_FIELD = 100_000  # characters of one submitted value


def _instance_id(instance_id: str) -> str:
    if "\x00" in instance_id or len(instance_id) > 64:  # no stored id is like this; PostgreSQL refuses NUL
        raise InstanceNotFound(f"no instance has id {instance_id[:64]!r}", instance_id=instance_id[:64])
    return instance_id


def value_text(value: Any) -> str:
    """How a variable's value is shown in the edit form: JSON, strings too (so the type is visible)."""
    return json.dumps(value, ensure_ascii=False)


def parse_value(text: str) -> Any:
    """A value typed in the form: JSON when it parses (``250``, ``true``, ``"250"``, ``{...}``), else text."""
    text = text.strip()
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return float(value)  # no database stores a wider integer
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")  # NaN and Infinity stay text


def _form_text(name: str) -> str:
    value = request.form.get(name, "")
    if len(value) > MAX_FIELD:
        raise RequestError(f"'{name}' is longer than {MAX_FIELD} characters", field=name)
    if "\x00" in value:  # no database column can hold it
        raise RequestError(f"'{name}' contains a NUL character", field=name)
    return value


def variables_field(name: str = "variables") -> dict[str, Any]:
    """An optional JSON object typed in a textarea (retry with variables, message payload)."""
    text = _form_text(name).strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise RequestError(f"'{name}' is not valid JSON: {exc}", field=name) from exc
    if not isinstance(value, dict):
        raise RequestError(f"'{name}' must be a JSON object like {{\"amount\": 250}}", field=name)
    return value


def render(instance_id: str, *, error: str | None = None, status: int = 200,
           confirm: dict[str, Any] | None = None) -> tuple[str, int]:
    """The instance page, optionally with a refused action's reason or a variable change to confirm."""
    eng = get_engine()
    inst = eng.get_instance(_instance_id(instance_id))
    path = eng.instance_path(inst.id)
    incidents = eng.incidents(open_only=False, instance_id=inst.id)
    done = DONE.get(request.args.get("done", ""))
    history = eng.history(inst.id)
    return render_template(
        "instance.html", instance=inst, history=history, state={"path": path.to_dict()},
        timeline=timeline(eng.agent_calls(inst.id), history, eng.now()), quality_gates=quality_gates.rounds(history),
        incidents=incidents, open_incidents=[i for i in incidents if i.resolved_at is None], done=done,
        action_error=error, confirm=confirm, value_text=value_text, live_stamp=live_stamp(inst),
        live_instance=inst.status not in FINAL_STATUSES, artifacts=eng.artifacts(inst.id),
    ), status


def live_stamp(inst: Instance) -> str:
    return f"{inst.updated_at.isoformat() if inst.updated_at else ''}|{inst.status}|{inst.suspended}"


def _act(instance_id: str, action: str, call: Any) -> Any:
    """Run an engine call for a form; redirect to the page on success, show the page with the reason if not."""
    try:
        call()
    except BatonError as exc:
        if isinstance(exc, InstanceNotFound):
            raise
        return render(instance_id, error=str(exc), status=status_for(exc))
    return redirect(url_for("pages.instance", instance_id=instance_id, done=action))


@bp.get("/instances/<instance_id>/live")
def live(instance_id: str):  # type: ignore[no-untyped-def]
    inst = get_engine().get_instance(_instance_id(instance_id))
    return {"stamp": live_stamp(inst), "status": inst.status, "suspended": inst.suspended}


@bp.post("/instances/<instance_id>/variables")
def edit_variables(instance_id: str):  # type: ignore[no-untyped-def]
    eng = get_engine()
    inst = eng.get_instance(_instance_id(instance_id))

    def changes() -> dict[str, Any]:
        changed: dict[str, Any] = {}
        for field in request.form:
            if field.startswith("var."):
                name, value = field[4:], parse_value(_form_text(field))
                if name not in inst.variables or inst.variables[name] != value:
                    changed[name] = value
        new_name = _form_text("new_name").strip()
        if new_name:
            if not new_name.isidentifier():
                raise RequestError(f"'{new_name}' is not a valid variable name (letters, digits and _, not "
                                   "starting with a digit)", field="new_name")
            changed[new_name] = parse_value(_form_text("new_value"))
        return changed

    try:
        changed = changes()
    except RequestError as exc:
        return render(instance_id, error=str(exc), status=400)
    if not changed:
        return render(instance_id, error="Nothing to save: no value was changed.", status=400)
    if request.form.get("confirmed") != "yes":
        return render(instance_id, confirm=changed)
    return _act(instance_id, "variables", lambda: eng.set_variables(inst.id, changed))


@bp.post("/instances/<instance_id>/cancel")
def cancel(instance_id: str):  # type: ignore[no-untyped-def]
    return _act(instance_id, "cancel", lambda: get_engine().cancel(_instance_id(instance_id)))


@bp.post("/instances/<instance_id>/suspend")
def suspend(instance_id: str):  # type: ignore[no-untyped-def]
    return _act(instance_id, "suspend", lambda: get_engine().suspend(_instance_id(instance_id)))


@bp.post("/instances/<instance_id>/resume")
def resume(instance_id: str):  # type: ignore[no-untyped-def]
    return _act(instance_id, "resume", lambda: get_engine().resume(_instance_id(instance_id)))


@bp.post("/instances/<instance_id>/retry")
def retry(instance_id: str):  # type: ignore[no-untyped-def]
    return _act(instance_id, "retry", lambda: get_engine().retry(_instance_id(instance_id), variables_field()))


@bp.post("/instances/<instance_id>/message")
def message(instance_id: str):  # type: ignore[no-untyped-def]
    def send() -> None:
        name = _form_text("name").strip()
        if not name:
            raise RequestError("'name': say which message to send", field="name")
        get_engine().send_message_to(_instance_id(instance_id), name, variables_field())
    return _act(instance_id, "message", send)


@bp.post("/instances/<instance_id>/incidents/<incident_id>/retry")
def retry_incident(instance_id: str, incident_id: str):  # type: ignore[no-untyped-def]
    return _act(instance_id, "retry",
                lambda: get_engine().retry_incident(incident_id[:64].replace("\x00", ""), variables_field()))
