"""Connections and schema migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import DatabaseUnavailable, StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def connect(url: str) -> SAEngine:
    """A SQLAlchemy engine for ``url`` with the settings Baton relies on."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        # pre-ping: a pooled connection the server dropped (restart, outage) is replaced, not handed out;
        # connect_timeout: an unreachable host fails a call in seconds instead of hanging it
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        if url.startswith("postgresql") and "connect_timeout" not in url:
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        sa_engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(f"cannot use database URL {url!r}: {exc}") from exc
    if sa_engine.dialect.name == "sqlite":
        event.listen(sa_engine, "connect", _sqlite_pragmas)
    return sa_engine


#: SQLSTATEs of a lost server: connection exceptions (class 08) and an administrator / crash shutdown
_GONE_STATES = ("08", "57P01", "57P02", "57P03")
#: what a server says at connection time while it cannot take connections for a while
_PASSING_REFUSALS = ("starting up", "shutting down", "in recovery mode", "too many clients")


def is_disconnect(exc: BaseException) -> bool:
    """True when ``exc`` means the database server cannot be reached now (refused, restarting, connection lost),
    as opposed to an error in what was asked of it: the same call can succeed once the server is back.

    The exceptions ``exc`` was raised while handling count too (a lost connection can surface as a later
    "rollback first" error about the transaction it broke)."""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain, not a loop: a few links at most
        if seen is None:
            return False
        if _lost(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _lost(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not hasattr(exc.orig, "sqlstate"):  # not psycopg: SQLite has no server to lose
        return False
    state: str | None = exc.orig.sqlstate  # type: ignore[union-attr]
    if state is not None:
        return state.startswith(_GONE_STATES)
    # failed while connecting: refused, timed out, or the server said no.  A server that is starting or
    # stopping is an outage; a wrong password, user or database name ("FATAL: ...") is not: nothing to wait for
    text = str(exc.orig)
    return "FATAL:" not in text or any(reason in text for reason in _PASSING_REFUSALS)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def alembic_config() -> Config:
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise StorageError(f"migrations not found at {MIGRATIONS_DIR}; install Baton from its source tree")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(sa_engine: SAEngine) -> str | None:
    with sa_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(sa_engine: SAEngine, revision: str = "head") -> tuple[str | None, str | None]:
    """Run the migrations up to ``revision``; returns (before, after)."""
    try:
        before = current_revision(sa_engine)
        cfg = alembic_config()
        with sa_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return before, current_revision(sa_engine)
    except SQLAlchemyError as exc:
        raise StorageError(f"database migration failed: {exc}") from exc


def ensure_schema(sa_engine: SAEngine, auto_migrate: bool) -> None:
    try:
        current = current_revision(sa_engine)
    except SQLAlchemyError as exc:
        kind = DatabaseUnavailable if is_disconnect(exc) else StorageError
        raise kind(f"cannot reach the database: {exc.__class__.__name__}: {exc}") from exc
    if current == head_revision():
        return
    if not auto_migrate:
        raise StorageError(
            f"the database schema is at {current or 'nothing'}, Baton needs {head_revision()}: "
            "run `baton db upgrade`"
        )
    upgrade(sa_engine)
