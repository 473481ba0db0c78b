"""The OpenAPI 3 document of the REST API, served at ``GET /api/v1/openapi.json``.

Every blueprint module that serves ``/api/v1`` routes describes them in a module-level ``OPENAPI_PATHS``
dict (OpenAPI path items keyed by the full path, ``{name}`` for path parameters).  This module joins the
``OPENAPI_PATHS`` of every blueprint registered on the app with the shared ``components`` (the error
shape and the records: Instance, Task, Definition, HistoryEntry, Job, Incident, ...), so a new feature is
documented by registering its blueprint.  tests/test_openapi.py checks the document against the app's
URL map and runs schemathesis against the live server.

The small helpers below (:func:`operation`, :func:`errors`, :func:`json_response`, ...) keep the path
items short and alike.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from flask import Blueprint, current_app

from engine import __version__

from .openapi_schemas import SCHEMAS, ref

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

OPENAPI_VERSION = "3.0.3"

_ERROR_TEXT = {
    400: "Bad input: the body is not valid JSON, or a field or parameter is missing or of the wrong type",
    404: "Not found",
    409: "Conflicts with the current state (finished, suspended, changed by someone else at the same time)",
    422: "A variable name or value Baton cannot store",
    503: "The database is unavailable",
    401: "Not signed in: send Authorization: Bearer <token> (or a session cookie)",
    403: "Signed in, but the role does not allow this",
}
PUBLIC = {"/api/v1/health"}  # answered without signing in (see web/policy.py)


# ---- helpers for the path items of every module --------------------------------------------------------------

def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NO_CONTENT = {"204": {"description": "Done (no body)"}}


def errors(*codes: int, description: str | None = None) -> dict[str, Any]:
    """Error responses, all with the shape ``{"error": {"code", "message", "details"}}``."""
    return {str(c): json_response(ref("Error"), description or _ERROR_TEXT.get(c, "Error")) for c in codes}


def path_param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


def query_param(name: str, description: str, schema: dict[str, Any] | None = None,
                repeat: bool = False) -> dict[str, Any]:
    schema = schema or {"type": "string", "maxLength": 255}
    param = {"name": name, "in": "query", "required": False, "description": description,
             "schema": array(schema) if repeat else schema}
    if repeat:
        param.update(style="form", explode=True)
    return param


def json_request(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"application/json": {"schema": schema}, "_required": required}


def operation(summary: str, tag: str, responses: dict[str, Any], parameters: list[dict[str, Any]] | None = None,
              body: dict[str, Any] | None = None, description: str | None = None) -> dict[str, Any]:
    """One operation; ``body`` is a content map (see :func:`json_request`) or None."""
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        content = {k: v for k, v in body.items() if not k.startswith("_")}
        op["requestBody"] = {"required": body.get("_required", True), "content": content}
    return op


DEFINITION_ERRORS = errors(400, 404)
INSTANCE_ERRORS = errors(404)


# ---- the document ---------------------------------------------------------------------------------------------

def document() -> dict[str, Any]:
    """The whole document for the current app: the paths of every registered blueprint module."""
    paths: dict[str, Any] = {}
    for blueprint in current_app.blueprints.values():
        module = sys.modules.get(blueprint.import_name)
        for path, item in getattr(module, "OPENAPI_PATHS", {}).items():
            paths.setdefault(path, {}).update(copy.deepcopy(item))  # the modules' dicts stay as written
    for path, item in paths.items():
        for op in item.values():
            if path in PUBLIC:
                op["security"] = []
            else:  # the access policy answers these before any view runs
                op["responses"] = {**op["responses"], **errors(401, 403)}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Baton REST API", "version": __version__,
                 "description": "Deploy BPMN processes, run and inspect instances, work on tasks and jobs. "
                                "Errors have the shape {\"error\": {\"code\", \"message\", \"details\"}}."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (baton tokens create)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "the signed-in browser session (send X-CSRF-Token on writes)"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }


@bp.get("/openapi.json")
def openapi_json():  # type: ignore[no-untyped-def]
    return document()


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {"get": operation(
        "This OpenAPI document", "meta", responses={"200": json_response({"type": "object"})})},
}
