"""Signing in: sessions with CSRF protection for the pages, bearer tokens for the API, the access check.

- **Sessions**: ``/login`` (a form) puts the user's id in Flask's signed session cookie; ``/logout`` (a POST)
  clears it.  The signing key is ``BATON_SECRET_KEY`` when set, else a random key generated once into
  ``baton-secret.key`` next to the SQLite database (or in the working folder for other databases), so
  sessions survive restarts.  A session ends at the user's next request once they are disabled or their
  password changes.
- **CSRF**: every POST/PUT/PATCH/DELETE made with a session must carry the session's token, as the form
  field ``csrf_token`` (templates write ``{{ csrf_field() }}`` in their forms) or the ``X-CSRF-Token``
  header (JavaScript reads it from ``<meta name="csrf-token">``).  Calls with a bearer token need none.
- **Tokens**: ``Authorization: Bearer <token>`` (created with ``baton tokens create USER``).
- **Basic**: ``Authorization: Basic base64(user:password)`` with a Baton user's name and password, on API paths
  only (``/api/`` and the Camunda-compatible ``/engine-rest/``; pages use sessions).  The password check is
  werkzeug's constant-time hash comparison, with a dummy hash for unknown names.  Like tokens, no CSRF token.
- **The check**: before every request, ``web.policy.required_role`` says which role the path needs; the
  user is put in ``flask.g.user`` (an ``engine.users.User``: ``.name``, ``.role``, ``.groups``).  No user:
  401 (JSON for ``/api/`` and ``/engine-rest/``, else a redirect to ``/login?next=...``); too small a role: 403
  (JSON, or a page naming the role needed).  Under ``/engine-rest`` the JSON has Camunda's error shape
  ``{"type", "message"}`` and a 401 asks for ``WWW-Authenticate: Basic realm="baton"``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, g, jsonify, redirect, render_template, request, session, url_for
from markupsafe import Markup
from sqlalchemy.engine import make_url

from engine.errors import AuthenticationFailed
from engine.users import User

from . import get_engine, policy

bp = Blueprint("auth", __name__)
KEY_FILE = "baton-secret.key"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
ENGINE_REST = "/engine-rest/"


# ---- setup -----------------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Signing key, session cookie settings, the access check and the template helpers."""
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("BATON_SECRET_KEY") or _stored_key(
            app.extensions["baton"].settings.database_url)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    app.before_request(check_access)
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.register_blueprint(bp)


def key_path(database_url: str) -> Path:
    """Where the generated session key lives: next to a SQLite file, else in the working folder."""
    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - an odd URL only changes where the key goes
        return Path.cwd() / KEY_FILE
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / KEY_FILE
    return Path.cwd() / KEY_FILE


def _stored_key(database_url: str) -> str:
    path = key_path(database_url)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


# ---- CSRF --------------------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return str(session[CSRF_FIELD])


def csrf_field() -> Markup:
    """The hidden form field every ``<form method="post">`` carries."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


def csrf_ok() -> bool:
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER) or (request.form.get(CSRF_FIELD) if request.form else None)
    return bool(expected and sent and hmac.compare_digest(str(expected), str(sent)))


# ---- the access check --------------------------------------------------------------------------------------


def _identify() -> AuthenticationFailed | None:
    """Put the caller in ``g.user`` / ``g.auth`` ("token", "basic" or "session"); the error of bad credentials."""
    g.user, g.auth = None, None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            g.user, g.auth = get_engine().verify_token(header[7:].strip()), "token"
        except AuthenticationFailed as exc:
            return exc
        return None
    if header[:6].lower() == "basic " and _api():
        try:
            g.user, g.auth = _basic(header[6:].strip()), "basic"
        except AuthenticationFailed as exc:
            return exc
        return None
    uid = session.get("uid")
    if uid is not None:
        user = get_engine().get_user_by_id(uid) if isinstance(uid, int) else None
        if user is None or user.disabled or session.get("stamp") != user.stamp:  # gone, disabled, new password
            session.clear()
        else:
            g.user, g.auth = user, "session"
    return None


def _basic(encoded: str) -> User:
    """The user of ``Authorization: Basic`` credentials (their password checked), else AuthenticationFailed."""
    try:
        name, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        name, sep, password = "", "", ""
    if not sep or not name or "\x00" in name or len(name) > 255:
        raise AuthenticationFailed("the Basic credentials are not base64 of 'user:password'")
    return get_engine().verify_password(name, password)


def check_access() -> Any:
    """The ``before_request`` hook: who is calling, and may they? (see the module docstring)"""
    if request.path.startswith("/static/"):  # public, and no reason to look the caller up
        g.user, g.auth = None, None
        return None
    problem = _identify()
    needed = policy.required_role(request.method, request.path)
    if needed is None:
        return None
    if g.user is None:
        return unauthorized(problem)
    if g.auth == "session" and request.method in policy.WRITE and not csrf_ok():
        return forbidden(None, "The form was not sent by a Baton page of this session (its CSRF token is "
                               "missing or wrong): reload the page and try again.", code="csrf_failed")
    if not g.user.at_least(needed):
        return forbidden(needed)
    return None


def _api() -> bool:
    return request.path.startswith(("/api/", ENGINE_REST))


def _engine_rest() -> bool:
    return request.path.startswith(ENGINE_REST)


def unauthorized(problem: AuthenticationFailed | None = None) -> Any:
    if _engine_rest():
        resp = jsonify({"type": "AuthenticationException", "message": str(problem or AuthenticationFailed(
            "sign in first: HTTP Basic with a Baton user's name and password, or 'Authorization: Bearer "
            "<token>'"))})
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Basic realm="baton"'
        return resp
    if _api():
        error = problem or AuthenticationFailed(
            "sign in first: send the header 'Authorization: Bearer <token>' (baton tokens create USER)")
        resp = jsonify({"error": error.to_dict()})
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="baton"'
        return resp
    target = request.full_path if request.query_string else request.path
    return redirect(f"{url_for('auth.login')}?next={quote(target, safe='/')}")


def forbidden(needed: str | None, message: str | None = None, code: str = "forbidden") -> Any:
    user: User = g.user
    if message is None:
        message = (f"This needs the {needed} role; you are signed in as {user.name} ({user.role}).")
    if _engine_rest():
        return {"type": "AuthorizationException", "message": message}, 403
    if _api():
        return {"error": {"code": code, "message": message,
                          "details": {"required_role": needed, "role": user.role} if needed else {}}}, 403
    return render_template("forbidden.html", message=message, needed=needed), 403


# ---- pages -------------------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only paths on this site (never ``//other.host`` or ``https://...``)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if g.user is not None:
            return redirect(target)
        return render_template("login.html", next=target, name="", error=None)
    name = (request.form.get("username") or request.form.get("name") or "").strip()
    if not csrf_ok():
        return render_template("login.html", next=target, name=name,
                               error="The sign-in form expired; please sign in again."), 400
    try:
        user = get_engine().verify_password(name, request.form.get("password", ""))
    except AuthenticationFailed as exc:
        return render_template("login.html", next=target, name=name, error=f"{str(exc).capitalize()}."), 401
    session.clear()  # a new session: nothing from before signing in carries over
    session.permanent = True
    session["uid"] = user.id
    session["stamp"] = user.stamp
    csrf_token()
    return redirect(target)


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    session.clear()
    return redirect(url_for("auth.login"))
