"""The flagship process end to end (bpmn/examples/feature-delivery.bpmn), on SQLite and PostgreSQL.

The five example agents run for real, as the command adapter's subprocesses configured in
bpmn/examples/baton.toml; the review is completed through the REST API.  What is checked is what a user would
see: the generated service answers its API over HTTP, the generated tests really ran (as many as were
planned), a failing round goes back through the quality gate, the deployed service is healthy, and a deploy
whose port is taken is compensated (the deployment stopped and removed).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import EXAMPLES, signed_in_client

from engine import Engine
from engine.agents import load_config
from engine.worker import Worker

sys.path.insert(0, str(EXAMPLES / "agents"))
import deployer  # noqa: E402  (the example agents' own helpers: stop what a test deployed)

REQUEST = "books(title, author, year:integer): list, create, get, update, delete; authors(name): list, get"


@pytest.fixture
def delivery(engine: Engine, app, tmp_path):
    engine.deploy([EXAMPLES / "feature-delivery.bpmn"])
    node = Worker(engine, load_config(EXAMPLES / "baton.toml").agents)
    root = tmp_path / "deployments"
    yield SimpleNamespace(engine=engine, node=node, client=signed_in_client(app), root=root)
    for folder in root.glob("*") if root.is_dir() else []:  # whatever a failed test left running
        deployer.stop_and_remove(folder)


def advance(d: SimpleNamespace, instance_id: str, timeout: float = 90.0):
    """Run the agents' jobs until the instance waits for a person or stops running; its open user tasks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ran = d.node.run_once()
        inst = d.engine.get_instance(instance_id)
        tasks = d.engine.tasks(instance_id=instance_id)
        if tasks or inst.status != "running":
            return inst, tasks
        if not ran:
            time.sleep(0.05)
    raise AssertionError(f"instance {instance_id} kept running: {d.engine.get_instance(instance_id).variables}")


def start(d: SimpleNamespace, **variables):
    answer = d.client.post(
        "/api/v1/instances",
        json={
            "key": "feature-delivery",
            "variables": {"feature_request": REQUEST, "deploy_root": str(d.root), **variables},
        },
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def review(d: SimpleNamespace, task, **variables) -> None:
    assert task.element_id == "Task_Review"
    answer = d.client.post(f"/api/v1/tasks/{task.id}/complete", json={"variables": variables})
    assert answer.status_code == 200, answer.get_json()


def artifact(d: SimpleNamespace, instance_id: str, name: str, version: int | None = None) -> bytes:
    return d.engine.read_artifact(instance_id, name, version)[1]


def http(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw) if raw.strip() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_archive(archive: bytes, into: Path, module: str) -> tuple[subprocess.Popen, str]:
    """Start the generated service from its artifact on a free port; (process, base URL) once /health answers."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port)],
        cwd=into / "service",
        env={**os.environ, "PYTHONPATH": str(into / "service")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if http("GET", url + "/health")[0] == 200:
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the generated service did not come up")


def test_feature_request_to_deployed_service(delivery, tmp_path):
    d = delivery
    instance_id = start(d, skip_validation="createBook", quality_threshold=90)

    # design, then the review sends it back once with a comment
    inst, tasks = advance(d, instance_id)
    first = json.loads(artifact(d, instance_id, "openapi.json"))
    assert "isbn" not in first["components"]["schemas"]["BookInput"]["properties"]
    review(d, tasks[0], design_decision="revise", review_comments="Add field isbn to books.")
    inst, tasks = advance(d, instance_id)
    assert [t.element_id for t in tasks] == ["Task_Review"]
    design = json.loads(artifact(d, instance_id, "openapi.json"))
    assert design["components"]["schemas"]["BookInput"]["required"] == ["title", "author", "year", "isbn"]
    assert set(design["paths"]) == {"/health", "/books", "/books/{id}", "/authors", "/authors/{id}"}
    review(d, tasks[0], design_decision="approve", review_comments="")

    # round 1 leaves out createBook's checks: the gate sends it back; round 2 passes; then deploy
    inst, tasks = advance(d, instance_id)
    assert tasks == [] and inst.status == "completed", inst.variables
    v = inst.variables
    assert v["status"] == "delivered" and v["round"] == 2
    assert v["skip_validation"] == [] and "implemented the request checks of createBook" in v["dev_notes"]
    first_report = json.loads(artifact(d, instance_id, "test-report.json", 1))
    assert first_report["tests"]["failed"] == 2
    assert {f["test"] for f in first_report["failures"]} == {
        "test_createBook_missing_fields",
        "test_createBook_wrong_type",
    }
    report = json.loads(artifact(d, instance_id, "test-report.json"))
    # the tests really ran: as many as qa-expert planned, every one of them by name, all passing
    assert report["tests"] == {"total": v["test_count"], "passed": v["test_count"], "failed": 0}
    assert sorted(report["tests_run"]) == sorted(v["test_cases"])
    assert "test_createBook_missing_fields" in report["tests_run"]
    assert v["quality_score"] == 100 and v["summary"]["tests"] == f"{v['test_count']}/{v['test_count']} passed"
    plan = artifact(d, instance_id, "test-plan.md").decode()
    assert plan.count("| `test_") == v["test_count"]

    # the generated service answers its API
    proc, url = serve_archive(artifact(d, instance_id, "service.tar.gz"), tmp_path / "svc", v["service_module"])
    try:
        book = {"title": "Dune", "author": "Herbert", "year": 1965, "isbn": "0441013597"}
        status, made = http("POST", url + "/books", book)
        assert status == 201 and made == {"id": 1, **book}
        assert http("GET", url + "/books/1") == (200, made)
        assert http("GET", url + "/books") == (200, [made])
        status, problem = http("POST", url + "/books", {"title": "No author"})
        assert status == 422 and set(problem["fields"]) == {"author", "year", "isbn"}
        assert http("GET", url + "/books/42")[0] == 404
        assert http("DELETE", url + "/books/1") == (204, None)
        assert http("GET", url + "/authors") == (200, [])
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    # deployed: the wheel installed in the deployment folder, the service healthy at its URL
    deployed = Path(v["deployment_dir"])
    assert deployed.parent == d.root and (deployed / "lib" / v["service_module"] / "app.py").is_file()
    status, health = http("GET", v["service_url"] + "/health")
    assert status == 200 and health["pid"] == v["service_pid"]
    assert artifact(d, instance_id, v["service_wheel"])[:2] == b"PK"
    assert set(v["summary"]["artifacts"]) == {
        "openapi.json",
        "service.tar.gz",
        "tests.tar.gz",
        "test-plan.md",
        "test-report.json",
        v["service_wheel"],
    }
    passes = [
        h
        for h in d.engine.history(instance_id)
        if h.element_id == "Gateway_Quality" and h.event == "activity_completed"
    ]
    assert len(passes) == 2


def test_deploy_on_a_taken_port_is_compensated(delivery):
    d = delivery
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        instance_id = start(d, deploy_port=taken.getsockname()[1])
        inst, tasks = advance(d, instance_id)
        review(d, tasks[0], design_decision="approve")
        inst, tasks = advance(d, instance_id)
    assert inst.status == "completed" and tasks == []
    v = inst.variables
    assert "in use" in v["deploy_error"]
    assert v["undeployed"] is True and "removed" in v["undeploy_notes"]
    assert not Path(v["deployment_dir"]).exists()
    done = [h.element_id for h in d.engine.history(instance_id) if h.event == "activity_completed"]
    assert done.index("Task_Install") < done.index("Task_Undeploy") < done.index("EndEvent_RolledBack")
    assert "Task_Summary" not in done


def complete(d: SimpleNamespace, task, element_id: str, **variables) -> None:
    assert task.element_id == element_id
    answer = d.client.post(f"/api/v1/tasks/{task.id}/complete", json={"variables": variables})
    assert answer.status_code == 200, answer.get_json()


def test_rounds_used_up_escalate_to_a_person_who_asks_for_one_more(delivery):
    d = delivery
    instance_id = start(d, skip_validation=["createBook"], max_rounds=1)
    inst, tasks = advance(d, instance_id)
    review(d, tasks[0], design_decision="approve")
    inst, tasks = advance(d, instance_id)
    assert [t.element_id for t in tasks] == ["Task_Escalate"] and inst.variables["round"] == 1
    assert inst.variables["quality_score"] < inst.variables["quality_threshold"]
    assert "test_createBook_missing_fields" in inst.variables["failure_report"]
    complete(d, tasks[0], "Task_Escalate", quality_decision="retry")
    inst, tasks = advance(d, instance_id)
    assert inst.status == "completed" and inst.variables["round"] == 2 and inst.variables["quality_score"] == 100


def test_a_round_that_takes_too_long_is_escalated(delivery):
    d = delivery
    instance_id = start(d, round_timeout="PT0S")  # due as soon as the round starts
    inst, tasks = advance(d, instance_id)
    review(d, tasks[0], design_decision="approve")
    inst, tasks = advance(d, instance_id)
    assert [t.element_id for t in tasks] == ["Task_SlowRound"]
    assert d.engine.jobs(instance_id=instance_id) == []  # the round's agent jobs were cancelled with it
    complete(d, tasks[0], "Task_SlowRound", slow_decision="stop")
    inst, tasks = advance(d, instance_id)
    assert inst.status == "completed" and tasks == []
    done = [h.element_id for h in d.engine.history(instance_id) if h.event == "activity_completed"]
    assert "EndEvent_SlowStopped" in done and "Task_RunTests" not in done and "Task_Install" not in done
