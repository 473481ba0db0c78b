"""The tasklist, task form and dashboard pages through the Flask test client (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import EXAMPLES
from helpers import chain, process_xml, script
from test_forms import SCHEMA, form_task, schema_task, spiff_xml


@pytest.fixture
def waiting(engine):
    engine.deploy([EXAMPLES / "approval.bpmn"])
    engine.deploy_bytes([("orders.bpmn", process_xml("orders", chain(form_task())))])
    approval = engine.start("approval", {"amount": 500}, business_key="PO-500")
    order = engine.start("orders", {"region": "EU"}, business_key="ORD-1")
    return {"approval": approval, "order": order,
            "approval_task": engine.get_instance(approval.id).tasks[0],
            "order_task": engine.get_instance(order.id).tasks[0]}


def page(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:2000]
    return resp.get_data(as_text=True)


def field_html(html: str, field_id: str) -> str:
    """The markup of one form field's block."""
    match = re.search(rf'<div class="field[^"]*" data-field="{field_id}">(.*?)</div>', html, re.S)
    assert match, f"no field {field_id}"
    return match.group(0)


def test_the_tasklist_shows_each_task_with_process_instance_business_key_and_created(client, waiting):
    html = page(client, "/tasks")
    task = waiting["approval_task"]
    assert f'href="/tasks/{task.id}"' in html and "Review purchase request" in html
    assert waiting["approval"].id[:8] in html and "PO-<wbr>500" in html and "ORD-<wbr>1" in html
    assert task.created_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert 'data-refresh=' in html and "refresh.js" in html


def test_the_tasklist_filters_and_refreshes_as_a_fragment(client, waiting):
    html = page(client, "/tasks?key=orders")
    assert "ORD-<wbr>1" in html and "PO-<wbr>500" not in html
    assert "No tasks match these filters" in page(client, "/tasks?name=nothing-like-this")
    fragment = page(client, "/tasks?fragment=1")
    assert fragment.lstrip().startswith("{#") is False and "<html" not in fragment and "PO-<wbr>500" in fragment


def test_the_tasklist_survives_bad_query_values(client, waiting):
    assert "PO-<wbr>500" in page(client, "/tasks?page=abc")
    assert "No tasks match these filters" in page(client, "/tasks?key=" + "x" * 400 + "%00")
    assert "past the end" in page(client, "/tasks?page=99")


def test_the_form_has_an_input_per_field_by_type_with_defaults_required_marks_and_readonly(client, waiting):
    html = page(client, f"/tasks/{waiting['order_task'].id}")
    assert 'type="text" id="f-name" name="name"' in field_html(html, "name")
    assert 'required' in field_html(html, "name") and 'class="req"' in field_html(html, "name")
    assert 'minlength="2"' in field_html(html, "name") and 'maxlength="10"' in field_html(html, "name")
    quantity = field_html(html, "quantity")
    assert 'type="number"' in quantity and 'value="1"' in quantity and 'min="1"' in quantity
    assert 'type="checkbox"' in field_html(html, "urgent")
    assert 'type="date"' in field_html(html, "due") and 'value=""' in field_html(html, "due")
    size = field_html(html, "size")
    assert "<select" in size and '<option value="m" selected>Medium</option>' in size
    region = field_html(html, "region")
    assert "readonly" in region and 'value="EU"' in region
    assert 'pattern="[A-Z]{2}-[0-9]+"' in field_html(html, "code")


def test_a_bad_submission_shows_errors_next_to_the_fields_and_keeps_the_values(client, waiting, engine):
    task = waiting["order_task"]
    resp = client.post(f"/tasks/{task.id}", data={"name": "A", "quantity": "500", "size": "l", "code": "x1"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "The form is not complete yet" in html
    name = field_html(html, "name")
    assert "Name must be at least 2 characters long" in name and 'value="A"' in name and "aria-invalid" in name
    assert "Quantity must be at most 99" in field_html(html, "quantity")
    assert 'value="500"' in field_html(html, "quantity")
    assert '<option value="l" selected>' in field_html(html, "size")
    assert "must match the pattern" in unescape(field_html(html, "code"))
    assert "field-error" not in field_html(html, "due")
    assert engine.get_instance(task.instance_id).status == "waiting"


def test_a_good_submission_completes_the_task_and_confirms_on_the_list(client, waiting, engine):
    task = waiting["approval_task"]
    resp = client.post(f"/tasks/{task.id}", data={"approved": "true", "comment": "fine"})
    assert resp.status_code == 303
    target = urlparse(resp.headers["Location"])
    assert target.path == "/tasks" and parse_qs(target.query)["completed"] == ["Review purchase request"]
    html = page(client, resp.headers["Location"])
    assert "Task “Review purchase request” completed" in html and "completed</span>" in html
    assert engine.get_instance(task.instance_id).variables["status"] == "approved"
    assert f'href="/tasks/{task.id}"' not in html


def test_an_unchecked_checkbox_is_false(client, waiting, engine):
    task = waiting["approval_task"]
    assert client.post(f"/tasks/{task.id}", data={"comment": ""}).status_code == 303
    assert engine.get_instance(task.instance_id).variables["status"] == "rejected"


def test_a_completed_or_unknown_task_page_says_so(client, waiting, engine):
    task = waiting["approval_task"]
    engine.complete_task(task.id, {"approved": True})
    assert "already completed" in page(client, f"/tasks/{task.id}", 409)
    assert "no ready task" in page(client, "/tasks/nope", 404)
    assert client.post(f"/tasks/{task.id}", data={"approved": "true"}).status_code == 409


def test_a_json_schema_form_is_drawn_and_checked(client, engine):
    engine.deploy_bytes([("survey.bpmn", spiff_xml("survey", chain(schema_task(SCHEMA))))])
    inst = engine.start("survey", {})
    task = engine.get_instance(inst.id).tasks[0]
    html = page(client, f"/tasks/{task.id}")
    assert 'type="number"' in field_html(html, "rating") and 'max="5"' in field_html(html, "rating")
    assert "<select" in field_html(html, "color") and "Rating" in field_html(html, "rating")
    resp = client.post(f"/tasks/{task.id}", data={"rating": "nine", "email": "nobody"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Rating must be a whole number" in field_html(html, "rating")
    resp = client.post(f"/tasks/{task.id}", data={"rating": "7", "email": "nobody"})
    html = resp.get_data(as_text=True)
    assert "Rating must be at most 5" in field_html(html, "rating")
    assert "email must match the pattern ^[^@]+@[^@]+$" in unescape(field_html(html, "email"))
    assert client.post(f"/tasks/{task.id}", data={"rating": "4", "email": "a@b.c"}).status_code == 303
    assert engine.get_instance(inst.id).variables == {"rating": 4, "email": "a@b.c"}


def test_a_task_without_a_form_takes_json_variables(client, engine):
    engine.deploy_bytes([("plain.bpmn", process_xml("plain", chain('<bpmn:userTask id="{id}" name="Check"/>')))])
    inst = engine.start("plain", {})
    task = engine.get_instance(inst.id).tasks[0]
    resp = client.post(f"/tasks/{task.id}", data={"variables_json": "[1]"})
    assert resp.status_code == 400 and "Variables must be a JSON object" in resp.get_data(as_text=True)
    assert client.post(f"/tasks/{task.id}", data={"variables_json": '{"ok": true}'}).status_code == 303
    assert engine.get_instance(inst.id).variables == {"ok": True}


# ---- dashboard ---------------------------------------------------------------------------------------------

def test_the_dashboard_draws_its_charts_with_the_numbers(client, waiting, engine):
    engine.deploy_bytes([("boom.bpmn", process_xml("boom", chain(script("x = 1 / 0"))))])
    engine.start("boom", {})
    engine.complete_task(waiting["approval_task"].id, {"approved": True})
    html = page(client, "/")
    assert html.count("<svg class=\"chart") == 3  # status, per minute, slowest (no incidents: a sentence)
    assert '<g class="bar bar-waiting" transform="translate(0 28)" data-label="waiting" data-value="1">' in html
    assert 'data-label="failed" data-value="1"' in html and 'data-label="completed" data-value="1"' in html
    assert '<b data-figure="started">3</b>' in html and '<b data-figure="completed">1</b>' in html
    assert 'data-series="started" data-total="3"' in html
    assert "No open incidents" in html
    assert 'data-element="Task_Review"' in html and "Review purchase request" in html
    assert _same_minute_pages(client, "/", "/dashboard")


def _same_minute_pages(client, first: str, second: str) -> bool:
    """The two pages render the same figures; the per-minute chart's axis moves on at a minute boundary, so a
    pair of renders that straddles one is taken again."""
    for _ in range(3):
        minute = datetime.now(UTC).strftime("%H:%M")
        a, b = page(client, first), page(client, second)
        if datetime.now(UTC).strftime("%H:%M") == minute:
            return a == b
    raise AssertionError("the clock kept crossing minute boundaries")


def test_the_dashboard_of_an_empty_engine(client):
    html = page(client, "/dashboard?fragment=1")
    assert "<html" not in html and "No activity has completed yet" in html and "No open incidents" in html


def test_a_camunda_date_default_is_shown_as_an_iso_date(client, engine):
    fields = '<camunda:formField id="due" label="Due" type="date" defaultValue="24/12/2025"/>'
    engine.deploy_bytes([("dated.bpmn", process_xml("dated", chain(form_task(fields))))])
    task = engine.get_instance(engine.start("dated", {}).id).tasks[0]
    assert 'value="2025-12-24"' in field_html(page(client, f"/tasks/{task.id}"), "due")
    assert client.post(f"/tasks/{task.id}", data={}).status_code == 303
    assert engine.get_instance(task.instance_id).variables == {"due": "2025-12-24"}
