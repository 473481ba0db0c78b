#!/usr/bin/env python3
"""ai-agent: runs an AI agent's command line (claude -p, codex exec, ...) as a Baton agent, from a prompt template.

    ai_agent.py --prompt prompts/api-designer.md [--cwd DIR] -- COMMAND [ARG...]

It reads Baton's stdin JSON, fills in the prompt template and runs COMMAND.  The prompt goes to COMMAND's stdin,
unless an argument holds {prompt}: then it is put there instead.  Arguments may also hold {artifacts_dir} and
{artifacts_out}.  Whatever COMMAND leaves in the artifacts output folder becomes new artifact versions (it is
Baton's $BATON_ARTIFACTS_OUT); the last JSON object COMMAND prints on stdout becomes the output variables (also
inside the "result" text of `claude -p --output-format json`).  A non-zero exit is a failed attempt.

Placeholders in the template:
  ${input_json}      the whole stdin JSON (variables and context), indented
  ${variables_json}  the variables as JSON        ${var.NAME}     one variable (JSON unless it is text)
  ${artifacts}       one line per input artifact: name, version, path
  ${artifacts_dir}   the input artifacts folder   ${artifacts_out} the folder to write artifacts into
  ${element_name}    the BPMN task's name         ${instance_id}  the instance
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from agentkit import AgentError, Call, main

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}")


def render(template: str, call: Call, body: dict[str, Any]) -> str:
    refs = call.context.get("artifacts") or {}
    values = {
        "input_json": json.dumps(body, indent=2, sort_keys=True, default=str),
        "variables_json": json.dumps(call.variables, indent=2, sort_keys=True, default=str),
        "artifacts": "\n".join(f"- {n} (version {r.get('version')}): {r.get('path')}" for n, r in sorted(refs.items()))
        or "(none yet)",
        "artifacts_dir": str(call.artifacts or ""),
        "artifacts_out": str(call.out),
        "element_name": str(call.context.get("element_name") or ""),
        "instance_id": str(call.context.get("instance_id") or ""),
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("var."):
            value = call.variables.get(name[4:])
            return value if isinstance(value, str) else json.dumps(value, default=str)
        if name not in values:
            raise AgentError(
                f"the prompt template uses ${{{name}}}, which is not a placeholder it knows "
                f"({', '.join(sorted(values))}, var.NAME)"
            )
        return values[name]

    return PLACEHOLDER.sub(fill, template)


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last JSON object in ``text`` (an AI agent's answer often wraps it in prose or a code fence)."""
    decoder = json.JSONDecoder()
    for start in reversed([m.start() for m in re.finditer(r"\{", text)]):
        try:
            found, _end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return None


def outputs_of(stdout: str) -> dict[str, Any]:
    answer = last_json_object(stdout)
    if answer is not None and answer.get("type") == "result" and isinstance(answer.get("result"), str):
        answer = last_json_object(answer["result"])  # claude -p --output-format json wraps the answer
    if answer is None:
        raise AgentError(f"the AI agent printed no JSON object with the output variables: {stdout[-300:]!r}")
    return answer


def run(call: Call) -> dict[str, Any]:
    args = call.args
    command = args.command[1:] if args.command[:1] == ["--"] else list(args.command)
    if not command:
        raise AgentError("no command to run: give it after --, e.g. -- claude -p")
    template_path = Path(args.prompt)
    try:
        template = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentError(f"cannot read the prompt template {template_path}: {exc.strerror or exc}") from exc
    prompt = render(template, call, {"variables": call.variables, "context": call.context})
    fills = {"{prompt}": prompt, "{artifacts_dir}": str(call.artifacts or ""), "{artifacts_out}": str(call.out)}
    argv = command
    on_argv = any("{prompt}" in a for a in argv)
    for key, value in fills.items():
        argv = [a.replace(key, value) for a in argv]
    try:
        done = subprocess.run(
            argv,
            input=None if on_argv else prompt,
            capture_output=True,
            text=True,
            cwd=args.cwd or None,
            env=dict(os.environ),
        )
    except OSError as exc:
        raise AgentError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        raise AgentError(f"{argv[0]} exited with status {done.returncode}: {done.stderr[-600:]}")
    return outputs_of(done.stdout)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", required=True, metavar="FILE", help="the prompt template")
    parser.add_argument("--cwd", metavar="DIR", help="the folder COMMAND runs in [this agent's]")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the AI agent's command line, after --")


if __name__ == "__main__":
    main(__doc__, run, _options)
