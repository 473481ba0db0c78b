"""REST API for process instances: start, find, inspect, change variables, cancel, suspend, resume.

``POST  /api/v1/instances``                  ``{"key", "version"?, "businessKey"?, "variables"?}`` (201)
``GET   /api/v1/instances``                  filters ``status``, ``key``, ``version``, ``businessKey``,
                                             ``startedAfter`` / ``startedBefore`` (ISO dates), ``suspended``,
                                             ``variable=name=value`` (repeatable; value read as JSON, else
                                             text), paging ``limit`` / ``offset``; the answer carries ``total``
``GET   /api/v1/instances/<id>``             one instance with its open tasks
``GET   /api/v1/instances/<id>/variables``   its variables
``PUT   /api/v1/instances/<id>/variables``   ``{"variables": {...}}``: each given name gets the given value
``PATCH /api/v1/instances/<id>/variables``   ``{"variables": {...}}``: JSON merge patch (``null`` removes)
``POST  /api/v1/instances/<id>/cancel``      ``/suspend``, ``/resume``
``GET   /api/v1/instances/<id>/history``     what happened, in order
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, g, request

from engine.errors import InstanceNotFound
from engine.execution import STATUSES
from engine.search import InstanceFilter

from . import get_engine
from .bodies import Fields, json_body, variables_of
from .errors import RequestError
from .openapi import INSTANCE_ERRORS, array, errors, json_request, json_response, operation, path_param, query_param
from .openapi_schemas import obj, ref

bp = Blueprint("api_instances", __name__, url_prefix="/api/v1")

MAX_TEXT = 255
MAX_PAGE = 1000


def _id(instance_id: str) -> str:
    """An id no instance can have is simply not found (never a database error over a NUL or a long text)."""
    if len(instance_id) > 36 or "\x00" in instance_id:
        raise InstanceNotFound(f"no instance has id {instance_id[:40]!r}", instance_id=instance_id[:40])
    return instance_id


def _text(name: str) -> str | None:
    value = request.args.get(name, "")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise RequestError(f"'{name}' must be at most {MAX_TEXT} characters, without NUL", field=name)
    return value or None


def _integer(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise RequestError(f"'{name}' must be a whole number between {low} and {high}, not {raw[:40]!r}",
                           field=name)
    return int(raw)


def _date(name: str, end_of_day: bool = False) -> dt.datetime | None:
    """An ISO date or date-time as UTC; a bare date as ``startedBefore`` means the end of that day."""
    raw = _text(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        if end_of_day and len(raw) == 10:
            value += dt.timedelta(days=1, microseconds=-1)
    except (ValueError, OverflowError) as exc:
        raise RequestError(f"'{name}' must be an ISO date or date-time (2026-05-01 or 2026-05-01T08:00:00Z), "
                           f"not {raw[:40]!r}", field=name) from exc
    return value


def _variable_filters() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in request.args.getlist("variable"):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or "\x00" in raw or len(raw) > 10_000:
            raise RequestError(f"'variable' must be name=value with a valid variable name, not {item[:60]!r}",
                               field="variable")
        try:
            found[name] = json.loads(raw, parse_constant=_not_json)
        except (ValueError, RecursionError):
            found[name] = raw  # not JSON: the text itself
    return found


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _boolean(name: str) -> bool | None:
    raw = request.args.get(name, "")
    if raw not in ("", "true", "false"):
        raise RequestError(f"'{name}' must be true or false", field=name)
    return None if raw == "" else raw == "true"


@bp.post("/instances")
def start_instance():  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    key = fields.text("key", required=True, max_length=MAX_TEXT)
    version = fields.integer("version", low=1, high=2**31 - 1)
    business_key = fields.text("businessKey", max_length=MAX_TEXT)
    variables = variables_of(fields)
    instance = get_engine().start(str(key), variables, business_key=business_key, version=version,
                                  initiator=g.user.name if g.user else None)
    return instance.to_dict(), 201


@bp.get("/instances")
def list_instances():  # type: ignore[no-untyped-def]
    status = _text("status")
    if status is not None and status not in STATUSES:
        raise RequestError(f"'status' must be one of {', '.join(STATUSES)}", field="status")
    where = InstanceFilter(status=status, key=_text("key"), version=_integer("version", None, 1, 2**31 - 1),
                           business_key=_text("businessKey"), started_after=_date("startedAfter"),
                           started_before=_date("startedBefore", end_of_day=True), variables=_variable_filters(),
                           suspended=_boolean("suspended"))
    page = get_engine().search_instances(where, limit=_integer("limit", 50, 1, MAX_PAGE) or 50,
                                         offset=_integer("offset", 0, 0, 10**9) or 0)
    return page.to_dict()


@bp.get("/instances/<instance_id>")
def get_instance(instance_id: str):  # type: ignore[no-untyped-def]
    return get_engine().get_instance(_id(instance_id)).to_dict()


@bp.get("/instances/<instance_id>/variables")
def get_variables(instance_id: str):  # type: ignore[no-untyped-def]
    instance = get_engine().get_instance(_id(instance_id))
    return {"instance_id": instance.id, "variables": instance.to_dict()["variables"]}


def _edit(instance_id: str, mode: str) -> dict[str, Any]:
    fields = Fields(json_body())
    if "variables" not in fields.data:
        raise RequestError("'variables' is required: an object of variable names and values", field="variables")
    instance = get_engine().set_variables(_id(instance_id), variables_of(fields), mode=mode)
    return {"instance_id": instance.id, "variables": instance.to_dict()["variables"]}


@bp.put("/instances/<instance_id>/variables")
def put_variables(instance_id: str):  # type: ignore[no-untyped-def]
    return _edit(instance_id, "set")


@bp.patch("/instances/<instance_id>/variables")
def patch_variables(instance_id: str):  # type: ignore[no-untyped-def]
    return _edit(instance_id, "merge")


@bp.post("/instances/<instance_id>/cancel")
def cancel(instance_id: str):  # type: ignore[no-untyped-def]
    return get_engine().cancel(_id(instance_id)).to_dict()


@bp.post("/instances/<instance_id>/suspend")
def suspend(instance_id: str):  # type: ignore[no-untyped-def]
    return get_engine().suspend(_id(instance_id)).to_dict()


@bp.post("/instances/<instance_id>/resume")
def resume(instance_id: str):  # type: ignore[no-untyped-def]
    return get_engine().resume(_id(instance_id)).to_dict()


@bp.get("/instances/<instance_id>/history")
def history(instance_id: str):  # type: ignore[no-untyped-def]
    return [h.to_dict() for h in get_engine().history(_id(instance_id))]


_ID = path_param("instance_id", "The instance id")
_VARIABLES_BODY = json_request(obj({"variables": {"type": "object", "additionalProperties": True}}))

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/instances": {
        "post": operation(
            "Start an instance of the latest (or the given) version", "instances",
            body=json_request(obj({"key": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                                "version": {"type": "integer", "minimum": 1},
                                "businessKey": {"type": "string", "maxLength": MAX_TEXT},
                                "variables": {"type": "object", "additionalProperties": True}},
                               required=["key"])),
            responses={"201": json_response(ref("Instance"), "Started (and run until every path waits)"),
                       **errors(400, 404, 409, 422)}),
        "get": operation(
            "Find instances: filters and paging, newest first", "instances",
            parameters=[
                query_param("status", "Only this status", {"type": "string", "enum": list(STATUSES)}),
                query_param("key", "Only this process"),
                query_param("version", "Only this version of the process", {"type": "integer", "minimum": 1}),
                query_param("businessKey", "Only this business key"),
                query_param("startedAfter", "Started at or after (ISO date or date-time; UTC unless given)"),
                query_param("startedBefore", "Started at or before (ISO date or date-time; UTC unless given)"),
                query_param("suspended", "Only suspended (true) or not suspended (false) instances",
                            {"type": "string", "enum": ["true", "false"]}),
                query_param("variable", "name=value: the variable equals the value (read as JSON, else as text)",
                            repeat=True),
                query_param("limit", "Page size (default 50)", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                query_param("offset", "Instances to skip", {"type": "integer", "minimum": 0}),
            ],
            responses={"200": json_response(ref("InstancePage"), "One page, and how many match in all"),
                       **errors(400)}),
    },
    "/api/v1/instances/{instance_id}": {"get": operation(
        "One instance with its open tasks", "instances", parameters=[_ID],
        responses={"200": json_response(ref("Instance")), **INSTANCE_ERRORS})},
    "/api/v1/instances/{instance_id}/variables": {
        "get": operation("The variables of an instance", "instances", parameters=[_ID],
                         responses={"200": json_response(ref("Variables")), **INSTANCE_ERRORS}),
        "put": operation("Set variables: each given name gets the given value", "instances", parameters=[_ID],
                         body=_VARIABLES_BODY,
                         responses={"200": json_response(ref("Variables")), **errors(400, 404, 409, 422)}),
        "patch": operation("Merge variables (JSON merge patch: objects merge, null removes)", "instances",
                           parameters=[_ID], body=_VARIABLES_BODY,
                           responses={"200": json_response(ref("Variables")), **errors(400, 404, 409, 422)}),
    },
    **{f"/api/v1/instances/{{instance_id}}/{action}": {"post": operation(
        summary, "instances", parameters=[_ID],
        responses={"200": json_response(ref("Instance")), **errors(404, 409)})}
       for action, summary in [("cancel", "Cancel an unfinished instance"),
                               ("suspend", "Suspend: no jobs, timers, messages or task completions until resumed"),
                               ("resume", "Resume a suspended instance exactly where it stood")]},
    "/api/v1/instances/{instance_id}/history": {"get": operation(
        "What happened to an instance, in order", "instances", parameters=[_ID],
        responses={"200": json_response(array(ref("HistoryEntry"))), **INSTANCE_ERRORS})},
}
