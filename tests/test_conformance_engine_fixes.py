"""Engine bugs the conformance corpus found (issue 6), each restated as a regression test.

The corpus files are Camunda 7's own test models (tests/corpus, Apache-2.0); the JUnit test each restates is
named in its docstring.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import flows, process_xml
from test_scheduler import wait_for
from test_timers import catch_process

from engine import Engine
from engine.errors import ModelError, ScriptError
from engine.scheduler import TimerScheduler
from engine.store import event_queries as eq

BPMN = Path(__file__).parent / "corpus" / "camunda7" / "bpmn"


def deploy(engine, *files: str) -> None:
    engine.deploy_bytes([(Path(f).name, (BPMN / f).read_bytes()) for f in files])


def ready(engine, inst) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(instance_id=inst.id))


def complete(engine, inst, element_id: str, variables=None):
    task = next(t for t in engine.tasks(instance_id=inst.id) if t.element_id == element_id)
    return engine.complete_task(task.id, variables or {})


def subscriptions(engine, inst) -> set[tuple[str, str]]:
    with engine._tx() as conn:
        _, subscribed = eq.instance_waits(conn, inst.id)
    return {(kind, name) for subs in subscribed.values() for kind, name, _ in subs}


# ---- an interrupting event subprocess ends the other subscriptions of its scope -------------------------


def test_interrupting_event_subprocess_stops_the_other_event_subprocesses_listening(engine):
    """InterruptingEventSubProcessTest#testCancelEventSubscriptionsWhenReceivingAMessage: once the message event
    subprocess has started, the signal event subprocess no longer listens (its subscription row is gone in
    the same transaction) and a later signal changes nothing."""
    deploy(engine, "subprocess/InterruptingEventSubProcessTest.testCancelEventSubscriptions.bpmn")
    inst = engine.start("process")
    assert subscriptions(engine, inst) == {("message", "newMessage"), ("signal", "newSignal")}
    assert engine.correlate_message("newMessage").delivered_to == [inst.id]
    assert ready(engine, inst) == ["taskAfterMessageStartEvent"]
    assert subscriptions(engine, inst) == set()
    assert engine.broadcast_signal("newSignal").delivered_to == []
    assert ready(engine, inst) == ["taskAfterMessageStartEvent"]
    assert complete(engine, inst, "taskAfterMessageStartEvent").status == "completed"
    passed = {h.element_id for h in engine.history(inst.id) if h.event == "activity_completed"}
    assert "tastAfterSignalStartEvent" not in passed


# ---- errors of processes called by a multi-instance call activity -----------------------------------------


MI = "multiinstance/MultiInstanceTest."


def test_error_end_event_of_a_process_called_by_a_parallel_multi_instance_call_activity_is_caught(engine):
    """MultiInstanceTest#testMultiInstanceCallActivityWithErrorBoundaryEvent: the first called process ends with
    error errorId1; the boundary event on the multi-instance call activity catches it and the other call is
    cancelled."""
    deploy(engine, MI + "callActivityWithBoundaryErrorEvent.bpmn20.xml", MI + "throwingErrorEventSubProcess.bpmn20.xml")
    inst = engine.start("process", {"assignees": ["kermit", "gonzo"]})
    assert ready(engine, inst) == ["usertask1", "usertask1"]
    inst = complete(engine, inst, "usertask1", {"done": False})
    assert inst.status == "waiting", inst.error
    assert ready(engine, inst) == ["handleErrorTask"]
    assert complete(engine, inst, "handleErrorTask").status == "completed"
    passed = [h.element_id for h in engine.history(inst.id) if h.event == "activity_completed"]
    assert "boundaryerror1" in passed and "endevent1" not in passed


def test_error_end_event_of_a_process_called_by_a_sequential_multi_instance_call_activity_is_caught(engine):
    """MultiInstanceTest#testSequentialMultiInstanceCallActivityWithErrorBoundaryEvent"""
    deploy(engine, MI + "callActivityWithBoundaryErrorEventSequential.bpmn20.xml",
           MI + "throwingErrorEventSubProcess.bpmn20.xml")
    inst = engine.start("process", {"assignees": ["kermit", "gonzo"]})
    assert ready(engine, inst) == ["usertask1"]
    inst = complete(engine, inst, "usertask1", {"done": False})
    assert ready(engine, inst) == ["handleErrorTask"]
    assert complete(engine, inst, "handleErrorTask").status == "completed"


# ---- Camunda's multi-instance variables ----------------------------------------------------------------


def test_completion_condition_reads_nr_of_completed_instances_and_nr_of_instances(engine):
    """MultiInstanceTest#testParallelUserTasksCompletionCondition: nrOfCompletedInstances/nrOfInstances >= 0.5
    ends the five parallel tasks after the third."""
    deploy(engine, MI + "testParallelUserTasksCompletionCondition.bpmn20.xml")
    inst = engine.start("miParallelUserTasksCompletionCondition")
    assert ready(engine, inst) == ["miTasks"] * 5
    for left in (4, 3):
        inst = complete(engine, inst, "miTasks")
        assert ready(engine, inst) == ["miTasks"] * left
    inst = complete(engine, inst, "miTasks")
    assert inst.status == "completed", inst.error
    assert not {"nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances", "loopCounter"} & set(
        inst.variables), "the multi-instance variables are local to the activity"


def test_loop_counter_reaches_assignees_and_sequential_completion_condition(engine):
    """MultiInstanceTest#testSequentialUserTasks: assignee kermit_${loopCounter}, one task after the other."""
    deploy(engine, MI + "sequentialUserTasks.bpmn20.xml")
    inst = engine.start("miSequentialUserTasks", {"nrOfLoops": 3})
    for n in range(3):
        [task] = engine.tasks(instance_id=inst.id)
        assert task.assignee == f"kermit_{n}"
        inst = engine.complete_task(task.id)
    assert inst.status == "completed", inst.error


def test_multi_instance_variables_in_scripts_of_an_embedded_subprocess(engine):
    """Scripts and assignees inside a multi-instance embedded subprocess see its instance's loopCounter."""
    body = '''
<bpmn:startEvent id="start"/>
<bpmn:subProcess id="each">
  <bpmn:multiInstanceLoopCharacteristics isSequential="false">
    <bpmn:loopCardinality>3</bpmn:loopCardinality>
    <bpmn:completionCondition>${nrOfCompletedInstances == 2}</bpmn:completionCondition>
  </bpmn:multiInstanceLoopCharacteristics>
  <bpmn:startEvent id="s"/>
  <bpmn:scriptTask id="note" scriptFormat="python"><bpmn:script>who = f"w{loopCounter}of{nrOfInstances}"</bpmn:script></bpmn:scriptTask>
  <bpmn:userTask id="work" camunda:assignee="${who}-${loopCounter}"/>
  <bpmn:endEvent id="e"/>
''' + flows("s>note", "note>work", "work>e") + '''
</bpmn:subProcess>
<bpmn:endEvent id="end"/>
''' + flows("start>each", "each>end")
    engine.deploy_bytes([("mi.bpmn", process_xml("mi", body))])
    inst = engine.start("mi")
    tasks = engine.tasks(instance_id=inst.id)
    assert len(tasks) == 3
    assert sorted(t.assignee for t in tasks) == ["w0of3-0", "w1of3-1", "w2of3-2"]
    inst = engine.complete_task(tasks[0].id)
    assert inst.status == "waiting"
    inst = engine.complete_task(tasks[1].id)
    assert inst.status == "completed", "the completion condition ends the activity after two of three"


# ---- a timer already due when armed fires after the call that armed it --------------------------------------


GATEWAY = "gateway/EventBasedGatewayTest."


def test_a_signal_sent_right_after_the_start_wins_over_a_pt0s_timer(engine):
    """EventBasedGatewayTest#testCatchSignalCancelsTimer: the PT0S timer of the event-based gateway is armed
    due now but does not fire inside the start call; the signal thrown by the next start takes its path and
    the timer is dropped."""
    deploy(engine, GATEWAY + "testCatchAlertAndTimer.bpmn20.xml", GATEWAY + "throwAlertSignal.bpmn20.xml")
    inst = engine.start("catchSignal")
    assert inst.status == "waiting" and ready(engine, inst) == []
    [timer] = engine.timers(inst.id)
    assert timer["due_at"] <= engine.now()
    assert engine.start("throwSignal").status == "completed"
    assert ready(engine, inst) == ["task2"]
    assert engine.timers(inst.id) == [] and engine.fire_due_timers() == []
    assert complete(engine, inst, "task2").status == "completed"


def test_a_pt0s_timer_fires_on_the_next_look_at_due_timers(engine):
    deploy(engine, GATEWAY + "testCatchAlertAndTimer.bpmn20.xml")
    inst = engine.start("catchSignal")
    assert [f["instance_id"] for f in engine.fire_due_timers()] == [inst.id]
    assert ready(engine, inst) == ["task1"]


def test_the_scheduler_fires_a_pt0s_timer_promptly_after_the_start_commits(settings):
    eng = Engine(settings)
    scheduler = TimerScheduler(eng, poll=600)  # only the wake-up after the commit can fire it in time
    scheduler.start()
    try:
        eng.deploy_bytes([("z.bpmn", catch_process("zero", "timeDuration", "PT0S"))])
        began = time.monotonic()
        inst = eng.start("zero")
        assert inst.status == "waiting"
        assert wait_for(lambda: eng.get_instance(inst.id).status == "completed", 5)
        delay = time.monotonic() - began
        [fired] = [h for h in eng.history(inst.id) if h.event == "timer_fired"]
        assert fired.details["late_by"] < 0.5 and delay < 1.0, (fired.details, delay)
    finally:
        scheduler.stop()
        eng.close()


# ---- references to messages and signals that do not exist ------------------------------------------------


@pytest.mark.parametrize("definition, kind, ref", [
    ('<bpmn:messageEventDefinition messageRef="nowhere"/>', "message", "nowhere"),
    ('<bpmn:signalEventDefinition signalRef="ghost"/>', "signal", "ghost"),
])
def test_a_throw_event_referring_to_an_undeclared_message_or_signal_is_refused_at_deploy(engine, definition, kind,
                                                                                         ref):
    body = (f'<bpmn:startEvent id="start"/><bpmn:intermediateThrowEvent id="shout">{definition}'
            '</bpmn:intermediateThrowEvent><bpmn:endEvent id="end"/>' + flows("start>shout", "shout>end"))
    with pytest.raises(ModelError) as info:
        engine.deploy_bytes([("refs.bpmn", process_xml("refs", body))])
    error = info.value
    assert error.element_id == "shout" and error.file == "refs.bpmn" and error.line
    assert f"refers to {kind} '{ref}', which the file does not declare" in str(error)
    assert engine.definitions() == []


def test_a_receive_task_referring_to_an_undeclared_message_is_refused_and_the_corpus_model_names_it(engine):
    body = ('<bpmn:startEvent id="start"/><bpmn:receiveTask id="wait" messageRef="m1"/><bpmn:endEvent id="end"/>'
            + flows("start>wait", "wait>end"))
    with pytest.raises(ModelError, match="receiveTask of 'wait' refers to message 'm1'"):
        engine.deploy_bytes([("r.bpmn", process_xml("r", body))])
    with pytest.raises(ModelError, match="'intermediateThrowEvent' refers to message 'testMessage1'"):
        deploy(engine, "exclusive/ExclusiveThrowEventTest.testExclusiveThrowEvent.bpmn")


# ---- a failure while applying an engine call's own change is a Baton error and changes nothing -----------


MI_CONDITION = '''
<bpmn:startEvent id="start"/>
<bpmn:userTask id="review">
  <bpmn:multiInstanceLoopCharacteristics isSequential="false">
    <bpmn:loopCardinality>2</bpmn:loopCardinality>
    <bpmn:completionCondition>${approvals &gt; 1}</bpmn:completionCondition>
  </bpmn:multiInstanceLoopCharacteristics>
</bpmn:userTask>
<bpmn:endEvent id="end"/>
''' + flows("start>review", "review>end")


def test_a_completion_condition_failing_when_a_task_is_completed_is_a_script_error_and_changes_nothing(engine):
    engine.deploy_bytes([("cc.bpmn", process_xml("cc", MI_CONDITION))])
    inst = engine.start("cc")
    first, second = engine.tasks(instance_id=inst.id)
    history = len(engine.history(inst.id))
    with pytest.raises(ScriptError) as info:
        engine.complete_task(first.id, {"note": "ok"})
    assert info.value.element_id == "review"
    assert "completing task review failed" in str(info.value) and "approvals" in str(info.value)
    assert "nothing was changed" in str(info.value)
    after = engine.get_instance(inst.id)
    assert after.status == "waiting" and "note" not in after.variables
    assert sorted(t.id for t in engine.tasks(instance_id=inst.id)) == sorted([first.id, second.id])
    assert len(engine.history(inst.id)) == history
    assert engine.complete_task(first.id, {"approvals": 2}).status == "completed", "the task can be completed again"


def test_an_output_mapping_failing_on_a_job_result_is_a_script_error_and_the_job_stays_locked(engine):
    from helpers import chain, service_task

    io = ('<camunda:inputOutput><camunda:outputParameter name="receipt">R-${charge_id}</camunda:outputParameter>'
          '</camunda:inputOutput>')
    engine.deploy_bytes([("j.bpmn", process_xml("j", chain(service_task("payment", io))))])
    inst = engine.start("j")
    [job] = engine.claim_jobs("w1", ["payment"])
    with pytest.raises(ScriptError, match=f"taking the result of job {job.id} failed"):
        engine.complete_job(job.id, "w1", {})
    [still] = engine.jobs()
    assert (still.id, still.lock_owner) == (job.id, "w1")
    assert engine.get_instance(inst.id).status == "running"
    engine.complete_job(job.id, "w1", {"charge_id": 7})
    assert engine.get_instance(inst.id).variables["receipt"] == "R-7"


# ---- an escalation passing a call activity takes its output mappings ---------------------------------------


def test_an_uncaught_escalation_passes_the_called_process_outputs_to_the_caller(engine):
    """EscalationEventTest#testPropagateOutputVariablesWithoutCatchEscalation: nothing catches the called
    process's escalation, which goes on to its task; the call activity's camunda:out (input -> output) has
    already given the caller its output."""
    esc = "event/escalation/EscalationEventTest."
    deploy(engine, esc + "testPropagateOutputVariablesWithoutCatchEscalation.bpmn20.xml",
           esc + "throwEscalationEvent.bpmn20.xml")
    inst = engine.start("catchEscalationProcess", {"input": 42})
    assert ready(engine, inst) == ["task"]
    assert inst.variables["output"] == 42
    assert complete(engine, inst, "task").status == "completed"
    assert engine.get_instance(inst.id).variables["output"] == 42
