"""The SQL of timers, message and signal subscriptions and buffered messages."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, insert, select, update

from .instance_queries import not_suspended
from .tables import BufferedMessage, Subscription, Timer

timers = cast(Table, Timer.__table__)
subscriptions = cast(Table, Subscription.__table__)
messages = cast(Table, BufferedMessage.__table__)


# ---- what one instance waits for -------------------------------------------------------------------------

def instance_waits(conn: Connection, instance_id: str) -> tuple[dict[str, Any], dict[str, set[Any]]]:
    """({task id: due_at} of its timers, {task id: {(kind, name, key), ...}} of its subscriptions)."""
    armed = {r.task_id: r.due_at for r in conn.execute(
        select(timers.c.task_id, timers.c.due_at).where(timers.c.instance_id == instance_id))}
    subs: dict[str, set[Any]] = {}
    for r in conn.execute(select(subscriptions.c.task_id, subscriptions.c.kind, subscriptions.c.name,
                                 subscriptions.c.correlation_key).where(subscriptions.c.instance_id == instance_id)):
        subs.setdefault(r.task_id, set()).add((r.kind, r.name, r.correlation_key))
    return armed, subs


def delete_timers(conn: Connection, task_ids: list[str]) -> None:
    if task_ids:
        conn.execute(delete(timers).where(timers.c.task_id.in_(task_ids)))


def delete_subscriptions(conn: Connection, task_ids: list[str]) -> None:
    if task_ids:
        conn.execute(delete(subscriptions).where(subscriptions.c.task_id.in_(task_ids)))


def delete_instance_waits(conn: Connection, instance_id: str) -> None:
    conn.execute(delete(timers).where(timers.c.instance_id == instance_id))
    conn.execute(delete(subscriptions).where(subscriptions.c.instance_id == instance_id))


def insert_timers(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(timers), rows)


def set_timer_due(conn: Connection, task_id: str, due_at: dt.datetime) -> None:
    conn.execute(update(timers).where(timers.c.task_id == task_id).values(due_at=due_at))


def insert_subscriptions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(subscriptions), rows)


# ---- start events of processes ---------------------------------------------------------------------------

def replace_start_events(conn: Connection, process_key: str, timer_rows: list[dict[str, Any]],
                         subscription_rows: list[dict[str, Any]]) -> None:
    """The start timers and start subscriptions of ``process_key`` become those of its newest version."""
    conn.execute(delete(timers).where(timers.c.process_key == process_key, timers.c.instance_id.is_(None)))
    conn.execute(delete(subscriptions).where(subscriptions.c.process_key == process_key,
                                             subscriptions.c.instance_id.is_(None)))
    insert_timers(conn, timer_rows)
    insert_subscriptions(conn, subscription_rows)


def start_subscriptions(conn: Connection, kind: str, name: str) -> list[Any]:
    return list(conn.execute(select(subscriptions).where(
        subscriptions.c.kind == kind, subscriptions.c.name == name, subscriptions.c.instance_id.is_(None))
        .order_by(subscriptions.c.process_key)))


# ---- timers that are due ---------------------------------------------------------------------------------

def due_timers(conn: Connection, now: dt.datetime, limit: int) -> list[Any]:
    return list(conn.execute(select(timers.c.id).where(timers.c.due_at <= now, not_suspended(timers.c.instance_id))
                             .order_by(timers.c.due_at).limit(limit)))


def lock_timer(conn: Connection, timer_id: str, now: dt.datetime) -> Any:
    """The timer row if it is still due and no other node is firing it (SKIP LOCKED on PostgreSQL)."""
    stmt = select(timers).where(timers.c.id == timer_id, timers.c.due_at <= now)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return conn.execute(stmt).first()


def next_timer_due(conn: Connection) -> dt.datetime | None:
    value = conn.execute(select(func.min(timers.c.due_at)).where(not_suspended(timers.c.instance_id))).scalar()
    return cast(dt.datetime | None, value)


def move_start_timer(conn: Connection, timer_id: str, old_due: dt.datetime, due_at: dt.datetime | None,
                     cycle: dict[str, Any] | None) -> bool:
    """Move a start timer to its next due time (or delete it when it is spent); False if another node did."""
    where = (timers.c.id == timer_id, timers.c.due_at == old_due)
    if due_at is None:
        return conn.execute(delete(timers).where(*where)).rowcount == 1
    return conn.execute(update(timers).where(*where).values(due_at=due_at, cycle=cycle)).rowcount == 1


def delete_timer(conn: Connection, timer_id: str) -> None:
    conn.execute(delete(timers).where(timers.c.id == timer_id))


def list_timers(conn: Connection, instance_id: str | None = None, limit: int = 200) -> list[Any]:
    stmt = select(timers).order_by(timers.c.due_at).limit(limit)
    if instance_id is not None:
        stmt = stmt.where(timers.c.instance_id == instance_id)
    return list(conn.execute(stmt))


# ---- correlating ------------------------------------------------------------------------------------------

def find_waiting(conn: Connection, kind: str, name: str, correlation_key: str | None = None,
                 business_key: str | None = None, instance_id: str | None = None,
                 limit: int | None = None) -> list[Any]:
    """Waiting instance subscriptions for a message or signal, oldest first (indexed lookups)."""
    stmt = select(subscriptions).where(subscriptions.c.kind == kind, subscriptions.c.name == name,
                                       subscriptions.c.instance_id.is_not(None),
                                       not_suspended(subscriptions.c.instance_id))
    if correlation_key is not None:
        stmt = stmt.where(subscriptions.c.correlation_key == correlation_key)
    if business_key is not None:
        stmt = stmt.where(subscriptions.c.business_key == business_key)
    if instance_id is not None:
        stmt = stmt.where(subscriptions.c.instance_id == instance_id)
    stmt = stmt.order_by(subscriptions.c.created_at, subscriptions.c.id)
    return list(conn.execute(stmt.limit(limit) if limit else stmt))


def insert_message(conn: Connection, **values: Any) -> None:
    conn.execute(insert(messages).values(**values))


def buffered_for(conn: Connection, name: str, correlation_key: str | None, business_key: str | None,
                 now: dt.datetime) -> list[Any]:
    """Unexpired buffered messages a new subscription (name, key, business key) may take, oldest first."""
    stmt = select(messages).where(messages.c.name == name, messages.c.expires_at > now)
    rows = conn.execute(stmt.order_by(messages.c.created_at, messages.c.id)).all()
    return [r for r in rows if (r.correlation_key is None or r.correlation_key == correlation_key)
            and (r.business_key is None or r.business_key == business_key)]


def take_message(conn: Connection, message_id: str) -> bool:
    return conn.execute(delete(messages).where(messages.c.id == message_id)).rowcount == 1


def purge_expired_messages(conn: Connection, now: dt.datetime) -> int:
    return conn.execute(delete(messages).where(messages.c.expires_at <= now)).rowcount or 0


def list_messages(conn: Connection, limit: int = 200) -> list[Any]:
    return list(conn.execute(select(messages).order_by(messages.c.created_at).limit(limit)))
