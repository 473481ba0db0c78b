"""Real Camunda clients nobody here wrote, against a live Baton on 127.0.0.1 (SQLite).

- the PyPI package ``camunda-external-task-client-python3``: a worker written the way its README shows
  (tests/fixtures/engine_rest/camunda_worker.py, in a subprocess, HTTP Basic) fetches and locks with long
  polling, completes, fails with retries until an incident, and throws a BPMN error a boundary event catches;
  its ``EngineClient`` starts instances, finds them by variable and correlates a message;
- plain ``httpx`` calls made the way Camunda's REST reference shows (multipart deployment, typed variables),
  each response checked field by field against the documented DTO.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import waitress
from camunda.client.engine_client import EngineClient

from engine import Engine, Settings
from web import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "engine_rest"
PASSWORD = "worker-pass-1"  # noqa: S105 - a test user's password


@pytest.fixture(scope="module")
def server(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("engine_rest") / "baton.db"
    shutil.copy(sqlite_template, path)
    engine = Engine(Settings(database_url=f"sqlite:///{path}", script_timeout=2.0, auto_migrate=False))
    engine.add_user("worker", "operator", PASSWORD)
    engine.add_user("deployer", "admin", PASSWORD)
    app = create_app({"SECRET_KEY": "tests"}, engine=engine)
    # waitress, as `baton serve` runs the app (its long polls see a client hang up)
    srv = waitress.create_server(app, host="127.0.0.1", port=0, threads=8, channel_request_lookahead=5)
    url = f"http://127.0.0.1:{srv.effective_port}/engine-rest"
    thread = threading.Thread(target=srv.run, name="baton-engine-rest", daemon=True)
    thread.start()
    try:
        yield {"url": url, "engine": engine}
    finally:
        srv.close()  # the worker subprocess has ended by now (its fixture is torn down first)
        engine.close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def worker(server, tmp_path_factory):
    """The README-style worker, subscribed to reserve-stock and charge-card, until the module ends."""
    server["engine"].deploy([FIXTURES / "order_fulfilment.bpmn"])
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(FIXTURES / "camunda_worker.py"), server["url"], "worker",
                                 PASSWORD], stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        yield {"log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _until(check, what: str, timeout: float = 30.0, log: Path | None = None):
    """``check()``'s first truthy value, asked every 0.1 s; the worker's log in the failure when time runs out."""
    for _ in range(int(timeout * 10)):
        if value := check():
            return value
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


def _engine_client(server) -> EngineClient:
    return EngineClient(server["url"], config={"auth_basic": {"username": "worker", "password": PASSWORD}})


def test_worker_completes_and_variables_reach_the_instance_then_a_message_ends_it(server, worker):
    engine, client = server["engine"], _engine_client(server)
    started = client.start_process("order_fulfilment", {"item": "book", "qty": 2, "amount": 30},
                                   business_key="ORDER-1")
    assert started["businessKey"] == "ORDER-1" and started["ended"] is False
    instance_id = started["id"]
    waiting = _until(lambda: engine.get_instance(instance_id).variables.get("receipt"), "both external tasks",
                     log=worker["log"])
    variables = engine.get_instance(instance_id).variables
    assert variables["reservation"] == "R-book" and variables["reserved_qty"] == 2
    assert waiting == {"amount": 30, "by": "python-worker"}  # an Object variable arrives as JSON
    found = client.get_process_instance("order_fulfilment", variables=["item_eq_book"])
    assert [i["id"] for i in found] == [instance_id]
    result = client.correlate_message("ParcelDelivered", business_key="ORDER-1")
    assert result == [{"resultType": "Execution", "processInstance": None,
                       "execution": {"id": instance_id, "processInstanceId": instance_id, "ended": True,
                                     "tenantId": None}}]
    assert engine.get_instance(instance_id).status == "completed"


def test_worker_bpmn_error_is_caught_by_the_boundary_event(server, worker):
    engine, client = server["engine"], _engine_client(server)
    instance_id = client.start_process("order_fulfilment", {"item": "unobtainium", "qty": 1, "amount": 5})["id"]
    tasks = _until(lambda: engine.tasks(instance_id=instance_id), "the shortage task", log=worker["log"])
    assert [t.element_id for t in tasks] == ["Activity_Shortage"]
    instance = engine.get_instance(instance_id)
    assert instance.variables["shortage"] == "unobtainium"
    assert "receipt" not in instance.variables  # the charge never ran
    assert engine.jobs(instance_id=instance_id) == []


def test_worker_failure_spends_its_retries_then_baton_raises_an_incident(server, worker):
    engine, client = server["engine"], _engine_client(server)
    instance_id = client.start_process("order_fulfilment", {"item": "car", "qty": 1, "amount": 25_000})["id"]
    incidents = _until(lambda: engine.incidents(instance_id=instance_id), "the incident", log=worker["log"])
    [incident] = incidents
    assert incident.element_id == "Activity_Charge" and incident.message == "card declined"
    assert incident.attempts == 3  # retries null -> max_retries 2 -> 1 -> 0: three attempts in all
    failures = [h for h in engine.history(instance_id) if h.event == "job_failed"]
    assert len(failures) == 2
    assert engine.get_instance(instance_id).status == "incident"
    with httpx.Client(auth=("worker", PASSWORD)) as http:
        [job] = http.get(f"{server['url']}/external-task", params={"processInstanceId": instance_id}).json()
    assert job["retries"] == 0 and job["errorMessage"] == "card declined" and job["activityId"] == "Activity_Charge"


# ---- a client written from Camunda's REST reference -----------------------------------------------------------


def test_deploy_start_complete_correlate_read_as_the_rest_reference_shows(server):
    url = server["url"]
    with httpx.Client(base_url=url, auth=("deployer", PASSWORD), timeout=30) as http:
        with open(FIXTURES / "invoice_approval.bpmn", "rb") as f:
            resp = http.post("/deployment/create", data={"deployment-name": "invoices",
                                                         "enable-duplicate-filtering": "true",
                                                         "deployment-source": "process application"},
                             files={"invoice_approval.bpmn": ("invoice_approval.bpmn", f, "application/xml")})
        assert resp.status_code == 200, resp.text
        deployment = resp.json()
        assert set(deployment) >= {"links", "id", "name", "source", "deploymentTime", "tenantId",
                                   "deployedProcessDefinitions", "deployedDecisionDefinitions"}
        assert deployment["name"] == "invoices" and deployment["source"] == "process application"
        [definition] = deployment["deployedProcessDefinitions"].values()
        assert definition["key"] == "invoice_approval" and definition["version"] == 1
        assert definition["name"] == "Invoice approval" and definition["resource"] == "invoice_approval.bpmn"
        assert isinstance(definition["id"], str) and definition["deploymentId"] == deployment["id"]
        assert len(deployment["deploymentTime"]) == len("2026-11-25T22:30:00.000+0000")

        variables = {"amount": {"value": 1250, "type": "Integer"}, "creditor": {"value": "Acme", "type": "String"},
                     "urgent": {"value": True, "type": "Boolean"}, "rate": {"value": 0.19, "type": "Double"},
                     "lines": {"value": '[{"sku": "A1", "qty": 3}]', "type": "Json"},
                     "due": {"value": "2026-12-01T12:00:00.000+0100", "type": "Date"},
                     "note": {"value": None, "type": "Null"}}
        resp = http.post("/process-definition/key/invoice_approval/start",
                         json={"variables": variables, "businessKey": "INV-42", "withVariablesInReturn": True})
        assert resp.status_code == 200, resp.text
        started = resp.json()
        assert started["definitionId"] == definition["id"] and started["businessKey"] == "INV-42"
        assert started["ended"] is False and started["suspended"] is False and started["tenantId"] is None
        assert started["links"] == [{"method": "GET", "href": f"{url}/process-instance/{started['id']}",
                                     "rel": "self"}]
        assert started["variables"]["amount"] == {"type": "Integer", "value": 1250, "valueInfo": {}}
        assert started["variables"]["lines"]["value"] == [{"sku": "A1", "qty": 3}]
        assert started["variables"]["due"] == {"type": "String", "value": "2026-12-01T12:00:00.000+01:00",
                                               "valueInfo": {}}
        instance_id = started["id"]

        [task] = http.get("/task", params={"processInstanceId": instance_id}).json()
        assert task["name"] == "Approve invoice" and task["taskDefinitionKey"] == "Activity_Approve"
        assert task["processInstanceId"] == instance_id and task["assignee"] is None
        assert task["processDefinitionKey"] == "invoice_approval"
        assert http.get("/task/count", params={"candidateGroup": "accounting"}).json() == {"count": 1}
        resp = http.post(f"/task/{task['id']}/claim", json={"userId": "deployer"})
        assert resp.status_code == 204
        assert http.get(f"/task/{task['id']}").json()["assignee"] == "deployer"
        resp = http.post(f"/task/{task['id']}/complete", json={"variables": {
            "approved": {"value": True, "type": "Boolean"}}})
        assert resp.status_code == 204 and resp.content == b""

        resp = http.post("/message", json={"messageName": "InvoicePaid", "businessKey": "INV-42",
                                           "processVariables": {"paidOn": {"value": "2026-12-02", "type": "String"}},
                                           "resultEnabled": True, "variablesInResultEnabled": True})
        assert resp.status_code == 200, resp.text
        [result] = resp.json()
        assert result["resultType"] == "Execution" and result["execution"]["processInstanceId"] == instance_id
        assert result["variables"]["paidOn"] == {"type": "String", "value": "2026-12-02", "valueInfo": {}}

        values = http.get(f"/process-instance/{instance_id}/variables").json()
        assert values["approved"] == {"type": "Boolean", "value": True, "valueInfo": {}}
        assert values["rate"] == {"type": "Double", "value": 0.19, "valueInfo": {}}
        assert values["note"] == {"type": "Null", "value": None, "valueInfo": {}}
        assert values["lines"] == {"type": "Object", "value": [{"sku": "A1", "qty": 3}], "valueInfo": {
            "objectTypeName": "java.util.ArrayList", "serializationDataFormat": "application/json"}}
        assert http.get(f"/process-instance/{instance_id}").json()["ended"] is True

        again = http.post("/deployment/create", data={"deployment-name": "invoices"},
                          files={"data": ("invoice_approval.bpmn", (FIXTURES / "invoice_approval.bpmn").read_bytes())})
        assert again.status_code == 200 and again.json()["deployedProcessDefinitions"] is None  # a duplicate


def test_wrong_password_is_a_401_asking_for_basic(server):
    resp = httpx.get(f"{server['url']}/process-definition", auth=("worker", "wrong"))
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="baton"'
    assert resp.json() == {"type": "AuthenticationException", "message": "wrong user name or password"}
