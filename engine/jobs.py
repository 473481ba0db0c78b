"""Jobs: the durable path from a service task to an agent and back.

When an instance reaches a job task (``bpmn_parser.JobTask``: a service task, or a send / business rule
task marked external), the engine writes a **job** row in the same transaction that stored the instance.
A worker claims due jobs with a lease (``claim_jobs``), runs the agent with no instance lock held, then
reports back in one transaction: ``complete_job`` (outputs mapped into the instance, which runs on),
``fail_job`` (a retry later, with backoff, or an **incident** when attempts are spent or the failure is
final) or ``job_bpmn_error`` (caught as any BPMN error is, see ``engine.bpmn_events``, else an incident).

Only the worker holding the current, unexpired lease may report; anything else is :class:`LockLost` and
changes nothing.  A worker that dies loses its lease; ``expire_locks`` gives the job back (or makes it an
incident when that was its last attempt).  A circuit breaker per topic (for the engine's own agents)
stops claiming jobs of a failing topic for a cool-off, then lets one probe through.

These methods are mixed into :class:`engine.runtime.Engine` (reading jobs and incidents: ``engine.incidents``).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from . import agent_calls, continuations, execution
from .activity_io import mapping_value
from .agent_calls import CallInfo, record_call
from .artifact_records import Producer
from .bpmn_events import BatonErrorEventDefinition, route
from .durations import backoff, parse_duration, parse_retry_cycle
from .errors import (
    ConcurrentModification,
    ConfigurationError,
    InvalidStateError,
    JobNotFound,
    LockLost,
)
from .records import Incident, Job
from .serialization import check_variables, to_jsonable
from .store import job_queries as jq
from .store import queries as q

if TYPE_CHECKING:
    from sqlalchemy import Connection

DEFAULT_TIMEOUT = 300.0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_RNG = random.Random()


def job_of(task: SpiffTask) -> dict[str, Any]:
    """The job settings of a waiting task: its job task's, or a continuation's when it is held at a boundary."""
    if continuations.HOLD in task.internal_data:
        return {"topic": continuations.TOPIC, "retry_cycle": continuations.retry_cycle(task)}
    return dict(task.task_spec.job)


def retry_conflicts(call: Callable[[], Any], attempts: int = 8) -> Any:
    """Run an engine call again when a concurrent writer got there first (a worker's result is never lost)."""
    for n in range(attempts):
        try:
            return call()
        except ConcurrentModification:
            if n == attempts - 1:
                raise
    raise AssertionError("unreachable")


class JobsMixin:
    """Job, incident and circuit-breaker operations of the Engine (see the module docstring)."""

    # provided by Engine
    settings: Any
    script_engine: Any
    _tx: Any
    _load: Any
    _save: Any
    _instance_row: Any
    _refuse_if_suspended: Any
    _store_artifacts: Any
    check_artifact: Any
    agents: dict[str, Any]
    now: Callable[[], dt.datetime]
    notify_jobs: Callable[[], None]

    # ---- creating and removing jobs (called inside Engine transactions) ----------------------------------

    def _job_policy(self, task: SpiffTask) -> tuple[int | None, list[float] | None, float | None]:
        """(max attempts, retry delays, timeout) as the diagram gives them; None = the worker's agent decides.

        The agent's settings (baton.toml) are applied by the worker that runs the job, so a job created by
        any process (the CLI, the web app, a worker) follows the configuration of the node that runs it.
        """
        job = job_of(task)
        try:
            cycle = parse_retry_cycle(job["retry_cycle"]) if job.get("retry_cycle") else None
            if job.get("retries") is not None:
                attempts: int | None = max(1, int(job["retries"]))
            else:
                attempts = len(cycle) + 1 if cycle is not None else None
            timeout = parse_duration(job["timeout"]) if job.get("timeout") else None
        except ConfigurationError as exc:
            raise ConfigurationError(f"job settings of '{task.task_spec.bpmn_id}': {exc}") from exc
        return attempts, cycle, timeout

    def _job_inputs(self, task: SpiffTask) -> dict[str, Any]:
        if continuations.HOLD in task.internal_data:
            return {}  # a continuation job carries no variables: it runs the instance itself
        job = task.task_spec.job
        if not job.get("inputs"):
            return dict(task.data)
        return {m["name"]: mapping_value(self.script_engine, task, m, task.data) for m in job["inputs"]}

    def _create_jobs(self, conn: Connection, row: Any, tasks: list[SpiffTask]) -> bool:
        """Insert the jobs of newly waiting job tasks; True if one became an incident straight away."""
        now = self.now()
        rows = []
        for task in tasks:
            spec = task.task_spec
            attempts, cycle, timeout = self._job_policy(task)
            topic = job_of(task)["topic"]
            job_id = str(uuid.uuid4())
            values = dict(
                id=job_id, instance_id=row.id, task_id=str(task.id), business_key=row.business_key,
                process_key=row.process_key, process_version=row.process_version, element_id=spec.bpmn_id,
                element_name=spec.bpmn_name, topic=topic, status=jq.READY, attempt=0,
                max_attempts=attempts, retry_cycle=cycle, timeout=timeout, due_at=now, lock_owner=None,
                lock_expires_at=None, last_error=None, error_details=None, created_at=now, updated_at=now,
                properties=job_of(task).get("properties"),
            )
            try:
                inputs = self._job_inputs(task)
                check_variables(inputs)
                values["variables"] = to_jsonable(inputs)
            except Exception as exc:  # noqa: BLE001 - a bad input mapping is the job's problem, shown as incident
                values.update(variables={}, status=jq.INCIDENT, last_error=f"input mapping failed: {exc}")
                jq.insert_incident(conn, id=str(uuid.uuid4()), job_id=job_id, instance_id=row.id,
                                   process_key=row.process_key, element_id=spec.bpmn_id,
                                   element_name=spec.bpmn_name, topic=topic,
                                   message=values["last_error"], details=None, attempts=0, created_at=now)
            rows.append(values)
        jq.insert_jobs(conn, rows)
        if any(r["status"] == jq.READY for r in rows):
            conn.info["baton_jobs_created"] = True
        return any(r["status"] == jq.INCIDENT for r in rows)

    def _remove_jobs(self, conn: Connection, task_ids: list[str]) -> None:
        """Jobs whose task ended another way (instance cancelled, boundary event, terminate end)."""
        if task_ids:
            jq.resolve_incidents_of_tasks(conn, task_ids, self.now(), "cancelled")
            jq.delete_jobs_for_tasks(conn, task_ids)

    # ---- claiming --------------------------------------------------------------------------------------------

    def claim_jobs(self, worker_id: str, topics: list[str] | None = None, limit: int = 1,
                   lock_seconds: float | None = None, circuits: dict[str, tuple[int, float]] | None = None,
                   timeouts: dict[str, float] | None = None, match: dict[str, Any] | None = None,
                   attempts: dict[str, int] | None = None) -> list[Job]:
        """Lock up to ``limit`` due jobs of ``topics`` for ``worker_id``.

        ``match`` keeps only jobs whose columns have these values (``{"business_key": "A-1"}``, ``process_key``:
        the topic filters of Camunda's fetchAndLock).

        ``lock_seconds`` None locks each job for its timeout (the diagram's, else ``timeouts[topic]``, else
        300 s) plus ``settings.job_lease_grace``.  ``circuits`` (topic ->
        (threshold, cool-off seconds)) makes open circuits skip their topics, and lets one probe through
        a circuit whose cool-off is over.  ``attempts`` (topic -> attempts the worker's agent allows) is
        written on claimed jobs the diagram gave no retries, so a lease that runs out (a dead worker) counts
        against the agent's retries, not ``settings.job_attempts``.
        """
        if self.now() >= getattr(self, "_next_expiry_check", _EPOCH):  # look for dead workers' jobs
            lease = self.settings.job_lease
            every = min(1.0, lease / 10) if lease else 1.0  # each second, or ten times per lease if shorter
            self._next_expiry_check = self.now() + dt.timedelta(seconds=every)
            try:
                self.expire_locks()
            except ConcurrentModification:
                pass  # another claimer is giving them back right now
        now = self.now()
        with self._tx() as conn:
            allowed = topics
            probes: list[str] = []
            if circuits:
                allowed, probes = self._circuit_filter(conn, topics or list(circuits), circuits, now)
            if lock_seconds is None:  # the longest lease any of these topics needs; exact per row below
                lock_seconds = max([t for t in (timeouts or {}).values()] or [DEFAULT_TIMEOUT])
                lock_seconds += self.settings.job_lease_grace
                exact = True
            else:
                exact = False
            until = now + dt.timedelta(seconds=lock_seconds)
            claimed = jq.claim(conn, worker_id, allowed, limit, now, until, match)
            for topic in probes:
                if len(claimed) < limit:
                    claimed += jq.claim(conn, worker_id, [topic], 1, now, until, match)
            result = []
            for row in claimed:
                changes: dict[str, Any] = {}
                if exact and row.timeout:  # the diagram gave this job its own timeout
                    changes["lock_expires_at"] = now + dt.timedelta(seconds=row.timeout + self.settings.job_lease_grace)
                if row.max_attempts is None and row.topic in (attempts or {}):
                    changes["max_attempts"] = (attempts or {})[row.topic]
                if changes:
                    jq.update_job(conn, row.id, **changes)
                    row = jq.get_job(conn, row.id)
                result.append(Job.from_row(row))
        return result

    def _circuit_filter(self, conn: Connection, topics: list[str], circuits: dict[str, tuple[int, float]],
                        now: dt.datetime) -> tuple[list[str], list[str]]:
        closed = set(topics)
        probes = []
        for circuit in jq.get_circuits(conn, topics):
            if circuit.state == "closed":
                continue
            closed.discard(circuit.topic)
            opened_until = q.as_utc(circuit.opened_until)
            if opened_until is not None and opened_until <= now:
                cooloff = circuits.get(circuit.topic, (5, 60.0))[1]
                if jq.take_probe(conn, circuit.topic, now, now + dt.timedelta(seconds=cooloff)):
                    probes.append(circuit.topic)
        return sorted(closed), probes

    def next_job_due(self, topics: list[str] | None = None) -> dt.datetime | None:
        with self._tx() as conn:
            due = jq.next_due(conn, topics)
        return q.as_utc(due)

    # ---- reporting results -----------------------------------------------------------------------------------

    def _locked_job(self, conn: Connection, job_id: str, worker_id: str) -> Any:
        job = jq.get_job(conn, job_id)
        if job is None:
            raise JobNotFound(f"no open job has id {job_id!r} (it may have been completed or cancelled)",
                              job_id=job_id)
        expires = q.as_utc(job.lock_expires_at)
        if job.status == jq.LOCKED and job.lock_owner == worker_id and expires is not None and expires > self.now():
            return job
        if job.status == jq.LOCKED and job.lock_owner == worker_id:
            why = f"its lock expired at {expires:%Y-%m-%d %H:%M:%S} UTC" if expires else "its lock expired"
        elif job.status == jq.LOCKED:
            why = f"it is locked by worker {job.lock_owner!r}"
        else:
            why = f"it is {job.status}, not locked (the lease was lost)"
        raise LockLost(f"job {job_id} is not locked by worker {worker_id!r}: {why}; the result was not applied",
                       job_id=job_id, worker_id=worker_id)
        return job

    def _job_task(self, workflow: BpmnWorkflow, job: Any) -> SpiffTask:
        try:
            task = workflow.get_task_from_id(uuid.UUID(job.task_id))
        except TaskNotFoundException:  # the task finished and was pruned: another node applied this result
            task = None
        if task is None or task.state != TaskState.STARTED:
            raise InvalidStateError(f"the task of job {job.id} is no longer waiting for it", job_id=job.id)
        return task

    def complete_job(self, job_id: str, worker_id: str, variables: dict[str, Any] | None = None,
                     artifacts: list[Any] | None = None, call: CallInfo | None = None) -> None:
        """Apply a job's result: outputs into the instance, the task completes, the instance runs on.

        ``artifacts`` (:class:`engine.artifacts.ArtifactFile`) become new versions produced by the job's step,
        in the same transaction: the result is recorded with all of them or not at all.  A ``_cost`` entry in
        ``variables`` is the agent's cost report (``engine.agent_calls``): it is recorded with the call, never
        stored as a variable.
        """
        variables, cost = agent_calls.split_cost(dict(variables or {}))
        check_variables(variables)
        for file in artifacts or []:
            self.check_artifact(file.name, len(file.content))
        retry_conflicts(lambda: self._complete_job(job_id, worker_id, variables, artifacts or [], cost, call))

    def _reported_job(self, conn: Connection, job_id: str, worker_id: str) -> tuple[Any, Any, BpmnWorkflow, SpiffTask,
                                                                                   dict[Any, int]]:
        """What a worker's result needs: its locked job, the instance row (not suspended), the loaded workflow,
        the job's task and the snapshot taken before the result changes anything."""
        job = self._locked_job(conn, job_id, worker_id)
        row = self._instance_row(conn, job.instance_id)
        self._refuse_if_suspended(row, f"reporting the result of job {job.id}")
        workflow = self._load(conn, row)
        task = self._job_task(workflow, job)
        return job, row, workflow, task, execution.snapshot(workflow)

    def _complete_job(self, job_id: str, worker_id: str, variables: dict[str, Any], artifacts: list[Any], cost: Any,
                      call: CallInfo | None) -> None:
        with self._tx() as conn:
            job, row, workflow, task, before = self._reported_job(conn, job_id, worker_id)
            _refuse_continuation(job)
            stored = self._store_artifacts(conn, job.instance_id, artifacts, Producer.of_job(job))
            record_call(conn, job, worker_id, agent_calls.COMPLETED, self.now(), call,
                        cost=agent_calls.checked_cost(cost, job.instance_id, job.element_id))
            with execution.applying(workflow, f"taking the result of job {job.id}"):
                self._apply_outputs(task, variables)
                task.complete()
            out = execution.outcome(workflow, before, execution.run(workflow))
            jq.delete_job(conn, job.id)
            out.gone_jobs.remove(job.task_id)  # deleted just now; nothing else to clean up for it
            jq.record_success(conn, job.topic, self.now())
            done = {"variables": variables, **({"artifacts": {v.name: v.version for v in stored}} if stored else {})}
            event = self._job_event(job, "job_completed", worker_id, done)
            self._save(conn, row, workflow, out, before, [event])

    def _apply_outputs(self, task: SpiffTask, result: dict[str, Any]) -> None:
        job = task.task_spec.job
        if job.get("outputs"):
            scope = {**task.data, **result}
            for mapping in job["outputs"]:
                task.data[mapping["name"]] = mapping_value(self.script_engine, task, mapping, scope)
        elif job.get("result_variable"):
            task.data[job["result_variable"]] = result
        else:
            task.data.update(result)

    def _job_event(self, job: Any, event: str, worker_id: str | None, details: dict[str, Any]) -> dict[str, Any]:
        return {"at": self.now(), "event": event, "element_id": job.element_id, "element_name": job.element_name,
                "element_type": "job", "task_id": job.task_id,
                "details": {"job_id": job.id, "attempt": job.attempt, "worker": worker_id, "topic": job.topic,
                            **details}}

    def fail_job(self, job_id: str, worker_id: str, message: str, details: dict[str, Any] | None = None,
                 retryable: bool = True, retries: int | None = None, retry_in: float | None = None,
                 backoff_base: float | None = None, backoff_cap: float | None = None,
                 circuit: tuple[int, float] | None = None, default_attempts: int | None = None,
                 default_cycle: list[float] | None = None, call: CallInfo | None = None) -> Job | Incident:
        """Record a failed attempt: the job is due again later, or becomes an incident.

        ``retries`` (remaining attempts, as external workers report it) and ``retry_in`` (seconds) override
        everything.  Otherwise the diagram's retries and retry cycle apply, then ``default_attempts`` /
        ``default_cycle`` / backoff (the agent's config, passed by the worker), then the settings.
        ``circuit`` (threshold, cool-off) counts the failure against the topic.  ``call`` says which adapter
        ran the attempt (``engine.agent_calls``; None: an external worker).
        """
        policy = _Policy(retries, retry_in, backoff_base, backoff_cap, default_attempts, default_cycle)
        return retry_conflicts(lambda: self._fail_job(job_id, worker_id, message, details or {}, retryable,
                                                      policy, circuit, call))

    def _fail_job(self, job_id: str, worker_id: str, message: str, details: dict[str, Any], retryable: bool,
                  policy: _Policy, circuit: tuple[int, float] | None, call: CallInfo | None) -> Job | Incident:
        now = self.now()
        with self._tx() as conn:
            job = self._locked_job(conn, job_id, worker_id)
            record_call(conn, job, worker_id, agent_calls.failure_outcome(details), now, call,
                        retryable=retryable, error=message)
            if circuit is not None:
                jq.record_failure(conn, job.topic, now, circuit[0], now + dt.timedelta(seconds=circuit[1]))
            max_attempts = job.max_attempts or policy.default_attempts or self.settings.job_attempts
            left = policy.retries if policy.retries is not None else max_attempts - job.attempt
            if not retryable or left <= 0:
                reason = message if retryable else f"{message} (not retryable)"
                return self._to_incident(conn, job, reason, details, worker_id)
            retry_in = policy.retry_in
            cycle = job.retry_cycle or policy.default_cycle
            if retry_in is None and cycle:
                retry_in = float(cycle[min(job.attempt - 1, len(cycle) - 1)])
            elif retry_in is None:
                retry_in = backoff(job.attempt, policy.base or self.settings.job_backoff_base,
                                   policy.cap or self.settings.job_backoff_cap, _RNG)
            if policy.retries is not None:
                max_attempts = job.attempt + policy.retries
            jq.update_job(conn, job.id, status=jq.READY, lock_owner=None, lock_expires_at=None,
                          due_at=now + dt.timedelta(seconds=retry_in), last_error=message,
                          error_details=details or None, max_attempts=max_attempts, updated_at=now)
            history = self._job_event(job, "job_failed", worker_id,
                                      {"message": message, "retry_in": round(retry_in, 3), **_short(details)})
            q.insert_history(conn, [{"instance_id": job.instance_id, **history}])
            return Job.from_row(jq.get_job(conn, job.id))

    def _to_incident(self, conn: Connection, job: Any, message: str, details: dict[str, Any],
                     worker_id: str | None) -> Incident:
        """Park the job as an incident and mark its instance (version-checked: a race is retried)."""
        now = self.now()
        incident_id = str(uuid.uuid4())
        jq.update_job(conn, job.id, status=jq.INCIDENT, lock_owner=None, lock_expires_at=None,
                      last_error=message, error_details=details or None, updated_at=now)
        jq.insert_incident(conn, id=incident_id, job_id=job.id, instance_id=job.instance_id,
                           process_key=job.process_key, element_id=job.element_id, element_name=job.element_name,
                           topic=job.topic, message=message, details=details or None, attempts=job.attempt,
                           created_at=now)
        row = self._instance_row(conn, job.instance_id)
        workflow = self._load(conn, row)
        before = execution.snapshot(workflow)
        out = execution.outcome(workflow, before, None)
        if out.status == execution.RUNNING:  # (a failed script elsewhere keeps the instance "failed")
            out.status = execution.INCIDENT
        out.error = out.error or {
            "incident_id": incident_id, "element_id": job.element_id, "element_name": job.element_name,
            "topic": job.topic, "details": _short(details),
            "message": f"incident at '{job.element_name or job.element_id}' (topic {job.topic}): {message}",
        }
        event = self._job_event(job, "incident_created", worker_id,
                                {"incident_id": incident_id, "message": message, **_short(details)})
        self._save(conn, row, workflow, out, before, [event])
        return Incident.from_row(jq.get_incident(conn, incident_id))

    def job_bpmn_error(self, job_id: str, worker_id: str, error_code: str, message: str | None = None,
                       variables: dict[str, Any] | None = None, call: CallInfo | None = None) -> bool:
        """Throw a BPMN error from a job's task; returns True if an error boundary event caught it.

        Uncaught, the job becomes an incident (nothing else changes).  A ``_cost`` entry in ``variables`` is
        recorded with the call, as for :meth:`complete_job`.
        """
        variables, cost = agent_calls.split_cost(dict(variables or {}))
        check_variables(variables)
        return bool(retry_conflicts(lambda: self._job_bpmn_error(job_id, worker_id, error_code, message, variables,
                                                                 cost, call)))

    def _job_bpmn_error(self, job_id: str, worker_id: str, code: str, message: str | None,
                        variables: dict[str, Any], cost: Any, call: CallInfo | None) -> bool:
        with self._tx() as conn:
            job, row, workflow, task, before = self._reported_job(conn, job_id, worker_id)
            _refuse_continuation(job)
            record_call(conn, job, worker_id, agent_calls.BPMN_ERROR, self.now(), call,
                        error=f"{code}: {message}" if message else code,
                        cost=agent_calls.checked_cost(cost, job.instance_id, job.element_id))
            task.data.update(variables)
            payload = {**variables, "error_code": code, "error_message": message}
            caught = route(task, BatonErrorEventDefinition(code, code=code), message, payload)
            error = execution.run(workflow)  # the catcher runs and cancels the task (and its scope)
            if caught is None:  # nobody caught it: this in-memory state is dropped
                self._to_incident(conn, job, f"BPMN error {code!r} was not caught by any error boundary event"
                                  + (f": {message}" if message else ""), {"error_code": code}, worker_id)
                return False
            out = execution.outcome(workflow, before, error)
            jq.delete_job(conn, job.id)
            history = self._job_event(job, "job_bpmn_error", worker_id, {"error_code": code, "message": message})
            self._save(conn, row, workflow, out, before, [history])
            return True

    # ---- leases ----------------------------------------------------------------------------------------------

    def extend_lock(self, job_id: str, worker_id: str, seconds: float) -> Job:
        with self._tx() as conn:
            job = self._locked_job(conn, job_id, worker_id)
            jq.update_job(conn, job.id, lock_expires_at=self.now() + dt.timedelta(seconds=seconds))
            return Job.from_row(jq.get_job(conn, job.id))

    def renew_leases(self, worker_id: str, job_ids: list[str], seconds: float) -> list[str]:
        """Hold ``worker_id``'s running jobs ``seconds`` more (the worker's heartbeat); returns those it still held.

        A job missing from the answer was given back (its lease ran out) or is gone: its result will be refused.
        """
        with self._tx() as conn:
            return jq.renew(conn, worker_id, job_ids, self.now() + dt.timedelta(seconds=seconds))

    def unlock_job(self, job_id: str, worker_id: str | None = None) -> Job:
        """Give a locked job back without counting the attempt (``worker_id`` None: whoever holds it)."""
        with self._tx() as conn:
            job = jq.get_job(conn, job_id)
            if job is None:
                raise JobNotFound(f"no open job has id {job_id!r}", job_id=job_id)
            if worker_id is not None:
                job = self._locked_job(conn, job_id, worker_id)
            if job.status != jq.LOCKED:
                raise InvalidStateError(f"job {job_id} is {job.status}, not locked", job_id=job_id)
            jq.update_job(conn, job.id, status=jq.READY, lock_owner=None, lock_expires_at=None,
                          attempt=max(0, job.attempt - 1), due_at=self.now(), updated_at=self.now())
            conn.info["baton_jobs_created"] = True
            return Job.from_row(jq.get_job(conn, job.id))

    def expire_locks(self) -> int:
        """Give back jobs whose worker stopped responding (lease expired); returns how many."""
        with self._tx() as conn:
            expired = jq.expired_locks(conn, self.now())
        for job_id in expired:
            retry_conflicts(functools.partial(self._expire, job_id))
        return len(expired)

    def _expire(self, job_id: str) -> None:
        now = self.now()
        with self._tx() as conn:
            job = jq.get_job(conn, job_id)
            expires = q.as_utc(job.lock_expires_at) if job is not None else None
            if job is None or job.status != jq.LOCKED or expires is None or expires >= now:
                return
            message = f"worker {job.lock_owner} stopped responding: its lease expired during attempt {job.attempt}"
            agent = self.agents.get(job.topic)  # a Baton worker's agent, configured here too; else an external one
            record_call(conn, job, job.lock_owner, agent_calls.TIMED_OUT, now,
                        CallInfo(agent.adapter) if agent is not None else None, retryable=True, error=message)
            if job.attempt >= (job.max_attempts or self.settings.job_attempts):
                self._to_incident(conn, job, message, {}, None)
                return
            if jq.update_job(conn, job.id, expect={"status": jq.LOCKED, "lock_owner": job.lock_owner},
                             status=jq.READY, lock_owner=None, lock_expires_at=None,  # due_at kept: it goes
                             last_error=message, updated_at=now):  # ahead of jobs that became due after it
                conn.info["baton_jobs_created"] = True

@dataclass(frozen=True)
class _Policy:
    """How a failed attempt is retried (see :meth:`JobsMixin.fail_job`)."""

    retries: int | None
    retry_in: float | None
    base: float | None
    cap: float | None
    default_attempts: int | None
    default_cycle: list[float] | None


def _refuse_continuation(job: Any) -> None:
    if job.topic == continuations.TOPIC:
        raise InvalidStateError(f"job {job.id} is a continuation (topic {continuations.TOPIC}): a Baton worker runs "
                                "it; it has no result to report", job_id=job.id)


def _short(details: dict[str, Any]) -> dict[str, Any]:
    """Details for a history row: long texts cut to their last 2 KB."""
    return {k: (v[-2000:] if isinstance(v, str) else v) for k, v in details.items()}
