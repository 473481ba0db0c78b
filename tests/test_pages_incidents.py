"""The incidents page (the dead-letter queue) through the test client, on SQLite and PostgreSQL: filter by
topic and process, inspect an incident's error and details, retry one (with variables) or several at once."""

from __future__ import annotations

import re
from html import unescape

from helpers import chain, process_xml, service_task


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html.replace("<wbr>", ""))).split())


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-incident="([^"]+)"', html)


def fail(engine, key: str, topic: str, message: str, details: dict | None = None) -> str:
    inst = engine.start(key)
    [job] = engine.claim_jobs("w", [topic])
    engine.fail_job(job.id, "w", message, details, retryable=False)
    return inst.id


def setup_incidents(engine) -> dict[str, str]:
    engine.deploy_bytes([("pay.bpmn", process_xml("pay", chain(service_task("charge")))),
                         ("ship.bpmn", process_xml("ship", chain(service_task("label"))))])
    return {
        "charge1": fail(engine, "pay", "charge", "HTTP 402: card declined", {"body": '{"reason": "limit"}'}),
        "charge2": fail(engine, "pay", "charge", "HTTP 500 from the card service"),
        "label": fail(engine, "ship", "label", "label script exited with 1", {"stderr": "Traceback: no printer"}),
    }


def test_lists_filters_and_inspects_incidents(engine, client):
    ids = setup_incidents(engine)
    html = client.get("/incidents").get_data(as_text=True)
    assert len(rows(html)) == 3
    by_id = {i.instance_id: i.id for i in engine.incidents()}
    label_row = html.split(f'data-incident="{by_id[ids["label"]]}"')[1].split("</tr>")[0]
    assert "label script exited with 1" in text(label_row) and "stderr: Traceback: no printer" in text(label_row)
    assert f'href="/instances/{ids["label"]}"' in label_row
    charge_row = html.split(f'data-incident="{by_id[ids["charge1"]]}"')[1].split("</tr>")[0]
    assert "body: {&#34;reason&#34;: &#34;limit&#34;}" in charge_row
    assert set(rows(client.get("/incidents?topic=charge").get_data(as_text=True))) == {
        by_id[ids["charge1"]], by_id[ids["charge2"]]}
    assert rows(client.get("/incidents?key=ship").get_data(as_text=True)) == [by_id[ids["label"]]]
    nothing = client.get("/incidents?topic=nope").get_data(as_text=True)
    assert rows(nothing) == [] and "No incidents match these filters." in text(nothing)
    assert client.get("/incidents?topic=%00").status_code == 200


def test_retry_one_with_variables(engine, client):
    ids = setup_incidents(engine)
    incident = next(i for i in engine.incidents() if i.instance_id == ids["charge1"])
    resp = client.post("/incidents/retry", data={"incident": incident.id, "variables": '{"card": "4242"}'})
    assert resp.status_code == 302 and "retried=1" in resp.headers["Location"]
    assert "Retried 1 incident" in text(client.get(resp.headers["Location"]).get_data(as_text=True))
    assert len(engine.incidents()) == 2
    [job] = engine.claim_jobs("w", ["charge"])
    assert job.instance_id == ids["charge1"] and job.variables["card"] == "4242"
    resolved = client.get("/incidents?all=1").get_data(as_text=True)
    assert len(rows(resolved)) == 3 and 'class="resolved"' in resolved


def test_bulk_retry_of_the_selected_incidents(engine, client):
    ids = setup_incidents(engine)
    chosen = [i.id for i in engine.incidents() if i.instance_id in (ids["charge2"], ids["label"])]
    resp = client.post("/incidents/retry?topic=charge", data={"incident": chosen})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/incidents?retried=2&topic=charge")
    assert [i.instance_id for i in engine.incidents()] == [ids["charge1"]]


def test_refused_retries(engine, client):
    ids = setup_incidents(engine)
    none = client.post("/incidents/retry", data={})
    assert none.status_code == 400 and "Select at least one incident" in none.get_data(as_text=True)
    one = engine.incidents()[0].id
    bad = client.post("/incidents/retry", data={"incident": one, "variables": "not json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.get_data(as_text=True)
    unknown = client.post("/incidents/retry", data={"incident": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.get_data(as_text=True)
    partly = client.post("/incidents/retry", data={"incident": [one, "nope"]})
    assert partly.status_code == 200 and "Retried 1 incident" in text(partly.get_data(as_text=True))
    assert len(engine.incidents()) == len(ids) - 1


def test_a_user_without_the_operator_role_sees_no_retry_controls(engine, app, client):
    from flask import g

    setup_incidents(engine)

    @app.before_request
    def as_plain_user():  # what the auth branch's sign-in sets for a `user`-role account
        g.user = type("User", (), {"name": "alice", "role": "user", "groups": []})()

    html = client.get("/incidents").get_data(as_text=True)
    assert len(rows(html)) == 3 and "Retry selected" not in html and 'type="checkbox" name="incident"' not in html
    assert ">Deploy</a>" not in html
    inst = engine.incidents()[0].instance_id
    page = client.get(f"/instances/{inst}").get_data(as_text=True)
    assert "HTTP" in page and ">Retry</button>" not in page and "Cancel instance" not in page
