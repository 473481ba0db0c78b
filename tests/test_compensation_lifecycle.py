"""Compensation across the instance lifecycle: a failing handler, retry, cancel while handlers wait."""

from __future__ import annotations

from helpers import process_xml

MODEL = """
<bpmn:startEvent id="start"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
<bpmn:subProcess id="sub">
  <bpmn:startEvent id="s_start"/>
  <bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="charge"/>
  <bpmn:scriptTask id="charge"><bpmn:script>charged = amount</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="s2" sourceRef="charge" targetRef="s_end"/>
  <bpmn:endEvent id="s_end"/>
  <bpmn:boundaryEvent id="charge_comp" attachedToRef="charge"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
  <bpmn:scriptTask id="refund" isForCompensation="true"><bpmn:script>refunded = charged // divisor</bpmn:script>
  </bpmn:scriptTask>
  <bpmn:association id="a1" sourceRef="charge_comp" targetRef="refund"/>
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="book"/>
<bpmn:scriptTask id="book"><bpmn:script>booked = True</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f3" sourceRef="book" targetRef="throw"/>
<bpmn:boundaryEvent id="book_comp" attachedToRef="book"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
<bpmn:userTask id="unbook" name="Cancel the booking" isForCompensation="true"/>
<bpmn:intermediateThrowEvent id="throw"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="f4" sourceRef="throw" targetRef="end"/>
<bpmn:endEvent id="end"/>
<bpmn:association id="a2" sourceRef="book_comp" targetRef="unbook"/>
"""


def events(eng, inst) -> list[tuple[str, str | None]]:
    return [(h.event, h.element_id) for h in eng.history(inst.id)]


def test_failing_handler_fails_the_instance_and_retry_finishes_the_compensation(eng):
    eng.deploy_bytes([("saga.bpmn", process_xml("saga", MODEL))])
    inst = eng.start("saga", {"amount": 10, "divisor": 0})
    [task] = eng.tasks(inst.id)
    assert task.element_id == "unbook", "the latest completed activity is undone first"
    inst = eng.complete_task(task.id)
    assert inst.status == "failed"
    assert inst.error["element_id"] == "refund", "the failed element is the handler, not the throw"
    inst = eng.retry(inst.id, {"divisor": 2})
    assert inst.status == "completed"
    assert inst.variables["refunded"] == 5
    assert events(eng, inst).index(("activity_completed", "refund")) < events(eng, inst).index(
        ("activity_completed", "throw"))


def test_cancel_while_handlers_wait_leaves_nothing_open(eng):
    model = MODEL.replace('<bpmn:scriptTask id="refund" isForCompensation="true">'
                          "<bpmn:script>refunded = charged // divisor</bpmn:script>\n  </bpmn:scriptTask>",
                          '<bpmn:userTask id="refund" isForCompensation="true"/>')
    eng.deploy_bytes([("saga.bpmn", process_xml("saga", model))])
    inst = eng.start("saga", {"amount": 10})
    assert sorted(t.element_id for t in eng.tasks(inst.id)) == ["refund", "unbook"]
    assert {a["element_id"] for a in inst.active} == {"throw", "refund", "unbook"}
    inst = eng.cancel(inst.id)
    assert inst.status == "cancelled"
    assert eng.tasks(inst.id) == [] and inst.active == []


def test_a_waiting_handler_does_not_bring_back_values_it_only_read(eng):
    """'unbook' (a user task) starts first and waits; 'refund' then changes 'step'; completing 'unbook'
    afterwards must not restore the value of 'step' it started with."""
    model = MODEL.replace(
        '<bpmn:sequenceFlow id="f3" sourceRef="book" targetRef="throw"/>',
        '<bpmn:sequenceFlow id="f3" sourceRef="book" targetRef="note"/>'
        '<bpmn:scriptTask id="note"><bpmn:script>step = "booked"</bpmn:script></bpmn:scriptTask>'
        '<bpmn:sequenceFlow id="f3b" sourceRef="note" targetRef="throw"/>',
    ).replace("refunded = charged // divisor", "refunded = charged // divisor\nstep = 'refunded'")
    eng.deploy_bytes([("saga.bpmn", process_xml("saga", model))])
    inst = eng.start("saga", {"amount": 10, "divisor": 1})
    [task] = eng.tasks(inst.id)
    assert task.element_id == "unbook"
    inst = eng.complete_task(task.id, {"unbooked": True})
    assert inst.status == "completed"
    assert inst.variables["step"] == "refunded" and inst.variables["unbooked"] is True
