"""REST API for definitions: multipart deploy (all or nothing), list with versions, one version, the XML."""

from __future__ import annotations

import dataclasses
import io

from conftest import EXAMPLES, row_counts
from helpers import chain, process_xml, script, user_task


def upload(client, *files: tuple[str, bytes], **form: str):
    data = {"file": [(io.BytesIO(content), name) for name, content in files], **form}
    return client.post("/api/v1/deployments", data=data, content_type="multipart/form-data")


def test_deploy_by_upload_then_list_with_versions(client):
    first = upload(client, ("approval.bpmn", (EXAMPLES / "approval.bpmn").read_bytes()),
                   ("review.bpmn", process_xml("review", chain(user_task()))))
    assert first.status_code == 201
    assert {(d["key"], d["version"], d["new"]) for d in first.get_json()["definitions"]} == {
        ("approval", 1, True), ("review", 1, True)}
    again = upload(client, ("review.bpmn", process_xml("review", chain(user_task()))))
    assert again.status_code == 200 and again.get_json()["definitions"][0]["new"] is False
    changed = upload(client, ("review.bpmn", process_xml("review", chain(user_task("Check twice")))))
    assert changed.status_code == 201 and changed.get_json()["definitions"][0]["version"] == 2
    listing = {p["key"]: p for p in client.get("/api/v1/definitions").get_json()}
    assert listing["review"]["latest_version"] == 2
    assert [v["version"] for v in listing["review"]["versions"]] == [1, 2]
    assert listing["approval"]["name"] == "Purchase approval"


def test_a_bad_model_is_a_400_naming_file_line_and_element_and_nothing_is_stored(client, engine):
    before = row_counts(engine)
    broken = process_xml("broken", chain(script("x = (1 +", name="Compute")))
    response = upload(client, ("good.bpmn", process_xml("good", chain(user_task()))), ("broken.bpmn", broken))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["details"]["file"] == "broken.bpmn"
    assert error["details"]["element_id"] == "S1"
    assert isinstance(error["details"]["line"], int)
    assert row_counts(engine) == before, "all or nothing: the good file was not deployed either"


def test_upload_mistakes_are_400s_that_say_what_to_do(client, engine):
    not_multipart = client.post("/api/v1/deployments", json={"file": "x"})
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.get_json()["error"]["message"]
    empty = client.post("/api/v1/deployments", data={}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "no file" in empty.get_json()["error"]["message"]
    wrong = upload(client, ("notes.txt", b"hello"))
    assert wrong.status_code == 400 and "notes.txt" in wrong.get_json()["error"]["message"]
    engine.settings = dataclasses.replace(engine.settings, max_xml_bytes=2000)  # BATON_MAX_XML_BYTES=2000
    big = upload(client, ("big.bpmn", b" " * 2001))
    assert big.status_code == 400 and "larger than" in big.get_json()["error"]["message"]
    garbage = upload(client, ("x.bpmn", b"<not xml"))
    assert garbage.status_code == 400 and garbage.get_json()["error"]["details"]["file"] == "x.bpmn"


def test_get_latest_a_version_and_the_xml(client):
    v1 = process_xml("review", chain(user_task("One")))
    v2 = process_xml("review", chain(user_task("Two")))
    upload(client, ("review.bpmn", v1))
    upload(client, ("review.bpmn", v2))
    assert client.get("/api/v1/definitions/review").get_json()["version"] == 2
    assert client.get("/api/v1/definitions/review?version=1").get_json()["version"] == 1
    one = client.get("/api/v1/definitions/review/versions/1")
    assert one.status_code == 200 and one.get_json()["key"] == "review"
    xml = client.get("/api/v1/definitions/review/xml?version=1")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and xml.data == v1
    assert client.get("/api/v1/definitions/review/xml").data == v2


def test_unknown_definitions_and_bad_versions(client):
    upload(client, ("review.bpmn", process_xml("review", chain(user_task()))))
    missing = client.get("/api/v1/definitions/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "definition_not_found"
    assert client.get("/api/v1/definitions/review/versions/7").status_code == 404
    assert client.get("/api/v1/definitions/review/versions/99999999999999").status_code == 404
    bad = client.get("/api/v1/definitions/review?version=two")
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "version"
    assert client.get("/api/v1/definitions/re%00view").status_code == 404
