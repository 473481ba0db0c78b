"""REST API for taking a user task and giving it back.

``POST /api/v1/tasks/<id>/claim``    the task becomes assigned to the caller (409 if someone else has it,
                                     403 if the caller is not among its candidates)
``POST /api/v1/tasks/<id>/unclaim``  the task goes back to its candidates (its assignee, an operator or an
                                     admin may do this)

Both answer the task as JSON (with ``assignee``, ``candidate_users``, ``candidate_groups``, ``claimed_at``).
Who may work on which task is decided in ``engine/assignment.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from engine.errors import TaskNotFound

from . import get_engine

bp = Blueprint("claims", __name__, url_prefix="/api/v1/tasks")


def _task_id(task_id: str) -> str:
    if len(task_id) > 64 or "\x00" in task_id:  # no stored id looks like this (and PostgreSQL refuses NUL)
        raise TaskNotFound(f"no ready task has id {task_id[:64]!r}", task_id=task_id[:64])
    return task_id


@bp.post("/<task_id>/claim")
def claim(task_id: str):  # type: ignore[no-untyped-def]
    return get_engine().claim_task(_task_id(task_id), g.user).to_dict()


@bp.post("/<task_id>/unclaim")
def unclaim(task_id: str):  # type: ignore[no-untyped-def]
    return get_engine().unclaim_task(_task_id(task_id), g.user).to_dict()


_ERROR: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                            "details": {"type": "object"}}}},
}
_NAMES = {"type": "array", "items": {"type": "string"}, "nullable": True}
_TASK: dict[str, Any] = {
    "type": "object",
    "required": ["id", "instance_id", "process_key", "element_id", "type", "assignee"],
    "properties": {
        "id": {"type": "string"}, "instance_id": {"type": "string"}, "process_key": {"type": "string"},
        "element_id": {"type": "string"}, "name": {"type": "string", "nullable": True}, "type": {"type": "string"},
        "form": {"type": "object", "nullable": True},
        "created_at": {"type": "string", "format": "date-time", "nullable": True},
        "business_key": {"type": "string", "nullable": True},
        "assignee": {"type": "string", "nullable": True},
        "candidate_users": _NAMES, "candidate_groups": _NAMES,
        "claimed_at": {"type": "string", "format": "date-time", "nullable": True},
        "due": {"type": "string", "format": "date-time", "nullable": True},
        "follow_up": {"type": "string", "format": "date-time", "nullable": True},
        "priority": {"type": "integer", "nullable": True},
    },
}


def _operation(summary: str, conflict: str) -> dict[str, Any]:
    def error(text: str) -> dict[str, Any]:
        return {"description": text, "content": {"application/json": {"schema": _ERROR}}}

    return {
        "summary": summary, "tags": ["tasks"],
        "parameters": [{"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "the task", "content": {"application/json": {"schema": _TASK}}},
            "401": error("not signed in"), "403": error("not allowed (role, candidates or CSRF)"),
            "404": error("no ready task has this id"), "409": error(conflict),
        },
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/tasks/{task_id}/claim": {"post": _operation(
        "Claim a task: it becomes assigned to the caller", "someone else has claimed it or is its assignee")},
    "/api/v1/tasks/{task_id}/unclaim": {"post": _operation(
        "Unclaim a task: it goes back to its candidate users and groups", "conflicting change")},
}
