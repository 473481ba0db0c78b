"""The instance list's filters and the instance page's actions through the test client, on both databases.

What a user sees and does: filter instances by status, process, version, business key, start date and a
variable's value, with paging; on one instance, the diagram's path (completed, open, failed elements), editing
variables with a confirmation step, suspend / resume / cancel, sending a message, retrying an incident, and the
small JSON the live refresh polls.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape

import pytest
from conftest import EXAMPLES
from helpers import chain, process_xml, script, service_task


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html.replace("<wbr>", ""))).split())


def listed(client, query: str) -> list[str]:
    html = client.get(f"/instances?{query}").get_data(as_text=True)
    return re.findall(r'<tr data-instance="([^"]+)"', html)


def path_of(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="diagram-state">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1))["path"]


WAIT_FOR_PAYMENT = process_xml("shop", """
    <bpmn:startEvent id="s"/>
    <bpmn:receiveTask id="wait" name="Wait for payment" messageRef="m"/>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e"/>""", extra='<bpmn:message id="m" name="paid"/>')


def test_filters_by_status_process_version_business_key_date_and_variable(engine, client):
    engine.deploy([EXAMPLES])
    a = engine.start("approval", {"amount": 500, "buyer": "ann", "rush": True}, business_key="PO-1")
    b = engine.start("approval", {"amount": 5, "buyer": "bob"}, business_key="PO-2")
    engine.deploy_bytes([("approval.bpmn", (EXAMPLES / "approval.bpmn").read_bytes().replace(
        b'name="Purchase approval"', b'name="Purchase approval 2"'))])
    c = engine.start("approval", {"amount": 500, "buyer": "250"})
    assert listed(client, "status=waiting") == [c.id, a.id]
    assert listed(client, "status=completed") == [b.id]
    assert listed(client, "key=approval&version=1") == [b.id, a.id]
    assert listed(client, "version=2") == [c.id]
    assert listed(client, "business_key=PO-2") == [b.id]
    assert listed(client, "variable=amount%3D500") == [c.id, a.id]  # a number
    assert listed(client, "variable=buyer%3Dbob") == [b.id]  # text
    assert listed(client, "variable=buyer%3D%22250%22") == [c.id]  # "250" as text, not the number
    assert listed(client, "variable=buyer%3D250") == []
    assert listed(client, "variable=rush%3Dtrue") == [a.id]
    assert listed(client, "variable=amount%3D500&status=waiting&version=1") == [a.id]
    today = dt.datetime.now(dt.UTC).date()
    assert len(listed(client, f"started_from={today}&started_to={today}")) == 3
    assert listed(client, f"started_to={today - dt.timedelta(days=1)}") == []
    assert listed(client, f"started_from={today + dt.timedelta(days=1)}") == []
    html = client.get("/instances?variable=amount%3D500").get_data(as_text=True)
    assert "Showing 1–2 of 2" in text(html) and 'name="variable" value="amount=500"' in html


@pytest.mark.parametrize("query, notice", [
    ("variable=nonsense", "“nonsense” is not name=value"),
    ("started_from=yesterday", "“yesterday” is not a date"),
    ("version=v2", "Version “v2” is not a number"),
])
def test_bad_filters_are_ignored_with_a_notice(engine, client, query, notice):
    engine.deploy([EXAMPLES])
    engine.start("approval", {"amount": 5})
    resp = client.get(f"/instances?{query}")
    assert resp.status_code == 200 and notice in text(resp.get_data(as_text=True))
    assert len(re.findall(r"<tr data-instance=", resp.get_data(as_text=True))) == 1


def test_filtered_paging_counts_only_the_matches(engine, client):
    engine.deploy([EXAMPLES])
    for n in range(53):
        engine.start("approval", {"amount": 5, "n": n % 2})
    assert len(listed(client, "variable=n%3D0")) == 27
    assert len(listed(client, "variable=n%3D1&page=1")) == 26
    html = client.get("/instances?status=completed&page=2").get_data(as_text=True)
    assert "Showing 51–53 of 53 · page 2 of 2" in text(html)
    assert 'href="/instances?status=completed&amp;page=1"' in html


def test_instance_page_draws_the_path_taken_and_the_open_element(engine, client):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 500})
    html = client.get(f"/instances/{inst.id}").get_data(as_text=True)
    path = path_of(html)
    assert path["active"] == ["Task_Review"] and path["failed"] == []
    assert {"StartEvent_Request", "Gateway_NeedsReview"} <= set(path["completed"])
    assert "Task_Review" in path["reached"] and "Task_AutoApprove" not in path["reached"]
    assert 'data-xml-url="/processes/approval/xml?version=1"' in html
    engine.deploy_bytes([("boom.bpmn", process_xml("boom", chain(script("x = 1 / 0", name="Divide"))))])
    failed = engine.start("boom")
    assert path_of(client.get(f"/instances/{failed.id}").get_data(as_text=True))["failed"] == ["S1"]


def test_editing_variables_asks_for_confirmation_then_saves_with_history(engine, client):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 500, "note": "x"})
    url = f"/instances/{inst.id}/variables"
    first = client.post(url, data={"var.amount": "750", "var.note": '"x"', "new_name": "rush", "new_value": "true"})
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "Save these variables?" in html
    assert engine.get_instance(inst.id).variables == {"amount": 500, "note": "x"}  # nothing saved yet
    assert re.findall(r'data-confirm="(\w+)"', html) == ["amount", "rush"]  # "note" did not change
    saved = client.post(url, data={"var.amount": "750", "var.rush": "true", "confirmed": "yes"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("?done=variables")
    assert engine.get_instance(inst.id).variables == {"amount": 750, "note": "x", "rush": True}
    [event] = [h for h in engine.history(inst.id) if h.event == "variables_changed"]
    assert event.details["changes"] == {"amount": {"old": 500, "new": 750}, "rush": {"old": None, "new": True}}
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Variables saved." in page and "Variables changed" in text(page)
    engine.complete_task(engine.get_instance(inst.id).tasks[0].id, {"approved": True})
    assert engine.get_instance(inst.id).variables["amount"] == 750  # the new value went down the path


def test_variable_edits_that_are_refused(engine, client):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 500})
    bad = client.post(f"/instances/{inst.id}/variables", data={"new_name": "1st", "new_value": "x"})
    assert bad.status_code == 400 and "&#39;1st&#39; is not a valid variable name" in bad.get_data(as_text=True)
    same = client.post(f"/instances/{inst.id}/variables", data={"var.amount": "500"})
    assert same.status_code == 400 and "Nothing to save" in same.get_data(as_text=True)
    done = engine.start("approval", {"amount": 5})
    late = client.post(f"/instances/{done.id}/variables", data={"var.amount": "7", "confirmed": "yes"})
    assert late.status_code == 409 and "cannot be changed" in late.get_data(as_text=True)
    assert engine.get_instance(done.id).variables["amount"] == 5
    assert client.post("/instances/nope/variables", data={"var.a": "1"}).status_code == 404


def test_suspend_resume_and_cancel(engine, client):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 500})
    stamp = client.get(f"/instances/{inst.id}/live").get_json()["stamp"]
    assert client.post(f"/instances/{inst.id}/suspend").status_code == 302
    assert engine.get_instance(inst.id).suspended
    live = client.get(f"/instances/{inst.id}/live").get_json()
    assert live["suspended"] is True and live["stamp"] != stamp  # the live refresh sees the change
    html = client.get(f"/instances/{inst.id}?done=suspend").get_data(as_text=True)
    assert "Instance suspended." in html and ">Resume</button>" in html and ">Suspend</button>" not in html
    again = client.post(f"/instances/{inst.id}/suspend")
    assert again.status_code == 409 and "already suspended" in again.get_data(as_text=True)
    assert client.post(f"/instances/{inst.id}/resume").status_code == 302
    assert not engine.get_instance(inst.id).suspended
    assert [h.event for h in engine.history(inst.id)][-2:] == ["instance_suspended", "instance_resumed"]
    assert client.post(f"/instances/{inst.id}/cancel").status_code == 302
    assert engine.get_instance(inst.id).status == "cancelled"
    html = client.get(f"/instances/{inst.id}").get_data(as_text=True)
    assert ">Cancel instance</button>" not in html and "Edit variables" not in html
    assert client.post(f"/instances/{inst.id}/cancel").status_code == 409


def test_send_a_message_to_the_instance(engine, client):
    engine.deploy_bytes([("shop.bpmn", WAIT_FOR_PAYMENT)])
    inst = engine.start("shop")  # no business key: the message goes to this instance by its id
    other = engine.start("shop")
    wrong = client.post(f"/instances/{inst.id}/message", data={"name": "refund"})
    assert wrong.status_code == 404 and "not waiting for message &#39;refund&#39;" in wrong.get_data(as_text=True)
    bad = client.post(f"/instances/{inst.id}/message", data={"name": "paid", "variables": "[1]"})
    assert bad.status_code == 400 and "must be a JSON object" in bad.get_data(as_text=True)
    sent = client.post(f"/instances/{inst.id}/message", data={"name": "paid", "variables": '{"paid": 12.5}'})
    assert sent.status_code == 302
    done = engine.get_instance(inst.id)
    assert done.status == "completed" and done.variables["paid"] == 12.5
    assert engine.get_instance(other.id).status == "waiting"


def test_retry_an_incident_from_the_instance_page(engine, client):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(service_task("pay"))))])
    inst = engine.start("p")
    [job] = engine.claim_jobs("w", ["pay"])
    engine.fail_job(job.id, "w", "HTTP 400: card missing", {"body": '{"error": "card"}'}, retryable=False)
    html = client.get(f"/instances/{inst.id}").get_data(as_text=True)
    assert "HTTP 400: card missing" in html and "body: {&#34;error&#34;: &#34;card&#34;}" in html
    [incident] = engine.incidents(instance_id=inst.id)
    bad = client.post(f"/instances/{inst.id}/incidents/{incident.id}/retry", data={"variables": "{oops"})
    assert bad.status_code == 400 and "not valid JSON" in bad.get_data(as_text=True)
    ok = client.post(f"/instances/{inst.id}/incidents/{incident.id}/retry", data={"variables": '{"card": "4242"}'})
    assert ok.status_code == 302 and engine.incidents(instance_id=inst.id) == []
    [job] = engine.claim_jobs("w", ["pay"])
    assert job.variables["card"] == "4242"
    assert client.post(f"/instances/{inst.id}/incidents/{incident.id}/retry").status_code == 409


@pytest.mark.parametrize("method, url, data", [
    ("get", "/instances?started_to=9999-12-31&started_from=0001-01-01", None),
    ("get", "/instances?started_from=2026-13-01", None),
    ("get", "/instances?variable=amount%3D1" + "0" * 40, None),
    ("get", "/instances?variable=amount%3DNaN", None),
    ("get", "/instances?variable=amount%3D%7B%22a%22%3A%5B1%5D%7D", None),
    ("get", "/instances?variable=%C3%A9t%C3%A9%3D1&version=99999999999", None),
    ("get", "/instances/%00/live", None),
    ("get", "/processes/%00", None),
    ("get", "/processes/x/xml?version=99999999999", None),
    ("get", "/incidents?retried=x&all=maybe", None),
    ("post", "/instances/{id}/variables", {"var.": "1"}),
    ("post", "/instances/{id}/variables", {"var.amount": "NaN", "confirmed": "yes"}),
    ("post", "/instances/{id}/variables", {"var.amount": "1" + "0" * 40, "confirmed": "yes"}),
    ("post", "/instances/{id}/variables", {"var.amount": "x" * 100_001}),
    ("post", "/instances/{id}/message", {"name": "\x00"}),
    ("post", "/instances/{id}/incidents/%00/retry", {}),
    ("post", "/instances/{id}/retry", {"variables": "{}"}),
    ("post", "/incidents/retry", {"incident": "\x00", "variables": "5"}),
])
def test_bad_input_never_gives_a_500(engine, client, method, url, data):
    engine.deploy([EXAMPLES])
    inst = engine.start("approval", {"amount": 500})
    resp = getattr(client, method)(url.replace("{id}", inst.id), data=data)
    assert resp.status_code < 500, resp.get_data(as_text=True)[:400]
