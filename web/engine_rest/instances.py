"""``/engine-rest/process-instance``: find, read and cancel instances; read and change their variables.

Camunda lists only running instances here (finished ones live in its history API); so does Baton: the list and
the count leave out completed and cancelled instances, while ``GET /process-instance/{id}`` still answers for
them (with ``"ended": true``).  ``variables=name_eq_value,...`` filters by equality only; a value that reads as
a JSON number, ``true``, ``false`` or ``null`` is compared as that, anything else as a string.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from engine.errors import InstanceNotFound
from engine.search import InstanceFilter

from .. import get_engine
from ..bodies import Fields, json_body
from ..errors import RequestError
from . import bp, params
from .definitions import by_id, instance_dto
from .variables import flag, from_camunda, to_camunda, to_typed, typed_to_value

MAX_ID = 64


def _id(instance_id: str) -> str:
    if len(instance_id) > MAX_ID or "\x00" in instance_id:
        raise InstanceNotFound(f"process instance {instance_id[:40]!r} does not exist", instance_id=instance_id[:40])
    return instance_id


def _value(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if value is None or isinstance(value, bool | int | float) else raw


def variable_filter(raw: str | None, field: str = "variables") -> dict[str, Any]:
    """``name_eq_value`` expressions, comma separated (only ``eq``: Baton matches variables by equality)."""
    found: dict[str, Any] = {}
    for expression in (raw or "").split(","):
        if not expression:
            continue
        name, op, value = expression.partition("_eq_")
        if not op or not name:
            raise RequestError(f"'{field}' must be name_eq_value expressions separated by commas; "
                               f"{expression[:60]!r} is not (Baton supports only the eq operator)", field=field)
        found[name] = _value(value)
    return found


def _filter() -> InstanceFilter:
    ids = params.text("processInstanceIds")
    definition_id = params.text("processDefinitionId")
    key, version = params.text("processDefinitionKey"), None
    if definition_id is not None:
        d = by_id(definition_id)
        if key not in (None, d.key):
            raise RequestError("'processDefinitionId' and 'processDefinitionKey' name different processes",
                               field="processDefinitionId")
        key, version = d.key, d.version
    active, suspended = params.boolean("active"), params.boolean("suspended")
    if active and suspended:
        raise RequestError("'active' and 'suspended' cannot both be true", field="suspended")
    state = False if active else True if suspended else None
    return InstanceFilter(key=key, version=version, business_key=params.text("businessKey"),
                          variables=variable_filter(request.args.get("variables")), suspended=state,
                          unfinished=True, ids=ids.split(",") if ids else None)


@bp.get("/process-instance")
def list_instances():  # type: ignore[no-untyped-def]
    first, most = params.paging()
    found = get_engine().search_instances(_filter(), limit=most, offset=first)
    return [instance_dto(i) for i in found.items]


@bp.get("/process-instance/count")
def count_instances():  # type: ignore[no-untyped-def]
    return {"count": get_engine().search_instances(_filter(), limit=0).total}


@bp.get("/process-instance/<instance_id>")
def get_instance(instance_id: str):  # type: ignore[no-untyped-def]
    return instance_dto(get_engine().get_instance(_id(instance_id)))


@bp.delete("/process-instance/<instance_id>")
def delete_instance(instance_id: str):  # type: ignore[no-untyped-def]
    get_engine().cancel(_id(instance_id))
    return "", 204


# ---- variables ------------------------------------------------------------------------------------------------


def _deserialize() -> bool:
    return flag(request.args.get("deserializeValues"), "deserializeValues", True)


@bp.get("/process-instance/<instance_id>/variables")
def get_variables(instance_id: str):  # type: ignore[no-untyped-def]
    return to_camunda(get_engine().get_instance(_id(instance_id)).variables, _deserialize())


@bp.post("/process-instance/<instance_id>/variables")
def modify_variables(instance_id: str):  # type: ignore[no-untyped-def]
    fields = Fields(json_body())
    changes = from_camunda(fields.data.get("modifications"), "modifications")
    deletions = fields.items("deletions") or []
    for i, name in enumerate(deletions):
        if not isinstance(name, str) or not name.isidentifier():
            raise RequestError(f"'deletions[{i}]' must be a variable name", field=f"deletions[{i}]")
    get_engine().set_variables(_id(instance_id), changes, delete=deletions)
    return "", 204


def _name(name: str) -> str:
    if not name.isidentifier():
        raise RequestError(f"{name[:60]!r} is not a valid variable name", field="varName")
    return name


@bp.get("/process-instance/<instance_id>/variables/<name>")
def get_variable(instance_id: str, name: str):  # type: ignore[no-untyped-def]
    variables = get_engine().get_instance(_id(instance_id)).variables
    if _name(name) not in variables:
        raise InstanceNotFound(f"process instance {instance_id} has no variable {name!r}", variable=name)
    return to_typed(variables[name], _deserialize())


@bp.put("/process-instance/<instance_id>/variables/<name>")
def put_variable(instance_id: str, name: str):  # type: ignore[no-untyped-def]
    value = typed_to_value(json_body(), _name(name))
    get_engine().set_variables(_id(instance_id), {name: value})
    return "", 204


@bp.delete("/process-instance/<instance_id>/variables/<name>")
def delete_variable(instance_id: str, name: str):  # type: ignore[no-untyped-def]
    get_engine().set_variables(_id(instance_id), {}, delete=[_name(name)])
    return "", 204
