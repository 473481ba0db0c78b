"""The database tables (SQLAlchemy 2.0 declarative models).

The schema is only ever created or changed by the Alembic migrations in
``migrations/``; these models describe it for queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")
Stamp = DateTime(timezone=True)
# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    source: Mapped[str | None] = mapped_column(String(200))


class Resource(Base):
    """A deployed file, kept byte for byte."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(10))
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[str] = mapped_column(Text)


class _Versioned:
    """Columns shared by every versioned definition (key + version, the file it came from)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(500))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class ProcessDefinition(_Versioned, Base):
    """One version of a process; its spec is stored here once, never per instance."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definitions_key_version"),)

    executable: Mapped[bool] = mapped_column(Boolean)
    spec: Mapped[str | None] = mapped_column(Text)
    spec_format: Mapped[str | None] = mapped_column(String(40))
    calls: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class DecisionDefinition(_Versioned, Base):
    """One version of a DMN decision, pointing at the file that holds it."""

    __tablename__ = "decision_definitions"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_decision_definitions_key_version"),)


class Instance(Base):
    """A running or finished process instance with its serialized state (no spec inside)."""

    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_status_created", "status", "created_at"),
        Index("ix_instances_key_status", "process_key", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    process_version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(20))
    variables: Mapped[dict[str, Any]] = mapped_column(JsonType)
    active: Mapped[list[Any]] = mapped_column(JsonType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    state: Mapped[str] = mapped_column(Text)
    state_format: Mapped[str] = mapped_column(String(40))
    lock_version: Mapped[int] = mapped_column(Integer)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)
    ended_at: Mapped[dt.datetime | None] = mapped_column(Stamp)


class HumanTask(Base):
    """A user or manual task that is ready for a person (kept in step with the instance state)."""

    __tablename__ = "human_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(500))
    element_type: Mapped[str] = mapped_column(String(40))
    process_key: Mapped[str] = mapped_column(String(255), index=True)
    form: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    #: who works on it: ``camunda:assignee`` from the diagram, or whoever claimed it
    assignee: Mapped[str | None] = mapped_column(String(255), index=True)
    #: who may claim it: ``camunda:candidateUsers`` / ``camunda:candidateGroups`` and the lane's name
    candidate_users: Mapped[list[str] | None] = mapped_column(JsonType)
    candidate_groups: Mapped[list[str] | None] = mapped_column(JsonType)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    #: ``camunda:dueDate`` / ``followUpDate`` / ``priority`` (or Zeebe's taskSchedule / priorityDefinition)
    due_at: Mapped[dt.datetime | None] = mapped_column(Stamp, index=True)
    follow_up_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    priority: Mapped[int | None] = mapped_column(Integer)
    #: the element's ``camunda:properties`` (name -> value)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class HistoryEvent(Base):
    """What happened to an instance and its tasks, in order."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_instance", "instance_id", "id"), Index("ix_history_task", "task_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[dt.datetime] = mapped_column(Stamp)
    event: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(500))
    element_type: Mapped[str | None] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class Job(Base):
    """Work for an agent or an external worker: one per waiting job task (service task and the like).

    ``status`` is ``ready`` (due at ``due_at``), ``locked`` (a worker holds it until ``lock_expires_at``) or
    ``incident`` (out of attempts: the dead-letter queue).  A finished job is deleted; the history keeps it.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "status", "topic", "due_at"),
        Index("ix_jobs_lock", "status", "lock_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    business_key: Mapped[str | None] = mapped_column(String(255))
    process_key: Mapped[str] = mapped_column(String(255))
    process_version: Mapped[int] = mapped_column(Integer)
    element_id: Mapped[str] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(500))
    topic: Mapped[str] = mapped_column(String(255))
    variables: Mapped[dict[str, Any]] = mapped_column(JsonType)
    #: the task's ``camunda:properties`` / Zeebe task headers (name -> value), for the agent
    properties: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    retry_cycle: Mapped[list[Any] | None] = mapped_column(JsonType)
    timeout: Mapped[float | None] = mapped_column(Float)
    due_at: Mapped[dt.datetime] = mapped_column(Stamp)
    lock_owner: Mapped[str | None] = mapped_column(String(255))
    lock_expires_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)


class AgentCall(Base):
    """One call of an agent (an adapter run by a Baton worker, or an external worker's locked attempt).

    Written in the transaction that records the job's result; kept after the job row is gone.  ``outcome`` is
    ``completed``, ``failed``, ``bpmn_error`` or ``timed_out``; ``cost`` is what the agent reported under
    ``_cost`` (unit -> number).
    """

    __tablename__ = "agent_calls"
    __table_args__ = (
        Index("ix_agent_calls_instance", "instance_id", "started_at"),
        Index("ix_agent_calls_topic_finished", "topic", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(255))
    adapter: Mapped[str] = mapped_column(String(40))
    instance_id: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(500))
    worker_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(Stamp)
    finished_at: Mapped[dt.datetime] = mapped_column(Stamp)
    duration: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class Incident(Base):
    """A job that ran out of attempts (or failed for good), waiting for a person to retry it."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_open", "resolved_at", "topic"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(500))
    topic: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    resolution: Mapped[str | None] = mapped_column(String(40))


class Circuit(Base):
    """The circuit breaker of one topic, shared by every worker node."""

    __tablename__ = "circuits"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))  # closed, open, half_open
    failures: Mapped[int] = mapped_column(Integer)
    opened_until: Mapped[dt.datetime | None] = mapped_column(Stamp)
    probe_job_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)


class Timer(Base):
    """An armed timer: a waiting timer event of an instance, or a timer start event of a process.

    The engine fires what is due by querying ``due_at``; APScheduler only wakes it at the next due time.
    Start timers (``instance_id`` empty) keep their repeating schedule in ``cycle``.
    """

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[dt.datetime] = mapped_column(Stamp)
    cycle: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class Subscription(Base):
    """Something waits for a message or a signal: a waiting event of an instance, or a process's start event.

    Correlating a message is an indexed lookup by (kind, name, correlation key) or (kind, name, business key).
    A task waiting for several events (an event-based gateway) has one row for each.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_key", "kind", "name", "correlation_key"),
        Index("ix_subscriptions_business_key", "kind", "name", "business_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # message, signal, message_start, signal_start
    name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str | None] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    instance_id: Mapped[str | None] = mapped_column(ForeignKey("instances.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class BufferedMessage(Base):
    """A message sent with a time to live that nothing waited for yet: delivered when a subscription appears."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_key", "name", "correlation_key"), Index("ix_messages_expiry", "expires_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str | None] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    variables: Mapped[dict[str, Any]] = mapped_column(JsonType)
    expires_at: Mapped[dt.datetime] = mapped_column(Stamp)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class User(Base):
    """A person who logs in: role ``admin``, ``operator`` or ``user``, and the groups whose tasks they work on."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    groups: Mapped[list[str]] = mapped_column(JsonType)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(Stamp)


class ApiToken(Base):
    """A bearer token of a user for the REST API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Stamp)


class ArtifactBlob(Base):
    """The bytes of an artifact, stored once per distinct content (the key is their SHA-256).

    ``content`` is NULL when Baton keeps the bytes in a file store (``BATON_ARTIFACT_STORE`` = a folder).
    """

    __tablename__ = "artifact_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class Artifact(Base):
    """One version of a named file attached to an instance, and who produced it (a job's step or a person)."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("instance_id", "name", "version", name="uq_artifacts_instance_name_version"),
        Index("ix_artifacts_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(ForeignKey("artifact_blobs.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    #: who produced it: the step (element id and name, job id and attempt) of an agent, or a person's name
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[str | None] = mapped_column(String(36))
    attempt: Mapped[int | None] = mapped_column(Integer)
    user_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
