"""Scopes: event subprocesses started inside the instance, terminate end events, transactions."""

from __future__ import annotations

from helpers import flows, process_xml

SIGNALS = '<bpmn:signal id="sig" name="stop"/><bpmn:error id="errA" errorCode="A"/>'


def run(engine, body: str, pid: str = "p", variables=None):
    engine.deploy_bytes([(f"{pid}.bpmn", process_xml(pid, body, extra=SIGNALS))])
    return engine.start(pid, variables or {})


def ready(engine, inst) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(instance_id=inst.id))


def complete(engine, inst, element_id: str):
    return engine.complete_task(next(t.id for t in engine.tasks(instance_id=inst.id) if t.element_id == element_id))


def cancelled(engine, inst) -> list[str]:
    return [h.element_id for h in engine.history(inst.id) if h.event == "activity_cancelled"]


SIGNAL_EVENT_SUBPROCESS = '''
<bpmn:startEvent id="start"/>
<bpmn:parallelGateway id="fork"/>
<bpmn:userTask id="work"/>
<bpmn:userTask id="trigger"/>
<bpmn:intermediateThrowEvent id="throw"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:intermediateThrowEvent>
<bpmn:endEvent id="end1"/><bpmn:endEvent id="end2"/>
<bpmn:subProcess id="evsub" triggeredByEvent="true">
  <bpmn:startEvent id="es" isInterrupting="INTERRUPTING"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:startEvent>
  <bpmn:userTask id="handle"/><bpmn:endEvent id="ee"/>
''' + flows("es>handle", "handle>ee") + '''</bpmn:subProcess>
''' + flows("start>fork", "fork>work", "fork>trigger", "trigger>throw", "throw>end1", "work>end2")


def test_interrupting_event_subprocess_started_by_a_signal_of_another_branch_cancels_the_process(engine):
    inst = run(engine, SIGNAL_EVENT_SUBPROCESS.replace("INTERRUPTING", "true"))
    assert ready(engine, inst) == ["trigger", "work"], "the event subprocess does not start on its own"
    inst = complete(engine, inst, "trigger")
    assert ready(engine, inst) == ["handle"]
    assert "work" in cancelled(engine, inst)
    assert complete(engine, inst, "handle").status == "completed"


def test_non_interrupting_event_subprocess_runs_next_to_the_process(engine):
    inst = run(engine, SIGNAL_EVENT_SUBPROCESS.replace("INTERRUPTING", "false"))
    inst = complete(engine, inst, "trigger")
    assert ready(engine, inst) == ["handle", "work"]
    assert complete(engine, inst, "work").status == "waiting"
    assert complete(engine, inst, "handle").status == "completed"


def test_a_second_instance_of_the_same_version_does_not_start_the_event_subprocess(engine):
    first = run(engine, SIGNAL_EVENT_SUBPROCESS.replace("INTERRUPTING", "true"))
    complete(engine, first, "trigger")
    second = engine.start("p")
    assert ready(engine, second) == ["trigger", "work"]


TERMINATE_PROCESS = '''
<bpmn:startEvent id="start"/>
<bpmn:parallelGateway id="fork"/>
<bpmn:userTask id="work"/>
<bpmn:subProcess id="busy"><bpmn:startEvent id="bs"/><bpmn:userTask id="busyTask"/><bpmn:endEvent id="be"/>
''' + flows("bs>busyTask", "busyTask>be") + '''</bpmn:subProcess>
<bpmn:userTask id="stop"/>
<bpmn:endEvent id="term"><bpmn:terminateEventDefinition/></bpmn:endEvent>
<bpmn:endEvent id="end1"/><bpmn:endEvent id="end2"/>
''' + flows("start>fork", "fork>work", "fork>busy", "fork>stop", "stop>term", "work>end1", "busy>end2")


def test_terminate_end_event_ends_the_whole_instance(engine):
    inst = run(engine, TERMINATE_PROCESS)
    assert ready(engine, inst) == ["busyTask", "stop", "work"]
    inst = complete(engine, inst, "stop")
    assert inst.status == "completed"
    assert engine.tasks(instance_id=inst.id) == []
    assert {"work", "busy", "busyTask"} <= set(cancelled(engine, inst))


TERMINATE_SUBPROCESS = '''
<bpmn:startEvent id="start"/>
<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/><bpmn:parallelGateway id="sf"/>
  <bpmn:userTask id="inner"/><bpmn:endEvent id="ie"/>
  <bpmn:endEvent id="term"><bpmn:terminateEventDefinition/></bpmn:endEvent>
''' + flows("ss>sf", "sf>inner", "sf>term", "inner>ie") + '''</bpmn:subProcess>
<bpmn:userTask id="after"/><bpmn:endEvent id="end"/>
''' + flows("start>sub", "sub>after", "after>end")


def test_terminate_in_a_subprocess_ends_only_the_subprocess(engine):
    inst = run(engine, TERMINATE_SUBPROCESS)
    assert ready(engine, inst) == ["after"]
    assert "inner" in cancelled(engine, inst)
    assert complete(engine, inst, "after").status == "completed"


def test_terminate_in_a_multi_instance_subprocess_ends_only_that_instance(engine):
    body = TERMINATE_SUBPROCESS.replace(
        '<bpmn:subProcess id="sub">',
        '<bpmn:subProcess id="sub"><bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        '<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef><bpmn:inputDataItem id="item"/>'
        '</bpmn:multiInstanceLoopCharacteristics>')
    # instance 0 terminates, the others wait in 'inner'
    body = body.replace(flows("ss>sf", "sf>inner", "sf>term", "inner>ie"),
                        '<bpmn:exclusiveGateway id="x" default="sf_x_inner"/>'
                        + flows("ss>x", "x>inner", "inner>ie")
                        + '<bpmn:sequenceFlow id="toTerm" sourceRef="x" targetRef="term">'
                        '<bpmn:conditionExpression>item == 0</bpmn:conditionExpression>'
                        '</bpmn:sequenceFlow>')
    body = body.replace('<bpmn:parallelGateway id="sf"/>', "")
    inst = run(engine, body, variables={"items": [0, 1, 2]})
    assert ready(engine, inst) == ["inner", "inner"]
    for task in engine.tasks(instance_id=inst.id):
        inst = engine.complete_task(task.id)
    assert ready(engine, inst) == ["after"]


TRANSACTION = '''
<bpmn:startEvent id="start"/>
<bpmn:transaction id="tx"><bpmn:startEvent id="ts"/><bpmn:parallelGateway id="tf"/>
  <bpmn:scriptTask id="book" scriptFormat="python"><bpmn:script>booked = True</bpmn:script></bpmn:scriptTask>
  <bpmn:userTask id="confirm"/><bpmn:exclusiveGateway id="ok" default="sf_ok_done"/>
  <bpmn:endEvent id="done"/><bpmn:endEvent id="bookedEnd"/>
  <bpmn:endEvent id="cancelEnd"><bpmn:cancelEventDefinition/></bpmn:endEvent>
  <bpmn:endEvent id="errorEnd"><bpmn:errorEventDefinition errorRef="errA"/></bpmn:endEvent>
  <bpmn:endEvent id="termEnd"><bpmn:terminateEventDefinition/></bpmn:endEvent>
''' + flows("ts>tf", "tf>book", "tf>confirm", "book>bookedEnd", "confirm>ok", "ok>done") + '''
  <bpmn:sequenceFlow id="toCancel" sourceRef="ok" targetRef="cancelEnd"><bpmn:conditionExpression>choice == "cancel"
  </bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="toError" sourceRef="ok" targetRef="errorEnd"><bpmn:conditionExpression>choice == "error"
  </bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="toTerm" sourceRef="ok" targetRef="termEnd"><bpmn:conditionExpression>choice == "terminate"
  </bpmn:conditionExpression></bpmn:sequenceFlow>
</bpmn:transaction>
<bpmn:boundaryEvent id="onCancel" attachedToRef="tx"><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="onError" attachedToRef="tx"><bpmn:errorEventDefinition errorRef="errA"/></bpmn:boundaryEvent>
<bpmn:userTask id="after"/><bpmn:userTask id="cancelled"/><bpmn:userTask id="failed"/>
<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/><bpmn:endEvent id="e3"/>
''' + flows("start>tx", "tx>after", "after>e1", "onCancel>cancelled", "cancelled>e2", "onError>failed", "failed>e3")


def test_transaction_cancel_end_event_takes_the_cancel_boundary_path(engine):
    inst = run(engine, TRANSACTION)
    assert ready(engine, inst) == ["confirm"]
    confirm = engine.tasks(instance_id=inst.id)[0]
    inst = engine.complete_task(confirm.id, {"choice": "cancel"})
    assert ready(engine, inst) == ["cancelled"]
    assert "tx" in cancelled(engine, inst)
    assert complete(engine, inst, "cancelled").status == "completed"


def test_error_inside_a_transaction_is_caught_by_its_error_boundary(engine):
    inst = run(engine, TRANSACTION)
    inst = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id, {"choice": "error"})
    assert ready(engine, inst) == ["failed"]


def test_terminate_inside_a_transaction_ends_the_transaction_normally(engine):
    inst = run(engine, TRANSACTION)
    inst = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id, {"choice": "terminate"})
    assert ready(engine, inst) == ["after"]


def test_transaction_completing_normally_takes_the_outgoing_flow(engine):
    inst = run(engine, TRANSACTION)
    inst = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id, {"choice": "ok"})
    assert ready(engine, inst) == ["after"]
    assert inst.variables["booked"] is True


def test_transaction_cancel_compensates_its_completed_activities_before_the_cancel_path(engine):
    with_handler = TRANSACTION.replace(
        '<bpmn:endEvent id="done"/>',
        '<bpmn:boundaryEvent id="undoBook" attachedToRef="book"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>'
        '<bpmn:scriptTask id="unbook" isForCompensation="true" scriptFormat="python">'
        '<bpmn:script>unbooked = True</bpmn:script></bpmn:scriptTask>'
        '<bpmn:endEvent id="done"/>').replace(
        '</bpmn:transaction>', '<bpmn:association id="a1" sourceRef="undoBook" targetRef="unbook"/></bpmn:transaction>')
    inst = run(engine, with_handler)
    confirm = engine.tasks(instance_id=inst.id)[0]
    inst = engine.complete_task(confirm.id, {"choice": "cancel"})
    assert ready(engine, inst) == ["cancelled"]
    events = [(h.event, h.element_id) for h in engine.history(inst.id)]
    assert events.index(("activity_completed", "unbook")) < events.index(("activity_completed", "onCancel"))
    assert "tx" in cancelled(engine, inst)


def test_transaction_cancel_without_compensation_handlers_just_cancels(engine):
    inst = run(engine, TRANSACTION)
    inst = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id, {"choice": "cancel"})
    assert "unbook" not in [h.element_id for h in engine.history(inst.id)]
    assert ready(engine, inst) == ["cancelled"]
