"""BPMN escalations: throw and end events, boundary events (interrupting or not), event subprocesses."""

from __future__ import annotations

from helpers import flows, process_xml

ESCALATIONS = '<bpmn:escalation id="escA" escalationCode="A"/><bpmn:escalation id="escB" escalationCode="B"/>'


def sub_escalating(ref: str = "escA") -> str:
    """Subprocess: throw escalation, then wait in user task 'inside'."""
    return ('<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>'
            f'<bpmn:intermediateThrowEvent id="esc"><bpmn:escalationEventDefinition escalationRef="{ref}"/>'
            '</bpmn:intermediateThrowEvent><bpmn:userTask id="inside"/><bpmn:endEvent id="se"/>'
            + flows("ss>esc", "esc>inside", "inside>se") + "</bpmn:subProcess>")


def with_boundary(inner: str, ref: str | None, interrupting: bool, attrs: str = "") -> str:
    ref_attr = f' escalationRef="{ref}"' if ref else ""
    cancel = "true" if interrupting else "false"
    return ('<bpmn:startEvent id="start"/>' + inner + '<bpmn:userTask id="after"/><bpmn:endEvent id="end"/>'
            f'<bpmn:boundaryEvent id="bnd" attachedToRef="sub" cancelActivity="{cancel}">'
            f'<bpmn:escalationEventDefinition{ref_attr}{attrs}/></bpmn:boundaryEvent>'
            '<bpmn:userTask id="escalated"/><bpmn:endEvent id="end2"/>'
            + flows("start>sub", "sub>after", "after>end", "bnd>escalated", "escalated>end2"))


def run(engine, body: str, pid: str = "p"):
    engine.deploy_bytes([(f"{pid}.bpmn", process_xml(pid, body, extra=ESCALATIONS))])
    return engine.start(pid)


def ready(engine, inst) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(instance_id=inst.id))


def test_non_interrupting_boundary_runs_next_to_the_subprocess(engine):
    inst = run(engine, with_boundary(sub_escalating(), "escA", interrupting=False))
    assert ready(engine, inst) == ["escalated", "inside"]


def test_interrupting_boundary_cancels_the_subprocess(engine):
    inst = run(engine, with_boundary(sub_escalating(), None, interrupting=True))
    assert ready(engine, inst) == ["escalated"]
    cancelled = [h.element_id for h in engine.history(inst.id) if h.event == "activity_cancelled"]
    assert "sub" in cancelled


def test_boundary_for_another_code_does_not_catch_and_the_flow_goes_on(engine):
    inst = run(engine, with_boundary(sub_escalating(), "escB", interrupting=True))
    assert ready(engine, inst) == ["inside"]
    for name in ("inside", "after"):
        inst = engine.complete_task(next(t.id for t in engine.tasks(instance_id=inst.id) if t.element_id == name))
    assert inst.status == "completed"


CHILD = process_xml("child", '<bpmn:startEvent id="cs"/><bpmn:intermediateThrowEvent id="cesc">'
                    '<bpmn:escalationEventDefinition escalationRef="escA"/></bpmn:intermediateThrowEvent>'
                    '<bpmn:userTask id="childTask"/><bpmn:endEvent id="ce"/>'
                    + flows("cs>cesc", "cesc>childTask", "childTask>ce"), extra=ESCALATIONS)


def test_escalation_from_called_process_reaches_caller_boundary_with_its_code(engine):
    parent = with_boundary('<bpmn:callActivity id="sub" calledElement="child"/>', None, interrupting=False,
                           attrs=' camunda:escalationCodeVariable="code"')
    engine.deploy_bytes([("child.bpmn", CHILD), ("parent.bpmn", process_xml("parent", parent, extra=ESCALATIONS))])
    inst = engine.start("parent")
    assert ready(engine, inst) == ["childTask", "escalated"]
    for name in ("escalated", "childTask", "after"):
        inst = engine.complete_task(next(t.id for t in engine.tasks(instance_id=inst.id) if t.element_id == name))
    assert inst.status == "completed" and inst.variables["code"] == "A"


ESCALATION_EVENT_SUBPROCESS = '''
<bpmn:startEvent id="start"/>
<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>
  <bpmn:endEvent id="escEnd"><bpmn:escalationEventDefinition escalationRef="escA"/></bpmn:endEvent>
''' + flows("ss>escEnd") + '''</bpmn:subProcess>
<bpmn:userTask id="after"/><bpmn:endEvent id="end"/>
<bpmn:subProcess id="evsub" triggeredByEvent="true">
  <bpmn:startEvent id="es" isInterrupting="INTERRUPTING">
    <bpmn:escalationEventDefinition escalationRef="escA" camunda:escalationCodeVariable="code"/></bpmn:startEvent>
  <bpmn:userTask id="handle"/><bpmn:endEvent id="ee"/>
''' + flows("es>handle", "handle>ee") + '''</bpmn:subProcess>
''' + flows("start>sub", "sub>after", "after>end")


def test_non_interrupting_escalation_event_subprocess_lets_the_process_go_on(engine):
    inst = run(engine, ESCALATION_EVENT_SUBPROCESS.replace("INTERRUPTING", "false"))
    assert ready(engine, inst) == ["after", "handle"]
    for name in ("handle", "after"):
        inst = engine.complete_task(next(t.id for t in engine.tasks(instance_id=inst.id) if t.element_id == name))
    assert inst.status == "completed" and inst.variables["code"] == "A"


def test_interrupting_escalation_event_subprocess_cancels_the_process(engine):
    inst = run(engine, ESCALATION_EVENT_SUBPROCESS.replace("INTERRUPTING", "true"))
    assert ready(engine, inst) == ["handle"]
    inst = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id)
    assert inst.status == "completed"
    assert "after" not in [h.element_id for h in engine.history(inst.id) if h.event == "task_created"]


def test_an_escalation_event_subprocess_sets_its_code_variable_while_it_runs(engine):
    """EscalationEventSubprocessTest#test...RetrieveEscalationCodeInSuperProcess: Camunda sets the
    escalationCodeVariable on the instance at once, so it is there while the event subprocess's task is open."""
    for interrupting, open_tasks in (("true", ["handle"]), ("false", ["after", "handle"])):
        inst = run(engine, ESCALATION_EVENT_SUBPROCESS.replace("INTERRUPTING", interrupting), pid=f"p{interrupting}")
        assert ready(engine, inst) == open_tasks
        assert engine.get_instance(inst.id).variables["code"] == "A"
