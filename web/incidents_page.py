"""The incidents page: the dead-letter queue, filtered by topic and process, each incident inspectable
(message, details such as stderr or an HTTP body, attempts) and retried alone or with others.

``GET  /incidents?topic=&key=&all=1``   open incidents (``all``: resolved ones too), newest first
``POST /incidents/retry``               ``incident`` (one or more ids, the checkboxes) and optional
                                        ``variables`` (a JSON object) for each retried job
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from engine.errors import BatonError

from . import get_engine
from .errors import status_for
from .instance_page import variables_field

bp = Blueprint("incidents_page", __name__)
MAX_TEXT = 255


def _arg(name: str) -> str | None:
    value = request.args.get(name, "").replace("\x00", "").strip()
    return value[:MAX_TEXT] or None


def _page(retried: int | None = None, errors: list[str] | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    eng = get_engine()
    topic, key, show_all = _arg("topic"), _arg("key"), request.args.get("all") in ("1", "true", "on")
    found = eng.incidents(open_only=not show_all, topic=topic, key=key)
    everything = eng.incidents(open_only=True)
    filters = {"topic": topic, "key": key, "all": "1" if show_all else None}
    newest_first = sorted(found, key=lambda i: i.created_at.timestamp() if i.created_at else 0, reverse=True)
    if retried is None and request.args.get("retried", "").isdigit():
        retried = int(request.args["retried"])
    return render_template(
        "incidents.html", incidents=sorted(newest_first, key=lambda i: i.resolved_at is not None),
        filters=filters, filtered=bool(topic or key or show_all),
        topics=sorted({i.topic for i in everything} | ({topic} if topic else set())),
        keys=sorted({i.process_key for i in everything} | ({key} if key else set())),
        retried=retried,
        errors=errors or [],
    ), status


@bp.get("/incidents")
def incidents():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("/incidents/retry")
def retry():  # type: ignore[no-untyped-def]
    ids = [i[:64].replace("\x00", "") for i in request.form.getlist("incident") if i.strip()]
    if not ids:
        return _page(errors=["Select at least one incident to retry."], status=400)
    try:
        variables = variables_field()
    except BatonError as exc:
        return _page(errors=[str(exc)], status=400)
    eng, errors, done, status = get_engine(), [], 0, 200
    for incident_id in ids:
        try:
            eng.retry_incident(incident_id, variables)
            done += 1
        except BatonError as exc:
            errors.append(f"{incident_id[:8]}: {exc}")
            status = status_for(exc)
    if errors:
        return _page(retried=done, errors=errors, status=status if not done else 200)
    back: dict[str, Any] = {k: v for k, v in request.args.items() if k in ("topic", "key", "all")}
    return redirect(url_for("incidents_page.incidents", retried=done, **back))
