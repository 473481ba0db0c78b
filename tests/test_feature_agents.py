"""The five example agents of feature-delivery.bpmn one by one, as the command-line programs Baton runs,
and ai_agent.py (the bridge to an AI agent's CLI) through Baton's real command adapter with a fake CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES
from helpers import chain, process_xml, service_task

from engine import Engine
from engine.agents import AgentConfig
from engine.worker import Worker

AGENTS = EXAMPLES / "agents"
REQUEST = "books(title, author, year:integer, isbn?): list, create, get, update, delete; authors(name): list, get"


def run(agent: str, tmp: Path, variables: dict | None = None, *args: str, context: dict | None = None):
    """Run one agent with ``tmp/in`` as its artifacts and ``tmp/out`` as its output folder."""
    (tmp / "in").mkdir(exist_ok=True)
    out = tmp / "out"
    if out.exists():
        for f in out.iterdir():
            f.unlink()
    out.mkdir(exist_ok=True)
    body = json.dumps({"variables": variables or {}, "context": context or {}})
    return subprocess.run(
        [sys.executable, str(AGENTS / agent), *args, "--artifacts", str(tmp / "in"), "--out", str(out)],
        input=body,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def keep(tmp: Path, *names: str) -> None:
    """Move outputs to the inputs, as Baton does between steps."""
    for name in names:
        (tmp / "out" / name).replace(tmp / "in" / name)


def design(tmp: Path, **variables) -> dict:
    answer = ok(run("api_designer.py", tmp, {"feature_request": REQUEST, **variables}))
    keep(tmp, "openapi.json")
    return answer


@pytest.mark.parametrize(
    "agent", ["api_designer.py", "backend_developer.py", "qa_expert.py", "qa_runner.py", "deployer.py", "ai_agent.py"]
)
def test_every_agent_explains_itself(agent):
    done = subprocess.run([sys.executable, str(AGENTS / agent), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "usage:" in done.stdout and "--out" in done.stdout


def test_designer_turns_the_request_into_openapi(tmp_path):
    answer = design(tmp_path)
    doc = json.loads((tmp_path / "in" / "openapi.json").read_text())
    ops = {
        op["operationId"]: (path, method)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    }
    assert ops["createBook"] == ("/books", "post") and ops["deleteBook"] == ("/books/{id}", "delete")
    assert "createAuthor" not in ops and ops["getAuthor"] == ("/authors/{id}", "get")
    book = doc["components"]["schemas"]["BookInput"]
    assert book["required"] == ["title", "author", "year"] and book["properties"]["year"] == {"type": "integer"}
    assert set(doc["paths"]["/books"]["post"]["responses"]) == {"201", "422"}
    assert answer["api_operations"] == 7 and answer["_cost"]["cpu_seconds"] >= 0


def test_review_comments_change_the_design_and_are_kept(tmp_path):
    answer = design(tmp_path, review_comments="Add field pages:integer to books. Add create to authors. Make it nicer.")
    assert answer["design_comments"] == ["Add field pages:integer to books.", "Add create to authors."]
    assert "not understood" in answer["design_notes"][2]
    # the next round replays the accepted comments and applies the new one
    again = design(tmp_path, design_comments=answer["design_comments"], review_comments="remove field year from books")
    doc = json.loads((tmp_path / "in" / "openapi.json").read_text())
    assert set(doc["components"]["schemas"]["BookInput"]["properties"]) == {"title", "author", "isbn", "pages"}
    assert "post" in doc["paths"]["/authors"] and again["api_operations"] == 8


@pytest.mark.parametrize(
    ("request_text", "message"),
    [
        ("", "feature_request is empty"),
        ("books: fly", "unknown operation 'fly'"),
        ("books(title:date): list", "unknown type 'date'"),
        ("just some words", "cannot read 'just some words'"),
    ],
)
def test_designer_refuses_a_request_it_cannot_read(tmp_path, request_text, message):
    done = run("api_designer.py", tmp_path, {"feature_request": request_text})
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""


def test_developer_needs_the_design(tmp_path):
    done = run("backend_developer.py", tmp_path)
    assert done.returncode == 2 and "'openapi.json' is missing" in done.stderr


def test_developer_output_is_reproducible_and_fixes_what_the_report_names(tmp_path):
    design(tmp_path)
    draft = ok(run("backend_developer.py", tmp_path, {"skip_validation": "createBook, updateBook"}))
    first = (tmp_path / "out" / "service.tar.gz").read_bytes()
    assert draft["skip_validation"] == ["createBook", "updateBook"]
    again = ok(run("backend_developer.py", tmp_path, {"skip_validation": "createBook, updateBook"}))
    assert again == {**draft, "_cost": again["_cost"]} and (tmp_path / "out" / "service.tar.gz").read_bytes() == first
    keep(tmp_path, "service.tar.gz")
    # the next round: what is still left out comes from the previous build, whatever the variable says
    report = "FAILED test_createBook_wrong_type: 201"
    fixed = ok(run("backend_developer.py", tmp_path, {"skip_validation": [], "failure_report": report}))
    assert (
        fixed["skip_validation"] == ["updateBook"] and "createBook (named in the failure report)" in fixed["dev_notes"]
    )
    with tarfile.open(tmp_path / "out" / "service.tar.gz") as tar:
        names = set(tar.getnames())
        build = json.loads(tar.extractfile("service/BUILD.json").read())
    assert {"service/pyproject.toml", "service/feature_service/app.py", "service/feature_service/__main__.py"} <= names
    assert build["skipped"] == ["updateBook"] and build["notes"] == fixed["dev_notes"]


def test_test_plan_and_tests_cover_every_operation(tmp_path):
    design(tmp_path)
    answer = ok(run("qa_expert.py", tmp_path))
    with tarfile.open(tmp_path / "out" / "tests.tar.gz") as tar:
        code = tar.extractfile("tests/test_api.py").read().decode()
    defined = [line[4:].split("(")[0] for line in code.splitlines() if line.startswith("def test_")]
    assert defined == answer["test_cases"] and answer["test_count"] == len(defined) == 15
    for op in ("listBooks", "createBook", "getBook", "updateBook", "deleteBook", "listAuthors", "getAuthor"):
        assert any(t.startswith(f"test_{op}_") for t in defined), op
    for case in ("getBook_not_found", "createBook_missing_fields", "updateBook_wrong_type", "deleteBook_happy"):
        assert f"test_{case}" in defined
    plan = (tmp_path / "out" / "test-plan.md").read_text()
    assert plan.count("| `test_") == len(defined)


def test_runner_scores_a_draft_and_names_its_failures(tmp_path):
    design(tmp_path)
    ok(run("qa_expert.py", tmp_path))
    keep(tmp_path, "tests.tar.gz", "test-plan.md")
    ok(run("backend_developer.py", tmp_path, {"skip_validation": ["createBook"]}))
    keep(tmp_path, "service.tar.gz")
    answer = ok(run("qa_runner.py", tmp_path))
    report = json.loads((tmp_path / "out" / "test-report.json").read_text())
    assert report["tests"] == {"total": 15, "passed": 13, "failed": 2}
    assert answer["quality_score"] == round(100 * 13 / 15) and answer["tests_failed"] == 2
    assert answer["failure_report"].count("FAILED test_createBook_") == 2
    assert report["coverage"]["available"] is (answer["coverage_percent"] is not None)
    assert answer["skip_validation"] == ["createBook"] and "no request checks yet in createBook" in answer["dev_notes"]


def test_runner_reports_a_service_that_does_not_start(tmp_path):
    design(tmp_path)
    ok(run("qa_expert.py", tmp_path))
    keep(tmp_path, "tests.tar.gz")
    broken = tmp_path / "broken" / "service" / "feature_service"
    broken.mkdir(parents=True)
    (broken / "__main__.py").write_text("raise SystemExit('boom: no database')\n")
    with tarfile.open(tmp_path / "in" / "service.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "broken" / "service", "service")
    answer = ok(run("qa_runner.py", tmp_path))
    assert answer["quality_score"] == 0 and "boom: no database" in answer["failure_report"]


def test_deployer_installs_starts_and_undeploys(tmp_path):
    design(tmp_path)
    ok(run("backend_developer.py", tmp_path))
    keep(tmp_path, "service.tar.gz")
    root = tmp_path / "deployments"
    installed = ok(
        run("deployer.py", tmp_path, {"deploy_root": str(root)}, "install", context={"instance_id": "abc-123"})
    )
    target = Path(installed["deployment_dir"])
    assert target == root / "feature_service-abc123"
    assert (tmp_path / "out" / installed["service_wheel"]).read_bytes()[:2] == b"PK"
    started = ok(run("deployer.py", tmp_path, {"deployment_dir": str(target)}, "start"))
    try:
        import urllib.request

        with urllib.request.urlopen(started["service_url"] + "/health", timeout=5) as resp:
            assert json.loads(resp.read())["pid"] == started["service_pid"]
    finally:
        undone = ok(run("deployer.py", tmp_path, {"deployment_dir": str(target)}, "undeploy"))
    assert f"stopped process {started['service_pid']}" in undone["undeploy_notes"] and not target.exists()
    assert (
        not Path(f"/proc/{started['service_pid']}").exists()
        or Path(f"/proc/{started['service_pid']}/stat").read_text().split(")")[-1].split()[0] == "Z"
    )


def test_deployer_start_on_a_taken_port_is_a_bpmn_error(tmp_path):
    design(tmp_path)
    ok(run("backend_developer.py", tmp_path))
    keep(tmp_path, "service.tar.gz")
    target = Path(ok(run("deployer.py", tmp_path, {"deploy_root": str(tmp_path / "d")}, "install"))["deployment_dir"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        answer = ok(
            run(
                "deployer.py", tmp_path, {"deployment_dir": str(target), "deploy_port": taken.getsockname()[1]}, "start"
            )
        )
    assert answer["bpmnError"]["code"] == "DEPLOY_FAILED" and "in use" in answer["bpmnError"]["message"]
    ok(run("deployer.py", tmp_path, {"deployment_dir": str(target)}, "undeploy"))
    assert not target.exists()


def test_undeploy_refuses_a_folder_that_is_no_deployment(tmp_path):
    (tmp_path / "precious").mkdir()
    done = run("deployer.py", tmp_path, {"deployment_dir": str(tmp_path / "precious")}, "undeploy")
    assert done.returncode == 2 and "not a deployment folder" in done.stderr and (tmp_path / "precious").is_dir()


FAKE_CLI = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    prompt = sys.argv[2] if len(sys.argv) > 2 else sys.stdin.read()
    out = Path(sys.argv[1])
    (out / "openapi.json").write_text(json.dumps({"openapi": "3.0.3", "seen": prompt}))
    print("Thinking... I wrote the document.")
    print("```json")
    print(json.dumps({"design_summary": "from the fake AI", "how": "argv" if len(sys.argv) > 2 else "stdin"}))
    print("```")
""")
TEMPLATE = (
    "Design ${var.feature_request} for ${element_name}.\\nArtifacts:\\n${artifacts}\\nWrite to ${artifacts_out}\\n"
)


@pytest.mark.parametrize("where", ["stdin", "argv"])
def test_an_ai_cli_gets_the_prompt_and_paths_through_the_command_adapter(engine: Engine, tmp_path, where):
    (tmp_path / "fake_ai.py").write_text(FAKE_CLI)
    (tmp_path / "prompt.md").write_text(TEMPLATE.replace("\\n", "\n"))
    cli = [sys.executable, str(tmp_path / "fake_ai.py"), "{artifacts_out}", *(["{prompt}"] if where == "argv" else [])]
    agent = AgentConfig(
        topic="api-designer",
        adapter="command",
        retries=1,
        options={
            "run": ["${BATON_PYTHON}", str(AGENTS / "ai_agent.py"), "--prompt", str(tmp_path / "prompt.md"), "--", *cli]
        },
    )
    engine.deploy([_write(tmp_path / "p.bpmn", process_xml("ai", chain(service_task("api-designer"))))])
    inst = engine.start("ai", {"feature_request": "books: list"})
    engine.attach_artifact(inst.id, "notes.txt", b"earlier notes")
    node = Worker(engine, {"api-designer": agent})
    deadline = time.monotonic() + 60
    while engine.get_instance(inst.id).status == "running" and time.monotonic() < deadline:
        node.run_once() or time.sleep(0.05)
    done = engine.get_instance(inst.id)
    assert done.status == "completed", done
    assert done.variables["design_summary"] == "from the fake AI" and done.variables["how"] == where
    seen = json.loads(engine.read_artifact(inst.id, "openapi.json")[1])["seen"]
    assert seen.startswith("Design books: list for Call api-designer.")
    assert "- notes.txt (version 1): " in seen and seen.split("- notes.txt (version 1): ")[1].split("\n")[0].endswith(
        "notes.txt"
    )
    assert "Write to /" in seen and "${" not in seen


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_the_ai_agent_snippet_in_the_docs_is_a_valid_agents_file(tmp_path):
    from engine.agents import build_adapter, load_config

    doc = (EXAMPLES.parent.parent / "docs" / "feature-delivery.md").read_text()
    snippet = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "baton.toml").write_text(snippet)
    agents = load_config(tmp_path / "baton.toml").agents
    assert set(agents) == {"api-designer", "backend-developer"}
    for cfg in agents.values():
        run = build_adapter(cfg).run
        assert run[:2] == ["${BATON_PYTHON}", "agents/ai_agent.py"] and "--" in run
        assert (EXAMPLES / run[run.index("--prompt") + 1]).is_file()  # the prompt templates ship with the examples


def test_runner_measures_the_services_coverage_when_coverage_is_installed(tmp_path):
    pytest.importorskip("coverage")
    design(tmp_path)
    ok(run("qa_expert.py", tmp_path))
    keep(tmp_path, "tests.tar.gz")
    ok(run("backend_developer.py", tmp_path))
    keep(tmp_path, "service.tar.gz")
    answer = ok(run("qa_runner.py", tmp_path))
    cover = json.loads((tmp_path / "out" / "test-report.json").read_text())["coverage"]
    assert cover["available"] and cover["statements"] > 50 and 50 < answer["coverage_percent"] <= 100


def test_runner_without_pytest_runs_the_tests_itself(tmp_path):
    design(tmp_path)
    ok(run("qa_expert.py", tmp_path))
    keep(tmp_path, "tests.tar.gz")
    ok(run("backend_developer.py", tmp_path, {"skip_validation": ["updateBook"]}))
    keep(tmp_path, "service.tar.gz")
    answer = ok(run("qa_runner.py", tmp_path, {}, "--runner", "builtin"))
    report = json.loads((tmp_path / "out" / "test-report.json").read_text())
    assert report["runner"] == "built-in runner"
    assert report["tests"] == {"total": 15, "passed": 13, "failed": 2} and answer["quality_score"] == 87
    assert {f["test"] for f in report["failures"]} == {"test_updateBook_missing_fields", "test_updateBook_wrong_type"}
