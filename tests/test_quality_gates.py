"""Quality gates: an exclusive gateway with ``quality-gate.*`` properties records every round (score, threshold,
flow taken, reason) in the history, and the instance page shows the rounds and a timeline of who worked when.
Bad property values never stop the instance: the round is recorded with a note.  SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import sys

import pytest
from conftest import row_counts
from helpers import chain, process_xml, script

from engine.agents import AgentConfig
from engine.errors import ModelError
from engine.worker import Worker

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/'
    '20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">\n'
)


def gate_process(pid: str, work: str, props: dict[str, str], condition: str = "score >= bar") -> bytes:
    """start -> work -> gate "Good enough?" -- passed (condition) --> end, -- try again (default) --> work."""
    properties = "".join(f'<camunda:property name="{k}" value="{v}"/>' for k, v in props.items())
    return (
        HEADER + f'<bpmn:process id="{pid}" isExecutable="true">\n<bpmn:startEvent id="start"/>\n{work}\n'
        '<bpmn:exclusiveGateway id="gate" name="Good enough?" default="again"><bpmn:extensionElements>'
        f"<camunda:properties>{properties}</camunda:properties></bpmn:extensionElements></bpmn:exclusiveGateway>"
        '<bpmn:endEvent id="end"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="gate"/>'
        f'<bpmn:sequenceFlow id="pass" name="passed" sourceRef="gate" targetRef="end"><bpmn:conditionExpression>'
        f"{condition.replace('>', '&gt;')}</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="again" name="try again" sourceRef="gate" targetRef="work"/>'
        "</bpmn:process></bpmn:definitions>"
    ).encode()


SCRIPT = (
    '<bpmn:scriptTask id="work" name="Improve" scriptFormat="python"><bpmn:script>'
    "rounds = rounds + 1\nscore = round(0.4 + 0.2 * rounds, 2)\n"
    'why = "draft " + str(rounds) + " reviewed"</bpmn:script></bpmn:scriptTask>'
)
GATE = {"quality-gate.score": "score", "quality-gate.threshold": "bar", "quality-gate.reason": "why"}


def gate_rounds(eng, instance_id: str) -> list[dict]:
    return [h.details for h in eng.history(instance_id) if h.event == "quality_gate"]


def test_a_looping_gate_records_every_round(engine):
    engine.deploy_bytes([("loop.bpmn", gate_process("loop", SCRIPT, GATE))])
    inst = engine.start("loop", {"rounds": 0, "bar": 0.95})
    assert inst.status == "completed"
    rounds = gate_rounds(engine, inst.id)
    assert [
        (r["round"], r["score"], r["threshold"], r["met"], r["flow_id"], r["flow_name"], r["reason"]) for r in rounds
    ] == [
        (1, 0.6, 0.95, False, "again", "try again", "draft 1 reviewed"),
        (2, 0.8, 0.95, False, "again", "try again", "draft 2 reviewed"),
        (3, 1.0, 0.95, True, "pass", "passed", "draft 3 reviewed"),
    ]
    assert all("note" not in r for r in rounds)


def test_a_number_threshold_and_no_reason(engine):
    props = {"quality-gate.score": "score", "quality-gate.threshold": "0.7"}
    engine.deploy_bytes([("lit.bpmn", gate_process("lit", SCRIPT, props, "score >= 0.7"))])
    inst = engine.start("lit", {"rounds": 0})
    assert [(r["round"], r["threshold"], r["met"], r["reason"]) for r in gate_rounds(engine, inst.id)] == [
        (1, 0.7, False, None),
        (2, 0.7, True, None),
    ]


def test_bad_values_are_recorded_with_a_note_and_the_instance_goes_on(engine):
    work = (
        '<bpmn:scriptTask id="work" scriptFormat="python"><bpmn:script>score = "high"\n'
        "done = True</bpmn:script></bpmn:scriptTask>"
    )
    props = {"quality-gate.score": "score", "quality-gate.threshold": "limit", "quality-gate.reason": "why"}
    engine.deploy_bytes([("bad.bpmn", gate_process("bad", work, props, "done"))])
    inst = engine.start("bad")
    assert inst.status == "completed"
    [r] = gate_rounds(engine, inst.id)
    assert (r["round"], r["score"], r["threshold"], r["met"], r["flow_id"]) == (1, None, None, None, "pass")
    assert r["note"] == (
        "score variable 'score' holds 'high', not a number; threshold 'limit' is neither a number "
        "nor a variable that is set; reason variable 'why' is not set"
    )


def test_a_gateway_without_the_properties_records_no_round(engine):
    engine.deploy_bytes([("plain.bpmn", gate_process("plain", SCRIPT, {"colour": "blue"}))])
    inst = engine.start("plain", {"rounds": 0, "bar": 0.7})
    assert inst.status == "completed" and gate_rounds(engine, inst.id) == []


AGENTS = """
def writer(variables, context):
    return {"draft": "v" + str(context.attempt), "_cost": {"tokens": 900}}
"""
REVIEWED = (
    '<bpmn:serviceTask id="work" name="Write draft" camunda:type="external" camunda:topic="writer"/>'
    '<bpmn:userTask id="review" name="Score the draft"/>'
)


@pytest.fixture
def reviewed(engine, tmp_path, monkeypatch):
    """An agent writes, a person scores, the gate loops: two rounds, across several engine calls."""
    (tmp_path / "gateagents.py").write_text(AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    eng = engine
    xml = gate_process("reviewed", REVIEWED, GATE).replace(
        b'targetRef="gate"/>', b'targetRef="review"/><bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="gate"/>'
    )
    eng.deploy_bytes([("reviewed.bpmn", xml)])
    worker = Worker(
        eng, {"writer": AgentConfig(topic="writer", adapter="python", options={"function": "gateagents:writer"})}
    )
    eng.add_user("alice", "user", None, [])
    alice = eng.get_user("alice")
    inst = eng.start("reviewed", {"bar": 0.8})
    for score, why in ((0.5, "the intro is missing"), (0.9, "clear and complete")):
        assert worker.run_once() == 1
        [task] = eng.get_instance(inst.id).tasks
        eng.complete_task(task.id, {"score": score, "why": why}, user=alice)
    yield inst.id
    sys.modules.pop("gateagents", None)


def test_rounds_are_numbered_across_engine_calls(engine, reviewed):
    assert engine.get_instance(reviewed).status == "completed"
    assert [(r["round"], r["score"], r["met"], r["flow_name"], r["reason"]) for r in gate_rounds(engine, reviewed)] == [
        (1, 0.5, False, "try again", "the intro is missing"),
        (2, 0.9, True, "passed", "clear and complete"),
    ]


def test_instance_page_shows_the_rounds_and_the_timeline(client, reviewed):
    html = client.get(f"/instances/{reviewed}").get_data(as_text=True)
    gates = html.split('id="instance-quality-gates"')[1].split("</section>")[0]
    assert '<h2 id="h-gates">Quality gates</h2>' in gates
    assert 'data-gate="gate"' in gates and "Good enough?" in gates and "2 rounds" in gates
    first = gates.split('data-round="1"')[1].split("</tr>")[0]
    assert "0.5" in first and "&lt;" in first and "0.8" in first and "try again" in first
    assert "the intro is missing" in first and "below" in first
    second = gates.split('data-round="2"')[1].split("</tr>")[0]
    assert "0.9" in second and "&ge;" in second and "passed" in second and "clear and complete" in second
    timeline = html.split('id="instance-timeline"')[1].split("</section>")[0]
    assert timeline.count('data-lane="agent writer"') == 1 and timeline.count('data-lane="person alice"') == 1
    assert timeline.count('data-outcome="completed"') == 2  # two calls of the writer
    assert timeline.count('data-outcome="task-completed"') == 2  # two reviews by alice
    assert re.search(r"<title>Write draft · attempt 1 · completed · [0-9.]+ m?s · 900 tokens</title>", timeline)
    assert re.search(r"<title>Score the draft · completed · [0-9.]+ m?s</title>", timeline)
    assert timeline.count('class="tick"') == 5


def test_instance_page_without_work_says_so(client, engine):
    eng = engine
    eng.deploy_bytes([("s.bpmn", process_xml("s", chain(script("x = 1"))))])
    html = client.get(f"/instances/{eng.start('s').id}").get_data(as_text=True)
    assert "No agent or person has worked on this instance yet." in html
    assert 'id="h-gates"' not in html  # no quality gate: no section


@pytest.mark.parametrize(
    ("props", "tag", "message"),
    [
        (
            {"quality-gate.score": "score", "quality-gate.treshold": "0.8"},
            "exclusiveGateway",
            "gateway 'gate' has the unknown property 'quality-gate.treshold'; a quality gate takes quality-gate.score, "
            "quality-gate.threshold, quality-gate.reason",
        ),
        (
            {"quality-gate.threshold": "0.8"},
            "exclusiveGateway",
            "quality gate 'gate' needs 'quality-gate.score' (a variable name)",
        ),
        (
            {"quality-gate.score": "score", "quality-gate.threshold": " "},
            "exclusiveGateway",
            "quality gate 'gate' needs 'quality-gate.threshold' (a variable name or a number)",
        ),
        (
            {"quality-gate.score": "score", "quality-gate.threshold": "0.8"},
            "inclusiveGateway",
            "'gate' (inclusiveGateway) is not an exclusive gateway: quality-gate properties only work on one",
        ),
    ],
)
def test_a_gate_that_cannot_work_is_refused_at_deploy(engine, props, tag, message):
    xml = gate_process("wrong", SCRIPT, props).replace(b"exclusiveGateway", tag.encode())
    before = row_counts(engine)
    with pytest.raises(ModelError) as caught:
        engine.deploy_bytes([("wrong.bpmn", xml)])
    assert message in str(caught.value)
    assert caught.value.details["element_id"] == "gate" and caught.value.details["file"] == "wrong.bpmn"
    assert row_counts(engine) == before


def test_an_open_user_task_runs_to_now_on_the_timeline(client, engine):
    engine.deploy_bytes([("u.bpmn", process_xml("u", chain('<bpmn:userTask id="{id}" name="Check it"/>')))])
    inst = engine.start("u")
    timeline = client.get(f"/instances/{inst.id}").get_data(as_text=True).split('id="instance-timeline"')[1]
    lane = timeline.split('data-lane="person (not done yet)"')[1].split("</g>")[0]
    assert 'data-outcome="task-open"' in lane and "Check it · open ·" in lane
