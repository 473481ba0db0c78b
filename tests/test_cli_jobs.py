"""The job commands as a user types them: worker, jobs, incidents, retry, circuits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import chain, process_xml, service_task

BATON = str(Path(sys.executable).parent / "baton")

TOOL = """import json, sys
data = json.load(sys.stdin)
if not data["variables"].get("fixed"):
    print("lint failed: 3 errors in api.py", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"lint": "clean"}))
"""


def test_worker_incident_and_retry_from_the_command_line(db_url, tmp_path):
    (tmp_path / "lint.py").write_text(TOOL)
    (tmp_path / "baton.toml").write_text(
        f'[worker]\npoll = "PT0.2S"\n\n[agents.lint]\nadapter = "command"\nrun = ["{sys.executable}", "lint.py"]\n'
        'retries = 1\ntimeout = "PT20S"\n')
    (tmp_path / "p.bpmn").write_bytes(process_xml("p", chain(service_task("lint"))))
    env = {**os.environ, "BATON_DATABASE_URL": db_url}

    def baton(*args: str) -> str:
        proc = subprocess.run([BATON, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def wait_status(instance_id: str, status: str) -> None:
        deadline = time.monotonic() + 30
        while json.loads(baton("show", instance_id, "--json"))["status"] != status:
            assert time.monotonic() < deadline, f"instance never became {status}"
            time.sleep(0.3)

    baton("deploy", "p.bpmn")
    instance_id = baton("start", "p").split()[0]
    assert "lint" in baton("jobs") and "ready" in baton("jobs")
    worker = subprocess.Popen([BATON, "worker"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_status(instance_id, "incident")
        listed = baton("incidents")
        assert "lint failed: 3 errors in api.py" in listed
        incident_id = listed.split()[0]
        shown = baton("show", instance_id)
        assert "status       incident" in shown and incident_id in shown
        assert f"incident {incident_id} retried" in baton("retry", incident_id, "--var", "fixed=true")
        wait_status(instance_id, "completed")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert json.loads(baton("show", instance_id, "--json"))["variables"]["lint"] == "clean"
    assert baton("incidents").strip() == "no incidents"
    circuit = baton("circuits").split()
    assert circuit[:2] == ["lint", "closed"] and circuit[-1] == "0", "the success closed the circuit again"
    assert "Traceback" not in err
