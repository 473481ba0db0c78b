"""REST API for the dead-letter queue and what feeds it: incidents, open jobs and circuit breakers.

``GET  /api/v1/incidents``               open incidents (``?topic=&processKey=&instanceId=&all=true``)
``GET  /api/v1/incidents/<id>``          one incident with its error details
``POST /api/v1/incidents/<id>/retry``    fresh attempts, optionally ``{"variables": {...}}``
``POST /api/v1/incidents/retry``         bulk: ``{"topic" | "processKey" | "instanceId", "variables"}``
``GET  /api/v1/jobs``                    open jobs (``?status=&topic=&instanceId=``)
``GET  /api/v1/circuits``                the circuit breaker of every topic that has failed
"""

from __future__ import annotations

from flask import Blueprint, request

from . import get_engine
from .bodies import Fields, json_body, variables_of
from .errors import RequestError
from .openapi import array, errors, json_request, json_response, operation, path_param, query_param
from .openapi_schemas import obj, ref

bp = Blueprint("incidents", __name__, url_prefix="/api/v1")


def _arg(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    if "\x00" in value or len(value) > 255:
        raise RequestError(f"query parameter '{name}' is not valid", field=name)
    return value or None


@bp.get("/incidents")
def list_incidents():  # type: ignore[no-untyped-def]
    found = get_engine().incidents(open_only=request.args.get("all") != "true", topic=_arg("topic"),
                                   key=_arg("processKey"), instance_id=_arg("instanceId"))
    return [i.to_dict() for i in found]


@bp.get("/incidents/<incident_id>")
def get_incident(incident_id: str):  # type: ignore[no-untyped-def]
    return get_engine().get_incident(incident_id[:64]).to_dict()


@bp.post("/incidents/<incident_id>/retry")
def retry_incident(incident_id: str):  # type: ignore[no-untyped-def]
    variables = variables_of(Fields(json_body()))
    return get_engine().retry_incident(incident_id[:64], variables).to_dict()


@bp.post("/incidents/retry")
def retry_many():  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    topic, key, instance = fields.text("topic"), fields.text("processKey"), fields.text("instanceId")
    if not (topic or key or instance):
        raise RequestError("say which incidents to retry: 'topic', 'processKey' or 'instanceId'", field="topic")
    jobs = get_engine().retry_incidents(topic=topic, key=key, instance_id=instance, variables=variables_of(fields))
    return {"retried": len(jobs), "jobs": [j.to_dict() for j in jobs]}


@bp.get("/jobs")
def list_jobs():  # type: ignore[no-untyped-def]
    status = _arg("status")
    if status not in (None, "ready", "locked", "incident"):
        raise RequestError("'status' must be ready, locked or incident", field="status")
    return [j.to_dict() for j in get_engine().jobs(status=status, topic=_arg("topic"),
                                                   instance_id=_arg("instanceId"))]


@bp.get("/circuits")
def list_circuits():  # type: ignore[no-untyped-def]
    return [c.to_dict() for c in get_engine().circuits()]


_VARS = {"type": "object", "additionalProperties": True}
_ID = path_param("incident_id", "The incident id")

OPENAPI_PATHS = {
    "/api/v1/incidents": {"get": operation(
        "Open incidents (the dead-letter queue)", "incidents",
        parameters=[query_param("topic", "Only this topic"), query_param("processKey", "Only this process"),
                    query_param("instanceId", "Only this instance"),
                    query_param("all", "true: resolved ones too", {"type": "string", "enum": ["true", "false"]})],
        responses={"200": json_response(array(ref("Incident"))), **errors(400)})},
    "/api/v1/incidents/{incident_id}": {"get": operation(
        "One incident with its error details", "incidents", parameters=[_ID],
        responses={"200": json_response(ref("Incident")), **errors(404)})},
    "/api/v1/incidents/{incident_id}/retry": {"post": operation(
        "Give the incident's job fresh attempts, optionally with changed variables", "incidents",
        parameters=[_ID], body=json_request(obj({"variables": _VARS}, required=[]), required=False),
        responses={"200": json_response(ref("Job")), **errors(400, 404, 409, 422)})},
    "/api/v1/incidents/retry": {"post": operation(
        "Retry every open incident of a topic, a process or an instance", "incidents",
        body=json_request(obj({"topic": {"type": "string"}, "processKey": {"type": "string"},
                               "instanceId": {"type": "string"}, "variables": _VARS}, required=[])),
        responses={"200": json_response(ref("RetryResult")), **errors(400, 404, 409, 422)})},
    "/api/v1/jobs": {"get": operation(
        "Open jobs", "incidents",
        parameters=[query_param("status", "Only this status",
                                {"type": "string", "enum": ["ready", "locked", "incident"]}),
                    query_param("topic", "Only this topic"), query_param("instanceId", "Only this instance")],
        responses={"200": json_response(array(ref("Job"))), **errors(400)})},
    "/api/v1/circuits": {"get": operation(
        "The circuit breaker of every topic that has failed", "incidents",
        responses={"200": json_response(array(ref("Circuit")))})},
}
