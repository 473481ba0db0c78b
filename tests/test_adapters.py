"""The three adapters against their real counterparts: functions, an HTTP server, subprocesses."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.adapters import BpmnError, substitute
from engine.adapters.base import CallContext
from engine.adapters.command import CommandAdapter
from engine.adapters.http import HttpAdapter, redact_url
from engine.adapters.python import PythonAdapter
from engine.agents import build_adapter, load_agents
from engine.errors import AgentFailure, BpmnErrorRaised


def ctx(seconds: float = 5.0, **changes) -> CallContext:
    values = dict(
        instance_id="inst-1",
        business_key="order-42",
        process_key="checkout",
        process_version=3,
        element_id="charge",
        element_name="Charge card",
        topic="payment",
        job_id="job-7",
        attempt=2,
        deadline=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds),
    )
    values.update(changes)
    return CallContext(**values)


def test_substitute(monkeypatch):
    monkeypatch.setenv("BATON_T_A", "alpha")
    assert substitute("x-${BATON_T_A}-$${BATON_T_A}") == "x-alpha-${BATON_T_A}"
    assert substitute("${B}", {"B": ""}) == ""
    with pytest.raises(AgentFailure, match="BATON_T_UNSET is not set") as caught:
        substitute("${BATON_T_UNSET}", {})
    assert not caught.value.retryable and caught.value.details["variable"] == "BATON_T_UNSET"


# --------------------------------------------------------------------------------------------- python

AGENTS_MODULE = """
import threading

from engine.adapters import BpmnError
from engine.errors import AgentFailure, BpmnErrorRaised

release = threading.Event()


class Declined(Exception):
    bpmn_error_code = "DECLINED"


def compute(variables, context):
    return {"total": variables["amount"] * 2, "topic": context.topic, "attempt": context.attempt}


def mutate(variables, context):
    variables["amount"] = -1


def boom(variables, context):
    raise ValueError("bad input")


def bad_return(variables, context):
    return [1, 2]


def bpmn_class(variables, context):
    raise BpmnError("CARD_DECLINED", "card declined", {"reason": "limit"})


def bpmn_attribute(variables, context):
    raise Declined("no money")


def bpmn_dict(variables, context):
    return {"bpmnError": {"code": "OUT_OF_STOCK", "message": "none left"}}


def bpmn_raised(variables, context):
    raise BpmnErrorRaised("RAISED", "directly")


def permanent(variables, context):
    raise AgentFailure("do not retry", retryable=False, reason="x")


def slow(variables, context):
    release.wait(10)
    return {"late": True}


class Holder:
    @staticmethod
    def method(variables, context):
        return {"from": "method"}


not_callable = 42
"""


@pytest.fixture
def agents_module(tmp_path, monkeypatch):
    name = f"baton_test_agents_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(AGENTS_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    module = sys.modules.pop(name, None)
    if module is not None:
        module.release.set()


def test_python_function_by_colon_and_dotted_path(agents_module):
    assert PythonAdapter(f"{agents_module}:compute").call({"amount": 21}, ctx()) == {
        "total": 42,
        "topic": "payment",
        "attempt": 2,
    }
    assert PythonAdapter(f"{agents_module}.compute").call({"amount": 1}, ctx())["total"] == 2
    assert PythonAdapter(f"{agents_module}:Holder.method").call({}, ctx()) == {"from": "method"}


def test_python_function_gets_a_copy_and_none_means_no_outputs(agents_module):
    variables = {"amount": 5}
    assert PythonAdapter(f"{agents_module}:mutate").call(variables, ctx()) == {}
    assert variables == {"amount": 5}


def test_python_exception_is_retryable_with_traceback(agents_module):
    with pytest.raises(AgentFailure, match="raised ValueError: bad input") as caught:
        PythonAdapter(f"{agents_module}:boom").call({}, ctx())
    failure = caught.value
    assert failure.retryable
    assert failure.details["exception"] == "ValueError"
    assert 'raise ValueError("bad input")' in failure.details["traceback"]
    assert isinstance(failure.__cause__, ValueError)


def test_python_bad_return_is_not_retryable(agents_module):
    with pytest.raises(AgentFailure, match="JSON object") as caught:
        PythonAdapter(f"{agents_module}:bad_return").call({}, ctx())
    assert not caught.value.retryable


def test_python_agent_failure_passes_through(agents_module):
    with pytest.raises(AgentFailure, match="do not retry") as caught:
        PythonAdapter(f"{agents_module}:permanent").call({}, ctx())
    assert not caught.value.retryable and caught.value.details == {"reason": "x"}


@pytest.mark.parametrize(
    ("function", "code", "message", "variables"),
    [
        ("bpmn_class", "CARD_DECLINED", "card declined", {"reason": "limit"}),
        ("bpmn_attribute", "DECLINED", "no money", {}),
        ("bpmn_dict", "OUT_OF_STOCK", "none left", {}),
        ("bpmn_raised", "RAISED", "directly", {}),
    ],
)
def test_python_bpmn_errors(agents_module, function, code, message, variables):
    with pytest.raises(BpmnErrorRaised) as caught:
        PythonAdapter(f"{agents_module}:{function}").call({}, ctx())
    assert (caught.value.error_code, caught.value.message, caught.value.variables) == (code, message, variables)


def test_bpmn_error_class_is_exported():
    err = BpmnError("X", "m", {"a": 1})
    assert (err.bpmn_error_code, str(err), err.bpmn_error_variables) == ("X", "m", {"a": 1})


def test_python_timeout(agents_module):
    adapter = PythonAdapter(f"{agents_module}:slow")
    started = time.monotonic()
    with pytest.raises(AgentFailure, match="timed out after") as caught:
        adapter.call({}, ctx(0.3))
    assert caught.value.retryable
    assert time.monotonic() - started < 1.5
    with pytest.raises(AgentFailure, match="deadline had passed"):
        adapter.call({}, ctx(-1))


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        ("baton_no_such_module_xyz:f", "cannot import 'baton_no_such_module_xyz:f': ModuleNotFoundError"),
        ("{mod}:missing", "has no attribute 'missing'"),
        ("{mod}:not_callable", "is not callable"),
        ("no_such_agent_name", "no entry point of that name"),
    ],
)
def test_python_unresolvable_function_is_not_retryable(agents_module, function, problem):
    with pytest.raises(AgentFailure, match=problem) as caught:
        PythonAdapter(function.format(mod=agents_module)).call({}, ctx())
    assert not caught.value.retryable


def test_python_entry_point(agents_module, tmp_path):
    dist = tmp_path / "baton_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: baton-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[baton.agents]\ndoubler = {agents_module}:compute\n")
    assert PythonAdapter("doubler").call({"amount": 4}, ctx()) == {"total": 8, "topic": "payment", "attempt": 2}


def test_python_accepts_a_callable():
    adapter = PythonAdapter(lambda variables, context: {"job": context.job_id})
    assert adapter.call({}, ctx()) == {"job": "job-7"}
    assert adapter.function.endswith("<lambda>")


# ----------------------------------------------------------------------------------------------- http


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - quiet test server
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        path = self.path.split("?")[0]
        if path == "/ok":
            self._send(200, json.dumps({"approved": True, "amount": json.loads(body)["variables"]["amount"]}))
        elif path == "/empty":
            self._send(200, "")
        elif path == "/nocontent":
            self._send(204, None)
        elif path == "/bpmn":
            self._send(200, json.dumps({"bpmnError": {"code": "CARD_DECLINED", "message": "declined"}}))
        elif path == "/notjson":
            self._send(200, "hello")
        elif path == "/array":
            self._send(200, "[1, 2]")
        elif path == "/slow":
            self.server.release.wait(10)
            self._send(200, "{}")
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            self._send(
                status,
                "x" * 10_000 if status == 400 else json.dumps({"error": status}),
                {"Retry-After": "3"} if status == 429 else {},
            )
        else:
            self._send(404, "no route")

    def _send(self, status, body, headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        data = b"" if body is None else body.encode()
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.release = threading.Event()

    def handle_error(self, request, client_address):  # a client that gave up is not a test failure
        pass


@pytest.fixture(scope="module")
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def http(server):
    adapters: list[HttpAdapter] = []

    def make(path, **options):
        adapter = HttpAdapter(f"http://127.0.0.1:{server.server_port}{path}", **options)
        adapters.append(adapter)
        return adapter

    server.requests.clear()
    yield make
    for adapter in adapters:
        adapter.close()


def test_http_success_sends_variables_context_and_idempotency_key(http, server, monkeypatch):
    monkeypatch.setenv("BATON_T_TOKEN", "s3cret")
    adapter = http("/ok", headers={"Authorization": "Bearer ${BATON_T_TOKEN}"})
    assert adapter.call({"amount": 12.5, "when": dt.date(2025, 1, 2)}, ctx()) == {"approved": True, "amount": 12.5}
    request = server.requests[-1]
    assert request["headers"]["Idempotency-Key"] == "job-7:2"
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["Content-Type"] == "application/json"
    body = json.loads(request["body"])
    assert body["variables"] == {"amount": 12.5, "when": "2025-01-02"}
    assert body["context"]["instance_id"] == "inst-1" and body["context"]["idempotency_key"] == "job-7:2"
    assert body["context"]["business_key"] == "order-42" and body["context"]["process_version"] == 3
    assert adapter.call({"amount": 1}, ctx(attempt=3)) == {"approved": True, "amount": 1}  # pooled client reused
    assert server.requests[-1]["headers"]["Idempotency-Key"] == "job-7:3"


def test_http_placeholder_in_url_and_unset_variable(server, http, monkeypatch):
    monkeypatch.setenv("BATON_T_PORT", str(server.server_port))
    adapter = HttpAdapter("http://127.0.0.1:${BATON_T_PORT}/ok?key=${BATON_T_KEY}")
    try:
        with pytest.raises(AgentFailure, match="BATON_T_KEY is not set") as caught:
            adapter.call({"amount": 1}, ctx())
        assert not caught.value.retryable and server.requests == []
        monkeypatch.setenv("BATON_T_KEY", "k3y")
        assert adapter.call({"amount": 1}, ctx())["approved"] is True
        assert server.requests[-1]["path"] == "/ok?key=k3y"
    finally:
        adapter.close()


@pytest.mark.parametrize("path", ["/empty", "/nocontent"])
def test_http_empty_answers(http, path):
    assert http(path).call({}, ctx()) == {}


def test_http_bpmn_error_body(http):
    with pytest.raises(BpmnErrorRaised) as caught:
        http("/bpmn").call({}, ctx())
    assert caught.value.error_code == "CARD_DECLINED" and caught.value.message == "declined"


@pytest.mark.parametrize("path", ["/notjson", "/array"])
def test_http_2xx_that_is_not_an_object_is_not_retryable(http, path):
    with pytest.raises(AgentFailure) as caught:
        http(path).call({}, ctx())
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (404, False), (408, True), (429, True), (500, True), (503, True)]
)
def test_http_status_classes(http, status, retryable):
    with pytest.raises(AgentFailure, match=f"answered {status}") as caught:
        http(f"/status/{status}").call({}, ctx())
    failure = caught.value
    assert failure.retryable is retryable
    assert failure.details["status"] == status
    assert failure.details["url"].endswith(f"/status/{status}") and failure.details["method"] == "POST"
    if status == 400:
        assert len(failure.details["body"]) == 4096
    if status == 429:
        assert failure.details["retry_after"] == "3"


def test_http_retry_overrides(http):
    with pytest.raises(AgentFailure) as caught:
        http("/status/404", retry_on_4xx=True).call({}, ctx())
    assert caught.value.retryable
    with pytest.raises(AgentFailure) as caught:
        http("/status/500", retry_statuses=[503]).call({}, ctx())
    assert not caught.value.retryable
    with pytest.raises(AgentFailure) as caught:
        http("/status/404", retry_statuses=[404]).call({}, ctx())
    assert caught.value.retryable


def test_http_slow_answer_times_out_at_the_deadline(http):
    started = time.monotonic()
    with pytest.raises(AgentFailure, match="timed out after") as caught:
        http("/slow").call({}, ctx(0.5))
    assert caught.value.retryable
    assert time.monotonic() - started < 2.0


def test_http_network_error_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = HttpAdapter(f"http://127.0.0.1:{port}/x?token=abc")
    try:
        with pytest.raises(AgentFailure, match="network error") as caught:
            adapter.call({}, ctx())
        assert caught.value.retryable
        assert caught.value.details["url"] == f"http://127.0.0.1:{port}/x"
    finally:
        adapter.close()


def test_redact_url():
    assert redact_url("https://user:pw@api.example.com/v1/charge?key=1#frag") == "https://api.example.com/v1/charge"


# -------------------------------------------------------------------------------------------- command

SCRIPT = """
import json, os, sys
request = json.load(sys.stdin)
print(json.dumps({
    "doubled": request["variables"]["n"] * 2,
    "context_job": request["context"]["job_id"],
    "env": {k: v for k, v in os.environ.items() if k.startswith("BATON_")},
    "secret": os.environ.get("MY_SECRET"),
    "cwd": os.getcwd(),
}))
"""


def script(folder: Path, body: str, name: str = "agent.py") -> str:
    (folder / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return name


def test_command_success_with_context_env_and_relative_path(tmp_path, monkeypatch):
    monkeypatch.setenv("BATON_T_SECRET_SRC", "hunter2")
    adapter = CommandAdapter(
        [sys.executable, script(tmp_path, SCRIPT)], cwd=tmp_path, env={"MY_SECRET": "${BATON_T_SECRET_SRC}"}
    )
    out = adapter.call({"n": 21}, ctx())
    assert out["doubled"] == 42 and out["context_job"] == "job-7"
    assert out["secret"] == "hunter2"
    assert os.path.samefile(out["cwd"], tmp_path)
    env = out["env"]
    assert env["BATON_INSTANCE_ID"] == "inst-1" and env["BATON_BUSINESS_KEY"] == "order-42"
    assert env["BATON_PROCESS_KEY"] == "checkout" and env["BATON_PROCESS_VERSION"] == "3"
    assert env["BATON_ELEMENT_ID"] == "charge" and env["BATON_ELEMENT_NAME"] == "Charge card"
    assert env["BATON_JOB_ID"] == "job-7" and env["BATON_ATTEMPT"] == "2"
    assert env["BATON_IDEMPOTENCY_KEY"] == "job-7:2" and env["BATON_DEADLINE"].startswith("20")


def test_command_from_config_runs_in_the_config_folder(tmp_path):
    script(tmp_path, SCRIPT)
    (tmp_path / "baton.toml").write_text(
        f'[agents.double]\nadapter = "command"\nrun = [{json.dumps(sys.executable)}, "agent.py"]\ntimeout = 5\n'
    )
    adapter = build_adapter(load_agents(tmp_path / "baton.toml")["double"])
    assert adapter.call({"n": 2}, ctx())["doubled"] == 4


def test_command_non_zero_exit_keeps_the_stderr_tail(tmp_path):
    body = 'import sys\nsys.stderr.write("x" * 10000 + "LAST LINE")\nsys.exit(3)\n'
    with pytest.raises(AgentFailure, match="exited with status 3") as caught:
        CommandAdapter([sys.executable, "-c", body]).call({}, ctx())
    failure = caught.value
    assert failure.retryable and failure.details["exit_code"] == 3
    assert failure.details["stderr"].endswith("LAST LINE") and len(failure.details["stderr"]) == 4096


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [("", {}), ("  \n", {}), ('{"a": 1}\n', {"a": 1})],
)
def test_command_outputs(stdout, expected):
    assert CommandAdapter([sys.executable, "-c", f"print({stdout!r}, end='')"]).call({}, ctx()) == expected


@pytest.mark.parametrize("stdout", ["hello world", "[1, 2]"])
def test_command_stdout_that_is_not_a_json_object_is_not_retryable(stdout):
    with pytest.raises(AgentFailure) as caught:
        CommandAdapter([sys.executable, "-c", f"print({stdout!r})"]).call({}, ctx())
    assert not caught.value.retryable
    if stdout == "hello world":
        assert "hello world" in str(caught.value)


def test_command_bpmn_error(tmp_path):
    body = 'import json\nprint(json.dumps({"bpmnError": {"code": "LINT_FAILED", "message": "3 errors"}}))\n'
    with pytest.raises(BpmnErrorRaised) as caught:
        CommandAdapter([sys.executable, "-c", body]).call({}, ctx())
    assert (caught.value.error_code, caught.value.message) == ("LINT_FAILED", "3 errors")


def test_command_not_found_is_not_retryable(tmp_path):
    with pytest.raises(AgentFailure, match="command not found: baton-no-such-command") as caught:
        CommandAdapter(["baton-no-such-command"]).call({}, ctx())
    assert not caught.value.retryable
    with pytest.raises(AgentFailure, match="working folder not found") as caught:
        CommandAdapter([sys.executable, "-c", "pass"], cwd=tmp_path / "missing").call({}, ctx())
    assert not caught.value.retryable


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (a zombie is dead, just not reaped by its parent)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


HUNG = """
import os, signal, subprocess, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "60"])
with open("pids.txt", "w") as f:
    f.write(f"{os.getpgid(0)} {child.pid}")
sys.stderr.write("working...\\n")
sys.stderr.flush()
time.sleep(60)
"""


@pytest.mark.parametrize(("mode", "grace"), [("polite", 0.0), ("stubborn", 2.0)])
def test_command_hung_is_killed_with_its_process_group(tmp_path, mode, grace):
    adapter = CommandAdapter([sys.executable, script(tmp_path, HUNG), mode], cwd=tmp_path)
    started = time.monotonic()
    with pytest.raises(AgentFailure, match="timed out after 1.5 s") as caught:
        adapter.call({}, ctx(1.5))
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 1.5 + grace + 1.0
    assert caught.value.retryable and "working..." in caught.value.details["stderr"]
    pgid, grandchild = map(int, (tmp_path / "pids.txt").read_text().split())
    assert grandchild != pgid
    deadline = time.monotonic() + 3  # SIGKILL is delivered at once, but the kernel tears processes down async
    while _alive_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive_in_group(pgid) == []
