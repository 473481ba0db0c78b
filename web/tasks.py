"""REST API for human tasks: list them, read one with its form, complete one (the form is checked).

``GET  /api/v1/tasks``                  ready tasks (``?processKey=&instanceId=&name=&assignee=&candidateGroup=``,
                                        ``dueBefore=``, ``sortBy=created|due|priority``, ``limit`` 1-500,
                                        ``offset``): ``{"items", "total", "limit", "offset"}``; each task has
                                        its ``due``, ``follow_up`` and ``priority`` (camunda:dueDate...)
``GET  /api/v1/tasks/<id>``             one task with its form
``POST /api/v1/tasks/<id>/complete``    ``{"variables": {...}}``; values that do not fit the form are a 400
                                        with one message per field in ``error.details.fields``

:func:`list_tasks` is the one place the API and the tasklist page ask the engine for tasks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, g, request

from engine.errors import TaskNotFound
from engine.tasklist import SORTS, TaskPage

from . import get_engine
from .bodies import Fields, json_body, variables_of
from .errors import RequestError

bp = Blueprint("tasks", __name__, url_prefix="/api/v1")
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
MAX_TEXT = 255


def list_tasks(key: str | None = None, instance_id: str | None = None, name: str | None = None,
               assignee: str | None = None, candidate_group: str | None = None, limit: int = 50,
               offset: int = 0, due_before: dt.datetime | None = None, sort: str = "created") -> TaskPage:
    """The tasks the signed-in person may work on (an operator or admin sees every ready task)."""
    return get_engine().task_list(key=key, instance_id=instance_id, name=name, assignee=assignee,
                                  candidate_group=candidate_group, limit=limit, offset=offset,
                                  user=g.get("user"), due_before=due_before, sort=sort)


def _moment(name: str) -> dt.datetime | None:
    text = _text(name)
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(f"'{name}' must be an ISO 8601 date-time, not {text[:40]!r}", field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _sort() -> str:
    value = _text("sortBy") or "created"
    if value not in SORTS:
        raise RequestError(f"'sortBy' must be one of {', '.join(SORTS)}", field="sortBy")
    return value


def _text(name: str) -> str | None:
    value = request.args.get(name)
    if value is None or not value.strip():
        return None
    if "\x00" in value or len(value) > MAX_TEXT:
        raise RequestError(f"'{name}' must be at most {MAX_TEXT} characters of text", field=name)
    return value.strip()


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter from ``low`` to ``high`` (``default`` when absent); else a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(f"'{name}' must be an integer, not {raw[:40]!r}", field=name) from None
    if not low <= value <= high:
        raise RequestError(f"'{name}' must be between {low} and {high} (got {value})", field=name)
    return value


def task_id_arg(task_id: str) -> str:
    if "\x00" in task_id or len(task_id) > 64:  # no stored id looks like this; PostgreSQL refuses NUL
        raise TaskNotFound(f"no ready task has id {task_id[:64]!r}", task_id=task_id[:64])
    return task_id


@bp.get("/tasks")
def index():  # type: ignore[no-untyped-def]
    limit, offset = int_arg("limit", 50, 1, MAX_LIMIT), int_arg("offset", 0, 0, MAX_OFFSET)
    found = list_tasks(key=_text("processKey"), instance_id=_text("instanceId"), name=_text("name"),
                       assignee=_text("assignee"), candidate_group=_text("candidateGroup"), limit=limit,
                       offset=offset, due_before=_moment("dueBefore"), sort=_sort())
    return {**found.to_dict(), "limit": limit, "offset": offset}


@bp.get("/tasks/<task_id>")
def show(task_id: str):  # type: ignore[no-untyped-def]
    return get_engine().get_task_for(task_id_arg(task_id), g.user).to_dict()


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str):  # type: ignore[no-untyped-def]
    variables = variables_of(Fields(json_body()))
    return get_engine().complete_task(task_id_arg(task_id), variables, user=g.user).to_dict()


# ---- OpenAPI ---------------------------------------------------------------------------------------------

_ERROR = {"description": "An error", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}}}}}}
# nullable values carry no "type", so the fragments read the same under OpenAPI 3.0 and 3.1
_NULLABLE_TEXT: dict[str, Any] = {"description": "a string, or null"}
_FORM: dict[str, Any] = {"description": "null, or the form: key, fields (Camunda formData) and, for a SpiffArena "
                         "form, json_schema / json_schema_file"}
_TASK: dict[str, Any] = {"type": "object", "required": ["id", "instance_id", "process_key", "element_id"],
                         "properties": {
                             "id": {"type": "string"}, "instance_id": {"type": "string"},
                             "process_key": {"type": "string"}, "element_id": {"type": "string"},
                             "name": _NULLABLE_TEXT, "type": {"type": "string"}, "form": _FORM,
                             "created_at": _NULLABLE_TEXT, "business_key": _NULLABLE_TEXT,
                             "assignee": _NULLABLE_TEXT,
                             "candidate_groups": {"description": "an array of group names, or null"},
                             "due": {"description": "when the task is due (camunda:dueDate), ISO 8601, or null"},
                             "follow_up": {"description": "camunda:followUpDate, ISO 8601, or null"},
                             "priority": {"description": "camunda:priority (an integer), or null"}}}
_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string", "maxLength": MAX_TEXT}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/tasks": {"get": {
        "summary": "Ready user and manual tasks, oldest first", "tags": ["tasks"],
        "parameters": [
            _query("processKey", "only tasks of this process"), _query("instanceId", "only tasks of this instance"),
            _query("name", "part of the task's name or element id, any case"),
            _query("assignee", "only tasks assigned to this user"),
            _query("candidateGroup", "only tasks this group may claim"),
            _query("dueBefore", "only tasks due before this ISO 8601 date-time"),
            _query("sortBy", "created (oldest first, the default), due (soonest first) or priority (highest first)",
                   {"type": "string", "enum": list(SORTS)}),
            _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}),
            _query("offset", "tasks to skip", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
        ],
        "responses": {"200": {"description": "One page of tasks", "content": {"application/json": {"schema": {
            "type": "object", "required": ["items", "total", "limit", "offset"], "properties": {
                "items": {"type": "array", "items": _TASK}, "total": {"type": "integer"},
                "limit": {"type": "integer"}, "offset": {"type": "integer"}}}}}},
            "400": _ERROR},
    }},
    "/api/v1/tasks/{task_id}": {"get": {
        "summary": "One ready task with its form", "tags": ["tasks"], "parameters": [_TASK_ID],
        "responses": {"200": {"description": "The task", "content": {"application/json": {"schema": _TASK}}},
                      "404": _ERROR, "409": _ERROR},
    }},
    "/api/v1/tasks/{task_id}/complete": {"post": {
        "summary": "Complete a task with form values; the instance runs on", "tags": ["tasks"],
        "parameters": [_TASK_ID],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"variables": {"type": "object"}}}}}},
        "responses": {
            "200": {"description": "The instance after the task", "content": {"application/json": {"schema": {
                "type": "object", "required": ["id", "status"]}}}},
            "400": {**_ERROR, "description": "The body is not valid, or values do not fit the form "
                    "(error.details.fields maps each field to its problem)"},
            "404": _ERROR, "409": _ERROR, "422": _ERROR},
    }},
}
