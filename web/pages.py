"""Browser pages: the instance list and one instance's page (server-rendered, no JavaScript needed).

Views parse the query string leniently (a bad ``page`` or ``status`` is ignored, never a 500), call the
engine and render a template.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, render_template, request
from markupsafe import Markup, escape

from engine.errors import InstanceNotFound
from engine.execution import STATUSES
from engine.search import InstanceFilter

from . import get_engine
from .formatting import human_seconds

bp = Blueprint("pages", __name__)
PAGE_SIZE = 50
MAX_PAGE = 100_000  # keeps the SQL offset in range on every database
MAX_TEXT = 255  # the longest process key / business key the database stores


def _text_arg(name: str) -> str | None:
    """A free-text query parameter, trimmed; characters no database column can hold are dropped."""
    value = request.args.get(name, "").replace("\x00", "").strip()
    return value[:MAX_TEXT] or None


def _page_arg() -> int:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    return min(max(page, 1), MAX_PAGE)


@bp.app_template_filter("when")
def when(value: dt.datetime | None) -> str:
    """A UTC timestamp to the second, the way the list and the detail page show it."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


@bp.app_template_filter("as_json")
def as_json(value: Any, indent: int | None = None, compact_below: int = 0) -> str:
    """A value as JSON text (escaped by the template like any other text); on one line when it is short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if indent is None or len(text) < compact_below:
        return text
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


@bp.app_template_filter("breakable")
def breakable(value: str | None) -> Markup:
    """Escaped text that may wrap after ``_``, ``-``, ``.`` and ``/`` (long process keys, business keys)."""
    out = str(escape(value or ""))
    for sep in ("_", "-", ".", "/"):
        out = out.replace(sep, sep + "<wbr>")
    return Markup(out)


@bp.app_template_filter("activities")
def activities(active: list[dict[str, Any]]) -> list[str]:
    """The open elements, one entry per element: "Review ×3" for three parallel instances of one task."""
    grouped: dict[str, list[Any]] = {}
    for item in active:
        entry = grouped.setdefault(item["element_id"], [None, 0])
        entry[0] = entry[0] or item.get("name")
        entry[1] += item.get("type") != "loop"  # a multi-instance task also lists its container
    return [f"{name or element_id}{f' ×{n}' if n > 1 else ''}" for element_id, (name, n) in grouped.items()]


_SHOWN_ELSEWHERE = {"element_id", "element_name", "task_id"}  # the timeline prints these on the event's line


@bp.app_template_filter("event_details")
def event_details(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A history event's details as (label, text) pairs: an error's message, else its non-empty values."""
    if not details:
        return []
    if "message" in details and "error_type" in details:
        return [("error", str(details["message"]))]
    return [(name.replace("_", " "), value if isinstance(value, str) else as_json(value))
            for name, value in details.items()
            if name not in _SHOWN_ELSEWHERE and value not in (None, "", {}, [])]


@bp.app_template_filter("duration")
def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if not start or not end:
        return ""
    return human_seconds(max((end - start).total_seconds(), 0.0))


@bp.app_template_filter("seconds")
def seconds(value: float | None) -> str:
    return human_seconds(value)


def _date_arg(name: str, notices: list[str]) -> dt.datetime | None:
    """``YYYY-MM-DD`` (or with a time, ``YYYY-MM-DDTHH:MM``) in UTC; anything else is ignored with a notice."""
    raw = _text_arg(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        notices.append(f"“{raw}” is not a date (YYYY-MM-DD); the {name.replace('_', ' ')} filter was ignored.")
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _filters(notices: list[str]) -> tuple[InstanceFilter, dict[str, Any]]:
    """The instance list's filters from the query string; a bad one is ignored with a notice, never a 500."""
    status, key, business_key = _text_arg("status"), _text_arg("key"), _text_arg("business_key")
    if status is not None and status not in STATUSES:
        notices.append(f"Unknown status “{status}” was ignored; choose one of: {', '.join(STATUSES)}.")
        status = None
    version_text = _text_arg("version")
    version = int(version_text) if version_text and version_text.isdigit() and int(version_text) < 2**31 else None
    if version_text and version is None:
        notices.append(f"Version “{version_text}” is not a number and was ignored.")
    started_from, started_to = _date_arg("started_from", notices), _date_arg("started_to", notices)
    if started_to is not None and len(_text_arg("started_to") or "") <= 10:
        started_to = started_to + dt.timedelta(days=1) if started_to.year < dt.MAXYEAR else None  # the whole day
    variable_text, variable = _text_arg("variable"), None
    if variable_text:
        name, sep, value = variable_text.partition("=")
        if sep and name.strip().isidentifier():
            from .instance_page import parse_value

            variable = (name.strip(), parse_value(value))
        else:
            notices.append(f"“{variable_text}” is not name=value; the variable filter was ignored.")
            variable_text = None
    shown = {"status": status, "key": key, "version": version, "business_key": business_key,
             "started_from": _text_arg("started_from") if started_from else None,
             "started_to": _text_arg("started_to") if started_to else None, "variable": variable_text}
    found = InstanceFilter(status=status, key=key, version=version, business_key=business_key,
                           started_after=started_from, started_before=started_to,
                           variables=dict([variable]) if variable else {})
    return found, shown


@bp.get("/instances")
def instances():  # type: ignore[no-untyped-def]
    page = _page_arg()
    notices: list[str] = []
    query, filters = _filters(notices)
    eng = get_engine()
    found = eng.search_instances(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows, total = found.items, found.total
    counts = eng.count_by_status()
    names = {d.key: d.name for d in eng.definitions(latest_only=True)}
    key = filters["key"]
    return render_template(
        "instances.html", instances=rows, has_next=page * PAGE_SIZE < total, page=page,
        page_size=PAGE_SIZE, total=total, pages=-(-total // PAGE_SIZE) if total else None,
        filters=filters, filtered=any(v is not None for v in filters.values()), statuses=STATUSES, counts=counts,
        all_count=sum(counts.values()), names=names, keys=sorted(set(names) | ({key} if key else set())),
        notices=notices,
    )


@bp.get("/instances/<instance_id>")
def instance(instance_id: str):  # type: ignore[no-untyped-def]
    if "\x00" in instance_id:  # no stored id holds one, and PostgreSQL refuses it in a query
        raise InstanceNotFound(f"no instance has id {instance_id!r}", instance_id=instance_id)
    from .instance_page import render

    return render(instance_id)
