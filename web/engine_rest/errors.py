"""Errors in Camunda's shape: ``{"type": "InvalidRequestException", "message": "..."}`` with Camunda's codes.

Bad input is a 400 (never a 500), a missing instance, task, job or definition a 404, a job locked by another
worker a 400 (as Camunda answers), a deployment Baton cannot run a 400 ``ParseException`` that names the file,
line and element in ``details``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException

from engine import errors as e

from ..errors import RequestError

#: (Baton error class, HTTP status, Camunda exception type); the first match decides
MAPPING: list[tuple[type[e.BatonError], int, str]] = [
    (RequestError, 400, "InvalidRequestException"),
    (e.AuthenticationFailed, 401, "AuthenticationException"),
    (e.AccessDenied, 403, "AuthorizationException"),
    (e.NoSubscription, 400, "RestException"),  # Camunda: MismatchingMessageCorrelationException, a 400
    (e.NotFoundError, 404, "InvalidRequestException"),
    (e.ConcurrentModification, 409, "OptimisticLockingException"),
    (e.TaskClaimed, 400, "TaskAlreadyClaimedException"),
    (e.ConflictError, 400, "InvalidRequestException"),
    (e.InvalidStateError, 400, "BadUserRequestException"),
    (e.DeploymentError, 400, "ParseException"),
    (e.VariableError, 400, "InvalidRequestException"),
    (e.StorageError, 503, "ProcessEngineException"),
    (e.BatonError, 400, "ProcessEngineException"),
]


def baton_error(exc: e.BatonError) -> tuple[dict[str, Any], int]:
    status, kind = next((s, k) for cls, s, k in MAPPING if isinstance(exc, cls))
    body: dict[str, Any] = {"type": kind, "message": str(exc), "code": exc.code}
    if exc.details:
        body["details"] = exc.details
    return body, status


def http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
    status = exc.code or 500
    kind = "InvalidRequestException" if status < 500 else "RestException"
    return {"type": kind, "message": exc.description or exc.name}, status
