"""External tasks over REST, modelled on Camunda 7: workers anywhere fetch jobs, lock them, report back.

A service task with ``camunda:type="external" camunda:topic="..."`` (or any job whose topic has no agent
configured) waits as a job until a worker fetches it.  Endpoints, under ``/api/v1/external-tasks``:

- ``GET  /``: open jobs (``?topicName=``, ``?locked=true|false``, ``?processInstanceId=``, ``?maxResults=``)
- ``GET  /<id>``: one open job, with its variables
- ``POST /fetch-and-lock``: lock up to ``maxTasks`` due jobs of the given topics, long polling up to 30 s; each
  carries ``artifacts``: the latest version of each artifact of its instance (name -> ``url``, ``version``,
  ``sha256``, ``size``, ``media_type``, ``produced_by``); a worker downloads them from ``url`` and attaches what
  it produces with ``POST /api/v1/instances/<id>/artifacts`` before it completes the task
- ``POST /<id>/complete``: the result; ``variables`` go into the instance, which runs on
- ``POST /<id>/failure``: a failed attempt, retried after ``retryTimeout`` ms, or an incident at ``retries`` 0
- ``POST /<id>/bpmnError``: a BPMN error for an error boundary event on the task (uncaught: an incident)
- ``POST /<id>/extendLock``: keep the lock ``newDuration`` ms from now
- ``POST /<id>/unlock``: give the job back without spending an attempt

Only the worker holding the current, unexpired lock may complete, fail, throw or extend (else 409).  Bad
input is a 400 naming the field; every error has the shape ``{"error": {"code", "message", "details"}}``
(see :mod:`web.errors`).  Times are milliseconds, as in Camunda; variables are plain JSON values.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Blueprint, current_app, request

from engine.errors import BatonError, ConcurrentModification, JobNotFound
from engine.records import Job

from . import get_engine
from .bodies import Fields, json_body, variables_of
from .errors import RequestError
from .openapi import NO_CONTENT, array, errors, json_request, json_response, operation, path_param, query_param
from .openapi_schemas import obj, ref

log = logging.getLogger("baton.web.external_tasks")

bp = Blueprint("external_tasks", __name__, url_prefix="/api/v1/external-tasks")

MAX_TASKS = 100
MAX_LOCK_MS = 24 * 3600 * 1000
MAX_ASYNC_TIMEOUT_MS = 30_000
MAX_RETRY_TIMEOUT_MS = 30 * 24 * 3600 * 1000
MAX_RETRIES = 10_000
MAX_NAME = 255  # worker ids, topics and error codes are stored in columns of this size
RECHECK_SECONDS = 1.0  # jobs committed by other processes only show up in the database
LONG_POLLS = 4  # waitress serves with 8 threads: long polls may hold at most this many (app.config override)


def worker_id(fields: Fields, required: bool = True) -> str | None:
    return fields.text("workerId", required=required, max_length=MAX_NAME)


def milliseconds(fields: Fields, name: str, required: bool = True) -> float | None:
    """A positive duration in ms (at most a day) as seconds."""
    value = fields.integer(name, required=required, low=1, high=MAX_LOCK_MS)
    return None if value is None else value / 1000


# ---- what a worker sees -----------------------------------------------------------------------------------------


def attempts_left(job: Job) -> int:
    """Attempts left, the current one included while the job is locked (Camunda's ``retries``)."""
    if job.status == "incident":
        return 0
    left = (job.max_attempts or get_engine().settings.job_attempts) - job.attempt
    return max(0, left + (1 if job.status == "locked" else 0))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def to_json(job: Job, variables: bool = True, names: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "topicName": job.topic,
        "workerId": job.lock_owner,
        "lockExpirationTime": _iso(job.lock_expires_at) if job.status == "locked" else None,
        "processInstanceId": job.instance_id,
        "businessKey": job.business_key,
        "processDefinitionKey": job.process_key,
        "processDefinitionVersion": job.process_version,
        "activityId": job.element_id,
        "activityName": job.element_name,
        "retries": attempts_left(job),
        "attempt": job.attempt,
    }
    if variables:
        values = job.variables or {}
        body["variables"] = values if names is None else {k: values[k] for k in names if k in values}
    return body


def to_json_with_state(job: Job) -> dict[str, Any]:
    """The read-only view: what a worker would get, plus where the job stands."""
    return {**to_json(job, variables=False), "status": job.status, "dueTime": _iso(job.due_at),
            "errorMessage": job.last_error, "createdTime": _iso(job.created_at)}


# ---- reading jobs -------------------------------------------------------------------------------------------------


@bp.get("")
def list_jobs():  # type: ignore[no-untyped-def]
    args = request.args
    locked = args.get("locked")
    if locked not in (None, "", "true", "false"):
        raise RequestError(f"'locked' must be true or false, not {locked!r}", field="locked")
    try:
        limit = int(args.get("maxResults", "200"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= 1000:
        raise RequestError("'maxResults' must be an integer between 1 and 1000", field="maxResults")
    status = {"true": "locked", "false": "ready"}.get(locked or "")
    jobs = get_engine().jobs(status=status, topic=_arg("topicName"), instance_id=_arg("processInstanceId"),
                             limit=limit)
    return [to_json_with_state(j) for j in jobs]


def _arg(name: str) -> str | None:
    value = request.args.get(name) or None
    if value is not None and (len(value) > MAX_NAME or "\x00" in value):
        raise RequestError(f"'{name}' must be at most {MAX_NAME} characters, without NUL", field=name)
    return value


@bp.get("/<job_id>")
def get_job(job_id: str):  # type: ignore[no-untyped-def]
    job = _find_job(job_id)
    return {**to_json_with_state(job), "variables": job.variables or {}}


def check_id(job_id: str) -> None:
    """An id no job can have is simply not found (never a database error over a NUL or a long text)."""
    if len(job_id) > 36 or "\x00" in job_id:
        raise JobNotFound(f"no open job has id {job_id[:40]!r}", job_id=job_id[:40])


def _find_job(job_id: str) -> Job:
    check_id(job_id)
    return get_engine().get_job(job_id)


# ---- fetch and lock ----------------------------------------------------------------------------------------------


Render = Callable[[Job, "list[str] | None"], dict[str, Any]]


def _plain(job: Job, names: list[str] | None) -> dict[str, Any]:
    return {**to_json(job, names=names), "artifacts": get_engine().artifact_refs(job.instance_id)}


class FetchRequest:
    """A fetch-and-lock body; ``match`` per topic: Camunda's ``businessKey`` / ``processDefinitionKey`` filters."""

    def __init__(self, data: dict[str, Any]) -> None:
        fields = Fields(data)
        self.worker_id = worker_id(fields)
        self.max_tasks = fields.integer("maxTasks", default=1, low=1, high=MAX_TASKS) or 1
        self.timeout = (fields.integer("asyncResponseTimeout", default=0, low=0, high=MAX_ASYNC_TIMEOUT_MS) or 0) / 1000
        self.topics: list[tuple[str, float, list[str] | None]] = []
        self.matches: list[dict[str, str]] = []
        for i, item in enumerate(fields.items("topics", required=True) or []):
            topic = fields.nested("topics", i, item)
            name = topic.text("topicName", required=True, max_length=MAX_NAME)
            lock = milliseconds(topic, "lockDuration")
            names = topic.items("variables")
            if names is not None and not all(isinstance(n, str) for n in names):
                raise RequestError(f"'topics[{i}].variables' must be an array of variable names",
                                   field=f"topics[{i}].variables")
            self.topics.append((str(name), float(lock or 0), names))
            self.matches.append({column: str(value) for field, column in (("businessKey", "business_key"),
                                 ("processDefinitionKey", "process_key"))
                                 if (value := topic.text(field, max_length=MAX_NAME)) is not None})


def claim(engine: Any, req: FetchRequest, render: Render = _plain) -> list[dict[str, Any]]:
    """One round: claim topic by topic, each with its lock duration (claiming gives back expired leases)."""
    found: list[dict[str, Any]] = []
    for (topic, lock_seconds, names), match in zip(req.topics, req.matches, strict=True):
        if len(found) >= req.max_tasks:
            break
        try:
            jobs = engine.claim_jobs(req.worker_id, [topic], limit=req.max_tasks - len(found),
                                     lock_seconds=lock_seconds, match=match or None)
        except ConcurrentModification:
            break  # the database was busy: answer with what we have, the worker asks again
        except BatonError:
            if not found:
                raise
            log.exception("claiming topic %s failed; answering with the %d job(s) already locked", topic,
                          len(found))
            break
        found += [render(job, names) for job in jobs]
    return found


_SEMAPHORES_LOCK = threading.Lock()


def _long_polls() -> threading.Semaphore:
    """This app's long-poll slots (``BATON_LONG_POLLS`` in the app config, default 4)."""
    app = current_app
    with _SEMAPHORES_LOCK:
        sem = app.extensions.get("baton.long_polls")
        if sem is None:
            sem = app.extensions["baton.long_polls"] = threading.Semaphore(
                int(app.config.get("BATON_LONG_POLLS", LONG_POLLS)))
        return sem


def long_poll(engine: Any, req: FetchRequest, round_: Callable[[], list[dict[str, Any]]],
              gone: Callable[[], bool]) -> list[dict[str, Any]]:
    """Claim again on every job notification and at least every second until something is found or time is up.

    ``gone`` says the client hung up: then nothing more is claimed (jobs locked for a closed connection would
    wait out their lock duration).  Waitress can tell only with ``channel_request_lookahead`` > 0.
    """
    deadline = time.monotonic() + req.timeout
    generation = engine.jobs_generation
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return []
        generation = engine.wait_for_jobs(generation, min(RECHECK_SECONDS, left))
        if gone():
            log.info("long poll of worker %s ended: the client disconnected", req.worker_id)
            return []
        found = round_()
        if found:
            return found


def fetch(req: FetchRequest, render: Render = _plain) -> list[dict[str, Any]]:
    """Claim at once; when nothing is due, long poll for up to ``asyncResponseTimeout`` (if a slot is free)."""
    engine = get_engine()
    found = claim(engine, req, render)
    if found or req.timeout <= 0:
        return found
    slots = _long_polls()
    if not slots.acquire(blocking=False):
        log.info("long poll refused: %s long polls already wait; answering at once",
                 current_app.config.get("BATON_LONG_POLLS", LONG_POLLS))
        return found
    gone = request.environ.get("waitress.client_disconnected") or (lambda: False)
    try:
        return long_poll(engine, req, lambda: claim(engine, req, render), gone)
    finally:
        slots.release()


@bp.post("/fetch-and-lock")
def fetch_and_lock():  # type: ignore[no-untyped-def]
    return fetch(FetchRequest(json_body()))


# ---- reporting back ----------------------------------------------------------------------------------------------


# Each report reads its fields, then makes one engine call; ``read_variables`` reads the ``variables`` field (plain
# JSON here, Camunda's typed values under /engine-rest).  The engine checks the lock; its LockLost says who holds it.
ReadVariables = Callable[[Fields], dict[str, Any]]


def report_complete(job_id: str, fields: Fields, read_variables: ReadVariables = variables_of) -> None:
    worker = worker_id(fields)
    variables = read_variables(fields)
    check_id(job_id)
    get_engine().complete_job(job_id, str(worker), variables)


def report_failure(job_id: str, fields: Fields, read_variables: ReadVariables = variables_of) -> None:
    worker = worker_id(fields)
    message = fields.text("errorMessage") or "the external worker reported a failure"
    details = fields.text("errorDetails")
    retries = fields.integer("retries", low=0, high=MAX_RETRIES)
    retry_in = fields.integer("retryTimeout", low=0, high=MAX_RETRY_TIMEOUT_MS)
    check_id(job_id)
    get_engine().fail_job(job_id, str(worker), message, {"details": details} if details else None,
                          retries=retries, retry_in=None if retry_in is None else retry_in / 1000)


def report_bpmn_error(job_id: str, fields: Fields, read_variables: ReadVariables = variables_of) -> None:
    worker = worker_id(fields)
    code = fields.text("errorCode", required=True, max_length=MAX_NAME)
    message = fields.text("errorMessage")
    variables = read_variables(fields)
    check_id(job_id)
    caught = get_engine().job_bpmn_error(job_id, str(worker), str(code), message, variables)
    log.info("BPMN error %s on job %s %s", code, job_id, "caught" if caught else "not caught: incident")


def report_extend_lock(job_id: str, fields: Fields, read_variables: ReadVariables = variables_of) -> None:
    worker = worker_id(fields)
    seconds = milliseconds(fields, "newDuration")
    check_id(job_id)
    get_engine().extend_lock(job_id, str(worker), float(seconds or 0))


def report_unlock(job_id: str, fields: Fields, read_variables: ReadVariables = variables_of) -> None:
    worker = worker_id(fields, required=False)
    check_id(job_id)
    get_engine().unlock_job(job_id, worker)


REPORTS: dict[str, Callable[[str, Fields, ReadVariables], None]] = {
    "complete": report_complete, "failure": report_failure, "bpmnError": report_bpmn_error,
    "extendLock": report_extend_lock, "unlock": report_unlock}


def _report_view(report: Callable[[str, Fields, ReadVariables], None], read_variables: ReadVariables,
                 job_id: str) -> tuple[str, int]:
    report(job_id, Fields(json_body()), read_variables)
    return "", 204


def add_report_routes(blueprint: Blueprint, prefix: str, read_variables: ReadVariables = variables_of) -> None:
    """``POST {prefix}/<job_id>/complete|failure|bpmnError|extendLock|unlock`` on ``blueprint`` (204 each)."""
    for action, report in REPORTS.items():
        blueprint.add_url_rule(f"{prefix}/<job_id>/{action}", endpoint=f"report_{action}", methods=["POST"],
                               view_func=partial(_report_view, report, read_variables))


add_report_routes(bp, "")


_WORKER = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
_VARS = {"type": "object", "additionalProperties": True}
_ID = path_param("job_id", "The job (external task) id")
_REPORT_ERRORS = errors(400, 404, 409, 422)


def _report(summary: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"post": operation(summary, "external-tasks", parameters=[_ID],
                              body=json_request(obj(properties, required=required), required=bool(required)),
                              responses={**NO_CONTENT, **_REPORT_ERRORS})}


OPENAPI_PATHS = {
    "/api/v1/external-tasks": {"get": operation(
        "Open jobs as Camunda external tasks", "external-tasks",
        parameters=[query_param("topicName", "Only this topic"),
                    query_param("locked", "Only locked (true) or unlocked (false) jobs",
                                {"type": "string", "enum": ["true", "false"]}),
                    query_param("processInstanceId", "Only this instance's"),
                    query_param("maxResults", "At most this many (default 200)",
                                {"type": "integer", "minimum": 1, "maximum": 1000})],
        responses={"200": json_response(array(ref("ExternalTaskState"))), **errors(400)})},
    "/api/v1/external-tasks/{job_id}": {"get": operation(
        "One open job with its variables", "external-tasks", parameters=[_ID],
        responses={"200": json_response(ref("ExternalTaskDetail")), **errors(404)})},
    "/api/v1/external-tasks/fetch-and-lock": {"post": operation(
        "Lock up to maxTasks due jobs of the given topics (long polling up to asyncResponseTimeout ms)",
        "external-tasks", body=json_request(obj({
            "workerId": _WORKER,
            "maxTasks": {"type": "integer", "minimum": 1, "maximum": MAX_TASKS},
            "asyncResponseTimeout": {"type": "integer", "minimum": 0, "maximum": MAX_ASYNC_TIMEOUT_MS},
            "topics": {"type": "array", "minItems": 1, "items": obj({
                "topicName": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                "lockDuration": {"type": "integer", "minimum": 1, "maximum": MAX_LOCK_MS},
                "variables": {"type": "array", "items": {"type": "string"}},
            }, required=["topicName", "lockDuration"])},
        }, required=["workerId", "topics"])),
        responses={"200": json_response(array(ref("ExternalTask")), "The jobs now locked for this worker"),
                   **errors(400, 409)})},
    "/api/v1/external-tasks/{job_id}/complete": _report(
        "Report the result: variables go into the instance, which runs on",
        {"workerId": _WORKER, "variables": _VARS}, ["workerId"]),
    "/api/v1/external-tasks/{job_id}/failure": _report(
        "Report a failed attempt: retried after retryTimeout ms, or an incident at retries 0",
        {"workerId": _WORKER, "errorMessage": {"type": "string"}, "errorDetails": {"type": "string"},
         "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES},
         "retryTimeout": {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_TIMEOUT_MS}}, ["workerId"]),
    "/api/v1/external-tasks/{job_id}/bpmnError": _report(
        "Throw a BPMN error for an error boundary event on the task (uncaught: an incident)",
        {"workerId": _WORKER, "errorCode": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
         "errorMessage": {"type": "string"}, "variables": _VARS}, ["workerId", "errorCode"]),
    "/api/v1/external-tasks/{job_id}/extendLock": _report(
        "Keep the lock newDuration ms from now",
        {"workerId": _WORKER, "newDuration": {"type": "integer", "minimum": 1, "maximum": MAX_LOCK_MS}},
        ["workerId", "newDuration"]),
    "/api/v1/external-tasks/{job_id}/unlock": _report(
        "Give the job back without spending an attempt", {"workerId": _WORKER}, []),
}
