"""Camunda's typed variables, both ways: ``{"x": {"value": 1, "type": "Integer", "valueInfo": {}}}``.

Baton stores plain JSON values.  Coming in, each typed value is checked against its ``type`` and becomes
the JSON value (a ``Json`` or ``application/json`` ``Object`` string is parsed; a ``Date`` becomes an ISO 8601
string); a value without ``type`` is taken as it is (as Camunda does for untyped JSON values).  ``Bytes``,
``File`` and Java-serialized objects are refused with a 400 naming the variable.  Going out, each value gets
the type Camunda would report: String, Boolean, Integer (or Long beyond 32 bits), Double, Null, and Object
(``serializationDataFormat: application/json``) for objects and arrays, deserialized unless the caller asks
``deserializeValues=false`` (then the value is the JSON text).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from ..errors import RequestError

INT32 = 2**31 - 1
INT64 = 2**63 - 1
JSON_FORMAT = "application/json"
#: Camunda's date format ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` (Python's %z also reads ``+01:00`` and ``Z``)
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
UNSUPPORTED = {"bytes", "file"}


def _bad(where: str, problem: str) -> RequestError:
    return RequestError(f"'{where}' {problem}", field=where)


def _integer(value: Any, where: str, limit: int, kind: str) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise _bad(where, f"must be an {kind}, not {value[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not -limit - 1 <= value <= limit:
        raise _bad(where, f"must be an {kind} (a whole number from {-limit - 1} to {limit})")
    return value


def _double(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _bad(where, f"must be a Double, not {value[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(where, "must be a finite number (Double)")
    return float(value)


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise _bad(where, "must be true or false (Boolean)")
    return value


def parse_date(value: Any, where: str) -> str:
    """A Camunda date (``2026-01-31T12:00:00.000+0100``, or any ISO 8601 date-time) as an ISO 8601 string."""
    if not isinstance(value, str):
        raise _bad(where, "must be a date string like 2026-01-31T12:00:00.000+0100")
    try:
        parsed = dt.datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _bad(where, f"must be a date like 2026-01-31T12:00:00.000+0100 "
                              f"(yyyy-MM-dd'T'HH:mm:ss.SSSZ), not {value[:40]!r}") from None
    return parsed.isoformat(timespec="milliseconds")


def _json_text(value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value  # already JSON (what a deserialized Object or Json looks like)
    try:
        return json.loads(value)
    except ValueError as exc:
        raise _bad(where, f"is not valid JSON text: {exc}") from None


def _object(value: Any, info: dict[str, Any], where: str) -> Any:
    fmt = info.get("serializationDataFormat") or JSON_FORMAT
    if fmt != JSON_FORMAT:
        raise _bad(where, f"has serializationDataFormat {str(fmt)[:60]!r}: Baton stores only JSON "
                          "(send it as application/json, or as a Json variable)")
    return _json_text(value, where)


def typed_to_value(item: Any, where: str) -> Any:
    """One typed value ``{"value", "type"?, "valueInfo"?}`` as the plain JSON value Baton stores."""
    if not isinstance(item, dict):
        raise _bad(where, "must be an object like {\"value\": 1, \"type\": \"Integer\"}")
    value = item.get("value")
    kind = item.get("type")
    info = item.get("valueInfo") or {}
    if not isinstance(info, dict):
        raise _bad(f"{where}.valueInfo", "must be an object")
    if kind is None or kind == "":
        return value
    if not isinstance(kind, str):
        raise _bad(f"{where}.type", "must be a string such as \"String\" or \"Integer\"")
    name = kind.lower()
    if name in UNSUPPORTED:
        raise _bad(where, f"is of type {kind}: Baton stores JSON values only, not binary content (send the "
                          "content elsewhere and store its location, or base64 text as a String)")
    if value is None:
        return None  # every Camunda type may be null
    if name == "string":
        if not isinstance(value, str):
            raise _bad(where, "must be a string (type String)")
        return value
    if name in ("integer", "short"):
        return _integer(value, where, INT32 if name == "integer" else 2**15 - 1, kind)
    if name == "long":
        return _integer(value, where, INT64, "Long")
    if name == "double":
        return _double(value, where)
    if name == "boolean":
        return _boolean(value, where)
    if name == "null":
        return None
    if name == "json":
        return _json_text(value, where)
    if name == "object":
        return _object(value, info, where)
    if name == "date":
        return parse_date(value, where)
    raise _bad(f"{where}.type", f"is {kind[:40]!r}: use String, Integer, Long, Short, Double, Boolean, Null, "
                                "Json, Object or Date")


def from_camunda(data: Any, field: str = "variables") -> dict[str, Any]:
    """A Camunda variables map (``{"name": {"value", "type"}}``) as Baton variables; ``None`` is ``{}``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _bad(field, "must be an object mapping variable names to {\"value\", \"type\"}")
    out: dict[str, Any] = {}
    for name, item in data.items():
        if not name.isidentifier():
            raise _bad(f"{field}.{name}", "is not a valid variable name (letters, digits and _, not starting "
                                          "with a digit)")
        out[name] = typed_to_value(item, f"{field}.{name}")
    return out


def to_typed(value: Any, deserialize: bool = True) -> dict[str, Any]:
    """One stored value in Camunda's typed form."""
    if value is None:
        return {"type": "Null", "value": None, "valueInfo": {}}
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value, "valueInfo": {}}
    if isinstance(value, int):
        return {"type": "Integer" if -INT32 - 1 <= value <= INT32 else "Long", "value": value, "valueInfo": {}}
    if isinstance(value, float):
        return {"type": "Double", "value": value, "valueInfo": {}}
    if isinstance(value, str):
        return {"type": "String", "value": value, "valueInfo": {}}
    java = "java.util.ArrayList" if isinstance(value, list) else "java.util.LinkedHashMap"
    return {"type": "Object", "value": value if deserialize else json.dumps(value),
            "valueInfo": {"objectTypeName": java, "serializationDataFormat": JSON_FORMAT}}


def to_camunda(variables: dict[str, Any], deserialize: bool = True,
               names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Baton variables as a Camunda variables map (only ``names`` when given)."""
    chosen = variables if names is None else {n: variables[n] for n in names if n in variables}
    return {name: to_typed(value, deserialize) for name, value in chosen.items()}


def flag(raw: str | None, name: str, default: bool) -> bool:
    """A ``true``/``false`` query parameter."""
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise RequestError(f"'{name}' must be true or false, not {raw[:40]!r}", field=name)
    return raw.lower() == "true"
