"""The Camunda 7 REST API subset under ``/engine-rest``: what external-task workers and simple clients call.

Request and response shapes are Camunda's (typed variables, ``firstResult``/``maxResults`` paging, errors as
``{"type", "message"}``); every view calls the same Engine methods as Baton's own ``/api/v1``.  One module per
resource: :mod:`.definitions` (deployment, process-definition), :mod:`.instances` (process-instance and its
variables), :mod:`.tasks` (task), :mod:`.external_tasks` (external-task), :mod:`.messages` (message, signal,
engine, version).  See docs/engine-rest.md for the table of endpoints and how they differ from Camunda.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("engine_rest", __name__, url_prefix="/engine-rest")

from . import definitions, external_tasks, instances, messages, tasks  # noqa: E402,F401  (routes on bp)
