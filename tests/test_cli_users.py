"""``baton users ...`` and ``baton tokens ...`` as an admin types them (the real command in a subprocess)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import ROOT

from engine import Engine, Settings
from engine.errors import AuthenticationFailed, TokenRevoked


@pytest.fixture
def baton(db_url, tmp_path):
    env = {**os.environ, "BATON_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    env.pop("BATON_ADMIN_PASSWORD", None)

    def run(*args: str, ok: bool = True, stdin: str = "", **extra_env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, input=stdin,
                              env={**env, **extra_env}, cwd=tmp_path, timeout=120)
        if ok:
            assert proc.returncode == 0, f"baton {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return run


@pytest.fixture
def check(db_url):
    eng = Engine(Settings(database_url=db_url, auto_migrate=False))
    yield eng
    eng.close()


def test_add_list_passwd_and_disable_users(baton, check):
    out = baton("users", "add", "alice", "--role", "user", "--group", "sales", "--group", "north",
                "--password-stdin", stdin="first password\n").stdout
    assert out.strip() == "added alice (user, groups sales, north)"
    assert check.verify_password("alice", "first password").groups == ["sales", "north"]
    baton("users", "add", "worker", "--role", "operator", "--no-password")
    listed = baton("users", "list").stdout.splitlines()
    assert listed[0].split() == ["alice", "user", "groups=sales,north"]
    assert listed[1].split() == ["worker", "operator", "groups=-"]

    baton("users", "passwd", "alice", "--password-stdin", stdin="second password\n")
    assert check.verify_password("alice", "second password").name == "alice"
    with pytest.raises(AuthenticationFailed):
        check.verify_password("alice", "first password")

    out = baton("users", "edit", "alice", "--role", "operator", "--group", "support").stdout
    assert out.strip() == "alice: operator, groups support"
    assert check.get_user("alice").groups == ["support"]
    assert baton("users", "edit", "alice", "--no-groups", "--role", "user").stdout.strip() == "alice: user, groups -"

    assert baton("users", "disable", "alice").stdout.strip() == "disabled alice"
    [alice] = [u for u in json.loads(baton("users", "list", "--json").stdout) if u["name"] == "alice"]
    assert alice["disabled_at"] and alice["role"] == "user"
    with pytest.raises(AuthenticationFailed):
        check.verify_password("alice", "second password")
    assert baton("users", "edit", "alice", "--enable").stdout.strip() == "alice: user, groups -"
    assert check.verify_password("alice", "second password").name == "alice"


@pytest.mark.parametrize("args, stdin, message", [
    (["users", "add", "x", "--role", "boss", "--password-stdin"], "long enough\n", "'boss' is not one of"),
    (["users", "add", "x", "--role", "user", "--password-stdin"], "short\n", "at least 8 characters"),
    (["users", "add", "bad name", "--role", "user", "--password-stdin"], "long enough\n", "user name 'bad name'"),
    (["users", "add", "x", "--role", "user", "--group", "a,b", "--password-stdin"], "long enough\n", "comma"),
    (["users", "disable", "nobody"], "", "no user is named 'nobody'"),
    (["users", "passwd", "nobody", "--password-stdin"], "long enough\n", "no user is named 'nobody'"),
    (["tokens", "create", "nobody"], "", "no user is named 'nobody'"),
    (["tokens", "revoke", "no-such-token"], "", "no API token has id 'no-such-token'"),
])
def test_mistakes_are_clear_errors(baton, args, stdin, message):
    proc = baton(*args, ok=False, stdin=stdin)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_a_duplicate_name_is_refused(baton):
    baton("users", "add", "alice", "--role", "user", "--password-stdin", stdin="long enough\n")
    proc = baton("users", "add", "alice", "--role", "admin", "--password-stdin", stdin="long enough\n", ok=False)
    assert proc.returncode == 1 and "a user named 'alice' exists already" in proc.stderr


def test_baton_tasks_shows_who_works_on_each_task(baton, check):
    from helpers import chain, process_xml

    body = chain('<bpmn:userTask id="{id}" name="Price" camunda:assignee="${owner}" camunda:candidateGroups="sales"/>')
    check.deploy_bytes([("q.bpmn", process_xml("q", body))])
    task = check.start("q", {"owner": "alice"}).tasks[0]
    line = baton("tasks").stdout.strip()
    assert line.startswith(task.id) and line.endswith("assignee=alice  groups=sales")


def test_tokens_create_list_and_revoke(baton, check):
    baton("users", "add", "worker", "--role", "operator", "--no-password")
    created = baton("tokens", "create", "worker", "--name", "charge-card")
    secret = created.stdout.strip()
    assert secret.startswith("baton_") and len(created.stdout.splitlines()) == 1, "only the token on stdout"
    assert "not shown again" in created.stderr
    assert check.verify_token(secret).name == "worker"
    [token] = json.loads(baton("tokens", "list", "worker", "--json").stdout)
    assert token["name"] == "charge-card" and token["last_used_at"] and token["revoked_at"] is None
    assert secret not in baton("tokens", "list").stdout
    assert baton("tokens", "revoke", token["id"]).stdout.strip() == f"revoked {token['id']} (worker, charge-card)"
    with pytest.raises(TokenRevoked):
        check.verify_token(secret)
    assert "revoked" in baton("tokens", "list").stdout


def test_ensure_admin_creates_the_first_admin_once(baton, check):
    first = baton("users", "ensure-admin").stdout
    password = first.split("password: ")[1].split()[0]
    assert "Sign in at http://127.0.0.1:8080/login as: admin" in first
    assert check.verify_password("admin", password).role == "admin"
    assert baton("users", "ensure-admin").stdout == "", "an admin exists: nothing to do"


def test_ensure_admin_takes_the_password_from_the_environment(baton, check):
    out = baton("users", "ensure-admin", BATON_ADMIN_PASSWORD="chosen by the operator").stdout
    assert "(from BATON_ADMIN_PASSWORD)" in out and "chosen by" not in out
    assert check.verify_password("admin", "chosen by the operator").role == "admin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_first_admin_signs_in_to_the_real_server(baton, db_url, tmp_path):
    """As ./run.sh does it: ensure-admin prints the password, then the served pages let that admin in."""
    port = free_port()
    password = baton("users", "ensure-admin", "--url", f"http://127.0.0.1:{port}").stdout.split("password: ")[1].split()[0]
    env = {**os.environ, "BATON_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "BATON_WORKERS": "0"}
    env.pop("BATON_SECRET_KEY", None)
    server = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/health", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.3)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/v1/incidents", timeout=10)
        assert refused.value.code == 401
        refused.value.close()

        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(f"{base}/instances", timeout=10) as resp:  # redirected to the login form
            assert resp.url == f"{base}/login?next=/instances"
            token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode()).group(1)
        form = urllib.parse.urlencode({"username": "admin", "password": password, "csrf_token": token,
                                       "next": "/instances"}).encode()
        with browser.open(f"{base}/login", data=form, timeout=10) as resp:
            assert resp.url == f"{base}/instances"
            assert ">admin</span>" in resp.read().decode()
    finally:
        server.terminate()
        server.communicate(timeout=30)
