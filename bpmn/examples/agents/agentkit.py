"""What the five example agents share: the command adapter's protocol, seen from the agent's side.

Baton's command adapter (docs/agents.md) writes ``{"variables": {...}, "context": {...}}`` on the agent's
stdin, puts the instance's artifacts in the folder ``$BATON_ARTIFACTS_DIR`` (file name = artifact name) and
gives it an empty folder ``$BATON_ARTIFACTS_OUT``: every file left there becomes a new version of the artifact
of that name.  The agent prints one JSON object on stdout (its output variables, optionally ``_cost``), or
``{"bpmnError": {...}}`` to throw a BPMN error.  A bad input is a message on stderr and exit status 2.

Run by hand, an agent takes ``--artifacts DIR`` / ``--out DIR`` instead of the two environment variables
and reads the same JSON on stdin (``{"variables": {...}}`` is enough).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import resource
import socket
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


class AgentError(Exception):
    """Bad input or a failed step: printed on stderr, exit status 2 (a failed attempt for Baton)."""


class BpmnFailure(Exception):
    """A business failure the diagram handles: printed as ``{"bpmnError": ...}``, exit status 0."""

    def __init__(self, code: str, message: str, variables: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.variables = code, message, dict(variables or {})


class Call:
    """One call: the variables, the context, where the input artifacts are and where outputs go."""

    def __init__(
        self,
        variables: dict[str, Any],
        context: dict[str, Any],
        artifacts: Path | None,
        out: Path,
        argv: argparse.Namespace,
    ) -> None:
        self.variables, self.context, self.artifacts, self.out, self.args = variables, context, artifacts, out, argv

    def artifact(self, name: str, required: bool = True) -> Path | None:
        """The path of the input artifact ``name`` (None when absent and not required)."""
        described = (self.context.get("artifacts") or {}).get(name) or {}
        candidates = [Path(described["path"])] if described.get("path") else []
        if self.artifacts is not None:
            candidates.append(self.artifacts / name)
        for path in candidates:
            if path.is_file():
                return path
        if required:
            where = self.artifacts if self.artifacts is not None else "(no artifacts folder: set BATON_ARTIFACTS_DIR)"
            raise AgentError(f"the artifact {name!r} is missing from {where}; an earlier step produces it")
        return None

    def text(self, name: str, default: str = "") -> str:
        value = self.variables.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise AgentError(f"the variable {name!r} must be text, not {type(value).__name__}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.variables.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise AgentError(f"the variable {name!r} must be a number, not {value!r}")
        try:
            return float(value)
        except ValueError:
            raise AgentError(f"the variable {name!r} must be a number, not {value!r}") from None

    def link(self, name: str) -> str | None:
        """The download URL of artifact ``name`` as the context gives it (None when not known)."""
        return ((self.context.get("artifacts") or {}).get(name) or {}).get("url")


def fail(message: str) -> NoReturn:
    raise AgentError(message)


def main(
    description: str,
    work: Callable[[Call], dict[str, Any]],
    extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Parse the command line, read stdin, run ``work`` and print its outputs (with ``_cost``)."""
    prog = Path(sys.argv[0]).name
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--artifacts", metavar="DIR", help="input artifacts folder [$BATON_ARTIFACTS_DIR]")
    parser.add_argument("--out", metavar="DIR", help="output artifacts folder [$BATON_ARTIFACTS_OUT]")
    if extra_args is not None:
        extra_args(parser)
    args = parser.parse_args()
    try:
        call = _read_call(args)
        outputs = work(call)
    except BpmnFailure as exc:
        print(json.dumps({"bpmnError": {"code": exc.code, "message": exc.message, "variables": exc.variables}}))
        return
    except AgentError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        sys.exit(2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    print(json.dumps({**outputs, "_cost": {"cpu_seconds": round(cpu, 3)}}, sort_keys=True))


def _read_call(args: argparse.Namespace) -> Call:
    raw = sys.stdin.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        fail(f'stdin is not JSON ({exc}); expected {{"variables": {{...}}, "context": {{...}}}}')
    if not isinstance(body, dict):
        fail('stdin must be a JSON object: {"variables": {...}, "context": {...}}')
    variables, context = body.get("variables") or {}, body.get("context") or {}
    if not isinstance(variables, dict) or not isinstance(context, dict):
        fail('"variables" and "context" on stdin must be JSON objects')
    artifacts_dir = args.artifacts or os.environ.get("BATON_ARTIFACTS_DIR")
    out_dir = args.out or os.environ.get("BATON_ARTIFACTS_OUT")
    if not out_dir:
        fail("no output folder: Baton sets BATON_ARTIFACTS_OUT; by hand, pass --out DIR")
    out = Path(out_dir)
    if not out.is_dir():
        fail(f"the output folder {out} does not exist")
    artifacts = Path(artifacts_dir) if artifacts_dir else None
    if artifacts is not None and not artifacts.is_dir():
        fail(f"the artifacts folder {artifacts} does not exist")
    return Call(variables, context, artifacts, out, args)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path.name} as JSON: {exc}")


def write_tar(path: Any, files: dict[str, str], top: str) -> None:
    """A reproducible .tar.gz: same files, same bytes (no dates, owners or modes from this machine)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name].encode("utf-8")
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def unpack(archive: Path, into: Path, top: str) -> Path:
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                    raise AgentError(f"{archive.name}: unsafe entry {member.name!r}")
            tar.extractall(into)  # noqa: S202 - every entry checked above
    except (tarfile.TarError, OSError) as exc:
        raise AgentError(f"cannot unpack {archive.name}: {exc}") from exc
    folder = into / top
    if not folder.is_dir():
        raise AgentError(f"{archive.name} has no folder {top}/ at the top")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
