"""Stored instance states stay loadable: golden states written by earlier Baton versions."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree
from SpiffWorkflow.util.task import TaskState

from engine.bpmn_parser import BatonParser
from engine.scripting import RestrictedScriptEngine
from engine.serialization import STATE_FORMAT, dump_spec, dump_state, load_spec, load_state

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "fixtures"


def parsed(path: str, key: str):
    parser = BatonParser()
    parser.add_bpmn_xml(etree.parse(str(ROOT / path)).getroot(), filename=path)
    return parser.get_spec(key), parser.get_subprocess_specs(key)


def test_golden_waiting_instance_loads_and_continues():
    golden = json.loads((GOLDEN / "golden_approval_waiting.json").read_text())
    assert golden["format"] == STATE_FORMAT, "the state format changed: add a migration for older states"
    spec, subs = load_spec(json.loads(json.dumps(dump_spec(*parsed(golden["process"], golden["key"])))))
    workflow = load_state(json.dumps(golden["state"]), spec, subs)
    workflow.script_engine = RestrictedScriptEngine()
    [task] = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
    assert task.task_spec.bpmn_id == "Task_Review"
    task.data.update({"approved": False})
    task.run()
    workflow.do_engine_steps()
    assert workflow.completed
    assert workflow.data["status"] == "rejected" and workflow.data["amount"] == 250


def test_state_does_not_embed_the_spec_and_round_trips():
    spec, subs = parsed("bpmn/examples/approval.bpmn", "approval")
    golden = json.loads((GOLDEN / "golden_approval_waiting.json").read_text())
    workflow = load_state(json.dumps(golden["state"]), spec, subs)
    text = dump_state(workflow)
    assert "task_specs" not in text
    assert json.loads(text) == golden["state"]
