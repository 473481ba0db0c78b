"""Finding instances: filters, variable equality and paging with a total (mixed into the Engine).

Used by ``GET /api/v1/instances`` and the instances page.  See :mod:`engine.store.instance_queries` for
how variable equality is asked of each database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import VariableError
from .records import Instance, Record, Task
from .store import instance_queries as iq
from .store.instance_queries import InstanceFilter

MAX_PAGE = 1000

__all__ = ["InstanceFilter", "InstancePage", "SearchMixin"]


@dataclass(frozen=True)
class InstancePage(Record):
    """One page of instances (each with its open tasks) and how many match the filter in all."""

    total: int
    limit: int
    offset: int
    items: list[Instance]


class SearchMixin:
    _tx: Any

    def search_instances(self, where: InstanceFilter | None = None, limit: int = 50,
                         offset: int = 0) -> InstancePage:
        """Instances matching ``where`` (newest first), ``limit`` of them from ``offset``, with the total."""
        where = where or InstanceFilter()
        for name in where.variables:
            if not name.isidentifier():
                raise VariableError(f"variable name {name!r} is not a valid identifier", variable=name)
        limit = max(0, min(limit, MAX_PAGE))
        with self._tx() as conn:
            rows, total = iq.search_instances(conn, where, limit, max(0, offset))
            tasks: dict[str, list[Task]] = {}
            for t in iq.tasks_of(conn, [r.id for r in rows]):
                tasks.setdefault(t.instance_id, []).append(Task.from_row(t))
        return InstancePage(total=total, limit=limit, offset=offset,
                            items=[Instance.from_row(r, tasks.get(r.id)) for r in rows])
