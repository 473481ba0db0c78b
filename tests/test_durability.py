"""A process killed between (or during) steps loses nothing; the next process continues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import row_counts
from helpers import chain, process_xml, script, user_task

BATON = str(Path(sys.executable).parent / "baton")
BUSY = "total = 0\nfor i in range(n):\n    total += i"


def _kill_while_running(args: list[str], db_url: str, settle: float = 1.5) -> None:
    """Run `baton ARGS` and SIGKILL it while its engine call is busy inside a script."""
    env = {**os.environ, "BATON_DATABASE_URL": db_url, "BATON_SCRIPT_TIMEOUT": "60"}
    with subprocess.Popen([BATON, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        time.sleep(settle)
        assert proc.poll() is None, f"baton exited before it could be killed: {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)


def test_killed_during_start_stores_nothing(engine, db_url):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(script(BUSY), user_task())))])
    before = row_counts(engine)
    _kill_while_running(["start", "p", "--var", "n=10000000000"], db_url)
    assert row_counts(engine) == before
    assert engine.start("p", {"n": 10}).status == "waiting", "the database is still usable"


def test_killed_during_complete_keeps_the_task_ready_and_continues(engine, db_url):
    doc = process_xml("p", chain(script("a = 1"), user_task("First"), script(BUSY), user_task("Second")))
    engine.deploy_bytes([("p.bpmn", doc)])
    inst = engine.start("p")
    [first] = engine.tasks(instance_id=inst.id)
    before = row_counts(engine)
    state_before = engine.get_instance(inst.id)

    _kill_while_running(["complete", first.id, "--var", "n=10000000000"], db_url)

    assert row_counts(engine) == before
    assert engine.get_instance(inst.id) == state_before
    [still] = engine.tasks(instance_id=inst.id)
    assert still.id == first.id
    after = engine.complete_task(first.id, {"n": 100})
    assert after.status == "waiting"
    assert after.variables["total"] == sum(range(100))
    [second] = engine.tasks(instance_id=inst.id)
    assert second.name == "Second"
    assert engine.complete_task(second.id).status == "completed"


def test_process_exit_between_steps_then_another_process_continues(engine, db_url):
    """Start in one OS process, complete in another: all state is in the database."""
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task(), script("b = 2"))))])
    env = {**os.environ, "BATON_DATABASE_URL": db_url}
    out = subprocess.run([BATON, "start", "p", "--var", "a=1"], env=env, capture_output=True, text=True,
                         check=True).stdout
    instance_id = out.split()[0]
    task_id = out.splitlines()[1].split()[0]
    subprocess.run([BATON, "complete", task_id], env=env, capture_output=True, text=True, check=True)
    final = engine.get_instance(instance_id)
    assert final.status == "completed" and final.variables == {"a": 1, "b": 2}


def test_two_processes_complete_the_same_task_one_wins(engine, db_url):
    """Two `baton complete` processes race for one task: one wins, the other gets a clear conflict."""
    doc = process_xml("p", chain(user_task("Approve"), script(BUSY), user_task("Next")))
    engine.deploy_bytes([("p.bpmn", doc)])
    inst = engine.start("p")
    [task] = engine.tasks(instance_id=inst.id)
    env = {**os.environ, "BATON_DATABASE_URL": db_url}
    procs = [subprocess.Popen([BATON, "complete", task.id, "--var", "n=3000000", "--var", f"who={who}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in (1, 2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, _, err in results if code == 1)
    assert "changed by someone else" in loser or "already completed" in loser, loser
    assert "Traceback" not in loser
    winner = next(out for code, out, _ in results if code == 0)
    final = engine.get_instance(inst.id)
    assert final.status == "waiting" and [t.name for t in final.tasks] == ["Next"]
    assert winner.split()[0] == inst.id
    completions = [h for h in engine.history(inst.id) if h.task_id == task.id and h.event == "activity_completed"]
    assert len(completions) == 1 and completions[0].details["variables"]["who"] == final.variables["who"]
