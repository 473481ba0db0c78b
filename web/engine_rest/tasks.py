"""``/engine-rest/task``: ready user tasks, claim, unclaim, complete, form variables.

Like Baton's ``/api/v1/tasks``, a caller with the role ``user`` sees only the tasks they may work on (assigned
to them, or offered to them or one of their groups); operators and admins see every ready task.
``candidateUser`` keeps the tasks that person may work on.  A plain user claims for themselves only; an
operator or admin may claim for anyone (``userId``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import g, request

from engine.errors import AccessDenied, UserNotFound
from engine.records import Task
from engine.tasklist import TaskPage

from .. import get_engine
from ..bodies import Fields, json_body
from ..errors import RequestError
from ..tasks import task_id_arg
from . import bp, params
from .variables import from_camunda, to_camunda, to_typed


def task_dto(task: Task, definition_id: int | None = None) -> dict[str, Any]:
    form = task.form or {}
    return {"id": task.id, "name": task.name, "assignee": task.assignee, "owner": None,
            "created": params.camunda_date(task.created_at), "lastUpdated": params.camunda_date(task.claimed_at),
            "due": None, "followUp": None, "delegationState": None, "description": None,
            "executionId": task.instance_id, "parentTaskId": None, "priority": 50,
            "processDefinitionId": None if definition_id is None else str(definition_id),
            "processDefinitionKey": task.process_key, "processInstanceId": task.instance_id,
            "caseExecutionId": None, "caseDefinitionId": None, "caseInstanceId": None,
            "taskDefinitionKey": task.element_id, "suspended": False, "formKey": form.get("key"),
            "camundaFormRef": None, "tenantId": None}


def _candidate(name: str) -> Any:
    """Someone with the role ``user`` named ``name`` (with their groups if they exist): whom the filter serves."""
    try:
        groups = get_engine().get_user(name).groups
    except UserNotFound:
        groups = []
    return SimpleNamespace(name=name, groups=list(groups), role="user")


def _viewer() -> Any:
    """Whose tasks to list: the caller's, or (for an operator or admin) those ``candidateUser`` may work on."""
    candidate = params.text("candidateUser")
    if candidate is not None and g.user.role in ("operator", "admin"):
        return _candidate(candidate)
    return g.user


def _found(limit: int, offset: int) -> TaskPage:
    kwargs: dict[str, Any] = dict(
        key=params.text("processDefinitionKey"), instance_id=params.text("processInstanceId"),
        name=params.text("name") or params.text("nameLike"), assignee=params.text("assignee"),
        candidate_group=params.text("candidateGroup"), user=_viewer())
    element = params.text("taskDefinitionKey")
    if element is None:
        return get_engine().task_list(**kwargs, limit=limit, offset=offset)
    # taskDefinitionKey is no column filter of task_list: read every match, then page
    every = get_engine().task_list(**kwargs, limit=100_000, offset=0).tasks
    tasks = [t for t in every if t.element_id == element]
    return TaskPage(tasks=tasks[offset:offset + limit], total=len(tasks))


@bp.get("/task")
def list_tasks():  # type: ignore[no-untyped-def]
    first, most = params.paging()
    return [task_dto(t) for t in _found(most, first).tasks]


@bp.get("/task/count")
def count_tasks():  # type: ignore[no-untyped-def]
    return {"count": _found(1, 0).total}


@bp.get("/task/<task_id>")
def get_task(task_id: str):  # type: ignore[no-untyped-def]
    task = get_engine().get_task_for(task_id_arg(task_id), g.user)
    return task_dto(task, get_engine().get_instance(task.instance_id).definition_id)


@bp.post("/task/<task_id>/claim")
def claim_task(task_id: str):  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    name = fields.text("userId", required=True, max_length=params.MAX_TEXT)
    user = g.user
    if name != user.name:
        if user.role not in ("operator", "admin"):
            raise AccessDenied(f"you ({user.name}) may claim tasks for yourself only, not for {name!r}")
        user = get_engine().get_user(str(name))
    get_engine().claim_task(task_id_arg(task_id), user)
    return "", 204


@bp.post("/task/<task_id>/unclaim")
def unclaim_task(task_id: str):  # type: ignore[no-untyped-def]
    get_engine().unclaim_task(task_id_arg(task_id), g.user)
    return "", 204


@bp.post("/task/<task_id>/complete")
def complete_task(task_id: str):  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    variables = from_camunda(fields.data.get("variables"))
    with_variables = fields.data.get("withVariablesInReturn", False)
    if not isinstance(with_variables, bool):
        raise RequestError("'withVariablesInReturn' must be true or false", field="withVariablesInReturn")
    instance = get_engine().complete_task(task_id_arg(task_id), variables, user=g.user)
    if with_variables:
        return to_camunda(instance.variables)
    return "", 204


@bp.get("/task/<task_id>/form-variables")
def form_variables(task_id: str):  # type: ignore[no-untyped-def]
    engine = get_engine()
    task = engine.get_task_for(task_id_arg(task_id), g.user)
    current = engine.get_instance(task.instance_id).variables
    wanted = [n for n in (request.args.get("variableNames") or "").split(",") if n]
    fields = (task.form or {}).get("fields") or []
    names = [f["id"] for f in fields] or list(current)
    found = {n: current.get(n, next((f.get("default") for f in fields if f["id"] == n), None)) for n in names}
    return {n: to_typed(v) for n, v in found.items() if not wanted or n in wanted}
