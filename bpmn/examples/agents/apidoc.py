"""The OpenAPI documents the example agents exchange: reading one, and its operations and fields.

api-designer writes the document; backend-developer and qa-expert read it with these helpers, so that
both understand the same operations (``/RESOURCE`` and ``/RESOURCE/{id}``) and the same request fields.
"""

from __future__ import annotations

import re
from typing import Any

from agentkit import AgentError, Call, read_json

FIELD_TYPES = ("string", "integer", "number", "boolean")


def read_openapi(call: Call) -> dict[str, Any]:
    """The artifact openapi.json, checked to be an OpenAPI 3 document."""
    path = call.artifact("openapi.json")
    assert path is not None
    doc = read_json(path)
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise AgentError('openapi.json is not an OpenAPI 3 document (no "openapi": "3.x")')
    return doc


METHOD_OPERATION = {
    ("get", False): "list",
    ("post", False): "create",
    ("get", True): "get",
    ("put", True): "update",
    ("delete", True): "delete",
}


def operations(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(resource, kind, operationId) for every operation of the document except /health."""
    found = []
    for path, item in (doc.get("paths") or {}).items():
        m = re.fullmatch(r"/([a-z][a-z0-9_]*)(/\{id\})?", path)
        if path == "/health":
            continue
        if not m or not isinstance(item, dict):
            raise AgentError(f"openapi.json: the path {path!r} is not /RESOURCE or /RESOURCE/{{id}}")
        for method, op in item.items():
            if method == "parameters":
                continue
            kind = METHOD_OPERATION.get((method, m.group(2) is not None))
            if kind is None or not isinstance(op, dict) or not op.get("operationId"):
                raise AgentError(
                    f"openapi.json: {method.upper()} {path} is not an operation this agent can build "
                    f"(or has no operationId)"
                )
            found.append((m.group(1), kind, op["operationId"]))
    if not found:
        raise AgentError("openapi.json has no operations to implement")
    return found


def fields_of(doc: dict[str, Any], resource: str, operation_id: str) -> dict[str, tuple[str, bool]]:
    schemas = (doc.get("components") or {}).get("schemas") or {}
    name = next((n for n in schemas if n.endswith("Input") and operation_id.lower().endswith(n[:-5].lower())), None)
    schema = schemas.get(name or "", {})
    required = set(schema.get("required") or [])
    props = schema.get("properties") or {}
    for field, spec in props.items():
        if spec.get("type") not in FIELD_TYPES:
            raise AgentError(
                f"openapi.json: {name}.{field} has the type {spec.get('type')!r}; "
                f"the agents know {', '.join(FIELD_TYPES)}"
            )
    return {field: (spec["type"], field in required) for field, spec in props.items()}
