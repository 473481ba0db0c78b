"""SQL for the agent-call log (``agent_calls``); each function takes an open connection."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from .tables import AgentCall

calls = cast(Table, AgentCall.__table__)
_INSERT_CALL = insert(calls)


def insert_call(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(_INSERT_CALL, values)


def calls_of_instance(conn: Connection, instance_id: str) -> list[Any]:
    """An instance's calls in the order they started."""
    query = select(calls).where(calls.c.instance_id == instance_id).order_by(calls.c.started_at, calls.c.id)
    return list(conn.execute(query))


def calls_for_stats(conn: Connection, since: dt.datetime | None = None, topic: str | None = None) -> list[Any]:
    """(topic, outcome, attempt, duration, cost) of every call that finished at or after ``since``."""
    query = select(calls.c.topic, calls.c.outcome, calls.c.attempt, calls.c.duration, calls.c.cost)
    if since is not None:
        query = query.where(calls.c.finished_at >= since)
    if topic is not None:
        query = query.where(calls.c.topic == topic)
    return list(conn.execute(query))
