"""SQL for jobs, incidents and circuit breakers; each function takes an open connection.

Claiming is the one place where the two databases differ: PostgreSQL locks the candidate rows with
``FOR UPDATE SKIP LOCKED`` so concurrent workers take different jobs without waiting; SQLite (one
writer at a time anyway) takes each candidate with a conditional ``UPDATE ... WHERE status = 'ready'``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, delete, func, insert, or_, select, update

from .instance_queries import not_suspended
from .tables import Circuit, Incident, Job

jobs = cast(Table, Job.__table__)
incidents = cast(Table, Incident.__table__)
circuits = cast(Table, Circuit.__table__)

READY, LOCKED, INCIDENT = "ready", "locked", "incident"
_INSERT_JOB = insert(jobs)


def insert_jobs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_INSERT_JOB, rows)


def delete_jobs_for_tasks(conn: Connection, task_ids: list[str]) -> None:
    if task_ids:
        conn.execute(delete(jobs).where(jobs.c.task_id.in_(task_ids)))


_DELETE_JOB = delete(jobs).where(jobs.c.id == bindparam("id"))
_GET_JOB = select(jobs).where(jobs.c.id == bindparam("id"))


def delete_job(conn: Connection, job_id: str) -> None:
    conn.execute(_DELETE_JOB, {"id": job_id})


def get_job(conn: Connection, job_id: str) -> Any:
    return conn.execute(_GET_JOB, {"id": job_id}).first()


def list_jobs(conn: Connection, status: str | None = None, topic: str | None = None,
              instance_id: str | None = None, limit: int = 200) -> list[Any]:
    query = select(jobs)
    if status:
        query = query.where(jobs.c.status == status)
    if topic:
        query = query.where(jobs.c.topic == topic)
    if instance_id:
        query = query.where(jobs.c.instance_id == instance_id)
    return list(conn.execute(query.order_by(jobs.c.due_at, jobs.c.id).limit(limit)))


def claim(conn: Connection, owner: str, topics: list[str] | None, limit: int, now: dt.datetime,
          lock_until: dt.datetime, match: dict[str, Any] | None = None) -> list[Any]:
    """Lock up to ``limit`` due ready jobs of ``topics`` (None = any topic) for ``owner``; ``match`` maps job
    columns (``business_key``, ``process_key``...) to the values they must have."""
    if limit <= 0 or topics == []:
        return []
    due = [jobs.c.status == READY, jobs.c.due_at <= now, not_suspended(jobs.c.instance_id)]
    due += [jobs.c[column] == value for column, value in (match or {}).items()]
    if topics is not None:
        due.append(jobs.c.topic.in_(topics))
    changes = {"status": LOCKED, "lock_owner": owner, "lock_expires_at": lock_until,
               "attempt": jobs.c.attempt + 1, "updated_at": now}
    if conn.dialect.name == "postgresql":
        candidates = (select(jobs.c.id).where(*due).order_by(jobs.c.due_at).limit(limit)
                      .with_for_update(skip_locked=True).scalar_subquery())
        return list(conn.execute(update(jobs).where(jobs.c.id.in_(candidates)).values(**changes).returning(jobs)))
    ids = list(conn.execute(select(jobs.c.id).where(*due).order_by(jobs.c.due_at).limit(limit)).scalars())
    taken = [job_id for job_id in ids
             if conn.execute(update(jobs).where(jobs.c.id == job_id, *due).values(**changes)).rowcount == 1]
    if not taken:
        return []
    return list(conn.execute(select(jobs).where(jobs.c.id.in_(taken))))


def renew(conn: Connection, owner: str, job_ids: list[str], until: dt.datetime) -> list[str]:
    """Move the lease of ``owner``'s jobs among ``job_ids`` to ``until``; returns the ids it still held."""
    if not job_ids:
        return []
    held = (jobs.c.id.in_(job_ids), jobs.c.status == LOCKED, jobs.c.lock_owner == owner)
    return list(conn.execute(update(jobs).where(*held).values(lock_expires_at=until).returning(jobs.c.id)).scalars())


def expired_locks(conn: Connection, now: dt.datetime, limit: int = 100) -> list[Any]:
    return list(conn.execute(
        select(jobs.c.id).where(jobs.c.status == LOCKED, jobs.c.lock_expires_at < now).limit(limit)
    ).scalars())


def update_job(conn: Connection, job_id: str, expect: dict[str, Any] | None = None, **values: Any) -> bool:
    """Change a job only if it still matches ``expect`` (e.g. the lock owner); returns whether it did."""
    query = update(jobs).where(jobs.c.id == job_id)
    for column, value in (expect or {}).items():
        query = query.where(jobs.c[column] == value)
    return conn.execute(query.values(**values)).rowcount == 1


def next_due(conn: Connection, topics: list[str] | None) -> dt.datetime | None:
    query = select(func.min(jobs.c.due_at)).where(jobs.c.status == READY, not_suspended(jobs.c.instance_id))
    if topics is not None:
        query = query.where(jobs.c.topic.in_(topics))
    return conn.execute(query).scalar()


# ---- incidents -------------------------------------------------------------------------------------------

def insert_incident(conn: Connection, **values: Any) -> None:
    conn.execute(insert(incidents).values(**values))


def get_incident(conn: Connection, incident_id: str) -> Any:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()


def list_incidents(conn: Connection, open_only: bool = True, topic: str | None = None, key: str | None = None,
                   instance_id: str | None = None, limit: int = 200) -> list[Any]:
    query = select(incidents)
    if open_only:
        query = query.where(incidents.c.resolved_at.is_(None))
    if topic:
        query = query.where(incidents.c.topic == topic)
    if key:
        query = query.where(incidents.c.process_key == key)
    if instance_id:
        query = query.where(incidents.c.instance_id == instance_id)
    return list(conn.execute(query.order_by(incidents.c.created_at, incidents.c.id).limit(limit)))


def resolve_incidents_of_tasks(conn: Connection, task_ids: list[str], now: dt.datetime, resolution: str) -> None:
    jobs_of_tasks = select(jobs.c.id).where(jobs.c.task_id.in_(task_ids)).scalar_subquery()
    conn.execute(update(incidents).where(incidents.c.resolved_at.is_(None), incidents.c.job_id.in_(jobs_of_tasks))
                 .values(resolved_at=now, resolution=resolution))


def open_incident_count(conn: Connection, instance_id: str) -> int:
    return conn.execute(select(func.count()).select_from(incidents).where(
        incidents.c.instance_id == instance_id, incidents.c.resolved_at.is_(None))).scalar() or 0


def resolve_incidents(conn: Connection, now: dt.datetime, resolution: str, job_id: str | None = None,
                      instance_id: str | None = None) -> None:
    query = update(incidents).where(incidents.c.resolved_at.is_(None))
    if job_id:
        query = query.where(incidents.c.job_id == job_id)
    if instance_id:
        query = query.where(incidents.c.instance_id == instance_id)
    conn.execute(query.values(resolved_at=now, resolution=resolution))


# ---- circuit breakers ------------------------------------------------------------------------------------

def get_circuits(conn: Connection, topics: list[str] | None = None) -> list[Any]:
    query = select(circuits)
    if topics is not None:
        query = query.where(circuits.c.topic.in_(topics))
    return list(conn.execute(query.order_by(circuits.c.topic)))


def take_probe(conn: Connection, topic: str, now: dt.datetime, until: dt.datetime) -> bool:
    """Half-open an open circuit whose cool-off is over; True for the one caller that may send a probe."""
    return conn.execute(
        update(circuits)
        .where(circuits.c.topic == topic, circuits.c.state.in_(["open", "half_open"]), circuits.c.opened_until <= now)
        .values(state="half_open", opened_until=until, updated_at=now)
    ).rowcount == 1


def record_success(conn: Connection, topic: str, now: dt.datetime) -> None:
    conn.execute(update(circuits).where(circuits.c.topic == topic, or_(circuits.c.state != "closed",
                                                                          circuits.c.failures > 0))
                 .values(state="closed", failures=0, opened_until=None, updated_at=now))


def record_failure(conn: Connection, topic: str, now: dt.datetime, threshold: int, cooloff_until: dt.datetime) -> str:
    """Count a failure; returns the circuit's new state."""
    row = conn.execute(select(circuits).where(circuits.c.topic == topic)).first()
    if row is None:
        state = "open" if threshold <= 1 else "closed"
        conn.execute(insert(circuits).values(topic=topic, state=state, failures=1, updated_at=now,
                                             opened_until=cooloff_until if state == "open" else None))
        return state
    failures = row.failures + 1
    opening = row.state == "half_open" or failures >= threshold
    conn.execute(update(circuits).where(and_(circuits.c.topic == topic)).values(
        failures=failures, state="open" if opening else row.state, updated_at=now,
        opened_until=cooloff_until if opening else row.opened_until))
    return "open" if opening else row.state
