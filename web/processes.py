"""Process pages: every deployed process with its versions, and one version's diagram with figures.

``GET /processes``                    the processes, their versions (drawings marked) and instance counts
``GET /processes/<key>?version=N``    the diagram drawn by bpmn-js with, on each element, how many instances
                                      wait there and how many open incidents it has; a heatmap of the average
                                      time spent per element, and the same figures as a table; the start form
                                      (the start event's camunda:formData, else a JSON box)
``GET /processes/<key>/xml?version=N``  the BPMN XML the diagram is drawn from
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, url_for

from engine.cockpit import ElementStats
from engine.errors import FormError, VariableError
from engine.forms import check
from engine.start_forms import start_form
from engine.users import role_rank

from . import get_engine
from .errors import RequestError
from .tasklist import inputs_for, submitted

bp = Blueprint("processes", __name__)
VIEWER = Path(__file__).parent / "static" / "vendor" / "bpmn-js" / "bpmn-navigated-viewer.production.min.js"
HEAT_LEVELS = 5  # classes heat-0 (fastest) .. heat-4 (slowest)


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    app.jinja_env.globals["viewer_available"] = VIEWER.exists
    app.jinja_env.globals["may"] = may


def may(role: str) -> bool:
    """Whether the signed-in user has at least ``role`` (pages hide what the access policy would refuse)."""
    user = getattr(g, "user", None)
    return user is None or role_rank(getattr(user, "role", "")) >= role_rank(role)


def version_arg() -> int | None:
    """``?version=N``: a positive number, or none; anything else is a 400 naming the parameter."""
    raw = request.args.get("version", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise RequestError(f"'version' must be a positive whole number, not {raw[:40]!r}", field="version")
    return int(raw)


def _key(key: str) -> str:
    if "\x00" in key or len(key) > 255:
        raise RequestError("this process key is not valid", field="key")
    return key


@bp.get("/processes")
def processes():  # type: ignore[no-untyped-def]
    eng = get_engine()
    grouped: dict[str, list[Any]] = {}
    for d in sorted(eng.definitions(), key=lambda d: (d.key, -d.version)):
        grouped.setdefault(d.key, []).append(d)
    return render_template("processes.html", processes=grouped, counts=eng.process_counts())


def heat_level(avg: float | None, slowest: float) -> int | None:
    """Which of the heat classes an element's average time falls in (relative to the slowest element)."""
    if avg is None or slowest <= 0:
        return None
    return min(int(avg / slowest * HEAT_LEVELS), HEAT_LEVELS - 1)


def diagram_state(stats: dict[str, ElementStats]) -> dict[str, Any]:
    """Markers and badges for the diagram script: heat classes, waiting and incident counts per element."""
    slowest = max((s.avg_seconds or 0.0 for s in stats.values()), default=0.0)
    markers: dict[str, list[str]] = {}
    badges = []
    for s in stats.values():
        level = heat_level(s.avg_seconds, slowest)
        if level is not None:
            markers.setdefault(s.element_id, []).append(f"heat-{level}")
        if s.waiting:
            badges.append({"id": s.element_id, "text": str(s.waiting), "cls": "badge-waiting",
                           "title": f"{s.waiting} instance(s) waiting here"})
        if s.incidents:
            badges.append({"id": s.element_id, "text": str(s.incidents), "cls": "badge-incident",
                           "title": f"{s.incidents} open incident(s)"})
    return {"markers": markers, "badges": badges}


@bp.get("/processes/<key>")
def process(key: str, start: dict[str, Any] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    eng = get_engine()
    definition = eng.get_definition(_key(key), version_arg())
    versions = eng.definitions(key=key)
    stats = eng.element_stats(definition.id)
    rows = sorted(stats.values(), key=lambda s: (-(s.avg_seconds or -1), s.element_id))
    slowest = max((s.avg_seconds or 0.0 for s in stats.values()), default=0.0)
    start = start or {}
    form = start_form(eng.definition_xml(definition.key, definition.version), definition.key)
    inputs = inputs_for(SimpleNamespace(form=form), start.get("fields"), {}, start.get("errors") or {}) if form else []
    return render_template("process.html", definition=definition, versions=sorted(versions, key=lambda d: -d.version),
                           stats=rows, state=diagram_state(stats), slowest=slowest,
                           heat={s.element_id: heat_level(s.avg_seconds, slowest) for s in rows},
                           start=start, start_inputs=inputs), status


@bp.post("/processes/<key>/start")
def start(key: str):  # type: ignore[no-untyped-def]
    """Start an instance of this version from the form on the process page; bad input shows the page again.

    The start event's form (``camunda:formData``), when the process has one, is checked as a task's form is;
    the JSON variables box adds to it (the form's fields win)."""
    business_key = (request.form.get("business_key") or "").strip()[:255] or None
    text = (request.form.get("variables") or "").strip()
    entered: dict[str, Any] = {"business_key": business_key or "", "variables": text, "fields": request.form.to_dict()}
    try:
        variables = json.loads(text) if text else {}
    except ValueError as exc:
        return process(key, {**entered, "error": f"The variables are not JSON: {exc}"}, 400)
    if not isinstance(variables, dict):
        return process(key, {**entered, "error": 'The variables must be a JSON object, like {"amount": 250}.'}, 400)
    eng = get_engine()
    definition = eng.get_definition(_key(key), version_arg())
    form = start_form(eng.definition_xml(definition.key, definition.version), definition.key)
    if form:
        holder = SimpleNamespace(form=form)
        values, problems = submitted(holder, inputs_for(holder, entered["fields"], {}, {}))
        try:
            values = check(form, values, {}) if not problems else values
        except FormError as exc:
            problems = dict(exc.details.get("fields") or {})
        if problems:
            return process(key, {**entered, "errors": problems,
                                 "error": "The form is not complete yet: correct the fields marked below."}, 400)
        variables.update(values)
    try:
        inst = eng.start(definition.key, variables=variables, business_key=business_key, version=definition.version,
                         initiator=g.user.name if g.user else None)
    except VariableError as exc:
        return process(key, {**entered, "error": str(exc)}, 400)
    return redirect(url_for("pages.instance", instance_id=inst.id))


@bp.get("/processes/<key>/xml")
def process_xml(key: str):  # type: ignore[no-untyped-def]
    xml = get_engine().definition_xml(_key(key), version_arg())
    return Response(xml, mimetype="application/xml")
