"""Signing in and the access policy, through Flask's test client, on SQLite and PostgreSQL.

Who may do what is decided by web/policy.py; these tests call the routes as anonymous callers, as a ``user``,
an ``operator`` and an ``admin``, with bearer tokens and with a session (where forms need a CSRF token).
"""

from __future__ import annotations

import hashlib
import re

import pytest
from helpers import chain, process_xml, service_task, user_task
from sqlalchemy import text

from web import create_app

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client, name: str, password: str = PASSWORD, next_url: str = "/instances"):
    """Sign in through the login form, as a browser does; the answer to the form's POST."""
    token = csrf_of(client.get(f"/login?next={next_url}").get_data(as_text=True))
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": next_url})


@pytest.fixture
def alice(engine):
    return engine.add_user("alice", "user", PASSWORD, ["sales"])


@pytest.fixture
def waiting(engine):
    engine.deploy_bytes([("p.bpmn", process_xml("p", chain(user_task("Check"))))])
    return engine.start("p")


# ---- anonymous callers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/incidents"), ("get", "/api/v1/jobs"), ("post", "/api/v1/messages"),
    ("post", "/api/v1/external-tasks/fetch-and-lock"), ("post", "/api/v1/tasks/x/claim"),
    ("get", "/api/v1/no-such-thing"),
])
def test_api_calls_without_a_token_get_401_json(anonymous, method, path):
    resp = getattr(anonymous, method)(path, json={})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    error = resp.get_json()["error"]
    assert error["code"] == "unauthorized" and "Authorization: Bearer" in error["message"]


@pytest.mark.parametrize("path", ["/", "/instances", "/instances/abc?tab=history", "/deploy", "/nowhere"])
def test_pages_send_anonymous_visitors_to_the_login_page(anonymous, path):
    resp = anonymous.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=/")
    assert path.split("?")[0] in resp.headers["Location"]


@pytest.mark.parametrize("path", ["/login", "/api/v1/health", "/healthz", "/static/baton.css"])
def test_public_paths_need_nobody_signed_in(anonymous, path):
    with anonymous.get(path) as resp:
        assert resp.status_code == 200


def test_a_wrong_or_made_up_token_is_refused(anonymous):
    resp = anonymous.get("/api/v1/incidents", headers={"Authorization": "Bearer baton_made-up"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["message"] == "the API token is not valid"


# ---- roles ---------------------------------------------------------------------------------------------------------

def test_a_user_token_cannot_deploy_cancel_or_retry(client_as, waiting):
    user = client_as("user", ["sales"])
    xml = process_xml("q", chain(user_task()))
    for method, path in [("post", "/api/v1/definitions"), ("post", "/api/v1/deployments"),
                         ("post", f"/api/v1/instances/{waiting.id}/cancel"),
                         ("delete", f"/api/v1/instances/{waiting.id}"),
                         ("post", f"/api/v1/instances/{waiting.id}/suspend"),
                         ("put", f"/api/v1/instances/{waiting.id}/variables"),
                         ("post", "/api/v1/incidents/retry"), ("post", "/api/v1/external-tasks/fetch-and-lock")]:
        resp = getattr(user, method)(path, data=xml if "deploy" in path else None)
        assert resp.status_code == 403, (method, path, resp.status_code)
        error = resp.get_json()["error"]
        assert error["code"] == "forbidden"
        assert error["details"]["role"] == "user" and error["details"]["required_role"] in ("operator", "admin")


def test_a_user_is_refused_the_deploy_page_with_a_page_naming_the_role(client_as):
    user = client_as("user", name="ursula")
    resp = user.get("/deploy")
    assert resp.status_code == 403  # refused by the policy, whether the page exists or not
    html = resp.get_data(as_text=True)
    assert "This needs the admin role; you are signed in as ursula (user)." in html
    assert 'class="needed-role">admin<' in html


def test_a_user_may_read_and_send_messages(client_as, waiting):
    user = client_as("user")
    assert user.get("/instances").status_code == 200
    assert user.get(f"/instances/{waiting.id}").status_code == 200
    assert user.get("/api/v1/incidents").status_code == 200
    resp = user.post("/api/v1/messages", json={"name": "nobody-waits"})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "no_subscription"  # let in


def test_an_operator_can_retry_incidents_but_not_deploy(engine, client_as):
    engine.deploy_bytes([("s.bpmn", process_xml("s", chain(service_task("pay"))))])
    engine.start("s")
    [job] = engine.claim_jobs("w1", ["pay"])
    engine.fail_job(job.id, "w1", "card service down", retryable=False)
    [inc] = engine.incidents()
    operator = client_as("operator")
    resp = operator.post(f"/api/v1/incidents/{inc.id}/retry", json={})
    assert resp.status_code == 200, resp.get_json()
    assert engine.incidents() == []
    assert operator.post("/api/v1/definitions", data=b"<x/>").status_code == 403
    assert operator.get("/deploy").status_code == 403
    assert operator.post("/api/v1/external-tasks/fetch-and-lock",
                         json={"workerId": "w", "topics": [{"topicName": "none", "lockDuration": 1000}]}).status_code == 200


def test_an_admin_passes_the_deploy_rule(client):
    resp = client.get("/deploy")
    assert resp.status_code not in (302, 401, 403)  # let in (200 once the deploy page exists, else 404)


# ---- tokens --------------------------------------------------------------------------------------------------------

def test_a_revoked_token_stops_working_at_once(engine, anonymous, alice):
    token, secret = engine.create_token("alice", "laptop")
    headers = {"Authorization": f"Bearer {secret}"}
    assert anonymous.get("/api/v1/incidents", headers=headers).status_code == 200
    assert engine.tokens("alice")[0].last_used_at is not None
    engine.revoke_token(token.id)
    resp = anonymous.get("/api/v1/incidents", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "token_revoked"
    assert anonymous.get("/instances", headers=headers).status_code == 302


def test_a_disabled_users_tokens_and_session_stop_working(engine, app, alice):
    _, secret = engine.create_token("alice")
    browser = app.test_client()
    assert sign_in(browser, "alice").status_code == 302
    assert browser.get("/instances").status_code == 200
    engine.disable_user("alice")
    assert browser.get("/instances").status_code == 302
    resp = app.test_client().get("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401 and "disabled" in resp.get_json()["error"]["message"]


def test_a_new_password_ends_the_sessions_of_the_old_one(engine, app, alice):
    browser = app.test_client()
    sign_in(browser, "alice")
    assert browser.get("/instances").status_code == 200
    engine.set_password("alice", "a brand new password")
    assert browser.get("/instances").status_code == 302
    assert sign_in(browser, "alice", "a brand new password").status_code == 302
    assert browser.get("/instances").status_code == 200


def test_passwords_and_tokens_are_stored_only_as_hashes(engine, alice):
    _, secret = engine.create_token("alice")
    with engine.db.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE name = 'alice'")).scalar()
        token_hash = conn.execute(text("SELECT token_hash FROM api_tokens")).scalar()
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM users")) for v in row)
        dump += " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_tokens")) for v in row)
    assert stored.startswith("scrypt:") and PASSWORD not in stored
    assert token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert PASSWORD not in dump and secret not in dump


# ---- sessions and CSRF ---------------------------------------------------------------------------------------------

def test_login_with_the_form_then_logout(app, alice):
    browser = app.test_client()
    resp = sign_in(browser, "alice", next_url="/instances?status=waiting")
    assert resp.status_code == 302 and resp.headers["Location"] == "/instances?status=waiting"
    html = browser.get("/instances").get_data(as_text=True)
    assert 'class="user-name"' in html and ">alice</span>" in html and "Sign out" in html
    token = csrf_of(html)
    resp = browser.post("/logout", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert browser.get("/instances").status_code == 302


def test_a_wrong_password_or_unknown_name_is_refused_without_saying_which(app, alice):
    for name, password in [("alice", "wrong password"), ("nobody", PASSWORD)]:
        browser = app.test_client()
        resp = sign_in(browser, name, password)
        assert resp.status_code == 401
        html = resp.get_data(as_text=True)
        assert "Wrong user name or password." in html and f'value="{name}"' in html
        assert browser.get("/instances").status_code == 302


def test_a_token_only_account_cannot_sign_in_with_a_password(engine, app):
    engine.add_user("worker", "operator", None)
    assert sign_in(app.test_client(), "worker", "").status_code == 401
    assert sign_in(app.test_client(), "worker", "!").status_code == 401


def test_login_only_redirects_within_the_site(app, alice):
    for target in ["//evil.example/x", "https://evil.example/", "/\\evil.example"]:
        resp = sign_in(app.test_client(), "alice", next_url=target)
        assert resp.status_code == 302 and resp.headers["Location"] == "/", target


def test_forms_posted_with_a_session_need_the_csrf_token(app, alice, waiting):
    browser = app.test_client()
    sign_in(browser, "alice")
    token = csrf_of(browser.get("/instances").get_data(as_text=True))
    for data in [{}, {"csrf_token": "forged"}]:
        resp = browser.post("/logout", data=data)
        assert resp.status_code == 403
        assert "CSRF token is missing or wrong" in resp.get_data(as_text=True)
    assert browser.get("/instances").status_code == 200, "still signed in"
    # JSON calls made by the pages' scripts send it as a header
    resp = browser.post("/api/v1/messages", json={"name": "nobody-waits"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "csrf_failed"
    resp = browser.post("/api/v1/messages", json={"name": "nobody-waits"}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 404
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302


def test_a_login_form_without_its_csrf_token_is_shown_again(app, alice):
    resp = app.test_client().post("/login", data={"username": "alice", "password": PASSWORD})
    assert resp.status_code == 400
    assert "The sign-in form expired" in resp.get_data(as_text=True)


def test_bearer_calls_need_no_csrf_token(client_as):
    resp = client_as("user").post("/api/v1/messages", json={"name": "nobody-waits"})
    assert resp.status_code == 404


def test_sessions_survive_a_restart_with_the_generated_key(engine, alice, monkeypatch):
    if engine.db.dialect.name != "sqlite":
        pytest.skip("the generated key is stored next to the SQLite database")
    monkeypatch.delenv("BATON_SECRET_KEY", raising=False)
    first = create_app(engine=engine)
    browser = first.test_client()
    sign_in(browser, "alice")
    key_file = engine.settings.database_url.removeprefix("sqlite:///").rsplit("/", 1)[0] + "/baton-secret.key"
    with open(key_file) as f:
        assert f.read().strip() == first.config["SECRET_KEY"]
    second = create_app(engine=engine)  # a restart: the same key is read back
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    cookie = browser.get_cookie("session")
    again = second.test_client()
    again.set_cookie("session", cookie.value)
    assert again.get("/instances").status_code == 200


def test_baton_secret_key_signs_the_sessions(engine, alice, monkeypatch):
    monkeypatch.setenv("BATON_SECRET_KEY", "from-the-environment")
    app = create_app(engine=engine)
    assert app.config["SECRET_KEY"] == "from-the-environment"
    browser = app.test_client()
    sign_in(browser, "alice")
    other = create_app({"SECRET_KEY": "another key"}, engine=engine).test_client()
    other.set_cookie("session", browser.get_cookie("session").value)
    assert other.get("/instances").status_code == 302, "a cookie signed with another key is not accepted"


@pytest.mark.parametrize("method, path, role", [
    ("GET", "/login", None), ("POST", "/login", None), ("GET", "/static/vendor/bpmn-js/x.js", None),
    ("GET", "/api/v1/health", None), ("GET", "/healthz", None),
    ("GET", "/", "user"), ("GET", "/instances", "user"), ("GET", "/tasks", "user"), ("GET", "/metrics", "user"),
    ("GET", "/api/v1/openapi.json", "user"), ("GET", "/api/v1/definitions/p/xml", "user"),
    ("POST", "/logout", "user"),
    ("POST", "/api/v1/instances", "user"), ("POST", "/api/v1/definitions/p/start", "user"),
    ("POST", "/api/v1/definitions/p/versions/2/start", "user"), ("POST", "/processes/p/start", "user"),
    ("POST", "/api/v1/tasks/t1/complete", "user"), ("POST", "/api/v1/tasks/t1/claim", "user"),
    ("POST", "/tasks/t1", "user"), ("POST", "/tasks/t1/complete", "user"),
    ("POST", "/api/v1/messages", "user"), ("POST", "/api/v1/signals", "user"),
    ("POST", "/instances/i1/message", "user"),
    ("POST", "/api/v1/instances/i1/cancel", "operator"), ("DELETE", "/api/v1/instances/i1", "operator"),
    ("POST", "/api/v1/instances/i1/suspend", "operator"), ("POST", "/instances/i1/resume", "operator"),
    ("PUT", "/api/v1/instances/i1/variables", "operator"), ("POST", "/instances/i1/variables", "operator"),
    ("POST", "/api/v1/incidents/retry", "operator"), ("POST", "/incidents/retry", "operator"),
    ("POST", "/api/v1/jobs/j1/retry", "operator"), ("POST", "/api/v1/external-tasks/fetch-and-lock", "operator"),
    ("POST", "/something/new", "operator"),
    ("GET", "/deploy", "admin"), ("POST", "/deploy", "admin"), ("POST", "/api/v1/definitions", "admin"),
    ("POST", "/api/v1/deployments", "admin"), ("DELETE", "/api/v1/definitions/p", "admin"),
    ("GET", "/users", "admin"), ("POST", "/api/v1/tokens", "admin"),
])
def test_the_policy_table(method, path, role):
    from web.policy import required_role

    assert required_role(method, path) == role
