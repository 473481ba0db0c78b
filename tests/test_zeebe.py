"""Camunda 8 / Zeebe diagrams: task definitions, io mappings, assignments, task headers and Camunda Forms."""

from __future__ import annotations

import json

import pytest

from engine.errors import DeploymentError, FormError, ModelError
from engine.worker import Worker

ZEEBE_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
              'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
              'xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Defs" '
              'targetNamespace="http://bpmn.io/schema/bpmn" modeler:executionPlatform="Camunda Cloud">\n')


def zeebe_process(*steps: str, pid: str = "order", extra: str = "") -> bytes:
    ids = ["start"] + [f"S{i + 1}" for i in range(len(steps))] + ["end"]
    body = ['<bpmn:startEvent id="start"/>'] + [s.replace("{id}", ids[i + 1]) for i, s in enumerate(steps)]
    body += ['<bpmn:endEvent id="end"/>']
    body += [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in
             enumerate(zip(ids, ids[1:], strict=False))]
    return (ZEEBE_HEAD + f'<bpmn:process id="{pid}" isExecutable="true">{extra}' + "".join(body)
            + "</bpmn:process></bpmn:definitions>").encode()


SERVICE = ('<bpmn:serviceTask id="{id}" name="Charge"><bpmn:extensionElements>'
           '<zeebe:taskDefinition type="charge" retries="2"/>'
           '<zeebe:taskHeaders><zeebe:header key="currency" value="EUR"/></zeebe:taskHeaders>'
           '<zeebe:ioMapping><zeebe:input source="=amount * 100" target="cents"/>'
           '<zeebe:output source="=receipt" target="receiptId"/></zeebe:ioMapping>'
           '</bpmn:extensionElements></bpmn:serviceTask>')

FORM = {
    "id": "review-form", "type": "default", "schemaVersion": 16,
    "components": [
        {"type": "text", "text": "# Review the order"},
        {"type": "textfield", "key": "comment", "label": "Comment", "validate": {"required": True, "maxLength": 20}},
        {"type": "number", "key": "discount", "label": "Discount", "validate": {"min": 0, "max": 50}},
        {"type": "checkbox", "key": "approved", "label": "Approved", "defaultValue": False},
        {"type": "select", "key": "channel", "label": "Channel",
         "values": [{"label": "Mail", "value": "mail"}, {"label": "Phone", "value": "phone"}]},
        {"type": "group", "components": [{"type": "textarea", "key": "notes", "label": "Notes"},
                                         {"type": "radio", "key": "speed", "label": "Speed",
                                          "values": [{"label": "Fast", "value": "fast"}]}]},
        {"type": "datetime", "key": "ship_on", "subtype": "date", "label": "Ship on"},
    ],
}


def user_task(definition: str = '<zeebe:formDefinition formId="review-form"/>') -> str:
    return (f'<bpmn:userTask id="{{id}}" name="Review"><bpmn:extensionElements>{definition}'
            '<zeebe:assignmentDefinition assignee="=owner" candidateGroups="sales, ops"/>'
            '<zeebe:taskSchedule dueDate="=due"/><zeebe:priorityDefinition priority="70"/>'
            '</bpmn:extensionElements></bpmn:userTask>')


def test_service_task_job_headers_and_io_mapping(eng, tmp_path, monkeypatch):
    import sys

    from engine.agents import AgentConfig

    (tmp_path / "zagents.py").write_text(
        "def charge(variables, context):\n"
        "    return {'receipt': f\"{variables['cents']}-{context.properties['currency']}\", 'noise': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eng.deploy_bytes([("order.bpmn", zeebe_process(SERVICE))])
    inst = eng.start("order", {"amount": 2})
    [job] = eng.jobs(instance_id=inst.id)
    assert job.topic == "charge" and job.max_attempts == 2
    assert job.variables == {"cents": 200} and job.properties == {"currency": "EUR"}
    try:
        Worker(eng, {"charge": AgentConfig(topic="charge", adapter="python",
                                           options={"function": "zagents:charge"})}).run_once()
    finally:
        sys.modules.pop("zagents", None)
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables == {"amount": 2, "receiptId": "200-EUR"}


def test_camunda_form_file_on_a_zeebe_user_task(eng):
    eng.deploy_bytes([("review.form", json.dumps(FORM).encode()), ("order.bpmn", zeebe_process(user_task()))])
    inst = eng.start("order", {"owner": "ann", "due": "2026-02-01T09:00:00Z"})
    [task] = eng.tasks(instance_id=inst.id)
    assert task.assignee == "ann" and task.candidate_groups == ["sales", "ops"]
    assert task.due.isoformat() == "2026-02-01T09:00:00+00:00" and task.priority == 70
    fields = {f["id"]: f for f in task.form["fields"]}
    assert list(fields) == ["comment", "discount", "approved", "channel", "notes", "speed", "ship_on"]
    assert [fields[k]["type"] for k in fields] == ["string", "number", "boolean", "enum", "string", "enum", "date"]
    assert [o["id"] for o in fields["channel"]["options"]] == ["mail", "phone"]

    with pytest.raises(FormError) as err:
        eng.complete_task(task.id, {"comment": "x" * 30, "discount": 80, "channel": "fax"})
    assert set(err.value.details["fields"]) == {"comment", "discount", "channel"}
    with pytest.raises(FormError, match="'comment' is required"):
        eng.complete_task(task.id, {"discount": 5})
    done = eng.complete_task(task.id, {"comment": "ok", "discount": "12.5", "channel": "mail",
                                       "ship_on": "2026-03-01"})
    assert done.status == "completed"
    assert done.variables["discount"] == 12.5 and done.variables["approved"] is False
    assert done.variables["ship_on"] == "2026-03-01"


def test_a_form_deployed_before_is_found_and_a_missing_one_fails_the_deployment(eng):
    with pytest.raises(ModelError, match="form id 'review-form'") as err:
        eng.deploy_bytes([("order.bpmn", zeebe_process(user_task()))])
    assert err.value.element_id == "S1" and err.value.line
    eng.deploy_bytes([("review.form", json.dumps(FORM).encode())])
    eng.deploy_bytes([("order.bpmn", zeebe_process(user_task()))])
    inst = eng.start("order", {"owner": "ann", "due": None})
    [task] = eng.tasks(instance_id=inst.id)
    assert task.form["fields"][0]["id"] == "comment"


def test_embedded_user_task_form_and_camunda7_form_key(eng):
    inline = ('<bpmn:extensionElements><zeebe:userTaskForm id="UserTaskForm_1">'
              + json.dumps({"components": [{"type": "textfield", "key": "why", "validate": {"required": True}}]})
              .replace("&", "&amp;").replace("<", "&lt;")
              + "</zeebe:userTaskForm></bpmn:extensionElements>")
    xml = zeebe_process(user_task('<zeebe:formDefinition formKey="camunda-forms:bpmn:UserTaskForm_1"/>'),
                        extra=inline)
    eng.deploy_bytes([("order.bpmn", xml)])
    [task] = eng.tasks(instance_id=eng.start("order", {"owner": "a", "due": None}).id)
    assert [f["id"] for f in task.form["fields"]] == ["why"]

    from helpers import chain, process_xml

    c7 = process_xml("c7", chain('<bpmn:userTask id="{id}" camunda:formKey="camunda-forms:deployment:review.form"/>'))
    eng.deploy_bytes([("review.form", json.dumps(FORM).encode()), ("c7.bpmn", c7)])
    [task] = eng.tasks(instance_id=eng.start("c7").id)
    assert task.form["fields"][1]["id"] == "discount"


def test_a_form_file_that_is_not_a_camunda_form_is_refused(eng):
    with pytest.raises(DeploymentError, match="not a Camunda Form") as err:
        eng.deploy_bytes([("bad.form", b'{"title": "no components"}')])
    assert err.value.file == "bad.form"


def test_a_changed_form_gives_the_process_a_new_version(eng):
    first = eng.deploy_bytes([("review.form", json.dumps(FORM).encode()), ("order.bpmn", zeebe_process(user_task()))])
    assert [d.version for d in first.definitions] == [1]
    again = eng.deploy_bytes([("review.form", json.dumps(FORM).encode()), ("order.bpmn", zeebe_process(user_task()))])
    assert [(d.version, d.new) for d in again.definitions] == [(1, False)]
    changed = {**FORM, "components": FORM["components"][:2]}
    eng.deploy_bytes([("review.form", json.dumps(changed).encode())])
    newer = eng.deploy_bytes([("order.bpmn", zeebe_process(user_task()))])
    assert [(d.version, d.new) for d in newer.definitions] == [(2, True)]
    [task] = eng.tasks(instance_id=eng.start("order", {"owner": "a", "due": None}).id)
    assert [f["id"] for f in task.form["fields"]] == ["comment"]
