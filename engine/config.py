"""One typed Settings object; every field can be set from the environment as BATON_<NAME>."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    """Baton's settings.

    ``Settings.from_env()`` reads ``BATON_DATABASE_URL``, ``BATON_SCRIPT_TIMEOUT`` and so on; keyword
    arguments given to it win over the environment.
    """

    #: SQLAlchemy URL: ``sqlite:///baton.db`` (a file in the working folder) or
    #: ``postgresql+psycopg://user@host:5432/db``.
    database_url: str = "sqlite:///baton.db"
    #: Seconds a single script or expression may run before it is stopped (0 = no limit).
    script_timeout: float = 5.0
    #: Largest .bpmn / .dmn file accepted, in bytes.
    max_xml_bytes: int = 10 * 1024 * 1024
    #: Bring the database schema up to date when the engine starts (``baton db upgrade`` does it explicitly).
    auto_migrate: bool = True
    #: Address and port of ``baton serve``.
    host: str = "127.0.0.1"
    port: int = 8080
    #: Log level and format (``text`` or ``json``).
    log_level: str = "INFO"
    log_format: str = "text"
    #: Modules scripts may import (comma-separated in the environment); empty = the built-in allowlist.
    script_modules: tuple[str, ...] = field(default_factory=tuple)
    #: The agents file (``baton.toml`` in the working folder when unset).
    config: str | None = None
    #: Attempts a job gets when neither the diagram nor its agent says (the first one included).
    job_attempts: int = 3
    #: Full-jitter exponential backoff between attempts: base and cap, in seconds.
    job_backoff_base: float = 1.0
    job_backoff_cap: float = 300.0
    #: Seconds a worker's lease lasts beyond the job's timeout (to report the result).
    job_lease_grace: float = 10.0
    #: Seconds within which the jobs of a worker that died run again elsewhere (0 = no renewal: a lease
    #: covers the job's whole timeout plus ``job_lease_grace``).  When set, a worker holds each running job
    #: for half of it and renews that every sixth of it, so a live worker keeps its jobs however long they run.
    job_lease: float = 0.0
    #: Worker threads `baton serve` runs next to the web app (0 = none); `baton worker --threads` for nodes.
    workers: int = 4
    #: Time zone of timer dates written without one (``2026-12-01T09:00:00``) and of cron schedules.
    timezone: str = "UTC"
    #: Seconds between the scheduler's safety-net looks for due timers (it also wakes at each due time).
    timer_poll: float = 5.0
    #: Waiting for a database that went away (workers, the timer scheduler): full-jitter exponential backoff
    #: between attempts, starting at ``db_retry_base`` seconds and growing to at most ``db_retry_cap``.
    db_retry_base: float = 0.5
    db_retry_cap: float = 10.0
    #: Due timers fired at once on PostgreSQL (each in its own transaction; SQLite fires one at a time).
    timer_threads: int = 4
    #: Where artifact contents are kept: ``database`` (in the ``artifact_blobs`` table), or a folder path
    #: (files named by their SHA-256 beside the database; the table then holds only their size).
    artifact_store: str = "database"
    #: Largest artifact accepted, in bytes (an upload, or a file an agent leaves in ``BATON_ARTIFACTS_OUT``).
    artifact_max_bytes: int = 50 * 1024 * 1024
    #: Remove finished tasks that nothing open needs from an instance's live state after each step, so long
    #: instances (loops) cost the same per step; the history table keeps the full record (docs/concepts.md).
    prune_completed_tasks: bool = True

    def __post_init__(self) -> None:
        if self.job_lease < 0 or 0 < self.job_lease < 1:
            raise ConfigurationError(f"job lease of {self.job_lease:g} s (BATON_JOB_LEASE, baton worker --lease): "
                                     "use 0 (a lease lasts the job's timeout) or 1 s or more")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"BATON_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigurationError(f"BATON_{f.name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
