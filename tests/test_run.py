"""Processes run as BPMN says, with state persisted between calls."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES
from helpers import chain, process_xml, script, user_task

from engine import Engine


def deploy(engine: Engine, *docs: tuple[str, bytes]):
    return engine.deploy_bytes(list(docs))


def test_approval_review_path_then_approve(engine):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 250}, business_key="PO-7")
    assert inst.status == "waiting"
    assert inst.business_key == "PO-7"
    [task] = engine.tasks(instance_id=inst.id)
    assert task.name == "Review purchase request"
    assert [f["id"] for f in task.form["fields"]] == ["approved", "comment"]
    done = engine.complete_task(task.id, {"approved": True, "comment": "fine"})
    assert done.status == "completed"
    assert done.variables["status"] == "approved"
    assert engine.tasks(instance_id=inst.id) == []


def test_approval_rejection_and_auto_approval(engine):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 5000})
    [task] = engine.tasks(instance_id=inst.id)
    assert engine.complete_task(task.id, {"approved": False}).variables["status"] == "rejected"
    auto = engine.start("approval", {"amount": 20})
    assert auto.status == "completed"
    assert auto.variables["status"] == "auto-approved"


def test_parallel_review_waits_for_every_branch(engine):
    engine.deploy([EXAMPLES])
    inst = engine.start("parallel_review")
    tasks = engine.tasks(instance_id=inst.id)
    assert sorted(t.name for t in tasks) == ["Finance review", "Legal review", "Tech review"]
    answers = {"Legal review": {"legal_ok": True}, "Finance review": {"finance_ok": True},
               "Tech review": {"tech_ok": False}}
    for i, task in enumerate(tasks):
        current = engine.complete_task(task.id, answers[task.name])
        assert current.status == ("completed" if i == 2 else "waiting")
    assert current.variables["all_ok"] is False
    assert {"legal_ok", "finance_ok", "tech_ok"} <= set(current.variables)


def test_gateway_loop_and_standard_loop(engine):
    engine.deploy([EXAMPLES])
    inst = engine.start("loop", {"limit": 7})
    assert inst.status == "completed"
    assert inst.variables["counter"] == 7 and inst.variables["total"] == 28
    steps = [h for h in engine.history(inst.id) if h.element_id == "Task_Step" and h.event == "activity_completed"]
    assert len(steps) == 7
    assert engine.start("retry_loop").variables["attempts"] == 3


def test_call_activity_across_two_files(engine):
    engine.deploy([EXAMPLES / "order.bpmn", EXAMPLES / "shipping.bpmn"])
    big = engine.start("order", {"quantity": 3, "unit_price": 50, "order_id": "A-1"})
    assert big.status == "completed"
    assert big.variables["carrier"] == "express"
    assert big.variables["confirmation"] == "order A-1 shipped via express"
    small = engine.start("order", {"quantity": 1, "unit_price": 20, "order_id": "A-2"})
    assert small.variables["carrier"] == "standard"


def test_business_rule_task_with_dmn(engine):
    engine.deploy([EXAMPLES / "discount.bpmn", EXAMPLES / "discount.dmn"])
    gold = engine.start("discount", {"customer_tier": "gold", "total": 1200})
    assert gold.variables["discount"] == 0.15
    assert gold.variables["final_total"] == 1020.0
    plain = engine.start("discount", {"customer_tier": "bronze", "total": 50})
    assert plain.variables["discount"] == 0


def test_parallel_and_sequential_multi_instance(engine):
    engine.deploy([EXAMPLES])
    inst = engine.start("multi_review", {"reviewers": ["ann", "bob", "cy"]})
    tasks = engine.tasks(instance_id=inst.id)
    assert len(tasks) == 3
    for score, task in zip([3, 4, 5], tasks, strict=True):
        current = engine.complete_task(task.id, {"score": score})
    assert current.status == "completed"
    assert sorted(current.variables["scores"]) == [3, 4, 5]
    assert current.variables["average"] == 4
    assert current.variables["notified"] == ["ann", "bob", "cy"]


def test_inclusive_gateway_takes_every_true_branch(engine):
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:inclusiveGateway id="split" default="fd"/>
    <bpmn:scriptTask id="a" scriptFormat="python"><bpmn:script>took_a = True</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="b" scriptFormat="python"><bpmn:script>took_b = True</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="d" scriptFormat="python"><bpmn:script>took_default = True</bpmn:script></bpmn:scriptTask>
    <bpmn:inclusiveGateway id="join"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="a"><bpmn:conditionExpression>x &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="b"><bpmn:conditionExpression>x &gt; 2</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fd" sourceRef="split" targetRef="d"/>
    <bpmn:sequenceFlow id="f1" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="f2" sourceRef="b" targetRef="join"/>
    <bpmn:sequenceFlow id="f3" sourceRef="d" targetRef="join"/>
    <bpmn:sequenceFlow id="f4" sourceRef="join" targetRef="end"/>
    """
    deploy(engine, ("incl.bpmn", process_xml("incl", body)))
    both = engine.start("incl", {"x": 5}).variables
    assert both.get("took_a") and both.get("took_b") and "took_default" not in both
    one = engine.start("incl", {"x": 2}).variables
    assert one.get("took_a") and "took_b" not in one
    none = engine.start("incl", {"x": 0}).variables
    assert none.get("took_default") and "took_a" not in none


def test_embedded_subprocess_and_terminate_end_event(engine):
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:subProcess id="sub" name="Inner">
      <bpmn:startEvent id="sub_start"/>
      <bpmn:scriptTask id="inner" scriptFormat="python"><bpmn:script>inner_ran = True</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="sub_end"/>
      <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="inner"/>
      <bpmn:sequenceFlow id="s2" sourceRef="inner" targetRef="sub_end"/>
    </bpmn:subProcess>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:userTask id="never" name="Never finished"/>
    <bpmn:endEvent id="kill"><bpmn:terminateEventDefinition/></bpmn:endEvent>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="sub"/>
    <bpmn:sequenceFlow id="f1" sourceRef="sub" targetRef="fork"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="never"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="kill"/>
    <bpmn:sequenceFlow id="f4" sourceRef="never" targetRef="end"/>
    """
    deploy(engine, ("term.bpmn", process_xml("term", body)))
    inst = engine.start("term")
    assert inst.status == "completed"
    assert inst.variables["inner_ran"] is True
    assert engine.tasks(instance_id=inst.id) == []


def test_sequence_flows_without_id_are_kept(engine):
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="a" scriptFormat="python"><bpmn:script>reached = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow sourceRef="start" targetRef="a"/>
    <bpmn:sequenceFlow sourceRef="a" targetRef="end"/>
    """
    deploy(engine, ("noid.bpmn", process_xml("noid", body)))
    inst = engine.start("noid")
    assert inst.status == "completed"
    assert inst.variables.get("reached") is True


CAMUNDA_NS = b' xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'


def test_plain_task_passes_through_and_manual_task_waits(engine):
    """Outside Camunda diagrams a manual task waits for a person (SpiffArena's behaviour)."""
    xml = process_xml("plain", chain('<bpmn:task id="{id}" name="Note"/>', '<bpmn:manualTask id="{id}" name="Sign"/>'))
    deploy(engine, ("plain.bpmn", xml.replace(CAMUNDA_NS, b"")))
    inst = engine.start("plain")
    assert inst.status == "waiting"
    [task] = engine.tasks(instance_id=inst.id)
    assert (task.name, task.type) == ("Sign", "manualTask")
    assert engine.complete_task(task.id).status == "completed"


@pytest.mark.parametrize("declares", [
    CAMUNDA_NS,
    b' xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"',
    b' exporter="Camunda Modeler" exporterVersion="5.0.0"',
])
def test_manual_task_passes_through_in_a_camunda_diagram(engine, declares):
    """Camunda 7 and 8 pass straight through a manual task: a diagram that declares Camunda's or Zeebe's namespace,
    or that Camunda Modeler exported, does not stop there."""
    xml = process_xml("signed", chain('<bpmn:manualTask id="{id}" name="Sign"/>', script("after = True")))
    xml = xml.replace(CAMUNDA_NS, b"").replace(b"<bpmn:definitions", b"<bpmn:definitions" + declares, 1)
    deploy(engine, ("signed.bpmn", xml))
    inst = engine.start("signed")
    assert (inst.status, inst.variables) == ("completed", {"after": True})
    assert engine.tasks(instance_id=inst.id) == []
    done = [(h.element_id, h.element_type) for h in engine.history(inst.id) if h.event == "activity_completed"]
    assert ("S1", "manualTask") in done


def test_state_is_persisted_between_engine_objects(settings):
    first = Engine(settings)
    first.deploy_bytes([("p.bpmn", process_xml("p", chain(script("a = 1"), user_task(), script("b = a + 1"))))])
    inst = first.start("p")
    first.close()
    second = Engine(settings)
    [task] = second.tasks(instance_id=inst.id)
    done = second.complete_task(task.id, {"c": 3})
    assert done.status == "completed"
    assert done.variables == {"a": 1, "c": 3, "b": 2}
    second.close()


def test_cancel_ends_instance_and_removes_tasks(engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task())))])
    inst = engine.start("p")
    cancelled = engine.cancel(inst.id)
    assert cancelled.status == "cancelled"
    assert cancelled.ended_at is not None
    assert engine.tasks(instance_id=inst.id) == []
    assert [h.event for h in engine.history(inst.id)][-1] == "instance_cancelled"


def test_instances_filters(engine):
    engine.deploy([EXAMPLES])
    a = engine.start("approval", {"amount": 500}, business_key="A")
    engine.start("approval", {"amount": 5}, business_key="B")
    engine.start("loop", {"limit": 2})
    assert {i.id for i in engine.instances(status="waiting")} == {a.id}
    assert len(engine.instances(key="approval")) == 2
    assert [i.business_key for i in engine.instances(business_key="B")] == ["B"]
    assert engine.count_by_status() == {"waiting": 1, "completed": 2}


@pytest.mark.parametrize("version", [1, 2])
def test_start_given_version(engine, version):
    engine.deploy_bytes([("v.bpmn", process_xml("v", chain(script("which = 1"))))])
    engine.deploy_bytes([("v.bpmn", process_xml("v", chain(script("which = 2"))))])
    assert engine.start("v", version=version).variables["which"] == version
    assert engine.start("v").process_version == 2
