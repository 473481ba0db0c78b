"""REST API for instances: start, find (filters, paging, total), variables, cancel, suspend, resume, history."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import chain, process_xml, user_task


@pytest.fixture
def review(engine):
    engine.deploy_bytes([("review.bpmn", process_xml("review", chain(user_task("Review"))))])
    engine.deploy_bytes([("review.bpmn", process_xml("review", chain(user_task("Review again"))))])
    return engine


def start(client, **body):
    response = client.post("/api/v1/instances", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def ids(response):
    assert response.status_code == 200, response.get_json()
    return {i["id"] for i in response.get_json()["items"]}


def test_start_with_business_key_variables_and_version(client, review):
    latest = start(client, key="review", businessKey="PO-1", variables={"amount": 5})
    assert latest["process_version"] == 2 and latest["business_key"] == "PO-1"
    assert latest["status"] == "waiting" and latest["variables"] == {"amount": 5}
    assert [t["name"] for t in latest["tasks"]] == ["Review again"] and latest["suspended"] is False
    older = start(client, key="review", version=1)
    assert older["process_version"] == 1 and older["tasks"][0]["name"] == "Review"
    fetched = client.get(f"/api/v1/instances/{latest['id']}").get_json()
    assert fetched["id"] == latest["id"] and fetched["tasks"][0]["id"] == latest["tasks"][0]["id"]


def test_start_mistakes_are_4xx_naming_the_field(client, review):
    def error(body, status):
        response = client.post("/api/v1/instances", json=body)
        assert response.status_code == status, response.get_json()
        return response.get_json()["error"]

    assert error({}, 400)["details"]["field"] == "key"
    assert error({"key": "review", "version": 0}, 400)["details"]["field"] == "version"
    assert error({"key": "review", "variables": {"2x": 1}}, 400)["details"]["field"] == "variables.2x"
    assert error({"key": "review", "businessKey": 7}, 400)["details"]["field"] == "businessKey"
    assert error({"key": "nope"}, 404)["code"] == "definition_not_found"
    assert error({"key": "review", "version": 9}, 404)["code"] == "definition_not_found"
    assert client.get("/api/v1/instances/not-an-id").status_code == 404


def test_filters_status_key_version_business_key_and_dates(client, review):
    a = start(client, key="review", businessKey="A")
    b = start(client, key="review", version=1, businessKey="B")
    client.post(f"/api/v1/instances/{b['id']}/cancel")
    assert ids(client.get("/api/v1/instances?status=waiting")) == {a["id"]}
    assert ids(client.get("/api/v1/instances?status=cancelled&key=review")) == {b["id"]}
    assert ids(client.get("/api/v1/instances?key=review&version=1")) == {b["id"]}
    assert ids(client.get("/api/v1/instances?businessKey=A")) == {a["id"]}
    today = dt.datetime.now(dt.UTC).date()
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    assert ids(client.get(f"/api/v1/instances?startedAfter={yesterday}")) == {a["id"], b["id"]}
    assert ids(client.get(f"/api/v1/instances?startedAfter={tomorrow}")) == set()
    assert ids(client.get(f"/api/v1/instances?startedBefore={yesterday}T23:59:59Z")) == set()
    assert ids(client.get(f"/api/v1/instances?startedBefore={today}")) == {a["id"], b["id"]}, "the whole day"
    assert ids(client.get(f"/api/v1/instances?startedBefore={yesterday}")) == set()
    assert ids(client.get(f"/api/v1/instances?startedAfter={yesterday}&startedBefore={tomorrow}")) == {a["id"], b["id"]}


def test_variable_equality_reads_json_else_text(client, review):
    a = start(client, key="review", variables={"amount": 500, "region": "north", "vip": True,
                                                "customer": {"id": 7, "tags": ["x"]}})
    b = start(client, key="review", variables={"amount": 50, "region": "500", "vip": False})
    assert ids(client.get("/api/v1/instances?variable=amount=500")) == {a["id"]}
    assert ids(client.get('/api/v1/instances?variable=region="500"')) == {b["id"]}, "a JSON string"
    assert ids(client.get("/api/v1/instances?variable=region=north")) == {a["id"]}, "not JSON: the text"
    assert ids(client.get("/api/v1/instances?variable=vip=true")) == {a["id"]}
    assert ids(client.get("/api/v1/instances?variable=vip=false&variable=amount=50")) == {b["id"]}
    assert ids(client.get("/api/v1/instances?variable=vip=true&variable=amount=50")) == set()
    assert ids(client.get('/api/v1/instances?variable=customer={"id": 7, "tags": ["x"]}')) == {a["id"]}
    assert ids(client.get('/api/v1/instances?variable=customer={"id": 7}')) == set(), "equality, not containment"
    assert ids(client.get("/api/v1/instances?variable=missing=1")) == set()


def test_paging_carries_the_total(client, review):
    started = [start(client, key="review", variables={"n": n})["id"] for n in range(5)]
    first = client.get("/api/v1/instances?limit=2").get_json()
    assert first["total"] == 5 and len(first["items"]) == 2 and first["limit"] == 2
    assert [t["name"] for t in first["items"][0]["tasks"]] == ["Review again"], "each item with its open tasks"
    rest = client.get("/api/v1/instances?limit=2&offset=2").get_json()["items"] + \
        client.get("/api/v1/instances?limit=2&offset=4").get_json()["items"]
    assert {i["id"] for i in first["items"] + rest} == set(started), "pages do not overlap or skip"


@pytest.mark.parametrize("query, field", [
    ("status=bogus", "status"), ("limit=0", "limit"), ("limit=5000", "limit"), ("offset=-1", "offset"),
    ("version=x", "version"), ("startedAfter=yesterday", "startedAfter"), ("variable=amount", "variable"),
    ("variable=2x=1", "variable"), ("suspended=maybe", "suspended"), ("key=a%00b", "key"),
    ("startedBefore=9999-12-31T23:59:59-14:00", "startedBefore"), ("startedAfter=0001-01-01T00:00:00%2B14:00", "startedAfter"),
])
def test_bad_filters_are_400s_naming_the_parameter(client, query, field):
    response = client.get(f"/api/v1/instances?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["field"] == field


def test_variables_read_set_merge_and_history(client, review):
    inst = start(client, key="review", variables={"amount": 5, "customer": {"name": "Ada", "city": "Oslo"}})
    url = f"/api/v1/instances/{inst['id']}/variables"
    assert client.get(url).get_json() == {"instance_id": inst["id"], "variables": inst["variables"]}
    put = client.put(url, json={"variables": {"amount": 8}})
    assert put.status_code == 200 and put.get_json()["variables"]["amount"] == 8
    patch = client.patch(url, json={"variables": {"customer": {"city": "Bergen"}, "amount": None}})
    assert patch.get_json()["variables"] == {"customer": {"name": "Ada", "city": "Bergen"}}
    history = client.get(f"/api/v1/instances/{inst['id']}/history").get_json()
    changes = [h["details"] for h in history if h["event"] == "variables_changed"]
    assert changes[0] == {"mode": "set", "changes": {"amount": {"old": 5, "new": 8}}}
    assert changes[1]["mode"] == "merge" and changes[1]["changes"]["amount"] == {"old": 8, "new": None}
    assert client.put(url, json={}).status_code == 400
    assert client.put(url, json={"variables": {"bad name": 1}}).status_code == 400
    client.post(f"/api/v1/instances/{inst['id']}/cancel")
    refused = client.put(url, json={"variables": {"amount": 1}})
    assert refused.status_code == 409 and "finished" in refused.get_json()["error"]["message"]


def test_suspend_resume_and_cancel(client, review):
    inst = start(client, key="review")
    base = f"/api/v1/instances/{inst['id']}"
    suspended = client.post(f"{base}/suspend")
    assert suspended.status_code == 200 and suspended.get_json()["suspended"] is True
    assert client.post(f"{base}/suspend").status_code == 409
    assert ids(client.get("/api/v1/instances?suspended=true")) == {inst["id"]}
    resumed = client.post(f"{base}/resume")
    assert resumed.status_code == 200 and resumed.get_json()["suspended"] is False
    assert client.post(f"{base}/resume").status_code == 409
    cancelled = client.post(f"{base}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = client.post(f"{base}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"
    events = [h["event"] for h in client.get(f"{base}/history").get_json()]
    assert events.index("instance_suspended") < events.index("instance_resumed") < events.index("instance_cancelled")
    assert client.post("/api/v1/instances/nope/suspend").status_code == 404


INITIATOR_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
             id="d" targetNamespace="t">
  <process id="lead" isExecutable="true">
    <startEvent id="start" camunda:initiator="initiator"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="provide"/>
    <userTask id="provide" name="Provide details" camunda:assignee="${initiator}"/>
    <sequenceFlow id="f2" sourceRef="provide" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"""


def test_the_signed_in_user_who_starts_is_the_camunda_initiator(engine, client_as):
    engine.deploy_bytes([("lead.bpmn", INITIATOR_XML)])
    started = start(client_as("user", name="bono"), key="lead")
    assert started["variables"] == {"initiator": "bono"}
    assert started["tasks"][0]["assignee"] == "bono"
    assert engine.start("lead").variables == {}  # nobody signed in: the variable is not set
