"""REST API under /api/v1 (this issue: health; the full API comes with the cockpit)."""

from __future__ import annotations

from flask import Blueprint

from engine import __version__
from engine.store import db

from . import get_engine
from .openapi import json_response, operation
from .openapi_schemas import ref

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """200 when the database answers and its schema is current, else 503."""
    eng = get_engine()
    try:
        current = db.current_revision(eng.db)
    except Exception as exc:  # noqa: BLE001 - any driver failure means unhealthy
        return {"status": "unavailable", "database": "unreachable", "error": str(exc).splitlines()[0]}, 503
    head = db.head_revision()
    body = {"status": "ok" if current == head else "degraded", "version": __version__,
            "database": eng.db.dialect.name, "schema": current, "schema_needed": head}
    return body, 200 if current == head else 503


OPENAPI_PATHS = {
    "/api/v1/health": {"get": operation(
        "Whether the database answers and its schema is current", "meta",
        responses={"200": json_response(ref("Health"), "Healthy"),
                   "503": json_response(ref("Health"), "The database is unreachable or its schema is not current")})},
}
