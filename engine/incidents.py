"""Reading the job tables and the dead-letter queue: open jobs, incidents (and retrying them), circuits.

Mixed into :class:`engine.runtime.Engine` next to :class:`engine.jobs.JobsMixin`, whose transactions
create jobs and incidents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import execution
from .errors import BatonError, InvalidStateError, JobNotFound, NotFoundError
from .jobs import JobsMixin, retry_conflicts
from .records import CircuitState, Incident, Job
from .serialization import check_variables, to_jsonable
from .store import job_queries as jq


class IncidentsMixin(JobsMixin):
    """Open jobs, incidents and circuits (see the module docstring)."""

    def get_job(self, job_id: str) -> Job:
        with self._tx() as conn:
            row = jq.get_job(conn, job_id)
        if row is None:
            raise JobNotFound(f"no open job has id {job_id!r} (it may have been completed or cancelled)",
                              job_id=job_id)
        return Job.from_row(row)

    def jobs(self, status: str | None = None, topic: str | None = None, instance_id: str | None = None,
             limit: int = 200) -> list[Job]:
        with self._tx() as conn:
            return [Job.from_row(r) for r in jq.list_jobs(conn, status, topic, instance_id, limit)]

    def incidents(self, open_only: bool = True, topic: str | None = None, key: str | None = None,
                  instance_id: str | None = None, limit: int = 200) -> list[Incident]:
        with self._tx() as conn:
            rows = jq.list_incidents(conn, open_only, topic, key, instance_id, limit)
            return [Incident.from_row(r) for r in rows]

    def get_incident(self, incident_id: str) -> Incident:
        with self._tx() as conn:
            row = jq.get_incident(conn, incident_id)
        if row is None:
            raise NotFoundError(f"no incident has id {incident_id!r}", incident_id=incident_id)
        return Incident.from_row(row)

    def retry_incident(self, incident_id: str, variables: dict[str, Any] | None = None) -> Job:
        """Give an incident's job fresh attempts, optionally with changed variables."""
        variables = dict(variables or {})
        check_variables(variables)
        return retry_conflicts(lambda: self._retry_incident(incident_id, variables))

    def _retry_incident(self, incident_id: str, variables: dict[str, Any]) -> Job:
        now = self.now()
        with self._tx() as conn:
            incident = jq.get_incident(conn, incident_id)
            if incident is None:
                raise NotFoundError(f"no incident has id {incident_id!r}", incident_id=incident_id)
            if incident.resolved_at is not None:
                raise InvalidStateError(f"incident {incident_id} was already {incident.resolution}")
            job = jq.get_job(conn, incident.job_id)
            row = self._instance_row(conn, incident.instance_id)
            workflow = self._load(conn, row)
            task = self._job_task(workflow, job)
            before = execution.snapshot(workflow)
            task.data.update(variables)
            try:
                inputs = to_jsonable(self._job_inputs(task))
            except Exception as exc:  # noqa: BLE001
                raise InvalidStateError(f"the job's input mapping still fails: {exc}") from exc
            jq.update_job(conn, job.id, status=jq.READY, attempt=0, due_at=now, variables=inputs, lock_owner=None,
                          lock_expires_at=None, updated_at=now)
            jq.resolve_incidents(conn, now, "retried", job_id=job.id)
            out = execution.outcome(workflow, before, None)
            event = self._job_event(job, "incident_retried", None, {"incident_id": incident_id,
                                                                      "variables": variables})
            self._save(conn, row, workflow, out, before, [event])
            conn.info["baton_jobs_created"] = True
            return Job.from_row(jq.get_job(conn, job.id))

    def retry_incidents(self, topic: str | None = None, key: str | None = None, instance_id: str | None = None,
                        variables: dict[str, Any] | None = None,
                        progress: Callable[[Incident], None] | None = None) -> list[Job]:
        """Retry every open incident of a topic, a process or an instance."""
        if topic is None and key is None and instance_id is None:
            raise BatonError("say which incidents to retry: a topic, a process key or an instance")
        retried = []
        for incident in self.incidents(topic=topic, key=key, instance_id=instance_id, limit=100_000):
            retried.append(self.retry_incident(incident.id, variables))
            if progress is not None:
                progress(incident)
        return retried

    def circuits(self) -> list[CircuitState]:
        with self._tx() as conn:
            return [CircuitState.from_row(r) for r in jq.get_circuits(conn)]
