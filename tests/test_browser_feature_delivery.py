"""The flagship process in a real headless Chromium, as a new user runs it: the start form on the process page,
the review in the tasklist (sent back once with a comment, then approved), the finished instance page with its
artifacts.  The agents run for real in a worker next to the server.  Screenshots in ``test-artifacts/``
(``feature-delivery-*.png``)."""

from __future__ import annotations

import shutil
import sys
import threading
import time

import pytest
from conftest import EXAMPLES
from test_browser import ARTIFACTS, VIEWPORT, browser, chromium_path, login  # noqa: F401  (fixtures)
from werkzeug.serving import make_server

from engine import Engine, Settings
from engine.agents import load_config
from engine.worker import Worker
from web import create_app

sys.path.insert(0, str(EXAMPLES / "agents"))
import deployer  # noqa: E402  (stops what the run deployed)

pytestmark = pytest.mark.browser
ADMIN = ("admin", "admin-password")


@pytest.fixture
def site(tmp_path, sqlite_template, monkeypatch):
    path = tmp_path / "baton.db"
    shutil.copy(sqlite_template, path)
    monkeypatch.setenv("BATON_DEPLOY_ROOT", str(tmp_path / "deployments"))
    engine = Engine(Settings(database_url=f"sqlite:///{path}", script_timeout=2.0, auto_migrate=False))
    engine.add_user(*ADMIN[:1], "admin", ADMIN[1])
    engine.deploy([EXAMPLES / "feature-delivery.bpmn"])
    node = Worker(engine, load_config(EXAMPLES / "baton.toml").agents, poll=0.2).start()
    server = make_server("127.0.0.1", 0, create_app({"SECRET_KEY": "browser tests"}, engine=engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-feature-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "engine": engine}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        node.stop()
        for folder in (tmp_path / "deployments").glob("*"):
            deployer.stop_and_remove(folder)
        engine.close()


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def review(page, site, decision: str, comments: str) -> None:
    page.goto(f"{site['url']}/tasks")
    page.get_by_role("link", name="Review the API design").click()
    page.select_option("#f-design_decision", decision)
    page.fill("#f-review_comments", comments)
    page.get_by_role("button", name="Complete task").click()
    page.wait_for_url("**/tasks?completed=*")


def wait_for_review(site, instance_id: str) -> None:
    deadline = time.monotonic() + 90
    while not site["engine"].tasks(instance_id=instance_id):
        assert time.monotonic() < deadline, "the review task never came"
        time.sleep(0.2)


def test_a_feature_is_delivered_from_the_browser(page, site):
    login(page, site["url"], *ADMIN)
    page.goto(f"{site['url']}/processes/feature-delivery")
    form = page.locator("form.start-form")
    assert form.locator("#f-feature_request").input_value().startswith("books(title, author, year:integer)")
    form.locator("#f-quality_threshold").fill("95")
    page.screenshot(path=str(ARTIFACTS / "feature-delivery-start.png"))
    form.get_by_role("button", name="Start").click()
    page.wait_for_url("**/instances/*")
    instance_id = page.url.rsplit("/", 1)[1]
    assert site["engine"].get_instance(instance_id).variables["quality_threshold"] == 95

    wait_for_review(site, instance_id)
    review(page, site, "revise", "add field isbn to books")
    wait_for_review(site, instance_id)
    review(page, site, "approve", "")

    deadline = time.monotonic() + 120
    while site["engine"].get_instance(instance_id).status == "running":
        assert time.monotonic() < deadline, "the instance did not finish"
        time.sleep(0.3)
    inst = site["engine"].get_instance(instance_id)
    assert inst.status == "completed" and inst.variables["status"] == "delivered"
    page.goto(f"{site['url']}/instances/{instance_id}")
    assert "completed" in page.locator(".page-head").inner_text()
    artifacts = page.locator("section:has(h2:has-text('Artifacts'))").first
    for name in ("openapi.json", "service.tar.gz", "tests.tar.gz", "test-plan.md", "test-report.json"):
        assert name in artifacts.inner_text()
    timeline = page.locator("#instance-timeline")
    for agent in ("api-designer", "backend-developer", "qa-expert", "qa-runner", "deployer"):
        assert agent in timeline.inner_text()
    gates = page.locator("#instance-quality-gates")
    assert "Quality gates" in gates.inner_text() and gates.locator("tbody tr").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "feature-delivery-instance.png"))
    timeline.screenshot(path=str(ARTIFACTS / "feature-delivery-timeline.png"))
    gates.screenshot(path=str(ARTIFACTS / "feature-delivery-gates.png"))
    with page.expect_download() as download:
        artifacts.locator("tr:has-text('openapi.json') a:has-text('Download')").first.click()
    with open(download.value.path(), "rb") as got:
        assert b'"isbn"' in got.read()
