"""Messages and signals: correlation, start events, buffering, instance-to-instance, REST and CLI."""

from __future__ import annotations

import pytest
from conftest import signed_in_client
from helpers import process_xml

from engine import Engine
from engine.errors import ModelError, NoSubscription
from web import create_app

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


def flows(*pairs: tuple[str, str]) -> str:
    return "\n".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in
                     enumerate(pairs))


def waiting_for(pid: str, message: str = "paid", extra: str = "") -> bytes:
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:receiveTask id="wait" name="Wait for payment" messageRef="m"/>
    <bpmn:scriptTask id="after"><bpmn:script>received = amount</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    {flows(("s", "wait"), ("wait", "after"), ("after", "e"))}"""
    return process_xml(pid, body, extra=f'<bpmn:message id="m" name="{message}">{extra}</bpmn:message>')


def deploy(eng: Engine, *files: tuple[str, bytes]) -> None:
    eng.deploy_bytes(list(files))


def test_message_reaches_the_waiting_instance_by_business_key(engine):
    deploy(engine, ("w.bpmn", waiting_for("order")))
    a = engine.start("order", business_key="A-1")
    b = engine.start("order", business_key="B-2")
    found = engine.correlate_message("paid", business_key="B-2", variables={"amount": 42})
    assert found.delivered_to == [b.id] and found.started == []
    done = engine.get_instance(b.id)
    assert done.status == "completed" and done.variables["received"] == 42
    assert engine.get_instance(a.id).status == "waiting"
    received = [h for h in engine.history(b.id) if h.event == "message_received"]
    assert received[0].element_id == "wait" and received[0].details["variables"] == {"amount": 42}


def test_message_matches_by_process_variable_equality(engine):
    deploy(engine, ("w.bpmn", waiting_for("order")))
    a = engine.start("order", variables={"order_id": 7})
    b = engine.start("order", variables={"order_id": 8})
    assert engine.correlate_message("paid", match={"order_id": 8}, variables={"amount": 1}).delivered_to == [b.id]
    assert engine.get_instance(a.id).status == "waiting"


def test_zeebe_correlation_key_is_an_indexed_subscription(engine):
    extension = ('<bpmn:extensionElements><zeebe:subscription correlationKey="=order_id"/>'
                 '</bpmn:extensionElements>')
    xml = waiting_for("zorder", extra=extension).replace(b"<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ".encode())
    deploy(engine, ("z.bpmn", xml))
    first = engine.start("zorder", variables={"order_id": "o-1"})
    second = engine.start("zorder", variables={"order_id": "o-2"})
    found = engine.correlate_message("paid", correlation_key="o-2", variables={"amount": 3})
    assert found.delivered_to == [second.id]
    assert engine.get_instance(first.id).status == "waiting"
    with pytest.raises(NoSubscription, match="correlation key 'o-3'"):
        engine.correlate_message("paid", correlation_key="o-3")


def test_unmatched_message_is_a_clear_error_and_changes_nothing(engine):
    deploy(engine, ("w.bpmn", waiting_for("order")))
    inst = engine.start("order", business_key="A")
    with pytest.raises(NoSubscription) as err:
        engine.correlate_message("paid", business_key="nobody")
    assert "no subscription" in str(err.value) and err.value.code == "no_subscription"
    assert engine.get_instance(inst.id).status == "waiting"


def test_a_message_with_a_ttl_waits_for_its_subscription(engine):
    found = engine.correlate_message("paid", business_key="early", variables={"amount": 9}, ttl=60)
    assert found.buffered_id and not found.delivered_to
    deploy(engine, ("w.bpmn", waiting_for("order")))
    other = engine.start("order", business_key="someone-else")
    assert engine.get_instance(other.id).status == "waiting"  # not for this business key
    inst = engine.start("order", business_key="early")
    done = engine.get_instance(inst.id)
    assert done.status == "completed" and done.variables["received"] == 9


def test_an_expired_buffered_message_is_not_delivered(eng, clock):
    eng.correlate_message("paid", variables={"amount": 1}, ttl=10)
    clock.advance(11)
    deploy(eng, ("w.bpmn", waiting_for("order")))
    assert eng.start("order").status == "waiting"


def test_message_start_event_starts_a_new_instance_with_the_variables(engine):
    body = f"""
    <bpmn:startEvent id="by_mail"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
    <bpmn:startEvent id="by_hand"/>
    <bpmn:scriptTask id="how"><bpmn:script>how = "mail:" + str(amount)</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="hand"><bpmn:script>how = "hand"</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>
    {flows(("by_mail", "how"), ("how", "e1"), ("by_hand", "hand"), ("hand", "e2"))}"""
    deploy(engine, ("s.bpmn", process_xml("intake", body, extra='<bpmn:message id="m" name="new_order"/>')))
    found = engine.correlate_message("new_order", business_key="BK", variables={"amount": 5})
    [started] = found.started
    inst = engine.get_instance(started)
    assert inst.status == "completed" and inst.variables["how"] == "mail:5" and inst.business_key == "BK"
    assert engine.start("intake").variables["how"] == "hand"


def test_send_task_in_one_instance_reaches_another_instance(engine):
    sender = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateThrowEvent id="notify"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "notify"), ("notify", "e"))}"""
    deploy(engine, ("w.bpmn", waiting_for("receiver")),
           ("s.bpmn", process_xml("sender", sender, extra='<bpmn:message id="m" name="paid"/>')))
    receiver = engine.start("receiver")
    sent = engine.start("sender", variables={"amount": 77})
    assert sent.status == "completed"
    got = engine.get_instance(receiver.id)
    assert got.status == "completed" and got.variables["received"] == 77
    [received] = [h for h in engine.history(receiver.id) if h.event == "message_received"]
    assert received.details["from_instance"] == sent.id


def test_a_thrown_message_nobody_waits_for_is_recorded_on_the_sender(engine):
    sender = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateThrowEvent id="notify"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "notify"), ("notify", "e"))}"""
    deploy(engine, ("s.bpmn", process_xml("lonely", sender, extra='<bpmn:message id="m" name="nobody"/>')))
    inst = engine.start("lonely")
    assert inst.status == "completed"
    assert "message_unmatched" in [h.event for h in engine.history(inst.id)]


def test_message_boundary_event_interrupts_the_task(engine):
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="review" name="Review"/>
    <bpmn:boundaryEvent id="withdrawn" attachedToRef="review"><bpmn:messageEventDefinition messageRef="m"/></bpmn:boundaryEvent>
    <bpmn:endEvent id="done"/><bpmn:endEvent id="stopped"/>
    {flows(("s", "review"), ("review", "done"), ("withdrawn", "stopped"))}"""
    deploy(engine, ("b.bpmn", process_xml("reviewing", body, extra='<bpmn:message id="m" name="withdraw"/>')))
    inst = engine.start("reviewing", business_key="R")
    engine.correlate_message("withdraw", business_key="R")
    done = engine.get_instance(inst.id)
    assert done.status == "completed" and engine.tasks(instance_id=inst.id) == []
    assert ("activity_cancelled", "review") in [(h.event, h.element_id) for h in engine.history(inst.id)]


# ---- signals ---------------------------------------------------------------------------------------------

def signal_catcher(pid: str) -> bytes:
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateCatchEvent id="alert"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "alert"), ("alert", "e"))}"""
    return process_xml(pid, body, extra='<bpmn:signal id="sig" name="alert"/>')


def test_signal_reaches_every_waiting_instance_and_signal_start_events(engine):
    starter = f"""
    <bpmn:startEvent id="on_alert"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:startEvent>
    <bpmn:scriptTask id="log"><bpmn:script>logged = level</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    {flows(("on_alert", "log"), ("log", "e"))}"""
    deploy(engine, ("c.bpmn", signal_catcher("catcher")),
           ("s.bpmn", process_xml("logger", starter, extra='<bpmn:signal id="sig" name="alert"/>')))
    waiting = [engine.start("catcher").id for _ in range(3)]
    found = engine.broadcast_signal("alert", {"level": "red"})
    assert sorted(found.delivered_to) == sorted(waiting) and len(found.started) == 1
    assert all(engine.get_instance(i).status == "completed" for i in waiting)
    assert engine.get_instance(found.started[0]).variables["logged"] == "red"
    again = engine.broadcast_signal("alert", {"level": "green"})
    assert again.delivered_to == [] and len(again.started) == 1


def test_signal_thrown_inside_a_process_reaches_other_instances(engine):
    thrower = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateThrowEvent id="raise"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "raise"), ("raise", "e"))}"""
    deploy(engine, ("c.bpmn", signal_catcher("catcher")),
           ("t.bpmn", process_xml("thrower", thrower, extra='<bpmn:signal id="sig" name="alert"/>')))
    waiting = [engine.start("catcher").id for _ in range(2)]
    engine.start("thrower")
    assert all(engine.get_instance(i).status == "completed" for i in waiting)


def mapped_thrower(pid: str, inputs: str) -> bytes:
    """Waits in a user task, then throws 'alert' with the given ``<camunda:in>`` mappings."""
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="prepare"/>
    <bpmn:intermediateThrowEvent id="raise"><bpmn:signalEventDefinition signalRef="sig">
      <bpmn:extensionElements>{inputs}</bpmn:extensionElements>
    </bpmn:signalEventDefinition></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="e"/>
    {flows(("s", "prepare"), ("prepare", "raise"), ("raise", "e"))}"""
    return process_xml(pid, body, extra='<bpmn:signal id="sig" name="alert"/>')


def signal_started(pid: str) -> bytes:
    body = f"""
    <bpmn:startEvent id="on_alert"><bpmn:signalEventDefinition signalRef="sig"/></bpmn:startEvent>
    <bpmn:userTask id="handle"/>
    <bpmn:endEvent id="e"/>
    {flows(("on_alert", "handle"), ("handle", "e"))}"""
    return process_xml(pid, body, extra='<bpmn:signal id="sig" name="alert"/>')


def test_camunda_in_mappings_choose_what_a_thrown_signal_carries(engine):
    """Camunda 7's signal payload (SignalEventPayloadTest): only the mapped variables, renamed, and the
    thrower's business key go to the instance the signal starts; the mappings survive the wait before the throw."""
    inputs = ('<camunda:in source="amount" target="total"/><camunda:in source="missing" target="nothing"/>'
              '<camunda:in businessKey="${execution.processBusinessKey}"/>')
    deploy(engine, ("t.bpmn", mapped_thrower("thrower", inputs)), ("h.bpmn", signal_started("handler")))
    thrower = engine.start("thrower", {"amount": 5, "secret": "s3"}, business_key="order-7")
    [task] = engine.tasks(thrower.id)
    assert engine.complete_task(task.id).status == "completed"
    [started] = engine.instances(key="handler")
    assert started.variables == {"total": 5}
    assert started.business_key == "order-7"


def test_camunda_in_all_variables_and_no_mappings_send_everything(engine):
    deploy(engine, ("t.bpmn", mapped_thrower("thrower", '<camunda:in variables="all"/>')),
           ("u.bpmn", mapped_thrower("plain", "")), ("h.bpmn", signal_started("handler")))
    for key in ("thrower", "plain"):
        inst = engine.start(key, {"amount": 5, "secret": "s3"}, business_key="order-7")
        engine.complete_task(engine.tasks(inst.id)[0].id)
    started = engine.instances(key="handler")
    assert [i.variables for i in started] == [{"amount": 5, "secret": "s3"}] * 2
    assert [i.business_key for i in started] == [None, None]  # no businessKey mapping: none passed


def test_a_signal_business_key_other_than_the_throwers_is_refused_at_deploy(engine):
    with pytest.raises(ModelError) as err:
        deploy(engine, ("t.bpmn", mapped_thrower("thrower", '<camunda:in businessKey="${orderId}"/>')))
    assert "businessKey" in str(err.value) and err.value.element_id == "raise"


# ---- REST and CLI ----------------------------------------------------------------------------------------

def test_messages_and_signals_over_rest(engine):
    deploy(engine, ("w.bpmn", waiting_for("order")), ("c.bpmn", signal_catcher("catcher")))
    inst = engine.start("order", business_key="REST")
    catcher = engine.start("catcher")
    client = signed_in_client(create_app({"SECRET_KEY": "tests"}, engine=engine), "user")
    res = client.post("/api/v1/messages", json={"name": "paid", "businessKey": "REST", "variables": {"amount": 2}})
    assert res.status_code == 200 and res.get_json()["delivered_to"] == [inst.id]
    res = client.post("/api/v1/messages", json={"name": "paid", "businessKey": "none"})
    assert res.status_code == 404 and res.get_json()["error"]["code"] == "no_subscription"
    res = client.post("/api/v1/messages", json={"name": "paid", "ttl": "soon"})
    assert res.status_code == 400 and res.get_json()["error"]["details"]["field"] == "ttl"
    res = client.post("/api/v1/messages", json={"name": "later", "ttl": 30})
    assert res.status_code == 200 and res.get_json()["buffered_id"]
    res = client.post("/api/v1/signals", json={"name": "alert"})
    assert res.status_code == 200 and res.get_json()["delivered_to"] == [catcher.id]
    assert client.post("/api/v1/signals", json={}).status_code == 400
    assert client.get("/api/v1/timers").get_json() == []


def test_cli_message_and_signal(engine, settings, tmp_path):
    import subprocess
    import sys

    deploy(engine, ("w.bpmn", waiting_for("order")))
    inst = engine.start("order", business_key="CLI")
    env = {"BATON_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "engine"]
    out = subprocess.run(run + ["message", "paid", "--business-key", "CLI", "--var", "amount=4"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"delivered to instance {inst.id}" in out.stdout
    assert engine.get_instance(inst.id).variables["received"] == 4
    out = subprocess.run(run + ["message", "paid", "--business-key", "nobody"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode != 0 and "no subscription" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(run + ["signal", "nothing-waits"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and "no instance waits for signal 'nothing-waits'" in out.stdout


def test_message_and_timer_event_subprocesses_are_subscribed_while_the_instance_runs(eng, clock):
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="work" name="Work"/>
    <bpmn:endEvent id="e"/>
    {flows(("s", "work"), ("work", "e"))}
    <bpmn:subProcess id="on_timer" triggeredByEvent="true">
      <bpmn:startEvent id="timer_start" isInterrupting="false">
        <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
      </bpmn:startEvent>
      <bpmn:scriptTask id="remind"><bpmn:script>reminded = True</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="timer_end"/>
      <bpmn:sequenceFlow id="t1" sourceRef="timer_start" targetRef="remind"/>
      <bpmn:sequenceFlow id="t2" sourceRef="remind" targetRef="timer_end"/>
    </bpmn:subProcess>
    <bpmn:subProcess id="on_note" triggeredByEvent="true">
      <bpmn:startEvent id="note_start" isInterrupting="false"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
      <bpmn:scriptTask id="file_note"><bpmn:script>noted = True</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="note_end"/>
      <bpmn:sequenceFlow id="n1" sourceRef="note_start" targetRef="file_note"/>
      <bpmn:sequenceFlow id="n2" sourceRef="file_note" targetRef="note_end"/>
    </bpmn:subProcess>"""
    eng.deploy_bytes([("esp.bpmn", process_xml("with_esp", body, extra='<bpmn:message id="m" name="note"/>'))])
    inst = eng.start("with_esp", business_key="E")
    assert [t["element_id"] for t in eng.timers(inst.id)] == ["timer_start"]
    clock.advance(3600)
    assert len(eng.fire_due_timers()) == 1
    assert eng.correlate_message("note", business_key="E").delivered_to == [inst.id]
    assert eng.correlate_message("note", business_key="E").delivered_to == [inst.id]  # non-interrupting: again
    completed = [h.element_id for h in eng.history(inst.id) if h.event == "activity_completed"]
    assert completed.count("remind") == 1 and completed.count("file_note") == 2
    assert [t.name for t in eng.tasks(instance_id=inst.id)] == ["Work"]
    eng.complete_task(eng.tasks(instance_id=inst.id)[0].id)
    assert eng.get_instance(inst.id).status == "completed"
    with pytest.raises(NoSubscription):  # the subscription ended with the instance
        eng.correlate_message("note", business_key="E")


def test_collaboration_of_two_pools_talks_through_messages_in_one_step(engine):
    xml = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="collab" targetNamespace="http://baton.test/collab">
  <bpmn:collaboration id="shopping">
    <bpmn:participant id="p_customer" name="Customer" processRef="customer"/>
    <bpmn:participant id="p_shop" name="Shop" processRef="shop"/>
    <bpmn:messageFlow id="mf1" sourceRef="send_order" targetRef="order_in"/>
    <bpmn:messageFlow id="mf2" sourceRef="confirm" targetRef="wait_confirmation"/>
  </bpmn:collaboration>
  <bpmn:message id="m_order" name="order"/>
  <bpmn:message id="m_confirm" name="confirmation"/>
  <bpmn:process id="customer" isExecutable="true">
    <bpmn:startEvent id="c_start"/>
    <bpmn:sendTask id="send_order" name="Send order" messageRef="m_order"/>
    <bpmn:receiveTask id="wait_confirmation" name="Wait for confirmation" messageRef="m_confirm"/>
    <bpmn:endEvent id="c_end"/>
    <bpmn:sequenceFlow id="c1" sourceRef="c_start" targetRef="send_order"/>
    <bpmn:sequenceFlow id="c2" sourceRef="send_order" targetRef="wait_confirmation"/>
    <bpmn:sequenceFlow id="c3" sourceRef="wait_confirmation" targetRef="c_end"/>
  </bpmn:process>
  <bpmn:process id="shop" isExecutable="true">
    <bpmn:startEvent id="order_in"><bpmn:messageEventDefinition messageRef="m_order"/></bpmn:startEvent>
    <bpmn:scriptTask id="price"><bpmn:script>total = quantity * 3</bpmn:script></bpmn:scriptTask>
    <bpmn:intermediateThrowEvent id="confirm"><bpmn:messageEventDefinition messageRef="m_confirm"/></bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="s_end"/>
    <bpmn:sequenceFlow id="s1" sourceRef="order_in" targetRef="price"/>
    <bpmn:sequenceFlow id="s2" sourceRef="price" targetRef="confirm"/>
    <bpmn:sequenceFlow id="s3" sourceRef="confirm" targetRef="s_end"/>
  </bpmn:process>
</bpmn:definitions>"""
    engine.deploy_bytes([("collab.bpmn", xml)])
    customer = engine.start("customer", variables={"quantity": 4})
    done = engine.get_instance(customer.id)
    assert done.status == "completed" and done.variables["total"] == 12  # the shop's reply came back
    [shop] = engine.instances(key="shop")
    assert shop.status == "completed" and shop.variables["quantity"] == 4


def test_a_buffered_message_is_logged_by_name_and_not_refused(engine):
    """At INFO level the 'buffered' log line once crashed the call (a log field named 'message') after the commit."""
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("baton.engine")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        found = engine.correlate_message("paid", business_key="later", variables={"amount": 1}, ttl=60)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    [line] = [r for r in records if r.getMessage() == "message paid buffered for 60 s"]
    assert line.message_name == "paid" and line.message_id == found.buffered_id
