"""Agent performance: every call recorded durably (success, retried failure, BPMN error, timeout, lease lost),
``_cost`` taken out of the outputs and summed, the per-agent figures, ``/metrics``, the dashboard's Agents
panel and ``baton agents stats``.  Real agents (Python functions run by a real worker), real database
(SQLite and PostgreSQL), a clock the test moves so the durations are exact.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import row_counts
from helpers import chain, process_xml, service_task
from test_metrics import scrape

from engine.agents import AgentConfig
from engine.worker import Worker

BATON = str(Path(sys.executable).parent / "baton")
AGENTS = """
from engine.adapters import BpmnError
import time

CLOCK = None   # the test's clock: each agent "works" by moving it
CALLS = {}

def _work(seconds):
    CLOCK.advance(seconds)

def writer(variables, context):
    _work(2.0)
    return {"draft": "v1", "_cost": {"tokens": 1200, "usd": 0.01}}

def flaky(variables, context):
    CALLS["flaky"] = CALLS.get("flaky", 0) + 1
    _work(1.0)
    if context.attempt == 1:
        raise RuntimeError("model overloaded")
    return {"checked": True, "_cost": {"tokens": 300}}

def judge(variables, context):
    _work(0.5)
    raise BpmnError("REJECTED", "not good enough", {"why": "too short"})

def sleepy(variables, context):
    time.sleep(2)
    return {}

def odd_cost(variables, context):
    return {"x": 1, "_cost": {"tokens": "lots"}}
"""


@pytest.fixture
def agents(tmp_path, monkeypatch, clock):
    (tmp_path / "perfagents.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("perfagents")
    module.CLOCK = clock
    yield module
    sys.modules.pop("perfagents", None)


def agent(topic: str, function: str | None = None, **kw) -> AgentConfig:
    return AgentConfig(topic=topic, adapter="python", options={"function": f"perfagents:{function or topic}"}, **kw)


def drain(worker: Worker, clock, rounds: int = 10) -> None:
    """Run due jobs; move the clock past retry delays in between."""
    for _ in range(rounds):
        if not worker.run_once():
            clock.advance(120)
            if not worker.run_once():
                return


REVIEW = chain(service_task("writer"), service_task("flaky"))
JUDGED = """
<bpmn:startEvent id="start"/>
<bpmn:serviceTask id="judge" name="Judge the draft" camunda:type="external" camunda:topic="judge"/>
<bpmn:boundaryEvent id="rejected" attachedToRef="judge"><bpmn:errorEventDefinition errorRef="E"/></bpmn:boundaryEvent>
<bpmn:endEvent id="ok"/><bpmn:endEvent id="no"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="judge"/>
<bpmn:sequenceFlow id="f2" sourceRef="judge" targetRef="ok"/>
<bpmn:sequenceFlow id="f3" sourceRef="rejected" targetRef="no"/>
"""


@pytest.fixture
def worked(eng, clock, agents):
    """A review (writer, then flaky: fails once, then succeeds), a judged draft (BPMN error), a timed-out call."""
    eng.deploy_bytes(
        [
            ("review.bpmn", process_xml("review", REVIEW)),
            ("judged.bpmn", process_xml("judged", JUDGED, extra='<bpmn:error id="E" errorCode="REJECTED"/>')),
            ("slow.bpmn", process_xml("slow", chain(service_task("sleepy")))),
        ]
    )
    worker = Worker(
        eng,
        {
            "writer": agent("writer"),
            "flaky": agent("flaky"),
            "judge": agent("judge"),
            "sleepy": agent("sleepy", timeout=0.2, retries=1),
        },
    )
    review = eng.start("review")
    judged = eng.start("judged")
    slow = eng.start("slow")
    drain(worker, clock)
    return {"review": review.id, "judged": judged.id, "slow": slow.id}


def test_every_call_is_recorded_with_its_outcome_and_time(eng, worked):
    review = eng.agent_calls(worked["review"])
    assert [(c["topic"], c["attempt"], c["outcome"], c["duration"]) for c in review] == [
        ("writer", 1, "completed", 2.0),
        ("flaky", 1, "failed", 1.0),
        ("flaky", 2, "completed", 1.0),
    ]
    first, failed, retried = review
    assert first["adapter"] == "python" and first["cost"] == {"tokens": 1200, "usd": 0.01}
    assert first["idempotency_key"] == f"{first['job_id']}:1" and first["worker_id"]
    assert failed["retryable"] is True and "model overloaded" in failed["error"]
    assert retried["job_id"] == failed["job_id"] and retried["started_at"] > failed["finished_at"]
    inst = eng.get_instance(worked["review"])
    assert inst.status == "completed"
    assert "_cost" not in inst.variables and inst.variables["draft"] == "v1"  # cost is no variable

    [judged] = eng.agent_calls(worked["judged"])
    assert (judged["outcome"], judged["duration"], judged["error"]) == ("bpmn_error", 0.5, "REJECTED: not good enough")
    [slow] = eng.agent_calls(worked["slow"])
    assert slow["outcome"] == "timed_out" and "timed out" in slow["error"]
    assert eng.get_instance(worked["slow"]).status == "incident"


def test_per_agent_figures(eng, worked, clock):
    stats = {s["topic"]: s for s in eng.agent_stats()}
    assert set(stats) == {"writer", "flaky", "judge", "sleepy"}
    flaky = stats["flaky"]
    assert (flaky["calls"], flaky["retries"], flaky["success_rate"]) == (2, 1, 0.5)
    assert flaky["outcomes"] == {"completed": 1, "failed": 1, "bpmn_error": 0, "timed_out": 0}
    assert flaky["cost"] == {"tokens": 300}
    assert (stats["writer"]["p50"], stats["writer"]["p95"], stats["writer"]["cost"]) == (
        2.0,
        2.0,
        {"tokens": 1200, "usd": 0.01},
    )
    assert stats["judge"]["success_rate"] == 1.0  # a modelled BPMN error is an answer
    assert stats["sleepy"]["success_rate"] == 0.0 and stats["sleepy"]["outcomes"]["timed_out"] == 1
    clock.advance(3600)
    assert eng.agent_stats(window=600) == []  # nothing finished in the last 10 minutes
    assert [s["topic"] for s in eng.agent_stats(topic="judge")] == ["judge"]


def test_an_external_worker_call_runs_from_lock_to_result(eng, clock):
    eng.deploy_bytes([("ext.bpmn", process_xml("ext", chain(service_task("remote"), service_task("remote"))))])
    inst = eng.start("ext")
    [job] = eng.claim_jobs("w-1", ["remote"], lock_seconds=60)
    clock.advance(1)
    eng.extend_lock(job.id, "w-1", 60)  # keeping the lock does not move the call's start
    clock.advance(2)
    eng.complete_job(job.id, "w-1", {"answer": 42, "_cost": {"tokens": 7}})
    [second] = eng.claim_jobs("w-2", ["remote"], lock_seconds=10)
    clock.advance(30)  # the worker went away: its lease runs out
    assert eng.expire_locks() == 1
    calls = eng.agent_calls(inst.id)
    assert [(c["adapter"], c["worker_id"], c["outcome"], c["duration"], c["cost"]) for c in calls] == [
        ("external", "w-1", "completed", 3.0, {"tokens": 7}),
        ("external", "w-2", "timed_out", 30.0, None),
    ]
    assert "stopped responding" in calls[1]["error"]
    assert "_cost" not in eng.get_instance(inst.id).variables


def test_a_malformed_cost_is_ignored_with_a_warning(eng, agents, caplog):
    eng.deploy_bytes([("odd.bpmn", process_xml("odd", chain(service_task("odd"))))])
    inst = eng.start("odd")
    worker = Worker(eng, {"odd": agent("odd", "odd_cost")})
    with caplog.at_level(logging.WARNING, logger="baton.agents"):
        worker.run_once()
    assert eng.get_instance(inst.id).variables == {"x": 1}
    [call] = eng.agent_calls(inst.id)
    assert call["outcome"] == "completed" and call["cost"] is None
    [record] = [r for r in caplog.records if "ignored the cost" in r.getMessage()]
    assert record.instance_id == inst.id and record.element_id == "S1"
    assert "'_cost.tokens' must be a number" in record.getMessage()


def test_a_result_refused_for_a_lost_lease_records_no_call(eng, clock):
    eng.deploy_bytes([("ext.bpmn", process_xml("ext", chain(service_task("remote"))))])
    eng.start("ext")
    [job] = eng.claim_jobs("w-1", ["remote"], lock_seconds=60)
    before = row_counts(eng)["agent_calls"]
    with pytest.raises(Exception, match="not locked by worker"):
        eng.complete_job(job.id, "intruder", {"_cost": {"tokens": 1}})
    assert row_counts(eng)["agent_calls"] == before


@pytest.fixture
def engine(eng):
    """The app and client fixtures run over the clock-driven engine."""
    return eng


def test_metrics_families(client, worked):
    m = scrape(client)
    calls = m["baton_agent_calls_total"]
    assert calls[(("agent", "flaky"), ("outcome", "failed"))] == 1
    assert calls[(("agent", "flaky"), ("outcome", "completed"))] == 1
    assert calls[(("agent", "judge"), ("outcome", "bpmn_error"))] == 1
    assert calls[(("agent", "sleepy"), ("outcome", "timed_out"))] == 1
    assert m["baton_agent_retries_total"][(("agent", "flaky"),)] == 1
    assert m["baton_agent_retries_total"][(("agent", "writer"),)] == 0
    assert m["baton_agent_cost_total"][(("agent", "writer"), ("unit", "tokens"))] == 1200
    assert m["baton_agent_cost_total"][(("agent", "flaky"), ("unit", "tokens"))] == 300
    assert m["baton_agent_call_duration_seconds_count"][(("agent", "flaky"),)] == 2
    assert m["baton_agent_call_duration_seconds_sum"][(("agent", "writer"),)] == 2.0
    buckets = m["baton_agent_call_duration_seconds_bucket"]
    assert buckets[(("agent", "writer"), ("le", "1.0"))] == 0 and buckets[(("agent", "writer"), ("le", "2.5"))] == 1


def test_dashboard_shows_the_agents_table(client, worked):
    html = client.get("/dashboard").get_data(as_text=True)
    assert 'id="panel-agents"' in html
    row = html.split('data-agent="flaky"')[1].split("</tr>")[0]
    assert '<td class="num" data-figure="calls">2</td>' in row
    assert '<td class="num" data-figure="success">50%</td>' in row
    assert '<td class="num" data-figure="retries">1</td>' in row
    assert "300 tokens" in row
    assert "1200 tokens, 0.01 usd" in html.split('data-agent="writer"')[1].split("</tr>")[0]


def test_dashboard_without_agent_calls_says_so(client):
    assert "No agent has been called yet." in client.get("/dashboard").get_data(as_text=True)


def test_cli_agents_stats(worked, settings):
    env = {**os.environ, "BATON_DATABASE_URL": settings.database_url}
    text = subprocess.run(
        [BATON, "agents", "stats"], capture_output=True, text=True, env=env, timeout=120, check=True
    ).stdout
    flaky = next(line for line in text.splitlines() if line.startswith("flaky"))
    assert flaky.split()[:3] == ["flaky", "2", "50%"] and "300 tokens" in flaky
    data = json.loads(
        subprocess.run(
            [BATON, "agents", "stats", "--agent", "writer", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        ).stdout
    )
    assert [(d["topic"], d["calls"], d["cost"]) for d in data] == [("writer", 1, {"tokens": 1200, "usd": 0.01})]
    bad = subprocess.run(
        [BATON, "agents", "stats", "--since", "soon"], capture_output=True, text=True, env=env, timeout=120
    )
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr and "Traceback" not in bad.stderr


def test_external_worker_over_rest_fetch_fail_then_complete_with_cost(client, eng, clock):
    eng.deploy_bytes([("rest.bpmn", process_xml("rest", chain(service_task("summarize"))))])
    inst = eng.start("rest")
    api = "/api/v1/external-tasks"

    def fetch_one() -> str:
        resp = client.post(
            f"{api}/fetch-and-lock",
            json={"workerId": "llm-1", "maxTasks": 1, "topics": [{"topicName": "summarize", "lockDuration": 60_000}]},
        )
        [task] = resp.get_json()
        return task["id"]

    job_id = fetch_one()
    clock.advance(5)
    resp = client.post(
        f"{api}/{job_id}/failure",
        json={"workerId": "llm-1", "errorMessage": "rate limited", "retries": 2, "retryTimeout": 1000},
    )
    assert resp.status_code == 204
    clock.advance(2)
    job_id = fetch_one()
    clock.advance(8)
    resp = client.post(
        f"{api}/{job_id}/complete",
        json={"workerId": "llm-1", "variables": {"summary": "short", "_cost": {"tokens": 2048, "usd": 0.03}}},
    )
    assert resp.status_code == 204
    assert eng.get_instance(inst.id).variables == {"summary": "short"}
    calls = eng.agent_calls(inst.id)
    assert [(c["adapter"], c["attempt"], c["outcome"], c["duration"], c["cost"]) for c in calls] == [
        ("external", 1, "failed", 5.0, None),
        ("external", 2, "completed", 8.0, {"tokens": 2048, "usd": 0.03}),
    ]
    [stats] = eng.agent_stats()
    assert (stats["topic"], stats["retries"], stats["cost"]) == ("summarize", 1, {"tokens": 2048, "usd": 0.03})
