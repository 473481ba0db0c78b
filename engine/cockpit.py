"""What the cockpit pages read beyond the core facade: instance search, per-element figures, paths.

* :meth:`CockpitMixin.search_instances`: the instance list with every filter of the cockpit and a total.
* :meth:`CockpitMixin.element_stats`: per element of a process version, how many instances wait there, how
  many open incidents it has and the average time spent in it (from the history table): the overlays and
  heatmap of the process page.
* :meth:`CockpitMixin.instance_path`: which elements of one instance completed, were reached, are open or
  failed: the markers of the instance page's diagram.
* :meth:`CockpitMixin.send_message_to`: deliver a message to one instance (the instance page's form), whatever
  its business key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from . import execution
from .errors import NoSubscription
from .records import Instance
from .serialization import check_variables
from .store import event_queries as eq
from .store import queries as q
from .store.job_queries import incidents
from .store.queries import history, instances

START_EVENTS = ("activity_started", "activity_waiting", "task_created")
STATS_HISTORY_LIMIT = 50_000  # the most recent history rows the heatmap reads (keeps the page fast)


@dataclass
class ElementStats:
    element_id: str
    name: str | None = None
    waiting: int = 0
    incidents: int = 0
    completed: int = 0
    total_seconds: float = 0.0

    @property
    def avg_seconds(self) -> float | None:
        return self.total_seconds / self.completed if self.completed else None


@dataclass
class InstancePath:
    completed: list[str] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"completed": self.completed, "reached": self.reached, "active": self.active, "failed": self.failed}


class CockpitMixin:
    """Read models for the cockpit pages, mixed into :class:`engine.Engine`."""

    def process_counts(self) -> dict[str, dict[str, int]]:
        """Instances per process key and status, plus ``incidents``: the open incidents of each key."""
        counts: dict[str, dict[str, int]] = {}
        with self._tx() as conn:  # type: ignore[attr-defined]
            for key, status, n in conn.execute(select(instances.c.process_key, instances.c.status, func.count())
                                               .group_by(instances.c.process_key, instances.c.status)):
                counts.setdefault(key, {})[status] = n
            for key, n in conn.execute(select(incidents.c.process_key, func.count())
                                       .where(incidents.c.resolved_at.is_(None)).group_by(incidents.c.process_key)):
                counts.setdefault(key, {})["incidents"] = n
        return counts

    def element_stats(self, definition_id: int) -> dict[str, ElementStats]:
        """Per element of one process version: instances waiting there, open incidents, average time spent."""
        stats: dict[str, ElementStats] = {}

        def of(element_id: str, name: str | None) -> ElementStats:
            entry = stats.setdefault(element_id, ElementStats(element_id))
            entry.name = entry.name or name
            return entry

        with self._tx() as conn:  # type: ignore[attr-defined]
            live = conn.execute(select(instances.c.active).where(
                instances.c.definition_id == definition_id,
                instances.c.status.not_in(execution.FINAL_STATUSES))).scalars()
            for active in live:
                for element_id in dict.fromkeys(a["element_id"] for a in active or [] if a.get("type") != "loop"):
                    of(element_id, None).waiting += 1
            open_incidents = conn.execute(
                select(incidents.c.element_id, incidents.c.element_name, func.count())
                .join(instances, instances.c.id == incidents.c.instance_id)
                .where(instances.c.definition_id == definition_id, incidents.c.resolved_at.is_(None))
                .group_by(incidents.c.element_id, incidents.c.element_name))
            for element_id, name, count in open_incidents:
                of(element_id, name).incidents += count
            rows = conn.execute(
                select(history.c.task_id, history.c.element_id, history.c.element_name, history.c.event,
                       history.c.at)
                .join(instances, instances.c.id == history.c.instance_id)
                .where(instances.c.definition_id == definition_id, history.c.task_id.is_not(None),
                       history.c.event.in_((*START_EVENTS, "activity_completed")))
                .order_by(history.c.id.desc()).limit(STATS_HISTORY_LIMIT)).all()
        started: dict[str, dt.datetime] = {}
        ended: dict[str, tuple[str, str | None, dt.datetime]] = {}
        for task_id, element_id, name, event, stamp in rows:
            at = q.as_utc(stamp)
            if at is None:
                continue
            if event == "activity_completed":
                ended[task_id] = (element_id, name, at)
            elif task_id not in started or at < started[task_id]:
                started[task_id] = at
        for task_id, (element_id, name, end) in ended.items():
            entry = of(element_id, name)
            entry.completed += 1
            if task_id in started:
                entry.total_seconds += max((end - started[task_id]).total_seconds(), 0.0)
        return stats

    def instance_path(self, instance_id: str) -> InstancePath:
        """The elements one instance completed, reached, has open (waiting or ready) and failed at."""
        with self._tx() as conn:  # type: ignore[attr-defined]
            row = self._instance_row(conn, instance_id)  # type: ignore[attr-defined]
            events = conn.execute(select(history.c.element_id, history.c.event).where(
                history.c.instance_id == instance_id, history.c.element_id.is_not(None))
                .order_by(history.c.id)).all()
        path = InstancePath()
        completed: dict[str, None] = {}
        reached: dict[str, None] = {}
        for element_id, event in events:
            reached[element_id] = None
            if event == "activity_completed":
                completed[element_id] = None
        path.completed, path.reached = list(completed), list(reached)
        for item in row.active or []:
            if item.get("state") == "ERROR":
                path.failed.append(item["element_id"])
            elif item.get("type") != "loop":
                path.active.append(item["element_id"])
        if row.error and row.error.get("element_id") and row.error["element_id"] not in path.failed:
            path.failed.append(row.error["element_id"])
        path.active = [e for e in dict.fromkeys(path.active) if e not in path.failed]
        return path

    def send_message_to(self, instance_id: str, name: str, variables: dict[str, Any] | None = None) -> Instance:
        """Deliver message ``name`` to this instance (to the first of its tasks waiting for it)."""
        variables = dict(variables or {})
        check_variables(variables)
        with self._tx() as conn:  # type: ignore[attr-defined]
            self._instance_row(conn, instance_id)  # type: ignore[attr-defined]
            for sub in eq.find_waiting(conn, "message", name, instance_id=instance_id):
                if self._deliver(conn, instance_id, sub.task_id, "message", name,  # type: ignore[attr-defined]
                                 variables, {"sent_from": "cockpit"}):
                    break
            else:
                raise NoSubscription(f"instance {instance_id} is not waiting for message '{name}'",
                                     message_name=name, instance_id=instance_id)
        return self.get_instance(instance_id)  # type: ignore[attr-defined, no-any-return]
