"""Plain read-only records the Engine hands out (no database session attached)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from .serialization import to_jsonable
from .store.queries import as_utc


class Record:
    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Definition(Record):
    id: int
    key: str
    version: int
    name: str | None
    executable: bool
    deployment_id: int
    checksum: str
    created_at: dt.datetime | None
    resource_name: str | None = None
    new: bool = False

    @classmethod
    def from_row(cls, row: Any, new: bool = False, resource_name: str | None = None) -> Definition:
        return cls(id=row.id, key=row.key, version=row.version, name=row.name, executable=row.executable,
                   deployment_id=row.deployment_id, checksum=row.checksum, created_at=as_utc(row.created_at),
                   resource_name=resource_name, new=new)


@dataclass(frozen=True)
class DeployResult(Record):
    deployment_id: int | None
    definitions: list[Definition]
    decisions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what --stub-unsupported stubbed or dropped

    @property
    def changed(self) -> bool:
        return any(d.new for d in self.definitions) or any(d["new"] for d in self.decisions)


@dataclass(frozen=True)
class Task(Record):
    id: str
    instance_id: str
    process_key: str
    element_id: str
    name: str | None
    type: str
    form: dict[str, Any] | None
    created_at: dt.datetime | None
    business_key: str | None = None
    assignee: str | None = None  # who works on it (from the diagram, or whoever claimed it)
    candidate_users: list[str] | None = None
    candidate_groups: list[str] | None = None  # camunda:candidateGroups and the task's lane
    claimed_at: dt.datetime | None = None
    due: dt.datetime | None = None  # camunda:dueDate
    follow_up: dt.datetime | None = None  # camunda:followUpDate
    priority: int | None = None  # camunda:priority
    properties: dict[str, Any] | None = None  # the user task's camunda:properties

    @classmethod
    def from_row(cls, row: Any) -> Task:
        return cls(id=row.id, instance_id=row.instance_id, process_key=row.process_key, element_id=row.element_id,
                   name=row.name, type=row.element_type, form=row.form, created_at=as_utc(row.created_at),
                   business_key=getattr(row, "business_key", None), assignee=getattr(row, "assignee", None),
                   candidate_users=getattr(row, "candidate_users", None),
                   candidate_groups=getattr(row, "candidate_groups", None),
                   claimed_at=as_utc(getattr(row, "claimed_at", None)), due=as_utc(getattr(row, "due_at", None)),
                   follow_up=as_utc(getattr(row, "follow_up_at", None)), priority=getattr(row, "priority", None),
                   properties=getattr(row, "properties", None))


@dataclass(frozen=True)
class Instance(Record):
    id: str
    process_key: str
    process_version: int
    definition_id: int
    business_key: str | None
    status: str
    variables: dict[str, Any]
    active: list[dict[str, Any]]
    error: dict[str, Any] | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    ended_at: dt.datetime | None
    tasks: list[Task] = field(default_factory=list)
    suspended: bool = False

    @property
    def current_activity(self) -> str:
        names = dict.fromkeys(a.get("name") or a["element_id"] for a in self.active)
        return ", ".join(names) or "-"

    @classmethod
    def from_row(cls, row: Any, tasks: list[Task] | None = None) -> Instance:
        return cls(id=row.id, process_key=row.process_key, process_version=row.process_version,
                   definition_id=row.definition_id, business_key=row.business_key, status=row.status,
                   variables=row.variables or {}, active=row.active or [], error=row.error,
                   created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
                   ended_at=as_utc(row.ended_at), tasks=tasks or [], suspended=bool(getattr(row, "suspended", False)))


@dataclass(frozen=True)
class HistoryEntry(Record):
    id: int
    at: dt.datetime | None
    event: str
    element_id: str | None
    element_name: str | None
    element_type: str | None
    task_id: str | None
    details: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> HistoryEntry:
        return cls(id=row.id, at=as_utc(row.at), event=row.event, element_id=row.element_id,
                   element_name=row.element_name, element_type=row.element_type, task_id=row.task_id,
                   details=row.details)


def _from_row(cls: Any, row: Any) -> Any:
    """A record from a row with the same column names; datetimes made UTC-aware."""
    values = {}
    for name in cls.__dataclass_fields__:
        value = getattr(row, name, None)
        values[name] = as_utc(value) if isinstance(value, dt.datetime) else value
    return cls(**values)


@dataclass(frozen=True)
class Job(Record):
    """Work waiting for an agent or an external worker."""

    id: str
    instance_id: str
    task_id: str
    business_key: str | None
    process_key: str
    process_version: int
    element_id: str
    element_name: str | None
    topic: str
    variables: dict[str, Any]
    status: str
    attempt: int
    max_attempts: int | None
    timeout: float | None
    due_at: dt.datetime | None
    lock_owner: str | None
    lock_expires_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime | None
    properties: dict[str, Any] | None = None  # the task's camunda:properties / Zeebe task headers

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return _from_row(cls, row)


@dataclass(frozen=True)
class Incident(Record):
    """A job that ran out of attempts or failed for good: retry it once the cause is fixed."""

    id: str
    job_id: str
    instance_id: str
    process_key: str
    element_id: str
    element_name: str | None
    topic: str
    message: str
    details: dict[str, Any] | None
    attempts: int
    created_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolution: str | None

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        return _from_row(cls, row)


@dataclass(frozen=True)
class CircuitState(Record):
    topic: str
    state: str
    failures: int
    opened_until: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> CircuitState:
        return _from_row(cls, row)
