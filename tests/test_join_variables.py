"""Variables at a parallel or inclusive join (docs/concepts.md, "Variables at a parallel join").

Each branch's changes are found by comparing its variables with the ones at the split; only what a branch
changed, created or deleted is applied at the join, in the order the branches completed (the last one wins
when two branches change the same variable).  Before, every variable took the value of the branch that
arrived last, including stale copies of variables that branch never touched.
"""

from __future__ import annotations

import pytest
from helpers import flows, process_xml


def script(code: str) -> str:
    escaped = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<bpmn:scriptTask id="{{id}}" scriptFormat="python"><bpmn:script>{escaped}</bpmn:script></bpmn:scriptTask>'


def external(topic: str) -> str:
    return f'<bpmn:serviceTask id="{{id}}" camunda:type="external" camunda:topic="{topic}"/>'


USER = '<bpmn:userTask id="{id}"/>'


def split_join(branches: dict[str, str], init: str = "x = 0\ny = 0", kind: str = "parallelGateway") -> bytes:
    """start -> init script -> split -> one element per branch (id = key) -> join -> end."""
    body = [
        '<bpmn:startEvent id="start"/>',
        script(init).replace("{id}", "init"),
        f'<bpmn:{kind} id="split"/>',
        f'<bpmn:{kind} id="join"/>',
        '<bpmn:endEvent id="end"/>',
    ]
    body += [xml.replace("{id}", bid) for bid, xml in branches.items()]
    body.append(
        flows(
            "start>init", "init>split", "join>end", *(f"split>{b}" for b in branches), *(f"{b}>join" for b in branches)
        )
    )
    return process_xml("p", "\n".join(body))


def finish_jobs(eng, results: list[tuple[str, dict]]) -> None:
    """Complete the jobs of these topics in this order, each with its result variables."""
    for topic, variables in results:
        [job] = eng.claim_jobs("w", [topic])
        eng.complete_job(job.id, "w", variables)


def the_task(eng, inst, element: str):
    [task] = [t for t in eng.tasks(instance_id=inst.id) if t.element_id == element]
    return task


@pytest.mark.parametrize("order", [["a", "b"], ["b", "a"]])
def test_service_branches_keep_each_others_changes_in_either_order(engine, order):
    """The reported bug: backend-developer sets x, qa-expert sets y; whichever finishes last must not put
    back the other's variable as it was before the split."""
    engine.deploy_bytes([("p.bpmn", split_join({"A": external("a"), "B": external("b")}))])
    inst = engine.start("p")
    finish_jobs(engine, [(t, {"a": {"x": 1}, "b": {"y": 2}}[t]) for t in order])
    done = engine.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables == {"x": 1, "y": 2}


@pytest.mark.parametrize("order", [["a", "b"], ["b", "a"]])
def test_both_branches_change_the_same_variable_the_last_completed_wins(engine, order):
    engine.deploy_bytes([("p.bpmn", split_join({"A": external("a"), "B": external("b")}))])
    inst = engine.start("p")
    finish_jobs(engine, [(t, {"x": f"from {t}"}) for t in order])
    assert engine.get_instance(inst.id).variables == {"x": f"from {order[-1]}", "y": 0}


def test_a_script_change_survives_a_branch_that_completes_later(engine):
    engine.deploy_bytes([("p.bpmn", split_join({"A": script("x = 1\nz = 'new'"), "B": USER}))])
    inst = engine.start("p")
    done = engine.complete_task(the_task(engine, inst, "B").id, {"y": 2})
    assert done.status == "completed"
    assert done.variables == {"x": 1, "y": 2, "z": "new"}


def test_a_deletion_in_one_branch_stays_deleted(engine):
    engine.deploy_bytes([("p.bpmn", split_join({"A": script("del gone"), "B": USER}, init="gone = 1\nkept = 1"))])
    inst = engine.start("p")
    done = engine.complete_task(the_task(engine, inst, "B").id)
    assert done.variables == {"kept": 1}


def test_inclusive_gateway_join(engine):
    branches = {"A": script("x = 1"), "B": USER, "C": script("never = True")}
    xml = split_join(branches, kind="inclusiveGateway").replace(
        b'<bpmn:sequenceFlow id="sf_split_C" sourceRef="split" targetRef="C"/>',
        b'<bpmn:sequenceFlow id="sf_split_C" sourceRef="split" targetRef="C">'
        b"<bpmn:conditionExpression>x &gt; 5</bpmn:conditionExpression></bpmn:sequenceFlow>",
    )
    engine.deploy_bytes([("p.bpmn", xml)])
    inst = engine.start("p")
    done = engine.complete_task(the_task(engine, inst, "B").id, {"y": 2})
    assert done.status == "completed"
    assert done.variables == {"x": 1, "y": 2}


def test_nested_splits(engine):
    """outer split -> A | (inner split -> B1 | B2 -> inner join) -> outer join."""
    body = "\n".join(
        [
            '<bpmn:startEvent id="start"/>',
            script("x = 0\ny = 0\nw = 0").replace("{id}", "init"),
            '<bpmn:parallelGateway id="split"/>',
            '<bpmn:parallelGateway id="inner"/>',
            '<bpmn:parallelGateway id="innerJoin"/>',
            '<bpmn:parallelGateway id="join"/>',
            USER.replace("{id}", "A"),
            script("y = 1").replace("{id}", "B1"),
            USER.replace("{id}", "B2"),
            script("w = y + 10").replace("{id}", "after"),
            '<bpmn:endEvent id="end"/>',
            flows(
                "start>init",
                "init>split",
                "split>A",
                "split>inner",
                "inner>B1",
                "inner>B2",
                "B1>innerJoin",
                "B2>innerJoin",
                "innerJoin>after",
                "A>join",
                "after>join",
                "join>end",
            ),
        ]
    )
    engine.deploy_bytes([("p.bpmn", process_xml("p", body))])
    inst = engine.start("p")
    engine.complete_task(the_task(engine, inst, "B2").id, {"b2": True})  # inner join: y from B1 survives
    done = engine.complete_task(the_task(engine, inst, "A").id, {"x": 5})  # outer join: A's stale y, w
    assert done.status == "completed"
    assert done.variables == {"x": 5, "y": 1, "w": 11, "b2": True}


def test_join_after_a_multi_instance_in_one_branch(engine):
    mi = (
        '<bpmn:scriptTask id="{id}" scriptFormat="python"><bpmn:multiInstanceLoopCharacteristics '
        'isSequential="true"><bpmn:loopCardinality>2</bpmn:loopCardinality>'
        "</bpmn:multiInstanceLoopCharacteristics><bpmn:script>pass</bpmn:script></bpmn:scriptTask>"
    )
    body = "\n".join(
        [
            '<bpmn:startEvent id="start"/>',
            script("x = 0").replace("{id}", "init"),
            '<bpmn:parallelGateway id="split"/>',
            '<bpmn:parallelGateway id="join"/>',
            mi.replace("{id}", "MI"),
            script("x = 1").replace("{id}", "A2"),
            USER.replace("{id}", "B"),
            '<bpmn:endEvent id="end"/>',
            flows("start>init", "init>split", "split>MI", "MI>A2", "A2>join", "split>B", "B>join", "join>end"),
        ]
    )
    engine.deploy_bytes([("p.bpmn", process_xml("p", body))])
    inst = engine.start("p")
    done = engine.complete_task(the_task(engine, inst, "B").id, {"y": 2})
    assert done.status == "completed"
    assert done.variables["x"] == 1 and done.variables["y"] == 2


def test_join_after_an_embedded_subprocess_in_one_branch(engine):
    sub = (
        '<bpmn:subProcess id="{id}"><bpmn:startEvent id="ss"/>'
        '<bpmn:scriptTask id="st" scriptFormat="python"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'
        '<bpmn:endEvent id="se"/><bpmn:sequenceFlow id="sf1" sourceRef="ss" targetRef="st"/>'
        '<bpmn:sequenceFlow id="sf2" sourceRef="st" targetRef="se"/></bpmn:subProcess>'
    )
    engine.deploy_bytes([("p.bpmn", split_join({"A": sub, "B": USER}))])
    inst = engine.start("p")
    done = engine.complete_task(the_task(engine, inst, "B").id, {"y": 2})
    assert done.status == "completed"
    assert done.variables == {"x": 1, "y": 2}


def test_a_loop_through_the_split_and_join(engine):
    """Each pass a script branch counts and a person reviews; the count must not be reverted by the review."""
    body = "\n".join(
        [
            '<bpmn:startEvent id="start"/>',
            script("n = 0\nreviews = 0").replace("{id}", "init"),
            '<bpmn:parallelGateway id="split"/>',
            '<bpmn:parallelGateway id="join"/>',
            script("n = n + 1").replace("{id}", "count"),
            USER.replace("{id}", "review"),
            '<bpmn:exclusiveGateway id="again" default="sf_again_end"/>',
            '<bpmn:endEvent id="end"/>',
            '<bpmn:sequenceFlow id="sf_again_back" sourceRef="again" targetRef="split">'
            "<bpmn:conditionExpression>n &lt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>",
            flows(
                "start>init",
                "init>split",
                "split>count",
                "split>review",
                "count>join",
                "review>join",
                "join>again",
                "again>end",
            ),
        ]
    )
    engine.deploy_bytes([("p.bpmn", process_xml("p", body))])
    inst = engine.start("p")
    for passed in range(1, 4):
        task = the_task(engine, inst, "review")
        done = engine.complete_task(task.id, {"reviews": passed})
    assert done.status == "completed"
    assert done.variables == {"n": 3, "reviews": 3}
