"""The tasklist pages: ``/tasks`` (the tasks a person may work on) and ``/tasks/<id>`` (its form).

The form is drawn from the diagram: Camunda ``camunda:formData`` fields (text, number, checkbox, date and
select inputs, with defaults, required marks and read-only fields) or a SpiffArena JSON schema (its
top-level properties).  A submitted form goes to ``Engine.complete_task``, which checks it
(``engine/forms.py``); its errors are shown next to their fields with the entered values kept.  The list
refreshes itself every few seconds (``?fragment=1`` returns the table only).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, g, redirect, render_template, request, url_for

from engine.errors import FormError
from engine.forms import TRUE_WORDS, constraints, convert

from . import get_engine
from .tasks import list_tasks, task_id_arg

bp = Blueprint("tasklist", __name__)
PAGE_SIZE = 25
MAX_PAGE = 100_000
_INPUT = {"string": "text", "long": "number", "boolean": "checkbox", "date": "date", "enum": "select"}
_JSON_INPUT = {"string": "text", "integer": "number", "number": "number", "boolean": "checkbox"}


def _arg(name: str) -> str | None:
    value = request.args.get(name, "").replace("\x00", "").strip()
    return value[:255] or None


def _page() -> int:
    try:
        return min(max(int(request.args.get("page", "1")), 1), MAX_PAGE)
    except ValueError:
        return 1


@bp.get("/tasks")
def index():  # type: ignore[no-untyped-def]
    key, name, page = _arg("key"), _arg("name"), _page()
    found = list_tasks(key=key, name=name, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    keys = sorted({d.key for d in get_engine().definitions(latest_only=True)} | ({key} if key else set()))
    done = {k: _arg(k) for k in ("completed", "instance", "status")}
    context = dict(tasks=found.tasks, total=found.total, page=page, page_size=PAGE_SIZE, keys=keys,
                   filters={"key": key, "name": name}, done=done if done["completed"] else None,
                   pages=max(-(-found.total // PAGE_SIZE), 1))
    if request.args.get("fragment"):
        return render_template("tasks_table.html", **context)
    return render_template("tasks.html", **context)


def inputs_for(task: Any, entered: dict[str, Any] | None, current: dict[str, Any],
               errors: dict[str, str]) -> list[dict[str, Any]]:
    """The inputs of a task's form, each with its value (what was entered, else the default) and error."""
    form = task.form or {}
    out = []
    for field in form.get("fields") or []:
        rules = constraints(field)
        fid = field["id"]
        readonly = "readonly" in rules
        value = current.get(fid, field.get("default")) if readonly or entered is None else entered.get(fid)
        if value is None and entered is None:
            value = field.get("default")
        kind = _INPUT.get(field.get("type") or "string", "text")
        if kind == "date" and value and entered is None:
            value = _iso_date(value)  # a date input shows ISO dates only (Camunda defaults are dd/MM/yyyy)
        out.append({"id": fid, "label": field.get("label") or fid, "kind": kind, "value": value,
                    "checked": _checked(value), "required": "required" in rules, "readonly": readonly,
                    "options": field.get("options") or [], "error": errors.get(fid),
                    "attrs": {k: rules[k] for k in ("min", "max", "minlength", "maxlength", "pattern")
                              if rules.get(k) and (kind != "number" or k in ("min", "max"))}})
    schema = form.get("json_schema") or {}
    required = set(schema.get("required") or [])
    for pid, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        kind = "select" if prop.get("enum") else _JSON_INPUT.get(str(prop.get("type")), "text")
        if prop.get("format") == "date":
            kind = "date"
        value = entered.get(pid) if entered is not None else current.get(pid, prop.get("default"))
        attrs = {"min": prop.get("minimum"), "max": prop.get("maximum"), "minlength": prop.get("minLength"),
                 "maxlength": prop.get("maxLength"), "step": "any" if prop.get("type") == "number" else None}
        out.append({"id": pid, "label": prop.get("title") or pid, "kind": kind, "value": value,
                    "checked": _checked(value), "required": pid in required, "readonly": bool(prop.get("readOnly")),
                    "options": [{"id": str(o), "name": str(o)} for o in prop.get("enum") or []],
                    "error": errors.get(pid), "help": prop.get("description"),
                    "attrs": {k: v for k, v in attrs.items() if v is not None}})
    return out


def _iso_date(value: Any) -> Any:
    try:
        return convert({"id": "", "type": "date"}, value)
    except ValueError:
        return value


def _checked(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in TRUE_WORDS)


def submitted(task: Any, inputs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The posted form as variables (checkboxes as booleans, JSON-schema numbers as numbers) and problems."""
    schema_props = ((task.form or {}).get("json_schema") or {}).get("properties") or {}
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    raw_json = request.form.get("variables_json", "").strip()
    if raw_json:
        try:
            extra = json.loads(raw_json)
            if not isinstance(extra, dict):
                raise ValueError("not an object")
            values.update(extra)
        except ValueError:
            problems["variables_json"] = 'must be a JSON object, like {"approved": true}'
    for item in inputs:
        fid = item["id"]
        if item["readonly"]:
            continue
        if item["kind"] == "checkbox":
            values[fid] = request.form.get(fid) is not None
            continue
        text = request.form.get(fid, "").replace("\x00", "")
        if not text.strip():
            continue
        kind = (schema_props.get(fid) or {}).get("type")
        try:
            values[fid] = int(text) if kind == "integer" else float(text) if kind == "number" else text
        except ValueError:
            problems[fid] = "must be a whole number" if kind == "integer" else "must be a number"
    return values, problems


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
def task(task_id: str):  # type: ignore[no-untyped-def]
    eng = get_engine()
    item = eng.get_task_for(task_id_arg(task_id), g.user)
    instance = eng.get_instance(item.instance_id)
    errors: dict[str, str] = {}
    entered: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        entered = request.form.to_dict()
        values, errors = submitted(item, inputs_for(item, entered, instance.variables, {}))
        if not errors:
            try:
                after = eng.complete_task(item.id, values, user=g.user)
            except FormError as exc:
                errors = dict(exc.details.get("fields") or {"variables_json": exc.message})
            else:
                query = urlencode({"completed": item.name or item.element_id, "instance": after.id,
                                   "status": after.status})
                return redirect(f"{url_for('tasklist.index')}?{query}", code=303)
        status = 400
    inputs = inputs_for(item, entered, instance.variables, errors)
    known = {i["id"] for i in inputs}
    return render_template("task.html", task=item, instance=instance, inputs=inputs, errors=errors,
                           other_errors={k: v for k, v in errors.items() if k not in known},
                           entered=entered or {}), status
