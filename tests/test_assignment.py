"""Who works on which user task: assignee, candidate users and groups, lanes; claim and unclaim.

Through the engine (``tasks_for``, ``complete_task(user=...)``) and over REST (``/api/v1/tasks/<id>/claim``),
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from helpers import HEADER, chain, process_xml

from engine import Engine
from engine.errors import AccessDenied, TaskAlreadyCompleted, TaskClaimed, TaskNotFound

C = "http://camunda.org/schema/1.0/bpmn"


def task(attrs: str = "", name: str = "Do it") -> str:
    return f'<bpmn:userTask id="{{id}}" name="{name}" {attrs}/>'


def lanes(**members: list[str]) -> str:
    """A lane set: lane name -> the element ids in it."""
    inner = "".join(f'<bpmn:lane id="Lane_{name}" name="{name}">'
                    + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs) + "</bpmn:lane>"
                    for name, refs in members.items())
    return f'<bpmn:laneSet id="LaneSet_1">{inner}</bpmn:laneSet>'


def deploy(engine, key, body):
    engine.deploy_bytes([(f"{key}.bpmn", process_xml(key, body))])


@pytest.fixture
def people(engine):
    return {
        "alice": engine.add_user("alice", "user", None, ["sales"]),
        "bob": engine.add_user("bob", "user", None, ["support"]),
        "carol": engine.add_user("carol", "user", None, ["sales"]),
        "olga": engine.add_user("olga", "operator", None),
    }


@pytest.fixture
def three_tasks(engine, people):
    """One waiting task each: for group sales, for group support (a lane), and for anyone."""
    deploy(engine, "quote", chain(task('camunda:candidateGroups="sales"', "Price the quote")))
    deploy(engine, "ticket", lanes(support=["start", "S1", "end"]) + chain(task(name="Answer the ticket")))
    deploy(engine, "open", chain(task(name="Anyone")))
    return {key: engine.start(key).tasks[0] for key in ("quote", "ticket", "open")}


def names(tasks) -> set[str]:
    return {t.name for t in tasks}


def test_the_diagram_fills_assignee_and_candidates_when_the_task_becomes_ready(engine):
    attrs = ('camunda:assignee="${owner}" camunda:candidateUsers="bob, ${backup}" '
             'camunda:candidateGroups="${team}, ops"')
    deploy(engine, "p", lanes(reviewers=["start", "S1", "end"]) + chain(task(attrs)))
    inst = engine.start("p", {"owner": "alice", "backup": "carol", "team": "sales"})
    [t] = inst.tasks
    assert (t.assignee, t.candidate_users, t.candidate_groups) == ("alice", ["bob", "carol"],
                                                                   ["sales", "ops", "reviewers"])
    assert engine.get_task(t.id).to_dict()["candidate_groups"] == ["sales", "ops", "reviewers"]


def test_expressions_may_give_lists_and_the_assignment_survives_a_restart(engine, settings):
    deploy(engine, "p", chain(task('camunda:candidateGroups="${teams}" camunda:candidateUsers="${lead}"')))
    again = Engine(settings)  # reads the spec back from the database: the converter kept the assignment texts
    try:
        [t] = again.start("p", {"teams": ["north", "south"], "lead": "dora,eve"}).tasks
    finally:
        again.close()
    assert t.candidate_groups == ["north", "south"] and t.candidate_users == ["dora", "eve"]


def test_zeebe_assignment_definitions_are_feel_expressions(engine):
    ext = ('<bpmn:extensionElements><zeebe:assignmentDefinition xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
           'assignee="=lower case(owner)" candidateGroups="finance"/></bpmn:extensionElements>')
    body = chain(f'<bpmn:userTask id="{{id}}" name="Pay">{ext}</bpmn:userTask>')
    engine.deploy_bytes([("z.bpmn", (HEADER.format(pid="z") + f'<bpmn:process id="z" isExecutable="true">{body}'
                                     "</bpmn:process></bpmn:definitions>").encode())])
    [t] = engine.start("z", {"owner": "ALICE"}).tasks
    assert t.assignee == "alice" and t.candidate_groups == ["finance"]


def test_a_failing_expression_matches_nobody_but_operators_still_see_the_task(engine, people):
    deploy(engine, "p", chain(task('camunda:candidateGroups="${missing_variable}"')))
    inst = engine.start("p")
    assert inst.status == "waiting"
    [t] = inst.tasks
    assert t.candidate_groups == ["${missing_variable}"]
    assert engine.tasks_for(people["alice"]) == []
    assert [x.id for x in engine.tasks_for(people["olga"])] == [t.id]


def test_a_user_sees_only_their_own_and_their_groups_tasks(engine, people, three_tasks):
    assert names(engine.tasks_for(people["alice"])) == {"Price the quote", "Anyone"}
    assert names(engine.tasks_for(people["bob"])) == {"Answer the ticket", "Anyone"}
    assert names(engine.tasks_for(people["olga"])) == {"Price the quote", "Answer the ticket", "Anyone"}
    engine.claim_task(three_tasks["open"].id, people["bob"])
    assert names(engine.tasks_for(people["alice"])) == {"Price the quote"}, "claimed by bob: not for alice"
    assert names(engine.tasks_for(people["bob"], key="open")) == {"Anyone"}
    assert len(engine.tasks_for(people["olga"], limit=2)) == 2


def test_a_user_cannot_complete_or_open_another_groups_task(engine, people, three_tasks):
    quote = three_tasks["quote"]
    assert engine.get_task_for(quote.id, people["alice"]).name == "Price the quote"
    with pytest.raises(AccessDenied):
        engine.get_task_for(quote.id, people["bob"])
    with pytest.raises(AccessDenied, match="group sales; bob is not among them"):
        engine.complete_task(quote.id, {"price": 1}, user=people["bob"])
    assert engine.get_task(quote.id).id == quote.id, "still open"
    assert engine.complete_task(quote.id, {"price": 1}, user=people["alice"]).status == "completed"


def test_claimed_tasks_belong_to_the_claimer_until_unclaimed(engine, people, three_tasks):
    quote = three_tasks["quote"].id
    claimed = engine.claim_task(quote, people["alice"])
    assert claimed.assignee == "alice" and claimed.claimed_at is not None
    with pytest.raises(TaskClaimed, match="already claimed by alice"):
        engine.claim_task(quote, people["carol"])
    with pytest.raises(TaskClaimed, match="assigned to alice"):
        engine.complete_task(quote, {}, user=people["carol"])
    with pytest.raises(AccessDenied, match="only they or an operator"):
        engine.unclaim_task(quote, people["carol"])
    assert engine.unclaim_task(quote, people["alice"]).assignee is None
    assert engine.claim_task(quote, people["carol"]).assignee == "carol"
    assert engine.complete_task(quote, {}, user=people["olga"]).status == "completed", "operators may complete any"
    with pytest.raises(TaskAlreadyCompleted, match="already completed"):
        engine.claim_task(quote, people["alice"])
    with pytest.raises(TaskNotFound):
        engine.claim_task("no-such-task", people["alice"])


# ---- REST ----------------------------------------------------------------------------------------------------------

def test_claim_and_unclaim_over_rest(engine, client_as, three_tasks):
    alice, bob = client_as("user", ["sales"], name="ann"), client_as("user", ["support"], name="ben")
    quote = three_tasks["quote"].id
    resp = bob.post(f"/api/v1/tasks/{quote}/claim")
    assert resp.status_code == 403
    assert resp.get_json()["error"]["message"] == f"task {quote} is for group sales; ben is not among them"
    resp = alice.post(f"/api/v1/tasks/{quote}/claim")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["assignee"] == "ann" and body["candidate_groups"] == ["sales"] and body["claimed_at"]
    assert alice.post(f"/api/v1/tasks/{quote}/claim").status_code == 200, "claiming again is harmless"
    other = client_as("user", ["sales"])
    resp = other.post(f"/api/v1/tasks/{quote}/claim")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "task_claimed"
    assert other.post(f"/api/v1/tasks/{quote}/unclaim").status_code == 403
    resp = alice.post(f"/api/v1/tasks/{quote}/unclaim")
    assert resp.status_code == 200 and resp.get_json()["assignee"] is None
    assert engine.get_task(quote).assignee is None


@pytest.mark.parametrize("task_id, status", [("no-such-task", 404), ("x" * 300, 404), ("a%00b", 404)])
def test_claiming_an_unknown_task_is_a_404(client, task_id, status):
    resp = client.post(f"/api/v1/tasks/{task_id}/claim")
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == "task_not_found"


def test_the_claim_endpoints_are_described_for_openapi():
    from web import claims

    for path in ("/api/v1/tasks/{task_id}/claim", "/api/v1/tasks/{task_id}/unclaim"):
        responses = claims.OPENAPI_PATHS[path]["post"]["responses"]
        assert {"200", "401", "403", "404", "409"} <= set(responses)
