"""Jobs through the Engine API: creation, leases, completion, failures, backoff, incidents, circuits.

Time is driven by an injected clock, never by sleeping.
"""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, script, service_task, user_task

from engine import Engine
from engine.errors import LockLost, ModelError

IO = """<camunda:inputOutput>
  <camunda:inputParameter name="amount">${total * 100}</camunda:inputParameter>
  <camunda:outputParameter name="receipt">R-${charge_id}</camunda:outputParameter>
</camunda:inputOutput>"""


def deploy(eng, *steps, key="p", extra=""):
    eng.deploy_bytes([(f"{key}.bpmn", process_xml(key, chain(*steps), extra=extra))])


def test_service_task_creates_a_job_with_mapped_inputs_and_outputs(eng):
    deploy(eng, service_task("payment", IO), script("after = receipt"))
    inst = eng.start("p", {"total": 12, "secret": "x"})
    assert inst.status == "running"
    [job] = eng.jobs()
    assert (job.topic, job.status, job.variables, job.element_id) == ("payment", "ready", {"amount": 1200}, "S1")
    [claimed] = eng.claim_jobs("w1", ["payment"])
    assert claimed.attempt == 1 and claimed.lock_owner == "w1"
    assert eng.claim_jobs("w2", ["payment"]) == [], "a locked job is not claimed twice"
    eng.complete_job(claimed.id, "w1", {"charge_id": 7, "noise": 1})
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables["receipt"] == "R-7" and done.variables["after"] == "R-7"
    assert "noise" not in done.variables, "only the mapped outputs come back"
    assert eng.jobs() == []
    events = [h.event for h in eng.history(inst.id)]
    assert "job_completed" in events


def test_topic_from_zeebe_and_spiff_extensions_or_task_id(eng):
    zeebe = ('<bpmn:serviceTask id="{id}"><bpmn:extensionElements><zeebe:taskDefinition type="mailer" retries="5"/>'
             '</bpmn:extensionElements></bpmn:serviceTask>')
    spiff = ('<bpmn:serviceTask id="{id}"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="http/get" '
             'resultVariable="response"><spiffworkflow:parameters><spiffworkflow:parameter id="url" type="str" '
             'value="base + \'/x\'"/></spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>'
             '</bpmn:extensionElements></bpmn:serviceTask>')
    doc = process_xml("z", chain(zeebe, spiff, '<bpmn:serviceTask id="{id}"/>')).replace(
        b"<bpmn:definitions ", b'<bpmn:definitions xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
        b'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" ')
    eng.deploy_bytes([("z.bpmn", doc)])
    inst = eng.start("z", {"base": "http://h"})
    [job] = eng.jobs()
    assert (job.topic, job.max_attempts) == ("mailer", 5)
    eng.complete_job(eng.claim_jobs("w", ["mailer"])[0].id, "w", {})
    [job] = eng.jobs()
    assert job.topic == "http/get" and job.variables == {"url": "http://h/x"}
    eng.complete_job(eng.claim_jobs("w", ["http/get"])[0].id, "w", {"status": 200})
    assert eng.get_instance(inst.id).variables["response"] == {"status": 200}
    [job] = eng.jobs()
    assert job.topic == "S3", "plain BPMN: the task id is the topic"


def test_only_the_lock_holder_may_report_and_late_results_are_rejected(eng, clock):
    deploy(eng, service_task("t"))
    inst = eng.start("p")
    [job] = eng.claim_jobs("w1", ["t"], lock_seconds=60)
    with pytest.raises(LockLost):
        eng.complete_job(job.id, "intruder", {})
    clock.advance(61)
    with pytest.raises(LockLost, match="not applied"):
        eng.complete_job(job.id, "w1", {"late": True})
    assert eng.expire_locks() == 1
    [again] = eng.claim_jobs("w2", ["t"], lock_seconds=60)
    assert again.id == job.id and again.attempt == 2
    eng.complete_job(again.id, "w2", {"on_time": True})
    final = eng.get_instance(inst.id)
    assert final.status == "completed" and "late" not in final.variables
    assert [h.details["worker"] for h in eng.history(inst.id) if h.event == "job_completed"] == ["w2"]


def test_failures_back_off_then_become_an_incident_that_can_be_retried(eng, clock):
    cycle = "<camunda:failedJobRetryTimeCycle>PT10S,PT1M</camunda:failedJobRetryTimeCycle>"
    deploy(eng, service_task("flaky", cycle), user_task("After"))
    inst = eng.start("p", {"n": 1})
    [job] = eng.claim_jobs("w", ["flaky"])
    assert job.max_attempts == 3
    failed = eng.fail_job(job.id, "w", "boom", {"stderr": "trace 1"})
    assert (failed.due_at - clock()).total_seconds() == 10
    assert eng.claim_jobs("w", ["flaky"]) == [], "not due before its retry time"
    clock.advance(10)
    [job] = eng.claim_jobs("w", ["flaky"])
    failed = eng.fail_job(job.id, "w", "boom again")
    assert (failed.due_at - clock()).total_seconds() == 60
    clock.advance(60)
    [job] = eng.claim_jobs("w", ["flaky"])
    assert job.attempt == 3
    incident = eng.fail_job(job.id, "w", "still broken", {"stderr": "last words"})
    assert incident.attempts == 3 and incident.message == "still broken"
    shown = eng.get_instance(inst.id)
    assert shown.status == "incident"
    assert [i.id for i in eng.incidents()] == [incident.id]
    assert eng.claim_jobs("w", ["flaky"]) == []

    job = eng.retry_incident(incident.id, {"n": 2})
    assert (job.status, job.attempt) == ("ready", 0)
    assert eng.get_instance(inst.id).status == "running"
    assert eng.incidents() == []
    [job] = eng.claim_jobs("w", ["flaky"])
    assert job.variables["n"] == 2
    eng.complete_job(job.id, "w", {})
    assert eng.get_instance(inst.id).status == "waiting"


def test_backoff_without_cycle_is_jittered_exponential_within_cap(settings, clock):
    eng = Engine(settings.replace(job_backoff_base=2.0, job_backoff_cap=5.0, job_attempts=10), clock=clock)
    try:
        deploy(eng, service_task("b"))
        eng.start("p")
        delays = []
        for _ in range(6):
            [job] = eng.claim_jobs("w", ["b"])
            failed = eng.fail_job(job.id, "w", "x")
            delays.append((failed.due_at - clock()).total_seconds())
            clock.advance(10)
        assert all(0 <= d <= min(5.0, 2.0 * 2 ** n) for n, d in enumerate(delays)), delays
    finally:
        eng.close()


def test_not_retryable_failure_is_an_incident_at_once(eng):
    deploy(eng, service_task("t"))
    inst = eng.start("p")
    [job] = eng.claim_jobs("w", ["t"])
    incident = eng.fail_job(job.id, "w", "HTTP 400: bad request", {"body": "missing field"}, retryable=False)
    assert "not retryable" in incident.message and incident.details == {"body": "missing field"}
    assert eng.get_instance(inst.id).status == "incident"


def test_bpmn_error_caught_by_boundary_event_or_becomes_incident(eng):
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="charge" camunda:type="external" camunda:topic="card"/>
    <bpmn:boundaryEvent id="declined" attachedToRef="charge"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:boundaryEvent>
    <bpmn:scriptTask id="apologize"><bpmn:script>apology = "sorry: " + reason</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="paid"/><bpmn:endEvent id="not_paid"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
    <bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="paid"/>
    <bpmn:sequenceFlow id="f3" sourceRef="declined" targetRef="apologize"/>
    <bpmn:sequenceFlow id="f4" sourceRef="apologize" targetRef="not_paid"/>
    """
    extra = '<bpmn:error id="Err" name="Declined" errorCode="DECLINED"/>\n'
    eng.deploy_bytes([("card.bpmn", process_xml("card", body, extra=extra))])
    inst = eng.start("card")
    [job] = eng.claim_jobs("w", ["card"])
    assert eng.job_bpmn_error(job.id, "w", "DECLINED", "card declined", {"reason": "limit"}) is True
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["apology"] == "sorry: limit"
    assert eng.jobs() == []

    other = eng.start("card")
    [job] = eng.claim_jobs("w", ["card"])
    assert eng.job_bpmn_error(job.id, "w", "FRAUD", "stolen card") is False
    assert eng.get_instance(other.id).status == "incident"
    [incident] = eng.incidents()
    assert "FRAUD" in incident.message and "not caught" in incident.message


def test_circuit_opens_after_consecutive_failures_and_half_opens_for_one_probe(eng, clock):
    deploy(eng, service_task("fragile"))
    for _ in range(3):
        eng.start("p")
    circuits = {"fragile": (2, 30.0)}
    for _ in range(2):
        [job] = eng.claim_jobs("w", ["fragile"], circuits=circuits)
        eng.fail_job(job.id, "w", "down", retry_in=0, circuit=circuits["fragile"])
    [circuit] = eng.circuits()
    assert (circuit.topic, circuit.state, circuit.failures) == ("fragile", "open", 2)
    before = {j.id: j.attempt for j in eng.jobs()}
    assert eng.claim_jobs("w", ["fragile"], limit=5, circuits=circuits) == []
    assert {j.id: j.attempt for j in eng.jobs()} == before, "waiting behind an open circuit spends no attempts"
    clock.advance(31)
    probe = eng.claim_jobs("w", ["fragile"], limit=5, circuits=circuits)
    assert len(probe) == 1, "half-open lets exactly one probe through"
    assert eng.circuits()[0].state == "half_open"
    assert eng.claim_jobs("w2", ["fragile"], limit=5, circuits=circuits) == []
    eng.complete_job(probe[0].id, "w", {})
    assert eng.circuits()[0].state == "closed"
    assert len(eng.claim_jobs("w", ["fragile"], limit=5, circuits=circuits)) == 2, "closed again: the rest flow"


def test_cancelling_an_instance_removes_its_jobs_and_resolves_incidents(eng):
    deploy(eng, service_task("t"))
    inst = eng.start("p")
    [job] = eng.claim_jobs("w", ["t"])
    eng.fail_job(job.id, "w", "bad", retryable=False)
    eng.cancel(inst.id)
    assert eng.jobs() == [] and eng.incidents() == []
    assert eng.incidents(open_only=False)[0].resolution == "cancelled"


def test_bad_input_mapping_is_refused_at_deploy(eng):
    bad = "<camunda:inputOutput><camunda:inputParameter name='x'>${a +}</camunda:inputParameter></camunda:inputOutput>"
    with pytest.raises(ModelError, match="inputParameter 'x' '\\$\\{a \\+\\}' cannot be translated to Python") as err:
        deploy(eng, service_task("t", bad))
    assert err.value.element_id == "S1"


def test_input_mapping_failing_at_run_time_is_an_incident_fixed_by_retry(eng):
    io = "<camunda:inputOutput><camunda:inputParameter name='x'>${missing}</camunda:inputParameter></camunda:inputOutput>"
    deploy(eng, service_task("t", io))
    inst = eng.start("p")
    assert eng.get_instance(inst.id).status == "incident"
    [incident] = eng.incidents()
    assert "input mapping failed" in incident.message
    job = eng.retry_incident(incident.id, {"missing": 5})
    assert job.variables == {"x": 5}


def test_send_and_business_rule_tasks_marked_external_are_jobs(eng):
    deploy(eng, '<bpmn:sendTask id="{id}" camunda:type="external" camunda:topic="mail"/>',
           '<bpmn:businessRuleTask id="{id}" camunda:type="external" camunda:topic="rules"/>')
    inst = eng.start("p")
    [mail] = eng.jobs()
    assert mail.topic == "mail"
    eng.complete_job(eng.claim_jobs("w", ["mail"])[0].id, "w", {"sent": True})
    [rules] = eng.jobs()
    assert rules.topic == "rules" and rules.variables == {"sent": True}
    eng.complete_job(eng.claim_jobs("w", ["rules"])[0].id, "w", {"score": 7})
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables == {"sent": True, "score": 7}
    types = {h.element_id: h.element_type for h in eng.history(inst.id) if h.event == "activity_completed"}
    assert types["S1"] == "sendTask" and types["S2"] == "businessRuleTask"
