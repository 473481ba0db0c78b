"""The dead-letter queue over REST: incidents, retry one or many, jobs, circuit breakers."""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, service_task


def _incident(engine, topic="pay", variables=None):
    inst = engine.start("p", variables or {})
    [job] = engine.claim_jobs("w", [topic])
    engine.fail_job(job.id, "w", "HTTP 400: card missing", {"body": '{"error": "card"}'}, retryable=False)
    return inst


def test_list_inspect_and_retry_an_incident(engine, client):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("pay"))))])
    inst = _incident(engine)
    [listed] = client.get("/api/v1/incidents").get_json()
    assert listed["topic"] == "pay" and listed["instance_id"] == inst.id
    one = client.get(f"/api/v1/incidents/{listed['id']}").get_json()
    assert one["details"] == {"body": '{"error": "card"}'} and "not retryable" in one["message"]
    assert client.get("/api/v1/jobs?status=incident").get_json()[0]["id"] == one["job_id"]

    resp = client.post(f"/api/v1/incidents/{listed['id']}/retry", json={"variables": {"card": "4242"}})
    assert resp.status_code == 200 and resp.get_json()["status"] == "ready"
    assert resp.get_json()["variables"]["card"] == "4242"
    assert client.get("/api/v1/incidents").get_json() == []
    assert len(client.get("/api/v1/incidents?all=true").get_json()) == 1
    again = client.post(f"/api/v1/incidents/{listed['id']}/retry", json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"


def test_bulk_retry_by_topic(engine, client):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("pay"))))])
    for _ in range(3):
        _incident(engine)
    resp = client.post("/api/v1/incidents/retry", json={"topic": "pay"})
    assert resp.get_json()["retried"] == 3
    assert engine.count_by_status() == {"running": 3}


def test_circuits_are_visible(engine, client):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("pay"))))])
    engine.start("p")
    [job] = engine.claim_jobs("w", ["pay"])
    engine.fail_job(job.id, "w", "down", circuit=(1, 60.0))
    [circuit] = client.get("/api/v1/circuits").get_json()
    assert (circuit["topic"], circuit["state"], circuit["failures"]) == ("pay", "open", 1)


@pytest.mark.parametrize("method, url, body, status", [
    ("get", "/api/v1/incidents/nope", None, 404),
    ("post", "/api/v1/incidents/nope/retry", {}, 404),
    ("post", "/api/v1/incidents/retry", {}, 400),
    ("post", "/api/v1/incidents/retry", {"topic": 5}, 400),
    ("post", "/api/v1/incidents/x/retry", {"variables": {"1bad": 1}}, 400),
    ("post", "/api/v1/incidents/x/retry", {"variables": []}, 400),
    ("get", "/api/v1/jobs?status=weird", None, 400),
    ("get", "/api/v1/incidents?topic=%00", None, 400),
])
def test_bad_requests_are_clear_json_errors(client, method, url, body, status):
    resp = getattr(client, method)(url, json=body) if body is not None else getattr(client, method)(url)
    assert resp.status_code == status
    assert set(resp.get_json()["error"]) == {"code", "message", "details"}


def test_instance_page_shows_the_incident_with_its_details(engine, client):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("pay"))))])
    inst = _incident(engine)
    [incident] = engine.incidents()
    page = client.get(f"/instances/{inst.id}").get_data(as_text=True)
    assert "Incident at" in page and "HTTP 400: card missing" in page
    assert "body: {&#34;error&#34;: &#34;card&#34;}" in page
    assert f"baton retry {incident.id}" in page
