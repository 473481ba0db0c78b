"""External tasks over REST (/api/v1/external-tasks), on SQLite and PostgreSQL.

Most tests use Flask's test client over an Engine with an injected clock (leases expire and retries fall
due without sleeping).  Long polling and the example worker run against the real server on a free port.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from conftest import EXAMPLES, ROOT, bearer, signed_in_client
from helpers import chain, process_xml, script, service_task
from werkzeug.serving import make_server

from engine import Engine
from web import create_app

API = "/api/v1/external-tasks"
WORKER_SCRIPT = EXAMPLES / "workers" / "external_worker.py"


@pytest.fixture
def client(eng):
    return signed_in_client(create_app({"SECRET_KEY": "tests"}, engine=eng), "operator", name="worker")


def deploy(eng, key, *steps, extra=""):
    eng.deploy_bytes([(f"{key}.bpmn", process_xml(key, chain(*steps), extra=extra))])


def fetch(client, worker="w1", topics=(("t", 60_000),), max_tasks=1, status=200, **extra):
    body = {"workerId": worker, "maxTasks": max_tasks,
            "topics": [{"topicName": name, "lockDuration": ms} for name, ms in topics], **extra}
    resp = client.post(f"{API}/fetch-and-lock", json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


def post(client, job_id, action, body, status=204):
    resp = client.post(f"{API}/{job_id}/{action}", json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json(silent=True)


def at(text):
    return dt.datetime.fromisoformat(text)


# ---- fetch and lock ------------------------------------------------------------------------------------------------


def test_fetch_and_lock_locks_per_topic_duration_up_to_max_tasks(eng, client, clock):
    deploy(eng, "a", service_task("alpha"))
    deploy(eng, "b", service_task("beta"))
    alphas = [eng.start("a", {"n": i, "amount": 12.5, "tags": ["x"]}, business_key=f"A-{i}") for i in range(3)]
    betas = [eng.start("b", {"n": 10 + i}) for i in range(2)]

    got = fetch(client, topics=[("alpha", 10_000), ("beta", 60_000)], max_tasks=4)
    assert len(got) == 4
    by_topic = {}
    for task in got:
        by_topic.setdefault(task["topicName"], []).append(task)
    assert len(by_topic["alpha"]) == 3 and len(by_topic["beta"]) == 1
    for task in by_topic["alpha"]:
        assert at(task["lockExpirationTime"]) == clock() + dt.timedelta(seconds=10)
    assert at(by_topic["beta"][0]["lockExpirationTime"]) == clock() + dt.timedelta(seconds=60)

    first = next(t for t in got if t["processInstanceId"] == alphas[0].id)
    assert first == {
        "id": first["id"], "topicName": "alpha", "workerId": "w1", "lockExpirationTime": first["lockExpirationTime"],
        "processInstanceId": alphas[0].id, "businessKey": "A-0", "processDefinitionKey": "a",
        "processDefinitionVersion": 1, "activityId": "S1", "activityName": "Call alpha", "retries": 3,
        "attempt": 1, "variables": {"n": 0, "amount": 12.5, "tags": ["x"]}, "artifacts": {},
    }

    rest = fetch(client, worker="w2", topics=[("alpha", 1000), ("beta", 1000)], max_tasks=10)
    assert [t["processInstanceId"] for t in rest] == [b.id for b in betas if b.id != by_topic["beta"][0][
        "processInstanceId"]]
    assert rest[0]["workerId"] == "w2"
    assert fetch(client, topics=[("alpha", 1000), ("beta", 1000)], max_tasks=10) == []


def test_fetch_returns_only_the_named_variables_when_a_topic_lists_them(eng, client):
    deploy(eng, "a", service_task("t"))
    eng.start("a", {"wanted": 1, "secret": "x"})
    body = {"workerId": "w1", "topics": [{"topicName": "t", "lockDuration": 1000, "variables": ["wanted", "missing"]}]}
    [task] = client.post(f"{API}/fetch-and-lock", json=body).get_json()
    assert task["variables"] == {"wanted": 1}


def test_fetch_and_lock_with_nothing_due_answers_an_empty_list_at_once(eng, client):
    started = time.monotonic()
    assert fetch(client, topics=[("nothing", 1000)]) == []
    assert time.monotonic() - started < 0.5


def test_long_poll_answers_at_once_when_every_long_poll_slot_is_taken(eng):
    client = signed_in_client(create_app({"BATON_LONG_POLLS": 0, "SECRET_KEY": "tests"}, engine=eng), "operator")
    started = time.monotonic()
    assert fetch(client, topics=[("nothing", 1000)], asyncResponseTimeout=5000) == []
    assert time.monotonic() - started < 0.5


# ---- complete ----------------------------------------------------------------------------------------------------


def test_complete_applies_variables_and_the_instance_runs_on(eng, client):
    deploy(eng, "p", service_task("pay"), script("doubled = receipt * 2"))
    inst = eng.start("p", {"amount": 3})
    [task] = fetch(client, topics=[("pay", 60_000)])
    assert post(client, task["id"], "complete", {"workerId": "w1", "variables": {"receipt": 21}}) is None
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables == {"amount": 3, "receipt": 21, "doubled": 42}
    assert eng.jobs() == []
    err = client.get(f"{API}/{task['id']}")
    assert err.status_code == 404 and err.get_json()["error"]["code"] == "job_not_found"
    again = post(client, task["id"], "complete", {"workerId": "w1"}, status=404)
    assert again["error"]["code"] == "job_not_found"
    assert [h.details["worker"] for h in eng.history(inst.id) if h.event == "job_completed"] == ["w1"]


def test_only_the_lock_holder_may_complete_fail_or_extend(eng, client):
    deploy(eng, "p", service_task("t"))
    inst = eng.start("p")
    [task] = fetch(client)
    for action, body in [("complete", {"variables": {"x": 1}}), ("failure", {"errorMessage": "no", "retries": 0}),
                         ("bpmnError", {"errorCode": "E"}), ("extendLock", {"newDuration": 1000}),
                         ("unlock", {})]:
        err = post(client, task["id"], action, {"workerId": "intruder", **body}, status=409)["error"]
        assert err["code"] == "lock_lost", action
        assert "intruder" in err["message"] and "locked by worker 'w1'" in err["message"]
        assert err["details"]["job_id"] == task["id"]
    [job] = eng.jobs()
    assert (job.status, job.lock_owner, job.attempt) == ("locked", "w1", 1), "nothing changed"
    assert eng.get_instance(inst.id).status == "running"


def test_an_expired_lock_is_rejected_and_the_job_can_be_fetched_again(eng, client, clock):
    deploy(eng, "p", service_task("t"))
    inst = eng.start("p")
    [task] = fetch(client, topics=[("t", 5000)])
    clock.advance(6)
    err = post(client, task["id"], "complete", {"workerId": "w1", "variables": {"late": True}}, status=409)
    assert err["error"]["code"] == "lock_lost" and "expired" in err["error"]["message"]
    post(client, task["id"], "extendLock", {"workerId": "w1", "newDuration": 60_000}, status=409)
    [again] = fetch(client, worker="w2", topics=[("t", 5000)])
    assert (again["id"], again["attempt"], again["retries"], again["workerId"]) == (task["id"], 2, 2, "w2")
    post(client, again["id"], "complete", {"workerId": "w2", "variables": {"on_time": True}})
    final = eng.get_instance(inst.id)
    assert final.status == "completed" and final.variables == {"on_time": True}


# ---- failure -----------------------------------------------------------------------------------------------------


def test_failure_with_retries_makes_the_job_due_after_the_retry_timeout(eng, client, clock):
    deploy(eng, "p", service_task("t"))
    inst = eng.start("p")
    [task] = fetch(client)
    post(client, task["id"], "failure", {"workerId": "w1", "errorMessage": "card service down",
                                         "errorDetails": "Traceback ...", "retries": 1, "retryTimeout": 30_000})
    shown = client.get(f"{API}/{task['id']}").get_json()
    assert (shown["status"], shown["errorMessage"], shown["retries"]) == ("ready", "card service down", 1)
    assert at(shown["dueTime"]) == clock() + dt.timedelta(seconds=30)
    assert fetch(client) == [], "not due before its retry timeout"
    clock.advance(29)
    assert fetch(client) == []
    clock.advance(1)
    [again] = fetch(client)
    assert (again["id"], again["attempt"], again["retries"]) == (task["id"], 2, 1)
    assert eng.get_instance(inst.id).status == "running"
    failed = [h for h in eng.history(inst.id) if h.event == "job_failed"]
    assert failed[0].details["message"] == "card service down" and failed[0].details["details"] == "Traceback ..."


def test_failure_with_no_retries_left_is_an_incident(eng, client):
    deploy(eng, "p", service_task("t"))
    inst = eng.start("p")
    [task] = fetch(client)
    post(client, task["id"], "failure", {"workerId": "w1", "errorMessage": "card rejected for good",
                                         "errorDetails": "HTTP 400", "retries": 0})
    assert eng.get_instance(inst.id).status == "incident"
    [incident] = eng.incidents()
    assert incident.message == "card rejected for good" and incident.details == {"details": "HTTP 400"}
    assert fetch(client) == []
    shown = client.get(f"{API}/{task['id']}").get_json()
    assert (shown["status"], shown["retries"]) == ("incident", 0)
    again = post(client, task["id"], "failure", {"workerId": "w1", "retries": 0}, status=409)
    assert again["error"]["code"] == "lock_lost"


def test_failure_without_retries_follows_the_jobs_own_policy(eng, client, clock):
    cycle = "<camunda:failedJobRetryTimeCycle>PT10S</camunda:failedJobRetryTimeCycle>"
    deploy(eng, "p", service_task("t", cycle))
    eng.start("p")
    [task] = fetch(client)
    assert task["retries"] == 2, "one retry in the cycle: two attempts in all"
    post(client, task["id"], "failure", {"workerId": "w1"})
    assert client.get(f"{API}/{task['id']}").get_json()["errorMessage"] == "the external worker reported a failure"
    clock.advance(10)
    [again] = fetch(client)
    assert again["retries"] == 1


# ---- BPMN errors -------------------------------------------------------------------------------------------------

CARD = """
<bpmn:startEvent id="start"/>
<bpmn:serviceTask id="charge" name="Charge card" camunda:type="external" camunda:topic="card"/>
<bpmn:boundaryEvent id="declined" attachedToRef="charge"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:boundaryEvent>
<bpmn:scriptTask id="apologize"><bpmn:script>apology = "sorry: " + reason</bpmn:script></bpmn:scriptTask>
<bpmn:endEvent id="paid"/><bpmn:endEvent id="not_paid"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="charge"/>
<bpmn:sequenceFlow id="f2" sourceRef="charge" targetRef="paid"/>
<bpmn:sequenceFlow id="f3" sourceRef="declined" targetRef="apologize"/>
<bpmn:sequenceFlow id="f4" sourceRef="apologize" targetRef="not_paid"/>
"""


def test_bpmn_error_caught_by_a_boundary_event_or_else_an_incident(eng, client):
    extra = '<bpmn:error id="Err" name="Declined" errorCode="DECLINED"/>\n'
    eng.deploy_bytes([("card.bpmn", process_xml("card", CARD, extra=extra))])
    inst = eng.start("card")
    [task] = fetch(client, topics=[("card", 60_000)])
    post(client, task["id"], "bpmnError", {"workerId": "w1", "errorCode": "DECLINED", "errorMessage": "card declined",
                                           "variables": {"reason": "limit"}})
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["apology"] == "sorry: limit"
    assert eng.jobs() == []

    other = eng.start("card")
    [task] = fetch(client, topics=[("card", 60_000)])
    post(client, task["id"], "bpmnError", {"workerId": "w1", "errorCode": "FRAUD"})
    assert eng.get_instance(other.id).status == "incident"
    [incident] = eng.incidents()
    assert "FRAUD" in incident.message and "not caught" in incident.message


# ---- leases ------------------------------------------------------------------------------------------------------


def test_extend_lock_keeps_the_job_past_its_first_lease(eng, client, clock):
    deploy(eng, "p", service_task("t"))
    inst = eng.start("p")
    [task] = fetch(client, topics=[("t", 5000)])
    clock.advance(4)
    post(client, task["id"], "extendLock", {"workerId": "w1", "newDuration": 60_000})
    shown = client.get(f"{API}/{task['id']}").get_json()
    assert at(shown["lockExpirationTime"]) == clock() + dt.timedelta(seconds=60)
    clock.advance(30)
    assert fetch(client, worker="w2", topics=[("t", 5000)]) == [], "still locked by w1"
    post(client, task["id"], "complete", {"workerId": "w1"})
    assert eng.get_instance(inst.id).status == "completed"


def test_unlock_gives_the_job_back_without_spending_an_attempt(eng, client):
    deploy(eng, "p", service_task("t"))
    eng.start("p")
    [task] = fetch(client)
    post(client, task["id"], "unlock", {"workerId": "w1"})
    err = post(client, task["id"], "unlock", {}, status=409)["error"]
    assert err["code"] == "invalid_state" and "not locked" in err["message"]
    [again] = fetch(client, worker="w2")
    assert (again["id"], again["attempt"], again["retries"]) == (task["id"], 1, 3)
    resp = client.post(f"{API}/{task['id']}/unlock")  # no body: whoever holds it
    assert resp.status_code == 204
    [third] = fetch(client, worker="w3")
    assert third["workerId"] == "w3" and third["attempt"] == 1


# ---- the read-only view ------------------------------------------------------------------------------------------


def test_list_and_show_open_jobs(eng, client):
    deploy(eng, "a", service_task("alpha"))
    deploy(eng, "b", service_task("beta"))
    a = eng.start("a", {"n": 1})
    eng.start("b")
    [locked] = fetch(client, topics=[("alpha", 60_000)])
    everything = client.get(API).get_json()
    assert {(j["topicName"], j["status"]) for j in everything} == {("alpha", "locked"), ("beta", "ready")}
    assert all("variables" not in j for j in everything)
    assert [j["id"] for j in client.get(f"{API}?topicName=alpha").get_json()] == [locked["id"]]
    assert [j["topicName"] for j in client.get(f"{API}?locked=true").get_json()] == ["alpha"]
    assert [j["topicName"] for j in client.get(f"{API}?locked=false").get_json()] == ["beta"]
    assert [j["topicName"] for j in client.get(f"{API}?processInstanceId={a.id}").get_json()] == ["alpha"]
    shown = client.get(f"{API}/{locked['id']}").get_json()
    assert shown["workerId"] == "w1" and shown["variables"] == {"n": 1} and shown["status"] == "locked"
    assert client.get(f"{API}?topicName=alpha").get_json()[0]["retries"] == 3


# ---- bad requests ------------------------------------------------------------------------------------------------

FETCH = {"workerId": "w", "topics": [{"topicName": "t", "lockDuration": 1000}]}
JOB = "JOB"  # replaced by a real, locked job id


def _fetch_with(**changes):
    return {**FETCH, **changes}


def _topic(**changes):
    return _fetch_with(topics=[{"topicName": "t", "lockDuration": 1000, **changes}])


BAD = [
    # (method, path, body: dict / list / bytes / None, status, code, words in the message)
    ("POST", "/fetch-and-lock", b"{not json", 400, "invalid_request", "not valid JSON"),
    ("POST", "/fetch-and-lock", b"[1, 2]", 400, "invalid_request", "JSON object"),
    ("POST", "/fetch-and-lock", b'"text"', 400, "invalid_request", "JSON object"),
    ("POST", "/fetch-and-lock", b'{"workerId": NaN}', 400, "invalid_request", "not valid JSON"),
    ("POST", "/fetch-and-lock", b"[" * 100_000 + b"]" * 100_000, 400, "invalid_request", "not valid JSON"),
    ("POST", "/fetch-and-lock", None, 400, "invalid_request", "'workerId' is required"),
    ("POST", "/fetch-and-lock", {"topics": FETCH["topics"]}, 400, "invalid_request", "'workerId' is required"),
    ("POST", "/fetch-and-lock", _fetch_with(workerId=7), 400, "invalid_request", "'workerId' must be a string"),
    ("POST", "/fetch-and-lock", _fetch_with(workerId="  "), 400, "invalid_request", "'workerId' must not be empty"),
    ("POST", "/fetch-and-lock", _fetch_with(workerId="w" * 256), 400, "invalid_request", "'workerId' must be at most"),
    ("POST", "/fetch-and-lock", _fetch_with(workerId="w\x00"), 400, "invalid_request", "'workerId' contains a NUL"),
    ("POST", "/fetch-and-lock", _fetch_with(maxTasks=0), 400, "invalid_request", "'maxTasks' must be between 1 and 100"),
    ("POST", "/fetch-and-lock", _fetch_with(maxTasks=101), 400, "invalid_request", "'maxTasks'"),
    ("POST", "/fetch-and-lock", _fetch_with(maxTasks="1"), 400, "invalid_request", "'maxTasks' must be an integer"),
    ("POST", "/fetch-and-lock", _fetch_with(maxTasks=True), 400, "invalid_request", "'maxTasks' must be an integer"),
    ("POST", "/fetch-and-lock", _fetch_with(maxTasks=1.5), 400, "invalid_request", "'maxTasks' must be an integer"),
    ("POST", "/fetch-and-lock", _fetch_with(asyncResponseTimeout=30_001), 400, "invalid_request",
     "'asyncResponseTimeout' must be between 0 and 30000"),
    ("POST", "/fetch-and-lock", _fetch_with(asyncResponseTimeout=-1), 400, "invalid_request", "'asyncResponseTimeout'"),
    ("POST", "/fetch-and-lock", {"workerId": "w"}, 400, "invalid_request", "'topics' is required"),
    ("POST", "/fetch-and-lock", _fetch_with(topics=[]), 400, "invalid_request", "'topics' must not be empty"),
    ("POST", "/fetch-and-lock", _fetch_with(topics={"t": 1}), 400, "invalid_request", "'topics' must be an array"),
    ("POST", "/fetch-and-lock", _fetch_with(topics=["t"]), 400, "invalid_request", "'topics[0]' must be an object"),
    ("POST", "/fetch-and-lock", _fetch_with(topics=[{"lockDuration": 1}]), 400, "invalid_request",
     "'topics[0].topicName' is required"),
    ("POST", "/fetch-and-lock", _fetch_with(topics=[{"topicName": "t"}]), 400, "invalid_request",
     "'topics[0].lockDuration' is required"),
    ("POST", "/fetch-and-lock", _topic(lockDuration=0), 400, "invalid_request", "'topics[0].lockDuration' must be"),
    ("POST", "/fetch-and-lock", _topic(lockDuration=-5), 400, "invalid_request", "'topics[0].lockDuration'"),
    ("POST", "/fetch-and-lock", _topic(lockDuration=86_400_001), 400, "invalid_request", "'topics[0].lockDuration'"),
    ("POST", "/fetch-and-lock", _topic(lockDuration="1000"), 400, "invalid_request", "must be an integer"),
    ("POST", "/fetch-and-lock", _topic(lockDuration=10**30), 400, "invalid_request", "'topics[0].lockDuration'"),
    ("POST", "/fetch-and-lock", _topic(topicName=["t"]), 400, "invalid_request", "'topics[0].topicName' must be"),
    ("POST", "/fetch-and-lock", _topic(variables="x"), 400, "invalid_request", "'topics[0].variables' must be"),
    ("POST", "/fetch-and-lock", _topic(variables=[1]), 400, "invalid_request", "'topics[0].variables'"),
    ("POST", f"/{JOB}/complete", {}, 400, "invalid_request", "'workerId' is required"),
    ("POST", f"/{JOB}/complete", {"workerId": "w1", "variables": [1]}, 400, "invalid_request",
     "'variables' must be an object"),
    ("POST", f"/{JOB}/complete", {"workerId": "w1", "variables": {"a b": 1}}, 400, "invalid_request",
     "'variables.a b' is not a valid variable name"),
    ("POST", f"/{JOB}/complete", {"workerId": "w1", "variables": {"x": "a\x00b"}}, 400, "invalid_request",
     "'variables.x' contains a NUL"),
    ("POST", f"/{JOB}/complete", b"\xff\xfe", 400, "invalid_request", "not valid JSON"),
    ("POST", "/no-such-job/complete", {"workerId": "w1"}, 404, "job_not_found", "no-such-job"),
    ("POST", f"/{'x' * 500}/complete", {"workerId": "w1"}, 404, "job_not_found", "no open job"),
    ("POST", "/a%00b/complete", {"workerId": "w1"}, 404, "job_not_found", "no open job"),
    ("POST", f"/{JOB}/complete", {"workerId": "w2"}, 409, "lock_lost", "not locked by worker 'w2'"),
    ("POST", f"/{JOB}/failure", {"workerId": "w1", "retries": -1}, 400, "invalid_request", "'retries'"),
    ("POST", f"/{JOB}/failure", {"workerId": "w1", "retries": "2"}, 400, "invalid_request", "'retries' must be"),
    ("POST", f"/{JOB}/failure", {"workerId": "w1", "retries": 10**12}, 400, "invalid_request", "'retries'"),
    ("POST", f"/{JOB}/failure", {"workerId": "w1", "retryTimeout": "soon"}, 400, "invalid_request",
     "'retryTimeout' must be an integer"),
    ("POST", f"/{JOB}/failure", {"workerId": "w1", "errorMessage": 5}, 400, "invalid_request",
     "'errorMessage' must be a string"),
    ("POST", f"/{JOB}/failure", {"workerId": "w1", "errorDetails": {"a": 1}}, 400, "invalid_request",
     "'errorDetails' must be a string"),
    ("POST", "/nope/failure", {"workerId": "w1"}, 404, "job_not_found", "nope"),
    ("POST", f"/{JOB}/bpmnError", {"workerId": "w1"}, 400, "invalid_request", "'errorCode' is required"),
    ("POST", f"/{JOB}/bpmnError", {"workerId": "w1", "errorCode": 3}, 400, "invalid_request", "'errorCode' must be"),
    ("POST", f"/{JOB}/bpmnError", {"workerId": "w1", "errorCode": "E", "variables": "x"}, 400, "invalid_request",
     "'variables' must be an object"),
    ("POST", f"/{JOB}/extendLock", {"workerId": "w1"}, 400, "invalid_request", "'newDuration' is required"),
    ("POST", f"/{JOB}/extendLock", {"workerId": "w1", "newDuration": 0}, 400, "invalid_request", "'newDuration'"),
    ("POST", f"/{JOB}/extendLock", {"newDuration": 10}, 400, "invalid_request", "'workerId' is required"),
    ("POST", "/nope/extendLock", {"workerId": "w1", "newDuration": 10}, 404, "job_not_found", "nope"),
    ("POST", f"/{JOB}/unlock", {"workerId": 1}, 400, "invalid_request", "'workerId' must be a string"),
    ("POST", "/nope/unlock", None, 404, "job_not_found", "nope"),
    ("GET", "?locked=maybe", None, 400, "invalid_request", "'locked' must be true or false"),
    ("GET", "?maxResults=lots", None, 400, "invalid_request", "'maxResults'"),
    ("GET", "?topicName=a%00b", None, 400, "invalid_request", "'topicName'"),
    ("GET", "/nope", None, 404, "job_not_found", "nope"),
    ("PUT", f"/{JOB}/complete", {"workerId": "w1"}, 405, "method_not_allowed", ""),
    ("POST", f"/{JOB}/explode", {"workerId": "w1"}, 404, "not_found", ""),
]


@pytest.mark.parametrize("method, path, body, status, code, words", BAD,
                         ids=[f"{m} {p[:30]} {s} {w[:40]}" for m, p, _b, s, _c, w in BAD])
def test_bad_requests_are_json_errors_never_500(eng, client, method, path, body, status, code, words):
    deploy(eng, "p", service_task("t"))
    inst = eng.start("p")
    [task] = fetch(client)
    url = API + path.replace(JOB, task["id"])
    if body is None:
        resp = client.open(url, method=method)
    elif isinstance(body, bytes):
        resp = client.open(url, method=method, data=body, content_type="application/json")
    else:
        resp = client.open(url, method=method, json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    error = resp.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert words in error["message"]
    if code == "invalid_request" and "'" in words:
        assert error["details"]["field"] in words
    [job] = eng.jobs()
    assert (job.status, job.lock_owner, job.attempt) == ("locked", "w1", 1), "a bad request changes nothing"
    assert eng.get_instance(inst.id).status == "running"


# ---- the real server: long polling and the example worker --------------------------------------------------------


class Served(str):
    """The server's address, with the worker's API token (``.token``)."""

    def __new__(cls, url, token):
        served = super().__new__(cls, url)
        served.token = token
        return served


@pytest.fixture
def token(engine):
    """The API token of the operator ``worker``, as workers sign in."""
    return bearer(engine, "operator", name="worker")["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def server(engine, token):
    """The app over the real (clock-less) engine, served by werkzeug on a free port in a thread."""
    app = create_app({"BATON_LONG_POLLS": 1, "SECRET_KEY": "tests"}, engine=engine)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, name="baton-test-server", daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{srv.server_port}", token)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def http_fetch(url, timeout_ms, topic="t", worker="w1"):
    body = {"workerId": worker, "maxTasks": 5, "asyncResponseTimeout": timeout_ms,
            "topics": [{"topicName": topic, "lockDuration": 60_000}]}
    request = urllib.request.Request(f"{url}{API}/fetch-and-lock", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {url.token}"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def later(delay, call):
    """Run ``call`` on another thread after ``delay`` s; returns the thread and when the call began."""
    began = []

    def run():
        time.sleep(delay)
        began.append(time.monotonic())
        call()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, began


def test_long_poll_returns_as_soon_as_a_job_appears(engine, server):
    deploy(engine, "p", service_task("t"))
    started = time.monotonic()
    thread, began = later(0.5, lambda: engine.start("p", {"n": 1}))
    got = http_fetch(server, 10_000)
    answered = time.monotonic()
    thread.join()
    assert len(got) == 1 and got[0]["variables"] == {"n": 1}
    assert answered - began[0] < 0.4, f"answered {answered - began[0]:.2f} s after the job appeared (woken by the signal, not the 1 s re-check)"
    assert answered - started < 3, "not held until the timeout"


def test_long_poll_sees_jobs_committed_by_another_process(engine, server, settings):
    deploy(engine, "p", service_task("t"))
    other = Engine(settings)  # its own signal: only the database tells this server about its jobs
    try:
        thread, began = later(0.5, lambda: other.start("p"))
        got = http_fetch(server, 10_000)
        answered = time.monotonic()
        thread.join()
    finally:
        other.close()
    assert len(got) == 1
    assert answered - began[0] < 2.0, "found by the periodic re-check within about a second"


def test_long_poll_with_nothing_to_do_answers_empty_after_its_timeout(engine, server):
    started = time.monotonic()
    assert http_fetch(server, 1500, topic="nothing") == []
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 3.0, elapsed


def test_long_polls_beyond_the_cap_are_answered_at_once(engine, server):
    deploy(engine, "p", service_task("t"))
    results = []
    first = threading.Thread(target=lambda: results.append(http_fetch(server, 5000)))
    first.start()
    time.sleep(0.3)  # the first long poll holds the only slot (BATON_LONG_POLLS=1)
    started = time.monotonic()
    assert http_fetch(server, 5000, worker="w2") == []
    assert time.monotonic() - started < 1.0
    engine.start("p")
    first.join(timeout=10)
    assert len(results) == 1 and len(results[0]) == 1


def test_a_long_poll_whose_client_hung_up_claims_nothing_under_waitress(engine, token):
    """With ``channel_request_lookahead`` waitress notices the closed connection: no job is locked for it."""
    import socket

    import waitress

    deploy(engine, "p", service_task("t"))
    srv = waitress.create_server(create_app({"SECRET_KEY": "tests"}, engine=engine), host="127.0.0.1", port=0,
                                 threads=4,
                                 channel_request_lookahead=5)
    thread = threading.Thread(target=srv.run, name="baton-test-waitress", daemon=True)
    thread.start()
    try:
        body = json.dumps({"workerId": "gone", "asyncResponseTimeout": 10_000,
                           "topics": [{"topicName": "t", "lockDuration": 60_000}]}).encode()
        with socket.create_connection(("127.0.0.1", srv.effective_port)) as sock:
            sock.sendall(b"POST /api/v1/external-tasks/fetch-and-lock HTTP/1.1\r\nHost: test\r\n"
                         b"Authorization: Bearer " + token.encode() + b"\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            time.sleep(0.5)
        time.sleep(0.3)
        engine.start("p")
        time.sleep(1.5)
        assert [(j.status, j.lock_owner) for j in engine.jobs()] == [("ready", None)]
    finally:
        srv.close()
        thread.join(timeout=10)


def test_the_example_worker_completes_jobs_and_reports_failures(engine, server):
    engine.deploy([EXAMPLES / "external_charge.bpmn"])
    good = [engine.start("external_charge", {"order_id": f"A-{i}", "amount": 12.5 + i}) for i in range(2)]
    bad = engine.start("external_charge", {"order_id": "A-9", "amount": "twelve"})
    proc = subprocess.run([sys.executable, str(WORKER_SCRIPT), "--url", server, "--topic", "charge-card",
                           "--worker-id", "example", "--max-jobs", "3", "--token", server.token],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for inst, amount in zip(good, (12.5, 13.5), strict=True):
        done = engine.get_instance(inst.id)
        assert done.status == "completed", proc.stdout
        assert done.variables["amount_cents"] == round(amount * 100)
        assert done.variables["confirmation"] == f"order {done.variables['order_id']} charged, receipt " \
                                                 f"{done.variables['receipt']}"
    [job] = engine.jobs()
    assert job.instance_id == bad.id and job.status == "ready" and "positive number" in job.last_error
    assert job.max_attempts == 3, "one attempt spent, two retries left as the worker reported"
    assert engine.get_instance(bad.id).status == "running"
    assert "complete" in proc.stdout and "failed" in proc.stdout


def test_the_example_worker_runs_with_the_long_poll_until_stopped(engine, server):
    """Started before any job exists, it waits in a long poll and picks the job up when it appears."""
    engine.deploy([EXAMPLES / "external_charge.bpmn"])
    proc = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), "--url", server, "--max-jobs", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "BATON_TOKEN": server.token})
    try:
        time.sleep(1.0)
        inst = engine.start("external_charge", {"order_id": "B-1", "amount": 1})
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert engine.get_instance(inst.id).status == "completed", out


def readme_worker() -> str:
    """The Python worker shown in the README's section on external workers."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## External workers over REST"):text.index("## Configuration")]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_worker_runs_as_shown(engine, server):
    code = readme_worker()
    assert len([line for line in code.splitlines() if line.strip()]) <= 20, "a short worker"
    engine.deploy([EXAMPLES / "external_charge.bpmn"])
    good = engine.start("external_charge", {"order_id": "C-1", "amount": 2})
    bad = engine.start("external_charge", {"order_id": "C-2"})
    code = code.replace("http://127.0.0.1:8080", server).replace('"asyncResponseTimeout": 30000',
                                                                 '"asyncResponseTimeout": 500')
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "BATON_TOKEN": server.token})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (engine.get_instance(good.id).status != "completed"
                                               or not engine.jobs()[0].last_error):
            time.sleep(0.1)
    finally:
        proc.kill()
        out, err = proc.communicate()
        time.sleep(0.7)  # its last long poll ends on the server
    assert engine.get_instance(good.id).variables["receipt"] == "R-200", err
    [job] = engine.jobs()
    assert job.instance_id == bad.id and "amount" in job.last_error and job.max_attempts == 3


def test_http_errors_from_the_server_are_json(server):
    request = urllib.request.Request(f"{server}{API}/fetch-and-lock", data=b"{", method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {server.token}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    with info.value as resp:
        assert resp.code == 400
        assert json.loads(resp.read())["error"]["code"] == "invalid_request"
