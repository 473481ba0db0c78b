"""camunda:asyncBefore / asyncAfter: the engine call stops at the boundary, a continuation job runs the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import chain, process_xml, script, user_task

from engine.continuations import TOPIC
from engine.worker import Worker

RETRY = ('<bpmn:extensionElements><camunda:failedJobRetryTimeCycle>R2/PT1M'
         '</camunda:failedJobRetryTimeCycle></bpmn:extensionElements>')


def async_script(code: str, attr: str, extensions: str = "") -> str:
    return (f'<bpmn:scriptTask id="{{id}}" name="Async step" scriptFormat="python" {attr}>{extensions}'
            f'<bpmn:script>{code}</bpmn:script></bpmn:scriptTask>')


def test_async_before_returns_at_the_boundary_and_a_worker_runs_the_rest(eng):
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(
        script("a = 1"), async_script("b = a + 1", 'camunda:asyncBefore="true"'), script("c = b + 1"))))])
    inst = eng.start("p")
    assert inst.status == "running"
    assert inst.variables == {"a": 1}
    assert [a["element_id"] for a in inst.active] == ["S2"]
    [job] = eng.jobs(instance_id=inst.id)
    assert job.topic == TOPIC and job.element_id == "S2"

    worker = Worker(eng, agents={})  # a worker with no agents still runs continuations
    assert worker.run_once() == 1
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables == {"a": 1, "b": 2, "c": 3}
    assert eng.jobs(instance_id=inst.id) == []


def test_async_after_commits_the_step_and_continues_in_a_job(eng):
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(
        async_script("a = 1", 'camunda:asyncAfter="true"'), script("b = a + 1"))))])
    inst = eng.start("p")
    assert inst.status == "running"
    assert inst.variables == {"a": 1}  # the step before the boundary ran and was committed
    assert [a["element_id"] for a in inst.active] == ["S2"]
    assert Worker(eng, agents={}).run_once() == 1
    assert eng.get_instance(inst.id).variables == {"a": 1, "b": 2}
    assert eng.get_instance(inst.id).status == "completed"


def test_async_after_a_user_task_holds_the_next_step(eng):
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(
        user_task().replace("/>", ' camunda:asyncAfter="true"/>'), script("b = 2"))))])
    inst = eng.start("p")
    [task] = eng.tasks(instance_id=inst.id)
    after = eng.complete_task(task.id, {"a": 1})
    assert after.status == "running" and after.variables == {"a": 1}
    assert Worker(eng, agents={}).run_once() == 1
    assert eng.get_instance(inst.id).variables == {"a": 1, "b": 2}


def test_async_before_a_user_task_creates_it_only_in_the_job(eng):
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(
        user_task().replace("/>", ' camunda:asyncBefore="true"/>'))))])
    inst = eng.start("p")
    assert eng.tasks(instance_id=inst.id) == []
    Worker(eng, agents={}).run_once()
    [task] = eng.tasks(instance_id=inst.id)
    assert eng.complete_task(task.id, {}).status == "completed"


def test_a_failure_after_the_boundary_is_the_jobs_retried_then_an_incident(eng, clock):
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(
        script("a = 1"), async_script("b = a / zero", 'camunda:asyncBefore="true"', RETRY))))])
    inst = eng.start("p", {"zero": 0})
    assert inst.status == "running"  # the caller's call does not fail
    worker = Worker(eng, agents={})
    assert worker.run_once() == 1
    [job] = eng.jobs(instance_id=inst.id)
    assert job.status == "ready" and "ZeroDivisionError" in job.last_error
    assert worker.run_once() == 0  # the retry cycle says: one minute later
    for _ in range(2):
        clock.advance(61)
        assert worker.run_once() == 1
    [incident] = eng.incidents(key="p")
    assert incident.element_id == "S2" and incident.attempts == 3
    assert eng.get_instance(inst.id).status == "incident"
    assert eng.get_instance(inst.id).variables == {"a": 1, "zero": 0}  # nothing after the boundary was kept

    eng.retry_incident(incident.id, {"zero": 2})
    assert worker.run_once() == 1
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["b"] == 0.5
    assert eng.incidents(key="p") == []


def test_async_before_on_the_start_event_and_on_a_multi_instance(eng):
    loop = ('<bpmn:scriptTask id="{id}" scriptFormat="python">'
            '<bpmn:multiInstanceLoopCharacteristics camunda:asyncBefore="true">'
            '<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>'
            '<bpmn:script>seen = True</bpmn:script></bpmn:scriptTask>')
    body = chain(loop, script("done = True")).replace(
        '<bpmn:startEvent id="start"/>', '<bpmn:startEvent id="start" camunda:asyncBefore="true"/>')
    eng.deploy_bytes([("p.bpmn", process_xml("p", body))])
    inst = eng.start("p")
    assert inst.status == "running" and [a["element_id"] for a in inst.active] == ["start"]
    worker = Worker(eng, agents={})
    runs = 0
    while count := worker.run_once():
        runs += count
    assert runs == 3  # the start event, then each of the two loop instances
    assert eng.get_instance(inst.id).status == "completed"
    assert eng.get_instance(inst.id).variables["done"] is True


def test_a_bad_retry_cycle_fails_the_deployment(eng):
    from engine.errors import ModelError

    bad = RETRY.replace("R2/PT1M", "every minute")
    with pytest.raises(ModelError) as err:
        eng.deploy_bytes([("p.bpmn", process_xml("p", chain(async_script("a = 1", 'camunda:asyncBefore="true"',
                                                                         bad))))])
    assert err.value.element_id == "S1" and "failedJobRetryTimeCycle" in str(err.value)
    assert err.value.line


def test_cli_start_returns_at_the_boundary_and_baton_worker_once_finishes(tmp_path):
    db = f"sqlite:///{tmp_path / 'baton.db'}"
    model = tmp_path / "p.bpmn"
    model.write_bytes(process_xml("p", chain(script("a = 1"), async_script("b = a + 1", 'camunda:asyncBefore="true"'))))
    env = {**os.environ, "BATON_DATABASE_URL": db, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def baton(*args: str) -> str:
        res = subprocess.run([sys.executable, "-m", "engine", *args], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        return res.stdout

    baton("deploy", str(model))
    started = json.loads(baton("start", "p", "--json"))
    assert started["status"] == "running"
    assert TOPIC in baton("jobs")
    baton("worker", "--once")
    [inst] = json.loads(baton("instances", "--json"))
    assert inst["status"] == "completed"


def test_a_continuation_job_cannot_be_completed_from_outside(eng):
    from engine.errors import InvalidStateError

    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(async_script("b = 1", 'camunda:asyncBefore="true"'))))])
    inst = eng.start("p")
    [job] = eng.claim_jobs("outsider", [TOPIC])
    with pytest.raises(InvalidStateError, match="continuation"):
        eng.complete_job(job.id, "outsider", {"b": 99})
    eng.unlock_job(job.id, "outsider")
    assert Worker(eng, agents={}).run_once() == 1
    assert eng.get_instance(inst.id).variables == {"b": 1}


def test_cancelling_an_instance_at_a_boundary_removes_its_continuation_job(eng):
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(async_script("b = 1", 'camunda:asyncBefore="true"'))))])
    inst = eng.start("p")
    assert len(eng.jobs(instance_id=inst.id)) == 1
    assert eng.cancel(inst.id).status == "cancelled"
    assert eng.jobs(instance_id=inst.id) == []
    assert Worker(eng, agents={}).run_once() == 0


def test_a_background_worker_with_no_agents_picks_up_continuations(engine):
    import time

    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(
        async_script("a = 1", 'camunda:asyncAfter="true"'), async_script("b = a + 1", 'camunda:asyncBefore="true"'))))])
    node = Worker(engine, agents={}, poll=0.05).start()
    try:
        ids = [engine.start("p").id for _ in range(3)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(engine.get_instance(i).status != "completed" for i in ids):
            time.sleep(0.05)
    finally:
        node.stop()
    assert [engine.get_instance(i).variables for i in ids] == [{"a": 1, "b": 2}] * 3
    assert engine.jobs() == []
