"""SQL for finding instances (filters, variable equality, paging) and for suspending them.

Variable equality is the one place where the two databases differ: PostgreSQL asks for JSONB containment
(``variables @> '{"name": value}'``), SQLite compares ``json_extract`` / ``json_type`` of the variable.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from .queries import human_tasks, instances

_SUMMARY_COLUMNS = [c for c in instances.c if c.name != "state"]


@dataclass
class InstanceFilter:
    """What ``GET /api/v1/instances`` and the instances page filter on (all optional, combined with AND)."""

    status: str | None = None
    key: str | None = None
    version: int | None = None
    business_key: str | None = None
    started_after: dt.datetime | None = None
    started_before: dt.datetime | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    suspended: bool | None = None
    unfinished: bool = False  # only instances not completed or cancelled (Camunda's runtime instances)
    ids: list[str] | None = None  # only these instances


def not_suspended(instance_id: Any) -> ColumnElement[bool]:
    """True for rows (jobs, timers, subscriptions) whose instance is not suspended (or that have none)."""
    return ~exists().where(instances.c.id == instance_id, instances.c.suspended.is_(True))


def set_suspended(conn: Connection, instance_id: str, lock_version: int, suspended: bool,
                  now: dt.datetime) -> bool:
    """Flip the flag if nobody changed the instance since ``lock_version`` was read (it bumps the version)."""
    stmt = (update(instances).where(instances.c.id == instance_id, instances.c.lock_version == lock_version)
            .values(suspended=suspended, lock_version=lock_version + 1, updated_at=now))
    return conn.execute(stmt).rowcount == 1


def end_suspension(conn: Connection, instance_id: str) -> None:
    """Only inside the transaction that just ended the instance (it holds the row)."""
    conn.execute(update(instances).where(instances.c.id == instance_id).values(suspended=False))


def _variable_equals(conn: Connection, name: str, value: Any) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        doc = type_coerce(instances.c.variables, JSONB)
        contained = doc.contains({name: value})
        if isinstance(value, dict | list):  # containment alone would match {"a": [1, 2]} for [1]: ask equality too
            return and_(contained, doc[name] == cast(literal(json.dumps(value)), JSONB))
        return contained  # type: ignore[no-any-return]
    path = f"$.{name}"  # names are identifiers (checked by the caller): safe inside the path
    kind = func.json_type(instances.c.variables, path)
    extracted = func.json_extract(instances.c.variables, path)
    if value is None:
        return kind == "null"
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > 2**63 - 1:
            if abs(value) > 1e308:
                return false()  # no stored number is that large
            value = float(value)  # SQLite holds larger numbers as reals only
        return and_(kind.in_(["integer", "real"]), extracted == value)
    if isinstance(value, str):
        return and_(kind == "text", extracted == value)
    text = json.dumps(value, separators=(",", ":"))
    return and_(kind.in_(["object", "array"]), extracted == func.json(literal(text)))


def _conditions(conn: Connection, f: InstanceFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [true()]
    if f.status:
        where.append(instances.c.status == f.status)
    if f.key:
        where.append(instances.c.process_key == f.key)
    if f.version is not None:
        where.append(instances.c.process_version == f.version)
    if f.business_key:
        where.append(instances.c.business_key == f.business_key)
    if f.started_after is not None:
        where.append(instances.c.created_at >= f.started_after)
    if f.started_before is not None:
        where.append(instances.c.created_at <= f.started_before)
    if f.suspended is not None:
        where.append(instances.c.suspended.is_(f.suspended))
    if f.unfinished:
        where.append(instances.c.status.not_in(["completed", "cancelled"]))
    if f.ids is not None:
        where.append(instances.c.id.in_(f.ids))
    where += [_variable_equals(conn, name, value) for name, value in f.variables.items()]
    return where


def search_instances(conn: Connection, f: InstanceFilter, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of matching instances, newest first, and how many match in all."""
    where = _conditions(conn, f)
    total = conn.execute(select(func.count()).select_from(instances).where(*where)).scalar() or 0
    query = (select(*_SUMMARY_COLUMNS).where(*where).order_by(instances.c.created_at.desc(), instances.c.id)
             .limit(limit).offset(offset))
    return list(conn.execute(query)), int(total)


def tasks_of(conn: Connection, instance_ids: list[str]) -> list[Any]:
    """The open human tasks of these instances (one query for a page of them), oldest first."""
    if not instance_ids:
        return []
    query = (select(human_tasks, instances.c.business_key).join(instances, instances.c.id == human_tasks.c.instance_id)
             .where(human_tasks.c.instance_id.in_(instance_ids))
             .order_by(human_tasks.c.created_at, human_tasks.c.id))
    return list(conn.execute(query))
