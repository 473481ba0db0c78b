"""Suspension: a suspended instance holds its jobs, timers, messages and tasks; resume releases them all.

Time is the test's clock (``eng`` reads ``clock``); ``fire_due_timers`` is what the scheduler calls and
``claim_jobs`` what every worker calls.  Both databases.
"""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, service_task, user_task

from engine.errors import InvalidStateError, NoSubscription


def flows(*pairs: tuple[str, str]) -> str:
    return "\n".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in
                     enumerate(pairs))


def timer_process() -> bytes:
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "wait"), ("wait", "e"))}"""
    return process_xml("hourly", body)


def message_process() -> bytes:
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:receiveTask id="wait" name="Wait for payment" messageRef="m"/>
    <bpmn:endEvent id="e"/>
    {flows(("s", "wait"), ("wait", "e"))}"""
    return process_xml("paying", body, extra='<bpmn:message id="m" name="paid"/>')


def events_of(eng, instance_id):
    return [h.event for h in eng.history(instance_id)]


def test_jobs_are_not_handed_out_while_suspended(eng):
    eng.deploy_bytes([("j.bpmn", process_xml("charge", chain(service_task("payment"))))])
    inst = eng.start("charge")
    suspended = eng.suspend(inst.id)
    assert suspended.suspended and suspended.status == inst.status
    assert eng.claim_jobs("w", ["payment"]) == []
    assert eng.next_job_due(["payment"]) is None, "a worker must not be woken for a held job"
    resumed = eng.resume(inst.id)
    assert not resumed.suspended
    [job] = eng.claim_jobs("w", ["payment"])
    eng.complete_job(job.id, "w", {"paid": True})
    assert eng.get_instance(inst.id).status == "completed"
    assert events_of(eng, inst.id).count("instance_suspended") == 1
    assert events_of(eng, inst.id).count("instance_resumed") == 1


def test_a_job_claimed_before_the_suspension_cannot_complete_it(eng, clock):
    eng.deploy_bytes([("j.bpmn", process_xml("charge", chain(service_task("payment"))))])
    inst = eng.start("charge")
    [job] = eng.claim_jobs("w", ["payment"], lock_seconds=60)
    eng.suspend(inst.id)
    with pytest.raises(InvalidStateError, match="suspended"):
        eng.complete_job(job.id, "w", {})
    assert eng.get_instance(inst.id).status == "running"
    clock.advance(61)
    eng.expire_locks()
    assert eng.claim_jobs("w", ["payment"]) == [], "the lease ran out, but the instance is still held"
    eng.resume(inst.id)
    [again] = eng.claim_jobs("w", ["payment"])
    eng.complete_job(again.id, "w", {})
    assert eng.get_instance(inst.id).status == "completed"


def test_timers_wait_until_resumed_then_fire_if_due(eng, clock):
    eng.deploy_bytes([("t.bpmn", timer_process())])
    inst = eng.start("hourly")
    eng.suspend(inst.id)
    clock.advance(2 * 3600)
    assert eng.fire_due_timers() == []
    assert eng.next_timer_due() is None, "the scheduler must not spin on a held timer"
    assert eng.get_instance(inst.id).status == "waiting"
    eng.resume(inst.id)
    assert eng.next_timer_due() is not None
    [fired] = eng.fire_due_timers()
    assert fired["instance_id"] == inst.id
    assert eng.get_instance(inst.id).status == "completed"


def test_messages_do_not_match_while_suspended_and_buffered_ones_arrive_on_resume(eng):
    eng.deploy_bytes([("m.bpmn", message_process())])
    inst = eng.start("paying", business_key="PO-1")
    eng.suspend(inst.id)
    with pytest.raises(NoSubscription):
        eng.correlate_message("paid", business_key="PO-1")
    kept = eng.correlate_message("paid", business_key="PO-1", variables={"amount": 5}, ttl=3600)
    assert kept.delivered_to == [] and kept.buffered_id
    assert eng.get_instance(inst.id).status == "waiting"
    eng.resume(inst.id)
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["amount"] == 5


def test_tasks_cannot_be_completed_while_suspended(eng):
    eng.deploy_bytes([("u.bpmn", process_xml("review", chain(user_task("Review"))))])
    inst = eng.start("review", {"amount": 3})
    [task] = inst.tasks
    eng.suspend(inst.id)
    with pytest.raises(InvalidStateError, match=f"instance {inst.id} is suspended"):
        eng.complete_task(task.id, {"ok": True})
    held = eng.get_instance(inst.id)
    assert held.status == "waiting" and [t.id for t in held.tasks] == [task.id], "resume finds it as it was"
    eng.resume(inst.id)
    assert eng.complete_task(task.id, {"ok": True}).status == "completed"


def test_suspend_and_resume_refuse_what_makes_no_sense_and_cancel_ends_a_suspension(eng):
    eng.deploy_bytes([("u.bpmn", process_xml("review", chain(user_task("Review"))))])
    inst = eng.start("review")
    eng.suspend(inst.id)
    with pytest.raises(InvalidStateError, match="already suspended"):
        eng.suspend(inst.id)
    cancelled = eng.cancel(inst.id)
    assert cancelled.status == "cancelled" and not cancelled.suspended
    with pytest.raises(InvalidStateError, match="cancelled"):
        eng.resume(inst.id)
    other = eng.start("review")
    with pytest.raises(InvalidStateError, match="not suspended"):
        eng.resume(other.id)


def test_signals_pass_a_suspended_instance_by_and_variables_can_still_be_fixed(eng):
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateCatchEvent id="go"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "go"), ("go", "e"))}"""
    eng.deploy_bytes([("s.bpmn", process_xml("gated", body, extra='<bpmn:signal id="sig" name="go"/>'))])
    held, free = eng.start("gated", {"n": 1}), eng.start("gated", {"n": 2})
    eng.suspend(held.id)
    assert eng.set_variables(held.id, {"n": 10}).variables["n"] == 10, "an operator may fix data while it waits"
    assert eng.broadcast_signal("go").delivered_to == [free.id]
    assert eng.get_instance(held.id).status == "waiting"
    eng.resume(held.id)
    assert eng.broadcast_signal("go").delivered_to == [held.id]
    assert eng.get_instance(held.id).status == "completed"
