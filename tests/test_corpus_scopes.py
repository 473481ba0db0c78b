"""Camunda 7's own test models for errors, escalations, terminate, transactions, links and event subprocesses.

Each test restates, through Baton's engine API, what the Camunda JUnit test named in its docstring asserts.
The models are copies under tests/corpus (Apache-2.0, see tests/corpus/README.md).  Where a model calls Java
(``camunda:class``, ``camunda:expression``), the test runs a copy translated by
:func:`edit` (each replacement must apply): Java delegates become script tasks or external tasks whose worker
throws the BPMN error.  JUEL conditions stay as they are: the deployment translates them (engine/juel.py).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from engine.errors import ModelError

BPMN = Path(__file__).parent / "corpus" / "camunda7" / "bpmn"
ERROR = "event/error/"
ESC = "event/escalation/"
THROW_ESCALATION = ESC + "EscalationEventTest.throwEscalationEvent.bpmn20.xml"


def edit(text: str, *replacements: tuple[str, str]) -> str:
    """Apply regex replacements, each of which must match (a translation that silently does nothing is a bug)."""
    for pattern, repl in replacements:
        text, count = re.subn(pattern, repl, text, flags=re.S)
        assert count, f"translation {pattern!r} did not apply"
    return text


def deploy(engine, *files: str | tuple[str, str], stub: bool = False) -> None:
    """Deploy corpus files together; an item may be (name, translated text); ``stub`` drops Camunda listeners."""
    resources = []
    for item in files:
        if isinstance(item, tuple):
            resources.append((Path(item[0]).name, item[1].encode()))
        else:
            resources.append((Path(item).name, (BPMN / item).read_bytes()))
    engine.deploy_bytes(resources, stub_unsupported=stub)


def text(rel: str) -> str:
    return (BPMN / rel).read_text()


def ready(engine, inst) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(instance_id=inst.id))


def complete(engine, inst, element_id: str, variables=None):
    task = next(t for t in engine.tasks(instance_id=inst.id) if t.element_id == element_id)
    return engine.complete_task(task.id, variables or {})


def complete_all(engine, inst):
    for task in engine.tasks(instance_id=inst.id):
        inst = engine.complete_task(task.id)
    return inst


# ---- errors ------------------------------------------------------------------------------------------------


def test_catch_error_of_inner_subprocess_on_outer_subprocess(engine):
    """BoundaryErrorEventTest#testCatchErrorOfInnerSubprocessOnOuterSubprocess"""
    deploy(engine, ERROR + "BoundaryErrorEventTest.testCatchErrorOfInnerSubprocessOnOuterSubprocess.bpmn20.xml")
    inst = engine.start("boundaryErrorTest")
    assert ready(engine, inst) == ["innerTask1", "innerTask2"]
    inst = complete(engine, inst, "innerTask2")
    assert ready(engine, inst) == ["taskAfterErrorCatch"]
    assert complete(engine, inst, "taskAfterErrorCatch").status == "completed"


def test_catch_error_on_embedded_subprocess_with_empty_error_code(engine):
    """BoundaryErrorEventTest#testCatchErrorOnEmbeddedSubprocessWithEmptyErrorCode"""
    deploy(engine, ERROR + "BoundaryErrorEventTest.testCatchErrorOnEmbeddedSubprocessWithEmptyErrorCode.bpmn20.xml")
    inst = engine.start("boundaryErrorOnEmbeddedSubprocess")
    assert ready(engine, inst) == ["subprocessTask"]
    inst = complete(engine, inst, "subprocessTask")
    assert ready(engine, inst) == ["taskAfterErrorCatch"]


def test_concurrent_executions_interrupted_on_destroy_scope(engine):
    """BoundaryErrorEventTest#testConcurrentExecutionsInterruptedOnDestroyScope: the error destroys the scope,
    the concurrent path does not go on."""
    deploy(engine, ERROR + "BoundaryErrorEventTest.testConcurrentExecutionsInterruptedOnDestroyScope.bpmn20.xml")
    inst = engine.start("process")
    assert inst.status == "waiting"
    assert ready(engine, inst) == ["taskAfterErrorCatch"]


def test_uncaught_error_on_call_activity_fails_the_instance(engine):
    """BoundaryErrorEventTest#testUncaughtErrorOnCallActivity: 'No catching boundary event found for error with
    errorCode 'myError'' (the errorRef names no declared error, so it is the code)."""
    deploy(engine, ERROR + "BoundaryErrorEventTest.testUncaughtErrorOnCallActivity-parent.bpmn20.xml",
           ERROR + "BoundaryErrorEventTest.subprocess.bpmn20.xml")
    inst = engine.start("uncaughtErrorOnCallActivity")
    assert ready(engine, inst) == ["task"]
    inst = complete(engine, inst, "task")
    assert inst.status == "failed"
    assert "'myError'" in inst.error["message"] and "theEnd" in inst.error["message"]


def _delegate_child() -> tuple[str, str]:
    """The child whose Java delegate throws BpmnError("23"): an external task; the test's worker throws it."""
    name = ERROR + "BoundaryErrorEventTest.testCatchErrorThrownByJavaDelegateOnCallActivity-child.bpmn20.xml"
    return name, edit(text(name), (r'camunda:class="[^"]*"', 'camunda:type="external" camunda:topic="delegate"'))


def test_catch_error_thrown_by_java_delegate_on_call_activity(engine):
    """BoundaryErrorEventTest#testCatchErrorThrownByJavaDelegateOnCallActivity"""
    deploy(engine, ERROR + "BoundaryErrorEventTest.testCatchErrorThrownByJavaDelegateOnCallActivity-parent.bpmn20.xml",
           _delegate_child())
    inst = engine.start("catchErrorThrownByJavaDelegateOnCallActivity-parent")
    [job] = engine.claim_jobs("w", ["delegate"])
    assert engine.job_bpmn_error(job.id, "w", "23") is True
    assert ready(engine, inst) == ["escalatedTask"]
    assert complete(engine, inst, "escalatedTask").status == "completed"


def test_uncaught_error_thrown_by_java_delegate_on_call_activity(engine):
    """BoundaryErrorEventTest#testUncaughtErrorThrownByJavaDelegateOnCallActivity: nothing catches '23'
    (a worker's uncaught BPMN error is an incident in Baton: the job can be retried once the model is fixed)."""
    deploy(engine, ERROR + "BoundaryErrorEventTest.testUncaughtErrorThrownByJavaDelegateOnCallActivity-parent.bpmn20.xml",
           _delegate_child())
    inst = engine.start("uncaughtErrorThrownByJavaDelegateOnCallActivity-parent")
    [job] = engine.claim_jobs("w", ["delegate"])
    assert engine.job_bpmn_error(job.id, "w", "23") is False
    assert engine.get_instance(inst.id).status == "incident"


def test_catch_exception_expression_thrown_by_follow_up_scope_task():
    """BoundaryErrorEventTest#testCatchExceptionExpressionThrownByFollowUpScopeTask"""
    pytest.skip("the caught error is a Java exception class (MyBusinessException) thrown by a Java delegate "
                "(camunda:class): Baton runs no Java, and a worker's BPMN error is covered by the delegate tests above")


def test_error_message_and_code_variables(engine):
    """ErrorEndEventTest#testErrorMessageExpression: the boundary's errorCodeVariable / errorMessageVariable.

    The copy writes the message as text: camunda:errorMessage="${errorMessageExpression}" is JUEL."""
    name = ERROR + "ErrorEndEventTest.testErrorMessageExpression.bpmn20.xml"
    deploy(engine, (name, edit(text(name), (r'camunda:errorMessage="\$\{errorMessageExpression\}"',
                                            'camunda:errorMessage="Ouch!"'))))
    inst = engine.start("testErrorMessageExpression")
    assert ready(engine, inst) == ["task"]
    inst = complete(engine, inst, "task")
    assert (inst.variables["errorCode"], inst.variables["errorMessage"]) == ("123", "Ouch!")


def test_catch_error_event_subprocess_set_error_variables(engine):
    """ErrorEventSubProcessTest#testCatchErrorEventSubprocessSetErrorVariables"""
    deploy(engine, ERROR + "ErrorEventSubProcessTest.testCatchErrorEventSubprocessSetErrorVariables.bpmn")
    inst = engine.start("Process_1")
    assert ready(engine, inst) == ["UserTask_1"]
    inst = complete(engine, inst, "UserTask_1")
    assert inst.status == "completed" and inst.variables["errorCode"] == "error"


def test_propagate_output_variables_while_throw_error(engine):
    """ErrorEndEventTest#testPropagateOutputVariablesWhileThrowError: the child's error reaches the parent's
    error event subprocess.  Not restated: the camunda:out mappings and the execution listener that sets
    'cancelReason' (Baton does not run listeners: deployed with stub_unsupported, which drops it).  The files
    run verbatim (the child's JUEL condition is translated at deploy)."""
    child = ERROR + "testPropagateOutputVariablesWhileThrowError.bpmn20.xml"
    deploy(engine, ERROR + "ErrorEventTest.errorParent.bpmn20.xml", child, stub=True)
    inst = engine.start("ErrorParentProcess", {"input": 42})
    assert ready(engine, inst) == ["Task_0hnn8i5", "Task_0iei7dg"]
    inst = complete(engine, inst, "Task_0iei7dg")
    assert ready(engine, inst) == ["Task_0cfb1mc"]
    assert complete(engine, inst, "Task_0cfb1mc").status == "completed"


def test_review_sales_lead_process(engine):
    """BoundaryErrorEventTest#testReviewSalesLeadProcess (the file verbatim: its JUEL conditions are translated)."""
    deploy(engine, ERROR + "reviewSalesLead.bpmn20.xml")
    inst = engine.start("reviewSaledLead")
    inst = complete(engine, inst, "provideNewSalesLead", {"customerName": "Alfresco", "potentialProfit": 50,
                                                          "details": "very interested"})
    assert ready(engine, inst) == ["reviewCustomerRating", "reviewProfitability"]
    inst = complete(engine, inst, "reviewProfitability", {"notEnoughInformation": "true"})
    assert ready(engine, inst) == ["provideAdditionalDetails"]
    inst = complete(engine, inst, "provideAdditionalDetails", {"details": "more"})
    assert ready(engine, inst) == ["reviewCustomerRating", "reviewProfitability"]
    inst = complete(engine, inst, "reviewCustomerRating")
    inst = complete(engine, inst, "reviewProfitability", {"notEnoughInformation": "false"})
    assert inst.status == "completed"


@pytest.mark.parametrize("variant", ["Interrupting", "NonInterrupting"])
def test_catch_error_on_subprocess_thrown_by_event_subprocess(engine, variant):
    """BoundaryErrorEventTest#testCatchErrorOnSubprocessThrownBy{Interrupting,NonInterrupting}EventSubprocess: a
    message starts the event subprocess of the embedded subprocess; its error end event is caught by the error
    boundary on that subprocess, so ``afterBoundaryTask`` is next."""
    deploy(engine, ERROR + f"BoundaryErrorEventTest.testCatchErrorOnSubprocessThrownBy{variant}EventSubprocess.bpmn20.xml")
    inst = engine.start("testProcess")
    assert ready(engine, inst) == ["subTask"]
    assert engine.correlate_message("message").delivered_to == [inst.id]
    assert ready(engine, inst) == ["afterBoundaryTask"]
    assert complete(engine, inst, "afterBoundaryTask").status == "completed"


# ---- escalations -------------------------------------------------------------------------------------------


def start_escalation(engine, catcher: str):
    deploy(engine, ESC + catcher, THROW_ESCALATION)
    return engine.start("catchEscalationProcess")


def test_throw_escalation_event_from_call_activity(engine):
    """EscalationEventTest#testThrowEscalationEventFromCallActivity: non-interrupting boundary, both go on."""
    inst = start_escalation(engine, "EscalationEventTest.nonInterruptingEscalationBoundaryEventOnCallActivity.bpmn20.xml")
    assert ready(engine, inst) == ["task", "taskAfterCatchedEscalation"]


def test_interrupting_escalation_boundary_event_on_call_activity(engine):
    """EscalationEventTest#testInterruptingEscalationBoundaryEventOnCallActivity"""
    inst = start_escalation(engine, "EscalationEventTest.interruptingEscalationBoundaryEventOnCallActivity.bpmn20.xml")
    assert ready(engine, inst) == ["taskAfterCatchedEscalation"]
    assert complete(engine, inst, "taskAfterCatchedEscalation").status == "completed"


@pytest.mark.parametrize("catcher, expected", [
    ("EscalationEventTest.testInterruptingRetrieveEscalationCodeInSuperProcessWithoutEscalationCode.bpmn20.xml",
     ["taskAfterCatchedEscalation"]),
    ("EscalationEventTest.testNonInterruptingRetrieveEscalationCodeInSuperProcessWithoutEscalationCode.bpmn20.xml",
     ["task", "taskAfterCatchedEscalation"]),
    ("EscalationEventSubprocessTest.testInterruptingRetrieveEscalationCodeInSuperProcessWithoutEscalationCode"
     ".bpmn20.xml", ["taskAfterCatchedEscalation"]),
    ("EscalationEventSubprocessTest.testNonInterruptingRetrieveEscalationCodeInSuperProcess.bpmn20.xml",
     ["task", "taskAfterCatchedEscalation"]),
    ("EscalationEventSubprocessTest.testNonInterruptingRetrieveEscalationCodeInSuperProcessWithoutEscalationCode"
     ".bpmn20.xml", ["task", "taskAfterCatchedEscalation"]),
])
def test_retrieve_escalation_code_in_super_process(engine, catcher, expected):
    """EscalationEventTest / EscalationEventSubprocessTest #test{Interrupting,NonInterrupting}RetrieveEscalation
    CodeInSuperProcess[WithoutEscalationCode]: the catcher's escalationCodeVariable holds the code."""
    inst = start_escalation(engine, catcher)
    assert ready(engine, inst) == expected
    inst = complete(engine, inst, "taskAfterCatchedEscalation")
    if "task" in expected:
        inst = complete(engine, inst, "task")
    assert inst.status == "completed"
    assert inst.variables["escalationCodeVar"] == "escalationCode"


def test_catch_escalation_event_from_call_activity_in_event_subprocess(engine):
    """EscalationEventSubprocessTest#testCatchEscalationEventFromCallActivity (non-interrupting)"""
    inst = start_escalation(engine, "EscalationEventSubprocessTest.testCatchEscalationEventFromCallActivity.bpmn20.xml")
    assert ready(engine, inst) == ["task", "taskAfterCatchedEscalation"]


def test_interrupting_escalation_event_subprocess_with_call_activity(engine):
    """EscalationEventSubprocessTest#testInterruptingEscalationEventSubprocessWithCallActivity"""
    inst = start_escalation(
        engine, "EscalationEventSubprocessTest.testInterruptingEscalationEventSubprocessWithCallActivity.bpmn20.xml")
    assert ready(engine, inst) == ["taskAfterCatchedEscalation"]
    assert complete(engine, inst, "taskAfterCatchedEscalation").status == "completed"


def test_uncaught_escalation_lets_the_called_process_go_on(engine):
    """EscalationEventTest#testPropagateOutputVariablesWithoutCatchEscalation: nobody catches the escalation,
    the instance goes on and ends (the camunda:in/out mappings are not restated)."""
    inst = start_escalation(engine, "EscalationEventTest.testPropagateOutputVariablesWithoutCatchEscalation.bpmn20.xml")
    assert ready(engine, inst) == ["task"]
    assert complete(engine, inst, "task").status == "completed"


def test_propagate_output_variables_while_throw_escalation(engine):
    """EscalationEventTest#testPropagateOutputVariablesWhileThrowEscalation: the child's escalation end event is
    caught by the parent's interrupting escalation event subprocess (mappings and listener not restated: the
    listener is dropped by stub_unsupported).  The files run verbatim (the child's JUEL condition is translated)."""
    child = ESC + "testOutputVariablesWhileThrowEscalation.bpmn20.xml"
    deploy(engine, ESC + "EscalationEventTest.escalationParent.bpmn20.xml", child, stub=True)
    inst = engine.start("EscalationParentProcess", {"input": 42})
    inst = complete(engine, inst, "Task_0iei7dg")
    assert ready(engine, inst) == ["Task_0cfb1mc"]
    assert complete(engine, inst, "Task_0cfb1mc").status == "completed"


def test_parse_escalation_start_event(engine):
    """BpmnParseTest#testParseEscalationStartEvent: an escalation start event of an event subprocess parses (and
    the event subprocess does not start by itself)."""
    deploy(engine, "parse/BpmnParseTest.testParseEscalationStartEvent.bpmn20.xml")
    inst = engine.start("escalationProcess")
    assert inst.status == "completed"
    completed = [h.element_id for h in engine.history(inst.id) if h.event == "activity_completed"]
    assert "endInEscalationSubprocess" not in completed


# ---- end events --------------------------------------------------------------------------------------------


def test_terminate_in_sub_process_concurrent_multi_instance(engine):
    """TerminateEndEventTest#testTerminateInSubProcessConcurrentMultiInstance: of 5 instances the 4th and 5th
    terminate (their parallel user task is cancelled), the 3 others wait in 'task'; then the process ends.

    The copy replaces the Java CountDelegate by a script over an input collection (1..5); its JUEL conditions
    are translated at deploy."""
    name = "event/end/TerminateEndEventTest.testTerminateInSubProcessConcurrentMultiInstance.bpmn"
    translated = edit(
        text(name),
        (r'<bpmn2:loopCardinality[^>]*>5</bpmn2:loopCardinality>',
         '<bpmn2:loopDataInputRef>items</bpmn2:loopDataInputRef><bpmn2:inputDataItem id="n"/>'),
        (r'<bpmn2:serviceTask id="checkTerminate"[^>]*>(.*?)</bpmn2:serviceTask>',
         r'<bpmn2:scriptTask id="checkTerminate" scriptFormat="python">\1'
         r'<bpmn2:script>terminate = n &gt; 3</bpmn2:script></bpmn2:scriptTask>'))
    deploy(engine, (name, translated))
    inst = engine.start("terminateEndEventExample", {"items": [1, 2, 3, 4, 5]})
    assert ready(engine, inst) == ["preNormalEnd", "task", "task", "task"]
    cancelled = [h.element_id for h in engine.history(inst.id) if h.event == "activity_cancelled"]
    assert cancelled.count("UserTask_1") == 2
    inst = complete(engine, inst, "preNormalEnd")
    assert complete_all(engine, inst).status == "completed"


def test_message_end_event(engine):
    """MessageEndEventTest#testMessageEndEvent: the instance ends."""
    deploy(engine, "event/end/MessageEndEventTest.testMessageEndEvent.bpmn20.xml")
    assert engine.start("process").status == "completed"


def test_catch_signal_end_event_in_embedded_subprocess(engine):
    """SignalEndEventTest#testCatchSignalEndEventInEmbeddedSubprocess"""
    deploy(engine, "event/end/SignalEndEventTest.testCatchSignalEndEventInEmbeddedSubprocess.bpmn20.xml")
    inst = engine.start("catchSignalEndEventInEmbeddedSubprocess")
    assert ready(engine, inst) == ["subprocessTask"]
    inst = complete(engine, inst, "subprocessTask")
    assert ready(engine, inst) == ["taskAfterSignalCatch"]
    assert complete(engine, inst, "taskAfterSignalCatch").status == "completed"


# ---- subprocesses and transactions -------------------------------------------------------------------------


def test_cancel_end_concurrent(engine):
    """TransactionSubProcessTest#testCancelEndConcurrent, without compensation (another helper's part): the
    cancel end event cancels the transaction (its waiting paths too) and the cancel boundary's path is taken.

    The copy: Java expressions become script tasks, the compensation boundary events and handlers are left
    out, receive tasks (messages: the lead's part) become user tasks; the JUEL conditions are translated at deploy."""
    name = "subprocess/transaction/TransactionSubProcessTest.testCancelEndConcurrent.bpmn20.xml"
    translated = edit(
        text(name),
        (r'<serviceTask id="(book\w+)" camunda:expression="\$\{true\}"\s*/>',
         r'<scriptTask id="\1" scriptFormat="python"><script>done = True</script></scriptTask>'),
        (r'<serviceTask id="(book\w+)" camunda:expression="\$\{true\}">(.*?)</serviceTask>',
         r'<scriptTask id="\1" scriptFormat="python">\2<script>done = True</script></scriptTask>'),
        (r'<boundaryEvent id="compensate\w+".*?</boundaryEvent>', ""),
        (r'<serviceTask id="undo\w+".*?</serviceTask>', ""),
        (r"<association [^>]*/>", ""),
        (r'<receiveTask id="(\w+)" />', r'<userTask id="\1" />'))
    deploy(engine, (name, translated))
    inst = engine.start("transactionProcess")
    assert ready(engine, inst) == ["askCustomer", "receive"]
    inst = complete(engine, inst, "askCustomer", {"confirmed": False})
    assert ready(engine, inst) == ["afterCancellation"]
    cancelled = [h.element_id for h in engine.history(inst.id) if h.event == "activity_cancelled"]
    assert {"tx", "receive"} <= set(cancelled)
    assert complete(engine, inst, "afterCancellation").status == "completed"


def test_simple_automatic_sub_process(engine):
    """SubProcessTest#testSimpleAutomaticSubProcess: the instance runs through the subprocess and ends.

    The subprocess holds only a manualTask, which Camunda passes straight through, and so does Baton in a
    Camunda diagram (docs/camunda.md)."""
    deploy(engine, "subprocess/SubProcessTest.testSimpleAutomaticSubProcess.bpmn20.xml")
    inst = engine.start("simpleSubProcessAutomatic")
    assert inst.status == "completed"
    assert ready(engine, inst) == []


def test_nested_simple_sub_process(engine):
    """SubProcessTest#testNestedSimpleSubProcess"""
    deploy(engine, "subprocess/SubProcessTest.testNestedSimpleSubProcess.bpmn20.xml")
    inst = engine.start("nestedSimpleSubProcess")
    assert ready(engine, inst) == ["innerSubProcessTask"]
    inst = complete(engine, inst, "innerSubProcessTask")
    assert ready(engine, inst) == ["afterSubProcessTask"]
    assert complete(engine, inst, "afterSubProcessTask").status == "completed"


@pytest.mark.parametrize("name, process, hours, inner, after", [
    ("SubProcessTest.testSimpleSubProcessWithTimer.bpmn20.xml", "simpleSubProcess", 2, ["subProcessTask"],
     "escalationTask"),
    ("SubProcessTest.testSimpleParallelSubProcessWithTimer.bpmn20.xml", "simpleParallelSubProcessWithTimer", 1,
     ["task1", "task2"], "taskAfterTimer"),
])
def test_sub_process_with_timer(eng, clock, name, process, hours, inner, after):
    """SubProcessTest#testSimpleSubProcessWithTimer / #testSimpleParallelSubProcessWithTimer: the subprocess's
    interrupting boundary timer fires, the open tasks inside it are cancelled and the timer's path is taken."""
    deploy(eng, "subprocess/" + name)
    inst = eng.start(process)
    assert ready(eng, inst) == inner
    [armed] = eng.timers(inst.id)
    assert armed["due_at"] == clock() + dt.timedelta(hours=hours)
    clock.advance(hours * 3600)
    assert len(eng.fire_due_timers()) == 1
    assert ready(eng, inst) == [after]
    assert complete(eng, inst, after).status == "completed"


@pytest.mark.parametrize("send, task", [("message", "taskAfterMessageStartEvent"),
                                        ("signal", "tastAfterSignalStartEvent")])
def test_cancel_event_subscriptions(engine, send, task):
    """InterruptingEventSubProcessTest#testCancelEventSubscriptionsWhenReceivingAMessage / ...ASignal: the first
    interrupting event subprocess to start cancels the main path; afterwards the process completes normally."""
    deploy(engine, "subprocess/InterruptingEventSubProcessTest.testCancelEventSubscriptions.bpmn")
    inst = engine.start("process")
    assert ready(engine, inst) == ["taskBeforeInterruptingEventSuprocess"]
    if send == "message":
        assert engine.correlate_message("newMessage").delivered_to == [inst.id]
    else:
        assert engine.broadcast_signal("newSignal").delivered_to == [inst.id]
    assert ready(engine, inst) == [task]
    assert complete(engine, inst, task).status == "completed"


# ---- link events -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, element", [
    ("LinkEventTest.testInvalidEventLinkMultipleTargets.bpmn20.xml", "IntermediateCatchEvent_2"),
    ("LinkEventTest.testCatchLinkEventAfterEventBasedGatewayNotAllowed.bpmn20.xml", "IntermediateCatchEvent_2"),
])
def test_invalid_link_events_are_refused_at_deploy(engine, name, element):
    """LinkEventTest#testInvalidEventLinkMultipleTargets / #testCatchLinkEventAfterEventBasedGatewayNotAllowed"""
    with pytest.raises(ModelError) as info:
        deploy(engine, "event/link/" + name)
    assert info.value.element_id == element
