"""REST API for events from outside: messages, signals, and the armed timers.

``POST /api/v1/messages``  ``{"name", "correlationKey"?, "businessKey"?, "variables"?, "match"?, "ttl"?, "all"?}``
                            200 with where it went; 404 ``no_subscription`` when nothing waits and no ``ttl``
``POST /api/v1/signals``   ``{"name", "variables"?}``: every waiting instance and signal start event
``GET  /api/v1/timers``    armed timers, soonest first (``?instanceId=``)
"""

from __future__ import annotations

import math

from flask import Blueprint, request

from . import get_engine
from .bodies import Fields, json_body, variables_of
from .errors import RequestError
from .openapi import array, errors, json_request, json_response, operation, query_param
from .openapi_schemas import obj, ref

bp = Blueprint("events", __name__, url_prefix="/api/v1")

MAX_TTL = 10 * 365 * 24 * 3600


def _ttl(fields: Fields) -> float | None:
    value = fields.data.get("ttl")
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
            or value > MAX_TTL):
        raise RequestError(f"'ttl' must be a number of seconds from 0 to {MAX_TTL} (ten years)", field="ttl")
    return float(value)


@bp.post("/messages")
def correlate_message():  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    deliver_all = fields.data.get("all", False)
    if not isinstance(deliver_all, bool):
        raise RequestError("'all' must be true or false", field="all")
    found = get_engine().correlate_message(
        fields.text("name", required=True, max_length=255) or "",
        correlation_key=fields.text("correlationKey", max_length=255),
        business_key=fields.text("businessKey", max_length=255),
        variables=variables_of(fields), match=fields.obj("match"), ttl=_ttl(fields), deliver_all=deliver_all)
    return found.to_dict()


@bp.post("/signals")
def broadcast_signal():  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    found = get_engine().broadcast_signal(fields.text("name", required=True, max_length=255) or "",
                                          variables_of(fields))
    return found.to_dict()


@bp.get("/timers")
def list_timers():  # type: ignore[no-untyped-def]
    instance_id = request.args.get("instanceId", "").strip()[:64] or None
    if instance_id is not None and "\x00" in instance_id:
        raise RequestError("'instanceId' must not contain a NUL character", field="instanceId")
    return [{**t, "due_at": t["due_at"].isoformat()} for t in get_engine().timers(instance_id)]


_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_TEXT = {"type": "string", "maxLength": 255}
_VARS = {"type": "object", "additionalProperties": True}

OPENAPI_PATHS = {
    "/api/v1/messages": {"post": operation(
        "Correlate a message: deliver it to the waiting instance, or start one through a message start event",
        "events", body=json_request(obj({
            "name": _NAME, "correlationKey": _TEXT, "businessKey": _TEXT, "variables": _VARS,
            "match": {"type": "object", "additionalProperties": True,
                      "description": "process variables the receiver must have (equality)"},
            "ttl": {"type": "number", "minimum": 0, "maximum": MAX_TTL,
                    "description": "seconds to keep it when nothing waits yet"},
            "all": {"type": "boolean", "description": "deliver to every matching instance"},
        }, required=["name"])),
        responses={"200": json_response(ref("Correlation")), **errors(400, 404, 409, 422)})},
    "/api/v1/signals": {"post": operation(
        "Broadcast a signal to every waiting instance and signal start event", "events",
        body=json_request(obj({"name": _NAME, "variables": _VARS}, required=["name"])),
        responses={"200": json_response(ref("Correlation")), **errors(400, 409, 422)})},
    "/api/v1/timers": {"get": operation(
        "Armed timers, soonest first", "events", parameters=[query_param("instanceId", "Only this instance's")],
        responses={"200": json_response(array(ref("Timer"))), **errors(400)})},
}
