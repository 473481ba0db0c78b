"""The tasklist, a task form and the dashboard in a real headless Chromium against the real server.

Completing a task through its form first shows a validation error next to the field (the entered values
kept), then succeeds; the dashboard draws its charts; the tasklist picks up a new task without a reload.
Screenshots (1366x768) go to ``test-artifacts/``.  Uses the ``site`` server of tests/test_browser.py.
"""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, service_task
from test_browser import ARTIFACTS, VIEWPORT, browser, chromium_path, fits_the_screen, login, site  # noqa: F401
from test_forms import SCHEMA, form_task, schema_task, spiff_xml

pytestmark = pytest.mark.browser


def sign_in(page, site) -> None:  # noqa: F811
    login(page, site["url"])


@pytest.fixture(scope="module")
def orders(site):  # noqa: F811
    """An order form task (Camunda formData with constraints) waiting in the site's database."""
    engine = site["engine"]
    engine.deploy_bytes([("orders.bpmn", process_xml("orders", chain(form_task())))])
    inst = engine.start("orders", {}, business_key="ORD-7")
    return engine.get_instance(inst.id).tasks[0]


def new_page(browser, javascript: bool):  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=javascript)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def test_complete_a_task_through_its_form_after_a_validation_error(browser, site, orders):  # noqa: F811
    context, page = new_page(browser, javascript=False)  # the form works without JavaScript
    try:
        sign_in(page, site)
        page.goto(f"{site['url']}/tasks")
        row = page.locator(f'tr[data-task="{orders.id}"]')
        assert "ORD-7" in row.inner_text() and "orders" in row.inner_text()
        assert page.locator("table.tasks tbody tr").count() == 2  # the site's approval and this order
        fits_the_screen(page)
        page.screenshot(path=str(ARTIFACTS / "tasklist.png"), full_page=True)

        row.locator("a.task-name").click()
        page.wait_for_url(f"**/tasks/{orders.id}")
        assert page.locator("#f-quantity").input_value() == "1"  # the default
        assert page.locator("#f-region").get_attribute("readonly") is not None
        page.fill("#f-name", "A")
        page.fill("#f-quantity", "120")
        page.select_option("#f-size", "l")
        page.check("#f-urgent")
        page.get_by_role("button", name="Complete task").click()
        page.wait_for_load_state()

        name_error = page.locator('.field[data-field="name"] .field-error')
        assert name_error.inner_text() == "Name must be at least 2 characters long"
        assert page.locator('.field[data-field="quantity"] .field-error').inner_text() == "Quantity must be at most 99"
        assert page.locator('.field[data-field="due"] .field-error').count() == 0
        assert page.locator("#f-name").input_value() == "A" and page.locator("#f-size").input_value() == "l"
        assert page.locator("#f-urgent").is_checked()
        # the message sits right under its input, in red
        field_box, error_box = page.locator("#f-name").bounding_box(), name_error.bounding_box()
        assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 30
        assert name_error.evaluate("e => getComputedStyle(e).color") == "rgb(180, 35, 24)"
        fits_the_screen(page)
        page.screenshot(path=str(ARTIFACTS / "task-form-error.png"), full_page=True)

        page.fill("#f-name", "Ada")
        page.fill("#f-quantity", "12")
        page.fill("#f-code", "AB-12")
        page.get_by_role("button", name="Complete task").click()
        page.wait_for_url("**/tasks?completed=**")
        assert "Task “Order” completed" in page.locator(".confirmation").inner_text()
        assert page.locator(f'tr[data-task="{orders.id}"]').count() == 0
        page.screenshot(path=str(ARTIFACTS / "tasklist-completed.png"), full_page=True)
    finally:
        context.close()
    done = site["engine"].get_instance(orders.instance_id)
    assert done.status == "completed"
    assert (done.variables["name"], done.variables["quantity"], done.variables["urgent"]) == ("Ada", 12, True)


def test_a_json_schema_form_is_drawn_and_checked_on_the_server(browser, site):  # noqa: F811
    engine = site["engine"]
    engine.deploy_bytes([("survey.bpmn", spiff_xml("survey", chain(schema_task(SCHEMA))))])
    task = engine.get_instance(engine.start("survey", {}, business_key="S-1").id).tasks[0]
    context, page = new_page(browser, javascript=True)
    try:
        sign_in(page, site)
        page.goto(f"{site['url']}/tasks/{task.id}")
        page.fill("#f-rating", "9")
        page.select_option("#f-color", "green")
        page.get_by_role("button", name="Complete task").click()  # novalidate: the server decides
        page.wait_for_load_state()
        assert page.locator('.field[data-field="rating"] .field-error').inner_text() == "Rating must be at most 5"
        assert page.locator('.field[data-field="email"] .field-error').inner_text() == "email is required"
        assert page.locator("#f-color").input_value() == "green"
        fits_the_screen(page)
        page.screenshot(path=str(ARTIFACTS / "task-form-json-schema.png"), full_page=True)
        page.fill("#f-rating", "5")
        page.fill("#f-email", "ada@example.org")
        page.get_by_role("button", name="Complete task").click()
        page.wait_for_url("**/tasks?completed=**")
    finally:
        context.close()
    assert engine.get_instance(task.instance_id).variables == {"rating": 5, "email": "ada@example.org",
                                                               "color": "green"}


def test_the_dashboard_draws_its_charts(browser, site):  # noqa: F811
    engine = site["engine"]
    engine.deploy_bytes([("charge.bpmn", process_xml("charge", chain(service_task("payments"))))])
    engine.start("charge", {})
    [job] = engine.claim_jobs("w", ["payments"])
    engine.fail_job(job.id, "w", "HTTP 503 from the payment provider", retryable=False)
    context, page = new_page(browser, javascript=True)
    try:
        sign_in(page, site)
        page.goto(f"{site['url']}/")
        assert page.locator("h1").inner_text() == "Dashboard"
        incident_bar = page.locator('#panel-incidents svg .bar[data-label="charge · payments"]')
        assert incident_bar.get_attribute("data-value") == "1"
        assert page.locator("#panel-incidents .figure").inner_text() == "1"
        bars = page.locator("#panel-status svg .bar rect")
        assert bars.count() == 6
        widths = {page.locator("#panel-status svg .bar").nth(i).get_attribute("data-label"):
                  bars.nth(i).bounding_box()["width"] for i in range(6)}
        assert widths["waiting"] > 0 and widths["incident"] > 0 and widths["running"] == 0
        line = page.locator('#panel-minutes polyline[data-series="started"]').bounding_box()
        assert line["width"] > 300
        assert page.locator("#panel-slowest svg .bar").count() >= 1
        fits_the_screen(page)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=False)
        page.screenshot(path=str(ARTIFACTS / "dashboard-full.png"), full_page=True)

        # the figures refresh without a reload
        page.evaluate("window.notReloaded = true")
        waiting = page.locator('#panel-status .panel-links a[data-status="waiting"] b')
        before = int(waiting.inner_text())
        site["engine"].start("approval", {"amount": 640})
        page.wait_for_function(f"""() => document.querySelector('#panel-status a[data-status="waiting"] b')
                                         .textContent === "{before + 1}" """, timeout=15_000)
        assert page.evaluate("window.notReloaded") is True
    finally:
        context.close()


def test_the_tasklist_shows_a_new_task_without_a_reload(browser, site):  # noqa: F811
    context, page = new_page(browser, javascript=True)
    try:
        sign_in(page, site)
        page.goto(f"{site['url']}/tasks")
        page.evaluate("window.notReloaded = true")
        inst = site["engine"].start("approval", {"amount": 777}, business_key="PO-777")
        new_row = page.locator("table.tasks tbody tr", has_text="PO-777")
        new_row.wait_for(timeout=15_000)
        assert page.evaluate("window.notReloaded") is True
        assert inst.id[:8] in new_row.inner_text()
    finally:
        context.close()
