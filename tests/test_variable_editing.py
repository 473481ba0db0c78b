"""Editing the variables of a live instance: every open path sees them, history keeps old and new values."""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, script, service_task, user_task

from engine.errors import InvalidStateError, VariableError


def flows(*pairs: tuple[str, str]) -> str:
    return "\n".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in
                     enumerate(pairs))


def parallel_reviews() -> bytes:
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:parallelGateway id="split"/>
    <bpmn:userTask id="legal" name="Legal"/>
    <bpmn:userTask id="finance" name="Finance"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:scriptTask id="sum"><bpmn:script>total = amount * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    {flows(("s", "split"), ("split", "legal"), ("split", "finance"), ("legal", "join"), ("finance", "join"),
           ("join", "sum"), ("sum", "e"))}"""
    return process_xml("reviews", body)


def test_set_variables_reach_every_open_path_and_history_keeps_old_and_new(engine):
    engine.deploy_bytes([("p.bpmn", parallel_reviews())])
    inst = engine.start("reviews", {"amount": 10, "note": "x"})
    changed = engine.set_variables(inst.id, {"amount": 21})
    assert changed.variables["amount"] == 21 and changed.status == "waiting"
    for task in changed.tasks:
        done = engine.complete_task(task.id, {})
    assert done.status == "completed" and done.variables["total"] == 42, "both branches saw the new amount"
    [entry] = [h for h in engine.history(inst.id) if h.event == "variables_changed"]
    assert entry.details == {"mode": "set", "changes": {"amount": {"old": 10, "new": 21}}}


def test_merge_patches_objects_and_null_removes(engine):
    engine.deploy_bytes([("u.bpmn", process_xml("review", chain(user_task())))])
    inst = engine.start("review", {"customer": {"name": "Ada", "city": "Oslo"}, "flag": True})
    changed = engine.set_variables(inst.id, {"customer": {"city": "Bergen", "zip": "5003"}, "flag": None},
                                   mode="merge")
    assert changed.variables["customer"] == {"name": "Ada", "city": "Bergen", "zip": "5003"}
    assert "flag" not in changed.variables
    replaced = engine.set_variables(inst.id, {"customer": {"name": "Bo"}})
    assert replaced.variables["customer"] == {"name": "Bo"}, "set replaces the whole value"


def test_waiting_job_inputs_follow_the_edit(engine):
    engine.deploy_bytes([("j.bpmn", process_xml("charge", chain(service_task("payment"))))])
    inst = engine.start("charge", {"amount": 1})
    engine.set_variables(inst.id, {"amount": 99})
    [job] = engine.claim_jobs("w", ["payment"])
    assert job.variables["amount"] == 99


def test_edit_before_retry_fixes_a_failed_instance(engine):
    engine.deploy_bytes([("b.bpmn", process_xml("divide", chain(script("r = 10 / d"))))])
    inst = engine.start("divide", {"d": 0})
    assert inst.status == "failed"
    assert engine.set_variables(inst.id, {"d": 5}).status == "failed", "editing does not run the instance"
    assert engine.retry(inst.id).variables["r"] == 2


def test_bad_values_and_finished_instances_are_refused_and_nothing_changes(engine):
    engine.deploy_bytes([("u.bpmn", process_xml("review", chain(user_task())))])
    inst = engine.start("review", {"amount": 1})
    with pytest.raises(VariableError, match="amount"):
        engine.set_variables(inst.id, {"amount": float("nan")})
    with pytest.raises(VariableError, match="not a valid identifier"):
        engine.set_variables(inst.id, {"1st": 1})
    assert engine.get_instance(inst.id).variables == {"amount": 1}
    engine.cancel(inst.id)
    with pytest.raises(InvalidStateError, match="finished"):
        engine.set_variables(inst.id, {"amount": 2})


def test_an_edited_correlation_key_takes_a_buffered_message_and_waits_while_suspended(engine):
    zeebe = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:receiveTask id="wait" name="Wait for payment" messageRef="m"/>
    <bpmn:endEvent id="e"/>
    {flows(("s", "wait"), ("wait", "e"))}"""
    extension = '<bpmn:extensionElements><zeebe:subscription correlationKey="=order_id"/></bpmn:extensionElements>'
    xml = process_xml("zorder", body, extra=f'<bpmn:message id="m" name="paid">{extension}</bpmn:message>')
    engine.deploy_bytes([("z.bpmn", xml.replace(b"<bpmn:definitions ", f"<bpmn:definitions {zeebe} ".encode()))])
    typo = engine.start("zorder", {"order_id": "o-l"})
    engine.correlate_message("paid", correlation_key="o-1", variables={"amount": 3}, ttl=3600)
    engine.suspend(typo.id)
    engine.set_variables(typo.id, {"order_id": "o-1"})
    assert engine.get_instance(typo.id).status == "waiting", "suspended: the message waits"
    engine.resume(typo.id)
    fixed = engine.get_instance(typo.id)
    assert fixed.status == "completed" and fixed.variables["amount"] == 3, "the message was kept, not lost"
    fresh = engine.start("zorder", {"order_id": "o-9"})
    engine.correlate_message("paid", correlation_key="o-2", variables={"amount": 4}, ttl=3600)
    assert engine.set_variables(fresh.id, {"order_id": "o-2"}).status == "completed", "a live edit takes it at once"
