"""The database goes away under busy `baton worker` and `baton serve` processes and comes back: nothing is lost.

The first tests point a running engine at a port where nothing listens (connection refused, as when the server is
down) and back; the last one makes a private PostgreSQL server (``initdb``, ``pg_ctl``; the shared one is never
stopped), stops it for a few seconds while jobs are under way, and starts it again (``bench/outage.py`` runs the
same for 30 s).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import PG_URL, _pg_reachable
from helpers import chain, process_xml, service_task

from engine import Engine
from engine.agents import AgentConfig
from engine.errors import DatabaseUnavailable
from engine.store import db as store_db
from engine.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import outage  # noqa: E402
from nodes import free_port, pg_bin  # noqa: E402

RETRY_CAP = 2.0
pytestmark = pytest.mark.postgres
on_postgres = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the engine fixture, PostgreSQL only
OUTAGE: dict[str, object] = {}  # what the agent below needs: the engine and the two databases


def outage_during_the_call(variables, context):
    """An agent whose call ends while the database is unreachable; it is back a second later."""
    engine = OUTAGE["engine"]
    engine.db = OUTAGE["down"]
    threading.Timer(1.0, lambda: setattr(engine, "db", OUTAGE["up"])).start()
    return {"answered_attempt": context.attempt}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


@pytest.fixture
def pg_engine(settings):
    """An engine on PostgreSQL with a short backoff cap, the unreachable database, and the worker's log lines."""
    eng = Engine(settings.replace(db_retry_cap=0.5))
    down = store_db.connect(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")
    lines = Lines()
    logger = logging.getLogger("baton.worker")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    OUTAGE.update(engine=eng, up=eng.db, down=down)
    yield eng, down, lines
    logger.removeHandler(lines)
    logger.setLevel(level)
    eng.db = OUTAGE["up"]
    OUTAGE.clear()
    eng.close()
    down.dispose()


def _until(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@on_postgres
def test_an_unreachable_database_is_reported_as_such(pg_engine):
    eng, down, _lines = pg_engine
    eng.db = down
    with pytest.raises(DatabaseUnavailable, match="the database cannot be reached: .*refused"):
        eng.count_by_status()


def test_baton_worker_started_before_its_database_waits_for_it(tmp_path):
    env = {
        **os.environ,
        "BATON_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
        "BATON_DB_RETRY_CAP": "0.5",
        "BATON_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _until(
            lambda: log.read_text().count("database unavailable, retrying connecting at start-up") >= 3,
            "three attempts to connect",
        )
        assert proc.poll() is None, log.read_text()  # still there, waiting: not exited with an error
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def test_baton_worker_with_a_wrong_database_name_exits_instead_of_waiting(tmp_path):
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")
    url = PG_URL.rsplit("/", 1)[0] + "/baton_no_such_database"
    env = {**os.environ, "BATON_DATABASE_URL": url, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert 'database "baton_no_such_database" does not exist' in proc.stderr
    assert "retrying" not in proc.stderr and "Traceback" not in proc.stderr


@on_postgres
def test_a_worker_keeps_claiming_through_an_outage_and_runs_the_job_once_it_is_back(pg_engine):
    eng, down, lines = pg_engine
    eng.deploy_bytes([("one.bpmn", process_xml("one", chain(service_task("t"))))])
    inst = eng.start("one")
    eng.db = down
    agent = AgentConfig(topic="t", adapter="python", options={"function": "noop_agent:noop"})
    worker = Worker(eng, {"t": agent}, threads=1, poll=0.1).start()
    try:
        _until(lambda: lines.count("database unavailable, retrying claim_jobs") >= 3, "three retries")
        assert worker._thread is not None and worker._thread.is_alive()
        eng.db = OUTAGE["up"]
        _until(lambda: eng.get_instance(inst.id).status == "completed", "the instance to complete")
    finally:
        worker.stop()
    assert lines.count("database reachable again, claim_jobs resumed") == 1
    assert [h.details["attempt"] for h in eng.history(inst.id) if h.event == "job_completed"] == [1]


@on_postgres
def test_a_result_ready_while_the_database_is_down_is_recorded_when_it_is_back(pg_engine):
    eng, _down, lines = pg_engine
    eng.deploy_bytes([("one.bpmn", process_xml("one", chain(service_task("t"))))])
    inst = eng.start("one")
    agent = AgentConfig(topic="t", adapter="python", options={"function": "test_db_outage:outage_during_the_call"})
    worker = Worker(eng, {"t": agent}, threads=1, poll=0.1).start()
    try:
        _until(lambda: eng.db is OUTAGE["up"] and lines.count("database reachable again, recording"), "the result")
        _until(lambda: eng.get_instance(inst.id).status == "completed", "the instance to complete")
    finally:
        worker.stop()
    assert lines.count("database unavailable, retrying recording the job's result") >= 1
    # recorded from the first attempt: the agent was not called again
    assert eng.get_instance(inst.id).variables["answered_attempt"] == 1
    assert [h.details["attempt"] for h in eng.history(inst.id) if h.event == "job_completed"] == [1]


@pytest.fixture
def have_initdb():
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        if os.environ.get("CI"):
            pytest.fail("initdb / pg_ctl are required in CI (PostgreSQL's server package)")
        pytest.skip("initdb / pg_ctl not installed: no private PostgreSQL server to stop")


@pytest.mark.slow
def test_workers_and_server_outlive_a_database_outage_and_everything_completes_once(have_initdb, tmp_path):
    report = outage.run(
        instances=12,
        outage=6.0,
        folder=tmp_path,
        workers=2,
        pause=1.0,
        retry_cap=RETRY_CAP,
        progress=lambda _message: None,
    )

    logs = {path.stem: path.read_text() for path in tmp_path.glob("*.log")}
    seen = f"{report}\n" + "\n".join(f"--- {name}\n{text[-1500:]}" for name, text in logs.items())
    # every instance completed; each job, the timer and the message exactly once; no row left over
    assert report["problems"] == [], seen
    assert sum(report["jobs_by_worker"].values()) == 12 * 4
    # no node crashed or exited, during the outage or after it
    assert all(report["alive_during_outage"].values()) and all(report["alive_after_outage"].values()), seen
    assert set(report["alive_after_outage"]) == {"serve", "worker-1", "worker-2"}
    # the web app said so to its clients meanwhile, and answers normally again
    assert report["serve_during_outage"] == {"health": 503, "instances": 503, "error_code": "database_unavailable"}, (
        seen
    )
    assert report["serve_after_outage"] == {"health": 200, "instances": 200, "error_code": None}, seen
    # they waited with backoff (capped) and said when the database was back
    assert all(report["retry_lines"].values()) and all(report["reachable_again_lines"].values()), seen
    # (a worker whose threads are all busy with results to record does not claim meanwhile)
    assert "firing due timers" in report["retried"]
    assert {"claim_jobs", "recording the job's result"} & set(report["retried"]), seen
    assert 0 < report["longest_retry_delay_s"] <= RETRY_CAP
    # agent calls that finished while the database was down kept their result and recorded it afterwards
    assert report["results_recorded_after_outage"] >= 1 and report["results_given_up"] == 0, seen

    worker_log = logs["worker-1"]
    retry = re.search(r"WARNING baton\.worker database unavailable, retrying .+? in [0-9.]+ s (.*)", worker_log)
    assert retry, worker_log[-3000:]
    fields = dict(pair.split("=", 1) for pair in retry.group(1).split(" ") if "=" in pair)
    assert {"worker_id", "what", "attempt", "retry_in", "error"} <= set(fields)
    assert not [name for name, text in logs.items() if "Traceback" in text], seen
