"""Camunda's sequence-flow semantics (engine/flow_semantics.py): a gateway flow without a condition is true,
an exclusive gateway takes the first true flow in document order, an activity with several outgoing flows
splits (implicitly parallel, or inclusive when some flows have conditions)."""

from __future__ import annotations

import pytest
from helpers import process_xml

from engine.errors import ModelError


def flow(fid: str, source: str, target: str, condition: str | None = None) -> str:
    cond = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'


def tasks(*ids: str) -> str:
    return "".join(f'<bpmn:userTask id="{i}"/><bpmn:endEvent id="{i}_end"/>{flow(i + "_f", i, i + "_end")}'
                   for i in ids)


def shapes(*ys: tuple[str, int]) -> str:
    """A diagram that puts each element at height y (SpiffWorkflow sorts a node's flows by their targets' y)."""
    return ('<bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
            'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="D"><bpmndi:BPMNPlane id="P" bpmnElement="p">'
            + "".join(f'<bpmndi:BPMNShape id="{i}_di" bpmnElement="{i}"><dc:Bounds x="0" y="{y}" width="10" '
                      f'height="10"/></bpmndi:BPMNShape>' for i, y in ys)
            + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")


def open_tasks(eng, inst) -> list[str]:
    return sorted(t.element_id for t in eng.tasks(instance_id=inst.id))


def deploy(eng, body: str, extra: str = "") -> None:
    eng.deploy_bytes([("p.bpmn", process_xml("p", body, extra=extra))])


def test_exclusive_gateway_takes_the_first_true_flow_in_document_order(engine):
    """Camunda 7 evaluates an exclusive gateway's flows in document order and takes the first whose condition
    holds; a flow without a condition holds.  The diagram draws the flows in the opposite order."""
    body = ('<bpmn:startEvent id="s"/>' + flow("f0", "s", "gw") + '<bpmn:exclusiveGateway id="gw"/>'
            + flow("toA", "gw", "a", "x &gt; 10") + flow("toB", "gw", "b") + flow("toC", "gw", "c", "True")
            + tasks("a", "b", "c"))
    deploy(engine, body, shapes(("a", 300), ("b", 200), ("c", 100)))
    assert open_tasks(engine, engine.start("p", {"x": 20})) == ["a"]
    assert open_tasks(engine, engine.start("p", {"x": 1})) == ["b"]  # not c: b comes first in the file


def test_exclusive_gateway_default_is_taken_only_when_nothing_else_holds(engine):
    body = ('<bpmn:startEvent id="s"/>' + flow("f0", "s", "gw") + '<bpmn:exclusiveGateway id="gw" default="toD"/>'
            + flow("toD", "gw", "d") + flow("toA", "gw", "a", "x == 1") + tasks("a", "d"))
    deploy(engine, body)
    assert open_tasks(engine, engine.start("p", {"x": 1})) == ["a"]
    assert open_tasks(engine, engine.start("p", {"x": 2})) == ["d"]


def test_inclusive_gateway_takes_every_unconditional_flow(engine):
    body = ('<bpmn:startEvent id="s"/>' + flow("f0", "s", "gw") + '<bpmn:inclusiveGateway id="gw"/>'
            + flow("toA", "gw", "a", "x &gt; 10") + flow("toB", "gw", "b") + flow("toC", "gw", "c")
            + tasks("a", "b", "c"))
    deploy(engine, body)
    assert open_tasks(engine, engine.start("p", {"x": 20})) == ["a", "b", "c"]
    assert open_tasks(engine, engine.start("p", {"x": 1})) == ["b", "c"]


def test_task_with_several_outgoing_flows_splits_in_parallel(engine):
    """An implicit parallel split: legal BPMN, and Camunda runs every unconditional outgoing flow."""
    body = ('<bpmn:startEvent id="s"/>' + flow("f0", "s", "t") + '<bpmn:scriptTask id="t"><bpmn:script>y = 1'
            '</bpmn:script></bpmn:scriptTask>' + flow("toA", "t", "a") + flow("toB", "t", "b") + tasks("a", "b"))
    deploy(engine, body)
    inst = engine.start("p")
    assert open_tasks(engine, inst) == ["a", "b"]
    for task in engine.tasks(instance_id=inst.id):
        done = engine.complete_task(task.id)
    assert done.status == "completed" and done.variables == {"y": 1}


def test_conditional_flows_out_of_a_task_with_a_default(engine):
    """Conditional sequence flows leaving an activity: every true one is taken, the default when none is."""
    body = ('<bpmn:startEvent id="s"/>' + flow("f0", "s", "t") + '<bpmn:task id="t" default="toD"/>'
            + flow("toA", "t", "a", "x &gt; 10") + flow("toB", "t", "b", "x &gt; 5") + flow("toD", "t", "d")
            + tasks("a", "b", "d"))
    deploy(engine, body)
    assert open_tasks(engine, engine.start("p", {"x": 20})) == ["a", "b"]
    assert open_tasks(engine, engine.start("p", {"x": 7})) == ["b"]
    assert open_tasks(engine, engine.start("p", {"x": 1})) == ["d"]


def test_a_gateway_condition_that_cannot_compile_is_still_refused(engine):
    body = ('<bpmn:startEvent id="s"/>' + flow("f0", "s", "gw") + '<bpmn:exclusiveGateway id="gw"/>'
            + flow("toA", "gw", "a", "Service Level == 'Premium'") + flow("toB", "gw", "b") + tasks("a", "b"))
    with pytest.raises(ModelError, match="toA.*cannot be compiled|cannot be compiled") as err:
        deploy(engine, body)
    assert err.value.element_id == "toA" and err.value.line
