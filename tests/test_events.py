"""Timer, message and signal behaviour not covered by test_timers.py, test_messages.py or the corpus tests."""

from __future__ import annotations

from helpers import process_xml

TWO_TIMERS = process_xml("two_timers", """
<bpmn:startEvent id="start"/>
<bpmn:parallelGateway id="fork"/>
<bpmn:intermediateCatchEvent id="first"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1M</bpmn:timeDuration>
</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:intermediateCatchEvent id="second"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1M</bpmn:timeDuration>
</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:parallelGateway id="join"/>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>
<bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="first"/>
<bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="second"/>
<bpmn:sequenceFlow id="f4" sourceRef="first" targetRef="join"/>
<bpmn:sequenceFlow id="f5" sourceRef="second" targetRef="join"/>
<bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end"/>""")


def test_every_timer_of_an_instance_due_at_once_is_in_the_history(eng, clock):
    """Two timers of one instance due at the same moment fire in one step; the history shows both, with their lateness."""
    eng.deploy_bytes([("two_timers.bpmn", TWO_TIMERS)])
    iid = eng.start("two_timers").id
    assert len(eng.timers(iid)) == 2
    clock.advance(90)
    eng.fire_due_timers()
    assert eng.get_instance(iid).status == "completed"
    fired = [h for h in eng.history(iid) if h.event == "timer_fired"]
    assert sorted(h.element_id for h in fired) == ["first", "second"]
    assert [h.details["late_by"] for h in fired] == [30.0, 30.0]
    assert eng.timers() == []
