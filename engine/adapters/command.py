"""The ``command`` adapter: run a command line as an agent (an AI coding agent, a linter, a test runner).

Protocol between Baton and the command:

- **stdin**: ``{"variables": {...}, "context": {...}}`` as JSON, then end of file;
- **environment**: Baton's own environment, then the configured ``env`` (``${VAR}`` expanded), then the
  context as ``BATON_INSTANCE_ID``, ``BATON_BUSINESS_KEY``, ``BATON_PROCESS_KEY``, ``BATON_PROCESS_VERSION``,
  ``BATON_ELEMENT_ID``, ``BATON_ELEMENT_NAME``, ``BATON_TOPIC``, ``BATON_JOB_ID``, ``BATON_ATTEMPT``,
  ``BATON_IDEMPOTENCY_KEY``, ``BATON_DEADLINE``, and ``BATON_PYTHON`` (the interpreter running Baton, so a
  config can say ``run = ["${BATON_PYTHON}", "agents/x.py"]``);
- **artifacts**: ``BATON_ARTIFACTS_DIR`` holds the latest version of each artifact of the instance (file
  name = artifact name; details under ``context.artifacts`` on stdin); every regular top-level file the
  command leaves in the empty folder ``BATON_ARTIFACTS_OUT`` becomes a new version when it succeeds (see
  :mod:`engine.artifact_files`);
- **stdout**: one JSON object, the output variables (empty stdout = no outputs).  To throw a BPMN error the
  command prints ``{"bpmnError": {"code": "...", "message": "..."}}`` and **exits 0**;
- **exit status**: non-zero is a retryable failure with ``details["exit_code"]`` and the last 4 KB of
  stderr in ``details["stderr"]``; stdout that is not a JSON object is a non-retryable failure;
- **time**: at ``context.deadline`` the whole process group gets SIGTERM, then SIGKILL 2 s later, and the
  call fails (retryable) with "timed out after N s".

The command runs in a session of its own (``start_new_session``) so that killing its group also kills
the children it started.  ``cwd`` defaults to the folder of ``baton.toml``; a relative program path
(``./agents/lint.sh``) and relative arguments are read from there.  ``${VAR}`` in ``run``, ``cwd`` and ``env``
values are expanded at call time.  POSIX only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import AgentFailure
from . import encode_request, head, parse_result, seconds, substitute, tail
from .base import CallContext

KILL_GRACE = 2.0


class CommandAdapter:
    """Runs a command line as an agent."""

    def __init__(self, run: Sequence[str], cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> None:
        if isinstance(run, str) or not run:
            raise ValueError("run must be a non-empty list of strings")
        self.run = list(run)
        self.cwd = None if cwd is None else str(cwd)
        self.env = dict(env or {})

    def call(self, variables: dict[str, Any], context: CallContext) -> dict[str, Any]:
        where = f"agent {context.topic!r}"
        base = {**os.environ, "BATON_PYTHON": sys.executable}
        argv = [substitute(arg, base, where=where) for arg in self.run]
        cwd = None if self.cwd is None else substitute(self.cwd, base, where=where)
        env = dict(base)
        env.update({name: substitute(value, base, where=f"env {name} of {where}") for name, value in self.env.items()})
        env.update(context.to_env())
        body = encode_request(variables, context)
        budget = context.timeout
        name = argv[0]
        if budget <= 0:
            raise AgentFailure(f"{name}: the deadline had passed before the call", command=argv)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            missing = exc.filename if exc.filename is not None else name
            what = "working folder" if cwd is not None and str(missing) == cwd else "command"
            raise AgentFailure(
                f"{what} not found: {missing} (cwd {cwd or os.getcwd()})", retryable=False, command=argv
            ) from exc
        except OSError as exc:
            raise AgentFailure(f"cannot run {name}: {exc.strerror or exc}", retryable=False, command=argv) from exc
        try:
            stdout, stderr = proc.communicate(body, timeout=budget)
        except subprocess.TimeoutExpired:
            stdout, stderr = _terminate(proc)
            raise AgentFailure(
                f"{name} timed out after {seconds(budget)} s",
                retryable=True,
                timeout=budget,
                command=argv,
                stderr=tail(stderr),
                stdout=tail(stdout),
            ) from None
        except BaseException:
            _terminate(proc)
            raise
        if proc.returncode != 0:
            status = proc.returncode
            how = f"was killed by signal {_signame(-status)}" if status < 0 else f"exited with status {status}"
            raise AgentFailure(f"{name} {how}", retryable=True, exit_code=status, command=argv, stderr=tail(stderr))
        return _outputs(stdout, stderr, name, argv)


def _outputs(stdout: bytes, stderr: bytes, name: str, argv: list[str]) -> dict[str, Any]:
    if not stdout.strip():
        return {}
    try:
        answer = json.loads(stdout)
    except ValueError as exc:
        raise AgentFailure(
            f"{name} did not print a JSON object on stdout: {head(stdout, 200)!r}",
            retryable=False,
            command=argv,
            stdout=head(stdout),
            stderr=tail(stderr),
        ) from exc
    return parse_result(answer, name)


def _terminate(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Stop the process group of ``proc`` (SIGTERM, then SIGKILL) and collect what it had written."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            return proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    # A grandchild that left the group still holds the pipes: stop waiting for it.
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait()
    return b"", b""


def _signame(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
