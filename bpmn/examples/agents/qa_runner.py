#!/usr/bin/env python3
"""qa-runner: runs the generated tests against the generated service and scores the round (test-report.json).

Unpacks the artifacts service.tar.gz (backend-developer) and tests.tar.gz (qa-expert), starts the service on
127.0.0.1 on a free port (under the `coverage` module when it is importable), waits for GET /health, runs the
tests with pytest (or, when pytest is not installed or with --runner builtin, calls each test_* function itself),
stops the service and writes test-report.json: counts, each failure, coverage of the service's code (or why it
is unavailable).

Input variables: service_module (from backend-developer; read from the archive when absent).
Outputs: quality_score (0-100: the share of tests that passed), tests_total, tests_passed, tests_failed,
coverage_percent (null when unavailable), failure_report (one line a failed test, "" when all passed),
quality_reason (one line for the quality gate); dev_notes and skip_validation as the tested build's
BUILD.json has them, so the report and these variables always describe the same build.
Artifact written: test-report.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from agentkit import AgentError, Call, free_port, main, unpack, write_json

START_TIMEOUT = 20.0
TEST_TIMEOUT = 300.0


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return bool(resp.status == 200 and json.loads(resp.read()).get("status") == "ok")
    except (OSError, ValueError):
        return False


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if healthy(url):
            return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the service's process group (it saves its coverage data), SIGKILL after 5 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def module_of(service: Path, named: str) -> str:
    if named:
        return named
    found = sorted(p.parent.name for p in service.glob("*/__main__.py"))
    if not found:
        raise AgentError("service.tar.gz holds no package with a __main__.py to start")
    return found[0]


def run_pytest(tests: Path, url: str, work: Path) -> tuple[list[str], list[dict[str, str]], str]:
    junit = work / "junit.xml"
    env = dict(os.environ, SERVICE_URL=url, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # the tests need no plugins
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", str(tests)],
            cwd=work,
            env=env,
            capture_output=True,
            timeout=TEST_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise AgentError(f"the tests did not finish within {TEST_TIMEOUT:.0f} s") from None
    if not junit.is_file():
        raise AgentError(f"pytest wrote no report (exit {done.returncode}): {done.stderr.decode()[-500:]}")
    names, failures = [], []
    for case in ET.parse(junit).iter("testcase"):
        name = case.get("name", "?")
        names.append(name)
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            failures.append({"test": name, "message": message[0][:300] if message else "failed"})
    import pytest

    return names, failures, f"pytest {pytest.__version__}"


def run_builtin(tests: Path, url: str) -> tuple[list[str], list[dict[str, str]], str]:
    """pytest is not installed: import the test module and call each ``test_*`` function."""
    os.environ["SERVICE_URL"] = url
    names, failures = [], []
    for file in sorted(tests.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"generated_{file.stem}", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in [n for n in vars(module) if n.startswith("test_") and callable(getattr(module, n))]:
            names.append(name)
            try:
                getattr(module, name)()
            except Exception as exc:  # noqa: BLE001 - a failed test, whatever it raised
                text = str(exc) or traceback.format_exception_only(type(exc), exc)[-1].strip()
                failures.append({"test": name, "message": f"{type(exc).__name__}: {text}"[:300]})
    return names, failures, "built-in runner"


def coverage_of(data: Path, work: Path) -> dict[str, Any]:
    if not data.exists():
        return {"available": False, "percent": None, "note": "the service wrote no coverage data"}
    out = work / "coverage.json"
    done = subprocess.run(
        [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(out)],
        cwd=work,
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0 or not out.is_file():
        return {"available": False, "percent": None, "note": done.stderr.decode()[-300:] or "coverage json failed"}
    totals = json.loads(out.read_text())["totals"]
    return {
        "available": True,
        "percent": round(float(totals["percent_covered"]), 1),
        "statements": totals["num_statements"],
        "missing": totals["missing_lines"],
        "note": "service code",
    }


def _runner_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runner",
        choices=["auto", "pytest", "builtin"],
        default="auto",
        help="pytest, the built-in runner, or pytest when it is installed (auto, the default)",
    )


def run_tests(call: Call) -> dict[str, Any]:
    service_archive, tests_archive = call.artifact("service.tar.gz"), call.artifact("tests.tar.gz")
    assert service_archive is not None and tests_archive is not None
    with tempfile.TemporaryDirectory(prefix="baton-qa-") as tmp:
        work = Path(tmp)
        service = unpack(service_archive, work, "service")
        tests = unpack(tests_archive, work, "tests")
        module = module_of(service, call.text("service_module"))
        build = json.loads((service / "BUILD.json").read_text()) if (service / "BUILD.json").is_file() else {}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with_coverage = importlib.util.find_spec("coverage") is not None
        data = work / ".coverage"
        runner = (
            [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--source={module}"]
            if with_coverage
            else [sys.executable]
        )
        log = (work / "service.log").open("wb")
        proc = subprocess.Popen(
            [*runner, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
            cwd=service,
            env=dict(
                os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(service), os.environ.get("PYTHONPATH")]))
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            if not wait_healthy(proc, url, START_TIMEOUT):
                log.flush()
                tail = (work / "service.log").read_text(errors="replace")[-800:]
                names, failures, tool = [], [{"test": "service start", "message": f"no healthy /health: {tail}"}], "-"
            elif call.args.runner == "pytest" or (
                call.args.runner == "auto" and importlib.util.find_spec("pytest") is not None
            ):
                names, failures, tool = run_pytest(tests, url, work)
            else:
                names, failures, tool = run_builtin(tests, url)
        finally:
            stop(proc)
            log.close()
        cover = (
            coverage_of(data, work)
            if with_coverage
            else {"available": False, "percent": None, "note": "the coverage module is not installed"}
        )
    total = len(names)
    failed = len([f for f in failures if f["test"] in names])
    passed = total - failed
    score = round(100 * passed / total) if total else 0
    report = {
        "service_module": module,
        "runner": tool,
        "tests": {"total": total, "passed": passed, "failed": failed},
        "failures": failures,
        "coverage": cover,
        "quality_score": score,
        "tests_run": names,
    }
    write_json(call.out / "test-report.json", report)
    failure_report = "\n".join(f"FAILED {f['test']}: {f['message']}" for f in failures)
    reason = f"{passed}/{total} tests passed" + (
        f"; failing: {', '.join(f['test'] for f in failures)}" if failures else ""
    )
    # the developer's notes as the tested build has them: the report and the variables describe one build
    restored = {"dev_notes": build["notes"], "skip_validation": build.get("skipped", [])} if "notes" in build else {}
    return {
        **restored,
        "quality_score": score,
        "tests_total": total,
        "tests_passed": passed,
        "tests_failed": failed,
        "coverage_percent": cover["percent"],
        "failure_report": failure_report,
        "quality_reason": reason,
    }


if __name__ == "__main__":
    main(__doc__, run_tests, _runner_option)
