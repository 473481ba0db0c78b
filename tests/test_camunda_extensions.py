"""Camunda extensions on Camunda-Modeler style diagrams: business rule task results, properties, forms."""

from __future__ import annotations

import pytest
from helpers import chain, process_xml

from engine.errors import ModelError

DMN = '''<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="{id}" name="{id}">
    <decisionTable id="t_{id}" hitPolicy="{policy}">
      <input id="i1" label="Amount"><inputExpression id="ie1" typeRef="number"><text>amount</text></inputExpression></input>
      {outputs}
      {rules}
    </decisionTable>
  </decision>
</definitions>'''


def dmn(decision: str, policy: str, outputs: list[str], rules: list[tuple[str, list[str]]]) -> bytes:
    outs = "".join(f'<output id="o{n}" name="{o}" typeRef="string"/>' for n, o in enumerate(outputs))
    body = "".join(f'<rule id="r{n}"><inputEntry id="re{n}"><text>{test}</text></inputEntry>'
                   + "".join(f'<outputEntry id="oe{n}_{m}"><text>{v}</text></outputEntry>' for m, v in enumerate(values))
                   + "</rule>" for n, (test, values) in enumerate(rules))
    return DMN.format(id=decision, policy=policy, outputs=outs, rules=body).encode()


def rule_task(attrs: str) -> str:
    return f'<bpmn:businessRuleTask id="{{id}}" name="Decide" {attrs}/>'


COLLECT = dmn("fees", "COLLECT", ["fee"], [("&gt; 0", ['"base"']), ("&gt; 100", ['"large"']), ("&lt; 0", ['"x"'])])
SINGLE = dmn("tier", "UNIQUE", ["tier", "note"], [("&gt; 100", ['"gold"', '"big"']), ("&lt;= 100", ['"std"', '""'])])


@pytest.mark.parametrize(("decision", "mapping", "expected"), [
    ("fees", "resultList", [{"fee": "base"}, {"fee": "large"}]),
    ("fees", "collectEntries", ["base", "large"]),
    ("tier", "singleResult", {"tier": "gold", "note": "big"}),
    ("tier", None, [{"tier": "gold", "note": "big"}]),  # resultList is Camunda's default
])
def test_result_variable_shaped_by_map_decision_result(eng, decision, mapping, expected):
    attrs = f'camunda:decisionRef="{decision}" camunda:resultVariable="result"'
    if mapping:
        attrs += f' camunda:mapDecisionResult="{mapping}"'
    eng.deploy_bytes([("fees.dmn", COLLECT), ("tier.dmn", SINGLE), ("p.bpmn", process_xml("p", chain(rule_task(attrs))))])
    inst = eng.start("p", {"amount": 500})
    assert inst.status == "completed"
    assert inst.variables == {"amount": 500, "result": expected}  # only the result variable is set


def test_single_entry_and_its_errors(eng):
    one = dmn("one", "COLLECT", ["fee"], [("&gt; 0", ['"base"']), ("&gt; 100", ['"large"'])])
    eng.deploy_bytes([("one.dmn", one), ("p.bpmn", process_xml("p", chain(rule_task(
        'camunda:decisionRef="one" camunda:resultVariable="fee" camunda:mapDecisionResult="singleEntry"'))))])
    assert eng.start("p", {"amount": 5}).variables["fee"] == "base"
    assert eng.start("p", {"amount": -5}).variables["fee"] is None
    failed = eng.start("p", {"amount": 500})  # two rules match: singleEntry cannot hold both
    assert failed.status == "failed" and failed.error["element_id"] == "S1"
    assert "at most one matching rule" in failed.error["message"]


def test_without_result_variable_outputs_become_variables(eng):
    eng.deploy_bytes([("tier.dmn", SINGLE), ("p.bpmn", process_xml("p", chain(rule_task('camunda:decisionRef="tier"'))))])
    assert eng.start("p", {"amount": 5}).variables == {"amount": 5, "tier": "std", "note": ""}


@pytest.mark.parametrize(("attrs", "message"), [
    ('camunda:mapDecisionResult="everything"', "not one of resultList"),
    ('camunda:decisionRefBinding="version"', "not supported"),
    ('camunda:resultVariable="not a name"', "not a valid variable name"),
])
def test_bad_decision_settings_fail_the_deployment(eng, attrs, message):
    with pytest.raises(ModelError, match=message) as err:
        eng.deploy_bytes([("tier.dmn", SINGLE), ("p.bpmn", process_xml("p", chain(rule_task(
            f'camunda:decisionRef="tier" {attrs}'))))])
    assert err.value.element_id == "S1" and err.value.line


def test_decision_ref_binding_deployment_needs_the_decision_in_the_same_deployment(eng):
    eng.deploy_bytes([("tier.dmn", SINGLE)])
    task = rule_task('camunda:decisionRef="tier" camunda:decisionRefBinding="deployment"')
    with pytest.raises(ModelError, match="not in this deployment"):
        eng.deploy_bytes([("p.bpmn", process_xml("p", chain(task)))])
    eng.deploy_bytes([("tier.dmn", SINGLE), ("p.bpmn", process_xml("p", chain(task)))])
    assert eng.start("p", {"amount": 500}).variables["tier"] == "gold"


def scheduled_task(attrs: str) -> str:
    return f'<bpmn:userTask id="{{id}}" name="Review" camunda:assignee="${{owner}}" {attrs}/>'


def test_due_follow_up_and_priority_in_the_task_api_sorted_and_filtered(engine, client):
    import datetime as dt

    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(scheduled_task(
        'camunda:dueDate="${due}" camunda:followUpDate="P1D" camunda:priority="${prio}"'))))])
    early = engine.start("p", {"owner": "ann", "due": "2026-01-05T10:00:00Z", "prio": 10})
    late = engine.start("p", {"owner": "bob", "due": "2030-01-01", "prio": 90})
    none = engine.start("p", {"owner": "cy", "due": None, "prio": None})
    items = client.get("/api/v1/tasks?processKey=p").get_json()["items"]
    by_instance = {t["instance_id"]: t for t in items}
    assert by_instance[early.id]["due"] == "2026-01-05T10:00:00+00:00"
    assert by_instance[late.id]["due"] == "2030-01-01T00:00:00+00:00"
    assert by_instance[none.id]["due"] is None and by_instance[none.id]["priority"] is None
    assert by_instance[early.id]["priority"] == 10 and by_instance[early.id]["assignee"] == "ann"
    follow_up = dt.datetime.fromisoformat(by_instance[early.id]["follow_up"])
    created = dt.datetime.fromisoformat(by_instance[early.id]["created_at"])
    assert abs((follow_up - created) - dt.timedelta(days=1)) < dt.timedelta(seconds=5)

    by_due = client.get("/api/v1/tasks?processKey=p&sortBy=due").get_json()["items"]
    assert [t["instance_id"] for t in by_due] == [early.id, late.id, none.id]
    by_priority = client.get("/api/v1/tasks?processKey=p&sortBy=priority").get_json()["items"]
    assert [t["instance_id"] for t in by_priority] == [late.id, early.id, none.id]
    overdue = client.get("/api/v1/tasks?processKey=p&dueBefore=2027-01-01T00:00:00Z").get_json()
    assert overdue["total"] == 1 and overdue["items"][0]["instance_id"] == early.id
    assert client.get("/api/v1/tasks?sortBy=whenever").status_code == 400
    page = client.get("/tasks").get_data(as_text=True)  # the tasklist page shows when each task is due
    assert 'datetime="2026-01-05T10:00:00+00:00"' in page and "priority 10" in page


@pytest.mark.parametrize(("attrs", "message"), [
    ('camunda:dueDate="next tuesday"', "camunda:dueDate 'next tuesday' is neither"),
    ('camunda:priority="high"', "camunda:priority 'high' is not a whole number"),
])
def test_bad_due_dates_and_priorities_fail_the_deployment(eng, attrs, message):
    with pytest.raises(ModelError, match=message) as err:
        eng.deploy_bytes([("p.bpmn", process_xml("p", chain(scheduled_task(attrs))))])
    assert err.value.element_id == "S1" and err.value.line


AGENT = '''
def echo(variables, context):
    return {"seen": dict(context.properties), "inputs": sorted(variables)}
'''
PROPS = ('<bpmn:extensionElements><camunda:properties><camunda:property name="model" value="gpt-x"/>'
         '<camunda:property name="mode" value="fast"/></camunda:properties>{more}</bpmn:extensionElements>')


def test_properties_reach_the_agent_and_show_on_job_and_task(engine, client, tmp_path, monkeypatch):
    import sys

    from engine.agents import AgentConfig
    from engine.worker import Worker

    (tmp_path / "propagents.py").write_text(AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    io = '<camunda:inputOutput><camunda:inputParameter name="x">${amount}</camunda:inputParameter></camunda:inputOutput>'
    service = (f'<bpmn:serviceTask id="{{id}}" camunda:type="external" camunda:topic="echo">'
               f'{PROPS.format(more=io)}</bpmn:serviceTask>')
    user = f'<bpmn:userTask id="{{id}}" name="Check">{PROPS.format(more="")}</bpmn:userTask>'
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(service, user)))])
    inst = engine.start("p", {"amount": 3})
    [job] = engine.jobs(instance_id=inst.id)
    assert job.properties == {"model": "gpt-x", "mode": "fast"} and job.to_dict()["properties"]["mode"] == "fast"
    node = Worker(engine, {"echo": AgentConfig(topic="echo", adapter="python",
                                               options={"function": "propagents:echo"})})
    try:
        assert node.run_once() == 1
    finally:
        sys.modules.pop("propagents", None)
    assert engine.get_instance(inst.id).variables["seen"] == {"model": "gpt-x", "mode": "fast"}
    [task] = client.get(f"/api/v1/tasks?instanceId={inst.id}").get_json()["items"]
    assert task["properties"] == {"model": "gpt-x", "mode": "fast"}


def test_form_data_default_values_may_be_expressions_evaluated_when_the_task_is_created(eng):
    fields = ('<camunda:formField id="qty" label="Quantity" type="long" defaultValue="${amount * 2}"/>'
              '<camunda:formField id="who" label="Who" type="string" defaultValue="${customer.upper()}"/>'
              '<camunda:formField id="note" label="Note" type="string" defaultValue="plain text"/>'
              '<camunda:formField id="broken" label="Broken" type="string" defaultValue="${missing}"/>')
    task = (f'<bpmn:userTask id="{{id}}" name="Order"><bpmn:extensionElements><camunda:formData>{fields}'
            '</camunda:formData></bpmn:extensionElements></bpmn:userTask>')
    eng.deploy_bytes([("p.bpmn", process_xml("p", chain(task)))])
    inst = eng.start("p", {"amount": 4, "customer": "acme"})
    [open_task] = eng.tasks(instance_id=inst.id)
    defaults = {f["id"]: f["default"] for f in open_task.form["fields"]}
    assert defaults == {"qty": 8, "who": "ACME", "note": "plain text", "broken": None}
    done = eng.complete_task(open_task.id, {})  # every default applies, typed
    assert done.variables["qty"] == 8 and done.variables["who"] == "ACME" and "broken" not in done.variables


def test_a_camunda_modeler_loan_diagram_end_to_end(engine):
    """inputOutput map + output, decision with singleEntry, assignee / priority expressions, due date, formData
    with an expression default, properties, then an asyncBefore call activity with in/out mappings."""
    from pathlib import Path

    from engine.worker import Worker

    folder = Path(__file__).parent / "fixtures" / "camunda_extensions"
    engine.deploy([folder / "loan.bpmn", folder / "risk.dmn"])
    inst = engine.start("loan", {"owner": "dana", "amount": 5000, "income": 20000, "years": 4})
    assert inst.status == "waiting"
    assert inst.variables == {"owner": "dana", "amount": 5000, "income": 20000, "years": 4, "score": 12,
                              "risk": "high"}
    [task] = engine.tasks(instance_id=inst.id)
    assert (task.assignee, task.candidate_groups, task.priority) == ("dana", ["credit"], 80)
    assert task.due is not None and task.properties == {"checklist": "id, income, history"}
    assert {f["id"]: f["default"] for f in task.form["fields"]} == {"approved": None, "limit": 5000,
                                                                      "channel": "mail"}
    waiting = engine.complete_task(task.id, {"approved": "true", "channel": "phone"})
    assert waiting.status == "running" and [a["element_id"] for a in waiting.active] == ["Activity_Notify"]
    [job] = engine.jobs(instance_id=inst.id)
    assert job.topic == "baton:continue" and job.element_name == "Notify customer"
    assert Worker(engine, agents={}).run_once() == 1
    done = engine.get_instance(inst.id)
    assert done.status == "completed"
    assert done.variables["notice"] == "approved by phone" and done.variables["limit"] == 5000
    assert "outcome" not in done.variables and "message" not in done.variables
