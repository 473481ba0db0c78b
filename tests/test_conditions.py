"""Conditional events fire when a change of variables makes their condition true (engine/conditions.py)."""

from __future__ import annotations

from helpers import process_xml

INTERMEDIATE = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="cond"/>
<bpmn:intermediateCatchEvent id="cond">
  <bpmn:conditionalEventDefinition><bpmn:condition>level &gt; 3</bpmn:condition></bpmn:conditionalEventDefinition>
</bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f2" sourceRef="cond" targetRef="end"/>
<bpmn:endEvent id="end"/>
"""

BOUNDARY = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
<bpmn:userTask id="work" name="Work"/>
<bpmn:boundaryEvent id="stop" attachedToRef="work">
  <bpmn:conditionalEventDefinition><bpmn:condition>cancelled</bpmn:condition></bpmn:conditionalEventDefinition>
</bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f3" sourceRef="stop" targetRef="explain"/>
<bpmn:userTask id="explain" name="Explain the stop"/>
<bpmn:sequenceFlow id="f4" sourceRef="explain" targetRef="end2"/>
<bpmn:endEvent id="end2"/>
"""


def test_intermediate_condition_fires_when_a_variable_makes_it_true(engine):
    engine.deploy_bytes([("cond.bpmn", process_xml("waitForLevel", INTERMEDIATE))])
    inst = engine.start("waitForLevel", {"level": 1})
    assert inst.status == "waiting"
    assert engine.set_variables(inst.id, {"level": 2}).status == "waiting"  # still false
    done = engine.set_variables(inst.id, {"level": 5})
    assert done.status == "completed"
    assert "cond" in [h.element_id for h in engine.history(inst.id) if h.event == "activity_completed"]


def test_boundary_condition_interrupts_the_task(engine):
    engine.deploy_bytes([("stop.bpmn", process_xml("stoppable", BOUNDARY))])
    inst = engine.start("stoppable", {"cancelled": False})
    assert [t.element_id for t in engine.tasks(inst.id)] == ["work"]
    after = engine.set_variables(inst.id, {"cancelled": True})
    assert after.status == "waiting"
    assert [t.element_id for t in engine.tasks(inst.id)] == ["explain"]


def test_a_false_condition_leaves_the_task_alone(engine):
    engine.deploy_bytes([("stop.bpmn", process_xml("stoppable", BOUNDARY))])
    inst = engine.start("stoppable", {"cancelled": False})
    [task] = engine.tasks(inst.id)
    assert engine.complete_task(task.id).status == "completed"
    assert "stop" not in [h.element_id for h in engine.history(inst.id) if h.event == "activity_completed"]


def test_a_condition_on_a_variable_not_set_yet_waits(engine):
    engine.deploy_bytes([("cond.bpmn", process_xml("waitForLevel", INTERMEDIATE))])
    inst = engine.start("waitForLevel", {"level": 1})
    assert engine.set_variables(inst.id, {"level": None}).status == "waiting"  # level removed: cannot hold
    assert engine.set_variables(inst.id, {"level": 9}).status == "completed"
