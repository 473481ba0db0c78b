"""Variables at a parallel or inclusive join (docs/concepts.md, "Variables at a parallel join").

Each branch's changes are found by comparing its variables with the ones at the split; only what a branch
changed, created or deleted is applied at the join, in the order the branches completed (the last one wins
when two branches change the same variable).  Before, every variable took the value of the branch that
arrived last, including stale copies of variables that branch never touched.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from helpers import flows, process_xml

from engine.store.tables import Instance


def script(code: str) -> str:
    escaped = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<bpmn:scriptTask id="{{id}}" scriptFormat="python"><bpmn:script>{escaped}</bpmn:script></bpmn:scriptTask>'


def external(topic: str) -> str:
    return f'<bpmn:serviceTask id="{{id}}" camunda:type="external" camunda:topic="{topic}"/>'


USER = '<bpmn:userTask id="{id}"/>'
PARALLEL = "<bpmn:parallelGateway id='{id}'/>"


def diagram(elements: dict[str, str], *pairs: str, extra: str = "") -> bytes:
    """start -> ... -> end: each element's xml with ``{id}`` set to its key, the flows written ``"a>b"``."""
    body = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>', extra]
    body += [xml.replace("{id}", eid) for eid, xml in elements.items()]
    return process_xml("p", "\n".join([*body, flows(*pairs)]))


def split_join(branches: dict[str, str], init: str = "x = 0\ny = 0", kind: str = "parallelGateway") -> bytes:
    """start -> init script -> split -> one element per branch (id = key) -> join -> end."""
    gateway = f'<bpmn:{kind} id="{{id}}"/>'
    elements = {"init": script(init), "split": gateway, "join": gateway, **branches}
    return diagram(
        elements,
        "start>init",
        "init>split",
        "join>end",
        *(f"split>{b}" for b in branches),
        *(f"{b}>join" for b in branches),
    )


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
    elements = {
        "init": script("x = 0\ny = 0\nw = 0"),
        "split": PARALLEL,
        "inner": PARALLEL,
        "innerJoin": PARALLEL,
        "join": PARALLEL,
        "A": USER,
        "B1": script("y = 1"),
        "B2": USER,
        "after": script("w = y + 10"),
    }
    body = diagram(
        elements,
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
    )
    engine.deploy_bytes([("p.bpmn", body)])
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
    elements = {
        "init": script("x = 0"),
        "split": PARALLEL,
        "join": PARALLEL,
        "MI": mi,
        "A2": script("x = 1"),
        "B": USER,
    }
    body = diagram(
        elements, "start>init", "init>split", "split>MI", "MI>A2", "A2>join", "split>B", "B>join", "join>end"
    )
    engine.deploy_bytes([("p.bpmn", body)])
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
    back = (
        '<bpmn:sequenceFlow id="sf_again_back" sourceRef="again" targetRef="split">'
        "<bpmn:conditionExpression>n &lt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>"
    )
    elements = {
        "init": script("n = 0\nreviews = 0"),
        "split": PARALLEL,
        "join": PARALLEL,
        "count": script("n = n + 1"),
        "review": USER,
        "again": '<bpmn:exclusiveGateway id="{id}" default="sf_again_end"/>',
    }
    body = diagram(
        elements,
        "start>init",
        "init>split",
        "split>count",
        "split>review",
        "count>join",
        "review>join",
        "join>again",
        "again>end",
        extra=back,
    )
    engine.deploy_bytes([("p.bpmn", body)])
    inst = engine.start("p")
    for passed in range(1, 4):
        task = the_task(engine, inst, "review")
        done = engine.complete_task(task.id, {"reviews": passed})
    assert done.status == "completed"
    assert done.variables == {"n": 3, "reviews": 3}


@pytest.mark.parametrize("order", [["B", "C"], ["C", "B"]])
def test_three_branches_joined_by_two_gateways(engine, order):
    """split -> A, B, C; A and B meet at a first join, which meets C at a second one."""
    elements = {
        "init": script("x = 0\ny = 0\nz = 0"),
        "split": PARALLEL,
        "j1": PARALLEL,
        "j2": PARALLEL,
        "A": script("x = 1"),
        "B": USER,
        "C": USER,
    }
    engine.deploy_bytes(
        [
            (
                "p.bpmn",
                diagram(
                    elements,
                    "start>init",
                    "init>split",
                    "split>A",
                    "split>B",
                    "split>C",
                    "A>j1",
                    "B>j1",
                    "j1>j2",
                    "C>j2",
                    "j2>end",
                ),
            )
        ]
    )
    inst = engine.start("p")
    for element in order:
        done = engine.complete_task(the_task(engine, inst, element).id, {element.lower(): element})
    assert done.status == "completed"
    assert done.variables == {"x": 1, "y": 0, "z": 0, "b": "B", "c": "C"}


def test_a_branch_that_leaves_through_a_boundary_timer(eng, clock):
    """Branch A's user task times out (interrupting timer): the escalation path's change reaches the join, and
    branch B's change, made before it, is not reverted by A's copy."""
    boundary = (
        '<bpmn:boundaryEvent id="{id}" attachedToRef="work">'
        "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>"
    )
    elements = {
        "init": script("x = 0\ny = 0"),
        "split": PARALLEL,
        "join": PARALLEL,
        "work": USER,
        "late": boundary,
        "escalate": script("x = 'late'"),
        "merge": '<bpmn:exclusiveGateway id="{id}"/>',
        "B": script("y = 2"),
    }
    eng.deploy_bytes(
        [
            (
                "p.bpmn",
                diagram(
                    elements,
                    "start>init",
                    "init>split",
                    "split>work",
                    "work>merge",
                    "late>escalate",
                    "escalate>merge",
                    "merge>join",
                    "split>B",
                    "B>join",
                    "join>end",
                ),
            )
        ]
    )
    inst = eng.start("p")
    clock.advance(3600)
    eng.fire_due_timers()
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables == {"x": "late", "y": 2}


def _forget_join_records(value):
    """The state as an older Baton saved it: no split snapshots or join arrivals in task internal data."""
    if isinstance(value, dict):
        return {
            k: _forget_join_records(v) for k, v in value.items() if not k.startswith(("baton_splits", "baton_join"))
        }
    if isinstance(value, list):
        return [_forget_join_records(v) for v in value]
    return value


def test_an_instance_saved_before_joins_recorded_branches_still_finishes(engine):
    """A branch already waiting at the join in a state saved by an older Baton: the join completes the old
    way (the last branch's variables win) instead of losing or corrupting anything."""
    engine.deploy_bytes([("p.bpmn", split_join({"A": script("x = 1"), "B": USER}))])
    inst = engine.start("p")
    with engine._tx() as conn:
        state = conn.execute(sa.select(Instance.state).where(Instance.id == inst.id)).scalar_one()
        assert "baton_join_arrivals" in state, "branch A waits at the join with its changes"
        old = json.dumps(_forget_join_records(json.loads(state)))
        conn.execute(sa.update(Instance).where(Instance.id == inst.id).values(state=old))
    done = engine.complete_task(the_task(engine, inst, "B").id, {"y": 2})
    assert done.status == "completed"
    assert done.variables == {"x": 0, "y": 2}
