"""Artifacts over REST and on the instance page (SQLite and PostgreSQL): upload, download, history, who may
attach, errors as JSON, external workers' references."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from conftest import signed_in_client
from helpers import chain, process_xml, service_task

from engine import Engine
from web import create_app

ASSIGNED = '<bpmn:userTask id="{id}" name="Write the spec" camunda:assignee="carol"/>'


@pytest.fixture
def instance(engine):
    engine.deploy_bytes([("spec.bpmn", process_xml("spec", chain(ASSIGNED, service_task("build"))))])
    return engine.start("spec")


def upload(client, instance_id, content, filename="openapi.json", name=None, status=201):
    data = {"file": (io.BytesIO(content), filename)}
    if name is not None:
        data["name"] = name
    resp = client.post(f"/api/v1/instances/{instance_id}/artifacts", data=data, content_type="multipart/form-data")
    assert resp.status_code == status, resp.get_data(as_text=True)
    return resp.get_json()


def test_upload_download_and_history_over_rest(client, instance):
    first = upload(client, instance.id, b'{"openapi": "3.1.0"}')
    assert first["version"] == 1 and first["produced_by"] == "admin" and first["media_type"] == "application/json"
    assert first["url"] == f"/api/v1/instances/{instance.id}/artifacts/openapi.json?version=1"
    assert upload(client, instance.id, b'{"openapi": "3.1.0"}', status=200)["version"] == 1, "same content: no v2"
    second = upload(client, instance.id, b'{"openapi": "3.1.1"}', filename="draft.json", name="openapi.json")
    assert second["version"] == 2

    listed = client.get(f"/api/v1/instances/{instance.id}/artifacts").get_json()
    assert [(a["name"], a["latest"]["version"], [v["version"] for v in a["versions"]]) for a in listed] == [
        ("openapi.json", 2, [2, 1])
    ]
    latest = client.get(f"/api/v1/instances/{instance.id}/artifacts/openapi.json")
    assert latest.status_code == 200 and latest.data == b'{"openapi": "3.1.1"}'
    assert latest.headers["Content-Type"].startswith("application/json")
    assert latest.headers["ETag"] == f'"{second["sha256"]}"' and latest.headers["X-Artifact-Version"] == "2"
    assert 'filename="openapi.json"' in latest.headers["Content-Disposition"]
    old = client.get(f"/api/v1/instances/{instance.id}/artifacts/openapi.json?version=1")
    assert old.data == b'{"openapi": "3.1.0"}'


@pytest.mark.parametrize(
    ("call", "status", "code", "words"),
    [
        (
            lambda c, i: c.get(f"/api/v1/instances/{i}/artifacts/missing.txt"),
            404,
            "artifact_not_found",
            "no artifact 'missing.txt'",
        ),
        (
            lambda c, i: c.get(f"/api/v1/instances/{i}/artifacts/openapi.json?version=7"),
            404,
            "artifact_not_found",
            "no version 7",
        ),
        (
            lambda c, i: c.get(f"/api/v1/instances/{i}/artifacts/openapi.json?version=x"),
            400,
            "invalid_request",
            "'version' must be a whole number",
        ),
        (
            lambda c, i: c.get(f"/api/v1/instances/{i}/artifacts/bad%20name"),
            400,
            "artifact_error",
            "not a valid artifact name",
        ),
        (
            lambda c, i: c.get("/api/v1/instances/nope/artifacts"),
            404,
            "instance_not_found",
            "no instance has id 'nope'",
        ),
        (
            lambda c, i: c.post(
                f"/api/v1/instances/{i}/artifacts",
                content_type="multipart/form-data",
                data={"file": (io.BytesIO(b"x"), "x.txt"), "name": "../x"},
            ),
            400,
            "artifact_error",
            "'../x' is not a valid artifact name",
        ),
        (
            lambda c, i: c.post(f"/api/v1/instances/{i}/artifacts", json={"file": "x"}),
            400,
            "invalid_request",
            "multipart/form-data",
        ),
        (
            lambda c, i: c.post(
                f"/api/v1/instances/{i}/artifacts", data={"name": "a.txt"}, content_type="multipart/form-data"
            ),
            400,
            "invalid_request",
            "no file was uploaded",
        ),
    ],
)
def test_bad_requests_are_clear_json_errors(client, instance, call, status, code, words):
    upload(client, instance.id, b'{"openapi": "3.1.0"}')
    resp = call(client, instance.id)
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == code and words in error["message"]


def test_upload_above_the_limit_is_413(settings):
    eng = Engine(settings.replace(artifact_max_bytes=1000))
    try:
        eng.deploy_bytes([("spec.bpmn", process_xml("spec", chain(ASSIGNED)))])
        inst = eng.start("spec")
        client = signed_in_client(create_app({"SECRET_KEY": "tests"}, engine=eng), "operator")
        error = upload(client, inst.id, b"x" * 1001, filename="big.bin", status=413)["error"]
        assert error["code"] == "artifact_too_large" and "limit of 1000 bytes" in error["message"]
        error = upload(client, inst.id, b"x" * 200_000, filename="huge.bin", status=413)["error"]
        assert "BATON_ARTIFACT_MAX_BYTES" in error["message"]
        assert eng.artifacts(inst.id) == []
    finally:
        eng.close()


def test_who_may_read_and_attach(app, engine, instance, client_as, anonymous):
    assert anonymous.get(f"/api/v1/instances/{instance.id}/artifacts").status_code == 401
    reader = client_as("user", name="dave")
    assert reader.get(f"/api/v1/instances/{instance.id}/artifacts").get_json() == []
    refused = upload(reader, instance.id, b"notes", filename="notes.txt", status=403)["error"]
    assert "needs the operator role, or one of its tasks assigned to you" in refused["message"]
    assignee = client_as("user", name="carol")  # the user task is assigned to carol
    assert upload(assignee, instance.id, b"spec by carol", filename="spec.md")["produced_by"] == "carol"
    assert upload(client_as("operator"), instance.id, b"ops notes", filename="ops.txt")["version"] == 1
    assert sorted(a.name for a in engine.artifacts(instance.id)) == ["ops.txt", "spec.md"]


def test_external_workers_get_references_and_upload_their_outputs(engine, instance, client_as):
    operator = client_as("operator", name="worker")
    upload(operator, instance.id, b"openapi: 3.1.0\n", filename="openapi.yaml")
    [task] = engine.tasks(instance_id=instance.id)
    engine.complete_task(task.id, {})
    [locked] = operator.post(
        "/api/v1/external-tasks/fetch-and-lock",
        json={"workerId": "w1", "topics": [{"topicName": "build", "lockDuration": 60_000}]},
    ).get_json()
    ref = locked["artifacts"]["openapi.yaml"]
    assert ref["version"] == 1 and ref["media_type"] == "application/yaml" and ref["produced_by"] == "worker"
    assert "path" not in ref, "a remote worker has no local copy"
    assert operator.get(ref["url"]).data == b"openapi: 3.1.0\n"
    operator.post(f"/api/v1/external-tasks/{locked['id']}/unlock", json={"workerId": "w1"})
    [camunda] = operator.post(
        "/engine-rest/external-task/fetchAndLock",
        json={"workerId": "w2", "topics": [{"topicName": "build", "lockDuration": 60_000}]},
    ).get_json()
    assert camunda["artifacts"]["openapi.yaml"]["url"] == ref["url"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_instance_page_lists_artifacts_with_history_and_upload_form(engine, instance, client, client_as):
    engine.attach_artifact(instance.id, "openapi.json", b"{}", user_name="alice")
    engine.attach_artifact(instance.id, "openapi.json", b'{"paths": {}}', user_name="bob")
    page = client.get(f"/instances/{instance.id}").get_data(as_text=True)
    section = page[page.index('id="instance-artifacts"') :]
    section = section[: section.index("</section>")]
    assert 'data-artifact="openapi.json"' in section and "v2" in _text(section) and "13 bytes" in _text(section)
    assert f'href="/api/v1/instances/{instance.id}/artifacts/openapi.json?version=2"' in section
    assert "Older versions of openapi.json (1)" in _text(section) and "alice" in section and "bob" in section
    assert 'enctype="multipart/form-data"' in section, "operators get the upload form"
    viewer = client_as("user").get(f"/instances/{instance.id}").get_data(as_text=True)
    assert 'data-artifact="openapi.json"' in viewer and "Attach a file" not in viewer

    sent = client.post(
        f"/instances/{instance.id}/artifacts",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"report"), "test-report.txt")},
    )
    assert sent.status_code == 302 and "done=artifact" in sent.headers["Location"]
    assert engine.read_artifact(instance.id, "test-report.txt")[1] == b"report"
    refused = client.post(
        f"/instances/{instance.id}/artifacts",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"x"), "bad name.txt")},
    )
    assert refused.status_code == 400 and "not a valid artifact name" in unescape(refused.get_data(as_text=True))
