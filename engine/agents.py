"""``baton.toml``: which agent runs which topic, and how it is retried, timed out and circuit-broken.

The file is ``$BATON_CONFIG`` if set (it must exist), else ``./baton.toml`` if present (else no agents:
every topic is external, fetched by workers over REST).  Example::

    [defaults]                       # optional, for every agent
    timeout = "PT5M"                 # ISO 8601 duration or seconds; default 300 s
    retries = 3                      # attempts in total (the first one included)
    backoff = { base = "PT1S", cap = "PT5M" }       # full-jitter exponential backoff between attempts
    circuit = { threshold = 5, cooloff = "PT1M" }   # open after 5 consecutive failures, for 1 minute

    [worker]
    threads = 4                      # agent calls run in parallel per `baton worker`
    poll = "PT1S"                    # how often to look for due jobs when idle

    [agents.api-designer]
    adapter = "command"
    run = ["python", "agents/api_designer.py"]      # relative to this file's folder (or `cwd`)
    cwd = "."                        # optional, relative to this file's folder
    env = { OPENAI_API_KEY = "${OPENAI_API_KEY}" }  # optional; ${VAR} read at call time
    timeout = "PT10M"
    retry_cycle = "R3/PT10S"         # or "PT10S,PT1M,PT10M" or ["PT10S", 60]: delay before each retry

    [agents.payment]
    adapter = "http"
    url = "http://127.0.0.1:9000/charge"
    method = "POST"                  # default
    headers = { Authorization = "Bearer ${PAYMENT_TOKEN}" }   # from the environment, never stored
    retry_on_4xx = false             # default; 408 and 429 are always retryable
    retry_statuses = [502, 503]      # optional: exactly these non-2xx statuses are retryable

    [agents.tax]
    adapter = "python"
    function = "myorg.tax:compute"   # or "myorg.tax.compute", or an entry point in group "baton.agents"

Retries: ``retries`` is the number of attempts in total; ``retry_cycle`` lists the delay before each retry
(so it allows ``len(retry_cycle) + 1`` attempts unless ``retries`` says otherwise, the last delay
repeating).  Without a cycle the delay is full-jitter backoff.  An agent that sets ``retries`` or
``retry_cycle`` takes neither from ``[defaults]``.  ``${VAR}`` placeholders stay in the loaded config and
are expanded by the adapter at each call.  Every mistake is a :class:`~engine.errors.ConfigurationError`
naming the file and the ``[agents.<topic>]`` table.

API: :func:`load_config` -> :class:`AgentsFile` (``agents``, ``worker``, ``path``); :func:`load_agents` and
:func:`load_worker_settings` are its two halves; :func:`config_beside` finds the file of a deployed
folder; :func:`build_adapter` makes the adapter of an
:class:`AgentConfig`; :meth:`AgentConfig.retry_delay` says how long to wait after a failed attempt.
"""

from __future__ import annotations

import os
import random
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .adapters import placeholder_problem
from .adapters.base import Adapter
from .adapters.command import CommandAdapter
from .adapters.http import HttpAdapter
from .adapters.python import PythonAdapter
from .durations import backoff, parse_duration, parse_retry_cycle
from .errors import ConfigurationError

DEFAULT_TIMEOUT = 300.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 300.0
CONFIG_FILE = "baton.toml"

ADAPTERS: dict[str, Callable[..., Adapter]] = {"python": PythonAdapter, "http": HttpAdapter, "command": CommandAdapter}
# adapter -> option -> (kind, required)
_OPTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "python": {"function": ("str", True)},
    "http": {
        "url": ("str", True),
        "method": ("method", False),
        "headers": ("strtable", False),
        "retry_on_4xx": ("bool", False),
        "retry_statuses": ("statuses", False),
    },
    "command": {"run": ("argv", True), "cwd": ("str", False), "env": ("strtable", False)},
}
_POLICY_KEYS = ("timeout", "retries", "retry_cycle", "backoff", "circuit")


@dataclass(frozen=True)
class AgentConfig:
    """One ``[agents.<topic>]`` table, validated, with ``[defaults]`` applied.  Durations are in seconds."""

    topic: str
    adapter: str
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = DEFAULT_TIMEOUT
    retries: int | None = None  # attempts in total; None = len(retry_cycle) + 1 or the engine default
    retry_cycle: list[float] | None = None  # delay before each retry
    backoff_base: float | None = None
    backoff_cap: float | None = None
    circuit_threshold: int = 5
    circuit_cooloff: float = 60.0
    folder: Path | None = None  # the folder of the config file: default cwd of commands
    source: str | None = None  # the config file, for messages

    @property
    def max_attempts(self) -> int:
        if self.retries is not None:
            return self.retries
        return len(self.retry_cycle) + 1 if self.retry_cycle is not None else DEFAULT_ATTEMPTS

    def retry_delay(self, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next; None = no attempts left."""
        if attempt >= self.max_attempts:
            return None
        if self.retry_cycle:
            return self.retry_cycle[min(attempt, len(self.retry_cycle)) - 1]
        base = DEFAULT_BACKOFF_BASE if self.backoff_base is None else self.backoff_base
        cap = DEFAULT_BACKOFF_CAP if self.backoff_cap is None else self.backoff_cap
        return backoff(attempt, base, cap, rng)


@dataclass(frozen=True)
class WorkerSettings:
    """The ``[worker]`` table."""

    threads: int = 4
    poll: float = 1.0


@dataclass(frozen=True)
class AgentsFile:
    """Everything in ``baton.toml`` (``path`` None when there was no file)."""

    agents: dict[str, AgentConfig] = field(default_factory=dict)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    path: Path | None = None


def config_path(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """The config file to read and whether it was named explicitly (then it must exist)."""
    env = os.environ if environ is None else environ
    if path is not None:
        return Path(path), True
    if env.get("BATON_CONFIG"):
        return Path(env["BATON_CONFIG"]), True
    return Path.cwd() / CONFIG_FILE, False


def config_beside(deployed: Sequence[str | Path], named: str | None) -> str | None:
    """The agents file ``baton serve --deploy FOLDER`` uses: ``named`` (``$BATON_CONFIG``, ``Settings.config``) if
    given, else ``./baton.toml`` if present, else the ``baton.toml`` of the first deployed folder that has one
    (so ``baton serve --deploy bpmn/examples`` runs the examples' agents); None = the default lookup."""
    if named or (Path.cwd() / CONFIG_FILE).is_file():
        return named
    for path in deployed:
        candidate = Path(path) / CONFIG_FILE
        if Path(path).is_dir() and candidate.is_file():
            return str(candidate)
    return None


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> AgentsFile:
    """Read and validate the config file (see the module docstring)."""
    file, explicit = config_path(path, environ)
    if not file.is_file():
        if explicit:
            raise ConfigurationError(f"{file}: the configuration file does not exist", file=str(file))
        return AgentsFile()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{file}: cannot read it as TOML: {exc}", file=str(file)) from exc
    return _parse(data, file.resolve())


def load_agents(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, AgentConfig]:
    """The ``[agents.*]`` tables by topic (``{}`` when there is no default config file)."""
    return load_config(path, environ).agents


def load_worker_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> WorkerSettings:
    """The ``[worker]`` table (defaults when absent)."""
    return load_config(path, environ).worker


def build_adapter(cfg: AgentConfig) -> Adapter:
    """A new adapter for ``cfg`` (call its ``close()`` when done with it)."""
    where = _Where(cfg.source or "<agents>", f"[agents.{_key(cfg.topic)}]")
    if cfg.adapter not in ADAPTERS:
        where.fail(f"unknown adapter {cfg.adapter!r}; use one of {', '.join(sorted(ADAPTERS))}")
    options = _options(cfg.adapter, cfg.options, where, cfg.folder)
    if cfg.adapter == "command" and "cwd" not in options and cfg.folder is not None:
        options["cwd"] = str(cfg.folder)
    return ADAPTERS[cfg.adapter](**options)


class _Where:
    def __init__(self, file: str, table: str) -> None:
        self.file, self.table = file, table

    def fail(self, problem: str) -> NoReturn:
        raise ConfigurationError(f"{self.file}: {self.table}: {problem}", file=self.file, table=self.table)


def _key(topic: str) -> str:
    return topic if topic and all(c.isalnum() or c in "-_" for c in topic) else f'"{topic}"'


def _parse(data: dict[str, Any], file: Path) -> AgentsFile:
    top = _Where(str(file), "top level")
    for key in data:
        if key not in ("agents", "defaults", "worker"):
            top.fail(f"unknown table or key {key!r}; expected [agents.<topic>], [defaults] or [worker]")
    defaults = _table(data, "defaults", top)
    _known(defaults, _POLICY_KEYS, _Where(str(file), "[defaults]"))
    base = _policy(defaults, _Where(str(file), "[defaults]"))
    agents_table = _table(data, "agents", top)
    agents = {}
    for topic, table in agents_table.items():
        where = _Where(str(file), f"[agents.{_key(topic)}]")
        if not isinstance(table, dict):
            where.fail("must be a table with at least `adapter = ...`")
        agents[topic] = _agent(topic, table, base, where, file)
    worker_table = _table(data, "worker", top)
    wwhere = _Where(str(file), "[worker]")
    _known(worker_table, ("threads", "poll"), wwhere)
    threads = worker_table.get("threads", 4)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        wwhere.fail(f"threads = {threads!r}: must be a whole number >= 1")
    poll = _duration(worker_table.get("poll", 1.0), "poll", wwhere, positive=True)
    return AgentsFile(agents=agents, worker=WorkerSettings(threads=threads, poll=poll), path=file)


def _table(data: dict[str, Any], name: str, where: _Where) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        where.fail(f"{name} must be a table ([{name}])")
    return value


def _known(table: dict[str, Any], allowed: tuple[str, ...] | list[str], where: _Where) -> None:
    for key in table:
        if key not in allowed:
            where.fail(f"unknown key {key!r}; expected one of {', '.join(allowed)}")


def _agent(topic: str, table: dict[str, Any], base: dict[str, Any], where: _Where, file: Path) -> AgentConfig:
    adapter = table.get("adapter")
    if not isinstance(adapter, str):
        where.fail(f"missing `adapter = ...` (one of {', '.join(sorted(ADAPTERS))})")
    if adapter not in ADAPTERS:
        where.fail(f"unknown adapter {adapter!r}; use one of {', '.join(sorted(ADAPTERS))}")
    own = _OPTIONS[adapter]
    _known(table, ["adapter", *_POLICY_KEYS, *own], where)
    policy = dict(base)
    if "retries" in table or "retry_cycle" in table:
        policy.pop("retries", None)
        policy.pop("retry_cycle", None)
    policy.update(_policy({k: v for k, v in table.items() if k in _POLICY_KEYS}, where))
    options = _options(adapter, {k: v for k, v in table.items() if k in own}, where, file.parent)
    return AgentConfig(topic=topic, adapter=adapter, options=options, folder=file.parent, source=str(file), **policy)


def _policy(table: dict[str, Any], where: _Where) -> dict[str, Any]:
    """AgentConfig keyword arguments for the policy keys present in ``table``."""
    out: dict[str, Any] = {}
    if "timeout" in table:
        out["timeout"] = _duration(table["timeout"], "timeout", where, positive=True)
    if "retries" in table:
        retries = table["retries"]
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            where.fail(f"retries = {retries!r}: must be the number of attempts in total, a whole number >= 1")
        out["retries"] = retries
    if "retry_cycle" in table:
        try:
            out["retry_cycle"] = parse_retry_cycle(table["retry_cycle"])
        except ConfigurationError as exc:
            where.fail(f"retry_cycle: {exc.message}")
    if "backoff" in table:
        sub = _sub(table["backoff"], "backoff", ("base", "cap"), where)
        if "base" in sub:
            out["backoff_base"] = _duration(sub["base"], "backoff.base", where)
        if "cap" in sub:
            out["backoff_cap"] = _duration(sub["cap"], "backoff.cap", where)
    if "circuit" in table:
        sub = _sub(table["circuit"], "circuit", ("threshold", "cooloff"), where)
        if "threshold" in sub:
            threshold = sub["threshold"]
            if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
                where.fail(f"circuit.threshold = {threshold!r}: must be a whole number >= 1")
            out["circuit_threshold"] = threshold
        if "cooloff" in sub:
            out["circuit_cooloff"] = _duration(sub["cooloff"], "circuit.cooloff", where)
    return out


def _sub(value: Any, name: str, keys: tuple[str, ...], where: _Where) -> dict[str, Any]:
    if not isinstance(value, dict):
        where.fail(f"{name} must be a table like {name} = {{ {keys[0]} = ... }}")
    _known(value, keys, _Where(where.file, f"{where.table} {name}"))
    return value


def _duration(value: Any, name: str, where: _Where, positive: bool = False) -> float:
    try:
        seconds = parse_duration(value)
    except ConfigurationError as exc:
        where.fail(f"{name}: {exc.message}")
    if positive and seconds <= 0:
        where.fail(f"{name} = {value!r}: must be more than zero")
    return seconds


def _options(adapter: str, options: Mapping[str, Any], where: _Where, folder: Path | None) -> dict[str, Any]:
    spec = _OPTIONS[adapter]
    _known(dict(options), tuple(spec), where)
    for name, (_kind, required) in spec.items():
        if required and name not in options:
            where.fail(f"missing `{name} = ...` (required by the {adapter} adapter)")
    out: dict[str, Any] = {}
    for name, value in options.items():
        out[name] = _option(name, value, spec[name][0], where)
    if "cwd" in out and folder is not None and "${" not in out["cwd"]:
        out["cwd"] = str((folder / out["cwd"]).resolve())
    return out


def _option(name: str, value: Any, kind: str, where: _Where) -> Any:
    def check_text(text: str, label: str) -> None:
        problem = placeholder_problem(text)
        if problem:
            where.fail(f"{label}: {problem}")

    if kind in ("str", "method"):
        if not isinstance(value, str) or not value.strip():
            where.fail(f"{name} must be a non-empty string")
        check_text(value, name)
        if kind == "method":
            if value.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                where.fail(f"method = {value!r}: use POST, PUT, PATCH, GET or DELETE")
            return value.upper()
        if name == "url" and not value.startswith(("${", "http://", "https://")):
            where.fail(f"url = {value!r}: must start with http:// or https://")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            where.fail(f"{name} must be true or false")
        return value
    if kind == "argv":
        if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
            where.fail(f'{name} must be a non-empty list of strings, like run = ["python", "agents/x.py"]')
        for arg in value:
            check_text(arg, name)
        return list(value)
    if kind == "strtable":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            where.fail(f'{name} must be a table of strings, like {name} = {{ NAME = "value" }}')
        for key, text in value.items():
            check_text(text, f"{name}.{key}")
        return dict(value)
    if kind == "statuses":
        ok = isinstance(value, list) and all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in value
        )
        if not ok:
            where.fail(f"{name} must be a list of HTTP status codes, like [429, 502, 503]")
        return list(value)
    raise AssertionError(kind)
