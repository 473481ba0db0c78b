"""Finding ready human tasks for the tasklist and the REST API: filters, paging and a total.

``Engine.task_list`` is the one call the tasklist page and ``GET /api/v1/tasks`` both use.  Once
assignment exists (``engine/assignment.py``), listing the tasks a person may work on narrows this same
query by assignee and candidate group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, or_, select

from .records import Task
from .store import queries as q


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


class TasklistMixin:
    """Mixed into :class:`engine.runtime.Engine`."""

    def task_list(self, key: str | None = None, instance_id: str | None = None, name: str | None = None,
                  assignee: str | None = None, candidate_group: str | None = None, limit: int = 50,
                  offset: int = 0) -> TaskPage:
        """Ready tasks, oldest first; ``name`` matches part of the task's name (any case)."""
        ht, inst = q.human_tasks, q.instances
        conditions: list[Any] = []
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
            pattern = _like('"' + candidate_group.replace('"', "") + '"')
            conditions.append(cast(ht.c.candidate_groups, String).like(pattern, escape="\\"))
        rows = select(ht, inst.c.business_key).join(inst, inst.c.id == ht.c.instance_id).where(*conditions)
        counting = select(func.count()).select_from(ht).where(*conditions)
        with self._tx() as conn:  # type: ignore[attr-defined]
            total = conn.execute(counting).scalar_one()
            found = conn.execute(rows.order_by(ht.c.created_at, ht.c.id).limit(limit).offset(offset))
            return TaskPage([Task.from_row(r) for r in found], int(total))
