"""``/engine-rest/external-task``: Camunda's external-task API over Baton's jobs.

The same logic as Baton's ``/api/v1/external-tasks`` (:mod:`web.external_tasks`: claiming, long polling,
reporting), with Camunda's shapes: typed variables, ``retries`` ``null`` until a worker reports a failure (so a
client's own retry count applies, as with Camunda), 400 when another worker holds the lock.  Long polls last at
most 30 s (a longer ``asyncResponseTimeout`` is shortened; the client simply polls again).
"""

from __future__ import annotations

from typing import Any

from engine.errors import DefinitionNotFound
from engine.records import Job

from .. import external_tasks as shared
from .. import get_engine
from ..bodies import Fields, json_body
from ..errors import RequestError
from . import bp, params
from .variables import from_camunda, to_camunda


def _definition_id(job: Job, cache: dict[tuple[str, int], str | None]) -> str | None:
    key = (job.process_key, job.process_version)
    if key not in cache:
        try:
            cache[key] = str(get_engine().get_definition(*key).id)
        except DefinitionNotFound:
            cache[key] = None
    return cache[key]


def _retries(job: Job) -> int | None:
    """Camunda's ``retries``: null until the first failure, then the attempts left (0 at an incident)."""
    if job.status != "incident" and job.attempt <= 1 and job.last_error is None:
        return None
    return shared.attempts_left(job)


def job_dto(job: Job, cache: dict[tuple[str, int], str | None]) -> dict[str, Any]:
    locked = job.status == "locked"
    return {"activityId": job.element_id, "activityInstanceId": job.task_id, "errorMessage": job.last_error,
            "executionId": job.task_id, "id": job.id,
            "lockExpirationTime": params.camunda_date(job.lock_expires_at) if locked else None,
            "processDefinitionId": _definition_id(job, cache), "processDefinitionKey": job.process_key,
            "processDefinitionVersionTag": None, "processInstanceId": job.instance_id, "tenantId": None,
            "retries": _retries(job), "suspended": False, "workerId": job.lock_owner if locked else None,
            "topicName": job.topic, "priority": 0, "businessKey": job.business_key}


def _locked_render(topics: list[Any]) -> shared.Render:
    """LockedExternalTaskDto; Object values as JSON text unless the topic asks ``deserializeValues: true``."""
    cache: dict[tuple[str, int], str | None] = {}
    deserialize = {t.get("topicName"): t.get("deserializeValues") is True for t in topics if isinstance(t, dict)}

    def render(job: Job, names: list[str] | None) -> dict[str, Any]:
        dto = job_dto(job, cache)
        del dto["suspended"]
        variables = to_camunda(job.variables or {}, deserialize.get(job.topic, False), names=names)
        return {**dto, "errorDetails": None, "variables": variables, "extensionProperties": {},
                "artifacts": get_engine().artifact_refs(job.instance_id)}  # Baton's addition (docs/agents.md)

    return render


@bp.post("/external-task/fetchAndLock")
def fetch_and_lock():  # type: ignore[no-untyped-def]
    data = json_body()
    wait = data.get("asyncResponseTimeout")
    if isinstance(wait, int) and not isinstance(wait, bool) and wait > shared.MAX_ASYNC_TIMEOUT_MS:
        data["asyncResponseTimeout"] = shared.MAX_ASYNC_TIMEOUT_MS
    request = shared.FetchRequest(data)
    for i, topic in enumerate(data["topics"]):
        if topic.get("processVariables"):
            raise RequestError(f"'topics[{i}].processVariables' is not supported by Baton: filter by "
                               "'businessKey' or 'processDefinitionKey'", field=f"topics[{i}].processVariables")
    return shared.fetch(request, _locked_render(data["topics"]))


def _typed(fields: Fields) -> dict[str, Any]:
    return from_camunda(fields.data.get("variables"))


shared.add_report_routes(bp, "/external-task", _typed)  # complete, failure, bpmnError, extendLock, unlock


# ---- reading ---------------------------------------------------------------------------------------------------


def _matching() -> list[Job]:
    locked, not_locked = params.boolean("locked"), params.boolean("notLocked")
    status = "locked" if locked else "ready" if not_locked else None
    worker = params.text("workerId")
    with_retries, no_retries = params.boolean("withRetriesLeft"), params.boolean("noRetriesLeft")
    jobs = get_engine().jobs(status=status, topic=params.text("topicName"),
                             instance_id=params.text("processInstanceId"), limit=100_000)
    key, activity = params.text("processDefinitionKey"), params.text("activityId")
    return [j for j in jobs if (worker is None or (j.status == "locked" and j.lock_owner == worker))
            and (key is None or j.process_key == key) and (activity is None or j.element_id == activity)
            and (not with_retries or j.status != "incident") and (not no_retries or j.status == "incident")]


@bp.get("/external-task")
def list_jobs():  # type: ignore[no-untyped-def]
    first, most = params.paging()
    cache: dict[tuple[str, int], str | None] = {}
    return [job_dto(j, cache) for j in params.page(_matching(), first, most)]


@bp.get("/external-task/count")
def count_jobs():  # type: ignore[no-untyped-def]
    return {"count": len(_matching())}


@bp.get("/external-task/<job_id>")
def get_job(job_id: str):  # type: ignore[no-untyped-def]
    shared.check_id(job_id)
    return job_dto(get_engine().get_job(job_id), {})


