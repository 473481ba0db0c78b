"""The processes pages and the deploy page through the test client, on SQLite and PostgreSQL.

What a user sees: every process with its versions (drawings marked), one version's diagram data (waiting and
incident badges, the time heatmap, the figures table), the XML the diagram is drawn from; deploying by upload
with the result linked, and a refused upload that names the file, line and element and keeps the file.
"""

from __future__ import annotations

import io
import json
import re
import time
from html import unescape

import pytest
from conftest import EXAMPLES
from helpers import chain, process_xml, service_task, user_task

from web.processes import VIEWER


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html.replace("<wbr>", ""))).split())


def diagram_state(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="diagram-state">(.*?)</script>', html, re.S)
    assert found, "the page has no diagram state"
    return json.loads(found.group(1))


def upload(client, *files: tuple[str, bytes], **fields):
    data = {"files": [(io.BytesIO(content), name) for name, content in files], **fields}
    return client.post("/deploy", data=data, content_type="multipart/form-data")


def test_processes_list_every_version_and_marks_drawings(engine, client):
    engine.deploy([EXAMPLES])
    engine.deploy_bytes([("d.bpmn", process_xml("sketch", chain(user_task()), executable=False))])
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task("One"))))])
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task("Two"))))])
    engine.start("p")
    html = client.get("/processes").get_data(as_text=True)
    assert 'data-process="approval"' in html and 'data-process="external_charge"' in html
    row = html.split('data-process="p"')[1].split("</tr>")[0]
    assert re.search(r'href="/processes/p\?version=2"[^>]*>v2', row) and re.search(r'href="/processes/p\?version=1"[^>]*>v1', row)
    assert re.search(r'href="/instances\?key=p">1</a>', row)  # one live instance, linked to the filtered list
    sketch = html.split('data-process="sketch"')[1].split("</tr>")[0]
    assert "drawing" in text(sketch)


def test_process_page_overlays_heatmap_and_figures(engine, client):
    engine.deploy([EXAMPLES])
    engine.deploy_bytes([("pay.bpmn", process_xml("pay", chain(service_task("charge"))))])
    done = engine.start("approval", {"amount": 500})
    time.sleep(0.05)  # the review takes measurably longer than the automatic steps
    engine.complete_task(done.tasks[0].id, {"approved": True})
    engine.start("approval", {"amount": 700})
    engine.start("approval", {"amount": 800})
    html = client.get("/processes/approval").get_data(as_text=True)
    state = diagram_state(html)
    assert {"id": "Task_Review", "text": "2", "cls": "badge-waiting",
            "title": "2 instance(s) waiting here"} in state["badges"]
    assert state["markers"]["Task_Review"] == ["heat-4"]  # the slowest element
    assert all(m in (["heat-0"], ["heat-1"], ["heat-2"], ["heat-3"], ["heat-4"]) for m in state["markers"].values())
    assert 'data-xml-url="/processes/approval/xml?version=1"' in html
    review = html.split('data-element="Task_Review"')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">(.*?)</td>', review, re.S)
    assert text(cells[0]) == "2" and text(cells[2]) == "1" and re.search(r"\d+ ms|\d\.\d s", text(cells[3]))
    assert "Average time spent" in text(html)  # the legend

    engine.start("pay")
    [job] = engine.claim_jobs("w", ["charge"])
    engine.fail_job(job.id, "w", "card declined", retryable=False)
    state = diagram_state(client.get("/processes/pay").get_data(as_text=True))
    assert {"id": "S1", "text": "1", "cls": "badge-incident", "title": "1 open incident(s)"} in state["badges"]


def test_process_xml_versions_and_bad_parameters(engine, client):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task("One"))))])
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task("Two"))))])
    first = client.get("/processes/p/xml?version=1")
    assert first.status_code == 200 and first.mimetype == "application/xml" and b'name="One"' in first.data
    assert b'name="Two"' in client.get("/processes/p/xml").data
    page = client.get("/processes/p?version=1").get_data(as_text=True)
    assert 'aria-current="page">v1' in page and 'data-xml-url="/processes/p/xml?version=1"' in page
    assert client.get("/processes/p?version=abc").status_code == 400
    assert "&#39;version&#39; must be a positive whole number" in client.get("/processes/p?version=-1").get_data(True)
    assert client.get("/processes/p?version=9").status_code == 404
    assert client.get("/processes/nope").status_code == 404
    assert client.get("/processes/nope/xml").status_code == 404


def test_deploy_by_upload_shows_what_was_deployed(engine, client):
    assert client.get("/deploy").status_code == 200
    resp = upload(client, ("approval.bpmn", (EXAMPLES / "approval.bpmn").read_bytes()),
                  ("discount.dmn", (EXAMPLES / "discount.dmn").read_bytes()))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Deployed" in text(html)
    assert '<a href="/processes/approval?version=1"><strong>approval</strong> version 1</a>' in html
    assert "new version" in text(html.split('data-deployed="approval"')[1].split("</li>")[0])
    assert [d.key for d in engine.definitions()] == ["approval"]
    again = upload(client, ("approval.bpmn", (EXAMPLES / "approval.bpmn").read_bytes())).get_data(as_text=True)
    assert "Nothing changed" in text(again) and "unchanged" in text(again)


def test_a_refused_upload_names_file_line_and_element_and_is_kept_for_a_retry(engine, client):
    bad = process_xml("p", chain(user_task(), '<bpmn:scriptTask id="{id}"><bpmn:script>x = (</bpmn:script></bpmn:scriptTask>'))
    resp = upload(client, ("broken.bpmn", bad))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and engine.definitions() == []
    where = text(html.split('class="error-where"')[1].split("</dl>")[0])
    line = bad.decode().splitlines().index(next(ln for ln in bad.decode().splitlines() if "x = (" in ln)) + 1
    assert f"File broken.bpmn Line {line} Element id S2" in where
    assert re.search(rf'<span class="src-line src-error"><span class="src-no">{line}</span>', html)
    assert '<input type="hidden" name="kept_name" value="broken.bpmn">' in html
    kept = unescape(re.search(r'<textarea name="kept_text"[^>]*>(.*?)</textarea>', html, re.S).group(1))
    assert kept == bad.decode()

    fixed = client.post("/deploy", data={"kept_name": "broken.bpmn", "kept_text": kept.replace("x = (", "x = 1")},
                        content_type="multipart/form-data")
    assert fixed.status_code == 200 and [d.key for d in engine.definitions()] == ["p"]


def test_a_refused_upload_can_be_imported_as_a_drawing(engine, client):
    prose = process_xml("prose", chain('<bpmn:intermediateCatchEvent id="{id}"><bpmn:timerEventDefinition/>'
                                       "</bpmn:intermediateCatchEvent>"))
    refused = upload(client, ("prose.bpmn", prose))
    assert refused.status_code == 422 and 'name="drawing"' in refused.get_data(as_text=True)
    resp = client.post("/deploy", data={"kept_name": "prose.bpmn", "kept_text": prose.decode(), "drawing": "on"},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "drawing" in text(html.split('data-deployed="prose"')[1].split("</li>")[0])
    assert [(d.key, d.executable) for d in engine.definitions()] == [("prose", False)]


def test_deploy_refuses_no_file_and_other_file_types(engine, client):
    empty = client.post("/deploy", data={}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "Choose at least one .bpmn or .dmn file" in empty.get_data(as_text=True)
    other = upload(client, ("notes.txt", b"hello"))
    assert other.status_code == 400 and "notes.txt: only .bpmn, .dmn and .form files can be deployed" in other.get_data(True)
    garbage = upload(client, ("x.bpmn", b"\x00\xff not xml"))
    assert garbage.status_code == 422 and "x.bpmn" in text(garbage.get_data(as_text=True))
    assert engine.definitions() == []


def test_without_bpmn_js_the_page_says_how_to_install_it_and_shows_the_rest(engine, app, client):
    engine.deploy([EXAMPLES])
    engine.start("approval", {"amount": 500})
    app.jinja_env.globals["viewer_available"] = lambda: False  # a checkout where scripts/setup.sh has not run
    html = client.get("/processes/approval").get_data(as_text=True)
    assert "The diagram viewer (bpmn-js) is not installed." in text(html) and "npm ci" in html
    assert "bpmn-navigated-viewer" not in html and 'data-element="Task_Review"' in html
    assert 'href="/processes/approval/xml?version=1"' in html  # the XML is still one click away


def test_bpmn_js_is_served_from_our_static_files(client):
    if not VIEWER.exists():
        pytest.skip("bpmn-js not installed (scripts/setup.sh copies it)")
    with client.get("/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js") as resp:
        assert resp.status_code == 200 and b"BpmnJS" in resp.data
    with client.get("/static/vendor/bpmn-js/assets/bpmn-js.css") as css:
        assert css.status_code == 200


def test_a_process_is_started_from_its_page_with_variables_and_business_key(client, client_as, engine):
    engine.deploy([EXAMPLES / "approval.bpmn"])
    bad = client.post("/processes/approval/start", data={"business_key": "PO-9", "variables": "[1, 2]"})
    assert bad.status_code == 400 and "must be a JSON object" in bad.get_data(as_text=True)
    assert engine.instances(key="approval") == []
    person = client_as("user", ["sales"])
    done = person.post("/processes/approval/start", data={"business_key": "PO-9", "variables": '{"amount": 5}'})
    [inst] = engine.instances(key="approval")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/instances/{inst.id}")
    assert inst.business_key == "PO-9" and inst.status == "completed" and inst.variables["approved"] is True


def test_a_start_form_on_the_start_event_is_drawn_checked_and_typed(client, engine):
    engine.deploy([EXAMPLES / "feature-delivery.bpmn"])
    page = client.get("/processes/feature-delivery").get_data(as_text=True)
    assert 'name="feature_request"' in page and 'value="books(title, author, year:integer)' in page
    assert 'id="f-quality_threshold"' in page and 'value="90"' in page and 'max="100"' in page
    bad = client.post("/processes/feature-delivery/start", data={
        "feature_request": "", "quality_threshold": "150", "max_rounds": "2", "round_timeout": "soon"})
    shown = text(bad.get_data(as_text=True))
    assert bad.status_code == 400 and engine.instances(key="feature-delivery") == []
    assert "Feature request: resources and operations is required" in shown
    assert "Quality threshold (0-100) must be at most 100" in shown
    assert "Time a development round may take (ISO 8601) must match the pattern" in shown
    assert 'value="150"' in bad.get_data(as_text=True)  # what was typed is kept
    done = client.post("/processes/feature-delivery/start", data={
        "feature_request": "notes(text): list, create", "quality_threshold": "80", "max_rounds": "2",
        "round_timeout": "PT5M", "deploy_port": "0", "business_key": "FD-1", "variables": '{"note": "from JSON"}'})
    [inst] = engine.instances(key="feature-delivery")
    assert done.status_code == 302 and inst.business_key == "FD-1"
    v = inst.variables
    assert v["feature_request"] == "notes(text): list, create" and v["quality_threshold"] == 80
    assert v["max_rounds"] == 2 and v["round_timeout"] == "PT5M" and v["note"] == "from JSON"
