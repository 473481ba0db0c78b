"""``GET /metrics``: Prometheus text format, computed from the database at every scrape.

Every node answers with the same figures (see ``engine/metrics.py``), so Prometheus may scrape any of
them, or all of them behind one job.
"""

from __future__ import annotations

from flask import Blueprint, Response

from engine.metrics import exposition

from . import get_engine

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition(get_engine())
    return Response(body, content_type=content_type)
