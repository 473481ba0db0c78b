"""The tasks REST API through the Flask test client: list with filters and paging, one task with its
form, complete with form validation (400 with one message per field).  SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES
from helpers import chain, process_xml
from test_forms import form_task


@pytest.fixture
def tasks(engine):
    """Three approval tasks (PO-1..3) and one order form task, waiting for people."""
    engine.deploy([EXAMPLES / "approval.bpmn"])
    engine.deploy_bytes([("orders.bpmn", process_xml("orders", chain(form_task())))])
    approvals = [engine.start("approval", {"amount": 500 + n}, business_key=f"PO-{n}") for n in (1, 2, 3)]
    order = engine.start("orders", {})
    return {"approvals": approvals, "order": order}


def test_the_list_has_every_ready_task_with_its_instance_and_business_key(client, tasks):
    body = client.get("/api/v1/tasks").get_json()
    assert body["total"] == 4 and body["limit"] == 50 and body["offset"] == 0
    assert [t["business_key"] for t in body["items"]] == ["PO-1", "PO-2", "PO-3", None]
    first = body["items"][0]
    assert first["process_key"] == "approval" and first["name"] == "Review purchase request"
    assert first["instance_id"] == tasks["approvals"][0].id and first["form"]["fields"][0]["id"] == "approved"


def test_filters_and_paging(client, tasks):
    only_orders = client.get("/api/v1/tasks?processKey=orders").get_json()
    assert only_orders["total"] == 1 and only_orders["items"][0]["name"] == "Order"
    by_instance = client.get(f"/api/v1/tasks?instanceId={tasks['approvals'][1].id}").get_json()
    assert [t["business_key"] for t in by_instance["items"]] == ["PO-2"]
    by_name = client.get("/api/v1/tasks?name=PURCHASE").get_json()
    assert by_name["total"] == 3
    assert client.get("/api/v1/tasks?name=50%25").get_json()["total"] == 0  # % is a character, not a wildcard
    page = client.get("/api/v1/tasks?limit=2&offset=2").get_json()
    assert page["total"] == 4 and [t["business_key"] for t in page["items"]] == ["PO-3", None]
    assert client.get("/api/v1/tasks?assignee=nobody").get_json()["total"] == 0


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=abc", "limit"), ("offset=-1", "offset"),
                                          ("limit=501", "limit"), ("name=" + "x" * 300, "name")])
def test_bad_list_parameters_are_a_400_naming_the_parameter(client, query, field):
    resp = client.get(f"/api/v1/tasks?{query}")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_request" and error["details"]["field"] == field and field in error["message"]


def test_one_task_with_its_form_and_unknown_ids(client, tasks):
    task_id = client.get("/api/v1/tasks?processKey=orders").get_json()["items"][0]["id"]
    task = client.get(f"/api/v1/tasks/{task_id}").get_json()
    assert [f["id"] for f in task["form"]["fields"]][:3] == ["name", "quantity", "urgent"]
    missing = client.get("/api/v1/tasks/no-such-task")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "task_not_found"
    assert client.get("/api/v1/tasks/" + "x" * 300).status_code == 404


def test_completing_with_bad_values_is_a_400_with_each_field(client, tasks):
    task_id = client.get("/api/v1/tasks?processKey=orders").get_json()["items"][0]["id"]
    resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"quantity": "many", "size": "xl"}})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_form"
    assert error["details"]["fields"] == {"name": "is required", "quantity": "must be a whole number",
                                          "size": "must be one of: s, m, l"}
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 200  # still ready


def test_completing_with_good_values_runs_the_instance_on(client, tasks):
    task_id = client.get("/api/v1/tasks?processKey=approval").get_json()["items"][0]["id"]
    resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"approved": True, "comment": "ok"}})
    assert resp.status_code == 200
    instance = resp.get_json()
    assert instance["status"] == "completed" and instance["variables"]["status"] == "approved"
    assert client.get("/api/v1/tasks").get_json()["total"] == 3
    again = client.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {"approved": True}})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "task_already_completed"


@pytest.mark.parametrize("body, field", [(b"[1]", None), (b'{"variables": 3}', "variables"),
                                         (b'{"variables": {"1x": 1}}', "variables.1x")])
def test_a_bad_body_is_a_400(client, tasks, body, field):
    task_id = client.get("/api/v1/tasks").get_json()["items"][0]["id"]
    resp = client.post(f"/api/v1/tasks/{task_id}/complete", data=body, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["details"].get("field") == field


def test_the_openapi_fragment_documents_every_route(app):
    from web import tasks

    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("tasks.")}
    documented = {path.replace("{task_id}", "<task_id>") for path in tasks.OPENAPI_PATHS}
    assert rules == documented
    complete = tasks.OPENAPI_PATHS["/api/v1/tasks/{task_id}/complete"]["post"]
    assert "fields" in complete["responses"]["400"]["description"]


def test_assignee_and_candidate_group_filters(client, tasks, engine):
    from sqlalchemy import update

    from engine.store.queries import human_tasks

    first, second = (engine.get_instance(i.id).tasks[0].id for i in tasks["approvals"][:2])
    with engine.db.begin() as conn:  # what assignment (camunda:assignee / candidateGroups, claim) will store
        conn.execute(update(human_tasks).where(human_tasks.c.id == first).values(
            assignee="alice", candidate_groups=["sales", "ops"]))
        conn.execute(update(human_tasks).where(human_tasks.c.id == second).values(candidate_groups=["sales_eu"]))
    mine = client.get("/api/v1/tasks?assignee=alice").get_json()
    assert [t["id"] for t in mine["items"]] == [first] and mine["items"][0]["assignee"] == "alice"
    assert [t["id"] for t in client.get("/api/v1/tasks?candidateGroup=sales").get_json()["items"]] == [first]
    assert [t["id"] for t in client.get("/api/v1/tasks?candidateGroup=sales_eu").get_json()["items"]] == [second]
    assert client.get("/api/v1/tasks?candidateGroup=sal").get_json()["total"] == 0
