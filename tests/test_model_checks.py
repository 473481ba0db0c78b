"""Deploy-time rules Camunda 7 also applies: models it refuses are refused with the element named; data stores
carry no run-time meaning; a file of drawings only is stored without being parsed for execution."""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, user_task

from engine.errors import ModelError

GATEWAY = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
<bpmn:eventBasedGateway id="gw" camunda:asyncAfter="true"/>
<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="wait"/>
<bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>
<bpmn:endEvent id="end"/>
"""

SUBPROCESS = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
<bpmn:subProcess id="sub">
  <bpmn:startEvent id="innerStart"><bpmn:signalEventDefinition signalRef="s"/></bpmn:startEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="innerStart" targetRef="innerEnd"/>
  <bpmn:endEvent id="innerEnd"/>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f3" sourceRef="sub" targetRef="end"/>
<bpmn:endEvent id="end"/>
"""

STORE = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
<bpmn:userTask id="task" name="Look it up">
  <bpmn:dataOutputAssociation id="out1"><bpmn:targetRef>storeRef</bpmn:targetRef></bpmn:dataOutputAssociation>
</bpmn:userTask>
<bpmn:dataStoreReference id="storeRef" name="Customer database" dataStoreRef="store"/>
<bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
<bpmn:endEvent id="end"/>
"""


def test_async_after_on_event_based_gateway_is_refused(engine):
    doc = process_xml("p", GATEWAY, extra='<bpmn:message id="m" name="go"/>')
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("gw.bpmn", doc)])
    assert err.value.element_id == "gw" and err.value.line == 7 and err.value.file == "gw.bpmn"
    assert "camunda:asyncAfter is not supported on event-based gateway 'gw'" in str(err.value)
    assert engine.definitions() == []


def test_event_start_in_a_plain_subprocess_is_refused(engine):
    doc = process_xml("p", SUBPROCESS, extra='<bpmn:signal id="s" name="go"/>')
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("sub.bpmn", doc)])
    assert err.value.element_id == "innerStart"
    assert "signalEventDefinition" in str(err.value) and "event subprocess" in str(err.value)


def test_the_same_start_in_an_event_subprocess_deploys(engine):
    body = SUBPROCESS.replace('<bpmn:subProcess id="sub">', '<bpmn:subProcess id="sub" triggeredByEvent="true">')
    body = body.replace('<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>',
                        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>')
    body = body.replace('<bpmn:sequenceFlow id="f3" sourceRef="sub" targetRef="end"/>', "")
    doc = process_xml("p", body, extra='<bpmn:signal id="s" name="go"/>')
    assert [d.key for d in engine.deploy_bytes([("sub.bpmn", doc)]).definitions] == ["p"]


@pytest.mark.parametrize("executable", [True, False])
def test_data_stores_deploy_and_are_ignored_when_running(engine, executable):
    doc = process_xml("p", STORE, executable=executable,
                      extra='<bpmn:dataStore id="store" name="Customer database"/>')
    [definition] = engine.deploy_bytes([("store.bpmn", doc)]).definitions
    assert definition.executable is executable
    assert "Customer database" in engine.definition_xml("p")  # the stored file keeps the data store
    if executable:
        inst = engine.start("p")
        [task] = engine.tasks(inst.id)
        assert engine.complete_task(task.id).status == "completed"


def test_a_drawing_with_an_incomplete_model_deploys(engine):
    """A non-executable process may be unfinished: an empty timer is no error in a drawing."""
    body = chain(user_task()).replace(
        '<bpmn:endEvent id="end"/>',
        '<bpmn:intermediateCatchEvent id="end"><bpmn:timerEventDefinition/></bpmn:intermediateCatchEvent>')
    [definition] = engine.deploy_bytes([("drawing.bpmn", process_xml("d", body, executable=False))]).definitions
    assert definition.executable is False


def test_a_timer_without_a_time_is_refused(engine):
    body = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition/></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
<bpmn:endEvent id="end"/>
"""
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("timer.bpmn", process_xml("t", body))])
    assert err.value.element_id == "wait" and err.value.file == "timer.bpmn"
    assert "timer event 'wait' has no timeDate, timeDuration or timeCycle" in str(err.value)


def test_a_called_element_given_by_an_expression_is_refused_with_the_reason(engine):
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("caller.bpmn", process_xml("caller", chain(
            '<bpmn:callActivity id="{id}" calledElement="${whichProcess}"/>')))])
    message = str(err.value)
    assert "element 'S1'" in message and "calledElement '${whichProcess}' is an expression" in message
    assert "QName" not in message  # not the schema's wording


@pytest.mark.parametrize("reserved", ["Start", "End", "p.EndJoin"])
def test_an_element_id_the_engine_reserves_is_refused_at_deploy(engine, reserved):
    body = (f'<bpmn:startEvent id="{reserved}"/><bpmn:sequenceFlow id="f1" sourceRef="{reserved}" targetRef="done"/>'
            '<bpmn:endEvent id="done"/>')
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("reserved.bpmn", process_xml("p", body))])
    assert err.value.element_id == reserved and err.value.file == "reserved.bpmn"
    assert f"element id '{reserved}' is reserved" in str(err.value) and "rename the startEvent" in str(err.value)
    assert engine.definitions() == []
