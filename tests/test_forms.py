"""Form validation: what a person submits for a user task is checked against the diagram's form.

Camunda ``camunda:formData`` fields (types, defaults, enum values, validation constraints) and SpiffArena
JSON-schema forms; ``Engine.complete_task`` refuses bad values with one message per field and stores
good ones typed.  Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

import pytest
from conftest import row_counts
from helpers import chain, process_xml

from engine import forms
from engine.errors import DeploymentError, FormError

FORM_FIELDS = """
<camunda:formField id="name" label="Name" type="string">
  <camunda:validation><camunda:constraint name="required"/><camunda:constraint name="minlength" config="2"/>
  <camunda:constraint name="maxlength" config="10"/></camunda:validation>
</camunda:formField>
<camunda:formField id="quantity" label="Quantity" type="long" defaultValue="1">
  <camunda:validation><camunda:constraint name="min" config="1"/><camunda:constraint name="max" config="99"/></camunda:validation>
</camunda:formField>
<camunda:formField id="urgent" label="Urgent" type="boolean"/>
<camunda:formField id="due" label="Due" type="date"/>
<camunda:formField id="size" label="Size" type="enum" defaultValue="m">
  <camunda:value id="s" name="Small"/><camunda:value id="m" name="Medium"/><camunda:value id="l" name="Large"/>
</camunda:formField>
<camunda:formField id="code" label="Code" type="string">
  <camunda:validation><camunda:constraint name="pattern" config="[A-Z]{2}-[0-9]+"/></camunda:validation>
</camunda:formField>
<camunda:formField id="region" label="Region" type="string" defaultValue="EU">
  <camunda:validation><camunda:constraint name="readonly"/></camunda:validation>
</camunda:formField>
"""


def form_task(fields: str = FORM_FIELDS) -> str:
    return (f'<bpmn:userTask id="{{id}}" name="Order"><bpmn:extensionElements><camunda:formData>{fields}'
            '</camunda:formData></bpmn:extensionElements></bpmn:userTask>')


def schema_task(schema: dict | str, filename: str | None = None) -> str:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    props = f'<spiffworkflow:property name="formJsonSchema" value={quoteattr(text)}/>'
    if filename:
        props = f'<spiffworkflow:property name="formJsonSchemaFilename" value="{filename}"/>'
    return (f'<bpmn:userTask id="{{id}}" name="Survey"><bpmn:extensionElements><spiffworkflow:properties>{props}'
            '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


def spiff_xml(pid: str, body: str) -> bytes:
    return process_xml(pid, body).replace(
        b'xmlns:camunda=', b'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" xmlns:camunda=')


SCHEMA = {"type": "object", "required": ["rating", "email"], "properties": {
    "rating": {"type": "integer", "minimum": 1, "maximum": 5, "title": "Rating"},
    "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
    "color": {"type": "string", "enum": ["red", "green"]}}}


def started_task(engine, body: str, pid: str = "orders", variables: dict | None = None, spiff: bool = False):
    xml = spiff_xml(pid, chain(body)) if spiff else process_xml(pid, chain(body))
    engine.deploy_bytes([(f"{pid}.bpmn", xml)])
    inst = engine.start(pid, variables or {})
    (task,) = engine.get_instance(inst.id).tasks
    return inst, task


def test_the_form_reaches_the_task_with_types_defaults_options_and_constraints(engine):
    _, task = started_task(engine, form_task())
    fields = {f["id"]: f for f in task.form["fields"]}
    assert [f["type"] for f in task.form["fields"]] == ["string", "long", "boolean", "date", "enum", "string", "string"]
    assert fields["quantity"]["default"] == "1" and fields["size"]["options"][0] == {"id": "s", "name": "Small"}
    assert forms.constraints(fields["name"]) == {"required": None, "minlength": "2", "maxlength": "10"}


def test_bad_values_are_refused_with_one_message_per_field_and_nothing_is_stored(engine):
    inst, task = started_task(engine, form_task())
    before = row_counts(engine)
    with pytest.raises(FormError) as caught:
        engine.complete_task(task.id, {"name": "x", "quantity": "100", "urgent": "perhaps", "due": "31.12.2025",
                                       "size": "xl", "code": "ab-1", "region": "US"})
    assert caught.value.details["fields"] == {
        "name": "must be at least 2 characters long",
        "quantity": "must be at most 99",
        "urgent": "must be true or false",
        "due": "must be a date (YYYY-MM-DD)",
        "size": "must be one of: s, m, l",
        "code": "must match the pattern [A-Z]{2}-[0-9]+",
        "region": "is read-only and cannot be changed",
    }
    assert "'name' must be at least 2 characters long" in caught.value.message
    assert row_counts(engine) == before
    assert engine.get_instance(inst.id).status == "waiting"


def test_a_missing_required_field_is_named(engine):
    _, task = started_task(engine, form_task())
    with pytest.raises(FormError) as caught:
        engine.complete_task(task.id, {"quantity": 3})
    assert caught.value.details["fields"] == {"name": "is required"}
    with pytest.raises(FormError):
        engine.complete_task(task.id, {"name": "   "})


def test_good_values_are_stored_typed_and_defaults_fill_the_gaps(engine):
    inst, task = started_task(engine, form_task())
    done = engine.complete_task(task.id, {"name": "Ada", "quantity": "12", "urgent": "true", "due": "24/12/2025",
                                          "code": "AB-12", "region": "EU", "note": "not a form field"})
    assert done.status == "completed"
    assert done.variables == {"name": "Ada", "quantity": 12, "urgent": True, "due": "2025-12-24", "size": "m",
                              "code": "AB-12", "note": "not a form field"}
    completed = [h for h in engine.history(inst.id) if h.event == "activity_completed" and h.element_id == "S1"]
    assert completed[0].details["variables"]["quantity"] == 12


def test_date_limits_and_a_too_large_number(engine):
    fields = """<camunda:formField id="when" type="date"><camunda:validation>
      <camunda:constraint name="min" config="2025-01-01"/><camunda:constraint name="max" config="2025-12-31"/>
      </camunda:validation></camunda:formField>
      <camunda:formField id="count" type="long"/>"""
    _, task = started_task(engine, form_task(fields))
    with pytest.raises(FormError) as caught:
        engine.complete_task(task.id, {"when": "2026-01-01", "count": 2**64})
    assert caught.value.details["fields"] == {"when": "must be on or before 2025-12-31",
                                              "count": "is too large for a whole number (64 bits)"}
    assert engine.complete_task(task.id, {"when": "2025-06-01T10:00:00", "count": 7}).variables == {
        "when": "2025-06-01", "count": 7}


def test_a_json_schema_form_checks_the_values_with_jsonschema(engine):
    inst, task = started_task(engine, schema_task(SCHEMA), pid="survey", spiff=True)
    assert task.form["json_schema"] == SCHEMA and task.form["fields"] == []
    with pytest.raises(FormError) as caught:
        engine.complete_task(task.id, {"rating": 9, "color": "blue"})
    fields = caught.value.details["fields"]
    assert fields["email"] == "is required"
    assert fields["rating"] == "must be at most 5"
    assert fields["color"] == "must be one of: red, green"
    assert engine.complete_task(task.id, {"rating": 4, "email": "a@b.c"}).variables == {"rating": 4, "email": "a@b.c"}
    assert engine.get_instance(inst.id).status == "completed"


def test_a_json_schema_in_a_separate_file_is_named_but_not_checked(engine):
    _, task = started_task(engine, schema_task({}, filename="survey-schema.json"), pid="survey_file", spiff=True)
    assert task.form["json_schema_file"] == "survey-schema.json" and task.form["json_schema"] is None
    assert engine.complete_task(task.id, {"anything": 1}).status == "completed"


@pytest.mark.parametrize("schema, problem", [
    ("{not json", "formJsonSchema is not valid JSON"),
    ({"type": "object", "properties": {"x": {"type": "whole"}}}, "formJsonSchema is not a valid JSON schema"),
])
def test_a_broken_inline_schema_is_refused_at_deploy_with_the_element(engine, schema, problem):
    xml = spiff_xml("broken", chain(schema_task(schema)))
    with pytest.raises(DeploymentError) as caught:
        engine.deploy_bytes([("broken.bpmn", xml)])
    assert problem in caught.value.message and caught.value.details["element_id"] == "S1"


def test_a_task_without_a_form_takes_any_variables(engine):
    _, task = started_task(engine, '<bpmn:userTask id="{id}" name="Plain"/>')
    assert task.form is None
    assert engine.complete_task(task.id, {"free": [1, 2]}).variables == {"free": [1, 2]}


def test_the_approval_example_refuses_a_non_boolean_answer(engine):
    from conftest import EXAMPLES

    engine.deploy([EXAMPLES / "approval.bpmn"])
    inst = engine.start("approval", {"amount": 500})
    task = engine.get_instance(inst.id).tasks[0]
    with pytest.raises(FormError, match="'approved' must be true or false"):
        engine.complete_task(task.id, {"approved": "maybe"})
    assert engine.complete_task(task.id, {"approved": "false"}).variables["status"] == "rejected"


# ---- the checks alone ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, raw, value", [
    ("long", " 42 ", 42), ("long", 3.0, 3), ("boolean", "on", True), ("boolean", "0", False),
    ("date", "2025-02-03", "2025-02-03"), ("date", "3/2/2025", "2025-02-03"), ("color", 12, 12),
])
def test_values_convert_to_their_type(kind, raw, value):
    assert forms.convert({"id": "x", "type": kind}, raw) == value


@pytest.mark.parametrize("kind, raw", [("long", "4.5"), ("long", True), ("boolean", "maybe"), ("date", "2025-13-01"),
                                       ("string", 5), ("color", {"a": 1})])
def test_values_that_do_not_convert(kind, raw):
    with pytest.raises(ValueError):
        forms.convert({"id": "x", "type": kind}, raw)
