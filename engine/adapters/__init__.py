"""Agent adapters: one module per kind, and the few helpers they share.

- :mod:`engine.adapters.python`  - ``PythonAdapter``: a callable ``(variables, context) -> dict``.
- :mod:`engine.adapters.http`    - ``HttpAdapter``: a JSON POST to an endpoint.
- :mod:`engine.adapters.command` - ``CommandAdapter``: a command line with JSON on stdin and stdout.

What they share, defined here:

- :class:`BpmnError`: raise it (or any exception with a ``bpmn_error_code`` attribute) from a Python agent
  to throw a BPMN error that an error boundary event can catch.
- :func:`parse_result`: every adapter's answer goes through it; a dict is the output variables, and
  ``{"bpmnError": {"code": "...", "message": "...", "variables": {...}}}`` (or ``{"bpmnError": "CODE"}``)
  becomes :class:`~engine.errors.BpmnErrorRaised`.
- :func:`substitute`: ``${VAR}`` placeholders in URLs, headers, argv and env values are replaced from the
  environment at call time, so secrets never reach the database; ``$${`` is a literal ``${``.  An unset
  variable is a non-retryable :class:`~engine.errors.AgentFailure` naming it.

Adapters are built from ``baton.toml`` by :func:`engine.agents.build_adapter`; each has ``call(variables,
context)`` (see :mod:`engine.adapters.base`) and ``close()`` (releases pooled connections, if any).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import AgentFailure, BpmnErrorRaised
from .base import CallContext

__all__ = [
    "BpmnError",
    "CallContext",
    "parse_result",
    "substitute",
    "placeholder_problem",
    "encode_request",
    "tail",
    "head",
    "seconds",
]

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
DETAIL_BYTES = 4096


class BpmnError(Exception):
    """Raise from a Python agent to throw the BPMN error ``code`` (caught by an error boundary event)."""

    def __init__(self, code: str, message: str = "", variables: dict[str, Any] | None = None) -> None:
        self.bpmn_error_code = code
        self.bpmn_error_message = message
        self.bpmn_error_variables = dict(variables or {})
        super().__init__(message or code)


def substitute(text: str, environ: Mapping[str, str] | None = None, *, where: str = "") -> str:
    """``text`` with every ``${VAR}`` replaced from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            raise AgentFailure(f"malformed ${{...}} placeholder in {where or repr(text)}", retryable=False)
        if name not in env:
            raise AgentFailure(
                f"environment variable {name} is not set (needed by {where or 'the agent'})",
                retryable=False,
                variable=name,
            )
        return env[name]

    return _PLACEHOLDER.sub(repl, text)


def placeholder_problem(text: str) -> str | None:
    """Why ``text`` has a malformed ``${...}`` placeholder, or None (used when the config is loaded)."""
    for match in _PLACEHOLDER.finditer(text):
        if match.group(0) == "${" and match.group(1) is None:
            return f"{text!r} has a malformed placeholder: write ${{NAME}} with letters, digits and _"
    return None


def parse_result(data: Any, source: str) -> dict[str, Any]:
    """The output variables in an agent's answer ``data`` (``None`` = none), or raise ``BpmnErrorRaised``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AgentFailure(
            f"{source} must answer with a JSON object (a dict), not {type(data).__name__}",
            retryable=False,
            answer=head(repr(data)),
        )
    if any(not isinstance(key, str) for key in data):
        raise AgentFailure(f"{source} answered with non-string variable names", retryable=False)
    if "bpmnError" in data:
        raise _bpmn_error(data["bpmnError"], source)
    return data


def _bpmn_error(spec: Any, source: str) -> BpmnErrorRaised | AgentFailure:
    if isinstance(spec, str) and spec:
        return BpmnErrorRaised(spec)
    if isinstance(spec, dict) and isinstance(spec.get("code"), str) and spec["code"]:
        message = spec.get("message")
        variables = spec.get("variables")
        if isinstance(variables, dict):
            return BpmnErrorRaised(spec["code"], str(message) if message else None, variables)
        if variables is None:
            return BpmnErrorRaised(spec["code"], str(message) if message else None)
    return AgentFailure(
        f'{source} answered with a malformed bpmnError: expected {{"code": "...", "message": "..."}}',
        retryable=False,
        answer=head(repr(spec)),
    )


def encode_request(variables: dict[str, Any], context: CallContext) -> bytes:
    """The JSON body every remote agent receives: ``{"variables": ..., "context": ...}``."""
    try:
        return json.dumps({"variables": variables, "context": context.to_dict()}, default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise AgentFailure(f"the variables cannot be sent as JSON: {exc}", retryable=False) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def seconds(value: float) -> str:
    """``value`` seconds rounded for a message: ``1.49985`` -> ``"1.5"``, ``600.0`` -> ``"600"``."""
    return f"{round(value, 1):g}"


def tail(data: bytes | str, limit: int = DETAIL_BYTES) -> str:
    """The last ``limit`` bytes of ``data`` as text (for stderr in incidents)."""
    raw = data.encode() if isinstance(data, str) else data
    return raw[-limit:].decode("utf-8", errors="replace")


def head(data: bytes | str, limit: int = DETAIL_BYTES) -> str:
    """The first ``limit`` bytes of ``data`` as text (for response bodies and stdout in incidents)."""
    raw = data.encode() if isinstance(data, str) else data
    return raw[:limit].decode("utf-8", errors="replace")
