"""The shared ``components.schemas`` of the OpenAPI document: the error shape and every record the API returns.

They mirror the ``to_dict()`` of :mod:`engine.records` (and the Camunda-shaped external tasks); the
schemathesis test checks real responses against them, so a field that changes here or there fails a test.
Objects allow extra properties: a later field is an addition, not a break.
"""

from __future__ import annotations

from typing import Any

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
ANY: dict[str, Any] = {}


def null(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None, description: str = "") -> dict[str, Any]:
    """An object whose listed properties are all present (unless ``required`` says otherwise)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    names = list(properties) if required is None else required
    if names:  # OpenAPI 3.0 wants at least one name in a required list
        schema["required"] = names
    if description:
        schema["description"] = description
    return schema


STATUSES = ["running", "waiting", "incident", "failed", "completed", "cancelled"]

DEFINITION = obj({
    "id": INT, "key": STR, "version": INT, "name": null(STR), "executable": BOOL, "deployment_id": INT,
    "checksum": STR, "created_at": null(TIME), "resource_name": null(STR), "new": BOOL,
}, description="One version of a process definition")

TASK = obj({
    "id": STR, "instance_id": STR, "process_key": STR, "element_id": STR, "name": null(STR), "type": STR,
    "form": null(OBJ), "created_at": null(TIME), "business_key": null(STR),
}, description="A user or manual task that is ready for a person")

ACTIVE = obj({"element_id": STR, "name": null(STR), "type": STR, "state": STR, "task_id": STR},
             required=["element_id", "type", "state", "task_id"])

INSTANCE = obj({
    "id": STR, "process_key": STR, "process_version": INT, "definition_id": INT, "business_key": null(STR),
    "status": {"type": "string", "enum": STATUSES}, "suspended": BOOL, "variables": OBJ,
    "active": {"type": "array", "items": ACTIVE}, "error": null(OBJ), "created_at": null(TIME),
    "updated_at": null(TIME), "ended_at": null(TIME), "tasks": {"type": "array", "items": ref("Task")},
}, description="A process instance: where it stands, its variables and its open tasks")

JOB = obj({
    "id": STR, "instance_id": STR, "task_id": STR, "business_key": null(STR), "process_key": STR,
    "process_version": INT, "element_id": STR, "element_name": null(STR), "topic": STR, "variables": OBJ,
    "status": {"type": "string", "enum": ["ready", "locked", "incident"]}, "attempt": INT,
    "max_attempts": null(INT), "timeout": null(NUM), "due_at": null(TIME), "lock_owner": null(STR),
    "lock_expires_at": null(TIME), "last_error": null(STR), "created_at": null(TIME),
}, description="Work waiting for an agent or an external worker")

INCIDENT = obj({
    "id": STR, "job_id": STR, "instance_id": STR, "process_key": STR, "element_id": STR,
    "element_name": null(STR), "topic": STR, "message": STR, "details": null(OBJ), "attempts": INT,
    "created_at": null(TIME), "resolved_at": null(TIME), "resolution": null(STR),
}, description="A job that ran out of attempts or failed for good")

ARTIFACT_VERSION = obj({
    "instance_id": STR, "name": STR, "version": INT, "sha256": STR, "size": INT, "media_type": STR,
    "created_at": null(TIME), "element_id": null(STR), "element_name": null(STR), "job_id": null(STR),
    "attempt": null(INT), "user_name": null(STR), "produced_by": STR, "url": STR,
}, description="One version of an artifact and who produced it (an agent's step or a person)")

#: what an agent's context (and an external task) says about the latest version of an artifact
ARTIFACT_REF = obj({"path": STR, "url": STR, "version": INT, "sha256": STR, "size": INT, "media_type": STR,
                    "produced_by": STR}, required=["url", "version", "sha256", "size", "media_type", "produced_by"])
ARTIFACT_REFS = {"type": "object", "additionalProperties": ref("ArtifactRef"),
                 "description": "The latest version of each artifact of the instance, by name"}

_EXTERNAL = {
    "id": STR, "topicName": STR, "workerId": null(STR), "lockExpirationTime": null(TIME),
    "processInstanceId": STR, "businessKey": null(STR), "processDefinitionKey": STR,
    "processDefinitionVersion": INT, "activityId": STR, "activityName": null(STR), "retries": INT, "attempt": INT,
}
_STATE = {"status": STR, "dueTime": null(TIME), "errorMessage": null(STR), "createdTime": null(TIME)}

SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": obj({"code": STR, "message": STR, "details": OBJ})},
                 description='Every error: {"error": {"code", "message", "details"}}'),
    "Definition": DEFINITION,
    "ProcessVersions": obj({"key": STR, "name": null(STR), "latest_version": INT,
                            "versions": {"type": "array", "items": ref("Definition")}}),
    "DeployResult": obj({
        "deployment_id": null(INT), "definitions": {"type": "array", "items": ref("Definition")},
        "decisions": {"type": "array", "items": obj({"key": STR, "version": INT, "new": BOOL})},
        "warnings": {"type": "array", "items": STR},
    }),
    "Task": TASK,
    "Instance": INSTANCE,
    "InstancePage": obj({"total": INT, "limit": INT, "offset": INT,
                         "items": {"type": "array", "items": ref("Instance")}}),
    "Variables": obj({"instance_id": STR, "variables": OBJ}),
    "HistoryEntry": obj({"id": INT, "at": null(TIME), "event": STR, "element_id": null(STR),
                         "element_name": null(STR), "element_type": null(STR), "task_id": null(STR),
                         "details": ANY}),
    "Job": JOB,
    "Incident": INCIDENT,
    "RetryResult": obj({"retried": INT, "jobs": {"type": "array", "items": ref("Job")}}),
    "Circuit": obj({"topic": STR, "state": {"type": "string", "enum": ["closed", "open", "half_open"]},
                    "failures": INT, "opened_until": null(TIME)}),
    "ArtifactVersion": ARTIFACT_VERSION,
    "ArtifactRef": ARTIFACT_REF,
    "Artifact": obj({"name": STR, "latest": ref("ArtifactVersion"),
                     "versions": {"type": "array", "items": ref("ArtifactVersion")}},
                    description="An artifact: its latest version and every version, newest first"),
    "ExternalTask": obj({**_EXTERNAL, "variables": OBJ, "artifacts": ARTIFACT_REFS},
                        description="A locked job as a Camunda external task"),
    "ExternalTaskState": obj({**_EXTERNAL, **_STATE}, description="An open job as a Camunda external task"),
    "ExternalTaskDetail": obj({**_EXTERNAL, **_STATE, "variables": OBJ}),
    "Correlation": obj({"name": STR, "delivered_to": {"type": "array", "items": STR},
                        "started": {"type": "array", "items": STR}, "buffered_id": null(STR)},
                       description="Where a message or signal went"),
    "Timer": obj({"id": STR, "instance_id": null(STR), "process_key": STR, "element_id": STR, "due_at": TIME,
                  "start": BOOL}),
    "Health": obj({"status": STR, "version": STR, "database": STR, "schema": null(STR),
                   "schema_needed": null(STR), "error": STR}, required=["status", "database"]),
}
