"""The web pages and the health endpoint through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
import sqlalchemy
from conftest import EXAMPLES
from helpers import chain, process_xml, script

from web import create_app

COLUMNS = ["Instance", "Status", "Process", "Version", "Business key", "Started (UTC)", "Current activity"]


class _Table(HTMLParser):
    """The header cells and the rows (``data-*`` attributes, cell texts) of the first table with ``cls``."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls, self.depth, self.done = cls, 0, False
        self.head: list[str] = []
        self.rows: list[dict] = []
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and not self.done and self.cls in (attrs.get("class") or "").split():
            self.depth = 1
        elif not self.depth:
            return
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self.rows.append({"attrs": attrs, "cells": []})
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            (self.head if self._in_head else self.rows[-1]["cells"]).append(text)
            self._cell = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self.depth, self.done = 0, True

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table(html: str, cls: str = "instances") -> _Table:
    parser = _Table(cls)
    parser.feed(html)
    return parser


def text(html: str) -> str:
    """The page's visible text on one line (tags dropped)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html.replace("<wbr>", ""))).split())


def count(html: str, label: str) -> int:
    found = re.search(rf'count-label">{label}</span>\s*<b>(\d+)</b>', html)
    assert found, f"no count for {label}"
    return int(found.group(1))


@pytest.fixture
def sample(engine):
    """One instance per status reachable without a service task: waiting, completed, failed, cancelled."""
    engine.deploy([EXAMPLES])
    engine.deploy_bytes([("boom.bpmn", process_xml("boom", chain(script("x = 1 / 0", name="Divide"))))])
    waiting = engine.start("approval", {"amount": 500}, business_key="PO-500")
    completed = engine.start("approval", {"amount": 5}, business_key="PO-5")
    failed = engine.start("boom")
    cancelled = engine.cancel(engine.start("approval", {"amount": 900}, business_key="PO-900").id)
    assert [i.status for i in (waiting, completed, failed, cancelled)] == [
        "waiting", "completed", "failed", "cancelled"]
    return {"waiting": waiting, "completed": completed, "failed": failed, "cancelled": cancelled}


def get(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, f"GET {url}: {resp.status_code}\n{resp.get_data(as_text=True)[:2000]}"
    return resp.get_data(as_text=True)


# ---- the list --------------------------------------------------------------------------------------------

def test_root_shows_the_dashboard_with_a_link_to_the_list(client):
    html = get(client, "/")
    assert "<h1>Dashboard</h1>" in html and 'href="/instances"' in html


def test_list_shows_every_instance_with_its_columns(client, sample):
    html = get(client, "/instances")
    t = table(html)
    assert t.head == COLUMNS
    by_id = {r["attrs"]["data-instance"]: r for r in t.rows}
    assert set(by_id) == {i.id for i in sample.values()}

    waiting = sample["waiting"]
    row = by_id[waiting.id]
    assert row["attrs"]["data-status"] == "waiting"
    short, status, process, version, bkey, started, activity = row["cells"]
    assert short == waiting.id[:8]
    assert status == "waiting"
    assert process == "approval Purchase approval"
    assert version == "v1"
    assert bkey == "PO-500"
    assert started == waiting.created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert activity == "Review purchase request"
    assert f'href="/instances/{waiting.id}"' in html

    assert by_id[sample["completed"].id]["cells"][6] == "—"
    assert by_id[sample["cancelled"].id]["cells"][1] == "cancelled"
    assert '<span class="status status-failed">failed</span>' in html


def test_list_shows_newest_first(client, sample):
    ids = [r["attrs"]["data-instance"] for r in table(get(client, "/instances")).rows]
    assert ids == [sample[s].id for s in ("cancelled", "failed", "completed", "waiting")]


def test_failed_row_names_the_failed_element_and_the_error(client, sample):
    row = next(r for r in table(get(client, "/instances")).rows if r["attrs"]["data-status"] == "failed")
    activity = row["cells"][6]
    assert activity.startswith("failed at Divide")
    assert "ZeroDivisionError" in activity and "division by zero" in activity


def test_counts_per_status(client, sample, engine):
    engine.start("approval", {"amount": 700})
    html = get(client, "/instances")
    assert count(html, "all") == 5
    assert {s: count(html, s) for s in ("running", "waiting", "completed", "failed", "cancelled")} == {
        "running": 0, "waiting": 2, "completed": 1, "failed": 1, "cancelled": 1}
    assert 'href="/instances?status=failed"' in html


@pytest.mark.parametrize("status", ["waiting", "completed", "failed", "cancelled"])
def test_filter_by_status(client, sample, status):
    html = get(client, f"/instances?status={status}")
    assert [r["attrs"]["data-instance"] for r in table(html).rows] == [sample[status].id]
    assert f'<option value="{status}" selected>' in html
    assert "Showing 1–1 of 1" in text(html)


def test_filter_by_process_key_and_business_key(client, sample):
    rows = table(get(client, "/instances?key=boom")).rows
    assert [r["attrs"]["data-instance"] for r in rows] == [sample["failed"].id]
    rows = table(get(client, "/instances?key=approval")).rows
    approvals = {sample[s].id for s in ("waiting", "completed", "cancelled")}
    assert {r["attrs"]["data-instance"] for r in rows} == approvals
    rows = table(get(client, "/instances?key=approval&status=completed")).rows
    assert [r["attrs"]["data-instance"] for r in rows] == [sample["completed"].id]
    rows = table(get(client, "/instances?business_key=PO-5")).rows
    assert [r["attrs"]["data-instance"] for r in rows] == [sample["completed"].id]


def test_filters_that_match_nothing_say_so(client, sample):
    html = get(client, "/instances?status=running")
    assert table(html).rows == []
    assert "No instances match these filters" in text(html)
    assert "Clear filters" in html
    html = get(client, "/instances?key=shipping")
    assert table(html).rows == [] and "No instances match these filters" in text(html)


def test_empty_database_explains_how_to_start(client):
    html = get(client, "/instances")
    assert table(html).rows == []
    assert "No process instances yet" in text(html)
    assert "baton start approval" in html
    assert count(html, "all") == 0


def test_paging_through_more_than_one_page(client, engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(script("x = 1"))))])
    started = [engine.start("p").id for _ in range(55)]

    first = get(client, "/instances")
    page1 = [r["attrs"]["data-instance"] for r in table(first).rows]
    assert len(page1) == 50
    assert "Showing 1–50 of 55 · page 1 of 2" in text(first)
    assert 'href="/instances?page=2"' in first and 'rel="prev"' not in first

    second = get(client, "/instances?page=2")
    page2 = [r["attrs"]["data-instance"] for r in table(second).rows]
    assert len(page2) == 5
    assert "Showing 51–55 of 55 · page 2 of 2" in text(second)
    assert 'href="/instances?page=1"' in second and 'rel="next"' not in second
    assert sorted(page1 + page2) == sorted(started)
    assert page1[0] == started[-1] and page2[-1] == started[0]

    by_key = get(client, "/instances?key=p&page=2")  # the total is counted with the filters too
    assert len(table(by_key).rows) == 5 and "Showing 51–55 of 55 · page 2 of 2" in text(by_key)
    assert 'href="/instances?key=p&amp;page=1"' in by_key

    past = get(client, "/instances?page=3")
    assert table(past).rows == [] and "Page 3 is past the end of the list" in text(past)


# ---- bad input never breaks a page -----------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "page=abc", "page=", "page=-3", "page=0", "page=1.5", "page=1e9", "page=99999999999999999999999999",
    "status=bogus", "status=", "status=FAILED", "status=failed&status=waiting", "key=%00", "key=a%00b",
    "key=" + "k" * 5000, "business_key=%00", "business_key=%27%20OR%201%3D1%20--", "key=%3Cscript%3E",
    "unknown=1", "page=%00",
])
def test_bad_query_parameters_give_a_page_not_an_error(client, sample, query):
    html = get(client, f"/instances?{query}")
    assert "<script>" not in html


def test_an_unknown_status_is_ignored_with_a_notice(client, sample):
    html = get(client, "/instances?status=bogus")
    assert len(table(html).rows) == 4
    assert "Unknown status “bogus” was ignored" in text(html)


@pytest.mark.parametrize("path", [
    "/instances/nope", "/instances/%00", "/instances/%27%20OR%20%271%27%3D%271", "/instances/" + "x" * 500,
    "/instances/00000000-0000-0000-0000-000000000000", "/no/such/page",
])
def test_unknown_instance_or_page_is_a_404_page(client, sample, path):
    html = get(client, path, status=404)
    assert "Not found" in html and "Back to the instance list" in html


def test_unknown_instance_message_names_the_id(client):
    html = get(client, "/instances/does-not-exist", status=404)
    assert "no instance has id &#39;does-not-exist&#39;" in html


# ---- the instance page -----------------------------------------------------------------------------------

def test_instance_page_of_a_waiting_instance(client, sample, engine):
    inst = sample["waiting"]
    html = get(client, f"/instances/{inst.id}")
    page = text(html)
    assert inst.id in page and '<span class="status status-waiting status-lg">waiting</span>' in html
    assert "approval version 1" in page
    assert "PO-500" in page
    assert inst.created_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert "not ended" in page

    [task] = engine.tasks(instance_id=inst.id)
    tasks = table(html, "tasks")
    assert [r["cells"] for r in tasks.rows] == [
        [f"Review purchase request {task.element_id} · userTask complete with baton complete {task.id}",
         task.created_at.strftime("%Y-%m-%d %H:%M:%S")]]

    variables = table(html, "variables")
    assert variables.head == ["Name", "Value"]
    assert {r["cells"][0]: r["cells"][1] for r in variables.rows} == {"amount": "500"}

    events = re.findall(r'data-event="([a-z_]+)"', html)
    assert events[0] == "instance_started" and "task_created" in events
    started = re.search(r'<li class="event event-instance_started".*?</li>', html, re.S).group(0)
    assert "Instance started" in started
    for pair in ('variables: {"amount": 500}', "business key: PO-500", "version: 1"):  # JSONB reorders keys
        assert pair in text(started)


def test_instance_page_of_a_completed_instance(client, sample):
    inst = sample["completed"]
    html = get(client, f"/instances/{inst.id}")
    variables = {r["cells"][0]: r["cells"][1] for r in table(html, "variables").rows}
    assert variables == {"amount": "5", "approved": "true", "status": '"auto-approved"'}
    events = re.findall(r'data-event="([a-z_]+)"', html)
    assert events[0] == "instance_started" and events[-1] == "instance_completed"
    assert "activity_completed" in events
    assert "No task is waiting for a person" in text(html)
    assert inst.ended_at.strftime("%Y-%m-%d %H:%M:%S") in text(html)


def test_instance_page_of_a_failed_instance_shows_the_error(client, sample):
    inst = sample["failed"]
    html = get(client, f"/instances/{inst.id}")
    page = text(html)
    assert "Failed at Divide S1" in page
    assert inst.error["message"] in page
    assert "ZeroDivisionError" in page and "not ended: stopped at the error, can be retried" in page
    assert f"error: {inst.error['message']}" in page  # the failure events show the message, not the raw dict
    assert "error_type" not in page
    assert f"baton retry {inst.id}" in page
    events = re.findall(r'data-event="([a-z_]+)"', html)
    assert "activity_failed" in events and events[-1] == "instance_failed"
    assert "This instance has no variables" in page


def test_instance_page_of_a_cancelled_instance(client, sample):
    html = get(client, f"/instances/{sample['cancelled'].id}")
    assert '<span class="status status-cancelled status-lg">cancelled</span>' in html
    assert re.findall(r'data-event="([a-z_]+)"', html)[-1] == "instance_cancelled"
    assert "PO-900" in text(html)


def test_variables_are_escaped_and_nested_values_shown_as_json(client, engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(script("x = 1"))))])
    inst = engine.start("p", {"html": "<b>bold</b>", "nested": {"a": [1, 2]}, "nothing": None})
    html = get(client, f"/instances/{inst.id}")
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    variables = {r["cells"][0]: r["cells"][1] for r in table(html, "variables").rows}
    assert variables["nested"] == '{"a": [1, 2]}'  # short values stay on one line
    assert variables["nothing"] == "null" and variables["x"] == "1"


def test_long_variable_values_are_indented(client, engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(script("x = 1"))))])
    inst = engine.start("p", {"order": {"lines": [{"sku": f"SKU-{n}", "quantity": n} for n in range(3)]}})
    html = get(client, f"/instances/{inst.id}")
    value = re.search(r'<tr data-variable="order">.*?<pre class="value">(.*?)</pre>', html, re.S).group(1)
    assert value.startswith('{\n  &#34;lines&#34;: [\n  '), value


def test_parallel_instances_of_one_task_are_listed_once(client, engine):
    engine.deploy([EXAMPLES])
    inst = engine.start("multi_review", {"reviewers": ["ann", "bob", "cy"]})
    [row] = table(get(client, "/instances")).rows
    assert row["cells"][6] == "Review ×3"
    assert "Review ×3" in text(get(client, f"/instances/{inst.id}"))
    assert len(table(get(client, f"/instances/{inst.id}"), "tasks").rows) == 3


# ---- health ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/health", "/healthz"])
def test_health_is_ok_when_the_database_answers(client, engine, path):
    resp = client.get(path)
    assert resp.status_code == 200
    assert resp.is_json
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["database"] == engine.db.dialect.name
    assert body["schema"] == body["schema_needed"]


@pytest.mark.parametrize("path", ["/api/v1/health", "/healthz"])
def test_health_is_503_when_the_database_is_unreachable(engine, path):
    client = create_app({"SECRET_KEY": "tests"}, engine=engine).test_client()
    engine.db.dispose()
    engine.db = sqlalchemy.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    resp = client.get(path)
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["error"]


def test_pages_are_503_when_the_database_is_unreachable(engine, client):
    engine.db.dispose()
    engine.db = sqlalchemy.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    html = get(client, "/instances", status=503)
    assert "Service unavailable" in html and "the database cannot be reached" in html


def test_health_is_503_when_the_schema_is_not_current(engine):
    client = create_app({"SECRET_KEY": "tests"}, engine=engine).test_client()
    engine.db.dispose()
    engine.db = sqlalchemy.create_engine("sqlite://")  # an empty database: no schema at all
    resp = client.get("/api/v1/health")
    assert resp.status_code == 503
    assert resp.get_json()["status"] == "degraded" and resp.get_json()["schema"] is None
