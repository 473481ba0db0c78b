#!/usr/bin/env python3
"""deployer: packages the generated service as a wheel, installs it, starts it and checks its health.

Three steps, one a BPMN task (see feature-delivery.bpmn):

  install   (topic deployer)        builds a wheel from the artifact service.tar.gz (with `pip wheel --no-deps
            --no-build-isolation` when setuptools can build wheels here, else with this agent's own wheel
            writer: no network either way), installs it with `pip install --no-deps --no-index --target` into
            the deployment folder DEPLOY_ROOT/<module>-<instance>, and writes the wheel as an artifact.
            Outputs: deployment_dir, service_wheel, build_tool.
  start     (topic deployer-start)  starts the installed service as a detached process (pid file
            service.pid, log service.log in the deployment folder) on 127.0.0.1:deploy_port (0 or absent = a
            free port) and probes GET /health until the service answers with its own pid.  If it does not
            (the port is taken, it crashed), it throws the BPMN error DEPLOY_FAILED with the log's tail.
            Outputs: service_url, service_pid, deployed_at, artifact_links (name -> download URL).
  undeploy  (topic undeployer)      the compensation: stops the process of the pid file (its whole process
            group; SIGTERM, then SIGKILL) and removes the deployment folder.  Outputs: undeployed, undeploy_notes.

DEPLOY_ROOT is the variable deploy_root, else $BATON_DEPLOY_ROOT, else the folder `deployments` in Baton's
working folder ($PWD).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from agentkit import AgentError, BpmnFailure, Call, free_port, main, unpack

HEALTH_TIMEOUT = 15.0
MARKER = "deployment.json"


# ---- install ----------------------------------------------------------------------------------------------


def can_pip_wheel() -> bool:
    """setuptools builds wheels itself from 70.1 on; before that it needs the `wheel` package."""
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        import setuptools

        major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    except (ImportError, ValueError):
        return False
    return (major, minor) >= (70, 1)


def write_wheel(source: Path, into: Path) -> Path:
    """A pure-Python wheel (PEP 427) of the package in ``source``, from its pyproject.toml, with zipfile."""
    try:
        project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
        name, version = project["name"], project["version"]
        packages = tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise AgentError(f"service.tar.gz: pyproject.toml lacks what a wheel needs ({exc})") from exc
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for package in packages:
        for path in sorted((source / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(source).as_posix()] = path.read_bytes()
    requires = "".join(f"Requires-Dist: {r}\n" for r in project.get("dependencies", []))
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        f"Summary: {project.get('description', '')}\n{requires}"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: baton-deployer\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
        for n, d in files.items()
    ]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = into / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in files.items():
            zf.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), d, zipfile.ZIP_DEFLATED)
    return wheel


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env, timeout=300)


def build_wheel(source: Path, into: Path) -> tuple[Path, str]:
    if can_pip_wheel():
        done = pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(into), str(source))
        built = sorted(into.glob("*.whl"))
        if done.returncode == 0 and built:
            return built[0], "pip wheel"
    return write_wheel(source, into), "built-in wheel writer (setuptools here cannot build wheels offline)"


def deploy_root(call: Call) -> Path:
    named = call.text("deploy_root") or os.environ.get("BATON_DEPLOY_ROOT")
    return Path(named) if named else Path(os.environ.get("PWD") or os.getcwd()) / "deployments"


def deployment_dir(call: Call) -> Path:
    named = call.text("deployment_dir")
    if not named:
        raise AgentError("the variable 'deployment_dir' is missing; the install step sets it")
    return Path(named)


def install(call: Call) -> dict[str, Any]:
    archive = call.artifact("service.tar.gz")
    assert archive is not None
    instance = str(call.context.get("instance_id") or os.environ.get("BATON_INSTANCE_ID") or "manual")
    with tempfile.TemporaryDirectory(prefix="baton-deploy-") as tmp:
        source = unpack(archive, Path(tmp), "service")
        module = next((p.parent.name for p in sorted(source.glob("*/__main__.py"))), None)
        if module is None:
            raise AgentError("service.tar.gz holds no package with a __main__.py to start")
        wheel, tool = build_wheel(source, Path(tmp))
        target = deploy_root(call) / f"{module}-{re.sub(r'[^A-Za-z0-9]+', '', instance)[:12]}"
        if target.exists():  # a retried attempt: undo the previous one first
            stop_and_remove(target)
        (target / "dist").mkdir(parents=True)
        shutil.copy2(wheel, target / "dist" / wheel.name)
        shutil.copy2(wheel, call.out / wheel.name)
        (target / MARKER).write_text(json.dumps({"module": module, "wheel": wheel.name, "instance": instance}))
        done = pip("install", "--no-deps", "--no-index", "--target", str(target / "lib"), str(wheel))
        if done.returncode != 0:
            raise AgentError(f"pip install of {wheel.name} failed: {done.stderr[-600:]}")
    return {"deployment_dir": str(target), "service_wheel": wheel.name, "build_tool": tool}


# ---- start ------------------------------------------------------------------------------------------------


def probe(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            body = json.loads(resp.read())
            return body if resp.status == 200 and isinstance(body, dict) else None
    except (OSError, ValueError):
        return None


def start(call: Call) -> dict[str, Any]:
    target = deployment_dir(call)
    marker = target / MARKER
    if not marker.is_file():
        raise AgentError(f"{target} is not a deployment folder (no {MARKER}); run the install step first")
    module = json.loads(marker.read_text())["module"]
    if (target / "service.pid").is_file():  # a retried attempt: stop what the previous one started
        stop_process(target / "service.pid")
    port = int(call.number("deploy_port", 0)) or free_port()
    url = f"http://127.0.0.1:{port}"
    with (target / "service.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
            cwd=target,
            env=dict(os.environ, PYTHONPATH=str(target / "lib")),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    (target / "service.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        answer = probe(url)
        if answer is not None and answer.get("pid") == proc.pid:  # our process, not whatever else holds the port
            links = {name: info.get("url") for name, info in (call.context.get("artifacts") or {}).items()}
            return {
                "service_url": url,
                "service_pid": proc.pid,
                "artifact_links": links,
                "deployed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        time.sleep(0.1)
    status = proc.poll()
    why = (
        f"the service exited with status {status}"
        if status is not None
        else f"no healthy answer from {url}/health within {HEALTH_TIMEOUT:.0f} s"
    )
    tail = (target / "service.log").read_text(errors="replace").strip().splitlines()[-3:]
    raise BpmnFailure("DEPLOY_FAILED", f"{why}: {' | '.join(tail)}", {"deploy_error": f"{why}: {' | '.join(tail)}"})


# ---- undeploy ---------------------------------------------------------------------------------------------


def stop_process(pid_file: Path) -> str:
    """Stop the process group of the pid in ``pid_file`` (SIGTERM, then SIGKILL); says what happened."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return f"{pid_file.name} holds no process id"
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)  # the service runs in a session (and process group) of its own
        except (ProcessLookupError, PermissionError):
            break
        if _gone(pid, 5.0):
            pid_file.unlink()
            return f"stopped process {pid} ({sig.name})"
    return f"process {pid} was not running"


def stop_and_remove(target: Path) -> list[str]:
    notes = []
    if (target / "service.pid").is_file():
        notes.append(stop_process(target / "service.pid"))
    if (target / MARKER).is_file():
        shutil.rmtree(target)
        notes.append(f"removed {target}")
    elif target.exists():
        raise AgentError(f"{target} is not a deployment folder (no {MARKER}); refusing to remove it")
    else:
        notes.append(f"{target} was already gone")
    return notes


def _gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` ended (or is a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def undeploy(call: Call) -> dict[str, Any]:
    notes = stop_and_remove(deployment_dir(call))
    return {"undeployed": True, "undeploy_notes": "; ".join(notes), "service_url": None}


STEPS = {"install": install, "start": start, "undeploy": undeploy}


def _step_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", choices=sorted(STEPS), help="which step to run (see above)")


if __name__ == "__main__":
    main(__doc__, lambda call: STEPS[call.args.step](call), _step_arg)
