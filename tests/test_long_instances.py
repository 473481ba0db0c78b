"""Long instances: loops of thousands of iterations complete, with full history and a live state that stays small.

SpiffWorkflow alone stops silently after about 500 loop iterations and its state grows with every one; Baton
prunes the finished tasks nothing open needs (``engine/pruning.py``, on by default) and keeps the full record
in the history table.  Every test here runs on SQLite and PostgreSQL.

    BATON_LONG_TESTS=1 pytest tests/test_long_instances.py    # the service-task loop with 10,000 jobs too
"""

from __future__ import annotations

import os
import sys
from collections import Counter

import pytest
from helpers import flows, process_xml
from lxml import etree
from sqlalchemy import select

from engine import Engine, Settings
from engine.agents import AgentConfig
from engine.store.queries import instances
from engine.worker import Worker

SCRIPT_LOOP_ITERATIONS = 10_000
# each iteration of the service loop is a job claimed, run by the agent and completed (~10 ms on SQLite): 2,000
# in the suite and CI, the full 10,000 with BATON_LONG_TESTS=1
SERVICE_LOOP_ITERATIONS = 10_000 if os.environ.get("BATON_LONG_TESTS") else 2_000


def script(eid: str, code: str, extra: str = "", inner: str = "") -> str:
    code = code.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<bpmn:scriptTask id="{eid}" scriptFormat="python"{extra}>{inner}'
            f"<bpmn:script>{code}</bpmn:script></bpmn:scriptTask>")


def loop_back(gateway: str, body_start: str, done: str, condition: str = "n &gt;= limit") -> str:
    """An exclusive gateway leaving to ``done`` when ``condition`` holds, else back to ``body_start``."""
    return (f'<bpmn:exclusiveGateway id="{gateway}" default="sf_{gateway}_{body_start}"/>'
            f'<bpmn:sequenceFlow id="sf_{gateway}_{done}" sourceRef="{gateway}" targetRef="{done}">'
            f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>"
            + flows(f"{gateway}>{body_start}"))


SCRIPT_LOOP = ('<bpmn:startEvent id="start"/>' + script("inc", "n = n + 1") + loop_back("gw", "inc", "end")
               + '<bpmn:endEvent id="end"/>' + flows("start>inc", "inc>gw"))

# the same loop, then a user task: the instance stays open, so its stored state can be compared
LOOP_THEN_WAIT = ('<bpmn:startEvent id="start"/>' + script("inc", "n = n + 1") + loop_back("gw", "inc", "review")
                  + '<bpmn:userTask id="review" name="Review"/><bpmn:endEvent id="end"/>'
                  + flows("start>inc", "inc>gw", "review>end"))

SERVICE_LOOP = ('<bpmn:startEvent id="start"/>'
                '<bpmn:serviceTask id="call" name="Increment" camunda:type="external" camunda:topic="inc"/>'
                + loop_back("gw", "call", "end") + '<bpmn:endEvent id="end"/>' + flows("start>call", "call>gw"))


def deploy(eng: Engine, key: str, body: str) -> None:
    root = etree.fromstring(process_xml(key, body))
    for assoc in list(root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}association")):
        assoc.getparent().append(assoc)  # associations after the flow elements, as the schema wants
    eng.deploy_bytes([(f"{key}.bpmn", etree.tostring(root))])


def stored_state_size(eng: Engine, instance_id: str) -> int:
    """Length of the serialized live state in the instances table."""
    with eng._tx() as conn:
        return len(conn.execute(select(instances.c.state).where(instances.c.id == instance_id)).scalar_one())


def element_events(eng: Engine, instance_id: str) -> Counter[tuple[str | None, str]]:
    return Counter((h.element_id, h.event) for h in eng.history(instance_id))


# ---- a 10,000-iteration script loop ---------------------------------------------------------------------------


def test_script_loop_of_ten_thousand_iterations_completes_with_full_history(engine):
    deploy(engine, "loop", SCRIPT_LOOP)
    inst = engine.start("loop", {"n": 0, "limit": SCRIPT_LOOP_ITERATIONS})
    assert inst.status == "completed", "SpiffWorkflow alone stops silently after ~500 iterations"
    assert inst.variables == {"n": SCRIPT_LOOP_ITERATIONS, "limit": SCRIPT_LOOP_ITERATIONS}
    events = element_events(engine, inst.id)
    assert events[("inc", "activity_completed")] == SCRIPT_LOOP_ITERATIONS
    assert events[("gw", "activity_completed")] == SCRIPT_LOOP_ITERATIONS
    # instance started + start event + 2 per iteration + end event + instance completed
    assert len(engine.history(inst.id)) == 2 * SCRIPT_LOOP_ITERATIONS + 4
    path = engine.instance_path(inst.id)
    assert {"start", "inc", "gw", "end"} <= set(path.completed), "the cockpit still draws every completed element"


def test_stored_state_does_not_grow_with_completed_iterations(engine):
    deploy(engine, "wait", LOOP_THEN_WAIT)
    small = engine.start("wait", {"n": 0, "limit": 100})
    large = engine.start("wait", {"n": 0, "limit": 2_000})
    assert small.status == large.status == "waiting"
    assert large.variables["n"] == 2_000
    small_size, large_size = stored_state_size(engine, small.id), stored_state_size(engine, large.id)
    assert abs(large_size - small_size) <= 64, (small_size, large_size)  # only the counter's digits differ
    [task] = engine.tasks(instance_id=large.id)
    done = engine.complete_task(task.id, {"approved": True})
    assert done.status == "completed" and done.variables["n"] == 2_000


def test_pruning_can_be_turned_off(settings):
    assert Settings.from_env({"BATON_PRUNE_COMPLETED_TASKS": "false"}).prune_completed_tasks is False
    assert Settings.from_env({}).prune_completed_tasks is True
    with Engine(settings.replace(prune_completed_tasks=False)) as eng:
        deploy(eng, "wait", LOOP_THEN_WAIT)
        small = eng.start("wait", {"n": 0, "limit": 10})
        larger = eng.start("wait", {"n": 0, "limit": 100})
        assert stored_state_size(eng, larger.id) > 5 * stored_state_size(eng, small.id), "unpruned state grows"


# ---- a service task loop through the job system ------------------------------------------------------------


AGENT_MODULE = '''
def inc(variables, context):
    return {"n": variables["n"] + 1}
'''


@pytest.fixture
def inc_worker(settings, tmp_path, monkeypatch):
    (tmp_path / "loopagents.py").write_text(AGENT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    eng = Engine(settings)
    agents = {"inc": AgentConfig(topic="inc", adapter="python", options={"function": "loopagents:inc"})}
    try:
        yield eng, Worker(eng, agents, threads=1)
    finally:
        eng.close()
        sys.modules.pop("loopagents", None)


def run_jobs(worker: Worker, count: int) -> None:
    for _ in range(count):
        assert worker.run_once() == 1, "one job per iteration is due"


def test_service_task_loop_through_the_job_system(inc_worker):
    eng, worker = inc_worker
    deploy(eng, "svc", SERVICE_LOOP)
    three = eng.start("svc", {"n": 0, "limit": 3})
    four = eng.start("svc", {"n": 0, "limit": 4})
    run_jobs(worker, 7)
    inst = eng.start("svc", {"n": 0, "limit": SERVICE_LOOP_ITERATIONS})
    run_jobs(worker, SERVICE_LOOP_ITERATIONS)
    assert eng.get_instance(three.id).status == eng.get_instance(four.id).status == "completed"
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables["n"] == SERVICE_LOOP_ITERATIONS
    events = element_events(eng, inst.id)
    assert events[("call", "activity_completed")] == SERVICE_LOOP_ITERATIONS
    assert events[("gw", "activity_completed")] == SERVICE_LOOP_ITERATIONS
    # as many events per iteration as short instances have: nothing is lost or doubled in a long one
    per_iteration = len(eng.history(four.id)) - len(eng.history(three.id))
    assert per_iteration >= 4  # the job's events, the task started and completed, the gateway
    assert len(eng.history(inst.id)) == len(eng.history(three.id)) + per_iteration * (SERVICE_LOOP_ITERATIONS - 3)
    assert worker.run_once() == 0


def test_service_loop_state_is_the_same_size_after_ten_and_after_two_hundred_jobs(inc_worker):
    eng, worker = inc_worker
    deploy(eng, "svc", SERVICE_LOOP)
    inst = eng.start("svc", {"n": 0, "limit": 1_000})
    run_jobs(worker, 10)
    after_10 = stored_state_size(eng, inst.id)
    run_jobs(worker, 190)
    after_200 = stored_state_size(eng, inst.id)
    assert abs(after_200 - after_10) <= 64, (after_10, after_200)


# ---- loops around what pruning must not break -------------------------------------------------------------


def test_loop_inside_an_embedded_subprocess(engine):
    sub = ('<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start"/>' + script("inc", "n = n + 1")
           + loop_back("gw", "inc", "s_end") + '<bpmn:endEvent id="s_end"/>' + flows("s_start>inc", "inc>gw")
           + "</bpmn:subProcess>")
    body = ('<bpmn:startEvent id="start"/>' + sub + '<bpmn:userTask id="review"/><bpmn:endEvent id="end"/>'
            + flows("start>sub", "sub>review", "review>end"))
    deploy(engine, "inner_loop", body)
    inst = engine.start("inner_loop", {"n": 0, "limit": 1_500})  # well past the ~500 iterations SpiffWorkflow manages
    assert inst.status == "waiting" and inst.variables["n"] == 1_500
    assert element_events(engine, inst.id)[("inc", "activity_completed")] == 1_500
    small = engine.start("inner_loop", {"n": 0, "limit": 10})
    assert abs(stored_state_size(engine, inst.id) - stored_state_size(engine, small.id)) <= 64
    [task] = engine.tasks(instance_id=inst.id)
    assert engine.complete_task(task.id).status == "completed"


def test_loop_of_subprocesses_keeps_only_the_open_one(engine):
    sub = ('<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start"/>' + script("inc", "n = n + 1")
           + '<bpmn:endEvent id="s_end"/>' + flows("s_start>inc", "inc>s_end") + "</bpmn:subProcess>")
    body = ('<bpmn:startEvent id="start"/>' + sub + loop_back("gw", "sub", "review")
            + '<bpmn:userTask id="review"/><bpmn:endEvent id="end"/>' + flows("start>sub", "sub>gw", "review>end"))
    deploy(engine, "subs", body)
    inst = engine.start("subs", {"n": 0, "limit": 700})
    small = engine.start("subs", {"n": 0, "limit": 5})
    assert inst.status == "waiting" and inst.variables["n"] == 700
    assert element_events(engine, inst.id)[("sub", "activity_completed")] == 700
    assert abs(stored_state_size(engine, inst.id) - stored_state_size(engine, small.id)) <= 64


def test_loop_with_a_boundary_timer_on_a_task_in_the_loop(eng, clock):
    body = ('<bpmn:startEvent id="start"/><bpmn:userTask id="work" name="Work"/>'
            '<bpmn:boundaryEvent id="late" attachedToRef="work"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
            + script("count", "n = n + 1") + script("remind", "reminders = reminders + 1")
            + loop_back("gw", "work", "end") + '<bpmn:endEvent id="end"/>'
            + flows("start>work", "work>count", "late>remind", "remind>count", "count>gw"))
    deploy(eng, "timed", body)
    inst = eng.start("timed", {"n": 0, "limit": 120, "reminders": 0})
    sizes = []
    for i in range(120):
        if i % 3 == 2:  # every third round the timer fires and the task is left
            clock.advance(3601)
            assert len(eng.fire_due_timers()) == 1
        else:
            [task] = eng.tasks(instance_id=inst.id)
            eng.complete_task(task.id)
        if i in (10, 100):
            sizes.append(stored_state_size(eng, inst.id))
    done = eng.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables["n"] == 120 and done.variables["reminders"] == 40
    events = element_events(eng, inst.id)
    assert events[("late", "activity_completed")] == 40 and events[("work", "activity_cancelled")] == 40
    assert events[("work", "activity_completed")] == 80
    assert abs(sizes[1] - sizes[0]) <= 64, sizes


def test_loop_with_a_parallel_split_and_join_inside(engine):
    body = ('<bpmn:startEvent id="start"/><bpmn:parallelGateway id="split"/>'
            + script("a", "a = n + 1") + script("b", "b = 2 * (n + 1)")
            + '<bpmn:parallelGateway id="join"/>' + script("inc", "n = n + 1")
            + loop_back("gw", "split", "end") + '<bpmn:endEvent id="end"/>'
            + flows("start>split", "split>a", "split>b", "a>join", "b>join", "join>inc", "inc>gw"))
    deploy(engine, "par", body)
    inst = engine.start("par", {"n": 0, "limit": 1_000})
    assert inst.status == "completed"
    assert inst.variables["n"] == 1_000
    events = element_events(engine, inst.id)
    assert events[("a", "activity_completed")] == events[("b", "activity_completed")] == 1_000
    assert events[("join", "activity_completed")] == 1_000, "the join fired once per round, after both paths"


def test_loop_back_into_the_split_gateway_after_a_task_keeps_running_and_stays_bounded(engine):
    """The split gateway itself is the loop's target and its first input is a task, not the start event:
    SpiffWorkflow recognises the next pass by finding that task among the ancestors, so pruning keeps it."""
    body = ('<bpmn:startEvent id="start"/>' + script("init", "n = 0") + '<bpmn:parallelGateway id="split"/>'
            + script("a", "a = n + 1") + script("b", "b = n + 2") + '<bpmn:parallelGateway id="join"/>'
            + '<bpmn:userTask id="work" name="Work"/>' + script("inc", "n = n + 1")
            + loop_back("gw", "split", "end") + '<bpmn:endEvent id="end"/>'
            + flows("start>init", "init>split", "split>a", "split>b", "a>join", "b>join", "join>work", "work>inc",
                    "inc>gw"))
    deploy(engine, "looped_split", body)
    inst = engine.start("looped_split", {"limit": 200})
    sizes = {}
    for step in range(1, 201):
        [task] = engine.tasks(instance_id=inst.id)
        done = engine.complete_task(task.id, {})
        sizes[step] = stored_state_size(engine, inst.id)
        if step < 200:
            assert done.status == "waiting", f"the loop stopped after pass {step}"
    assert done.status == "completed" and done.variables["n"] == 200 and done.variables["a"] == 200
    events = element_events(engine, inst.id)
    assert events[("a", "activity_completed")] == events[("b", "activity_completed")] == 200
    assert abs(sizes[190] - sizes[20]) <= 64, f"state grew from {sizes[20]} to {sizes[190]} bytes"


def test_join_waiting_across_engine_calls_in_a_loop_merges_every_path(engine):
    body = ('<bpmn:startEvent id="start"/><bpmn:parallelGateway id="split"/>'
            + script("a", "seen = {**seen, str(n): True}")
            + '<bpmn:userTask id="approve" name="Approve"/><bpmn:userTask id="sign" name="Sign"/>'
            + '<bpmn:parallelGateway id="join"/>' + script("inc", "n = n + 1")
            + loop_back("gw", "split", "end") + '<bpmn:endEvent id="end"/>'
            + flows("start>split", "split>a", "split>approve", "split>sign", "a>join", "approve>join", "sign>join",
                    "join>inc", "inc>gw"))
    deploy(engine, "wait_join", body)
    inst = engine.start("wait_join", {"n": 0, "seen": {}, "limit": 40})
    for i in range(40):
        first, second = engine.tasks(instance_id=inst.id)
        assert engine.complete_task(first.id, {"first": i}).status == "waiting"  # the join still waits
        current = engine.complete_task(second.id, {"second": i})
    assert current.status == "completed"
    # the script path reaches the join first and the first user task's path second, each in its own engine call;
    # both wait there (pruned in between) until the last path arrives and the join merges them all
    assert current.variables["seen"] == {str(i): True for i in range(40)}
    assert element_events(engine, inst.id)[("join", "activity_completed")] == 40


def test_multi_instance_inside_a_loop(engine):
    mi = ('<bpmn:multiInstanceLoopCharacteristics>'
          '<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>'
          '<bpmn:loopDataOutputRef>doubled</bpmn:loopDataOutputRef>'
          '<bpmn:inputDataItem id="item" name="item"/><bpmn:outputDataItem id="twice" name="twice"/>'
          '</bpmn:multiInstanceLoopCharacteristics>')
    body = ('<bpmn:startEvent id="start"/>' + script("double", "twice = item * 2", inner=mi)
            + script("inc", "n = n + 1\ntotal = total + sum(doubled)\ndoubled = []") + loop_back("gw", "double", "end")
            + '<bpmn:endEvent id="end"/>' + flows("start>double", "double>inc", "inc>gw"))
    deploy(engine, "mi", body)
    inst = engine.start("mi", {"n": 0, "total": 0, "items": [1, 2, 3], "limit": 300})
    assert inst.status == "completed"
    assert inst.variables["n"] == 300 and inst.variables["total"] == 300 * 12
    assert element_events(engine, inst.id)[("double", "activity_completed")] == 300 * 4  # 3 instances + the activity


def test_multi_instance_of_user_tasks_across_engine_calls_inside_a_loop(engine):
    mi = ('<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
          '<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>'
          '<bpmn:loopDataOutputRef>answers</bpmn:loopDataOutputRef>'
          '<bpmn:inputDataItem id="item" name="item"/><bpmn:outputDataItem id="answer" name="answer"/>'
          '</bpmn:multiInstanceLoopCharacteristics>')
    body = ('<bpmn:startEvent id="start"/>' + f'<bpmn:userTask id="ask" name="Ask" camunda:assignee="clerk_${{loopCounter}}">{mi}</bpmn:userTask>'
            + script("inc", "n = n + 1\ntotal = total + sum(answers)\nanswers = []")
            + loop_back("gw", "ask", "end") + '<bpmn:endEvent id="end"/>' + flows("start>ask", "ask>inc", "inc>gw"))
    deploy(engine, "asking", body)
    inst = engine.start("asking", {"n": 0, "total": 0, "items": [1, 2, 3], "limit": 30})
    for i in range(30 * 3):  # one engine call per instance: the completed ones are what the activity counts
        [task] = engine.tasks(instance_id=inst.id)
        assert task.assignee == f"clerk_{i % 3}", "loopCounter counts this round's completed instances"
        current = engine.complete_task(task.id, {"answer": 10})
    assert current.status == "completed"
    assert current.variables["n"] == 30 and current.variables["total"] == 30 * 3 * 10


def test_compensation_after_a_loop_gives_each_handler_its_activity_data(engine):
    book = script("book", "booked = n\nn = n + 1")
    undo = script("unbook", "undone = undone + [booked]", ' isForCompensation="true"')
    prepare = script("prepare", "undone = []")  # after the loop: handlers read it over their activity's data
    body = ('<bpmn:startEvent id="start"/>' + book
            + '<bpmn:boundaryEvent id="book_comp" attachedToRef="book"><bpmn:compensateEventDefinition/>'
            + "</bpmn:boundaryEvent>" + undo
            + '<bpmn:association id="assoc" sourceRef="book_comp" targetRef="unbook"/>'
            + loop_back("gw", "book", "prepare") + prepare
            + '<bpmn:intermediateThrowEvent id="throw"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>'
            + '<bpmn:endEvent id="end"/>' + flows("start>book", "book>gw", "prepare>throw", "throw>end"))
    deploy(engine, "comp", body)
    inst = engine.start("comp", {"n": 0, "limit": 150})
    assert inst.status == "completed"
    assert inst.variables["undone"] == list(reversed(range(150))), "each handler read its own iteration's data"
    assert element_events(engine, inst.id)[("unbook", "activity_completed")] == 150


def test_cockpit_shows_elements_completed_before_pruning(engine):
    deploy(engine, "wait", LOOP_THEN_WAIT)
    inst = engine.start("wait", {"n": 0, "limit": 600})
    path = engine.instance_path(inst.id)
    assert {"start", "inc", "gw"} <= set(path.completed)
    assert path.active == ["review"]
