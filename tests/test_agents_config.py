"""baton.toml: loading, validation with messages that name the table, defaults, BATON_CONFIG."""

from __future__ import annotations

import random
import re
import textwrap
from pathlib import Path

import pytest

from engine.adapters.command import CommandAdapter
from engine.adapters.http import HttpAdapter
from engine.adapters.python import PythonAdapter
from engine.agents import (
    DEFAULT_ATTEMPTS,
    AgentConfig,
    AgentsFile,
    WorkerSettings,
    build_adapter,
    load_agents,
    load_config,
    load_worker_settings,
)
from engine.errors import ConfigurationError

EXAMPLE = """
[defaults]
timeout = "PT5M"
retries = 4
backoff = { base = "PT2S", cap = "PT1M" }
circuit = { threshold = 3, cooloff = "PT30S" }

[worker]
threads = 8
poll = "PT0.5S"

[agents.api-designer]
adapter = "command"
run = ["python", "agents/api_designer.py"]
timeout = "PT10M"
retry_cycle = "R2/PT10S"
env = { TOKEN = "${DESIGN_TOKEN}" }

[agents.payment]
adapter = "http"
url = "http://127.0.0.1:9000/charge"
headers = { Authorization = "Bearer ${PAYMENT_TOKEN}" }
retry_statuses = [502, 503]

[agents.tax]
adapter = "python"
function = "myorg.tax:compute"
retries = 1
"""


def write(folder: Path, text: str, name: str = "baton.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_valid_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYMENT_TOKEN", "s3cret")
    path = write(tmp_path, EXAMPLE)
    config = load_config(path)
    assert isinstance(config, AgentsFile)
    assert config.path == path.resolve()
    assert config.worker == WorkerSettings(threads=8, poll=0.5)
    agents = config.agents
    assert set(agents) == {"api-designer", "payment", "tax"}

    design = agents["api-designer"]
    assert design.adapter == "command"
    assert design.options == {"run": ["python", "agents/api_designer.py"], "env": {"TOKEN": "${DESIGN_TOKEN}"}}
    assert design.timeout == 600.0
    assert design.retries is None and design.retry_cycle == [10.0, 10.0]  # own cycle: default retries dropped
    assert design.max_attempts == 3
    assert (design.backoff_base, design.backoff_cap) == (2.0, 60.0)
    assert (design.circuit_threshold, design.circuit_cooloff) == (3, 30.0)
    assert design.folder == tmp_path.resolve()

    payment = agents["payment"]
    assert payment.timeout == 300.0 and payment.retries == 4 and payment.retry_cycle is None
    # the secret stays a placeholder: it is only read from the environment at call time
    assert payment.options["headers"] == {"Authorization": "Bearer ${PAYMENT_TOKEN}"}
    assert "s3cret" not in repr(config)
    assert payment.options["retry_statuses"] == [502, 503]

    assert agents["tax"].retries == 1 and agents["tax"].max_attempts == 1


def test_retry_delay():
    cycle = AgentConfig(topic="t", adapter="python", options={"function": "m:f"}, retry_cycle=[10.0, 60.0])
    assert [cycle.retry_delay(n) for n in (1, 2, 3)] == [10.0, 60.0, None]
    longer = AgentConfig(topic="t", adapter="python", retries=5, retry_cycle=[10.0, 60.0])
    assert [longer.retry_delay(n) for n in (1, 2, 3, 4, 5)] == [10.0, 60.0, 60.0, 60.0, None]
    jitter = AgentConfig(topic="t", adapter="python", backoff_base=4.0, backoff_cap=5.0)
    assert jitter.max_attempts == DEFAULT_ATTEMPTS == 3
    rng = random.Random(3)
    assert 0.0 <= jitter.retry_delay(1, rng) <= 4.0
    assert 0.0 <= jitter.retry_delay(2, rng) <= 5.0
    assert jitter.retry_delay(3, rng) is None


def test_build_adapter(tmp_path):
    config = load_agents(write(tmp_path, EXAMPLE))
    command = build_adapter(config["api-designer"])
    assert isinstance(command, CommandAdapter)
    assert command.cwd == str(tmp_path.resolve()) and command.env == {"TOKEN": "${DESIGN_TOKEN}"}
    http = build_adapter(config["payment"])
    assert isinstance(http, HttpAdapter) and http.method == "POST" and http.retry_statuses == {502, 503}
    http.close()
    python = build_adapter(config["tax"])
    assert isinstance(python, PythonAdapter) and python.function == "myorg.tax:compute"
    with pytest.raises(ConfigurationError, match=r"\[agents.x\].*missing `url"):
        build_adapter(AgentConfig(topic="x", adapter="http", options={}))
    with pytest.raises(ConfigurationError, match="unknown adapter 'ftp'"):
        build_adapter(AgentConfig(topic="x", adapter="ftp"))


def test_relative_cwd_resolves_against_the_config_folder(tmp_path):
    path = write(tmp_path, '[agents.lint]\nadapter = "command"\nrun = ["ruff", "check"]\ncwd = "src"\n')
    assert load_agents(path)["lint"].options["cwd"] == str((tmp_path / "src").resolve())


def test_default_file_in_the_working_folder_and_baton_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_agents(environ={}) == {}  # no ./baton.toml: no agents, every topic is external
    assert load_config(environ={}) == AgentsFile()
    write(tmp_path, '[agents.a]\nadapter = "python"\nfunction = "m:f"\n')
    assert set(load_agents(environ={})) == {"a"}
    other = write(tmp_path, '[agents.b]\nadapter = "python"\nfunction = "m:g"\n[worker]\nthreads = 2\n', "other.toml")
    assert set(load_agents(environ={"BATON_CONFIG": str(other)})) == {"b"}
    monkeypatch.setenv("BATON_CONFIG", str(other))
    assert set(load_agents()) == {"b"}
    assert load_worker_settings() == WorkerSettings(threads=2, poll=1.0)


def test_a_named_file_must_exist(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_agents(tmp_path / "nope.toml")
    with pytest.raises(ConfigurationError, match="nope.toml.*does not exist"):
        load_agents(environ={"BATON_CONFIG": str(tmp_path / "nope.toml")})


AGENT = '[agents.pay]\nadapter = "http"\nurl = "http://x"\n'


@pytest.mark.parametrize(
    ("text", "table", "problem"),
    [
        ('[agents.pay]\nurl = "http://x"\n', "[agents.pay]", "missing `adapter"),
        ('[agents.pay]\nadapter = "ftp"\n', "[agents.pay]", "unknown adapter 'ftp'"),
        ("[agents.pay]\nadapter = 3\n", "[agents.pay]", "missing `adapter"),
        ('[agents.pay]\nadapter = "http"\n', "[agents.pay]", "missing `url"),
        ('[agents.lint]\nadapter = "command"\n', "[agents.lint]", "missing `run"),
        ('[agents.tax]\nadapter = "python"\n', "[agents.tax]", "missing `function"),
        ('[agents.lint]\nadapter = "command"\nrun = "ruff check"\n', "[agents.lint]", "run must be a non-empty list"),
        ('[agents.lint]\nadapter = "command"\nrun = []\n', "[agents.lint]", "run must be a non-empty list"),
        ('[agents.lint]\nadapter = "command"\nrun = ["ruff", 1]\n', "[agents.lint]", "run must be a non-empty list"),
        (
            '[agents.lint]\nadapter = "command"\nrun = ["x"]\nenv = { A = 1 }\n',
            "[agents.lint]",
            "env must be a table of strings",
        ),
        ('[agents.lint]\nadapter = "command"\nrun = ["x"]\nurl = "http://x"\n', "[agents.lint]", "unknown key 'url'"),
        (AGENT + 'timeout = "10 minutes"\n', "[agents.pay]", "timeout: '10 minutes' is not a duration"),
        (AGENT + 'timeout = "PT0S"\n', "[agents.pay]", "timeout = 'PT0S': must be more than zero"),
        (AGENT + "retries = 0\n", "[agents.pay]", "retries = 0"),
        (AGENT + 'retries = "3"\n', "[agents.pay]", "retries = '3'"),
        (AGENT + 'retry_cycle = "R/PT1M"\n', "[agents.pay]", "retry_cycle: .*unbounded"),
        (AGENT + 'backoff = { base = "soon" }\n', "[agents.pay]", "backoff.base: 'soon' is not a duration"),
        (AGENT + 'backoff = { start = "PT1S" }\n', "[agents.pay] backoff", "unknown key 'start'"),
        (AGENT + 'backoff = "PT1S"\n', "[agents.pay]", "backoff must be a table"),
        (AGENT + "circuit = { threshold = 0 }\n", "[agents.pay]", "circuit.threshold = 0"),
        (AGENT + 'method = "FETCH"\n', "[agents.pay]", "method = 'FETCH'"),
        (AGENT + 'retry_on_4xx = "yes"\n', "[agents.pay]", "retry_on_4xx must be true or false"),
        (AGENT + "retry_statuses = [700]\n", "[agents.pay]", "retry_statuses must be a list of HTTP status codes"),
        (AGENT + 'headers = { A = "${NOT CLOSED" }\n', "[agents.pay]", "headers.A: .*malformed placeholder"),
        ('[agents.pay]\nadapter = "http"\nurl = "ftp://x"\n', "[agents.pay]", "must start with http"),
        ('[agents."a.b"]\nadapter = "http"\n', '[agents."a.b"]', "missing `url"),
        ("[agents]\npay = 3\n", "[agents.pay]", "must be a table"),
        ('[defaults]\ntimeout = "later"\n', "[defaults]", "timeout: 'later' is not a duration"),
        ('[defaults]\nadapter = "http"\n', "[defaults]", "unknown key 'adapter'"),
        ("[worker]\nthreads = 0\n", "[worker]", "threads = 0"),
        ('[worker]\npoll = "x"\n', "[worker]", "poll: 'x' is not a duration"),
        ("[agent.pay]\nadapter = 1\n", "top level", "unknown table or key 'agent'"),
    ],
)
def test_invalid_files_name_the_file_and_the_table(tmp_path, text, table, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_agents(path)
    message = str(caught.value)
    assert message.startswith(f"{path.resolve()}: {table}: "), message
    assert re.search(problem, message), message


def test_not_toml(tmp_path):
    path = write(tmp_path, "[agents.pay\nadapter = \n")
    with pytest.raises(ConfigurationError, match=r"baton.toml: cannot read it as TOML"):
        load_agents(path)


def test_serve_deploying_a_folder_uses_the_folders_agents_file_unless_another_is_named(tmp_path, monkeypatch):
    from engine.agents import config_beside

    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "baton.toml").write_text('[agents.x]\nadapter = "python"\nfunction = "m:f"\n')
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert config_beside([str(folder)], None) == str(folder / "baton.toml")
    assert load_config(config_beside([str(folder)], None)).agents["x"].adapter == "python"
    assert config_beside([str(folder / "baton.toml")], None) is None  # a file, not a folder: nothing to find
    assert config_beside([str(folder)], "/etc/named.toml") == "/etc/named.toml"  # BATON_CONFIG wins
    (work / "baton.toml").write_text("")
    assert config_beside([str(folder)], None) is None  # ./baton.toml wins (the default lookup finds it)
