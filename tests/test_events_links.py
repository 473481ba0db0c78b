"""Intermediate link events: a throw continues at the catch of the same name; bad links fail at deploy."""

from __future__ import annotations

import pytest
from helpers import flows, process_xml

from engine.errors import ModelError


def link_throw(eid: str, name: str) -> str:
    return f'<bpmn:intermediateThrowEvent id="{eid}"><bpmn:linkEventDefinition name="{name}"/></bpmn:intermediateThrowEvent>'


def link_catch(eid: str, name: str) -> str:
    return f'<bpmn:intermediateCatchEvent id="{eid}"><bpmn:linkEventDefinition name="{name}"/></bpmn:intermediateCatchEvent>'


def linked(start: str = "start", end: str = "end") -> str:
    """start -> before -> throw A ... catch A -> there (user task) -> end."""
    return (f'<bpmn:startEvent id="{start}"/><bpmn:scriptTask id="before" scriptFormat="python"><bpmn:script>a = 1'
            '</bpmn:script></bpmn:scriptTask>' + link_throw("goA", "A") + link_catch("fromA", "A")
            + f'<bpmn:userTask id="there"/><bpmn:endEvent id="{end}"/>'
            + flows(f"{start}>before", "before>goA", "fromA>there", f"there>{end}"))


LINKED = linked()


def test_link_throw_jumps_to_the_catch_of_the_same_name(engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", LINKED))])
    inst = engine.start("p")
    assert [t.element_id for t in engine.tasks(instance_id=inst.id)] == ["there"]
    assert inst.variables["a"] == 1
    done = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id)
    assert done.status == "completed"
    history = [h for h in engine.history(inst.id) if h.event == "activity_completed"]
    completed = [h.element_id for h in history]
    assert completed.index("goA") < completed.index("fromA") < completed.index("there")
    types = {h.element_id: h.element_type for h in history}
    assert (types["start"], types["goA"], types["end"]) == ("startEvent", "intermediateThrowEvent", "endEvent")


def test_links_are_scoped_to_their_subprocess(engine):
    body = ('<bpmn:startEvent id="start"/><bpmn:subProcess id="sub">' + linked("ss", "se") + '</bpmn:subProcess>'
            + link_catch("outerA", "A") + '<bpmn:endEvent id="end"/><bpmn:endEvent id="end2"/>'
            + flows("start>sub", "sub>end", "outerA>end2"))
    engine.deploy_bytes([("p.bpmn", process_xml("p", body))])
    inst = engine.start("p")
    assert [t.element_id for t in engine.tasks(instance_id=inst.id)] == ["there"]


@pytest.mark.parametrize("body, element, why", [
    ('<bpmn:startEvent id="start"/>' + link_throw("goB", "B") + flows("start>goB"), "goB", "no link catch"),
    (LINKED + link_catch("fromA2", "A"), "fromA2", "same link name"),
    ('<bpmn:startEvent id="start"/><bpmn:eventBasedGateway id="gw"/>' + link_catch("afterGw", "A")
     + flows("start>gw", "gw>afterGw"), "afterGw", "event-based gateway"),
])
def test_bad_links_fail_at_deploy_naming_the_element(engine, body, element, why):
    with pytest.raises(ModelError) as info:
        engine.deploy_bytes([("p.bpmn", process_xml("p", body))])
    assert info.value.element_id == element
    assert why in str(info.value)
