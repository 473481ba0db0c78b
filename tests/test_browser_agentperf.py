"""The instance page's timeline and quality gates, and the dashboard's Agents panel, in a real headless Chromium.

Real agents (Python functions) run by a real worker: a writer that fails its first call then succeeds, a critic
whose score rises each round, a quality gate that loops until the score meets the threshold, then a person
approves.  Screenshots (1366x768) go to ``test-artifacts/`` (``agentperf-*.png``).
"""

from __future__ import annotations

import shutil
import sys
import threading

import pytest
from test_browser import ARTIFACTS, browser, chromium_path, fits_the_screen, login, page  # noqa: F401  (fixtures)
from werkzeug.serving import make_server

from engine import Engine, Settings
from engine.agents import AgentConfig
from engine.worker import Worker
from web import create_app

pytestmark = pytest.mark.browser

AGENTS = """
import time

def writer(variables, context):
    time.sleep(0.3)
    if context.attempt == 1 and variables.get("drafts", 0) == 0:
        raise RuntimeError("model overloaded, try later")
    return {"drafts": variables.get("drafts", 0) + 1, "_cost": {"tokens": 1500, "usd": 0.02}}

def critic(variables, context):
    time.sleep(0.2)
    score = round(0.35 + 0.25 * variables["drafts"], 2)
    reason = "examples missing" if score < 0.8 else "clear, complete, with examples"
    return {"score": score, "reason": reason, "_cost": {"tokens": 400}}
"""
PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
<bpmn:process id="docs" name="Write the docs" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:serviceTask id="write" name="Write a draft" camunda:type="external" camunda:topic="writer"/>
  <bpmn:serviceTask id="critique" name="Critique the draft" camunda:type="external" camunda:topic="critic"/>
  <bpmn:exclusiveGateway id="gate" name="Good enough?" default="again">
    <bpmn:extensionElements><camunda:properties>
      <camunda:property name="quality-gate.score" value="score"/>
      <camunda:property name="quality-gate.threshold" value="0.8"/>
      <camunda:property name="quality-gate.reason" value="reason"/>
    </camunda:properties></bpmn:extensionElements>
  </bpmn:exclusiveGateway>
  <bpmn:userTask id="approve" name="Approve the docs"/>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="write"/>
  <bpmn:sequenceFlow id="f2" sourceRef="write" targetRef="critique"/>
  <bpmn:sequenceFlow id="f3" sourceRef="critique" targetRef="gate"/>
  <bpmn:sequenceFlow id="pass" name="good enough" sourceRef="gate" targetRef="approve"><bpmn:conditionExpression>score &gt;= 0.8</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="again" name="rewrite" sourceRef="gate" targetRef="write"/>
  <bpmn:sequenceFlow id="f4" sourceRef="approve" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(scope="module")
def worked_site(tmp_path_factory, sqlite_template):
    folder = tmp_path_factory.mktemp("browser-agentperf")
    (folder / "docagents.py").write_text(AGENTS)
    sys.path.insert(0, str(folder))
    shutil.copy(sqlite_template, folder / "baton.db")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'baton.db'}",
        script_timeout=2.0,
        auto_migrate=False,
        job_backoff_base=0.01,
        job_backoff_cap=0.05,
    )
    engine = Engine(settings)
    engine.add_user("admin", "admin", "admin-password")
    engine.add_user("alice", "user", "alice-password")
    engine.deploy_bytes([("docs.bpmn", PROCESS.encode())])
    worker = Worker(
        engine,
        {
            t: AgentConfig(topic=t, adapter="python", options={"function": f"docagents:{t}"})
            for t in ("writer", "critic")
        },
    )
    inst = engine.start("docs", {"drafts": 0})
    while not engine.get_instance(inst.id).tasks:
        worker.run_once()
    [task] = engine.get_instance(inst.id).tasks
    engine.complete_task(task.id, {"approved": True}, user=engine.get_user("alice"))
    server = make_server("127.0.0.1", 0, create_app({"SECRET_KEY": "browser tests"}, engine=engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-agentperf-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "instance": inst.id, "engine": engine}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        engine.close()
        sys.path.remove(str(folder))
        sys.modules.pop("docagents", None)


def test_instance_page_timeline_and_quality_gates(page, worked_site):  # noqa: F811
    login(page, worked_site["url"])
    page.goto(f"{worked_site['url']}/instances/{worked_site['instance']}")
    timeline = page.locator("#instance-timeline svg.gantt")
    assert timeline.is_visible()
    lanes = [lane.get_attribute("data-lane") for lane in timeline.locator("g.lane").all()]
    assert lanes == ["agent writer", "agent critic", "person alice"]
    writer = timeline.locator('g[data-lane="agent writer"] rect')
    assert [r.get_attribute("data-outcome") for r in writer.all()] == ["failed", "completed", "completed"]
    assert [r.get_attribute("data-attempt") for r in writer.all()] == ["1", "2", "1"]  # the retry is its own bar
    assert "model overloaded" in writer.first.locator("title").text_content()
    assert "1500 tokens" in writer.nth(1).locator("title").text_content()
    # bars run left to right in time, each at least visible
    xs = [float(r.get_attribute("x")) for r in writer.all()]
    assert xs == sorted(xs) and all(b["width"] >= 1 for b in (r.bounding_box() for r in writer.all()))
    assert timeline.locator("text.tick").count() == 5
    gates = page.locator("#instance-quality-gates")
    assert gates.locator("h3").inner_text().startswith("Good enough?")
    rows = gates.locator("tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("td").nth(0).inner_text() for i in range(2)] == ["1", "2"]
    first, second = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert "0.6 < 0.8" in first and "rewrite" in first and "examples missing" in first
    assert "0.85 ≥ 0.8" in second and "good enough" in second and "clear, complete" in second
    fits_the_screen(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "agentperf-instance.png"), full_page=True)


def test_dashboard_agents_panel(page, worked_site):  # noqa: F811
    login(page, worked_site["url"])
    page.goto(f"{worked_site['url']}/dashboard")
    panel = page.locator("#panel-agents")
    assert panel.is_visible()
    writer = panel.locator('tr[data-agent="writer"]')
    assert writer.locator('[data-figure="calls"]').inner_text() == "3"
    assert writer.locator('[data-figure="success"]').inner_text() == "67%"
    assert writer.locator('[data-figure="retries"]').inner_text() == "1"
    assert writer.locator('[data-figure="cost"]').inner_text() == "3000 tokens, 0.04 usd"
    assert panel.locator("svg.bars g.bar").count() == 2
    fits_the_screen(page)
    page.screenshot(path=str(ARTIFACTS / "agentperf-dashboard.png"), full_page=True)
