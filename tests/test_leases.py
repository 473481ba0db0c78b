"""Short job leases (``job_lease``, ``baton worker --lease``): renewed while a job runs, lapsing when its worker is gone."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from helpers import chain, process_xml, service_task

from engine import Engine, Settings
from engine.agents import AgentConfig
from engine.errors import ConfigurationError
from engine.worker import Worker

AGENTS = """
import threading, time

calls = []
lock = threading.Lock()

def slow(variables, context):
    with lock:
        calls.append((context.job_id, context.attempt))
    time.sleep(float(variables["seconds"]))
    return {"attempt_seen": context.attempt}
"""


@pytest.fixture
def slow_agent(tmp_path, monkeypatch):
    (tmp_path / "leaseagents.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield AgentConfig(topic="slow", adapter="python", options={"function": "leaseagents:slow"}, timeout=60.0)
    sys.modules.pop("leaseagents", None)


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_live_worker_keeps_a_job_that_runs_longer_than_its_lease(settings, slow_agent):
    """Two nodes with a 4 s lease; the job takes 6 s: the heartbeat keeps it, the other node never runs it."""
    leased = settings.replace(job_lease=4.0)
    holder_engine, thief_engine = Engine(leased), Engine(leased)
    holder_engine.deploy_bytes([("s.bpmn", process_xml("s", chain(service_task("slow"))))])
    inst = holder_engine.start("s", {"seconds": 6})
    holder = Worker(holder_engine, {"slow": slow_agent}, threads=1, poll=0.1, worker_id="holder").start()
    try:
        _wait(lambda: any(j.lock_owner == "holder" for j in holder_engine.jobs()), timeout=30)
        thief = Worker(thief_engine, {"slow": slow_agent}, threads=1, poll=0.1, worker_id="thief").start()
        try:
            _wait(lambda: holder_engine.get_instance(inst.id).status == "completed", timeout=60)
        finally:
            thief.stop()
    finally:
        holder.stop()
        holder_engine.close()
        thief_engine.close()
    import leaseagents

    assert [attempt for _, attempt in leaseagents.calls] == [1], "the job ran twice: its lease was lost"
    with Engine(settings) as reader:
        [done] = [h for h in reader.history(inst.id) if h.event == "job_completed"]
    assert done.details["worker"] == "holder" and done.details["attempt"] == 1


def test_a_lapsed_lease_gives_the_job_back_ahead_of_newer_jobs(eng, clock):
    """A dead worker's job keeps its place in line: the next claim takes it before jobs that became due later."""
    eng.deploy_bytes([("s.bpmn", process_xml("s", chain(service_task("slow"))))])
    first = eng.start("s", {"seconds": 0})
    [job] = eng.claim_jobs("dead", ["slow"], lock_seconds=5.0)
    assert job.instance_id == first.id
    clock.advance(1)
    later = [eng.start("s", {"seconds": 0}) for _ in range(3)]
    clock.advance(5)  # the lease of the worker that "died" runs out
    assert eng.expire_locks() == 1
    [again] = eng.claim_jobs("alive", ["slow"], limit=1)
    assert again.id == job.id and again.attempt == 2
    assert {j.instance_id for j in eng.jobs(status="ready")} == {i.id for i in later}


def test_lapsed_leases_count_against_the_agents_retries_not_the_default(eng, clock):
    """A worker whose agent allows 5 attempts: the job survives 4 dead workers, the 5th makes it an incident."""
    eng.deploy_bytes([("s.bpmn", process_xml("s", chain(service_task("slow"))))])
    inst = eng.start("s", {"seconds": 0})
    for attempt in range(1, 6):
        [job] = eng.claim_jobs(f"dead-{attempt}", ["slow"], lock_seconds=5.0, attempts={"slow": 5})
        assert job.attempt == attempt and job.max_attempts == 5
        clock.advance(6)
        eng.expire_locks()
        if attempt < 5:
            assert eng.incidents() == [] and [j.status for j in eng.jobs()] == ["ready"]
    [incident] = eng.incidents()
    assert incident.instance_id == inst.id and "lease expired during attempt 5" in incident.message


def test_renewing_keeps_only_the_jobs_a_worker_still_holds(engine):
    engine.deploy_bytes([("s.bpmn", process_xml("s", chain(service_task("slow"))))])
    engine.start("s", {"seconds": 0})
    engine.start("s", {"seconds": 0})
    mine, given_back = engine.claim_jobs("w1", ["slow"], limit=2, lock_seconds=30)
    engine.unlock_job(given_back.id)
    assert engine.renew_leases("w1", [mine.id, given_back.id], 120) == [mine.id]
    assert engine.renew_leases("someone-else", [mine.id], 120) == []
    [held] = engine.jobs(status="locked")
    assert held.id == mine.id and held.lock_owner == "w1"


@pytest.mark.parametrize("value", [0.5, -1.0])
def test_a_lease_under_one_second_is_refused(value):
    with pytest.raises(ConfigurationError, match=r"job lease of .* 1 s or more"):
        Settings(job_lease=value)


def test_baton_worker_refuses_a_short_lease_with_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "--database-url", f"sqlite:///{tmp_path}/b.db", "worker", "--lease", "0.2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "job lease of 0.2 s" in proc.stderr and "Traceback" not in proc.stderr
