"""Shared fixtures: every engine test runs on SQLite and on PostgreSQL.

PostgreSQL is used at ``BATON_TEST_PG_URL`` (default: 127.0.0.1:5432, database ``test``,
user ``postgres``), in a schema of its own per test session.  When the server is absent the
PostgreSQL variants skip, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine import Engine, Settings
from engine.store import db as store_db

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "bpmn" / "examples"
PG_URL = os.environ.get("BATON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TABLES = ["agent_calls", "artifacts", "artifact_blobs", "api_tokens", "users", "timers", "subscriptions", "messages", "history", "human_tasks", "jobs", "incidents", "circuits", "instances", "process_definitions", "decision_definitions", "resources",
          "deployments"]


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_schema_url():
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")
    schema = f"baton_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    migrated = store_db.connect(url)
    store_db.upgrade(migrated)
    migrated.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "baton.db"
    sa = store_db.connect(f"sqlite:///{path}")
    store_db.upgrade(sa)
    with sa.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    sa.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A migrated, empty database: a fresh SQLite file, or the session's PostgreSQL schema emptied."""
    if request.param == "sqlite":
        target = tmp_path / "baton.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("pg_schema_url")
    sa = create_engine(url)
    with sa.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE"))
    sa.dispose()
    return url


@pytest.fixture
def settings(db_url) -> Settings:
    return Settings(database_url=db_url, script_timeout=2.0, auto_migrate=False)


@pytest.fixture
def engine(settings):
    eng = Engine(settings)
    yield eng
    eng.close()


@pytest.fixture
def clock():
    """A clock the test moves (see helpers.Clock)."""
    from helpers import Clock

    return Clock()


@pytest.fixture
def eng(settings, clock):
    """An engine that reads ``clock`` instead of the wall clock."""
    engine = Engine(settings, clock=clock)
    yield engine
    engine.close()


def row_counts(eng: Engine) -> dict[str, int]:
    """How many rows each table holds: to prove a failed call stored nothing."""
    with eng.db.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def bearer(eng: Engine, role: str = "admin", groups=(), name: str | None = None) -> dict[str, str]:
    """The header of a new API token of user ``name`` (made with ``role`` and ``groups`` if it is new)."""
    from engine.errors import UserNotFound

    name = name or f"{role}-{uuid.uuid4().hex[:6]}"
    try:
        eng.get_user(name)
    except UserNotFound:
        eng.add_user(name, role, None, groups)  # token-only: hashing a password would slow every test
    _, secret = eng.create_token(name, "tests")
    return {"Authorization": f"Bearer {secret}"}


def signed_in_client(app, role: str = "admin", groups=(), name: str | None = None):
    """A test client of ``app`` that sends the bearer token of a ``role`` user on every request."""
    name = name or f"{role}-{uuid.uuid4().hex[:6]}"
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(app.extensions["baton"], role, groups, name)["Authorization"]
    client.user_name = name
    return client


@pytest.fixture
def app(engine):
    """The Flask app over the test's engine (its session key given, so nothing is written to the disk)."""
    from web import create_app

    return create_app({"SECRET_KEY": "tests"}, engine=engine)


@pytest.fixture
def client(app):
    """A test client of the app, signed in as the admin ``admin`` (bearer token), for API and page tests."""
    return signed_in_client(app, "admin", name="admin")


@pytest.fixture
def client_as(app):
    """``client_as(role, groups=(), name=None)``: a test client signed in as a new user with that role."""

    def make(role: str, groups=(), name: str | None = None):
        return signed_in_client(app, role, groups, name)

    return make


@pytest.fixture
def anonymous(app):
    """A test client of the app that is not signed in."""
    return app.test_client()


@pytest.fixture
def auth_headers(engine) -> dict[str, str]:
    """Headers a raw HTTP call to a live server needs to be let in as the admin ``admin`` (a bearer token)."""
    return bearer(engine, "admin", name="admin")
