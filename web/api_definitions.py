"""REST API for deploying and reading process definitions.

``POST /api/v1/deployments``                       multipart upload of .bpmn/.dmn files, all or nothing
                                                   (``stubUnsupported=true``: Java delegates become jobs)
                                                   (``drawing=true``: import as drawings, never run)
``GET  /api/v1/definitions``                       every process with its versions
``GET  /api/v1/definitions/<key>``                 the latest version (``?version=`` for another)
``GET  /api/v1/definitions/<key>/versions/<n>``    one version
``GET  /api/v1/definitions/<key>/xml``             the deployed file (``?version=``), as application/xml

A model Baton cannot deploy is a 400 whose ``details`` name the ``file``, ``line`` and ``element_id``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from engine.errors import DefinitionNotFound, DeploymentError

from . import get_engine
from .errors import RequestError
from .openapi import DEFINITION_ERRORS, array, errors, json_response, operation, path_param, query_param
from .openapi_schemas import ref

bp = Blueprint("api_definitions", __name__, url_prefix="/api/v1")

SUFFIXES = (".bpmn", ".dmn", ".bpmn20.xml", ".form")
MAX_FILES = 50
MAX_KEY = 255


def _key(key: str) -> str:
    """A key no process can have is simply not found (never a database error over a NUL or a long text)."""
    if len(key) > MAX_KEY or "\x00" in key:
        raise DefinitionNotFound(f"no process '{key[:40]}' is deployed", key=key[:40])
    return key


def version_arg() -> int | None:
    raw = request.args.get("version")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise RequestError(f"'version' must be a whole number of at least 1, not {raw[:40]!r}", field="version")
    return int(raw)


@bp.post("/deployments")
def deploy():  # type: ignore[no-untyped-def]
    if not request.content_type or not request.content_type.startswith("multipart/form-data"):
        raise RequestError("send the files as multipart/form-data (curl -F file=@order.bpmn)", field="file")
    limit = get_engine().settings.max_xml_bytes
    if (request.content_length or 0) > limit * MAX_FILES:
        raise RequestEntityTooLarge(f"a deployment is at most {MAX_FILES} files of {limit} bytes each")
    every = [f for name in request.files for f in request.files.getlist(name)]
    try:
        uploads = [f for f in every if f.filename]
        if not uploads:
            raise RequestError("no file was uploaded: add one or more .bpmn or .dmn files", field="file")
        files = [_read(upload, limit) for upload in uploads]
    finally:
        for upload in every:  # large uploads are spooled to temporary files
            upload.close()
    source = request.form.get("source", "api")[:200].replace("\x00", "") or "api"
    try:
        result = get_engine().deploy_bytes(files, source=source, stub_unsupported=_flag("stubUnsupported"),
                                           drawing=_flag("drawing"))
    except DeploymentError as exc:
        return {"error": {"code": exc.code, "message": str(exc), "details": exc.details}}, 400
    return result.to_dict(), 201 if result.changed else 200


def _flag(name: str) -> bool:
    """A true/false option of the deploy request, as a form field or in the query string."""
    value = (request.form.get(name) or request.args.get(name) or "").lower()
    if value not in ("", "true", "false"):
        raise RequestError(f"'{name}' must be true or false", field=name)
    return value == "true"


def _read(upload: Any, limit: int) -> tuple[str, bytes]:
    name = upload.filename or ""
    if "\x00" in name or not name.lower().endswith(SUFFIXES):
        raise RequestError(f"'{name[:100]}' is not a .bpmn, .dmn or .form file", field="file", file=name[:100])
    content = upload.read(limit + 1)
    if len(content) > limit:
        raise RequestError(f"'{name[:100]}' is larger than {limit} bytes (BATON_MAX_XML_BYTES)", field="file",
                           file=name[:100])
    return name, content


@bp.get("/definitions")
def list_definitions():  # type: ignore[no-untyped-def]
    grouped: dict[str, dict[str, Any]] = {}
    for d in get_engine().definitions():
        item = grouped.setdefault(d.key, {"key": d.key, "versions": []})
        item.update(name=d.name, latest_version=d.version)  # listed oldest first: the last one is the latest
        item["versions"].append(d.to_dict())
    return list(grouped.values())


@bp.get("/definitions/<key>")
def get_definition(key: str):  # type: ignore[no-untyped-def]
    return get_engine().get_definition(_key(key), version_arg()).to_dict()


@bp.get("/definitions/<key>/versions/<int:version>")
def get_version(key: str, version: int):  # type: ignore[no-untyped-def]
    if version > 2**31 - 1:
        raise DefinitionNotFound(f"no version {version} of process '{key[:40]}' is deployed", key=key[:40])
    return get_engine().get_definition(_key(key), version).to_dict()


@bp.get("/definitions/<key>/xml")
def get_xml(key: str):  # type: ignore[no-untyped-def]
    xml = get_engine().definition_xml(_key(key), version_arg())
    return Response(xml, mimetype="application/xml")


_KEY = path_param("key", "The process id in the diagram")
_STUB = query_param("stubUnsupported", "true: Java delegates, Groovy/JavaScript scripts and connectors become "
                    "external tasks (listed in warnings) instead of failing the deployment (docs/camunda.md)",
                    {"type": "string", "enum": ["true", "false"]})
_DRAWING = query_param("drawing", "true: import every process as a drawing (checked as XML, schema and references, "
                      "shown in the cockpit, never started), for a model that cannot run as it stands",
                      {"type": "string", "enum": ["true", "false"]})
_VERSION = query_param("version", "A version number (default: the latest)", {"type": "integer", "minimum": 1})

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/deployments": {"post": operation(
        "Deploy .bpmn and .dmn files (all or nothing)", "definitions",
        parameters=[_STUB, _DRAWING],
        body={"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                           "source": {"type": "string", "maxLength": 200},
                           "stubUnsupported": _STUB["schema"], "drawing": _DRAWING["schema"]}}}},
        responses={"201": json_response(ref("DeployResult"), "Deployed: new versions were stored"),
                   "200": json_response(ref("DeployResult"), "Nothing changed: every file was deployed before"),
                   **errors(400, description="Not multipart, not a .bpmn/.dmn file, or the model is not valid "
                                             "(details: file, line, element_id)"),
                   **errors(413, description="The upload is larger than 50 files of BATON_MAX_XML_BYTES")},
    )},
    "/api/v1/definitions": {"get": operation(
        "Every deployed process with its versions", "definitions",
        responses={"200": json_response(array(ref("ProcessVersions")), "Processes, by key")},
    )},
    "/api/v1/definitions/{key}": {"get": operation(
        "One process definition: the latest version, or ?version=", "definitions", parameters=[_KEY, _VERSION],
        responses={"200": json_response(ref("Definition")), **DEFINITION_ERRORS},
    )},
    "/api/v1/definitions/{key}/versions/{version}": {"get": operation(
        "One version of a process definition", "definitions",
        parameters=[_KEY, path_param("version", "The version number", {"type": "integer", "minimum": 1})],
        responses={"200": json_response(ref("Definition")), **errors(404)},
    )},
    "/api/v1/definitions/{key}/xml": {"get": operation(
        "The deployed BPMN file of a version", "definitions", parameters=[_KEY, _VERSION],
        responses={"200": {"description": "The BPMN XML",
                           "content": {"application/xml": {"schema": {"type": "string"}}}},
                   **DEFINITION_ERRORS},
    )},
}
