"""Finding ready human tasks for the tasklist and the REST API: filters, paging and a total.

``Engine.task_list`` is the one call the tasklist page and ``GET /api/v1/tasks`` both use.  Given a
``user``, the same query keeps only the tasks that person may work on (the rule of
``engine.assignment.may_work_on``, written in SQL so paging and the total stay right).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select

from .errors import ConfigurationError
from .records import Task
from .store import queries as q

SORTS = ("created", "due", "priority")


@dataclass(frozen=True)
class TaskPage:
    """One page of tasks and how many match in all."""

    tasks: list[Task]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"items": [t.to_dict() for t in self.tasks], "total": self.total}


def _like(text: str) -> str:
    """A LIKE pattern that matches ``text`` literally inside a value (``\\`` escapes)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _listed(column: Any, value: str) -> Any:
    """``value`` is one of the strings of the JSON list in ``column``."""
    return cast(column, String).like(_like('"' + value.replace('"', "") + '"'), escape="\\")


def _empty(column: Any) -> Any:
    return or_(column.is_(None), cast(column, String).in_(["[]", "null"]))


def _may_work_on(ht: Any, user: Any) -> Any:
    """SQL for ``engine.assignment.may_work_on``: assigned to them, or unassigned with them, one of their groups
    or nobody at all among the candidates."""
    candidates = [_listed(ht.c.candidate_users, user.name)]
    candidates += [_listed(ht.c.candidate_groups, group) for group in user.groups]
    return or_(ht.c.assignee == user.name,
               and_(ht.c.assignee.is_(None),
                    or_(and_(_empty(ht.c.candidate_users), _empty(ht.c.candidate_groups)), *candidates)))


class TasklistMixin:
    """Mixed into :class:`engine.runtime.Engine`."""

    def task_list(self, key: str | None = None, instance_id: str | None = None, name: str | None = None,
                  assignee: str | None = None, candidate_group: str | None = None, limit: int = 50,
                  offset: int = 0, user: Any = None, due_before: dt.datetime | None = None,
                  sort: str = "created") -> TaskPage:
        """Ready tasks, oldest first (``sort`` "due": soonest due first, "priority": highest first, tasks without
        one last); ``name`` matches part of the task's name (any case); ``due_before`` keeps tasks due before
        then; with ``user``, only those they may work on (an operator or admin may work on every task)."""
        ht, inst = q.human_tasks, q.instances
        conditions: list[Any] = []
        if user is not None and user.role not in ("operator", "admin"):
            conditions.append(_may_work_on(ht, user))
        if key:
            conditions.append(ht.c.process_key == key)
        if instance_id:
            conditions.append(ht.c.instance_id == instance_id)
        if name:
            conditions.append(or_(func.lower(ht.c.name).like(_like(name.lower()), escape="\\"),
                                  func.lower(ht.c.element_id).like(_like(name.lower()), escape="\\")))
        if assignee:
            conditions.append(ht.c.assignee == assignee)
        if candidate_group:
            conditions.append(_listed(ht.c.candidate_groups, candidate_group))
        if due_before is not None:
            conditions.append(ht.c.due_at < due_before)
        if sort not in SORTS:
            raise ConfigurationError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        orders: dict[str, list[Any]] = {
            "created": [ht.c.created_at, ht.c.id],
            "due": [ht.c.due_at.is_(None), ht.c.due_at, ht.c.created_at, ht.c.id],
            "priority": [ht.c.priority.is_(None), ht.c.priority.desc(), ht.c.created_at, ht.c.id],
        }
        order = orders[sort]
        rows = select(ht, inst.c.business_key).join(inst, inst.c.id == ht.c.instance_id).where(*conditions)
        counting = select(func.count()).select_from(ht).where(*conditions)
        with self._tx() as conn:  # type: ignore[attr-defined]
            total = conn.execute(counting).scalar_one()
            found = conn.execute(rows.order_by(*order).limit(limit).offset(offset))
            return TaskPage([Task.from_row(r) for r in found], int(total))
