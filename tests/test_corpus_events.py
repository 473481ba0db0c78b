"""Camunda 7's own timer, message and signal tests, restated for Baton on the diagrams they deploy.

Each test names the JUnit test (camunda-bpm-platform, ``Class#method``) whose expected outcome it checks,
on a verbatim copy of its diagram under ``tests/corpus/camunda7`` (see tests/corpus/README.md).  Camunda
executes timer jobs by id; here the test ``clock`` is moved past the due time and ``fire_due_timers`` fires
what is due, so where Camunda fires one of several timers the restatement moves time in steps instead.
Java delegates cannot run: they become Python script tasks in an inline copy of the diagram.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.errors import NoSubscription
from engine.worker import Worker

CORPUS = Path(__file__).resolve().parent / "corpus" / "camunda7" / "bpmn"
TIMER = "event/timer/"
MESSAGE = "event/message/"
SIGNAL = "event/signal/"
RECEIVE = "receivetask/"


# Known gaps found while restating these tests; each xfail is strict, so a fix turns it into a failure that asks
# for the mark to go.


def deploy(eng, rel: str, *replacements: tuple[str, str]) -> None:
    """Deploy the corpus file ``rel``, with each (old, new) text replaced first (for Java delegates, JUEL)."""
    data = (CORPUS / rel).read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in data, old
        data = data.replace(old, new)
    eng.deploy_bytes([(Path(rel).name, data.encode())])


def open_tasks(eng, instance_id: str) -> list[str]:
    return sorted(t.element_id for t in eng.tasks(instance_id))


def complete(eng, instance_id: str, element_id: str, variables: dict | None = None):
    task = next(t for t in eng.tasks(instance_id) if t.element_id == element_id)
    return eng.complete_task(task.id, variables)


def status(eng, instance_id: str) -> str:
    return eng.get_instance(instance_id).status


def fire(eng, clock, seconds: float) -> list[dict]:
    clock.advance(seconds)
    return eng.fire_due_timers()


def events(eng, instance_id: str, kind: str) -> list[str | None]:
    return [h.element_id for h in eng.history(instance_id) if h.event == kind]


# ---- timers ------------------------------------------------------------------------------------------------


def test_boundary_timer_interrupting_duration(eng, clock):
    """BoundaryTimerEventTest#testInterruptingTimerDuration: after 5 minutes the escalation task replaces the first."""
    deploy(eng, TIMER + "BoundaryTimerEventTest.testInterruptingTimerDuration.bpmn20.xml")
    iid = eng.start("escalationExample").id
    assert open_tasks(eng, iid) == ["firstLineSupport"]
    [timer] = eng.timers(iid)
    assert timer["due_at"] == clock() + dt.timedelta(minutes=5)
    assert fire(eng, clock, 299) == []
    assert [f["element_id"] for f in fire(eng, clock, 1)] == ["escalationTimer"]
    assert open_tasks(eng, iid) == ["handleEscalation"]
    assert eng.timers(iid) == []
    complete(eng, iid, "handleEscalation")
    assert status(eng, iid) == "completed"
    assert events(eng, iid, "timer_fired") == ["escalationTimer"]


def test_boundary_timer_on_subprocess_that_ends_at_once(eng, clock):
    """BoundaryTimerEventTest#testTimerInSingleTransactionProcess: the subprocess ends in the start call, the timer
    is never needed and the task after it never appears."""
    deploy(eng, TIMER + "BoundaryTimerEventTest.testTimerInSingleTransactionProcess.bpmn20.xml")
    iid = eng.start("timerOnSubprocesses").id
    assert status(eng, iid) == "completed"
    assert eng.timers() == []
    assert fire(eng, clock, 3 * 3600) == []
    assert "taskAfterCatch" not in events(eng, iid, "activity_started")


def test_boundary_timer_date_from_variable(eng, clock):
    """BoundaryTimerEventTest#testRecalculate{Unchanged,Changed}ExpressionOnTimer{Current,Creation}DateBased:
    ``<timeDate>${duedate}</timeDate>`` with ``duedate = "PT1H"`` arms a timer one hour after the start, which then
    ends the process.  (Camunda's ``recalculateJobDuedate`` has no Baton counterpart: not restated.)"""
    deploy(eng, TIMER + "BoundaryTimerEventTest.testRecalculateUnchangedExpressionOnTimerCurrentDateBased.bpmn20.xml")
    started = clock()
    iid = eng.start("testExpressionOnTimer", {"duedate": "PT1H"}).id
    [timer] = eng.timers(iid)
    assert timer["due_at"] == started + dt.timedelta(hours=1)
    assert fire(eng, clock, 3605)
    assert status(eng, iid) == "completed"
    assert eng.timers() == []


def test_boundary_timer_removed_when_task_completed_with_variables(eng, clock):
    """BoundaryTimerEventFullHistoryTest#testSetProcessVariablesFromTaskWhenTimerOnTask: variables set from the task
    that carries a timer are kept, and completing the task removes the timer."""
    deploy(eng, TIMER + "BoundaryTimerEventFullHistoryTest.testSetProcessVariablesFromTaskWhenTimerOnTask.bpmn20.xml")
    iid = eng.start("timerVariablesProcess").id
    assert len(eng.timers(iid)) == 1
    done = complete(eng, iid, "task", {"myVar": "123456"})
    assert done.status == "completed" and done.variables["myVar"] == "123456"
    assert eng.timers() == []
    assert fire(eng, clock, 3 * 3600) == []


def test_non_interrupting_boundary_timer_cycle(eng, clock):
    """BoundaryTimerNonInterruptingEventTest#testTimerWithCycle / #testTimeCycle: R/PT1H fires every hour while the
    task waits, each time adding a task; once the task is completed it fires no more."""
    deploy(eng, TIMER + "BoundaryTimerNonInterruptingEventTest.testTimerWithCycle.bpmn20.xml")
    iid = eng.start("nonInterruptingCycle").id
    assert len(eng.timers(iid)) == 1
    fire(eng, clock, 3600)
    assert open_tasks(eng, iid) == ["task", "timerFiredTask"]
    assert len(eng.timers(iid)) == 1
    fire(eng, clock, 3600)
    assert open_tasks(eng, iid) == ["task", "timerFiredTask", "timerFiredTask"]
    assert events(eng, iid, "timer_fired") == ["timer", "timer"]
    complete(eng, iid, "task")
    assert eng.timers(iid) == []
    assert fire(eng, clock, 3600) == []
    assert open_tasks(eng, iid) == ["timerFiredTask", "timerFiredTask"]
    complete(eng, iid, "timerFiredTask")
    complete(eng, iid, "timerFiredTask")
    assert status(eng, iid) == "completed"


def test_non_interrupting_boundary_timer_cycle_on_receive_task(eng, clock):
    """BoundaryTimerNonInterruptingEventTest#testReceiveTaskWithBoundaryTimer: ``${timeCycle}`` = R/PT1H on a
    receive task arms one timer; triggering the receive task ends the process and drops the timer."""
    deploy(eng, TIMER + "BoundaryTimerNonInterruptingEventTest.testReceiveTaskWithBoundaryTimer.bpmn20.xml")
    iid = eng.start("nonInterruptingCycle", {"timeCycle": "R/PT1H"}).id
    assert len(eng.timers(iid)) == 1
    assert [a["element_id"] for a in eng.get_instance(iid).active] == ["task", "timer"]  # the boundary waits too
    fire(eng, clock, 3600)
    assert open_tasks(eng, iid) == ["timerFiredTask"]
    assert len(eng.timers(iid)) == 1
    _trigger_receive_task(eng, iid)
    assert eng.timers(iid) == []
    complete(eng, iid, "timerFiredTask")
    assert status(eng, iid) == "completed"


def _trigger_receive_task(eng, iid, element_id="task"):
    """Go on past a receive task with no message reference (Camunda: ``runtimeService.signal``): in Baton it
    waits for a message named after its element id."""
    assert eng.correlate_message(element_id).delivered_to == [iid]


def test_non_interrupting_boundary_timer_on_concurrent_tasks(eng, clock):
    """BoundaryTimerNonInterruptingEventTest#testTimerOnConcurrentTasks / #testTimerOnConcurrentTasks2: the timer on
    one branch adds a third task; the process ends once all three are done, in either order."""
    for order in (["timerFiredTask", "firstTask", "secondTask"], ["firstTask", "secondTask", "timerFiredTask"]):
        deploy(eng, TIMER + "BoundaryTimerNonInterruptingEventTest.testTimerOnConcurrentTasks.bpmn20.xml")
        iid = eng.start("nonInterruptingOnConcurrentTasks").id
        assert open_tasks(eng, iid) == ["firstTask", "secondTask"]
        fire(eng, clock, 3600)
        assert open_tasks(eng, iid) == ["firstTask", "secondTask", "timerFiredTask"]
        for element in order:
            complete(eng, iid, element)
        assert status(eng, iid) == "completed"


def test_intermediate_timer_cron_cycle(eng, clock):
    """IntermediateTimerEventTest#testTimeCycle: the Quartz cron ``0 0/5 * * * ?`` waits for the next 5-minute mark,
    then the process moves on to its task and the timer is gone."""
    deploy(eng, TIMER + "IntermediateTimerEventTest.testTimeCycle.bpmn20.xml")
    clock.advance(60)  # 12:01
    iid = eng.start("process").id
    [timer] = eng.timers(iid)
    assert (timer["due_at"].hour, timer["due_at"].minute, timer["due_at"].second) == (12, 5, 0)
    assert fire(eng, clock, 239) == []
    fire(eng, clock, 1)
    assert open_tasks(eng, iid) == ["task"]
    assert eng.timers() == []


def test_start_timer_cron_cycle(eng, clock):
    """StartTimerEventTest#testTimeCycle: a cron start timer is armed at deploy; firing it starts an instance and
    arms the next occurrence (a new due time), so there is still exactly one start timer."""
    deploy(eng, TIMER + "StartTimerEventTest.testTimeCycle.bpmn20.xml")
    [first] = eng.timers()
    assert first["start"] and first["instance_id"] is None
    fired = fire(eng, clock, 300)
    assert len(fired) == 1
    [again] = eng.timers()
    assert again["due_at"] > first["due_at"]
    [instance] = eng.instances(key="process")
    assert open_tasks(eng, instance.id) == ["userTask"]


def test_start_timer_duration(eng, clock):
    """StartTimerEventTest#testDurationStartTimerEvent: PT5M after deploy one instance starts (waiting in its receive
    task) and the start timer, used up, is gone."""
    deploy(eng, TIMER + "StartTimerEventTest.testDurationStartTimerEvent.bpmn20.xml")
    assert len(eng.timers()) == 1
    assert fire(eng, clock, 299) == []
    assert eng.instances(key="startTimerEventExample") == []
    [fired] = fire(eng, clock, 1)
    [instance] = eng.instances(key="startTimerEventExample")
    assert fired["instance_id"] == instance.id
    assert instance.status == "waiting"  # Camunda: "running"; in Baton an instance at a wait state is waiting
    assert [a["element_id"] for a in instance.active] == ["receive"]
    assert eng.timers() == []
    assert fire(eng, clock, 600) == []


DUMMY_SERVICE = ('<serviceTask id="subprocessServiceTask" '
                 'camunda:class="org.camunda.bpm.engine.test.bpmn.event.timer.DummyServiceTask" />',
                 '<scriptTask id="subprocessServiceTask" scriptFormat="python">'
                 '<script>dummy_executed = True</script></scriptTask>')


def test_timer_event_subprocess_in_sequential_multi_instance_with_boundary_timer(eng, clock):
    """StartTimerEventTest#testStartTimerEventSubProcessInMultiInstanceSubProcessWithNonInterruptingBoundaryTimerEvent:
    the interrupting timer event subprocess (PT1M) ends loop 1 after running its service task, loop 2 starts with
    its own task and timer; the non-interrupting boundary timer (PT10S) fires once and the instance goes on."""
    deploy(eng, TIMER + "StartTimerEventTest.testStartTimerEventSubProcessInMultiInstanceSubProcessWithNonInterrupting"
           "BoundaryTimerEvent.bpmn20.xml", DUMMY_SERVICE)
    iid = eng.start("process").id
    assert open_tasks(eng, iid) == ["userTask"]
    assert len(eng.timers(iid)) == 2
    assert [f["element_id"] for f in fire(eng, clock, 10)] == ["timerBoundary"]
    assert [f["element_id"] for f in fire(eng, clock, 50)] == ["subprocessStartEvent"]
    assert "subprocessServiceTask" in events(eng, iid, "activity_completed")
    assert open_tasks(eng, iid) == ["userTask"]
    assert len(eng.timers(iid)) == 1
    assert status(eng, iid) == "waiting"  # Camunda says "running"; Baton's waiting = a person's task is open


def test_timer_event_subprocess_in_parallel_multi_instance_with_boundary_timer(eng, clock):
    """StartTimerEventTest#testStartTimerEventSubProcessInParallelMultiInstanceSubProcessWithNonInterrupting...:
    two parallel loops each with a task and an interrupting PT1M timer event subprocess, plus a non-interrupting
    PT10S boundary: three timers.  The boundary fires alone; then each event subprocess interrupts its loop (its
    service task runs), and with both loops ended the process ends with no timers left."""
    deploy(eng, "event/timer/StartTimerEventTest.testStartTimerEventSubProcessInParallelMultiInstanceSubProcessWith"
           "NonInterruptingBoundaryTimerEvent.bpmn20.xml", DUMMY_SERVICE)
    iid = eng.start("process").id
    assert open_tasks(eng, iid) == ["userTask", "userTask"]
    assert len(eng.timers(iid)) == 3
    assert [f["element_id"] for f in fire(eng, clock, 10)] == ["timerBoundary"]
    assert open_tasks(eng, iid) == ["userTask", "userTask"]
    assert len(eng.timers(iid)) == 2
    fire(eng, clock, 50)
    assert events(eng, iid, "timer_fired").count("subprocessStartEvent") == 2
    assert events(eng, iid, "activity_completed").count("subprocessServiceTask") == 2
    assert open_tasks(eng, iid) == []
    assert eng.timers() == []
    assert status(eng, iid) == "completed"


def test_interrupting_timer_event_subprocess_cron(eng, clock):
    """InterruptingEventSubProcessTest#testTimeCycle: the cron timer of an interrupting event subprocess fires once,
    cancels the task and leaves no timer; the event subprocess's task ends the process."""
    deploy(eng, "subprocess/InterruptingEventSubProcessTest.testTimeCycle.bpmn20.xml")
    iid = eng.start("process").id
    assert open_tasks(eng, iid) == ["task"]
    assert len(eng.timers(iid)) == 1
    fire(eng, clock, 300)
    assert open_tasks(eng, iid) == ["eventSubProcessTask"]
    assert eng.timers() == []
    complete(eng, iid, "eventSubProcessTask")
    assert status(eng, iid) == "completed"


def test_timer_event_subprocess_with_failing_script(eng, clock):
    """FoxJobRetryCmdTest#testRetryOnTimerStartEventInEventSubProcess: the timer fires, the script of the event
    subprocess fails; Camunda keeps the timer job with fewer retries (fox:failedJobRetryTimeCycle R5/PT5M).
    Restated: the failure is visible on the instance (the Groovy ``throw`` becomes a Python ``raise``)."""
    deploy(eng, "async/FoxJobRetryCmdTest.testRetryOnTimerStartEventInEventSubProcess.bpmn20.xml",
           ('scriptFormat="groovy"', 'scriptFormat="python"'),
           ('\n          throw new RuntimeException("This is an exception thrown from scriptTask")\n        ',
            'raise RuntimeError("This is an exception thrown from scriptTask")'))
    iid = eng.start("process").id
    assert len(eng.timers(iid)) == 1
    fire(eng, clock, 3600)
    instance = eng.get_instance(iid)
    assert instance.status not in ("running", "completed")
    assert "This is an exception thrown from scriptTask" in str(instance.error)


# ---- messages ----------------------------------------------------------------------------------------------


def test_intermediate_message_event(eng):
    """MessageIntermediateEventTest#testSingleIntermediateMessageEvent / #testSetSerializedVariableValues: the
    instance waits for ``newInvoiceMessage``; the message's variables arrive with it and the task follows."""
    deploy(eng, MESSAGE + "MessageIntermediateEventTest.testSingleIntermediateMessageEvent.bpmn20.xml")
    iid = eng.start("process").id
    assert open_tasks(eng, iid) == []
    found = eng.correlate_message("newInvoiceMessage", variables={"invoice": {"number": 7, "lines": ["a", "b"]}})
    assert found.delivered_to == [iid]
    assert open_tasks(eng, iid) == ["task"]
    assert eng.get_instance(iid).variables["invoice"] == {"number": 7, "lines": ["a", "b"]}
    assert events(eng, iid, "message_received") == ["messageCatch"]
    complete(eng, iid, "task")
    assert status(eng, iid) == "completed"


def test_concurrent_intermediate_message_events(eng):
    """MessageIntermediateEventTest#testConcurrentIntermediateMessageEvent: two parallel catches of the same message;
    each delivery reaches one of them, and the join waits for both."""
    deploy(eng, MESSAGE + "MessageIntermediateEventTest.testConcurrentIntermediateMessageEvent.bpmn20.xml")
    iid = eng.start("process").id
    assert eng.correlate_message("newInvoiceMessage").delivered_to == [iid]
    assert open_tasks(eng, iid) == []
    assert eng.correlate_message("newInvoiceMessage").delivered_to == [iid]
    assert open_tasks(eng, iid) == ["task"]
    assert sorted(events(eng, iid, "message_received")) == ["messageCatch1", "messageCatch2"]
    with pytest.raises(NoSubscription):
        eng.correlate_message("newInvoiceMessage")


def test_interrupting_message_boundary_event(eng):
    """MessageBoundaryEventTest#testSingleBoundaryMessageEvent: the message cancels the task and leads to
    ``taskAfterMessage``; without the message the task leads to ``taskAfterTask`` and the subscription goes."""
    deploy(eng, MESSAGE + "MessageBoundaryEventTest.testSingleBoundaryMessageEvent.bpmn20.xml")
    iid = eng.start("process").id
    eng.correlate_message("messageName")
    assert open_tasks(eng, iid) == ["taskAfterMessage"]
    complete(eng, iid, "taskAfterMessage")
    assert status(eng, iid) == "completed"

    other = eng.start("process").id
    complete(eng, other, "task")
    assert open_tasks(eng, other) == ["taskAfterTask"]
    with pytest.raises(NoSubscription):
        eng.correlate_message("messageName")
    complete(eng, other, "taskAfterTask")
    assert status(eng, other) == "completed"


def test_non_interrupting_message_boundary_event(eng):
    """MessageNonInterruptingBoundaryEventTest#testSingleNonInterruptingBoundaryMessageEvent: each message adds a
    ``taskAfterMessage`` while the task stays; once the task is done the message has no subscriber, and the
    process ends when every task is done."""
    deploy(eng, MESSAGE + "MessageNonInterruptingBoundaryEventTest.testSingleNonInterruptingBoundaryMessageEvent"
           ".bpmn20.xml")
    iid = eng.start("process").id
    eng.correlate_message("messageName")
    assert open_tasks(eng, iid) == ["task", "taskAfterMessage"]
    eng.correlate_message("messageName")
    assert open_tasks(eng, iid) == ["task", "taskAfterMessage", "taskAfterMessage"]
    complete(eng, iid, "task")
    assert open_tasks(eng, iid) == ["taskAfterMessage", "taskAfterMessage", "taskAfterTask"]
    with pytest.raises(NoSubscription):
        eng.correlate_message("messageName")
    for element in ("taskAfterMessage", "taskAfterMessage", "taskAfterTask"):
        complete(eng, iid, element)
    assert status(eng, iid) == "completed"


def test_interrupting_message_event_subprocess(eng):
    """MessageEventSubprocessTest#testInterruptingUnderProcessDefinition: the message starts the event subprocess,
    which cancels ``task``; without the message the process ends normally and the subscription is gone."""
    deploy(eng, MESSAGE + "MessageEventSubprocessTest.testInterruptingUnderProcessDefinition.bpmn20.xml")
    plain = eng.start("process").id
    complete(eng, plain, "task")
    assert status(eng, plain) == "completed"
    with pytest.raises(NoSubscription):
        eng.correlate_message("newMessage")

    iid = eng.start("process").id
    assert eng.correlate_message("newMessage").delivered_to == [iid]
    assert open_tasks(eng, iid) == ["eventSubProcessTask"]
    complete(eng, iid, "eventSubProcessTask")
    assert status(eng, iid) == "completed"


def test_non_interrupting_message_event_subprocess_with_receive_task(eng):
    """MessageEventSubprocessTest#testNonInterruptingWithReceiveTask: ``firstMessage`` starts the non-interrupting
    event subprocess (as often as it comes) while the receive task waits for ``secondMessage``."""
    deploy(eng, MESSAGE + "MessageEventSubprocessTest.testNonInterruptingWithReceiveTask.bpmn20.xml")
    iid = eng.start("process").id
    eng.correlate_message("firstMessage")
    assert open_tasks(eng, iid) == ["eventSubProcessTask"]
    eng.correlate_message("secondMessage")
    assert open_tasks(eng, iid) == ["eventSubProcessTask", "userTask"]
    complete(eng, iid, "eventSubProcessTask")
    complete(eng, iid, "userTask")
    assert status(eng, iid) == "completed"


def test_non_interrupting_message_event_subprocess_with_async_task(eng):
    """MessageEventSubprocessTest#testNonInterruptingWithAsyncConcurrentTask: the message starts the event
    subprocess next to the (asyncBefore) user task; the process ends when both tasks are done.  As in the JUnit
    test, the user task exists only once its continuation job has run."""
    deploy(eng, MESSAGE + "MessageEventSubprocessTest.testNonInterruptingWithAsyncConcurrentTask.bpmn20.xml")
    iid = eng.start("process").id
    assert open_tasks(eng, iid) == []
    assert Worker(eng, agents={}).run_once() == 1  # the asyncBefore continuation creates the user task
    eng.correlate_message("message")
    assert open_tasks(eng, iid) == ["eventSubProcessTask", "userTask"]
    complete(eng, iid, "userTask")
    assert status(eng, iid) != "completed"
    complete(eng, iid, "eventSubProcessTask")
    assert status(eng, iid) == "completed"


def test_receive_task_in_subprocess(eng):
    """ReceiveTaskTest#testSupportsMessageEventReceivedOnSubProcessReceiveTask: the message reaches the receive task
    inside the embedded subprocess and the process ends."""
    deploy(eng, RECEIVE + "ReceiveTaskTest.subProcessReceiveTask.bpmn20.xml")
    iid = eng.start("testProcess").id
    assert status(eng, iid) != "completed"
    assert eng.correlate_message("newInvoiceMessage").delivered_to == [iid]
    assert status(eng, iid) == "completed"


@pytest.mark.parametrize("diagram", ["multiParallelReceiveTask", "multiSubProcessReceiveTask"])
def test_parallel_multi_instance_receive_tasks(eng, diagram):
    """ReceiveTaskTest#testSupportsMessageEventReceivedOnParallelMultiReceiveTask and
    #testSupportsMessageEventReceivedOnMultiSubProcessReceiveTask: two parallel receive tasks each need their own
    message.  (#testNotSupportsCorrelateMessageOnParallelMultiReceiveTask: where Camunda refuses a correlation that
    matches two executions, Baton delivers to the oldest subscription, or to all with ``deliver_all``.)"""
    deploy(eng, RECEIVE + f"ReceiveTaskTest.{diagram}.bpmn20.xml")
    iid = eng.start("testProcess").id
    assert eng.correlate_message("newInvoiceMessage").delivered_to == [iid]
    assert status(eng, iid) != "completed"
    assert eng.correlate_message("newInvoiceMessage").delivered_to == [iid]
    assert status(eng, iid) == "completed"
    assert events(eng, iid, "message_received") == ["waitState", "waitState"]

    both = eng.start("testProcess").id
    assert eng.correlate_message("newInvoiceMessage", deliver_all=True).delivered_to == [both, both]
    assert status(eng, both) == "completed"


def test_receive_task_without_message(eng):
    """ReceiveTaskTest#testReceiveTaskWithoutMessageReference: a receive task with no message is a wait state
    until it is triggered; then the process ends."""
    deploy(eng, RECEIVE + "ReceiveTaskTest.simpleReceiveTask.bpmn20.xml")
    iid = eng.start("testProcess").id
    assert status(eng, iid) == "waiting"
    _trigger_receive_task(eng, iid, "waitState")
    assert status(eng, iid) == "completed"


def test_parallel_multi_receive_task_with_compensation(eng):
    """ReceiveTaskTest#testSupportsMessageEventReceivedOnParallelMultiReceiveTaskWithCompensation: both receive
    tasks get their message, the process moves on to ``interaction``."""
    deploy(eng, RECEIVE + "ReceiveTaskTest.multiParallelReceiveTaskCompensate.bpmn20.xml")
    iid = eng.start("testProcess").id
    eng.correlate_message("newInvoiceMessage", deliver_all=True)
    assert open_tasks(eng, iid) == ["interaction"]


# ---- signals -----------------------------------------------------------------------------------------------


def test_signal_thrown_by_one_instance_reaches_another(eng):
    """SignalEventTest#testSignalCatchIntermediate / #testSignalCatchIntermediateAsynch: an instance waiting for
    ``alert`` ends when another process throws it (``camunda:async`` on the throw makes no difference here)."""
    deploy(eng, SIGNAL + "SignalEventTests.catchAlertSignal.bpmn20.xml")
    deploy(eng, SIGNAL + "SignalEventTests.throwAlertSignalAsynch.bpmn20.xml")
    catcher = eng.start("catchSignal").id
    assert status(eng, catcher) != "completed"
    thrower = eng.start("throwSignal").id
    assert status(eng, thrower) == "completed"
    assert status(eng, catcher) == "completed"
    assert events(eng, catcher, "signal_received") == ["signalEvent"]


def test_non_interrupting_signal_boundary(eng):
    """SignalEventTest#testNonInterruptingSignal: the signal adds ``theUserTask2`` next to ``theUserTask``; the
    process ends once both are done."""
    deploy(eng, SIGNAL + "SignalEventTest.testNonInterruptingSignal.bpmn20.xml")
    iid = eng.start("nonInterruptingSignalEvent").id
    assert eng.broadcast_signal("alert").delivered_to == [iid]
    assert open_tasks(eng, iid) == ["theUserTask", "theUserTask2"]
    assert eng.broadcast_signal("alert").delivered_to == [iid]  # non-interrupting: it catches every signal
    assert open_tasks(eng, iid) == ["theUserTask", "theUserTask2", "theUserTask2"]
    complete(eng, iid, "theUserTask")
    assert open_tasks(eng, iid) == ["theUserTask2", "theUserTask2"]
    assert eng.broadcast_signal("alert").delivered_to == []
    complete(eng, iid, "theUserTask2")
    complete(eng, iid, "theUserTask2")
    assert status(eng, iid) == "completed"


def test_signal_start_event_with_payload(eng):
    """SignalEventPayloadTest#testSignalPayloadStart / #testSignalPayloadWithAllOptions: the signal starts an
    instance whose variables are the signal's payload.  (#testSignalBusinessKeyPayload: Baton's broadcast has no
    business key; not restated.)"""
    deploy(eng, SIGNAL + "SignalEventPayloadTests.catchSignalWithPayloadStart.bpmn20.xml")
    found = eng.broadcast_signal("alert", {"payloadVar1": "payloadVal1", "payloadVar2": "payloadVal2"})
    [iid] = found.started
    instance = eng.get_instance(iid)
    assert instance.variables == {"payloadVar1": "payloadVal1", "payloadVar2": "payloadVal2"}
    assert open_tasks(eng, iid) == ["task"]


def test_signal_end_event_in_called_process_reaches_the_parent(eng):
    """SignalEndEventTest#testPropagateOutputVariablesWhileThrowSignal: the called child throws a signal from its end
    event; the parent's signal event subprocess catches it.  Not restated: the child's execution listener that sets
    ``cancelReason`` and its propagation (Baton does not run Camunda execution listeners: the deployment stubs
    unsupported constructs, which drops it).  Both files run verbatim; the child's JUEL condition is translated."""
    files = [(Path(rel).name, (CORPUS / rel).read_bytes()) for rel in (
        SIGNAL + "SignalEndEventTest.parent.bpmn20.xml", SIGNAL + "testPropagateOutputVariablesWhileThrowSignal.bpmn20.xml")]
    eng.deploy_bytes(files, stub_unsupported=True)
    iid = eng.start("SignalParentProcess", {"input": 42}).id
    complete(eng, iid, "Task_0iei7dg")  # the called process runs inside the parent instance
    assert open_tasks(eng, iid) == ["Task_0cfb1mc"]
    assert "Task_0hnn8i5" in events(eng, iid, "activity_cancelled")  # the interrupting event subprocess won
