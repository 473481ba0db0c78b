"""`baton artifacts list / get / attach`: the real command in a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import chain, process_xml, user_task

BATON = str(Path(sys.executable).parent / "baton")


@pytest.fixture
def baton(db_url, tmp_path):
    env = {**os.environ, "BATON_DATABASE_URL": db_url, "BATON_ARTIFACT_MAX_BYTES": "1000"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([BATON, *args], capture_output=True, env=env, cwd=tmp_path, timeout=120)
        if ok:
            assert proc.returncode == 0, f"baton {' '.join(args)} failed:\n{proc.stdout!r}\n{proc.stderr!r}"
        return proc

    return run


def test_attach_list_and_get(baton, engine, tmp_path):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task())))])
    inst = engine.start("p")
    (tmp_path / "openapi.json").write_bytes(b'{"openapi": "3.1.0"}')
    (tmp_path / "v2.json").write_bytes(b'{"openapi": "3.1.1"}')

    out = baton("artifacts", "attach", inst.id, "openapi.json", "--by", "alice").stdout.decode()
    assert out.startswith("openapi.json v1 (20 bytes") and inst.id in out
    baton("artifacts", "attach", inst.id, "v2.json", "--name", "openapi.json")

    listed = baton("artifacts", "list", inst.id, "--history").stdout.decode().splitlines()
    assert listed[0] == "openapi.json"
    assert listed[1].split()[:2] == ["v2", "20"] and " cli " in listed[1]
    assert listed[2].split()[0] == "v1" and "alice" in listed[2]
    as_json = json.loads(baton("artifacts", "list", inst.id, "--json").stdout)
    assert [v["version"] for v in as_json[0]["versions"]] == [2, 1]

    assert baton("artifacts", "get", inst.id, "openapi.json").stdout == b'{"openapi": "3.1.1"}'
    saved = baton("artifacts", "get", inst.id, "openapi.json", "--version", "1", "-o", "old.json")
    assert (tmp_path / "old.json").read_bytes() == b'{"openapi": "3.1.0"}'
    assert b"openapi.json v1 (20 bytes) written to old.json" in saved.stderr


def test_errors_are_one_clear_line(baton, engine, tmp_path):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task())))])
    inst = engine.start("p")
    (tmp_path / "big.bin").write_bytes(b"x" * 1001)
    (tmp_path / "ok.txt").write_bytes(b"ok")
    cases = [
        (("attach", inst.id, "big.bin"), "above the artifact size limit of 1000 bytes"),
        (("attach", inst.id, "ok.txt", "--name", "no/slashes"), "'no/slashes' is not a valid artifact name"),
        (("get", inst.id, "missing.txt"), f"instance {inst.id} has no artifact 'missing.txt'"),
        (("list", "no-such-instance"), "no instance has id 'no-such-instance'"),
    ]
    for args, message in cases:
        proc = baton("artifacts", *args, ok=False)
        err = proc.stderr.decode().strip()
        assert proc.returncode == 1 and err.startswith("error: ") and message in err, err
        assert len(err.splitlines()) == 1, "one line, no traceback"
