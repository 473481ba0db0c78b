"""The OpenAPI document matches the code: every route is documented, and schemathesis finds nothing.

The schemathesis run drives the real server on 127.0.0.1 (SQLite, the examples deployed, one instance in
each state) over every documented operation, with generated valid and invalid input, and checks that no
answer is a 5xx and that every status code, content type and body is the one the document promises.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading

import httpx
import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from conftest import EXAMPLES, bearer
from helpers import chain, process_xml, script, service_task, user_task
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_30
from werkzeug.serving import make_server

from engine import Engine, Settings
from web import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
EXAMPLES_PER_OPERATION = 8


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    validator = jsonschema_rs.Draft4Validator(OPENAPI_30)  # the OpenAPI 3.0 meta-schema schemathesis ships
    problems = [f"{list(e.instance_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert problems == [], "not a valid OpenAPI 3.0 document"
    routed = {(_openapi_path(rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
              for method in (rule.methods or set()) & METHODS}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented operations no route serves"
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["responses"], f"{method.upper()} {path} documents no response"
            names = set(re.findall(r"{([a-z_]+)}", path))
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == params, f"{method.upper()} {path}: path parameters {names} vs documented {params}"


def test_errors_are_documented_with_the_error_shape(client):
    document = client.get("/api/v1/openapi.json").get_json()
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    start = document["paths"]["/api/v1/instances"]["post"]["responses"]
    assert start["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    body = client.post("/api/v1/instances", json={"key": 5}).get_json()
    assert set(body["error"]) == {"code", "message", "details"}


@pytest.fixture(scope="module")
def live(tmp_path_factory, sqlite_template):
    """The real server on a free port over SQLite, with something to find (examples, instances, a job)."""
    path = tmp_path_factory.mktemp("openapi") / "baton.db"
    shutil.copy(sqlite_template, path)
    engine = Engine(Settings(database_url=f"sqlite:///{path}", script_timeout=2.0, auto_migrate=False))
    engine.deploy([EXAMPLES])
    engine.deploy_bytes([("boom.bpmn", process_xml("boom", chain(script("x = 1 / 0")))),
                         ("ask.bpmn", process_xml("ask", chain(user_task("Ask")))),
                         ("call.bpmn", process_xml("call", chain(service_task("fuzz-topic"))))])
    waiting = engine.start("approval", {"amount": 500}, business_key="PO-500")
    engine.start("boom")
    engine.start("call", {"n": 1})
    engine.start("call", {"n": 2})
    [job, doomed] = engine.claim_jobs("fuzzer", ["fuzz-topic"], limit=2)
    incident = engine.fail_job(doomed.id, "fuzzer", "refused", retryable=False)
    engine.attach_artifact(waiting.id, "openapi.json", b'{"openapi": "3.1.0"}')
    real = {"instance_id": waiting.id, "key": "approval", "version": 1, "job_id": job.id,
            "incident_id": incident.id, "task_id": engine.tasks(instance_id=waiting.id)[0].id,
            "name": "openapi.json"}
    app = create_app(test_config={"BATON_LONG_POLLS": 0}, engine=engine)  # no 30 s long polls while fuzzing
    quiet = logging.getLogger("werkzeug")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # one line per fuzzed request would drown a failure's report
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="baton-openapi-server", daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}", "real": real,
               "headers": bearer(engine, "admin", name="admin")}  # an admin of this server's own database
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        engine.close()
        quiet.setLevel(level)


def test_deploy_start_find_and_suspend_over_real_http(live):
    auth_headers = live["headers"]
    """The same calls a user makes with curl, through the real server on 127.0.0.1."""
    url = live["url"]
    with httpx.Client(base_url=url, headers=auth_headers, timeout=30) as http:
        deployed = http.post("/api/v1/deployments",
                             files=[("file", ("http_review.bpmn", process_xml("http_review", chain(user_task()))))])
        assert deployed.status_code == 201, deployed.text
        started = http.post("/api/v1/instances", json={"key": "http_review", "businessKey": "HTTP-1",
                                                       "variables": {"amount": 12}})
        assert started.status_code == 201
        found = http.get("/api/v1/instances", params=[("businessKey", "HTTP-1"), ("variable", "amount=12")]).json()
        assert found["total"] == 1 and found["items"][0]["id"] == started.json()["id"]
        instance_url = f"/api/v1/instances/{started.json()['id']}"
        assert http.post(f"{instance_url}/suspend").json()["suspended"] is True
        assert http.post(f"{instance_url}/suspend").status_code == 409
        assert http.post(f"{instance_url}/resume").json()["suspended"] is False
        xml = http.get("/api/v1/definitions/http_review/xml")
        assert xml.headers["content-type"].startswith("application/xml") and b"http_review" in xml.content


def _fuzz(operation, mode, url, headers, path_parameters=None):
    """Run one operation with generated input; returns what went wrong, or None."""

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def run(case):
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing invalid can be made for it (an operation without input)
    except Exception as exc:  # noqa: BLE001 - every failure is reported together below
        where = f" with {path_parameters}" if path_parameters else ""
        return f"{operation.label} ({mode.value}{where}): {exc}"
    return None


@pytest.mark.slow
def test_schemathesis_finds_nothing(live):
    """Every operation, valid and invalid input, with generated ids and again with ids that exist."""
    auth_headers = live["headers"]
    schema = schemathesis.openapi.from_url(f"{live['url']}/api/v1/openapi.json", headers=auth_headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    operations.sort(key=lambda op: op.path.endswith("/cancel"))  # the real instance stays open until the end
    problems = []
    for op in operations:
        names = {p.name for p in op.path_parameters}
        real = {n: live["real"][n] for n in names} if names else None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            problems.append(_fuzz(op, mode, live["url"], auth_headers))
            if real and mode is GenerationMode.POSITIVE:
                problems.append(_fuzz(op, mode, live["url"], auth_headers, real))
    found = [p for p in problems if p]
    assert not found, f"schemathesis found {len(found)} problem(s):\n\n" + "\n\n".join(found)


@pytest.mark.parametrize("url", ["/api/v1/timers?instanceId=a%00b", "/api/v1/instances?key=a%00b",
                                 "/api/v1/incidents?topic=a%00b", "/api/v1/external-tasks?topicName=a%00b"])
def test_a_nul_in_a_query_parameter_is_a_400_not_a_database_error(client, url):
    """PostgreSQL cannot take a NUL in a text; found by schemathesis against PostgreSQL."""
    response = client.get(url)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"
