"""Java delegates, Groovy/JavaScript scripts, connectors and listeners: rejected at deploy, or stubbed as jobs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import chain, process_xml

from engine.errors import UnsupportedConstruct

BATON = str(Path(sys.executable).parent / "baton")
DELEGATE = '<bpmn:serviceTask id="{id}" name="Charge" camunda:class="org.acme.payment.ChargeCardDelegate"/>'


def bpmn(body: str, executable: bool = True) -> bytes:
    return process_xml("pay", chain(body, '<bpmn:userTask id="{id}" name="After"/>'), executable=executable)


@pytest.mark.parametrize("task, construct, topic", [
    (DELEGATE, 'camunda:class="org.acme.payment.ChargeCardDelegate" (a Java delegate)', "ChargeCardDelegate"),
    ('<bpmn:serviceTask id="{id}" camunda:delegateExpression="${chargeService}"/>',
     'camunda:delegateExpression="${chargeService}" (a Java delegate)', "chargeService"),
    ('<bpmn:sendTask id="{id}" camunda:expression="${mailer.send(execution)}"/>',
     'camunda:expression="${mailer.send(execution)}" (a Java delegate)', "mailer"),
    ('<bpmn:businessRuleTask id="{id}" camunda:class="org.acme.Rules"/>', 'camunda:class="org.acme.Rules"', "Rules"),
    ('<bpmn:scriptTask id="{id}" scriptFormat="groovy"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>',
     'a script task with scriptFormat="groovy"', "S1"),
    ('<bpmn:scriptTask id="{id}" scriptFormat="javascript" camunda:resource="deployment://a.js"/>',
     'a script task with scriptFormat="javascript"', "S1"),
    ('<bpmn:serviceTask id="{id}"><bpmn:extensionElements><camunda:connector><camunda:connectorId>http-connector'
     "</camunda:connectorId></camunda:connector></bpmn:extensionElements></bpmn:serviceTask>",
     "a camunda:connector", "http-connector"),
])
def test_rejected_without_the_flag_and_a_job_on_its_derived_topic_with_it(eng, task, construct, topic):
    with pytest.raises(UnsupportedConstruct) as err:
        eng.deploy_bytes([("pay.bpmn", bpmn(task))])
    message = str(err.value)
    assert message.startswith("pay.bpmn:5, element 'S1': ") and construct in message
    assert "--stub-unsupported" in message and ("agent" in message or "Python" in message)
    assert eng.definitions() == []  # nothing stored

    result = eng.deploy_bytes([("pay.bpmn", bpmn(task))], stub_unsupported=True)
    assert [d.key for d in result.definitions] == ["pay"]
    assert any(f"stubbed as an external job on topic '{topic}'" in w for w in result.warnings)
    inst = eng.start("pay", {"amount": 5})
    [job] = eng.claim_jobs("worker-1", [topic])
    assert job.element_id == "S1" and job.instance_id == inst.id
    eng.complete_job(job.id, "worker-1", {"charged": True})
    assert [t.element_id for t in eng.tasks(inst.id)] == ["S2"]
    assert eng.get_instance(inst.id).variables["charged"] is True


@pytest.mark.parametrize("listener", [
    '<camunda:executionListener class="org.acme.Audit" event="start"/>',
    '<camunda:executionListener expression="${audit.log(execution)}" event="end"/>',
    '<camunda:taskListener delegateExpression="${notifier}" event="create"/>',
    '<camunda:executionListener event="start"><camunda:script scriptFormat="groovy">println 1</camunda:script>'
    "</camunda:executionListener>",
])
def test_listeners_are_rejected_or_dropped_with_a_warning(eng, listener):
    body = f'<bpmn:userTask id="{{id}}"><bpmn:extensionElements>{listener}</bpmn:extensionElements></bpmn:userTask>'
    with pytest.raises(UnsupportedConstruct, match="Baton does not run Camunda listeners") as err:
        eng.deploy_bytes([("pay.bpmn", bpmn(body))])
    assert err.value.element_id == "S1"
    result = eng.deploy_bytes([("pay.bpmn", bpmn(body))], stub_unsupported=True)
    assert any("dropped (Baton does not run it)" in w for w in result.warnings)
    assert [t.element_id for t in eng.start("pay").tasks] == ["S1"]


def test_a_python_script_listener_and_python_script_tasks_are_accepted(eng):
    body = ('<bpmn:scriptTask id="{id}" scriptFormat="Python"><bpmn:extensionElements>'
            '<camunda:executionListener event="start"><camunda:script scriptFormat="python">y = 2</camunda:script>'
            "</camunda:executionListener></bpmn:extensionElements><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>")
    result = eng.deploy_bytes([("pay.bpmn", bpmn(body))])
    assert result.warnings == [] and eng.start("pay").variables["x"] == 1


def test_a_groovy_input_parameter_script_is_rejected(eng):
    body = ('<bpmn:serviceTask id="{id}" camunda:type="external" camunda:topic="t"><bpmn:extensionElements>'
            '<camunda:inputOutput><camunda:inputParameter name="total"><camunda:script scriptFormat="groovy">1 + 1'
            "</camunda:script></camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements>"
            "</bpmn:serviceTask>")
    with pytest.raises(UnsupportedConstruct, match="inputParameter 'total' computed by a groovy script"):
        eng.deploy_bytes([("pay.bpmn", bpmn(body))])


def test_a_groovy_condition_is_rejected_even_with_the_flag(eng):
    body = ('<bpmn:startEvent id="start"/><bpmn:userTask id="t"/><bpmn:sequenceFlow id="f" sourceRef="start" '
            'targetRef="t"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="groovy">x == 1</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>")
    for stub in (False, True):
        with pytest.raises(UnsupportedConstruct, match="a condition in groovy cannot run in Baton"):
            eng.deploy_bytes([("c.bpmn", process_xml("c", body))], stub_unsupported=stub)


def test_drawings_are_never_rejected(eng):
    result = eng.deploy_bytes([("pay.bpmn", bpmn(DELEGATE, executable=False))])
    assert [(d.key, d.executable) for d in result.definitions] == [("pay", False)] and result.warnings == []


def test_rest_deploy_rejects_then_stubs_with_the_form_field(client):
    def upload(**form):
        data = {"file": [(io.BytesIO(bpmn(DELEGATE)), "pay.bpmn")], **form}
        return client.post("/api/v1/deployments", data=data, content_type="multipart/form-data")

    refused = upload()
    assert refused.status_code == 400
    error = refused.get_json()["error"]
    assert error["code"] == "unsupported_construct" and "camunda:class" in error["message"]
    assert error["details"]["element_id"] == "S1" and error["details"]["line"] == 5
    assert upload(stubUnsupported="maybe").status_code == 400
    stubbed = upload(stubUnsupported="true")
    assert stubbed.status_code == 201
    assert "topic 'ChargeCardDelegate'" in stubbed.get_json()["warnings"][0]


def test_cli_shows_the_reason_without_a_stack_trace_and_stubs_with_the_flag(db_url, tmp_path):
    path = tmp_path / "pay.bpmn"
    path.write_bytes(bpmn(DELEGATE))
    env = {**os.environ, "BATON_DATABASE_URL": db_url}

    def baton(*args):
        return subprocess.run([BATON, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    refused = baton("deploy", str(path))
    assert refused.returncode != 0
    assert "camunda:class=\"org.acme.payment.ChargeCardDelegate\"" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    done = baton("deploy", "--stub-unsupported", str(path))
    assert done.returncode == 0, done.stderr
    assert "pay" in done.stdout and "new version" in done.stdout
    assert "stubbed as an external job on topic 'ChargeCardDelegate'" in done.stderr


def test_an_expression_service_task_that_needs_no_java_runs_and_stores_its_result(eng):
    task = ('<bpmn:serviceTask id="{id}" camunda:expression="${amount * 2 + execution.getVariable(\'fee\')}" '
            'camunda:resultVariable="total"/>')
    eng.deploy_bytes([("pay.bpmn", bpmn(task))])
    inst = eng.start("pay", {"amount": 5, "fee": 1})
    assert [t.element_id for t in eng.tasks(inst.id)] == ["S2"]
    assert eng.get_instance(inst.id).variables["total"] == 11
    assert eng.claim_jobs("worker-1", ["S1", "pay"]) == []  # evaluated by the engine, not left to a worker


@pytest.mark.parametrize("attr", ["variableMappingClass", "variableMappingDelegateExpression"])
def test_java_variable_mapping_on_a_call_activity_is_rejected_or_dropped(eng, attr):
    call = f'<bpmn:callActivity id="{{id}}" calledElement="pay" camunda:{attr}="org.acme.Mapping"/>'
    with pytest.raises(UnsupportedConstruct) as err:
        eng.deploy_bytes([("caller.bpmn", process_xml("caller", chain(call)))])
    assert f"camunda:{attr}=" in str(err.value) and "camunda:in" in str(err.value)
    result = eng.deploy_bytes([("pay.bpmn", bpmn('<bpmn:task id="{id}"/>')),
                               ("caller.bpmn", process_xml("caller", chain(call)))], stub_unsupported=True)
    assert any(f"camunda:{attr}=" in w and "dropped" in w for w in result.warnings)


def test_the_old_activiti_namespace_is_read_as_camunda(eng):
    xml = bpmn('<bpmn:serviceTask id="{id}" activiti:class="org.acme.Legacy"/>').replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:activiti="http://activiti.org/bpmn" ', 1)
    with pytest.raises(UnsupportedConstruct) as err:
        eng.deploy_bytes([("pay.bpmn", xml)])
    assert 'camunda:class="org.acme.Legacy"' in str(err.value)
    eng.deploy_bytes([("pay.bpmn", xml.replace(b'activiti:class="org.acme.Legacy"',
                                                b'activiti:type="external" activiti:topic="legacy"'))])
    inst = eng.start("pay")
    [job] = eng.claim_jobs("worker-1", ["legacy"])
    assert job.instance_id == inst.id
