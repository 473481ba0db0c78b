"""The cockpit's operations pages in a real headless Chromium (JavaScript on: bpmn-js draws the diagrams).

Deploy a diagram by upload, start an instance and see its active element marked on the bpmn-js drawing, retry
an incident, edit a variable through the confirmation, suspend and resume, watch the page refresh itself; and
screenshots of every page at 1366x768 in ``test-artifacts/`` (``ops-*.png``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time

import pytest
from conftest import EXAMPLES
from test_browser import ARTIFACTS, VIEWPORT, browser, chromium_path, login  # noqa: F401  (fixtures)
from werkzeug.serving import make_server

from engine import Engine, Settings
from web import create_app
from web.processes import VIEWER

pytestmark = pytest.mark.browser
ADMIN = ("admin", "admin-password")


@pytest.fixture(scope="module")
def ops_site(tmp_path_factory, sqlite_template):
    """The real server on a free port over SQLite, with its engine (to start instances and fail jobs)."""
    if not VIEWER.exists():
        message = f"bpmn-js is missing at {VIEWER}: run scripts/setup.sh (npm ci copies it there)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path_factory.mktemp("browser-ops") / "baton.db"
    shutil.copy(sqlite_template, path)
    engine = Engine(Settings(database_url=f"sqlite:///{path}", script_timeout=2.0, auto_migrate=False))
    engine.add_user(*ADMIN[:1], "admin", ADMIN[1])
    server = make_server("127.0.0.1", 0, create_app({"SECRET_KEY": "browser tests"}, engine=engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-ops-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "engine": engine}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        engine.close()


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page, site) -> None:
    login(page, site["url"], *ADMIN)


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"ops-{name}.png"), full_page=False)


def diagram_drawn(page) -> None:
    page.wait_for_selector('.diagram[data-rendered="true"] svg')


def fail_charge(engine, instance_id: str) -> None:
    [job] = [j for j in engine.claim_jobs("w", ["charge-card"], limit=10) if j.instance_id == instance_id]
    engine.fail_job(job.id, "w", "HTTP 402 from the card service: card declined",
                    {"status": 402, "body": '{"error": "card_declined", "decline_code": "insufficient_funds"}'},
                    retryable=False)


def test_deploy_by_upload_start_and_see_the_instance_on_the_diagram(page, ops_site):
    site, engine = ops_site, ops_site["engine"]
    sign_in(page, site)
    page.goto(f"{site['url']}/deploy")
    broken = (EXAMPLES / "approval.bpmn").read_text().replace('name="Record approval" scriptFormat="python">',
                                                            'name="Record approval" scriptFormat="python" >', 1)
    broken = broken.replace("approved_by", "approved_by = (", 1) if "approved_by" in broken else broken.replace(
        "</bpmn:script>", " = (</bpmn:script>", 1)
    page.set_input_files('input[name="files"]', files=[
        {"name": "approval.bpmn", "mimeType": "application/xml", "buffer": broken.encode()}])
    page.locator("form.deploy-form button[type=submit]").click()
    page.wait_for_selector(".error-box")
    assert "approval.bpmn" in page.locator(".error-where").inner_text()
    assert page.locator(".src-error").count() == 1
    shot(page, "deploy-error")

    page.set_input_files('input[name="files"]', files=[
        {"name": "approval.bpmn", "mimeType": "application/xml", "buffer": (EXAMPLES / "approval.bpmn").read_bytes()},
        {"name": "external_charge.bpmn", "mimeType": "application/xml",
         "buffer": (EXAMPLES / "external_charge.bpmn").read_bytes()}])
    page.locator("form.deploy-form button[type=submit]").click()
    page.wait_for_selector(".success-box")
    assert page.locator("ul.deployed li").count() == 2
    shot(page, "deploy-success")
    assert {d.key for d in engine.definitions()} == {"approval", "external_charge"}

    page.locator('[data-deployed="approval"] a').click()  # the process page, with its start form
    diagram_drawn(page)
    page.locator("details.start-instance summary").click()
    page.fill('.start-instance input[name="business_key"]', "PO-500")
    page.fill('.start-instance textarea[name="variables"]', '{"amount": 500, "requester": ann}')
    page.locator(".start-instance button[type=submit]").click()
    assert "not JSON" in page.locator(".start-instance .form-error").inner_text()  # kept, with the reason
    shot(page, "process-start-error")
    page.fill('.start-instance textarea[name="variables"]', '{"amount": 500, "requester": "ann"}')
    page.locator(".start-instance button[type=submit]").click()
    page.wait_for_url("**/instances/*")
    [inst] = engine.instances(key="approval")
    assert inst.business_key == "PO-500" and inst.variables["requester"] == "ann" and inst.id in page.url
    diagram_drawn(page)
    page.goto(f"{site['url']}/processes/approval")
    diagram_drawn(page)
    assert page.locator('g.djs-overlay-container .badge-waiting, .djs-overlays .badge-waiting').first.inner_text() == "1"
    page.goto(f"{site['url']}/instances/{inst.id}")
    diagram_drawn(page)
    review = page.locator('g.djs-element[data-element-id="Task_Review"]')
    assert "token-active" in review.get_attribute("class")
    assert "path-completed" in page.locator('g.djs-element[data-element-id="StartEvent_Request"]').get_attribute("class")
    assert "flow-taken" in page.locator('g.djs-element[data-element-id="Flow_NeedsReview"]').get_attribute("class")
    assert "flow-taken" not in (page.locator('g.djs-element[data-element-id="Flow_SmallAmount"]').get_attribute("class"))


def test_edit_a_variable_with_confirmation_then_suspend_and_resume(page, ops_site):
    site, engine = ops_site, ops_site["engine"]
    engine.deploy([EXAMPLES / "approval.bpmn"])
    inst = engine.start("approval", {"amount": 640, "requester": "bob"}, business_key="PO-640")
    sign_in(page, site)
    page.goto(f"{site['url']}/instances/{inst.id}")
    page.locator("details.edit-variables summary").click()
    page.fill('input[name="var.amount"]', "720")
    page.locator("details.edit-variables button[type=submit]").click()
    page.wait_for_selector(".confirm-box")
    assert "720" in page.locator('[data-confirm="amount"]').inner_text()
    assert engine.get_instance(inst.id).variables["amount"] == 640  # not saved before the confirmation
    page.locator(".confirm-box button[type=submit]").click()
    page.wait_for_selector(".notice-ok")
    assert engine.get_instance(inst.id).variables["amount"] == 720
    assert "720" in page.locator('tr[data-variable="amount"]').inner_text()

    page.once("dialog", lambda d: d.dismiss())  # nothing to dismiss for suspend: no dialog expected
    page.locator("button", has_text="Suspend").click()
    page.wait_for_selector(".status-suspended")
    assert engine.get_instance(inst.id).suspended
    page.locator("button", has_text="Resume").click()
    page.wait_for_selector("text=Instance resumed.")
    assert not engine.get_instance(inst.id).suspended and page.locator(".status-suspended").count() == 0


def test_retry_an_incident_and_the_pages_refresh_themselves(page, ops_site):
    site, engine = ops_site, ops_site["engine"]
    engine.deploy([EXAMPLES / "external_charge.bpmn"])
    inst = engine.start("external_charge", {"order_id": "A-17", "amount": 99.5}, business_key="A-17")
    other = engine.start("external_charge", {"order_id": "A-18", "amount": 12}, business_key="A-18")
    fail_charge(engine, inst.id)
    sign_in(page, site)
    page.goto(f"{site['url']}/instances/{inst.id}")
    diagram_drawn(page)
    assert "element-failed" in page.locator('g.djs-element[data-element-id="Task_ChargeCard"]').get_attribute("class")
    assert "card declined" in page.locator("#instance-incidents").inner_text()
    shot(page, "instance")

    page.evaluate("window.__not_reloaded = true")
    engine.cancel(other.id)  # not this instance: nothing to refresh here
    engine.retry_incident(engine.incidents(instance_id=inst.id)[0].id)
    [job] = engine.claim_jobs("w", ["charge-card"])
    engine.complete_job(job.id, "w", {"receipt": "R-1"})
    page.wait_for_selector('.page-head .status-completed', timeout=20_000)  # the live refresh, no reload
    assert page.evaluate("window.__not_reloaded") is True
    assert "path-completed" in page.locator('g.djs-element[data-element-id="Task_ChargeCard"]').get_attribute("class")

    for n in (20, 21):  # other incidents in the queue, left alone by the retry below
        fail_charge(engine, engine.start("external_charge", {"order_id": f"A-{n}", "amount": n}).id)
    failing = engine.start("external_charge", {"order_id": "A-19", "amount": 7}, business_key="A-19")
    fail_charge(engine, failing.id)
    page.goto(f"{site['url']}/incidents")
    row = page.locator(f'tr:has(a[href="/instances/{failing.id}"])')
    row.locator("details.inspect summary").click()
    assert "insufficient_funds" in row.locator("details.inspect").inner_text()
    shot(page, "incidents")
    row.locator('input[name="incident"]').check()
    page.fill('.bulk-bar input[name="variables"]', '{"card": "4242"}')
    page.locator(".bulk-bar button[type=submit]").click()
    page.wait_for_selector(".notice-ok")
    assert engine.incidents(instance_id=failing.id) == [] and len(engine.incidents()) == 2
    [job] = engine.claim_jobs("w", ["charge-card"])
    assert job.variables["card"] == "4242"


def test_screenshots_of_processes_heatmap_and_filtered_instances(page, ops_site):
    site, engine = ops_site, ops_site["engine"]
    engine.deploy([EXAMPLES])
    for amount in (150, 300, 450, 600):
        started = engine.start("approval", {"amount": amount}, business_key=f"PO-{amount}")
        if amount > 300:
            time.sleep(0.05 * amount / 150)  # reviews that took a while: the heatmap has something to show
            engine.complete_task(started.tasks[0].id, {"approved": amount < 500})
    engine.start("approval", {"amount": 20}, business_key="PO-20")
    sign_in(page, site)
    page.goto(f"{site['url']}/processes")
    assert page.locator('tr[data-process="approval"]').count() == 1
    shot(page, "processes")
    page.goto(f"{site['url']}/processes/approval")
    diagram_drawn(page)
    assert page.locator("g.djs-element.heat-4").count() >= 1
    shot(page, "process-heatmap")
    page.goto(f"{site['url']}/instances?key=approval&variable=amount%3D600")
    assert page.locator("table.instances tbody tr").count() == 1
    page.goto(f"{site['url']}/instances?key=approval&status=waiting&started_from={dt.date.today()}")
    assert page.locator('input[name="started_from"]').count() == 1
    shot(page, "instances-filtered")


def test_the_instance_list_refreshes_itself(page, ops_site):
    site, engine = ops_site, ops_site["engine"]
    engine.deploy([EXAMPLES / "approval.bpmn"])
    sign_in(page, site)
    page.goto(f"{site['url']}/instances?key=approval")
    page.evaluate("window.__not_reloaded = true")
    before = int(page.locator('a.count[data-status="waiting"] b').inner_text())
    new = engine.start("approval", {"amount": 999}, business_key="PO-999")
    page.wait_for_selector(f'tr[data-instance="{new.id}"]', timeout=20_000)
    assert int(page.locator('a.count[data-status="waiting"] b').inner_text()) == before + 1
    assert page.evaluate("window.__not_reloaded") is True
