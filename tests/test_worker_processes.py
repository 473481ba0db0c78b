"""Real `baton worker` processes: several nodes share the work, and a killed one loses nothing."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import chain, process_xml, service_task

BATON = str(Path(sys.executable).parent / "baton")

AGENTS = '''
import os, time

def noop(variables, context):
    return {}

def slow_first(variables, context):
    if context.attempt == 1:
        time.sleep(60)  # this attempt's worker gets killed
    return {"finished_by_pid": os.getpid(), "attempt_seen": context.attempt}
'''


def _setup(tmp_path: Path, db_url: str, toml: str) -> dict[str, str]:
    (tmp_path / "nodeagents.py").write_text(AGENTS)
    (tmp_path / "baton.toml").write_text(toml)
    return {**os.environ, "BATON_DATABASE_URL": db_url, "PYTHONPATH": str(tmp_path), "BATON_LOG_LEVEL": "WARNING"}


def _worker(env: dict[str, str], cwd: Path, worker_id: str) -> subprocess.Popen:
    return subprocess.Popen([BATON, "worker", "--id", worker_id], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return err


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_two_worker_processes_share_jobs_and_run_each_once(engine, db_url, tmp_path):
    postgres = engine.db.dialect.name == "postgresql"
    instances = 50 if postgres else 12  # 500 jobs on PostgreSQL; SQLite has one writer at a time
    env = _setup(tmp_path, db_url, '[worker]\nthreads = 4\npoll = "PT0.2S"\n\n'
                                   '[agents.noop]\nadapter = "python"\nfunction = "nodeagents:noop"\n')
    steps = [service_task("noop") for _ in range(10)]
    engine.deploy_bytes([("ten.bpmn", process_xml("ten", chain(*steps)))])
    ids = [engine.start("ten", {"n": i}).id for i in range(instances)]
    workers = [_worker(env, tmp_path, f"node-{n}") for n in (1, 2)]
    try:
        _wait(lambda: engine.count_by_status().get("completed", 0) == instances, timeout=240)
    finally:
        errors = [_stop(w) for w in workers]
    assert engine.count_by_status() == {"completed": instances}, errors
    completions = [h for i in ids for h in engine.history(i) if h.event == "job_completed"]
    assert len(completions) == instances * 10
    assert len({h.details["job_id"] for h in completions}) == instances * 10, "no job ran twice"
    per_task = collections.Counter(h.task_id for i in ids for h in engine.history(i)
                                   if h.event == "activity_completed" and h.element_type == "serviceTask")
    assert set(per_task.values()) == {1}
    by_worker = collections.Counter(h.details["worker"] for h in completions)
    assert set(by_worker) == {"node-1", "node-2"}, by_worker


def test_worker_killed_mid_job_loses_its_lease_and_another_finishes(engine, db_url, tmp_path):
    env = _setup(tmp_path, db_url, '[worker]\nthreads = 1\npoll = "PT0.2S"\n\n'
                                   '[agents.slow]\nadapter = "python"\nfunction = "nodeagents:slow_first"\n'
                                   'timeout = "PT3S"\nretries = 3\n')
    env["BATON_JOB_LEASE_GRACE"] = "1"
    engine.deploy_bytes([("s.bpmn", process_xml("s", chain(service_task("slow"))))])
    first = _worker(env, tmp_path, "doomed")
    inst = engine.start("s")
    try:
        _wait(lambda: any(j.status == "locked" for j in engine.jobs()), timeout=30)
        [job] = engine.jobs()
        assert job.lock_owner == "doomed" and job.attempt == 1
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=10)
        second = _worker(env, tmp_path, "rescuer")
        try:
            _wait(lambda: engine.get_instance(inst.id).status == "completed", timeout=60)
        finally:
            _stop(second)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate(timeout=10)
    final = engine.get_instance(inst.id)
    assert final.variables["attempt_seen"] == 2
    [done] = [h for h in engine.history(inst.id) if h.event == "job_completed"]
    assert done.details["worker"] == "rescuer" and done.details["attempt"] == 2
