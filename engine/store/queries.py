"""The SQL Baton runs, one function per question; each takes an open connection."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from .tables import (
    DecisionDefinition,
    Deployment,
    HistoryEvent,
    HumanTask,
    Instance,
    ProcessDefinition,
    Resource,
)

definitions = cast(Table, ProcessDefinition.__table__)
decisions = cast(Table, DecisionDefinition.__table__)
instances = cast(Table, Instance.__table__)
human_tasks = cast(Table, HumanTask.__table__)
history = cast(Table, HistoryEvent.__table__)
resources = cast(Table, Resource.__table__)
deployments = cast(Table, Deployment.__table__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; Baton stores UTC only."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


# ---- definitions -----------------------------------------------------------------------------------------

_META_COLUMNS = [c for c in definitions.c if c.name != "spec"]


# Hot-path statements are built once: building them per call costs more than running them on SQLite.
_LATEST = (select(*_META_COLUMNS).where(definitions.c.key == bindparam("key"))
           .order_by(definitions.c.version.desc()).limit(1))
_LATEST_EXECUTABLE = (select(*_META_COLUMNS)
                      .where(definitions.c.key == bindparam("key"), definitions.c.executable.is_(True))
                      .order_by(definitions.c.version.desc()).limit(1))
_BY_VERSION = select(*_META_COLUMNS).where(definitions.c.key == bindparam("key"),
                                           definitions.c.version == bindparam("version"))


def latest_definition(conn: Connection, key: str, executable_only: bool = False) -> Any:
    """The newest version of ``key`` (without its spec text: see :func:`definition_spec`)."""
    return conn.execute(_LATEST_EXECUTABLE if executable_only else _LATEST, {"key": key}).first()


def definition_by_version(conn: Connection, key: str, version: int) -> Any:
    return conn.execute(_BY_VERSION, {"key": key, "version": version}).first()


def definition_by_id(conn: Connection, definition_id: int) -> Any:
    return conn.execute(select(*_META_COLUMNS).where(definitions.c.id == definition_id)).first()


def definition_spec(conn: Connection, definition_id: int) -> str | None:
    return conn.execute(select(definitions.c.spec).where(definitions.c.id == definition_id)).scalar()


def list_definitions(conn: Connection, key: str | None = None, latest_only: bool = False) -> list[Any]:
    query = select(definitions.c.id, definitions.c.key, definitions.c.version, definitions.c.name,
                   definitions.c.executable, definitions.c.deployment_id, definitions.c.created_at,
                   definitions.c.checksum, definitions.c.resource_id)
    if key is not None:
        query = query.where(definitions.c.key == key)
    if latest_only:
        newest = (select(definitions.c.key, func.max(definitions.c.version).label("v"))
                  .group_by(definitions.c.key).subquery())
        query = query.join(newest, (newest.c.key == definitions.c.key) & (newest.c.v == definitions.c.version))
    return list(conn.execute(query.order_by(definitions.c.key, definitions.c.version)))


def resource_content(conn: Connection, resource_id: int) -> tuple[str, str] | None:
    row = conn.execute(select(resources.c.name, resources.c.content).where(resources.c.id == resource_id)).first()
    return (row.name, row.content) if row else None


def has_resource(conn: Connection, kind: str, checksum: str) -> bool:
    found = conn.execute(select(resources.c.id).where(resources.c.kind == kind, resources.c.checksum == checksum)
                         .limit(1)).first()
    return found is not None


def form_resources(conn: Connection) -> list[tuple[str, str]]:
    """(name, content) of every deployed Camunda Form, newest first."""
    rows = conn.execute(select(resources.c.name, resources.c.content).where(resources.c.kind == "form")
                        .order_by(resources.c.id.desc()))
    return [(r.name, r.content) for r in rows]


def latest_decision(conn: Connection, key: str) -> Any:
    return conn.execute(
        select(decisions).where(decisions.c.key == key).order_by(decisions.c.version.desc()).limit(1)
    ).first()


def next_version(conn: Connection, table: Any, key: str) -> int:
    current = conn.execute(select(func.max(table.c.version)).where(table.c.key == key)).scalar()
    return (current or 0) + 1


def insert_deployment(conn: Connection, source: str | None) -> int:
    return conn.execute(insert(deployments).values(created_at=utcnow(), source=source)).inserted_primary_key[0]  # type: ignore[index]


def insert_resource(conn: Connection, deployment_id: int, name: str, kind: str, checksum: str,
                    content: str) -> int:
    return conn.execute(insert(resources).values(
        deployment_id=deployment_id, name=name, kind=kind, checksum=checksum, content=content,
    )).inserted_primary_key[0]  # type: ignore[index]


def insert_definition(conn: Connection, **values: Any) -> int:
    return conn.execute(insert(definitions).values(created_at=utcnow(), **values)).inserted_primary_key[0]  # type: ignore[index]


def insert_decision(conn: Connection, **values: Any) -> int:
    return conn.execute(insert(decisions).values(created_at=utcnow(), **values)).inserted_primary_key[0]  # type: ignore[index]


# ---- instances -------------------------------------------------------------------------------------------

_GET_INSTANCE = select(instances).where(instances.c.id == bindparam("id"))
_UPDATE_INSTANCE = update(instances).where(instances.c.id == bindparam("b_id"),
                                          instances.c.lock_version == bindparam("b_lock"))
_INSERT_HISTORY = insert(history)


def get_instance(conn: Connection, instance_id: str) -> Any:
    return conn.execute(_GET_INSTANCE, {"id": instance_id}).first()


_SUMMARY_COLUMNS = [c for c in instances.c if c.name != "state"]


def list_instances(conn: Connection, status: str | None = None, key: str | None = None,
                   business_key: str | None = None, limit: int = 100, offset: int = 0) -> list[Any]:
    query = select(*_SUMMARY_COLUMNS)
    if status:
        query = query.where(instances.c.status == status)
    if key:
        query = query.where(instances.c.process_key == key)
    if business_key:
        query = query.where(instances.c.business_key == business_key)
    query = query.order_by(instances.c.created_at.desc(), instances.c.id).limit(limit).offset(offset)
    return list(conn.execute(query))


def count_instances_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(instances.c.status, func.count()).group_by(instances.c.status))
    return {status: count for status, count in rows}


_INSERT_INSTANCE = insert(instances)


def insert_instance(conn: Connection, **values: Any) -> None:
    conn.execute(_INSERT_INSTANCE, values)


def update_instance(conn: Connection, instance_id: str, lock_version: int, **values: Any) -> bool:
    """Write the new state only if nobody else did since ``lock_version`` was read."""
    params = {"b_id": instance_id, "b_lock": lock_version, "lock_version": lock_version + 1, **values}
    return conn.execute(_UPDATE_INSTANCE, params).rowcount == 1


def set_status(conn: Connection, instance_id: str, status: str) -> None:
    """Only inside the transaction that just wrote the instance (it holds the row)."""
    conn.execute(update(instances).where(instances.c.id == instance_id).values(status=status))


# ---- human tasks -----------------------------------------------------------------------------------------

def get_human_task(conn: Connection, task_id: str) -> Any:
    return conn.execute(select(human_tasks).where(human_tasks.c.id == task_id)).first()


def list_human_tasks(conn: Connection, instance_id: str | None = None, key: str | None = None,
                     limit: int = 200, offset: int = 0) -> list[Any]:
    query = select(human_tasks, instances.c.business_key, instances.c.process_version).join(
        instances, instances.c.id == human_tasks.c.instance_id)
    if instance_id:
        query = query.where(human_tasks.c.instance_id == instance_id)
    if key:
        query = query.where(human_tasks.c.process_key == key)
    return list(conn.execute(query.order_by(human_tasks.c.created_at, human_tasks.c.id).limit(limit).offset(offset)))


def sync_human_tasks(conn: Connection, instance_id: str, remove: list[str], add: list[dict[str, Any]]) -> None:
    if remove:
        conn.execute(delete(human_tasks).where(human_tasks.c.id.in_(remove)))
    if add:
        conn.execute(insert(human_tasks), add)


def delete_human_tasks(conn: Connection, instance_id: str) -> None:
    conn.execute(delete(human_tasks).where(human_tasks.c.instance_id == instance_id))


# ---- history ---------------------------------------------------------------------------------------------

def insert_history(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_INSERT_HISTORY, rows)


def list_history(conn: Connection, instance_id: str) -> list[Any]:
    return list(conn.execute(select(history).where(history.c.instance_id == instance_id).order_by(history.c.id)))


def task_completion(conn: Connection, task_id: str) -> Any:
    return conn.execute(
        select(history.c.instance_id, history.c.at)
        .where(history.c.task_id == task_id, history.c.event == "activity_completed").limit(1)
    ).first()
