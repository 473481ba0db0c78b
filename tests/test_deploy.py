"""Deploying: versions, unchanged content, drawings, call activities, DMN, all-or-nothing."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, row_counts
from helpers import chain, process_xml, script

from engine.errors import DefinitionNotFound, InvalidStateError, ModelError


def test_deploy_folder_creates_version_one_of_each_process(engine):
    result = engine.deploy([EXAMPLES])
    keys = {d.key: d for d in result.definitions}
    assert {"approval", "parallel_review", "loop", "order", "shipping", "discount", "multi_review"} <= set(keys)
    assert all(d.version == 1 and d.new and d.executable for d in keys.values())
    assert {d["key"] for d in result.decisions} == {"discount_decision"}


def test_identical_content_keeps_its_version_changed_content_gets_next(engine):
    doc = process_xml("p", chain(script("x = 1")))
    first = engine.deploy_bytes([("p.bpmn", doc)])
    again = engine.deploy_bytes([("p.bpmn", doc)])
    assert again.definitions[0].version == 1 and not again.definitions[0].new
    assert not again.changed
    before = row_counts(engine)
    engine.deploy_bytes([("renamed.bpmn", doc)])
    assert row_counts(engine) == before, "byte-identical content under another name stores nothing"
    changed = engine.deploy_bytes([("p.bpmn", process_xml("p", chain(script("x = 2"))))])
    assert changed.definitions[0].version == 2 and changed.definitions[0].new
    assert [d.version for d in engine.definitions(key="p")] == [1, 2]
    assert first.deployment_id != changed.deployment_id


def test_non_executable_process_is_stored_as_drawing(engine):
    result = engine.deploy_bytes([("d.bpmn", process_xml("drawing", chain('<bpmn:task id="{id}"/>'),
                                                          executable=False))])
    [d] = result.definitions
    assert (d.key, d.executable) == ("drawing", False)
    assert [x.key for x in engine.definitions() if not x.executable] == ["drawing"]
    with pytest.raises(InvalidStateError, match="not executable"):
        engine.start("drawing")
    assert "<bpmn:process" in engine.definition_xml("drawing")


def test_call_activity_resolves_to_latest_deployed_version(engine):
    engine.deploy_bytes([("callee.bpmn", process_xml("callee", chain(script("answer = 1"))))])
    caller = process_xml("caller", chain('<bpmn:callActivity id="{id}" calledElement="callee"/>'))
    engine.deploy_bytes([("caller.bpmn", caller)])
    assert engine.start("caller").variables["answer"] == 1
    engine.deploy_bytes([("callee.bpmn", process_xml("callee", chain(script("answer = 2"))))])
    redeployed = engine.deploy_bytes([("caller.bpmn", caller)])
    assert redeployed.definitions[0].version == 2, "a caller bound to an older callee gets a new version"
    assert engine.start("caller").variables["answer"] == 2


def test_decision_deployed_earlier_is_found(engine):
    engine.deploy([EXAMPLES / "discount.dmn"])
    engine.deploy([EXAMPLES / "discount.bpmn"])
    assert engine.start("discount", {"customer_tier": "silver", "total": 10}).variables["discount"] == 0.05


def test_one_bad_file_stores_nothing(engine):
    good = process_xml("good", chain(script("x = 1")))
    bad = process_xml("bad", chain('<bpmn:callActivity id="{id}" calledElement="nowhere"/>'))
    before = row_counts(engine)
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("good.bpmn", good), ("bad.bpmn", bad)])
    assert err.value.file == "bad.bpmn" and err.value.element_id == "S1"
    assert row_counts(engine) == before
    with pytest.raises(DefinitionNotFound):
        engine.start("good")


def test_same_process_id_twice_in_one_deployment(engine):
    doc = process_xml("twice", chain(script("x = 1")))
    with pytest.raises(ModelError, match="defined twice"):
        engine.deploy_bytes([("a.bpmn", doc), ("b.bpmn", doc.replace(b"x = 1", b"x = 2"))])


def test_definition_spec_is_stored_once_and_not_in_instances(engine):
    engine.deploy([EXAMPLES / "approval.bpmn"])
    engine.start("approval", {"amount": 500})
    with engine.db.connect() as conn:
        state = conn.exec_driver_sql("SELECT state FROM instances").scalar()
        spec = conn.exec_driver_sql("SELECT spec FROM process_definitions").scalar()
    assert '"task_specs"' in spec
    assert '"task_specs"' not in state and '"spec"' not in state
