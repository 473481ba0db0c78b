"""The pages in a real headless Chromium, against the real server on 127.0.0.1.

Uses Debian's Chromium at /usr/bin/chromium (Playwright's own browser downloads are not used).  Without it
the tests skip, except in CI (``CI`` set), where they fail.  Screenshots (1366x768, the common laptop size)
go to ``test-artifacts/``.  JavaScript is switched off in the pages: they must work without it.

The ``site`` has two people: ``admin`` / ``admin-password`` (role admin) and ``alice`` / ``alice-password`` (role
user, group ``sales``); tests sign in first with :func:`login`.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from helpers import chain, process_xml, script
from werkzeug.serving import make_server

from engine import Engine, Settings
from web import create_app

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
VIEWPORT = {"width": 1366, "height": 768}
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        message = f"the browser tests need Chromium, but {CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def site(tmp_path_factory, sqlite_template):
    """The real server on a free port, over SQLite, with the examples deployed and one instance per status."""
    path = tmp_path_factory.mktemp("browser") / "baton.db"
    shutil.copy(sqlite_template, path)
    engine = Engine(Settings(database_url=f"sqlite:///{path}", script_timeout=2.0, auto_migrate=False))
    engine.deploy([EXAMPLES])
    engine.deploy_bytes([("boom.bpmn", process_xml("boom", chain(script("x = 1 / 0", name="Divide"))))])
    instances = {
        "waiting": engine.start("approval", {"amount": 500}, business_key="PO-500"),
        "completed": engine.start("approval", {"amount": 5}, business_key="PO-5"),
        "failed": engine.start("boom", {"order_id": "A-17"}),
        "cancelled": engine.cancel(engine.start("approval", {"amount": 900}, business_key="PO-900").id),
    }
    assert {s: i.status for s, i in instances.items()} == {s: s for s in instances}
    engine.add_user("admin", "admin", "admin-password")
    engine.add_user("alice", "user", "alice-password", ["sales"])
    server = make_server("127.0.0.1", 0, create_app({"SECRET_KEY": "browser tests"}, engine=engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-test-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "instances": instances, "engine": engine}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        engine.close()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def login(page, url: str, user: str = "admin", password: str = "admin-password") -> None:
    """Sign in through the login form of the site at ``url`` (its base address), as a person does."""
    page.goto(f"{url}/login")
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/login" not in u)
    assert page.locator(".user-name").inner_text() == user


def fits_the_screen(page) -> None:
    """Nothing sticks out to the right: no sideways scrolling on a laptop screen."""
    page.set_viewport_size(VIEWPORT)
    width = page.locator("main").bounding_box()["width"]
    assert width <= VIEWPORT["width"]
    for box in (page.locator("table, .summary, .filters, .timeline").all()):
        b = box.bounding_box()
        assert b is None or b["x"] + b["width"] <= VIEWPORT["width"], "an element is wider than the screen"


def test_list_page_has_a_row_and_a_badge_per_instance(page, site):
    login(page, site["url"])
    resp = page.goto(f"{site['url']}/instances")
    assert resp.status == 200
    rows = page.locator("table.instances tbody tr")
    assert rows.count() == 4
    for status, inst in site["instances"].items():
        row = page.locator(f'tr[data-instance="{inst.id}"]')
        badge = row.locator(".status")
        assert badge.inner_text() == status
        assert status in badge.get_attribute("class")
        assert row.locator("td.col-process").inner_text().startswith(inst.process_key)
    assert page.locator('tr[data-status="waiting"] td.col-activity').inner_text() == "Review purchase request"
    assert page.locator('tr[data-status="waiting"] td.col-bkey').inner_text() == "PO-500"
    assert page.locator('a.count[data-status="failed"] b').inner_text() == "1"
    # badges are coloured differently per status and readable (dark text on a light background)
    colours = {s: page.locator(f'tr[data-status="{s}"] .status').evaluate(
        "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]") for s in site["instances"]}
    assert len({bg for bg, _ in colours.values()}) == 4, colours
    assert all(bg != "rgba(0, 0, 0, 0)" and bg != fg for bg, fg in colours.values()), colours
    fits_the_screen(page)
    page.screenshot(path=str(ARTIFACTS / "instances.png"), full_page=True)


def test_status_filter_shows_only_the_failed_instance_and_its_failed_element(page, site):
    login(page, site["url"])
    page.goto(f"{site['url']}/instances")
    page.locator('a.count[data-status="failed"]').click()
    page.wait_for_url("**/instances?status=failed")
    rows = page.locator("table.instances tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-instance") == site["instances"]["failed"].id
    activity = rows.first.locator("td.col-activity").inner_text()
    assert "failed at Divide" in activity and "ZeroDivisionError" in activity
    assert page.locator('select[name="status"]').input_value() == "failed"
    page.screenshot(path=str(ARTIFACTS / "instances-failed.png"), full_page=True)

    page.locator("a.clear").first.click()
    page.wait_for_url("**/instances")
    assert page.locator("table.instances tbody tr").count() == 4


def test_filter_form_by_status_and_process(page, site):
    login(page, site["url"])
    page.goto(f"{site['url']}/instances")
    page.select_option('select[name="status"]', "completed")
    page.select_option('select[name="key"]', "approval")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/instances?status=completed&key=approval&version=&business_key=**")
    rows = page.locator("table.instances tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-instance") == site["instances"]["completed"].id

    page.select_option('select[name="key"]', "shipping")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**key=shipping**")
    assert page.locator("table.instances").count() == 0
    assert "No instances match these filters" in page.locator(".empty").inner_text()
    page.screenshot(path=str(ARTIFACTS / "instances-empty.png"), full_page=True)


def test_clicking_an_instance_opens_its_page_with_variables_and_history(page, site):
    login(page, site["url"])
    inst = site["instances"]["waiting"]
    page.goto(f"{site['url']}/instances")
    page.locator(f'tr[data-instance="{inst.id}"] td.col-id a').click()
    page.wait_for_url(f"**/instances/{inst.id}")
    assert inst.id in page.locator("h1").inner_text()
    assert page.locator(".page-head .status").inner_text() == "waiting"
    assert page.locator('tr[data-variable="amount"] td').inner_text() == "500"
    assert page.locator("table.tasks tbody tr").count() == 1
    assert "Review purchase request" in page.locator("table.tasks").inner_text()
    events = page.locator(".timeline li")
    assert events.count() >= 2
    assert events.first.locator(".event-name").inner_text() == "Instance started"
    assert page.locator('.timeline li[data-event="task_created"]').count() == 1
    fits_the_screen(page)
    page.screenshot(path=str(ARTIFACTS / "instance.png"), full_page=True)

    page.locator(".crumbs a").click()
    page.wait_for_url("**/instances")


def test_failed_instance_page_shows_the_error(page, site):
    login(page, site["url"])
    inst = site["instances"]["failed"]
    resp = page.goto(f"{site['url']}/instances/{inst.id}")
    assert resp.status == 200
    box = page.locator(".error-box").inner_text()
    assert "Failed at Divide" in box and "ZeroDivisionError" in box and "division by zero" in box
    assert page.locator('.timeline li[data-event="instance_failed"]').count() == 1
    assert page.locator('tr[data-variable="order_id"] td').inner_text() == '"A-17"'
    fits_the_screen(page)
    page.screenshot(path=str(ARTIFACTS / "instance-failed.png"), full_page=True)


def test_unknown_instance_is_a_clear_404_page(page, site):
    login(page, site["url"])
    resp = page.goto(f"{site['url']}/instances/no-such-id")
    assert resp.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "no instance has id 'no-such-id'" in page.locator(".error-message").inner_text()
    page.screenshot(path=str(ARTIFACTS / "not-found.png"), full_page=True)


@pytest.mark.parametrize("path", ["/api/v1/health", "/healthz"])
def test_health_url_answers_json(page, site, path):
    resp = page.goto(f"{site['url']}{path}")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "ok" and body["database"] == "sqlite"


# ---- signing in ----------------------------------------------------------------------------------------------------

def test_log_in_and_log_out(page, site):
    resp = page.goto(f"{site['url']}/instances?status=waiting")
    assert page.url == f"{site['url']}/login?next=/instances%3Fstatus%3Dwaiting"
    assert resp.status == 200 and page.locator("h1").inner_text() == "Sign in to Baton"
    assert page.locator("header .user-name").count() == 0
    fits_the_screen(page)
    page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)

    page.fill('input[name="username"]', "admin")
    page.fill('input[name="password"]', "not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.locator(".login-error").inner_text() == "Wrong user name or password."
    assert page.locator('input[name="username"]').input_value() == "admin"
    page.screenshot(path=str(ARTIFACTS / "login-failed.png"), full_page=True)

    page.fill('input[name="password"]', "admin-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/instances?status=waiting")  # back where they were going
    assert page.locator("table.instances tbody tr").count() == 1
    assert page.locator("header .user-name").inner_text() == "admin"
    page.screenshot(path=str(ARTIFACTS / "signed-in.png"))

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    assert page.locator("header .user-name").count() == 0
    page.goto(f"{site['url']}/instances")
    assert page.url == f"{site['url']}/login?next=/instances"


def test_a_user_account_is_refused_the_deploy_page(page, site):
    login(page, site["url"], "alice", "alice-password")
    page.goto(f"{site['url']}/instances")
    assert page.locator("table.instances tbody tr").count() == 4, "a user may read the instances"
    resp = page.goto(f"{site['url']}/deploy")
    assert resp.status == 403
    assert page.locator("h1").inner_text() == "Not allowed"
    assert page.locator(".error-message").inner_text() == (
        "This needs the admin role; you are signed in as alice (user).")
    assert page.locator(".needed-role").inner_text() == "admin"
    fits_the_screen(page)
    page.screenshot(path=str(ARTIFACTS / "forbidden.png"), full_page=True)
