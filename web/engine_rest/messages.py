"""``/engine-rest/message``, ``/engine-rest/signal``, and ``/engine``, ``/version`` for clients that probe.

``correlationKeys`` (and ``localCorrelationKeys``) are process variables the receiving instance must have, as
in Camunda; ``all`` delivers to every matching instance.  No instance or start event waiting for the message is
a 400, as in Camunda.  ``processInstanceId`` is refused with a 400: Baton correlates by business key and
variables only.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from engine.events import Correlation

from .. import get_engine
from ..bodies import Fields, json_body
from ..errors import RequestError
from . import bp, params
from .definitions import instance_dto
from .variables import from_camunda, to_camunda

#: the Camunda REST API level this subset follows
CAMUNDA_API_VERSION = "7.22.0"


def _flag(fields: Fields, name: str) -> bool:
    value = fields.data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(f"'{name}' must be true or false", field=name)
    return value


def _results(found: Correlation, with_variables: bool) -> list[dict[str, Any]]:
    engine = get_engine()
    out: list[dict[str, Any]] = []
    for instance_id in found.started:
        instance = engine.get_instance(instance_id)
        item: dict[str, Any] = {"resultType": "ProcessDefinition", "execution": None,
                                "processInstance": instance_dto(instance)}
        if with_variables:
            item["variables"] = to_camunda(instance.variables)
        out.append(item)
    for instance_id in found.delivered_to:
        instance = engine.get_instance(instance_id)
        item = {"resultType": "Execution", "processInstance": None,
                "execution": {"id": instance_id, "processInstanceId": instance_id,
                              "ended": instance.status in ("completed", "cancelled"), "tenantId": None}}
        if with_variables:
            item["variables"] = to_camunda(instance.variables)
        out.append(item)
    return out


@bp.post("/message")
def correlate():  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    name = fields.text("messageName", required=True, max_length=params.MAX_TEXT) or ""
    if fields.data.get("processInstanceId") is not None:
        raise RequestError("'processInstanceId' is not supported by Baton: correlate by 'businessKey' or "
                           "'correlationKeys' (process variables the instance must have)", field="processInstanceId")
    match = {**from_camunda(fields.data.get("correlationKeys"), "correlationKeys"),
             **from_camunda(fields.data.get("localCorrelationKeys"), "localCorrelationKeys")}
    variables = {**from_camunda(fields.data.get("processVariables"), "processVariables"),
                 **from_camunda(fields.data.get("processVariablesLocal"), "processVariablesLocal")}
    deliver_all = _flag(fields, "all")
    result_enabled, with_variables = _flag(fields, "resultEnabled"), _flag(fields, "variablesInResultEnabled")
    found = get_engine().correlate_message(name, business_key=fields.text("businessKey", max_length=params.MAX_TEXT),
                                           variables=variables, match=match, deliver_all=deliver_all)
    if result_enabled:
        return _results(found, with_variables)
    return "", 204


@bp.post("/signal")
def signal():  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    name = fields.text("name", required=True, max_length=params.MAX_TEXT) or ""
    if fields.data.get("executionId") is not None:
        raise RequestError("'executionId' is not supported by Baton: a signal goes to every waiting instance",
                           field="executionId")
    get_engine().broadcast_signal(name, from_camunda(fields.data.get("variables")))
    return "", 204


@bp.get("/engine")
def engines():  # type: ignore[no-untyped-def]
    return [{"name": "default"}]


@bp.get("/version")
def api_version():  # type: ignore[no-untyped-def]
    try:
        baton = version("baton")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        baton = None
    return {"version": CAMUNDA_API_VERSION, "product": "Baton", "batonVersion": baton}
