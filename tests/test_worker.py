"""Workers running real agents: Python functions, a real HTTP server, real subprocesses."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import chain, process_xml, script, service_task

from engine import Engine
from engine.agents import AgentConfig
from engine.worker import Worker

AGENT_MODULE = '''
from engine.adapters import BpmnError

def tax(variables, context):
    return {"tax": round(variables["amount"] * 0.2, 2), "seen_attempt": context.attempt}

def picky(variables, context):
    if variables.get("amount", 0) > 100:
        raise BpmnError("TOO_BIG", "amount over limit", {"limit": 100})
    return {"ok": True}

def broken(variables, context):
    raise RuntimeError("database on fire")
'''


@pytest.fixture
def agents_module(tmp_path, monkeypatch):
    (tmp_path / "myagents.py").write_text(AGENT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "myagents"
    sys.modules.pop("myagents", None)


@pytest.fixture
def fast(settings):
    return settings.replace(job_backoff_base=0.01, job_backoff_cap=0.05)


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_python_agent_runs_in_background_worker(fast, agents_module):
    eng = Engine(fast)
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("tax"), script("total = amount + tax"))))])
    node = Worker(eng, {"tax": AgentConfig(topic="tax", adapter="python", options={"function": "myagents:tax"})},
                  threads=2, poll=5.0).start()
    try:
        started = time.monotonic()
        inst = eng.start("p", {"amount": 50})
        done = wait_for(lambda: (i := eng.get_instance(inst.id)).status == "completed" and i)
        assert done.variables == {"amount": 50, "tax": 10.0, "seen_attempt": 1, "total": 60.0}
        assert time.monotonic() - started < 3, "an idle worker wakes up when the job is committed, not at its poll"
    finally:
        node.stop()
        eng.close()


def test_bpmn_error_from_agent_is_caught_by_boundary_event(fast, agents_module):
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="check" camunda:type="external" camunda:topic="picky"/>
    <bpmn:boundaryEvent id="too_big" attachedToRef="check"><bpmn:errorEventDefinition errorRef="E"/></bpmn:boundaryEvent>
    <bpmn:endEvent id="ok"/><bpmn:endEvent id="rejected"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="ok"/>
    <bpmn:sequenceFlow id="f3" sourceRef="too_big" targetRef="rejected"/>
    """
    eng = Engine(fast)
    eng.deploy_bytes([("b.bpmn", process_xml("b", body, extra='<bpmn:error id="E" errorCode="TOO_BIG"/>'))])
    node = Worker(eng, {"picky": AgentConfig(topic="picky", adapter="python", options={"function": "myagents:picky"})})
    big = eng.start("b", {"amount": 500})
    small = eng.start("b", {"amount": 5})
    while node.run_once():
        pass
    assert eng.get_instance(big.id).variables["limit"] == 100
    ends = {h.element_id for h in eng.history(big.id) if h.event == "activity_completed"}
    assert "rejected" in ends and "ok" not in ends
    assert eng.get_instance(small.id).variables["ok"] is True
    eng.close()


def test_failing_agent_retries_then_incident_with_traceback(fast, agents_module):
    eng = Engine(fast.replace(job_attempts=2))
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("broken"))))])
    node = Worker(eng, {"broken": AgentConfig(topic="broken", adapter="python",
                                              options={"function": "myagents:broken"})})
    inst = eng.start("p")
    wait_for(lambda: node.run_once() == 0 and eng.get_instance(inst.id).status == "incident")
    [incident] = eng.incidents()
    assert "database on fire" in incident.message and incident.attempts == 2
    assert "RuntimeError" in incident.details["traceback"]
    eng.close()


class _Flaky(BaseHTTPRequestHandler):
    calls: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"body": body, "key": self.headers.get("Idempotency-Key")})
        if len(type(self).calls) == 1:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"try later")
            return
        out = json.dumps({"charged": body["variables"]["amount"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def test_http_agent_against_real_server_retries_5xx(fast):
    _Flaky.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    eng = Engine(fast)
    try:
        eng.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("payment"))))])
        url = f"http://127.0.0.1:{server.server_address[1]}/charge"
        node = Worker(eng, {"payment": AgentConfig(topic="payment", adapter="http", options={"url": url})})
        inst = eng.start("p", {"amount": 42}, business_key="ORDER-9")
        wait_for(lambda: node.run_once() == 0 and eng.get_instance(inst.id).status == "completed")
        assert eng.get_instance(inst.id).variables["charged"] == 42
        first, second = _Flaky.calls
        assert first["body"]["context"]["business_key"] == "ORDER-9"
        assert first["key"] != second["key"], "each attempt has its own idempotency key"
        assert [second["body"]["context"]["attempt"]] == [2]
        failures = [h for h in eng.history(inst.id) if h.event == "job_failed"]
        assert len(failures) == 1 and "503" in failures[0].details["message"]
    finally:
        eng.close()
        server.shutdown()
        server.server_close()


def test_command_agent_reads_stdin_and_reports_stderr_on_failure(fast, tmp_path):
    tool = tmp_path / "tool.py"
    tool.write_text(
        "import json, os, sys\n"
        "data = json.load(sys.stdin)\n"
        "if data['variables'].get('fail'):\n"
        "    print('compiler exploded at line 3', file=sys.stderr)\n"
        "    sys.exit(2)\n"
        "print(json.dumps({'words': len(data['variables']['text'].split()), 'who': os.environ['BATON_ELEMENT_ID']}))\n")
    eng = Engine(fast.replace(job_attempts=1))
    try:
        eng.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("count"))))])
        cfg = AgentConfig(topic="count", adapter="command", options={"run": [sys.executable, str(tool)]},
                          folder=Path(tmp_path))
        node = Worker(eng, {"count": cfg})
        ok = eng.start("p", {"text": "three small words"})
        bad = eng.start("p", {"text": "x", "fail": True})
        while node.run_once():
            pass
        assert eng.get_instance(ok.id).variables["words"] == 3
        assert eng.get_instance(ok.id).variables["who"] == "S1"
        assert eng.get_instance(bad.id).status == "incident"
        [incident] = eng.incidents()
        assert "compiler exploded" in incident.details["stderr"]
        assert incident.details["exit_code"] == 2
    finally:
        eng.close()
