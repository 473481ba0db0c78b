"""Acceptance tests: the real `baton` command in a subprocess, as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES

BATON = str(Path(sys.executable).parent / "baton")


@pytest.fixture
def baton(db_url, tmp_path):
    env = {**os.environ, "BATON_DATABASE_URL": db_url}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([BATON, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        if ok:
            assert proc.returncode == 0, f"baton {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return run


def test_tour(baton):
    out = baton("deploy", str(EXAMPLES)).stdout
    assert "approval" in out and "new version" in out
    assert "unchanged" in baton("deploy", str(EXAMPLES)).stdout

    started = baton("start", "approval", "--var", "amount=250", "--business-key", "PO-1").stdout
    instance_id, status = started.split()[:2]
    assert status == "waiting"

    tasks = json.loads(baton("tasks", "--instance", instance_id, "--json").stdout)
    assert [t["name"] for t in tasks] == ["Review purchase request"]
    assert "approved:boolean" in baton("tasks").stdout

    done = baton("complete", tasks[0]["id"], "--var", "approved=true", "--var", "comment=looks good").stdout
    assert done.split()[:2] == [instance_id, "completed"]

    shown = baton("show", instance_id).stdout
    assert "status       completed" in shown
    assert 'comment = "looks good"' in shown and "status = \"approved\"" in shown
    assert "Review purchase request" in shown

    listed = baton("instances", "--status", "completed").stdout
    assert instance_id in listed and "PO-1" in listed
    data = json.loads(baton("show", instance_id, "--json").stdout)
    assert data["variables"]["approved"] is True
    assert data["history"][0]["event"] == "instance_started"


def test_vars_json_file_and_cancel(baton, tmp_path):
    (tmp_path / "vars.json").write_text(json.dumps({"amount": 900, "requester": "ann"}))
    baton("deploy", str(EXAMPLES / "approval.bpmn"))
    instance_id = baton("start", "approval", "--vars-json", "vars.json").stdout.split()[0]
    shown = json.loads(baton("show", instance_id, "--json").stdout)
    assert shown["variables"]["requester"] == "ann"
    assert baton("cancel", instance_id).stdout.split() == [instance_id, "cancelled"]
    again = baton("cancel", instance_id, ok=False)
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_failed_script_then_retry_with_new_value(baton, tmp_path):
    (tmp_path / "div.bpmn").write_text("""<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="div" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:scriptTask id="Divide" name="Divide"><bpmn:script>share = total / people</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Divide"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Divide" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>""")
    baton("deploy", "div.bpmn")
    out = baton("start", "div", "--var", "total=10", "--var", "people=0").stdout
    instance_id, status = out.split()[:2]
    assert status == "failed"
    assert "Divide" in out and "ZeroDivisionError" in out
    assert "failed" in baton("instances", "--status", "failed").stdout
    retried = baton("retry", instance_id, "--var", "people=4").stdout
    assert retried.split()[:2] == [instance_id, "completed"]
    assert json.loads(baton("show", instance_id, "--json").stdout)["variables"]["share"] == 2.5


@pytest.mark.parametrize("args, message", [
    (["start", "nope"], "no process 'nope' is deployed"),
    (["complete", "00000000-0000-0000-0000-000000000000"], "no ready task"),
    (["show", "missing"], "no instance has id"),
    (["deploy", "missing.bpmn"], "no such file"),
    (["start", "x", "--var", "novalue"], "is not name=value"),
])
def test_errors_are_one_clear_line(baton, args, message):
    proc = baton(*args, ok=False)
    assert proc.returncode in (1, 2)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_file_names_file_and_line(baton, tmp_path):
    (tmp_path / "bad.bpmn").write_text('<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn='
                                       '"http://www.omg.org/spec/BPMN/20100524/MODEL">\n<oops>\n')
    proc = baton("deploy", "bad.bpmn", ok=False)
    assert proc.returncode == 1
    assert "bad.bpmn:" in proc.stderr and "well-formed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_every_command(baton):
    out = baton("--help").stdout
    for command in ("deploy", "start", "tasks", "complete", "instances", "show", "cancel", "retry", "serve", "db"):
        assert command in out
    assert "--business-key" in baton("start", "--help").stdout


def test_serve_answers_health_and_lists_instances(db_url, tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BATON_DATABASE_URL": db_url}
    with subprocess.Popen([BATON, "serve", "--port", str(port), "--deploy", str(EXAMPLES)], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as resp:
                        health = json.load(resp)
                    break
                except OSError:
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline, "baton serve did not answer within 30 s"
                    time.sleep(0.2)
            assert health["status"] == "ok"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/instances", timeout=5) as resp:
                assert resp.status == 200 and b"Sign in" in resp.read()  # the pages ask who you are first
            subprocess.run([BATON, "users", "ensure-admin"], env=env, cwd=tmp_path, capture_output=True, check=True)
            token = subprocess.run([BATON, "tokens", "create", "admin", "--name", "test"], env=env, cwd=tmp_path,
                                   capture_output=True, text=True, check=True).stdout.split()[-1]
            ask = urllib.request.Request(f"http://127.0.0.1:{port}/instances",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(ask, timeout=5) as resp:
                assert resp.status == 200 and b"Process instances" in resp.read()
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
    assert "deployed" in err and "approval" in err


@pytest.mark.parametrize("country, status", [("DE", "confirmed"), ("US", "cancelled")])
def test_order_saga_example_confirms_or_compensates(baton, country, status):
    baton("deploy", str(EXAMPLES / "order_saga.bpmn"))
    started = baton("start", "order_saga", "--var", 'order_id="A-1"', "--var", "amount=30",
                    "--var", f'country="{country}"').stdout
    instance_id, state = started.split()[:2]
    assert state == "completed"
    shown = json.loads(baton("show", instance_id, "--json").stdout)
    variables = shown["variables"]
    assert variables["status"] == status
    undone = [h["element_id"] for h in shown["history"] if h["event"] == "activity_completed"
              and h["element_id"] in ("Task_CancelShipping", "Task_RefundCard", "Task_ReleaseStock")]
    if status == "confirmed":
        assert undone == [] and "refund" not in variables
    else:
        assert undone == ["Task_CancelShipping", "Task_RefundCard", "Task_ReleaseStock"], "newest step undone first"
        assert variables["refund"] == "C-A-1-30" and variables["released"] == "R-A-1"
        assert variables["shipping_cancelled"] is False, "nothing was booked, so nothing to cancel"
