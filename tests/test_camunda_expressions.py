"""Camunda Modeler (JUEL) and Zeebe (FEEL) diagrams run through the engine, their expressions translated at deploy."""

from __future__ import annotations

import pytest
from helpers import HEADER, chain, flows, process_xml

from engine.errors import ExpressionError, ModelError
from engine.runtime import Engine

ZEEBE_HEADER = HEADER.replace("<bpmn:definitions ", '<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" ')


def deploy(eng, pid: str, body: str) -> None:
    eng.deploy_bytes([(f"{pid}.bpmn", process_xml(pid, body))])


def open_tasks(eng, iid: str) -> list[str]:
    return sorted(t.element_id for t in eng.tasks(iid))


GATEWAY = """
<bpmn:startEvent id="start"/>
<bpmn:exclusiveGateway id="gw"/>
<bpmn:userTask id="big"/><bpmn:userTask id="small"/><bpmn:userTask id="vip"/>
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="gw"/>
<bpmn:sequenceFlow id="toBig" sourceRef="gw" targetRef="big">
  <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${amount &gt; 1000 &amp;&amp; execution.getProcessBusinessKey() != 'vip'}</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="toSmall" sourceRef="gw" targetRef="small">
  <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">#{amount le 1000 and not empty customer}</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="toVip" sourceRef="gw" targetRef="vip">
  <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${execution.processBusinessKey == 'vip'}</bpmn:conditionExpression>
</bpmn:sequenceFlow>
"""


def test_juel_gateway_conditions_choose_the_path(eng):
    deploy(eng, "gate", GATEWAY)
    assert open_tasks(eng, eng.start("gate", {"amount": 1500, "customer": "ann"}).id) == ["big"]
    assert open_tasks(eng, eng.start("gate", {"amount": 10, "customer": "ann"}).id) == ["small"]
    vip = eng.start("gate", {"amount": 1500, "customer": "ann"}, business_key="vip")
    assert open_tasks(eng, vip.id) == ["vip"]  # execution.getProcessBusinessKey() sees the instance's key


def test_the_stored_file_is_the_one_uploaded(eng):
    deploy(eng, "gate", GATEWAY)
    xml = eng.definition_xml("gate")
    assert "${amount &gt; 1000 &amp;&amp; execution.getProcessBusinessKey() != 'vip'}" in xml
    assert "#{amount le 1000 and not empty customer}" in xml


def test_a_juel_timer_duration_waits_for_the_variables_value(eng, clock):
    deploy(eng, "wait", chain(
        '<bpmn:intermediateCatchEvent id="{id}"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">${delay}</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
        '<bpmn:userTask id="{id}"/>'))
    iid = eng.start("wait", {"delay": "PT10M"}).id
    assert open_tasks(eng, iid) == []
    clock.advance(9 * 60)
    eng.fire_due_timers()
    assert open_tasks(eng, iid) == []
    clock.advance(61)
    eng.fire_due_timers()
    assert open_tasks(eng, iid) == ["S2"]


def test_a_camunda_collection_creates_one_task_per_item(eng):
    deploy(eng, "mi", chain(
        '<bpmn:userTask id="{id}" name="Review"><bpmn:multiInstanceLoopCharacteristics '
        'camunda:collection="${reviewers}" camunda:elementVariable="reviewer"/></bpmn:userTask>',
        '<bpmn:scriptTask id="{id}" scriptFormat="python"><bpmn:script>done = True</bpmn:script></bpmn:scriptTask>'))
    inst = eng.start("mi", {"reviewers": ["ann", "bob", "cy"]})
    tasks = eng.tasks(inst.id)
    assert [t.element_id for t in tasks] == ["S1", "S1", "S1"]
    for task in tasks:
        inst = eng.complete_task(task.id, {})
    assert inst.status == "completed" and inst.variables["done"] is True


def test_a_sequential_collection_runs_one_instance_after_the_other(eng):
    deploy(eng, "seq", chain(
        '<bpmn:userTask id="{id}"><bpmn:multiInstanceLoopCharacteristics isSequential="true" '
        'camunda:collection="items" camunda:elementVariable="item"/></bpmn:userTask>'))
    inst = eng.start("seq", {"items": ["a", "b", "c"]})
    for _ in range(3):
        [task] = eng.tasks(inst.id)  # one at a time; the previous element variable does not block the next
        inst = eng.complete_task(task.id, {})
    assert inst.status == "completed", inst.error


def test_input_and_output_mappings_of_an_external_task(eng):
    io = ('<camunda:inputOutput>'
          '<camunda:inputParameter name="total">${order.total * 2}</camunda:inputParameter>'
          '<camunda:inputParameter name="label">Order ${num} for ${customer.name}</camunda:inputParameter>'
          '<camunda:inputParameter name="fixed">just text</camunda:inputParameter>'
          '<camunda:inputParameter name="lines"><camunda:list><camunda:value>${order.total}</camunda:value>'
          "<camunda:value>two</camunda:value></camunda:list></camunda:inputParameter>"
          '<camunda:inputParameter name="info"><camunda:map><camunda:entry key="who">${customer.name}</camunda:entry>'
          "</camunda:map></camunda:inputParameter>"
          '<camunda:outputParameter name="priced">${price + 1}</camunda:outputParameter>'
          "</camunda:inputOutput>")
    deploy(eng, "io", chain(
        f'<bpmn:serviceTask id="{{id}}" camunda:type="external" camunda:topic="pricing">'
        f"<bpmn:extensionElements>{io}</bpmn:extensionElements></bpmn:serviceTask>",
        '<bpmn:userTask id="{id}"/>'))
    iid = eng.start("io", {"order": {"total": 50}, "num": 7, "customer": {"name": "Ann"}}).id
    [job] = eng.claim_jobs("w", ["pricing"])
    assert job.variables == {"total": 100, "label": "Order 7 for Ann", "fixed": "just text", "lines": [50, "two"],
                             "info": {"who": "Ann"}}
    eng.complete_job(job.id, "w", {"price": 5})
    inst = eng.get_instance(iid)
    assert inst.variables["priced"] == 6 and open_tasks(eng, iid) == ["S2"]


def test_assignee_and_candidate_group_expressions(eng):
    deploy(eng, "who", chain('<bpmn:userTask id="{id}" camunda:assignee="${starter.toLowerCase()}" '
                             'camunda:candidateGroups="${team}, sales" '
                             'camunda:candidateUsers="#{lead}, ${execution.getProcessBusinessKey()}"/>'))
    [task] = eng.start("who", {"starter": "ANN", "team": "north", "lead": "bob"}, business_key="cy").tasks
    assert task.assignee == "ann"
    assert task.candidate_groups == ["north", "sales"] and task.candidate_users == ["bob", "cy"]


def test_zeebe_diagram_with_feel(eng):
    body = """
<bpmn:startEvent id="start"/>
<bpmn:scriptTask id="double" scriptFormat="python">
  <bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>
    <zeebe:loopCharacteristics inputCollection="= order.items" inputElement="item" outputCollection="results"
                               outputElement="= doubled"/>
  </bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>
  <bpmn:script>doubled = item * 2</bpmn:script>
</bpmn:scriptTask>
<bpmn:serviceTask id="calc">
  <bpmn:extensionElements>
    <zeebe:taskDefinition type="calc"/>
    <zeebe:ioMapping>
      <zeebe:input source="= sum(results) + 1" target="x"/>
      <zeebe:input source="=&quot;for &quot; + upper case(owner)" target="label"/>
      <zeebe:output source="= answer * 2" target="final"/>
    </zeebe:ioMapping>
  </bpmn:extensionElements>
</bpmn:serviceTask>
<bpmn:exclusiveGateway id="gw"/>
<bpmn:userTask id="big">
  <bpmn:extensionElements><zeebe:assignmentDefinition assignee="= owner" candidateGroups="= [&quot;a&quot;, team]"/>
  </bpmn:extensionElements>
</bpmn:userTask>
<bpmn:userTask id="small"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="double"/>
<bpmn:sequenceFlow id="f2" sourceRef="double" targetRef="calc"/>
<bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="gw"/>
<bpmn:sequenceFlow id="toBig" sourceRef="gw" targetRef="big">
  <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">= final &gt; 100 and owner != null</bpmn:conditionExpression>
</bpmn:sequenceFlow>
<bpmn:sequenceFlow id="toSmall" sourceRef="gw" targetRef="small">
  <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">=not(final &gt; 100)</bpmn:conditionExpression>
</bpmn:sequenceFlow>
"""
    xml = (ZEEBE_HEADER.format(pid="z") + f'<bpmn:process id="z" isExecutable="true">{body}</bpmn:process>'
           "</bpmn:definitions>")
    eng.deploy_bytes([("z.bpmn", xml.encode())])
    iid = eng.start("z", {"order": {"items": [1, 2, 3]}, "owner": "ann", "team": "ops"}).id
    assert eng.get_instance(iid).variables["results"] == [2, 4, 6]
    [job] = eng.claim_jobs("w", ["calc"])
    assert job.variables == {"x": 13, "label": "for ANN"}
    eng.complete_job(job.id, "w", {"answer": 60})
    [task] = eng.tasks(iid)
    assert (task.element_id, task.assignee, task.candidate_groups) == ("big", "ann", ["a", "ops"])
    assert eng.get_instance(iid).variables["final"] == 120


@pytest.mark.parametrize("where, text", [
    ('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${myBean.isOk(amount)}</bpmn:conditionExpression>',
     "${myBean.isOk(amount)}"),
    ('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">= for x in y return x</bpmn:conditionExpression>',
     "= for x in y return x"),
])
def test_an_untranslatable_condition_fails_the_deployment_and_stores_nothing(eng, where, text):
    body = ('<bpmn:startEvent id="start"/><bpmn:userTask id="t"/>\n'
            f'<bpmn:sequenceFlow id="flow1" sourceRef="start" targetRef="t">\n{where}</bpmn:sequenceFlow>')
    with pytest.raises(ExpressionError) as err:
        deploy(eng, "bad", body)
    assert isinstance(err.value, ModelError)
    message = str(err.value)
    assert message.startswith("bad.bpmn:")
    assert err.value.line == 6 and err.value.element_id == "flow1" and repr(text) in message
    assert "cannot be translated to Python" in message
    assert eng.definitions() == []


def test_a_collection_expression_is_evaluated_when_the_multi_instance_starts(eng, settings):
    deploy(eng, "mi", chain('<bpmn:userTask id="{id}"><bpmn:multiInstanceLoopCharacteristics '
                            'camunda:collection="${order.items}" camunda:elementVariable="x"/></bpmn:userTask>'))
    again = Engine(settings)  # reads the spec back from the database: the expression collection survives it
    try:
        inst = again.start("mi", {"order": {"items": [1, 2]}})
        assert [t.element_id for t in inst.tasks] == ["S1", "S1"]
    finally:
        again.close()


def test_an_element_variable_must_be_a_name(eng):
    with pytest.raises(ExpressionError, match="must name a variable") as err:
        deploy(eng, "mi", chain('<bpmn:userTask id="{id}"><bpmn:multiInstanceLoopCharacteristics '
                                'camunda:collection="${items}" camunda:elementVariable="${a.b}"/></bpmn:userTask>'))
    assert err.value.element_id == "S1"


def test_python_conditions_of_spiff_diagrams_stay_python(eng):
    deploy(eng, "py", '<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw"/>'
                      '<bpmn:userTask id="a"/><bpmn:userTask id="b"/>'
                      + flows("start>gw")
                      + '<bpmn:sequenceFlow id="x" sourceRef="gw" targetRef="a"><bpmn:conditionExpression>'
                        "len(items) == 2</bpmn:conditionExpression></bpmn:sequenceFlow>"
                        '<bpmn:sequenceFlow id="y" sourceRef="gw" targetRef="b"><bpmn:conditionExpression>'
                        "len(items) != 2</bpmn:conditionExpression></bpmn:sequenceFlow>")
    assert open_tasks(eng, eng.start("py", {"items": [1, 2]}).id) == ["a"]


def test_drawings_are_not_translated(eng):
    eng.deploy_bytes([("d.bpmn", process_xml("d", '<bpmn:startEvent id="s"/><bpmn:userTask id="t"/>'
                                             '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t">'
                                             "<bpmn:conditionExpression>${bean.call()}</bpmn:conditionExpression>"
                                             "</bpmn:sequenceFlow>", executable=False))])
    assert [d.key for d in eng.definitions()] == ["d"]
