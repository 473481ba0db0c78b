"""Reading JSON request bodies: one place that turns bad input into a 400 naming the field."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from .errors import RequestError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body() -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``); anything else is a :class:`RequestError`."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RequestError(f"the request body must be a JSON object, not {_kind(data)}")
    _no_nul(data, "")
    return data


def _no_nul(value: Any, path: str) -> None:
    """Refuse NUL characters anywhere: PostgreSQL cannot store them (a 400 here, not a 503 later)."""
    if isinstance(value, str):
        if "\x00" in value:
            field = path or "(body)"
            raise RequestError(f"'{field}' contains a NUL character", field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, path or "(body)")
            _no_nul(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_nul(item, f"{path}[{i}]")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


class Fields:
    """Typed access to the fields of a JSON object; a missing or mistyped field is a 400 that names it."""

    def __init__(self, data: dict[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def _bad(self, name: str, problem: str) -> RequestError:
        field = f"{self.where}{name}"
        return RequestError(f"'{field}' {problem}", field=field)

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise self._bad(name, "is required")
        return value

    def text(self, name: str, required: bool = False, default: str | None = None,
             max_length: int | None = None) -> str | None:
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._bad(name, f"must be a string, not {_kind(value)}")
        if required and not value.strip():
            raise self._bad(name, "must not be empty")
        if max_length is not None and len(value) > max_length:
            raise self._bad(name, f"must be at most {max_length} characters long")
        return value

    def integer(self, name: str, required: bool = False, default: int | None = None, low: int | None = None,
                high: int | None = None) -> int | None:
        value = self._get(name, required)
        if value is None:
            return default
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, f"must be an integer, not {_kind(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise self._bad(name, f"must be {bounds} (got {value})")
        return value

    def obj(self, name: str) -> dict[str, Any]:
        value = self._get(name, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._bad(name, f"must be an object, not {_kind(value)}")
        return value

    def items(self, name: str, required: bool = False) -> list[Any] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(name, f"must be an array, not {_kind(value)}")
        if required and not value:
            raise self._bad(name, "must not be empty")
        return value

    def nested(self, name: str, index: int, value: Any) -> Fields:
        if not isinstance(value, dict):
            raise self._bad(f"{name}[{index}]", f"must be an object, not {_kind(value)}")
        return Fields(value, f"{self.where}{name}[{index}].")


def variables_of(fields: Fields) -> dict[str, Any]:
    """The ``variables`` object; every name must be a valid identifier (what the engine can store)."""
    variables = fields.obj("variables")
    for name in variables:
        if not name.isidentifier():
            raise RequestError(f"'variables.{name}' is not a valid variable name (letters, digits and _, "
                               "not starting with a digit)", field=f"variables.{name}")
    return variables
