#!/usr/bin/env python3
"""api-designer: turns a feature request into an OpenAPI 3 document (artifact ``openapi.json``).

Input variables:
  feature_request   the resources and their operations, e.g.
                    "books(title, author, year:integer, isbn?): list, create, get, update, delete;
                     authors(name): list, get"
                    fields: NAME[:TYPE][?]  (TYPE string|integer|number|boolean, default string; ? = optional;
                    no fields = one required "name"); operations: list, create, get, update, delete (or crud)
  review_comments   the reviewer's comments when the design was sent back (optional), one change a sentence:
                    "add field isbn to books", "add field pages:integer to books", "remove field year from books",
                    "make author optional on books", "add delete to authors", "remove update from books",
                    "add resource reviews(text, stars:integer): list, create"
  design_comments   the comments applied in earlier rounds (this agent's own output, carried along)
  api_title         the API's title (optional, default "Feature service")

Outputs: design_summary, api_operations (count), design_comments (all applied so far), design_notes
(what each comment changed, or that it was not understood), review_comments ("" for the next review).
Artifact written: openapi.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agentkit import AgentError, Call, main, write_json

OPERATIONS = ("list", "create", "get", "update", "delete")
SYNONYMS = {
    "read": "get",
    "show": "get",
    "fetch": "get",
    "add": "create",
    "post": "create",
    "edit": "update",
    "put": "update",
    "patch": "update",
    "remove": "delete",
    "index": "list",
    "search": "list",
}
TYPES = {
    "string": "string",
    "str": "string",
    "text": "string",
    "integer": "integer",
    "int": "integer",
    "number": "number",
    "float": "number",
    "decimal": "number",
    "boolean": "boolean",
    "bool": "boolean",
}
_NAME = r"[A-Za-z][A-Za-z0-9_]*"
_RESOURCE = re.compile(rf"^\s*({_NAME})\s*(?:\((.*?)\))?\s*:\s*(.+?)\s*$", re.S)


@dataclass
class Field:
    name: str
    type: str = "string"
    required: bool = True


@dataclass
class Resource:
    name: str
    fields: list[Field] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return singular(self.name)[:1].upper() + singular(self.name)[1:]

    def field_named(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith("ses") or word.endswith("xes"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def parse_field(text: str, where: str) -> Field:
    m = re.fullmatch(rf"\s*({_NAME})\s*(?::\s*([A-Za-z]+))?\s*(\?)?\s*", text)
    if not m:
        raise AgentError(f"{where}: cannot read the field {text.strip()!r}; write NAME, NAME:TYPE or NAME?")
    kind = (m.group(2) or "string").lower()
    if kind not in TYPES:
        raise AgentError(
            f"{where}: field {m.group(1)!r} has the unknown type {kind!r}; use one of string, integer, number, boolean"
        )
    return Field(m.group(1), TYPES[kind], m.group(3) is None)


def parse_operations(text: str, where: str) -> list[str]:
    found: list[str] = []
    for word in re.split(r"[\s,/&]+|\band\b", text.lower()):
        if not word:
            continue
        if word in ("crud", "all"):
            found.extend(OPERATIONS)
            continue
        op = SYNONYMS.get(word, word)
        if op not in OPERATIONS:
            raise AgentError(f"{where}: unknown operation {word!r}; use {', '.join(OPERATIONS)} (or crud)")
        found.append(op)
    return [op for op in OPERATIONS if op in found]


def parse_resource(text: str, where: str) -> Resource:
    m = _RESOURCE.match(text)
    if not m:
        raise AgentError(
            f"{where}: cannot read {text.strip()!r}; write RESOURCE(field, field:TYPE): operations, "
            f"e.g. 'books(title, year:integer): list, create, get'"
        )
    name = m.group(1).lower()
    fields = [parse_field(f, f"{where}, resource {name!r}") for f in (m.group(2) or "").split(",") if f.strip()]
    fields = fields or [Field("name")]
    if len({f.name for f in fields}) != len(fields):
        raise AgentError(f"{where}, resource {name!r}: a field is named twice")
    operations = parse_operations(m.group(3), f"{where}, resource {name!r}")
    if not operations:
        raise AgentError(f"{where}, resource {name!r}: no operations given")
    return Resource(name, fields, operations)


def parse_request(text: str) -> list[Resource]:
    parts = [p for p in re.split(r"[;\n]", text) if p.strip()]
    if not parts:
        raise AgentError(
            "feature_request is empty; describe resources and operations, "
            "e.g. 'books(title, author): list, create, get'"
        )
    resources: dict[str, Resource] = {}
    for part in parts:
        res = parse_resource(part, "feature_request")
        if res.name in resources:
            raise AgentError(f"feature_request: the resource {res.name!r} is described twice")
        resources[res.name] = res
    return list(resources.values())


# ---- review comments --------------------------------------------------------------------------------------


def _resource(resources: list[Resource], name: str) -> Resource:
    found = next((r for r in resources if r.name == name.lower()), None)
    if found is None:
        raise LookupError(f"there is no resource {name!r}")
    return found


def apply_comment(resources: list[Resource], sentence: str) -> str:
    """Apply one review sentence; returns what changed (LookupError/ValueError when it cannot)."""
    s = sentence.strip().rstrip(".!").strip()
    low = s.lower()
    if m := re.fullmatch(r"(?:please\s+)?add (?:a |an )?(?:new )?resource (.+)", s, re.I | re.S):
        res = parse_resource(m.group(1), "review comment")
        if any(r.name == res.name for r in resources):
            raise ValueError(f"the resource {res.name!r} exists already")
        resources.append(res)
        return f"added resource {res.name}"
    if m := re.fullmatch(
        rf"(?:please\s+)?add (?:an? )?(optional |required )?field ({_NAME}(?:\s*:\s*[a-z]+)?)"
        rf" (?:to|on|in) ({_NAME})",
        low,
    ):
        res = _resource(resources, m.group(3))
        new = parse_field(m.group(2), "review comment")
        new.required = m.group(1) != "optional "
        if res.field_named(new.name):
            raise ValueError(f"{res.name} has a field {new.name!r} already")
        res.fields.append(new)
        return f"added field {new.name} ({new.type}) to {res.name}"
    if m := re.fullmatch(rf"(?:please\s+)?(?:remove|drop) (?:the )?field ({_NAME}) from ({_NAME})", low):
        res = _resource(resources, m.group(2))
        if not res.field_named(m.group(1)) or len(res.fields) == 1:
            raise ValueError(f"{res.name} has no field {m.group(1)!r} to remove (or it is the only one)")
        res.fields = [f for f in res.fields if f.name != m.group(1)]
        return f"removed field {m.group(1)} from {res.name}"
    if m := re.fullmatch(rf"(?:please\s+)?make ({_NAME}) (optional|required) (?:on|in|for) ({_NAME})", low):
        res = _resource(resources, m.group(3))
        target = res.field_named(m.group(1))
        if target is None:
            raise ValueError(f"{res.name} has no field {m.group(1)!r}")
        target.required = m.group(2) == "required"
        return f"made {res.name}.{target.name} {m.group(2)}"
    if m := re.fullmatch(
        rf"(?:please\s+)?(add|remove|drop) (?:the )?(?:operations? )?(.+?) (?:to|from|on) ({_NAME})", low
    ):
        res = _resource(resources, m.group(3))
        ops = parse_operations(m.group(2), "review comment")
        if m.group(1) == "add":
            res.operations = [op for op in OPERATIONS if op in res.operations or op in ops]
            return f"added {', '.join(ops)} to {res.name}"
        left = [op for op in res.operations if op not in ops]
        if not left:
            raise ValueError(f"{res.name} would have no operations left")
        res.operations = left
        return f"removed {', '.join(ops)} from {res.name}"
    raise ValueError("not understood")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!;])\s+|\n|;", text) if s.strip().rstrip(".!").strip()]


# ---- the OpenAPI document ---------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(
    op_id: str, tags: list[str], summary: str, responses: dict[str, Any], body: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"operationId": op_id, "tags": tags, "summary": summary}
    if body is not None:
        found["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return {**found, "responses": responses}


def openapi(resources: list[Resource], title: str, version: str) -> dict[str, Any]:
    error = _json(_ref("Error"), "")
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    }
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness probe",
                "responses": {"200": _json({"type": "object"}, "The service is up")},
            }
        }
    }
    for res in resources:
        props = {f.name: {"type": f.type} for f in res.fields}
        required = [f.name for f in res.fields if f.required]
        schemas[f"{res.schema}Input"] = {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
        schemas[res.schema] = {
            "type": "object",
            "required": ["id", *required],
            "properties": {"id": {"type": "integer", "readOnly": True}, **props},
        }
        one, item_path, tag, noun = res.schema, f"/{res.name}/{{id}}", [res.name], article(singular(res.name))
        invalid = {
            **error,
            "description": f"The {singular(res.name)} is not valid (a field missing or of the wrong type)",
        }
        missing = {**error, "description": f"No {singular(res.name)} with this id"}
        collection: dict[str, Any] = {}
        item: dict[str, Any] = {}
        body = f"{one}Input"
        if "list" in res.operations:
            list_of = _json({"type": "array", "items": _ref(one)}, f"All {res.name}")
            collection["get"] = _operation(f"list{one}s", tag, f"List {res.name}", {"200": list_of})
        if "create" in res.operations:
            created = {"201": _json(_ref(one), "Created"), "422": invalid}
            collection["post"] = _operation(f"create{one}", tag, f"Create {noun}", created, body)
        if "get" in res.operations:
            item["get"] = _operation(
                f"get{one}", tag, f"Get {noun}", {"200": _json(_ref(one), "Found"), "404": missing}
            )
        if "update" in res.operations:
            updated = {"200": _json(_ref(one), "Updated"), "404": missing, "422": invalid}
            item["put"] = _operation(f"update{one}", tag, f"Replace {noun}", updated, body)
        if "delete" in res.operations:
            deleted = {"204": {"description": "Deleted"}, "404": missing}
            item["delete"] = _operation(f"delete{one}", tag, f"Delete {noun}", deleted)
        id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
        if collection:
            paths[f"/{res.name}"] = collection
        if item:
            paths[item_path] = {"parameters": id_param, **item}
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def design(call: Call) -> dict[str, Any]:
    resources = parse_request(call.text("feature_request"))
    earlier = call.variables.get("design_comments") or []
    if not isinstance(earlier, list) or not all(isinstance(c, str) for c in earlier):
        raise AgentError("the variable 'design_comments' must be a list of texts")
    applied: list[str] = []
    notes: list[str] = []
    for comment in earlier:  # the changes accepted in earlier rounds, replayed in order
        apply_comment(resources, comment)
        applied.append(comment)
    for sentence in sentences(call.text("review_comments")):
        try:
            change = apply_comment(resources, sentence)
        except (LookupError, ValueError, AgentError) as exc:
            notes.append(f"{sentence!r}: {str(exc).removeprefix('review comment: ')}, left unchanged")
        else:
            applied.append(sentence)
            notes.append(f"{sentence!r}: {change}")
    doc = openapi(resources, call.text("api_title") or "Feature service", f"1.0.{len(applied)}")
    write_json(call.out / "openapi.json", doc)
    count = sum(1 for p in doc["paths"].values() for k in p if k != "parameters") - 1
    summary = "; ".join(
        f"{r.name}({', '.join(f.name + ('' if f.required else '?') for f in r.fields)}): {', '.join(r.operations)}"
        for r in resources
    )
    return {
        "design_summary": summary,
        "api_operations": count,
        "design_comments": applied,
        "design_notes": notes,
        "review_comments": "",
    }


if __name__ == "__main__":
    main(__doc__, design)
