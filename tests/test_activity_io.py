"""camunda:inputOutput and zeebe:ioMapping on every kind of activity, with Camunda's local-variable semantics."""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, script

from engine.errors import ModelError

ZEEBE_NS = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '


def io(*params: str) -> str:
    return f"<bpmn:extensionElements><camunda:inputOutput>{''.join(params)}</camunda:inputOutput></bpmn:extensionElements>"


def param(kind: str, name: str, body: str) -> str:
    return f'<camunda:{kind}Parameter name="{name}">{body}</camunda:{kind}Parameter>'


def script_with(code: str, extensions: str) -> str:
    return (f'<bpmn:scriptTask id="{{id}}" name="Compute" scriptFormat="python">{extensions}'
            f'<bpmn:script>{code}</bpmn:script></bpmn:scriptTask>')


def test_script_task_inputs_are_local_and_outputs_are_all_that_propagates(eng):
    ext = io(param("input", "doubled", "${amount * 2}"),
             param("input", "amount", "${amount + 1}"),  # shadows the process variable inside the task
             param("output", "result", "${doubled + amount + scratch}"))
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(script_with("scratch = 100", ext))))])
    inst = eng.start("p", {"amount": 10})
    assert inst.status == "completed"
    # doubled (local), scratch (set by the script) and the shadowed amount do not leak
    assert inst.variables == {"amount": 10, "result": 20 + 11 + 100}


def test_without_outputs_inputs_vanish_and_script_variables_propagate(eng):
    ext = io(param("input", "rate", "${0.5}"))
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(script_with("tax = amount * rate", ext))))])
    inst = eng.start("p", {"amount": 10})
    assert inst.variables == {"amount": 10, "tax": 5.0}


def test_lists_maps_nested_values_and_python_script_parameters(eng):
    ext = io(
        param("input", "items", "<camunda:list><camunda:value>a</camunda:value>"
              "<camunda:value>${amount}</camunda:value></camunda:list>"),
        param("input", "order", '<camunda:map><camunda:entry key="total">${amount}</camunda:entry>'
              '<camunda:entry key="tags"><camunda:list><camunda:value>x</camunda:value></camunda:list>'
              "</camunda:entry></camunda:map>"),
        param("input", "computed", '<camunda:script scriptFormat="python">base = amount * 3\nbase + 1'
              "</camunda:script>"),
        param("output", "out_items", "${items}"),
        param("output", "out_order", "${order}"),
        param("output", "out_computed", "${computed}"),
    )
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(script_with("pass", ext))))])
    inst = eng.start("p", {"amount": 2})
    assert inst.variables == {"amount": 2, "out_items": ["a", 2], "out_order": {"total": 2, "tags": ["x"]},
                              "out_computed": 7}


def test_user_task_sees_inputs_and_maps_the_form_result_out(eng):
    ext = io(param("input", "limit", "${amount * 10}"), param("output", "approved", "${decision == 'yes'}"))
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(
        f'<bpmn:userTask id="{{id}}" name="Approve">{ext}</bpmn:userTask>', script("after = approved"))))])
    inst = eng.start("p", {"amount": 3})
    [task] = eng.tasks(instance_id=inst.id)
    assert eng.get_instance(inst.id).variables["limit"] == 30  # the open task (its form) sees the local
    done = eng.complete_task(task.id, {"decision": "yes"})
    assert done.variables == {"amount": 3, "approved": True, "after": True}


def test_embedded_subprocess_gets_inputs_and_maps_outputs(eng):
    ext = io(param("input", "inner", "${amount + 1}"), param("output", "total", "${inner_result}"))
    sub = (f'<bpmn:subProcess id="{{id}}" name="Sub">{ext}'
           '<bpmn:startEvent id="ss"/><bpmn:scriptTask id="st" scriptFormat="python">'
           '<bpmn:script>inner_result = inner * 2</bpmn:script></bpmn:scriptTask><bpmn:endEvent id="se"/>'
           '<bpmn:sequenceFlow id="sf1" sourceRef="ss" targetRef="st"/>'
           '<bpmn:sequenceFlow id="sf2" sourceRef="st" targetRef="se"/></bpmn:subProcess>')
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(sub)))])
    inst = eng.start("p", {"amount": 4})
    assert inst.status == "completed"
    assert inst.variables == {"amount": 4, "total": 10}


def test_zeebe_io_mapping_on_a_script_task(eng):
    ext = ('<bpmn:extensionElements><zeebe:ioMapping><zeebe:input source="=amount * 2" target="twice"/>'
           '<zeebe:output source="=twice + 1" target="result"/></zeebe:ioMapping></bpmn:extensionElements>')
    xml = process_xml("p", chain(script_with("pass", ext))).replace(b"xmlns:camunda=", ZEEBE_NS.encode()
                                                                     + b"xmlns:camunda=")
    eng.deploy_bytes([("p.bpmn", xml)])
    assert eng.start("p", {"amount": 5}).variables == {"amount": 5, "result": 11}


def test_a_failing_input_mapping_fails_at_the_element(eng):
    ext = io(param("input", "x", "${missing + 1}"))
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(script("a = 1"), script_with("pass", ext))))])
    inst = eng.start("p")
    assert inst.status == "failed"
    assert inst.error["element_id"] == "S2" and "missing" in inst.error["message"]


@pytest.mark.parametrize("body", ["${1 +}", '<camunda:script scriptFormat="python">x = (\ny</camunda:script>'])
def test_a_mapping_that_does_not_compile_fails_the_deployment(eng, body):
    ext = io(param("input", "x", body))
    with pytest.raises(ModelError) as err:
        eng.deploy_bytes([("p.bpmn", process_xml("p", chain(script_with("pass", ext))))])
    assert err.value.element_id == "S1" and err.value.line and "'x'" in str(err.value)
