"""``/engine-rest/deployment/create`` and ``/engine-rest/process-definition``: deploy, find, read, start.

A process definition's Camunda ``id`` is Baton's definition id (a number, as a string); ``key`` and ``version``
are the same as Camunda's.  Baton always filters duplicates: deploying unchanged content makes no new version
(Camunda's ``enable-duplicate-filtering`` / ``deploy-changed-only``), so ``deployedProcessDefinitions`` lists
only the definitions the deployment created.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, request

from engine.errors import DefinitionNotFound
from engine.records import Definition, Instance

from .. import get_engine
from ..api_definitions import MAX_FILES, SUFFIXES, version_arg
from ..bodies import Fields, json_body
from ..errors import RequestError
from . import bp, params
from .variables import flag, from_camunda, to_camunda

MULTIPART_FIELDS = {"deployment-name", "deployment-source", "enable-duplicate-filtering", "deploy-changed-only",
                    "deployment-activation-time", "tenant-id"}


def definition_dto(d: Definition) -> dict[str, Any]:
    return {"id": str(d.id), "key": d.key, "category": None, "description": None, "name": d.name,
            "version": d.version, "resource": d.resource_name, "deploymentId": str(d.deployment_id),
            "diagram": None, "suspended": False, "tenantId": None, "versionTag": None,
            "historyTimeToLive": None, "startableInTasklist": d.executable}


def instance_dto(instance: Instance, variables: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "links": [params.link("self", f"/process-instance/{instance.id}")],
        "id": instance.id, "definitionId": str(instance.definition_id), "definitionKey": instance.process_key,
        "businessKey": instance.business_key, "caseInstanceId": None,
        "ended": instance.status in ("completed", "cancelled"), "suspended": instance.suspended,
        "tenantId": None}
    if variables:
        body["variables"] = to_camunda(instance.variables)
    return body


# ---- deployment ------------------------------------------------------------------------------------------------


def _read(part: Any, limit: int) -> tuple[str, bytes]:
    name = part.filename or ""
    if "\x00" in name or not name.lower().endswith(SUFFIXES):
        raise RequestError(f"'{name[:100]}' is not a .bpmn or .dmn file (Baton deploys BPMN and DMN only)",
                           field=name[:100] or "data")
    content = part.read(limit + 1)
    if len(content) > limit:
        raise RequestError(f"'{name[:100]}' is larger than {limit} bytes (BATON_MAX_XML_BYTES)",
                           field=name[:100])
    return name, content


@bp.post("/deployment/create")
def create_deployment():  # type: ignore[no-untyped-def]
    if not request.content_type or not request.content_type.startswith("multipart/form-data"):
        raise RequestError("send the deployment as multipart/form-data: 'deployment-name' and one part per file",
                           field="data")
    limit = get_engine().settings.max_xml_bytes
    if (request.content_length or 0) > limit * MAX_FILES:
        raise RequestError(f"a deployment is at most {MAX_FILES} files of {limit} bytes each", field="data")
    parts = [f for name in request.files for f in request.files.getlist(name)]
    try:
        uploads = [p for p in parts if p.filename]
        if not uploads:
            raise RequestError("no file was uploaded: add the .bpmn or .dmn files as parts with a filename",
                               field="data")
        files = [_read(p, limit) for p in uploads]
    finally:
        for part in parts:
            part.close()
    for option in ("enable-duplicate-filtering", "deploy-changed-only"):
        flag(request.form.get(option), option, False)  # accepted (Baton always filters duplicates), must be boolean
    name = (request.form.get("deployment-name") or "").replace("\x00", "")[:200] or None
    source = (request.form.get("deployment-source") or "engine-rest").replace("\x00", "")[:200]
    result = get_engine().deploy_bytes(files, source=source)
    deployed = {str(d.id): definition_dto(d) for d in result.definitions if d.new}
    ids = {d.deployment_id for d in result.definitions}
    deployment_id = result.deployment_id if result.deployment_id is not None else (min(ids) if ids else None)
    return {"links": [params.link("self", f"/deployment/{deployment_id}")],
            "id": None if deployment_id is None else str(deployment_id), "name": name, "source": source,
            "deploymentTime": params.camunda_date(dt.datetime.now(dt.UTC)), "tenantId": None,
            "deployedProcessDefinitions": deployed or None, "deployedCaseDefinitions": None,
            "deployedDecisionDefinitions": None, "deployedDecisionRequirementsDefinitions": None}


# ---- process definitions ---------------------------------------------------------------------------------------


def _matching() -> list[Definition]:
    key, name = params.text("key"), params.text("name")
    name_like = params.text("nameLike")
    version = version_arg()
    latest = params.boolean("latestVersion")
    found = get_engine().definitions(key, latest_only=bool(latest))
    found = [d for d in found if (version is None or d.version == version) and (name is None or d.name == name)
             and (name_like is None or name_like.strip("%").lower() in (d.name or "").lower())]
    return sorted(found, key=lambda d: (d.key, d.version))


@bp.get("/process-definition")
def list_definitions():  # type: ignore[no-untyped-def]
    first, most = params.paging()
    return [definition_dto(d) for d in params.page(_matching(), first, most)]


@bp.get("/process-definition/count")
def count_definitions():  # type: ignore[no-untyped-def]
    return {"count": len(_matching())}


def by_id(definition_id: str) -> Definition:
    """The definition with this Camunda id (Baton's definition id)."""
    if definition_id.isdigit() and len(definition_id) < 12:
        for d in get_engine().definitions():
            if d.id == int(definition_id):
                return d
    raise DefinitionNotFound(f"no process definition has id {definition_id[:40]!r}", id=definition_id[:40])


def _key(key: str) -> str:
    if len(key) > params.MAX_TEXT or "\x00" in key:
        raise DefinitionNotFound(f"no process '{key[:40]}' is deployed", key=key[:40])
    return key


def _definition(key: str | None, definition_id: str | None) -> Definition:
    """The latest version of ``key``, or the definition with this Camunda id."""
    if key is not None:
        return get_engine().get_definition(_key(key))
    return by_id(str(definition_id))


@bp.get("/process-definition/key/<key>")
@bp.get("/process-definition/<definition_id>")
def get_definition(key: str | None = None, definition_id: str | None = None):  # type: ignore[no-untyped-def]
    return definition_dto(_definition(key, definition_id))


@bp.get("/process-definition/key/<key>/xml")
@bp.get("/process-definition/<definition_id>/xml")
def definition_xml(key: str | None = None, definition_id: str | None = None):  # type: ignore[no-untyped-def]
    d = _definition(key, definition_id)
    return {"id": str(d.id), "bpmn20Xml": get_engine().definition_xml(d.key, d.version)}


@bp.post("/process-definition/key/<key>/start")
@bp.post("/process-definition/<definition_id>/start")
def start(key: str | None = None, definition_id: str | None = None):  # type: ignore[no-untyped-def]
    d = _definition(key, definition_id)
    fields = Fields(json_body())
    variables = from_camunda(fields.data.get("variables"))
    business_key = fields.text("businessKey", max_length=params.MAX_TEXT)
    with_variables = fields.data.get("withVariablesInReturn", False)
    if not isinstance(with_variables, bool):
        raise RequestError("'withVariablesInReturn' must be true or false", field="withVariablesInReturn")
    # by key: the latest version when the instance starts (as Camunda); by id: exactly that version
    instance = get_engine().start(d.key, variables, business_key=business_key,
                                  version=None if key is not None else d.version,
                                  initiator=g.user.name if g.user else None)
    return instance_dto(instance, variables=with_variables)
