"""One error handler: Baton errors become JSON (API) or a readable page, with the right status code."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from engine import errors as e


class RequestError(e.BatonError):
    """The request is not valid: its body is not JSON, or a field is missing or of the wrong type."""

    code = "invalid_request"


STATUS = [
    (RequestError, 400),
    (e.AuthenticationFailed, 401),
    (e.AccessDenied, 403),
    (e.NotFoundError, 404),
    (e.ConflictError, 409),
    (e.InvalidStateError, 409),
    (e.ArtifactTooLarge, 413),
    (e.FormError, 400),  # per-field messages in details.fields
    (e.DeploymentError, 422),
    (e.VariableError, 422),
    (e.StorageError, 503),
    (e.BatonError, 400),
]


def status_for(exc: e.BatonError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _engine_rest() -> bool:
    return request.path.startswith("/engine-rest/")


def register(app: Flask) -> None:
    from .engine_rest import errors as camunda  # Camunda's error shape under /engine-rest

    @app.errorhandler(e.BatonError)
    def baton_error(exc: e.BatonError):  # type: ignore[no-untyped-def]
        if _engine_rest():
            return camunda.baton_error(exc)
        status = status_for(exc)
        if _wants_json():
            return {"error": {"code": exc.code, "message": str(exc), "details": exc.details}}, status
        return render_template("error.html", status=status, message=str(exc)), status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if _engine_rest():
            return camunda.http_error(exc)
        status = exc.code or 500
        if _wants_json():
            return {"error": {"code": exc.name.lower().replace(" ", "_"), "message": exc.description,
                              "details": {}}}, status
        return render_template("error.html", status=status, message=exc.description), status
