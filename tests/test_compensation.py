"""Compensation through the Engine API: boundary + handler, throws, order, data snapshots, MI, subprocesses, jobs.

Every engine call saves and reloads the instance, so each step below also checks that compensation
state survives serialization.
"""

from __future__ import annotations

import pytest
from helpers import process_xml
from lxml import etree

from engine.errors import ModelError


def flows(*ids: str) -> str:
    """Sequence flows a -> b -> c ... between the given element ids."""
    return "\n".join(f'<bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}"/>'
                     for a, b in zip(ids, ids[1:], strict=False))


def script_el(eid: str, code: str, extra: str = "", inner: str = "") -> str:
    code = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<bpmn:scriptTask id="{eid}" scriptFormat="python"{extra}>{inner}'
            f"<bpmn:script>{code}</bpmn:script></bpmn:scriptTask>")


def compensable(eid: str, handler: str, handler_el: str | None = None) -> str:
    """A compensation boundary on ``eid`` associated with ``handler`` (a logging script unless given)."""
    handler_el = handler_el or script_el(handler, f"undone_{eid} = True", ' isForCompensation="true"')
    return (f'<bpmn:boundaryEvent id="{eid}_comp" attachedToRef="{eid}"><bpmn:compensateEventDefinition/>'
            f'</bpmn:boundaryEvent>{handler_el}'
            f'<bpmn:association id="{eid}_assoc" sourceRef="{eid}_comp" targetRef="{handler}"/>')


def throw(eid: str = "throw", ref: str | None = None, end: bool = False) -> str:
    attr = f' activityRef="{ref}"' if ref else ""
    tag = "endEvent" if end else "intermediateThrowEvent"
    return f'<bpmn:{tag} id="{eid}"><bpmn:compensateEventDefinition{attr}/></bpmn:{tag}>'


def deploy(eng, body: str, key: str = "p"):
    """Deploy ``body`` as process ``key``, associations moved after the flow elements as the schema wants."""
    root = etree.fromstring(process_xml(key, body))
    for assoc in list(root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}association")):
        assoc.getparent().append(assoc)
    eng.deploy_bytes([(f"{key}.bpmn", etree.tostring(root))])


def completed(eng, inst) -> list[str]:
    return [h.element_id for h in eng.history(inst.id) if h.event == "activity_completed"]


THREE_STEPS = "\n".join([
    '<bpmn:startEvent id="start"/>',
    script_el("a", "log = ['a']"), compensable("a", "undo_a"),
    script_el("b", "log = log + ['b']"), compensable("b", "undo_b"),
    script_el("c", "log = log + ['c']"), compensable("c", "undo_c"),
])


def test_scope_throw_compensates_completed_activities_in_reverse_order(eng):
    deploy(eng, THREE_STEPS + throw() + '<bpmn:endEvent id="end"/>' + flows("start", "a", "b", "c", "throw", "end"))
    inst = eng.start("p")
    assert inst.status == "completed"
    assert {k for k in inst.variables if k.startswith("undone_")} == {"undone_a", "undone_b", "undone_c"}
    done = completed(eng, inst)
    assert done.index("undo_c") < done.index("undo_b") < done.index("undo_a") < done.index("throw")


def test_end_event_throw_for_one_activity(eng):
    deploy(eng, THREE_STEPS + throw("end", ref="b", end=True) + flows("start", "a", "b", "c", "end"))
    inst = eng.start("p")
    assert inst.status == "completed"
    assert inst.variables["undone_b"] is True
    assert "undone_a" not in inst.variables and "undone_c" not in inst.variables
    assert "undo_a" not in completed(eng, inst) and "undo_c" not in completed(eng, inst)


def test_activities_not_completed_are_not_compensated(eng):
    body = ('<bpmn:startEvent id="start"/><bpmn:parallelGateway id="fork"/>'
            + script_el("a", "x = 1") + compensable("a", "undo_a")
            + '<bpmn:userTask id="wait"/>' + compensable("wait", "undo_wait")
            + throw() + '<bpmn:endEvent id="end1"/><bpmn:endEvent id="end2"/>'
            + flows("start", "fork", "a", "throw", "end1") + flows("fork", "wait", "end2"))
    deploy(eng, body)
    inst = eng.start("p")
    assert "undo_a" in completed(eng, inst)
    assert [t.element_id for t in eng.tasks(inst.id)] == ["wait"]
    done = eng.complete_task(eng.tasks(inst.id)[0].id)
    assert done.status == "completed"
    assert "undo_wait" not in completed(eng, done), "'wait' had not completed when compensation was thrown"


def test_handler_runs_with_the_variables_the_activity_had_when_it_completed(eng):
    body = ('<bpmn:startEvent id="start"/>'
            + script_el("reserve", "item = 'book'") + compensable(
                "reserve", "release", script_el("release", "released = item", ' isForCompensation="true"'))
            + script_el("later", "item = 'changed'")
            + throw() + '<bpmn:endEvent id="end"/>' + flows("start", "reserve", "later", "throw", "end"))
    deploy(eng, body)
    inst = eng.start("p")
    assert inst.status == "completed"
    assert inst.variables["released"] == "book", "the handler saw the snapshot taken when 'reserve' completed"
    assert inst.variables["item"] == "changed", "the snapshot does not overwrite newer variables"


def test_user_task_handler_waits_and_shows_as_active(eng):
    body = ('<bpmn:startEvent id="start"/>' + script_el("book", "booked = True")
            + compensable("book", "cancel", '<bpmn:userTask id="cancel" name="Cancel booking" isForCompensation="true"/>')
            + throw() + '<bpmn:endEvent id="end"/>' + flows("start", "book", "throw", "end"))
    deploy(eng, body)
    inst = eng.start("p")
    assert inst.status == "waiting"
    assert {a["element_id"] for a in inst.active} == {"throw", "cancel"}
    [task] = eng.tasks(inst.id)
    assert task.element_id == "cancel"
    done = eng.complete_task(task.id, {"cancelled": True})
    assert done.status == "completed" and done.variables["cancelled"] is True


def test_compensating_twice_does_not_rerun_a_handler(eng):
    deploy(eng, THREE_STEPS + throw("t1", ref="c") + throw("t2") + '<bpmn:endEvent id="end"/>'
           + flows("start", "a", "b", "c", "t1", "t2", "end"))
    inst = eng.start("p")
    assert inst.status == "completed"
    assert all(inst.variables[f"undone_{x}"] for x in "abc")
    assert completed(eng, inst).count("undo_c") == 1


def test_multi_instance_compensates_each_completed_instance_with_its_item(eng):
    mi = ('<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
          '<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>'
          '<bpmn:loopDataOutputRef>booked_all</bpmn:loopDataOutputRef>'
          '<bpmn:inputDataItem id="item" name="item"/><bpmn:outputDataItem id="booked" name="booked"/>'
          '</bpmn:multiInstanceLoopCharacteristics>')
    body = ('<bpmn:startEvent id="start"/>' + script_el("book", "booked = item", inner=mi)
            + compensable("book", "unbook", script_el("unbook", "last_undone = item", ' isForCompensation="true"'))
            + throw() + '<bpmn:endEvent id="end"/>' + flows("start", "book", "throw", "end"))
    deploy(eng, body)
    inst = eng.start("p", {"items": ["x", "y", "z"]})
    assert inst.status == "completed"
    assert completed(eng, inst).count("unbook") == 3, "one handler run per completed instance"
    assert inst.variables["last_undone"] == "x", "instances undone newest first, each with its own item"


def test_subprocess_is_compensated_through_its_inner_activities(eng):
    sub = ('<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start"/>'
           + script_el("inner1", "n = 1") + compensable("inner1", "undo_inner1")
           + script_el("inner2", "n = 2") + compensable("inner2", "undo_inner2")
           + '<bpmn:endEvent id="s_end"/>' + flows("s_start", "inner1", "inner2", "s_end") + "</bpmn:subProcess>")
    deploy(eng, '<bpmn:startEvent id="start"/>' + sub + throw() + '<bpmn:endEvent id="end"/>'
           + flows("start", "sub", "throw", "end"))
    inst = eng.start("p")
    assert inst.status == "completed"
    assert inst.variables["undone_inner1"] is True and inst.variables["undone_inner2"] is True
    done = completed(eng, inst)
    assert done.index("undo_inner2") < done.index("undo_inner1") < done.index("throw")


def test_subprocess_with_compensation_event_subprocess(eng):
    evsub = ('<bpmn:subProcess id="on_comp" triggeredByEvent="true">'
             '<bpmn:startEvent id="c_start"><bpmn:compensateEventDefinition/></bpmn:startEvent>'
             + script_el("c_undo", "undone_total = total") + '<bpmn:endEvent id="c_end"/>'
             + flows("c_start", "c_undo", "c_end") + "</bpmn:subProcess>")
    sub = ('<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start"/>'
           + script_el("inner", "total = 42") + compensable("inner", "undo_inner")
           + '<bpmn:endEvent id="s_end"/>' + flows("s_start", "inner", "s_end") + evsub + "</bpmn:subProcess>")
    deploy(eng, '<bpmn:startEvent id="start"/>' + sub + '<bpmn:userTask id="review"/>' + throw()
           + '<bpmn:endEvent id="end"/>' + flows("start", "sub", "review", "throw", "end"))
    inst = eng.start("p")
    assert "c_undo" not in completed(eng, inst), "the compensation event subprocess does not start by itself"
    [task] = eng.tasks(inst.id)
    done = eng.complete_task(task.id)
    assert done.status == "completed"
    assert done.variables["undone_total"] == 42
    assert "undone_inner" not in done.variables, "the event subprocess replaces the inner handlers"
    assert "c_undo" in completed(eng, done)


def test_job_handler_is_completed_by_a_worker(eng):
    refund = ('<bpmn:serviceTask id="refund" name="Refund" isForCompensation="true" '
              'camunda:type="external" camunda:topic="refund"/>')
    body = ('<bpmn:startEvent id="start"/>' + script_el("charge", "charged = 10") + compensable("charge", "refund", refund)
            + throw() + script_el("after", "finished = True") + '<bpmn:endEvent id="end"/>'
            + flows("start", "charge", "throw", "after", "end"))
    deploy(eng, body)
    inst = eng.start("p")
    assert inst.status == "running"
    assert "refund" in {a["element_id"] for a in inst.active}
    [job] = eng.claim_jobs("w", ["refund"])
    assert eng.get_instance(inst.id).status == "running", "the throw waits for the handler's job"
    eng.complete_job(job.id, "w", {"refunded": True})
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables["refunded"] is True and done.variables["finished"] is True
    events = [(h.event, h.element_id) for h in eng.history(inst.id)]
    assert events.index(("activity_completed", "refund")) < events.index(("activity_completed", "throw"))


@pytest.mark.parametrize("body, element, word", [
    ('<bpmn:startEvent id="start"/><bpmn:task id="a"/><bpmn:boundaryEvent id="lonely" attachedToRef="a">'
     '<bpmn:compensateEventDefinition/></bpmn:boundaryEvent><bpmn:endEvent id="end"/>' + flows("start", "a", "end"),
     "lonely", "handler"),
    ('<bpmn:startEvent id="start"/>' + throw(ref="ghost") + '<bpmn:endEvent id="end"/>' + flows("start", "throw", "end"),
     "throw", "ghost"),
    ('<bpmn:startEvent id="start"/><bpmn:task id="a"/>' + compensable("a", "undo_a")
     + '<bpmn:endEvent id="end"/><bpmn:endEvent id="end2"/>' + flows("start", "a", "end") + flows("undo_a", "end2"),
     "undo_a", "sequence flow"),
])
def test_invalid_compensation_models_are_refused_at_deploy_naming_the_element(eng, body, element, word):
    with pytest.raises(ModelError) as err:
        deploy(eng, body)
    assert err.value.element_id == element and str(err.value).startswith("p.bpmn:")
    assert word in str(err.value)
