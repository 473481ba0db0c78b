"""Bad input gets a clear error naming file, line and element, and leaves the database as it was."""

from __future__ import annotations

import threading

import pytest
from conftest import row_counts
from helpers import chain, process_xml, script, user_task

from engine.errors import (
    ConflictError,
    DeploymentError,
    MalformedXMLError,
    ModelError,
    SchemaError,
    TaskAlreadyCompleted,
    TaskNotFound,
    UnsafeXMLError,
    VariableError,
)


@pytest.fixture
def unchanged(engine):
    """Asserts after the test body that no table gained or lost a row."""
    engine.deploy_bytes([("seed.bpmn", process_xml("seed", chain(user_task())))])
    engine.start("seed")
    before = row_counts(engine)
    yield engine
    assert row_counts(engine) == before


def test_malformed_xml(unchanged):
    doc = process_xml("m", chain(script("x = 1"))).replace(b"</bpmn:process>", b"</bpmn:proces>")
    with pytest.raises(MalformedXMLError) as err:
        unchanged.deploy_bytes([("broken.bpmn", doc)])
    assert err.value.file == "broken.bpmn" and err.value.line is not None
    assert "broken.bpmn:" in str(err.value) and "well-formed" in str(err.value)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
<bpmn:process id="bomb" isExecutable="true"><bpmn:startEvent id="s" name="&lol3;"/></bpmn:process>
</bpmn:definitions>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
<bpmn:process id="xxe" isExecutable="true"><bpmn:startEvent id="s" name="&secret;"/></bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("doc", [BOMB, XXE], ids=["entity-bomb", "external-entity"])
def test_entities_and_dtds_are_refused(unchanged, doc):
    with pytest.raises(UnsafeXMLError) as err:
        unchanged.deploy_bytes([("evil.bpmn", doc)])
    assert "not allowed" in str(err.value) and err.value.file == "evil.bpmn"


def test_oversized_file(settings, engine):
    from engine import Engine

    small = Engine(settings.replace(max_xml_bytes=2000))
    try:
        big = process_xml("big", chain(script("x = 1")), extra="<!--" + "x" * 5000 + "-->")
        with pytest.raises(UnsafeXMLError, match="limit"):
            small.deploy_bytes([("big.bpmn", big)])
    finally:
        small.close()


def test_schema_invalid_file(unchanged):
    doc = process_xml("s", chain(script("x = 1"))).replace(b'<bpmn:endEvent id="end"/>',
                                                            b'<bpmn:endEvent id="end" bogus="1"><bpmn:nothing/></bpmn:endEvent>')
    with pytest.raises(SchemaError) as err:
        unchanged.deploy_bytes([("invalid.bpmn", doc)])
    assert err.value.file == "invalid.bpmn" and err.value.line is not None
    assert err.value.element_id == "end"


def test_unknown_element_type(unchanged):
    doc = process_xml("u", chain('<bpmn:complexGateway id="{id}"/>'))
    with pytest.raises(ModelError) as err:
        unchanged.deploy_bytes([("unknown.bpmn", doc)])
    assert err.value.element_id == "S1" and err.value.line is not None
    assert "complexGateway" in str(err.value) or "no support" in str(err.value)


def test_condition_with_syntax_error(unchanged):
    body = """
    <bpmn:startEvent id="start"/>
    <bpmn:exclusiveGateway id="gw" default="f2"/>
    <bpmn:endEvent id="a"/><bpmn:endEvent id="b"/>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="gw"/>
    <bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="a"><bpmn:conditionExpression>amount &gt;</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="b"/>
    """
    with pytest.raises(ModelError) as err:
        unchanged.deploy_bytes([("cond.bpmn", process_xml("cond", body))])
    assert err.value.element_id == "f1" and err.value.line is not None
    assert "amount >" in str(err.value)


def test_call_activity_to_missing_process(unchanged):
    doc = process_xml("c", chain('<bpmn:callActivity id="{id}" calledElement="ghost"/>'))
    with pytest.raises(ModelError, match="ghost") as err:
        unchanged.deploy_bytes([("call.bpmn", doc)])
    assert err.value.element_id == "S1"


def test_business_rule_task_without_decision(unchanged):
    doc = process_xml("br", chain('<bpmn:businessRuleTask id="{id}"/>'))
    with pytest.raises(ModelError, match="decisionRef") as err:
        unchanged.deploy_bytes([("br.bpmn", doc)])
    assert err.value.element_id == "S1"


def test_not_json_serializable_variable(unchanged):
    with pytest.raises(VariableError, match="'when'"):
        unchanged.start("seed", {"when": object()})
    with pytest.raises(VariableError, match="'tags'"):
        unchanged.start("seed", {"tags": {1, 2}})
    [task] = unchanged.tasks()
    with pytest.raises(VariableError):
        unchanged.complete_task(task.id, {"bad": float("nan")})


def test_unknown_task_id(unchanged):
    with pytest.raises(TaskNotFound):
        unchanged.complete_task("00000000-0000-0000-0000-000000000000")


def test_not_a_file(engine, tmp_path):
    with pytest.raises(DeploymentError, match="no such file"):
        engine.deploy([tmp_path / "missing.bpmn"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DeploymentError, match="only .bpmn, .dmn and .form"):
        engine.deploy([tmp_path / "notes.txt"])


def test_completing_a_task_twice(engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task(), user_task("Second"))))])
    inst = engine.start("p")
    [task] = engine.tasks(instance_id=inst.id)
    engine.complete_task(task.id, {"n": 1})
    before = row_counts(engine)
    with pytest.raises(TaskAlreadyCompleted, match="already completed"):
        engine.complete_task(task.id, {"n": 2})
    assert row_counts(engine) == before
    assert engine.get_instance(inst.id).variables == {"n": 1}


def test_concurrent_completion_one_wins(engine):
    """Two threads complete the same task at once: exactly one wins, the other gets a conflict."""
    slow = "total = 0\nfor i in range(200000):\n    total += i"
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task(), script(slow), user_task("Next"))))])
    inst = engine.start("p")
    [task] = engine.tasks(instance_id=inst.id)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def complete(value: int) -> None:
        barrier.wait()
        try:
            results.append(engine.complete_task(task.id, {"who": value}))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=complete, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, ConflictError)]
    assert len(wins) == 1 and len(losses) == 1, results
    final = engine.get_instance(inst.id)
    assert final.variables["who"] == wins[0].variables["who"]
    [next_task] = engine.tasks(instance_id=inst.id)
    assert next_task.name == "Next"
    completed = [h for h in engine.history(inst.id) if h.task_id == task.id and h.event == "activity_completed"]
    assert len(completed) == 1
