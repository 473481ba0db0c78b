"""Artifacts over REST and on the instance page: list them with their history, download, attach.

``GET  /api/v1/instances/<id>/artifacts``          every artifact: ``{"name", "latest", "versions"}`` (newest first)
``GET  /api/v1/instances/<id>/artifacts/<name>``   the content of the latest version (``?version=N``: that one)
``POST /api/v1/instances/<id>/artifacts``          multipart ``file`` (and optional ``name``, default the file's
                                                   name): the next version; 201 with it (200 when the content
                                                   equals the latest version, which is then returned)
``POST /instances/<id>/artifacts``                 the instance page's upload form (operators)

Reading needs a signed-in user; attaching needs an operator, or a user to whom one of the instance's open
tasks is assigned (people who work on the instance attach what they produce).  A bad name or unknown artifact
is a 400 / 404 naming it; content above ``BATON_ARTIFACT_MAX_BYTES`` is a 413.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.datastructures import FileStorage

from engine.artifact_records import NAME_PATTERN, check_name
from engine.errors import AccessDenied, ArtifactTooLarge, BatonError, InstanceNotFound

from . import get_engine
from .errors import RequestError, status_for
from .openapi import array, errors, json_response, operation, path_param, query_param
from .openapi_schemas import ref

bp = Blueprint("artifacts", __name__)

UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and the other fields, beyond the file itself


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    """``1536`` -> ``1.5 KB`` (bytes up to 1023, then KB, MB, GB with one decimal)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB"):
        if value < 1024:
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _id(instance_id: str) -> str:
    if len(instance_id) > 36 or "\x00" in instance_id:
        raise InstanceNotFound(f"no instance has id {instance_id[:40]!r}", instance_id=instance_id[:40])
    return instance_id


def _version() -> int | None:
    raw = request.args.get("version", "")
    if raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
        raise RequestError(f"'version' must be a whole number of at least 1, not {raw[:40]!r}", field="version")
    return int(raw)


def _may_attach(instance_id: str) -> None:
    """Operators may; a user only when one of the instance's open tasks is assigned to them."""
    user = g.user
    if user.at_least("operator"):
        return
    if any(t.assignee == user.name for t in get_engine().tasks(instance_id=instance_id)):
        return
    raise AccessDenied(
        f"attaching artifacts to instance {instance_id} needs the operator role, or one of its "
        f"tasks assigned to you; {user.name} has the {user.role} role and no task of it",
        instance_id=instance_id,
    )


def _upload() -> tuple[str, bytes, str | None]:
    """(name, content, media type) of the uploaded ``file``; a 400 or 413 naming the problem."""
    if not request.content_type or not request.content_type.startswith("multipart/form-data"):
        raise RequestError("send the file as multipart/form-data (curl -F file=@openapi.json)", field="file")
    limit = get_engine().settings.artifact_max_bytes
    if (request.content_length or 0) > limit + UPLOAD_OVERHEAD:
        raise ArtifactTooLarge(
            f"the upload is {request.content_length} bytes, above the artifact size limit of "
            f"{limit} bytes (BATON_ARTIFACT_MAX_BYTES)",
            limit=limit,
        )
    upload: FileStorage | None = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise RequestError("no file was uploaded: send it in the multipart field 'file'", field="file")
        name = (request.form.get("name") or "").strip() or upload.filename.rsplit("/", 1)[-1]
        check_name(name)
        content = upload.read(limit + 1)
        if len(content) > limit:
            raise ArtifactTooLarge(
                f"artifact {name!r} is larger than the limit of {limit} bytes (BATON_ARTIFACT_MAX_BYTES)",
                name=name,
                limit=limit,
            )
        return name, content, upload.mimetype or None
    finally:
        for stored in request.files.values():
            stored.close()


@bp.get("/api/v1/instances/<instance_id>/artifacts")
def list_artifacts(instance_id: str):  # type: ignore[no-untyped-def]
    return [a.to_dict() for a in get_engine().artifacts(_id(instance_id))]


@bp.get("/api/v1/instances/<instance_id>/artifacts/<name>")
def download(instance_id: str, name: str):  # type: ignore[no-untyped-def]
    version, content = get_engine().read_artifact(_id(instance_id), check_name(name), _version())
    resp = Response(content, mimetype=version.media_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{version.name}"'
    resp.headers["ETag"] = f'"{version.sha256}"'
    resp.headers["X-Artifact-Version"] = str(version.version)
    return resp


@bp.post("/api/v1/instances/<instance_id>/artifacts")
def attach(instance_id: str):  # type: ignore[no-untyped-def]
    instance_id = _id(instance_id)
    get_engine().get_instance(instance_id)  # an unknown instance is a 404 before anything is read
    _may_attach(instance_id)
    name, content, media_type = _upload()
    before = {a.name: a.latest.version for a in get_engine().artifacts(instance_id)}
    version = get_engine().attach_artifact(instance_id, name, content, media_type, user_name=g.user.name)
    return version.to_dict(), 200 if before.get(name) == version.version else 201


@bp.post("/instances/<instance_id>/artifacts")
def attach_from_page(instance_id: str):  # type: ignore[no-untyped-def]
    from .instance_page import render

    instance_id = _id(instance_id)
    try:
        name, content, media_type = _upload()
        get_engine().attach_artifact(instance_id, name, content, media_type, user_name=g.user.name)
    except BatonError as exc:
        if isinstance(exc, InstanceNotFound):
            raise
        return render(instance_id, error=str(exc), status=status_for(exc))
    return redirect(url_for("pages.instance", instance_id=instance_id, done="artifact") + "#instance-artifacts")


_ID = path_param("instance_id", "The instance id")
_NAME = path_param("name", "The artifact's name", {"type": "string", "pattern": f"^{NAME_PATTERN}$"})
_VERSION = query_param("version", "A version number (default: the latest)", {"type": "integer", "minimum": 1})

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/instances/{instance_id}/artifacts": {
        "get": operation(
            "The artifacts of an instance: each with its latest version and its history",
            "artifacts",
            parameters=[_ID],
            responses={"200": json_response(array(ref("Artifact"))), **errors(404)},
        ),
        "post": operation(
            "Attach a file as the next version of an artifact (operators, or the assignee of one of its tasks)",
            "artifacts",
            parameters=[_ID],
            body={
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "name": {
                                "type": "string",
                                "pattern": f"^{NAME_PATTERN}$",
                                "description": "The artifact's name (default: the file's name)",
                            },
                        },
                    }
                }
            },
            responses={
                "201": json_response(ref("ArtifactVersion"), "Stored as a new version"),
                "200": json_response(
                    ref("ArtifactVersion"), "The content equals the latest version: nothing new was stored"
                ),
                **errors(400, description="Not multipart, no file, or not a valid artifact name"),
                **errors(404),
                **errors(413, description="Larger than BATON_ARTIFACT_MAX_BYTES"),
            },
        ),
    },
    "/api/v1/instances/{instance_id}/artifacts/{name}": {
        "get": operation(
            "Download an artifact (the latest version, or ?version=N)",
            "artifacts",
            parameters=[_ID, _NAME, _VERSION],
            responses={
                "200": {
                    "description": "The content, with its media type; ETag is its SHA-256",
                    # any media type: no "type", so a JSON artifact (served as application/json) fits it too
                    "content": {"*/*": {"schema": {"format": "binary", "description": "The file's bytes"}}},
                },
                **errors(400, 404),
            },
        )
    },
}
