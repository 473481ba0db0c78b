"""/engine-rest through Flask's test client, on SQLite and PostgreSQL: shapes, filters, errors, access.

Each response is checked against the field names of Camunda 7's REST reference (ProcessDefinitionDto,
ProcessInstanceDto, TaskDto, LockedExternalTaskDto, ExternalTaskDto, VariableValueDto) and each error against
Camunda's ``{"type", "message"}`` with its status code.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from conftest import signed_in_client
from helpers import chain, flows, process_xml, user_task

R = "/engine-rest"
FIXTURES = Path(__file__).parent / "fixtures" / "engine_rest"
CARD = """
<bpmn:startEvent id="start"/>
<bpmn:serviceTask id="charge" name="Charge card" camunda:type="external" camunda:topic="card"/>
<bpmn:boundaryEvent id="declined" attachedToRef="charge"><bpmn:errorEventDefinition errorRef="Err"/></bpmn:boundaryEvent>
<bpmn:userTask id="sorry" name="Apologize"/>
<bpmn:endEvent id="paid"/><bpmn:endEvent id="not_paid"/>
""" + flows("start>charge", "charge>paid", "declined>sorry", "sorry>not_paid")
ERR = '<bpmn:error id="Err" errorCode="DECLINED"/>'
DEFINITION_FIELDS = {"id", "key", "category", "description", "name", "version", "resource", "deploymentId",
                     "diagram", "suspended", "tenantId", "versionTag", "historyTimeToLive", "startableInTasklist"}
INSTANCE_FIELDS = {"links", "id", "definitionId", "definitionKey", "businessKey", "caseInstanceId", "ended",
                   "suspended", "tenantId"}
TASK_FIELDS = {"id", "name", "assignee", "owner", "created", "lastUpdated", "due", "followUp", "delegationState",
               "description", "executionId", "parentTaskId", "priority", "processDefinitionId",
               "processDefinitionKey", "processInstanceId", "caseExecutionId", "caseDefinitionId",
               "caseInstanceId", "taskDefinitionKey", "suspended", "formKey", "camundaFormRef", "tenantId"}
JOB_FIELDS = {"activityId", "activityInstanceId", "errorMessage", "executionId", "id", "lockExpirationTime",
              "processDefinitionId", "processDefinitionKey", "processDefinitionVersionTag", "processInstanceId",
              "tenantId", "retries", "suspended", "workerId", "topicName", "priority", "businessKey"}


def _error(resp, status: int, kind: str = "InvalidRequestException", mentions: str = "") -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["type"] == kind and isinstance(body["message"], str)
    assert mentions in body["message"], body["message"]
    return body


def _deploy(client, *files: tuple[str, bytes], **form: str):
    data = {**form, **{f"part{i}": (io.BytesIO(content), name) for i, (name, content) in enumerate(files)}}
    return client.post(f"{R}/deployment/create", data=data, content_type="multipart/form-data")


@pytest.fixture
def deployed(client):
    resp = _deploy(client, ("ask.bpmn", process_xml("ask", chain(user_task("Ask")))),
                   ("card.bpmn", process_xml("card", CARD, extra=ERR)), **{"deployment-name": "d1"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _start(client, key: str, variables=None, **body):
    resp = client.post(f"{R}/process-definition/key/{key}/start", json={"variables": variables or {}, **body})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


# ---- deployment and definitions -----------------------------------------------------------------------------


def test_deployment_lists_only_new_definitions_and_names_problems(client, deployed):
    assert deployed["name"] == "d1" and deployed["source"] == "engine-rest"
    assert {d["key"] for d in deployed["deployedProcessDefinitions"].values()} == {"ask", "card"}
    for def_id, d in deployed["deployedProcessDefinitions"].items():
        assert set(d) == DEFINITION_FIELDS and d["id"] == def_id and d["deploymentId"] == deployed["id"]
    same = _deploy(client, ("ask.bpmn", process_xml("ask", chain(user_task("Ask")))))
    assert same.status_code == 200 and same.get_json()["deployedProcessDefinitions"] is None
    changed = _deploy(client, ("ask.bpmn", process_xml("ask", chain(user_task("Ask again")))))
    [new] = changed.get_json()["deployedProcessDefinitions"].values()
    assert new["version"] == 2
    body = _error(_deploy(client, ("bad.bpmn", b"<bpmn:definitions")), 400, "ParseException")
    assert body["details"]["file"] == "bad.bpmn"
    _error(_deploy(client, ("notes.txt", b"hello")), 400, mentions="notes.txt")
    _error(client.post(f"{R}/deployment/create", json={}), 400, mentions="multipart")
    _error(_deploy(client, ("ask.bpmn", b"x"), **{"enable-duplicate-filtering": "maybe"}), 400,
           mentions="enable-duplicate-filtering")


def test_definitions_filters_paging_count_and_lookups(client, deployed):
    _deploy(client, ("ask.bpmn", process_xml("ask", chain(user_task("Ask again")))))
    every = client.get(f"{R}/process-definition").get_json()
    assert [(d["key"], d["version"]) for d in every] == [("ask", 1), ("ask", 2), ("card", 1)]
    assert [d["version"] for d in client.get(f"{R}/process-definition?key=ask&latestVersion=true").get_json()] == [2]
    assert [d["key"] for d in client.get(f"{R}/process-definition?version=2").get_json()] == ["ask"]
    assert [d["key"] for d in client.get(f"{R}/process-definition?name=card").get_json()] == ["card"]
    page = client.get(f"{R}/process-definition?firstResult=1&maxResults=1").get_json()
    assert [(d["key"], d["version"]) for d in page] == [("ask", 2)]
    assert client.get(f"{R}/process-definition/count?key=ask").get_json() == {"count": 2}
    latest = client.get(f"{R}/process-definition/key/ask").get_json()
    assert latest["version"] == 2 and set(latest) == DEFINITION_FIELDS
    assert client.get(f"{R}/process-definition/{latest['id']}").get_json() == latest
    xml = client.get(f"{R}/process-definition/key/card/xml").get_json()
    assert set(xml) == {"id", "bpmn20Xml"} and 'camunda:topic="card"' in xml["bpmn20Xml"]
    _error(client.get(f"{R}/process-definition/key/nope"), 404, mentions="nope")
    _error(client.get(f"{R}/process-definition/999999"), 404)
    _error(client.get(f"{R}/process-definition?maxResults=lots"), 400, mentions="maxResults")
    _error(client.get(f"{R}/process-definition?latestVersion=yes"), 400, mentions="latestVersion")


def test_start_with_typed_variables_by_key_and_by_id(client, deployed):
    started = _start(client, "ask", {"n": {"value": 7, "type": "Integer"}, "big": {"value": "9000000000",
                                                                                  "type": "Long"},
                                     "obj": {"value": '{"a": [1]}', "type": "Object",
                                             "valueInfo": {"serializationDataFormat": "application/json",
                                                           "objectTypeName": "java.util.HashMap"}},
                                     "plain": {"value": "untyped"}},
                     businessKey="B-1", withVariablesInReturn=True)
    assert set(started) == INSTANCE_FIELDS | {"variables"}
    assert started["businessKey"] == "B-1" and started["definitionKey"] == "ask"
    assert started["variables"]["big"] == {"type": "Long", "value": 9000000000, "valueInfo": {}}
    assert started["variables"]["obj"]["value"] == {"a": [1]}
    assert started["variables"]["plain"]["type"] == "String"
    definition_id = started["definitionId"]
    by_id = client.post(f"{R}/process-definition/{definition_id}/start", json={}).get_json()
    assert by_id["definitionId"] == definition_id and "variables" not in by_id
    _error(client.post(f"{R}/process-definition/key/ask/start",
                       json={"variables": {"n": {"value": "seven", "type": "Integer"}}}), 400, mentions="variables.n")
    _error(client.post(f"{R}/process-definition/key/ask/start",
                       json={"variables": {"f": {"value": "AAE=", "type": "Bytes"}}}), 400, mentions="variables.f")
    _error(client.post(f"{R}/process-definition/key/ask/start",
                       json={"variables": {"o": {"value": "rO0AB", "type": "Object", "valueInfo": {
                           "serializationDataFormat": "application/x-java-serialized-object"}}}}), 400,
           mentions="serializationDataFormat")
    _error(client.post(f"{R}/process-definition/key/ask/start",
                       json={"variables": {"d": {"value": "next tuesday", "type": "Date"}}}), 400,
           mentions="yyyy-MM-dd")
    _error(client.post(f"{R}/process-definition/key/ask/start",
                       json={"variables": {"x": {"value": 1, "type": "Currency"}}}), 400, mentions="variables.x.type")
    _error(client.post(f"{R}/process-definition/key/ask/start", json={"variables": {"1x": {"value": 1}}}), 400,
           mentions="1x")
    _error(client.post(f"{R}/process-definition/key/ghost/start", json={}), 404, mentions="ghost")


# ---- process instances and variables ------------------------------------------------------------------------


def test_instances_filters_count_paging_and_delete(client, deployed):
    a = _start(client, "ask", {"color": {"value": "red"}, "n": {"value": 1}}, businessKey="A")
    b = _start(client, "ask", {"color": {"value": "blue"}, "n": {"value": 2}}, businessKey="B")
    c = _start(client, "card", {"color": {"value": "red"}})

    def ids(query: str) -> set[str]:
        resp = client.get(f"{R}/process-instance{query}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        for item in resp.get_json():
            assert set(item) == INSTANCE_FIELDS
        return {i["id"] for i in resp.get_json()}

    assert ids("") == {a["id"], b["id"], c["id"]}
    assert ids("?processDefinitionKey=ask") == {a["id"], b["id"]}
    assert ids(f"?processDefinitionId={a['definitionId']}") == {a["id"], b["id"]}
    assert ids("?businessKey=B") == {b["id"]}
    assert ids(f"?processInstanceIds={a['id']},{c['id']}") == {a["id"], c["id"]}
    assert ids("?variables=color_eq_red") == {a["id"], c["id"]}
    assert ids("?variables=color_eq_red,n_eq_1") == {a["id"]}
    assert len(ids("?maxResults=2")) == 2 and len(ids("?firstResult=2")) == 1
    assert client.get(f"{R}/process-instance/count?processDefinitionKey=ask").get_json() == {"count": 2}
    client.post(f"/api/v1/instances/{b['id']}/suspend")
    assert ids("?suspended=true") == {b["id"]} and ids("?active=true") == {a["id"], c["id"]}
    got = client.get(f"{R}/process-instance/{a['id']}").get_json()
    assert got["id"] == a["id"] and got["ended"] is False and set(got) == INSTANCE_FIELDS
    assert client.delete(f"{R}/process-instance/{a['id']}").status_code == 204
    assert client.get(f"{R}/process-instance/{a['id']}").get_json()["ended"] is True
    assert ids("") == {b["id"], c["id"]}  # finished instances live in history, as in Camunda
    _error(client.get(f"{R}/process-instance/nope"), 404, mentions="nope")
    _error(client.delete(f"{R}/process-instance/nope"), 404)
    _error(client.get(f"{R}/process-instance?variables=color_like_re%25"), 400, mentions="eq")
    _error(client.get(f"{R}/process-instance?active=true&suspended=true"), 400, mentions="suspended")


def test_instance_variables_read_modify_delete(client, deployed):
    inst = _start(client, "ask", {"n": {"value": 1}, "doc": {"value": {"k": "v"}, "type": "Json"},
                                  "gone": {"value": "x"}})
    url = f"{R}/process-instance/{inst['id']}/variables"
    values = client.get(url).get_json()
    assert values["n"] == {"type": "Integer", "value": 1, "valueInfo": {}}
    assert values["doc"]["value"] == {"k": "v"} and values["doc"]["type"] == "Object"
    raw = client.get(f"{url}?deserializeValues=false").get_json()
    assert raw["doc"]["value"] == '{"k": "v"}'
    resp = client.post(url, json={"modifications": {"n": {"value": 2, "type": "Integer"},
                                                    "when": {"value": "2026-01-31T12:00:00.000+0000",
                                                             "type": "Date"}},
                                  "deletions": ["gone"]})
    assert resp.status_code == 204
    values = client.get(url).get_json()
    assert values["n"]["value"] == 2 and "gone" not in values
    assert values["when"]["value"] == "2026-01-31T12:00:00.000+00:00"
    assert client.put(f"{url}/flag", json={"value": "true", "type": "Boolean"}).status_code == 204
    assert client.get(f"{url}/flag").get_json() == {"type": "Boolean", "value": True, "valueInfo": {}}
    assert client.delete(f"{url}/flag").status_code == 204
    _error(client.get(f"{url}/flag"), 404, mentions="flag")
    _error(client.post(url, json={"modifications": {"n": {"value": 2.5, "type": "Integer"}}}), 400,
           mentions="modifications.n")
    _error(client.post(url, json={"deletions": "gone"}), 400, mentions="deletions")
    _error(client.get(f"{url}?deserializeValues=maybe"), 400, mentions="deserializeValues")
    client.delete(f"{R}/process-instance/{inst['id']}")
    _error(client.put(f"{url}/n", json={"value": 3}), 400, "BadUserRequestException", "finished")


# ---- tasks ---------------------------------------------------------------------------------------------------


GROUP_TASK = '<bpmn:userTask id="{id}" name="Review" camunda:candidateGroups="accounting"/>'


def test_tasks_filters_claim_complete_and_who_sees_what(app, client, deployed):
    _deploy(client, ("review.bpmn", process_xml("review", chain(GROUP_TASK))))
    ask = _start(client, "ask", {"x": {"value": 1}})
    review = _start(client, "review")
    every = client.get(f"{R}/task").get_json()
    assert len(every) == 2 and all(set(t) == TASK_FIELDS for t in every)
    [t] = client.get(f"{R}/task?processInstanceId={ask['id']}").get_json()
    assert t["name"] == "Ask" and t["taskDefinitionKey"] == "S1" and t["processDefinitionKey"] == "ask"
    [r] = client.get(f"{R}/task?processDefinitionKey=review").get_json()
    assert r["processInstanceId"] == review["id"] and r["name"] == "Review"
    assert len(client.get(f"{R}/task?taskDefinitionKey=S1").get_json()) == 2
    assert [x["name"] for x in client.get(f"{R}/task?candidateGroup=accounting").get_json()] == ["Review"]
    assert [x["name"] for x in client.get(f"{R}/task?name=Ask").get_json()] == ["Ask"]
    assert client.get(f"{R}/task/count").get_json() == {"count": 2}
    app.extensions["baton"].add_user("carol", "user", None, ["accounting"])
    # carol may work on the open task and on her group's task; dave (sales) only on the open one
    assert {x["name"] for x in client.get(f"{R}/task?candidateUser=carol").get_json()} == {"Ask", "Review"}
    assert {x["name"] for x in client.get(f"{R}/task?candidateUser=dave").get_json()} == {"Ask"}
    carol = signed_in_client(app, "user", ("accounting",), name="carol")
    dave = signed_in_client(app, "user", ("sales",), name="dave")
    [review_task] = [x for x in carol.get(f"{R}/task").get_json() if x["name"] == "Review"]
    assert review_task["processInstanceId"] == review["id"]
    assert "Review" not in {x["name"] for x in dave.get(f"{R}/task").get_json()}
    _error(dave.post(f"{R}/task/{review_task['id']}/claim", json={"userId": "carol"}), 403,
           "AuthorizationException", "carol")
    assert carol.post(f"{R}/task/{review_task['id']}/claim", json={"userId": "carol"}).status_code == 204
    assert client.get(f"{R}/task?assignee=carol").get_json()[0]["id"] == review_task["id"]
    _error(dave.post(f"{R}/task/{review_task['id']}/complete", json={}), 400, "TaskAlreadyClaimedException", "carol")
    assert carol.post(f"{R}/task/{review_task['id']}/unclaim").status_code == 204
    assert client.get(f"{R}/task/{review_task['id']}").get_json()["assignee"] is None
    done = carol.post(f"{R}/task/{review_task['id']}/complete",
                      json={"variables": {"ok": {"value": True, "type": "Boolean"}}, "withVariablesInReturn": True})
    assert done.status_code == 200 and done.get_json() == {"ok": {"type": "Boolean", "value": True, "valueInfo": {}}}
    form = client.get(f"{R}/task/{t['id']}/form-variables").get_json()
    assert form["x"] == {"type": "Integer", "value": 1, "valueInfo": {}}
    _error(client.get(f"{R}/task/nope"), 404)
    _error(client.post(f"{R}/task/{t['id']}/claim", json={}), 400, mentions="userId")
    _error(client.post(f"{R}/task/{t['id']}/complete", json={"variables": {"v": {"value": 1, "type": "File"}}}),
           400, mentions="variables.v")


# ---- messages and signals ------------------------------------------------------------------------------------

WAIT = """
<bpmn:startEvent id="start"/>
<bpmn:intermediateCatchEvent id="catch"><bpmn:messageEventDefinition messageRef="M"/></bpmn:intermediateCatchEvent>
<bpmn:userTask id="after" name="After"/>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="catch"/>
<bpmn:sequenceFlow id="f2" sourceRef="catch" targetRef="after"/>
<bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/>
"""
SIGNALLED = WAIT.replace('<bpmn:messageEventDefinition messageRef="M"/>', '<bpmn:signalEventDefinition signalRef="S"/>')


def test_message_correlation_by_keys_and_signal(client):
    resp = _deploy(client, ("wait.bpmn", process_xml("wait", WAIT, extra='<bpmn:message id="M" name="Go"/>')),
                   ("sig.bpmn", process_xml("sig", SIGNALLED, extra='<bpmn:signal id="S" name="Now"/>')))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    one = _start(client, "wait", {"order": {"value": 1}})
    two = _start(client, "wait", {"order": {"value": 2}})
    resp = client.post(f"{R}/message", json={"messageName": "Go", "correlationKeys": {
        "order": {"value": 2, "type": "Integer"}}, "processVariables": {"paid": {"value": True}}})
    assert resp.status_code == 204
    assert client.get(f"{R}/process-instance/{two['id']}/variables/paid").get_json()["value"] is True
    assert client.get(f"{R}/task?processInstanceId={two['id']}").get_json()[0]["name"] == "After"
    assert client.get(f"{R}/task?processInstanceId={one['id']}").get_json() == []
    _error(client.post(f"{R}/message", json={"messageName": "Go", "correlationKeys": {"order": {"value": 9}}}), 400,
           "RestException", "Go")
    _error(client.post(f"{R}/message", json={"messageName": "Go", "processInstanceId": one["id"]}), 400,
           mentions="processInstanceId")
    _error(client.post(f"{R}/message", json={}), 400, mentions="messageName")
    sig = _start(client, "sig")
    assert client.post(f"{R}/signal", json={"name": "Now", "variables": {"s": {"value": "x"}}}).status_code == 204
    assert client.get(f"{R}/task?processInstanceId={sig['id']}").get_json()[0]["name"] == "After"
    _error(client.post(f"{R}/signal", json={"variables": {}}), 400, mentions="name")


# ---- external tasks -------------------------------------------------------------------------------------------


def _fetch(client, worker="w1", topic="card", **topic_extra):
    resp = client.post(f"{R}/external-task/fetchAndLock", json={
        "workerId": worker, "maxTasks": 5, "usePriority": True, "sorting": None,
        "topics": [{"topicName": topic, "lockDuration": 60_000, "processVariables": {},
                    "deserializeValues": True, "includeExtensionProperties": True, **topic_extra}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_external_task_fetch_complete_and_variables(client, deployed):
    first = _start(client, "card", {"amount": {"value": 30, "type": "Integer"}}, businessKey="K1")
    second = _start(client, "card", {"amount": {"value": 40}, "cart": {"value": {"items": 2}, "type": "Json"}},
                    businessKey="K2")
    [other] = _fetch(client, worker="w9", businessKey="K2", deserializeValues=False)
    assert other["processInstanceId"] == second["id"]
    assert other["variables"]["cart"]["value"] == '{"items": 2}'  # Object values as JSON text by default
    [task] = _fetch(client, businessKey="K1", variables=["amount"])
    assert set(task) == (JOB_FIELDS - {"suspended"}) | {"errorDetails", "variables", "extensionProperties",
                                                        "artifacts"}  # Baton's addition (docs/agents.md#artifacts)
    assert task["artifacts"] == {}
    assert task["processInstanceId"] == first["id"] and task["retries"] is None and task["workerId"] == "w1"
    assert task["variables"] == {"amount": {"type": "Integer", "value": 30, "valueInfo": {}}}
    assert task["activityId"] == "charge" and task["processDefinitionKey"] == "card"
    assert task["lockExpirationTime"].endswith("+0000")
    assert _fetch(client, processDefinitionKey="other") == []
    _error(client.post(f"{R}/external-task/fetchAndLock", json={"workerId": "w1", "topics": [{
        "topicName": "card", "lockDuration": 1000, "processVariables": {"amount": 40}}]}), 400,
        mentions="topics[0].processVariables")
    _error(client.post(f"{R}/external-task/{task['id']}/complete", json={"workerId": "w2"}), 400, mentions="w1")
    resp = client.post(f"{R}/external-task/{task['id']}/complete", json={
        "workerId": "w1", "variables": {"receipt": {"value": '{"no": 5}', "type": "Json"}}, "localVariables": {}})
    assert resp.status_code == 204
    instance = client.get(f"/api/v1/instances/{first['id']}").get_json()
    assert instance["status"] == "completed" and instance["variables"]["receipt"] == {"no": 5}
    _error(client.post(f"{R}/external-task/{task['id']}/complete", json={"workerId": "w1"}), 404)


def test_external_task_failure_bpmn_error_lock_and_reading(client, deployed):
    inst = _start(client, "card")
    [task] = _fetch(client)
    url = f"{R}/external-task/{task['id']}"
    assert client.post(f"{url}/extendLock", json={"workerId": "w1", "newDuration": 120_000}).status_code == 204
    [listed] = client.get(f"{R}/external-task?workerId=w1").get_json()
    assert set(listed) == JOB_FIELDS and listed["id"] == task["id"] and listed["lockExpirationTime"]
    assert client.get(f"{R}/external-task/count?locked=true").get_json() == {"count": 1}
    assert client.get(f"{R}/external-task/count?notLocked=true").get_json() == {"count": 0}
    assert client.post(f"{url}/unlock").status_code == 204
    assert client.get(url).get_json()["workerId"] is None
    [task] = _fetch(client)
    resp = client.post(f"{url}/failure", json={"workerId": "w1", "errorMessage": "down", "errorDetails": "trace",
                                               "retries": 1, "retryTimeout": 0})
    assert resp.status_code == 204
    got = client.get(url).get_json()
    assert got["retries"] == 1 and got["errorMessage"] == "down" and got["workerId"] is None
    [task] = _fetch(client)
    assert task["retries"] == 1
    resp = client.post(f"{url}/bpmnError", json={"workerId": "w1", "errorCode": "DECLINED", "errorMessage": "no",
                                                 "variables": {"reason": {"value": "limit", "type": "String"}}})
    assert resp.status_code == 204
    [sorry] = client.get(f"{R}/task?processInstanceId={inst['id']}").get_json()
    assert sorry["name"] == "Apologize"
    assert client.get(f"{R}/process-instance/{inst['id']}/variables/reason").get_json()["value"] == "limit"
    _error(client.get(url), 404)
    _error(client.post(f"{R}/external-task/fetchAndLock", json={"workerId": "w", "topics": []}), 400,
           mentions="topics")
    _error(client.post(f"{R}/external-task/fetchAndLock", json={"topics": [{"topicName": "t", "lockDuration": 1}]}),
           400, mentions="workerId")
    _error(client.post(f"{R}/external-task/x/bpmnError", json={"workerId": "w"}), 400, mentions="errorCode")
    _error(client.get(f"{R}/external-task?locked=sometimes"), 400, mentions="locked")


def test_failure_to_zero_retries_is_an_incident_with_no_retries_left(client, deployed):
    _start(client, "card")
    [task] = _fetch(client)
    client.post(f"{R}/external-task/{task['id']}/failure", json={"workerId": "w1", "errorMessage": "gone",
                                                                 "retries": 0, "retryTimeout": 0})
    [job] = client.get(f"{R}/external-task?noRetriesLeft=true").get_json()
    assert job["id"] == task["id"] and job["retries"] == 0
    assert client.get(f"{R}/external-task/count?withRetriesLeft=true").get_json() == {"count": 0}
    assert client.get("/api/v1/incidents").get_json()[0]["message"] == "gone"


def test_long_asyncResponseTimeout_is_shortened_not_refused(app, client, deployed):
    app.config["BATON_LONG_POLLS"] = 0  # no slot: the answer comes at once, but the body is accepted
    resp = client.post(f"{R}/external-task/fetchAndLock", json={
        "workerId": "w", "asyncResponseTimeout": 600_000, "topics": [{"topicName": "none", "lockDuration": 1000}]})
    assert resp.status_code == 200 and resp.get_json() == []


# ---- access ------------------------------------------------------------------------------------------------------


def _basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_basic_and_bearer_auth_and_roles(app, anonymous, client_as, deployed):
    engine = app.extensions["baton"]
    engine.add_user("op", "operator", "op-secret-1")
    engine.add_user("plain", "user", "plain-secret-1")
    resp = anonymous.get(f"{R}/process-definition")
    _error(resp, 401, "AuthenticationException")
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="baton"'
    _error(anonymous.get(f"{R}/process-definition", headers=_basic("op", "nope")), 401, "AuthenticationException",
           "wrong user name or password")
    _error(anonymous.get(f"{R}/process-definition", headers={"Authorization": "Basic !!!"}), 401,
           "AuthenticationException", "base64")
    assert anonymous.get(f"{R}/process-definition", headers=_basic("op", "op-secret-1")).status_code == 200
    fetch = {"workerId": "w", "topics": [{"topicName": "card", "lockDuration": 1000}]}
    assert anonymous.post(f"{R}/external-task/fetchAndLock", json=fetch,
                          headers=_basic("op", "op-secret-1")).status_code == 200  # no CSRF token for Basic
    _error(anonymous.post(f"{R}/external-task/fetchAndLock", json=fetch, headers=_basic("plain", "plain-secret-1")),
           403, "AuthorizationException", "operator")
    user = client_as("user")
    assert user.post(f"{R}/process-definition/key/ask/start", json={}).status_code == 200
    _error(user.post(f"{R}/deployment/create", data={}), 403, "AuthorizationException", "admin")
    _error(client_as("operator").delete(f"{R}/process-instance/x"), 404)
    _error(user.delete(f"{R}/process-instance/x"), 403, "AuthorizationException")
    engine.disable_user("op")
    _error(anonymous.get(f"{R}/process-definition", headers=_basic("op", "op-secret-1")), 401,
           "AuthenticationException")
    assert anonymous.get("/", headers=_basic("plain", "plain-secret-1")).status_code == 302  # pages: sessions only


def test_engine_version_and_unknown_paths(client):
    assert client.get(f"{R}/engine").get_json() == [{"name": "default"}]
    assert client.get(f"{R}/version").get_json()["version"].startswith("7.")
    _error(client.get(f"{R}/no-such-resource"), 404)
    _error(client.put(f"{R}/engine"), 405)
    _error(client.post(f"{R}/message", data="{not json", content_type="application/json"), 400, mentions="JSON")
