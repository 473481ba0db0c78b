"""The timer scheduler on the real clock: it wakes at the due time, learns other nodes' timers, runs in workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from test_timers import catch_process

from engine import Engine
from engine.scheduler import TimerScheduler


def wait_for(check, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_scheduler_wakes_at_the_due_time_not_at_the_next_poll(settings):
    eng = Engine(settings)
    scheduler = TimerScheduler(eng, poll=600)  # the safety net would be far too late
    scheduler.start()
    try:
        eng.deploy_bytes([("t.bpmn", catch_process("soon", "timeDuration", "PT1S"))])
        inst = eng.start("soon")
        assert wait_for(lambda: eng.get_instance(inst.id).status == "completed")
        [fired] = [h for h in eng.history(inst.id) if h.event == "timer_fired"]
        assert fired.details["late_by"] < 1.0
    finally:
        scheduler.stop()
        eng.close()


def test_scheduler_polls_for_timers_armed_by_another_node(settings):
    other = Engine(settings)  # a node without a scheduler arms the timer
    other.deploy_bytes([("t.bpmn", catch_process("elsewhere", "timeDuration", "PT1S"))])
    inst = other.start("elsewhere")
    other.close()
    eng = Engine(settings)
    scheduler = TimerScheduler(eng, poll=0.5)
    scheduler.start()
    try:
        assert wait_for(lambda: eng.get_instance(inst.id).status == "completed")
    finally:
        scheduler.stop()
        eng.close()


def test_baton_worker_without_agents_fires_timers(settings, tmp_path):
    eng = Engine(settings)
    (tmp_path / "baton.toml").write_text("# no agents: this node only fires timers\n")
    env = {**os.environ, "BATON_DATABASE_URL": settings.database_url, "BATON_TIMER_POLL": "0.5"}
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eng.deploy_bytes([("t.bpmn", catch_process("by_worker", "timeDuration", "PT1S"))])
        inst = eng.start("by_worker")
        assert wait_for(lambda: eng.get_instance(inst.id).status == "completed" or worker.poll() is not None, 20)
        assert worker.poll() is None and eng.get_instance(inst.id).status == "completed"
    finally:
        worker.send_signal(signal.SIGINT)
        _, err = worker.communicate(timeout=20)
        eng.close()
    assert "fires timers" in err and "Traceback" not in err
