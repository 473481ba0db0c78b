"""Who works on a user task: assignee, candidate users and groups, claim and unclaim.

When the diagram is parsed, :func:`read_assignment` keeps the user task's

- Camunda 7 attributes ``camunda:assignee``, ``camunda:candidateUsers``, ``camunda:candidateGroups``
  (comma lists; ``${expr}`` / ``#{expr}`` parts are JUEL expressions),
- Camunda 8 ``<zeebe:assignmentDefinition assignee=... candidateGroups=... candidateUsers=...>``
  (``=expr`` is a FEEL expression),

on the spec as ``assignment`` (a JSON-ready dict of the texts, whose JUEL / FEEL parts the deployment has
turned into ``${<python>}``, see ``engine/expressions.py``).  The due date, follow-up date and priority
(``camunda:dueDate`` / ``followUpDate`` / ``priority``, Zeebe ``taskSchedule`` / ``priorityDefinition``) are
kept the same way: a date is an ISO 8601 date-time, an ISO duration counted from the task's creation, or an
expression giving either.  The expressions are evaluated with the task's variables when the task becomes
ready (:func:`resolve`); the name of the task's lane is one more candidate group.  An expression that fails
gives the text itself as the name, which matches nobody: such a task is only visible to operators and admins
(never to everyone by mistake).

Who may work on a task (:func:`may_work_on`): an ``operator`` or ``admin`` always; a ``user`` when it is
assigned to them, or unassigned with them or one of their groups among the candidates, or unassigned with
no candidates at all.  Claiming makes a task assigned to the claimer; unclaiming gives it back.

:class:`AssignmentMixin` is mixed into :class:`engine.runtime.Engine`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, update

from .durations import parse_duration
from .errors import AccessDenied, TaskClaimed, TaskNotFound
from .expressions import split_names
from .extensions import BPMN as _BPMN
from .extensions import CAMUNDA, ZEEBE
from .records import Task
from .store import queries as q
from .store.tables import HumanTask

log = logging.getLogger("baton.engine")
human_tasks = cast(Table, HumanTask.__table__)
KEYS = ("assignee", "candidate_users", "candidate_groups")
_CAMUNDA_ATTRS = {"assignee": "assignee", "candidate_users": "candidateUsers",
                  "candidate_groups": "candidateGroups", "due_date": "dueDate", "follow_up_date": "followUpDate",
                  "priority": "priority"}
_ZEEBE_SCHEDULE = {"due_date": ("taskSchedule", "dueDate"), "follow_up_date": ("taskSchedule", "followUpDate"),
                   "priority": ("priorityDefinition", "priority")}


def read_assignment(node: Any) -> dict[str, str] | None:
    """The assignment texts of a ``bpmn:userTask`` element (None when it has none)."""
    found: dict[str, str] = {}
    for key, attr in _CAMUNDA_ATTRS.items():
        value = node.get(f"{{{CAMUNDA}}}{attr}")
        if value and value.strip():
            found[key] = value.strip()
    for definition in node.findall(f"{{{_BPMN}}}extensionElements/{{{ZEEBE}}}assignmentDefinition"):
        for key, attr in _CAMUNDA_ATTRS.items():
            value = definition.get(attr)
            if value and value.strip():
                found.setdefault(key, value.strip())
    for key, (tag, attr) in _ZEEBE_SCHEDULE.items():
        for el in node.findall(f"{{{_BPMN}}}extensionElements/{{{ZEEBE}}}{tag}"):
            value = el.get(attr)
            if value and value.strip():
                found.setdefault(key, value.strip())
    return found or None


def _expression(part: str) -> str | None:
    """The Python of a ``${python}`` part (deploy translated JUEL and FEEL to that form), else None."""
    if part.startswith("${") and part.endswith("}"):
        return part[2:-1].strip()
    return None


def names(text: str | None, evaluate: Callable[[str], Any]) -> list[str]:
    """The names a text stands for: literal parts as they are, expressions evaluated (a list or a comma list)."""
    out: list[str] = []
    text = (text or "").strip()
    for part in split_names(text):
        expr = _expression(part)
        if expr is None:
            values: Any = [part]
        else:
            try:
                values = evaluate(expr)
            except Exception as exc:  # noqa: BLE001 - a broken expression must not stop the instance
                log.warning("assignment expression %r failed: %s", part, exc)
                values = [part]
            if isinstance(values, str):
                values = split_names(values)
            elif values is None:
                values = []
            elif not isinstance(values, list | tuple | set):
                values = [values]
        out += [str(v).strip() for v in values if str(v).strip() and str(v).strip() not in out]
    return out


def resolve(task_spec: Any, data: dict[str, Any], evaluate: Callable[[str, dict[str, Any]], Any],
            now: dt.datetime | None = None) -> dict[str, Any]:
    """The ``human_tasks`` columns of a task that just became ready (assignee, candidates, due, follow-up,
    priority)."""
    texts = getattr(task_spec, "assignment", None) or {}
    snapshot = dict(data)

    def run(expr: str) -> Any:
        return evaluate(expr, dict(snapshot))

    assignee = names(texts.get("assignee"), run)
    groups = names(texts.get("candidate_groups"), run)
    lane = getattr(task_spec, "lane", None)
    if lane and lane not in groups:
        groups.append(lane)
    now = now or dt.datetime.now(dt.UTC)
    return {"assignee": assignee[0] if assignee else None,
            "candidate_users": names(texts.get("candidate_users"), run) or None,
            "candidate_groups": groups or None,
            "due_at": moment(texts.get("due_date"), run, now),
            "follow_up_at": moment(texts.get("follow_up_date"), run, now),
            "priority": _priority(texts.get("priority"), run)}


def moment(text: str | None, evaluate: Callable[[str], Any], now: dt.datetime) -> dt.datetime | None:
    """A due / follow-up date: an ISO date or date-time, an ISO duration from ``now``, or an expression giving
    one of those (or a datetime / date / timedelta).  Naive values are UTC; anything else gives None (logged)."""
    text = (text or "").strip()
    if not text:
        return None
    expr = _expression(text)
    try:
        value = evaluate(expr) if expr is not None else text
        return _as_moment(value, now)
    except Exception as exc:  # noqa: BLE001 - a bad date must not stop the instance
        log.warning("due/follow-up date %r cannot be read: %s", text, exc)
        return None


def literal_problem(assignment: dict[str, str] | None) -> str | None:
    """Deploy-time check of the due date, follow-up date and priority written as constants."""
    for key, what in (("due_date", "dueDate"), ("follow_up_date", "followUpDate")):
        text = (assignment or {}).get(key)
        if text and _expression(text) is None:
            try:
                _as_moment(text, dt.datetime.now(dt.UTC))
            except Exception:  # noqa: BLE001
                return (f"camunda:{what} {text!r} is neither an ISO 8601 date (2026-12-31T17:00:00Z) nor a "
                        "duration (P3D) nor an expression")
    priority = (assignment or {}).get("priority")
    if priority and _expression(priority) is None and not priority.lstrip("-").isdigit():
        return f"camunda:priority {priority!r} is not a whole number or an expression"
    return None


def _as_moment(value: Any, now: dt.datetime) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return now + value
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    text = str(value).strip()
    if text.upper().startswith("P"):
        return now + dt.timedelta(seconds=parse_duration(text))
    return _as_moment(dt.datetime.fromisoformat(text.replace("Z", "+00:00")), now)


def _priority(text: str | None, evaluate: Callable[[str], Any]) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    expr = _expression(text)
    try:
        return int(evaluate(expr) if expr is not None else text)
    except Exception as exc:  # noqa: BLE001 - a bad priority must not stop the instance
        log.warning("priority %r is not a whole number: %s", text, exc)
        return None


def may_work_on(user: Any, row: Any) -> bool:
    """Whether ``user`` (``.name``, ``.role``, ``.groups``) may complete or claim the task ``row``."""
    if user.role in ("operator", "admin"):
        return True
    if row.assignee:
        return bool(row.assignee == user.name)
    users, groups = row.candidate_users or [], row.candidate_groups or []
    if not users and not groups:
        return True
    return user.name in users or any(g in groups for g in user.groups)


def check_may_work_on(user: Any, row: Any) -> None:
    """Raise :class:`AccessDenied` (or :class:`TaskClaimed`) when ``user`` may not work on the task."""
    if may_work_on(user, row):
        return
    if row.assignee:
        raise TaskClaimed(f"task {row.id} is assigned to {row.assignee}", task_id=row.id, assignee=row.assignee)
    raise AccessDenied(f"task {row.id} is for {_who(row)}; {user.name} is not among them", task_id=row.id)


def _who(row: Any) -> str:
    parts = [f"user {u}" for u in row.candidate_users or []] + [f"group {g}" for g in row.candidate_groups or []]
    return ", ".join(parts)


class AssignmentMixin:
    """Claim, unclaim and the task list of one person (see the module docstring)."""

    _tx: Any
    now: Callable[[], dt.datetime]
    script_engine: Any

    def _assign(self, added: list[dict[str, Any]], ready: dict[str, Any]) -> None:
        """Fill in the assignment columns of new human-task rows (called where the rows are built)."""
        for row in added:
            task = ready[row["id"]]
            facts = self.script_engine.with_facts(task, None)  # JUEL's execution.getProcessBusinessKey()...

            def evaluate(expr: str, data: dict[str, Any], facts: dict[str, Any] = facts) -> Any:
                return self.script_engine.environment.evaluate(expr, data, facts)

            row.update(resolve(task.task_spec, task.data, evaluate, self.now()))

    def tasks_for(self, user: Any, instance_id: str | None = None, key: str | None = None, limit: int = 200,
                  offset: int = 0) -> list[Task]:
        """The ready tasks ``user`` may work on (every task for an operator or admin), oldest first."""
        return list(self.task_list(key=key, instance_id=instance_id, limit=limit, offset=offset,  # type: ignore[attr-defined]
                                   user=user).tasks)

    def get_task_for(self, task_id: str, user: Any) -> Task:
        """One ready task, if ``user`` may work on it (else :class:`AccessDenied` / :class:`TaskClaimed`)."""
        with self._tx() as conn:
            row = self._human_task(conn, task_id)
            check_may_work_on(user, row)
            return Task.from_row(row)

    def claim_task(self, task_id: str, user: Any) -> Task:
        """Assign the task to ``user``; refused when someone else has it or ``user`` is not a candidate."""
        with self._tx() as conn:
            row = self._human_task(conn, task_id)
            if row.assignee != user.name:
                if row.assignee and user.role not in ("operator", "admin"):
                    raise TaskClaimed(f"task {task_id} is already claimed by {row.assignee}", task_id=task_id,
                                      assignee=row.assignee)
                check_may_work_on(user, row)
                conn.execute(update(human_tasks).where(human_tasks.c.id == task_id)
                             .values(assignee=user.name, claimed_at=self.now()))
            return Task.from_row(self._human_task(conn, task_id))

    def unclaim_task(self, task_id: str, user: Any) -> Task:
        """Give the task back to its candidates; only its assignee (or an operator / admin) may."""
        with self._tx() as conn:
            row = self._human_task(conn, task_id)
            if row.assignee and row.assignee != user.name and user.role not in ("operator", "admin"):
                raise AccessDenied(f"task {task_id} is assigned to {row.assignee}; only they or an operator "
                                   "can unclaim it", task_id=task_id, assignee=row.assignee)
            conn.execute(update(human_tasks).where(human_tasks.c.id == task_id)
                         .values(assignee=None, claimed_at=None))
            return Task.from_row(self._human_task(conn, task_id))

    def _human_task(self, conn: Any, task_id: str) -> Any:
        """The ready task's row (with its business key); a clear error when it is gone or was completed."""
        row = q.get_human_task(conn, task_id)
        if row is None:
            self._missing_task(conn, task_id)  # type: ignore[attr-defined]  # raises
            raise TaskNotFound(f"no ready task has id {task_id!r}", task_id=task_id)
        return row
