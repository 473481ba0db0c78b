"""Artifacts end to end on SQLite and PostgreSQL: real command agents in subprocesses, content addressing,
size limits, the file store, history of who produced which version, retries that store nothing half-way."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import chain, process_xml, service_task
from sqlalchemy import text

from engine import Engine
from engine.agents import AgentConfig
from engine.errors import ArtifactError, ArtifactNotFound, ArtifactTooLarge
from engine.worker import Worker

AGENT = Path(__file__).resolve().parent / "agents" / "artifact_agent.py"
SCRIBE = AgentConfig(
    topic="scribe", adapter="command", options={"run": ["${BATON_PYTHON}", str(AGENT)]}, retries=3, retry_cycle=[0.0]
)
TWO_STEPS = process_xml("notes", chain(service_task("scribe"), service_task("scribe")))

PY_AGENT = """
import json
from pathlib import Path

def review(variables, context):
    notes = context.artifacts["notes.txt"]
    text = Path(notes["path"]).read_text()
    Path(context.artifacts_out, "review.json").write_text(json.dumps({"lines": text.count(chr(10))}))
    return {"reviewed_version": notes["version"], "url": notes["url"]}


def sloppy(variables, context):
    Path(context.artifacts_out, "fine.txt").write_text("fine")
    Path(context.artifacts_out, "bad name.txt").write_text("a space is not allowed in a name")
    return {"done": True}
"""


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """The folder agents' artifact folders are made in (to see that they are removed)."""
    root = tmp_path / "calls"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def drain(eng: Engine, node: Worker, instance_id: str, timeout: float = 30.0) -> str:
    """Run due jobs until the instance stops running (retries are due a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node.run_once()
        status = eng.get_instance(instance_id).status
        if status != "running":
            return status
        time.sleep(0.02)
    raise AssertionError("the instance kept running")


def blob_rows(eng: Engine) -> list[tuple[str, bool]]:
    with eng.db.connect() as conn:
        return [(r[0], r[1] is not None) for r in conn.execute(text("SELECT sha256, content FROM artifact_blobs"))]


def test_command_agents_read_the_latest_version_and_write_the_next(engine, temp_root):
    engine.deploy_bytes([("notes.bpmn", TWO_STEPS)])
    inst = engine.start("notes", {"line": "checked"})
    engine.attach_artifact(inst.id, "notes.txt", b"from alice\n", user_name="alice")
    node = Worker(engine, {"scribe": SCRIBE})

    assert drain(engine, node, inst.id) == "completed"

    done = engine.get_instance(inst.id)
    assert done.variables["seen_version"] == 2, "the second step saw what the first one wrote"
    assert done.variables["seen_text"] == "from alice\nchecked\n"
    assert done.variables["seen_path_matches"] is True
    assert done.variables["python"] == sys.executable
    [notes] = engine.artifacts(inst.id)
    assert [(v.version, v.produced_by) for v in notes.versions] == [(3, "S2"), (2, "S1"), (1, "alice")]
    assert notes.latest.element_name == "Call scribe" and notes.latest.attempt == 1 and notes.latest.job_id
    version, content = engine.read_artifact(inst.id, "notes.txt")
    assert content == b"from alice\nchecked\nchecked\n" and version.version == 3
    assert version.media_type == "text/plain" and version.size == len(content)
    assert engine.read_artifact(inst.id, "notes.txt", version=2)[1] == b"from alice\nchecked\n"
    assert list(temp_root.iterdir()) == [], "the call's folders are removed"
    stored = [h.details for h in engine.history(inst.id) if h.event == "artifact_stored"]
    assert [(d["artifact"], d["version"], d["produced_by"]) for d in stored] == [
        ("notes.txt", 1, "alice"),
        ("notes.txt", 2, "S1"),
        ("notes.txt", 3, "S2"),
    ]


def test_same_content_is_stored_once(engine):
    engine.deploy_bytes([("notes.bpmn", TWO_STEPS)])
    first, second = engine.start("notes"), engine.start("notes")
    v1 = engine.attach_artifact(first.id, "spec.json", b'{"openapi": "3.1.0"}')
    again = engine.attach_artifact(first.id, "spec.json", b'{"openapi": "3.1.0"}')
    engine.attach_artifact(first.id, "copy.json", b'{"openapi": "3.1.0"}')
    engine.attach_artifact(second.id, "spec.json", b'{"openapi": "3.1.0"}')
    assert again == v1 and v1.version == 1, "content equal to the latest version adds no version"
    assert v1.sha256 == hashlib.sha256(b'{"openapi": "3.1.0"}').hexdigest()
    assert v1.media_type == "application/json" and v1.produced_by == "api"
    assert blob_rows(engine) == [(v1.sha256, True)]
    assert sorted(a.name for a in engine.artifacts(first.id)) == ["copy.json", "spec.json"]

    assert engine.delete_artifacts(first.id) == 2
    assert blob_rows(engine) == [(v1.sha256, True)], "the second instance still uses the content"
    assert engine.artifacts(first.id) == []
    engine.delete_artifacts(second.id)
    assert blob_rows(engine) == []


def test_bad_names_unknown_artifacts_and_the_size_limit_are_refused(settings):
    eng = Engine(settings.replace(artifact_max_bytes=100))
    try:
        eng.deploy_bytes([("notes.bpmn", TWO_STEPS)])
        inst = eng.start("notes")
        for bad in ("../etc/passwd", "", ".hidden", "a b", "x" * 129):
            with pytest.raises(ArtifactError, match="not a valid artifact name"):
                eng.attach_artifact(inst.id, bad, b"data")
        with pytest.raises(ArtifactTooLarge, match="101 bytes, above the limit of 100 bytes"):
            eng.attach_artifact(inst.id, "big.bin", b"x" * 101)
        eng.attach_artifact(inst.id, "ok.bin", b"x" * 100)
        with pytest.raises(ArtifactNotFound, match="no artifact 'nope.txt'"):
            eng.read_artifact(inst.id, "nope.txt")
        with pytest.raises(ArtifactNotFound, match="no version 2 of artifact 'ok.bin'"):
            eng.read_artifact(inst.id, "ok.bin", version=2)
        assert [a.name for a in eng.artifacts(inst.id)] == ["ok.bin"]
    finally:
        eng.close()


def test_an_agent_output_above_the_limit_fails_the_call_and_stores_nothing(settings, temp_root):
    eng = Engine(settings.replace(artifact_max_bytes=100))
    try:
        eng.deploy_bytes([("notes.bpmn", TWO_STEPS)])
        inst = eng.start("notes", {"line": "x", "big": 200})
        eng.attach_artifact(inst.id, "notes.txt", b"v1\n")
        assert drain(eng, Worker(eng, {"scribe": SCRIBE}), inst.id) == "incident"
        [incident] = eng.incidents(instance_id=inst.id)
        assert "'big.bin'" in incident.message and "limit of 100 bytes" in incident.message
        assert incident.attempts == 1, "a file above the limit is not retried"
        [notes] = eng.artifacts(inst.id)
        assert notes.latest.version == 1, "nothing the failed call left was stored"
        assert list(temp_root.iterdir()) == []
    finally:
        eng.close()


def test_a_failed_attempt_stores_nothing_and_the_retry_stores_once(engine, temp_root):
    engine.deploy_bytes([("one.bpmn", process_xml("one", chain(service_task("scribe"))))])
    inst = engine.start("one", {"line": "retried", "fail_first": True})
    assert drain(engine, Worker(engine, {"scribe": SCRIBE}), inst.id) == "completed"
    [notes] = engine.artifacts(inst.id)
    assert [(v.version, v.attempt) for v in notes.versions] == [(1, 2)], "only the successful attempt stored it"
    assert engine.read_artifact(inst.id, "notes.txt")[1] == b"retried\n"
    assert [h.event for h in engine.history(inst.id) if h.event.startswith("job_")] == ["job_failed", "job_completed"]
    assert len(blob_rows(engine)) == 1
    assert list(temp_root.iterdir()) == []


def test_file_store_keeps_contents_in_files_named_by_their_hash(settings, tmp_path):
    store = tmp_path / "artifact-store"
    eng = Engine(settings.replace(artifact_store=str(store)))
    try:
        eng.deploy_bytes([("notes.bpmn", TWO_STEPS)])
        first, second = eng.start("notes"), eng.start("notes")
        v = eng.attach_artifact(first.id, "report.md", b"# Report\n", user_name="bob")
        eng.attach_artifact(second.id, "report.md", b"# Report\n")
        path = store / v.sha256[:2] / v.sha256
        assert path.read_bytes() == b"# Report\n"
        assert blob_rows(eng) == [(v.sha256, False)], "the table keeps no copy of the bytes"
        assert eng.read_artifact(second.id, "report.md")[1] == b"# Report\n"
        assert v.media_type == "text/markdown"
        eng.delete_artifacts(first.id)
        assert path.exists(), "still used by the second instance"
        eng.delete_artifacts(second.id)
        assert not path.exists() and blob_rows(eng) == []
    finally:
        eng.close()


@pytest.fixture
def reviewers(tmp_path, monkeypatch):
    (tmp_path / "reviewers.py").write_text(PY_AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "reviewers"
    sys.modules.pop("reviewers", None)


def test_an_output_with_a_bad_name_fails_the_call_and_stores_nothing(engine, reviewers, temp_root):
    engine.deploy_bytes([("one.bpmn", process_xml("one", chain(service_task("review"))))])
    inst = engine.start("one")
    agent = AgentConfig(topic="review", adapter="python", options={"function": "reviewers:sloppy"})
    assert drain(engine, Worker(engine, {"review": agent}), inst.id) == "incident"
    [incident] = engine.incidents(instance_id=inst.id)
    assert "'bad name.txt'" in incident.message and "not a valid artifact name" in incident.message
    assert (
        incident.attempts == 1
        and engine.artifacts(inst.id) == []
        and "done" not in engine.get_instance(inst.id).variables
    )
    assert list(temp_root.iterdir()) == []


def test_python_agents_get_paths_and_produce_artifacts(engine, reviewers, temp_root):
    engine.deploy_bytes([("one.bpmn", process_xml("one", chain(service_task("review"))))])
    inst = engine.start("one")
    engine.attach_artifact(inst.id, "notes.txt", b"a\nb\n")
    agent = AgentConfig(topic="review", adapter="python", options={"function": "reviewers:review"})
    assert drain(engine, Worker(engine, {"review": agent}), inst.id) == "completed"
    assert engine.get_instance(inst.id).variables == {
        "reviewed_version": 1,
        "url": f"/api/v1/instances/{inst.id}/artifacts/notes.txt?version=1",
    }
    version, content = engine.read_artifact(inst.id, "review.json")
    assert content == b'{"lines": 2}' and version.produced_by == "S1"
    assert list(temp_root.iterdir()) == []


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        out = json.dumps({"refs": body["context"]["artifacts"], "dir": body["context"]["artifacts_dir"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def test_http_agents_get_urls_and_no_local_files(engine, temp_root):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        engine.deploy_bytes([("one.bpmn", process_xml("one", chain(service_task("remote"))))])
        inst = engine.start("one")
        v = engine.attach_artifact(inst.id, "spec.yaml", b"openapi: 3.1.0\n", user_name="alice")
        url = f"http://127.0.0.1:{server.server_port}/agent"
        node = Worker(engine, {"remote": AgentConfig(topic="remote", adapter="http", options={"url": url})})
        assert drain(engine, node, inst.id) == "completed"
        assert engine.get_instance(inst.id).variables == {
            "dir": None,
            "refs": {
                "spec.yaml": {
                    "url": v.url,
                    "version": 1,
                    "sha256": v.sha256,
                    "size": 15,
                    "media_type": "application/yaml",
                    "produced_by": "alice",
                }
            },
        }
        assert list(temp_root.iterdir()) == [], "nothing is written for a remote agent"
    finally:
        server.shutdown()
        server.server_close()
