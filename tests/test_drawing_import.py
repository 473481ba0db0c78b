"""Importing a model as a drawing (``drawing=True``, ``baton deploy --drawing``, REST ``drawing=true``): a model
that cannot run as it stands is checked as XML and stored to be shown, never started; without the flag it is
still refused with its reason."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import chain, process_xml

from engine.errors import InvalidStateError, MalformedXMLError, ModelError, SchemaError

PROSE = process_xml("prose", '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="gw"/>'
                    '<bpmn:exclusiveGateway id="gw"/><bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
                    '<bpmn:sequenceFlow id="premium" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>'
                    "Service Level == 'Premium'</bpmn:conditionExpression></bpmn:sequenceFlow>"
                    '<bpmn:sequenceFlow id="other" sourceRef="gw" targetRef="e2"/>')
NO_TIMER = process_xml("sketch", chain('<bpmn:intermediateCatchEvent id="{id}"><bpmn:timerEventDefinition/>'
                                       "</bpmn:intermediateCatchEvent>"))


def test_a_model_that_cannot_run_is_refused_without_the_flag(engine):
    with pytest.raises(ModelError, match="cannot be compiled") as err:
        engine.deploy_bytes([("prose.bpmn", PROSE)])
    assert (err.value.file, err.value.element_id) == ("prose.bpmn", "premium")
    with pytest.raises(ModelError, match="could never fire"):
        engine.deploy_bytes([("sketch.bpmn", NO_TIMER)])
    assert engine.definitions() == []


def test_drawing_import_stores_it_and_it_never_starts(engine):
    result = engine.deploy_bytes([("prose.bpmn", PROSE), ("sketch.bpmn", NO_TIMER)], drawing=True)
    assert sorted((d.key, d.executable, d.new) for d in result.definitions) == [
        ("prose", False, True), ("sketch", False, True)]
    assert engine.definition_xml("prose") == PROSE.decode()  # the file as uploaded
    with pytest.raises(InvalidStateError, match="drawing"):
        engine.start("prose")
    assert engine.instances() == []


def test_an_executable_file_imported_as_drawing_does_not_shadow_its_executable_version(engine):
    doc = process_xml("p", chain('<bpmn:task id="{id}"/>'))
    engine.deploy_bytes([("p.bpmn", doc)], drawing=True)
    executable = engine.deploy_bytes([("p.bpmn", doc)])
    assert [(d.version, d.executable, d.new) for d in executable.definitions] == [(2, True, True)]
    assert engine.start("p").status == "completed"


@pytest.mark.parametrize("bad, error, match", [
    (b"<bpmn:definitions", MalformedXMLError, "not well-formed"),
    (process_xml("p", '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="gone"/>'),
     ModelError, 'targetRef="gone", which is no element of this file'),
    (process_xml("p", '<bpmn:startEvent id="s"><bpmn:bogus/></bpmn:startEvent>'), SchemaError, "not valid BPMN"),
])
def test_a_drawing_is_still_checked_as_xml(engine, bad, error, match):
    with pytest.raises(error, match=match):
        engine.deploy_bytes([("bad.bpmn", bad)], drawing=True)
    assert engine.definitions() == []


def test_rest_deploy_with_drawing_true_and_the_diagram_page_shows_it(client):
    def upload(**form: str):
        return client.post("/api/v1/deployments", data={"file": [(io.BytesIO(PROSE), "prose.bpmn")], **form},
                           content_type="multipart/form-data")

    refused = upload()
    assert refused.status_code == 400 and refused.json["error"]["details"]["element_id"] == "premium"
    assert upload(drawing="maybe").status_code == 400
    done = upload(drawing="true")
    assert done.status_code == 201
    assert [(d["key"], d["executable"]) for d in done.json["definitions"]] == [("prose", False)]
    page = client.get("/processes/prose")
    assert page.status_code == 200 and "drawing" in page.get_data(as_text=True)
    assert client.get("/processes/prose/xml").data == PROSE


def test_cli_deploy_drawing(db_url, tmp_path):
    (tmp_path / "prose.bpmn").write_bytes(PROSE)
    env = {**os.environ, "BATON_DATABASE_URL": db_url}
    baton = [str(Path(sys.executable).parent / "baton")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*baton, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    refused = run("deploy", "prose.bpmn")
    assert refused.returncode != 0 and "premium" in refused.stderr + refused.stdout
    done = run("deploy", "--drawing", "prose.bpmn")
    assert done.returncode == 0, done.stderr
    assert "prose" in done.stdout and "stored as a drawing" in done.stdout
    assert "--drawing" in run("deploy", "--help").stdout
