"""Checking what a person submits for a user task against the task's form, and typing the values.

Two kinds of form come from the diagram (see ``execution.form_of``):

- Camunda ``camunda:formData``: fields of type ``string``, ``long``, ``boolean``, ``date``, ``enum`` (or a
  custom type, taken as text), with the constraints ``required``, ``minlength``, ``maxlength``, ``min``,
  ``max``, ``readonly`` and ``pattern``; a ``defaultValue`` may be an expression, evaluated when the task is
  created (:func:`with_defaults`).  Camunda Forms (``.form`` files, see ``engine.camunda_forms``) become
  such fields too, with one more type, ``number`` (whole or decimal).  Values are converted: ``long`` to
  ``int``, ``boolean`` to ``bool``, ``date`` to an ISO ``YYYY-MM-DD`` string; an enum value must be one of
  the option ids.
- SpiffArena JSON-schema forms: the values are checked with ``jsonschema`` against the inline schema.

Every problem is collected, so one :class:`FormError` names every bad field: ``details["fields"]`` maps
a field id to its message.  The same check runs for the CLI, the REST API and the task page, because
``Engine.complete_task`` calls it.  Variables that are not form fields pass through unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from .errors import FormError

log = logging.getLogger("baton.engine")
TRUE_WORDS = {"true", "on", "yes", "1"}
FALSE_WORDS = {"false", "off", "no", "0", ""}
_LONG_RANGE = (-(2**63), 2**63 - 1)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def constraints(field: dict[str, Any]) -> dict[str, str | None]:
    """A field's validation constraints by name (``{"required": None, "maxlength": "20"}``)."""
    return {v["name"]: v.get("config") for v in field.get("validation") or []}


def _to_long(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not _LONG_RANGE[0] <= value <= _LONG_RANGE[1]:
        raise ValueError("is too large for a whole number (64 bits)")
    return value


def _to_number(value: Any) -> int | float:
    """A Camunda Form ``number`` field: a whole or decimal number."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, str):
        try:
            value = float(value.strip()) if re.search(r"[.eE]", value) else int(value.strip())
        except ValueError:
            raise ValueError("must be a number") from None
    if not isinstance(value, int | float) or (isinstance(value, float) and value != value):
        raise ValueError("must be a number")
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError("must be true or false")


def _to_date(value: Any) -> str:
    """ISO ``YYYY-MM-DD`` (what a browser's date input sends), an ISO date-time, or Camunda's dd/MM/yyyy."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
                return dt.datetime.strptime(text, "%d/%m/%Y").date().isoformat()
            if len(text) == 10:
                return dt.date.fromisoformat(text).isoformat()
            return dt.datetime.fromisoformat(text).date().isoformat()
        except ValueError:
            pass
    raise ValueError("must be a date (YYYY-MM-DD)")


def convert(field: dict[str, Any], value: Any) -> Any:
    """One submitted value as the field's type; raises ``ValueError`` with the problem."""
    kind = field.get("type") or "string"
    if kind == "long":
        return _to_long(value)
    if kind == "boolean":
        return _to_bool(value)
    if kind == "number":
        return _to_number(value)
    if kind == "date":
        return _to_date(value)
    if kind == "enum":
        options = [o["id"] for o in field.get("options") or []]
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of: {', '.join(options)}")
        return value
    if kind == "string" and not isinstance(value, str):
        raise ValueError("must be text")
    if isinstance(value, dict | list):
        raise ValueError("must be a single value")
    return value  # a custom type: kept as given


def _number(config: str | None, name: str, field_id: str) -> float:
    try:
        return float(config or "")
    except ValueError:
        raise FormError(f"the form's '{name}' constraint on '{field_id}' is not a number: {config!r}",
                        fields={field_id: f"the form's {name} constraint is broken"}) from None


def check_constraints(field: dict[str, Any], value: Any) -> str | None:
    """The first constraint a typed value breaks, as a message; ``None`` when it is fine."""
    rules = constraints(field)
    fid = field["id"]
    size = len(value) if isinstance(value, str) else None
    if "minlength" in rules and size is not None and size < _number(rules["minlength"], "minlength", fid):
        return f"must be at least {rules['minlength']} characters long"
    if "maxlength" in rules and size is not None and size > _number(rules["maxlength"], "maxlength", fid):
        return f"must be at most {rules['maxlength']} characters long"
    if field.get("type") == "date":
        low, high = rules.get("min"), rules.get("max")
        if low and value < _to_date(low):
            return f"must be on or after {_to_date(low)}"
        if high and value > _to_date(high):
            return f"must be on or before {_to_date(high)}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "min" in rules and value < _number(rules["min"], "min", fid):
            return f"must be at least {rules['min']}"
        if "max" in rules and value > _number(rules["max"], "max", fid):
            return f"must be at most {rules['max']}"
    pattern = rules.get("pattern")
    if pattern and isinstance(value, str):
        try:
            matched = re.fullmatch(pattern, value) is not None
        except re.error:
            matched = True  # a broken pattern in the diagram does not block the person
        if not matched:
            return f"must match the pattern {pattern}"
    return None


def check_formdata(form: dict[str, Any], values: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The values with every form field typed; ``FormError`` naming each bad field.

    ``current`` holds the instance's variables: a read-only field keeps its value there (or its default)
    and may only be submitted unchanged.  A missing optional field with a default gets the default.
    """
    out = dict(values)
    problems: dict[str, str] = {}
    for field in form.get("fields") or []:
        fid, rules = field["id"], constraints(field)
        raw = values.get(fid)
        if "readonly" in rules:
            kept = current.get(fid, field.get("default"))
            out.pop(fid, None)
            if not _empty(raw) and not _same(field, raw, kept):
                problems[fid] = "is read-only and cannot be changed"
            continue
        if raw is None or (_empty(raw) and field.get("type") != "boolean"):
            if "required" in rules:
                problems[fid] = "is required"
                continue
            if _empty(field.get("default")):
                out.pop(fid, None)
                continue
            raw = field["default"]
        try:
            value = convert(field, raw)
        except ValueError as exc:
            problems[fid] = str(exc)
            continue
        problem = check_constraints(field, value)
        if problem:
            problems[fid] = problem
        out[fid] = value
    if problems:
        raise FormError(_summary(problems), fields=problems)
    return out


def _same(field: dict[str, Any], raw: Any, kept: Any) -> bool:
    try:
        return bool(convert(field, raw) == convert(field, kept))
    except ValueError:
        return False


def schema_problem(schema: Any) -> str | None:
    """Why a JSON schema is not usable, or ``None`` (checked when the diagram is deployed)."""
    from jsonschema import SchemaError, validators

    if not isinstance(schema, dict):
        return "the schema must be a JSON object"
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


def check_json_schema(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The values, if they satisfy the SpiffArena form's JSON schema; else ``FormError`` per field."""
    from jsonschema import validators

    validator = validators.validator_for(schema)(schema)
    problems: dict[str, str] = {}
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        if error.validator == "required" and not error.absolute_path:
            missing = [name for name in error.validator_value if name not in values]
            for name in missing:
                problems.setdefault(name, "is required")
            continue
        path = [str(p) for p in error.absolute_path]
        name = ".".join(path) or "(form)"
        problems.setdefault(name, _schema_message(error))
    if problems:
        raise FormError(_summary(problems), fields=problems)
    return values


_TYPE_WORDS = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false",
               "object": "an object", "array": "a list"}


def _schema_message(error: Any) -> str:
    """A jsonschema error in the words the Camunda checks use ("must be at most 5"), for a field's label."""
    rule, limit = error.validator, error.validator_value
    words = {
        "maximum": f"must be at most {limit}", "minimum": f"must be at least {limit}",
        "exclusiveMaximum": f"must be less than {limit}", "exclusiveMinimum": f"must be more than {limit}",
        "maxLength": f"must be at most {limit} characters long",
        "minLength": f"must be at least {limit} characters long", "pattern": f"must match the pattern {limit}",
        "enum": "must be one of: " + ", ".join(str(v) for v in limit) if isinstance(limit, list) else None,
        "type": f"must be {_TYPE_WORDS.get(str(limit), limit)}" if isinstance(limit, str) else None,
    }.get(str(rule))
    return words or str(error.message)


def with_defaults(form: dict[str, Any] | None, evaluate: Any) -> dict[str, Any] | None:
    """The form with each ``${expression}`` default replaced by its value (``evaluate(expr)``) when the task is
    created; a default whose expression fails is left out (logged), so the person fills the field in."""
    if not form or not form.get("fields"):
        return form
    fields = []
    for field in form["fields"]:
        default = field.get("default")
        if isinstance(default, str) and default.strip().startswith(("${", "#{")) and default.strip().endswith("}"):
            try:
                value = evaluate(default.strip()[2:-1].strip())
                field = {**field, "default": value if isinstance(value, str | int | float | bool) or value is None
                         else str(value)}
            except Exception as exc:  # noqa: BLE001 - a broken default must not stop the instance
                log.warning("default value %r of form field %r failed: %s", default, field.get("id"), exc)
                field = {**field, "default": None}
        fields.append(field)
    return {**form, "fields": fields}


def check(form: dict[str, Any] | None, values: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Check and type the submitted values for a task's form (``None``: no form, nothing to check)."""
    if not form:
        return values
    if form.get("json_schema"):
        values = check_json_schema(form["json_schema"], values)
    return check_formdata(form, values, current)


def _summary(problems: dict[str, str]) -> str:
    parts = [f"'{name}' {message}" for name, message in problems.items()]
    return "the form is not filled in correctly: " + "; ".join(parts)
