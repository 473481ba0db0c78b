"""The Engine facade: start, complete, inspect, cancel, retry (deploying is in ``engine/deployments.py``).

Each public method is one database transaction (see ../DESIGN.md, "the core
contract"): it loads what it needs, advances the SpiffWorkflow instance until
every path waits, and commits the new state with its history events and
human tasks, or nothing at all.  Concurrent writers are detected with the
instance's ``lock_version`` (optimistic locking).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from . import compensation, event_specs, execution, forms, pruning, quality_gates
from .agent_metrics import AgentMetricsMixin
from .agents import load_config
from .artifacts import ArtifactsMixin, BlobStore
from .assignment import AssignmentMixin, check_may_work_on
from .bpmn_parser import INITIATOR
from .cockpit import CockpitMixin
from .config import Settings
from .continuations import ContinuationsMixin
from .deployments import DeploymentsMixin
from .errors import (
    BatonError,
    ConcurrentModification,
    DatabaseUnavailable,
    InstanceNotFound,
    InvalidStateError,
    StorageError,
    TaskAlreadyCompleted,
    TaskNotFound,
)
from .events import ARMED, OUTBOX, EventsMixin
from .incidents import IncidentsMixin
from .metrics import MetricsMixin
from .records import HistoryEntry, Instance, Task
from .scripting import DEFAULT_ALLOWED_MODULES, RestrictedScriptEngine
from .search import SearchMixin
from .serialization import (
    STATE_FORMAT,
    check_variables,
    dump_state,
    load_spec,
    load_state,
)
from .store import db
from .store import instance_queries as iq
from .store import job_queries as jq
from .store import queries as q
from .suspension import SuspensionMixin
from .tasklist import TasklistMixin
from .users import UsersMixin
from .variables import VariablesMixin

log = logging.getLogger("baton.engine")


class Engine(DeploymentsMixin, ContinuationsMixin, SuspensionMixin, VariablesMixin, SearchMixin, IncidentsMixin,
             EventsMixin, TasklistMixin, MetricsMixin, AgentMetricsMixin, UsersMixin, AssignmentMixin,
             CockpitMixin, ArtifactsMixin):
    """Baton's engine over one database.  Safe to share between threads.

    ``clock`` (a callable returning an aware UTC datetime) lets tests drive time: due times, leases,
    backoff and circuit cool-offs all read it.
    """

    def __init__(self, settings: Settings | None = None, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.now = clock or q.utcnow
        self.agents = load_config(self.settings.config).agents
        self.jobs_signal = threading.Condition()
        self.jobs_generation = 0  # bumped (under jobs_signal) after every commit that made a job due
        self.db = db.connect(self.settings.database_url)
        self.blob_store = BlobStore(self.settings.artifact_store)
        db.ensure_schema(self.db, self.settings.auto_migrate)
        modules = self.settings.script_modules or DEFAULT_ALLOWED_MODULES
        self.script_engine = RestrictedScriptEngine(timeout=self.settings.script_timeout, allowed_modules=modules)
        self.script_engine.clock = self.now  # timers read the engine's clock
        self.script_engine.timer_zone = self.settings.timezone
        self.on_timer_armed: Callable[[dt.datetime], None] | None = None  # set by the scheduler
        self._specs: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._specs_lock = threading.Lock()

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One transaction; driver errors become Baton errors."""
        try:
            with self.db.begin() as conn:
                info = conn.info  # kept: once the connection is lost, conn.info raises instead of answering
                info.pop(OUTBOX, None)
                info.pop(ARMED, None)
                try:
                    yield conn
                    if info.get(OUTBOX):
                        self._drain_outbox(conn)
                finally:
                    info.pop(OUTBOX, None)
                    armed = info.pop(ARMED, None)
                created = info.pop("baton_jobs_created", False)
            if created:
                self.notify_jobs()
            if armed is not None and self.on_timer_armed is not None:
                self.on_timer_armed(armed)
        except BatonError:
            raise
        except IntegrityError as exc:
            raise ConcurrentModification(
                "another writer stored a conflicting change at the same time; nothing was applied, try again"
            ) from exc
        except OperationalError as exc:
            if "locked" in str(exc).lower() or "deadlock" in str(exc).lower():
                raise ConcurrentModification("the database was busy with a conflicting write; try again") from exc
            raise _storage_error(exc) from exc
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from exc

    def notify_jobs(self) -> None:
        """Wake this process's workers and long-polling fetches: new jobs are committed."""
        with self.jobs_signal:
            self.jobs_generation += 1
            self.jobs_signal.notify_all()

    def wait_for_jobs(self, since: int, timeout: float) -> int:
        """Wait until a job is committed in this process after generation ``since`` (or ``timeout`` s pass).

        Read ``jobs_generation`` before looking for jobs and pass it here: a job committed in between is
        not missed.  Returns the current generation.  Jobs from other processes are only seen by looking.
        """
        with self.jobs_signal:
            self.jobs_signal.wait_for(lambda: self.jobs_generation != since, timeout)
            return self.jobs_generation

    def _spec(self, conn: Connection, definition_id: int) -> tuple[Any, dict[str, Any]]:
        """The parsed spec of a process version, deserialized once per process (versions never change)."""
        cached = self._specs.get(definition_id)
        if cached is None:
            spec_text = q.definition_spec(conn, definition_id)
            if spec_text is None:
                raise InvalidStateError(f"process definition {definition_id} has no executable spec")
            cached = load_spec(json.loads(spec_text))
            with self._specs_lock:
                cached = self._specs.setdefault(definition_id, cached)
        return cached

    def _load(self, conn: Connection, row: Any) -> BpmnWorkflow:
        spec, subs = self._spec(conn, row.definition_id)
        workflow = load_state(row.state, spec, subs)
        workflow.script_engine = self.script_engine
        workflow.baton_facts = {"instance_id": row.id, "business_key": getattr(row, "business_key", None),
                                "process_key": getattr(row, "process_key", None)}  # for JUEL's execution.*
        workflow.baton_prune = self.settings.prune_completed_tasks
        # whether it may have timers or subscription rows to keep in step
        workflow.baton_waited = bool(workflow.event_manager.tasks) or bool(workflow.spec.start.trigger_specs)
        return workflow

    # ---- instances ---------------------------------------------------------------------------------------

    def start(self, key: str, variables: dict[str, Any] | None = None, business_key: str | None = None,
              version: int | None = None, initiator: str | None = None) -> Instance:
        """Start an instance of the latest (or the given) version and run it until every path waits.

        ``initiator`` is the user who starts it: a start event's ``camunda:initiator`` names the variable
        that gets it (the web API and pages pass the signed-in user, ``baton start --initiator``).
        """
        variables = dict(variables or {})
        check_variables(variables)
        with self._tx() as conn:
            row = self._definition_row(conn, key, version, executable_only=False)
            if not row.executable:
                raise InvalidStateError(
                    f"process '{key}' version {row.version} is not executable (isExecutable=\"false\", or deployed "
                    "as a drawing): it is stored as a drawing and cannot be started", key=key, version=row.version)
            started = self._start_in(conn, row, variables, business_key, initiator=initiator)
        self._log_outcome(started.id, "started", started.out)
        tasks = [Task.from_row(SimpleNamespace(business_key=business_key, **t)) for t in started.added]
        return Instance.from_row(SimpleNamespace(**started.values), tasks)

    def _start_in(self, conn: Connection, row: Any, variables: dict[str, Any], business_key: str | None,
                  start_event: str | None = None, trigger: dict[str, Any] | None = None,
                  initiator: str | None = None) -> SimpleNamespace:
        """Create and run an instance in the caller's transaction, from ``start_event`` when given.

        Without ``start_event`` a none start event starts it; a process with only event start events
        (timer, message, signal) starts at the first of them, as Camunda does.
        """
        spec, subs = self._spec(conn, row.id)
        workflow = BpmnWorkflow(spec, subs, script_engine=self.script_engine)
        instance_id = str(uuid.uuid4())
        workflow.baton_facts = {"instance_id": instance_id, "business_key": business_key, "process_key": row.key}
        workflow.baton_prune = self.settings.prune_completed_tasks
        event_specs.choose_start(workflow, start_event)
        if initiator is not None:  # camunda:initiator on a start event names the variable for the starting user
            for spec_ in workflow.spec.task_specs.values():
                name = (getattr(spec_, "extensions", None) or {}).get(INITIATOR)
                if name:
                    variables.setdefault(name, initiator)
        if variables:
            for task in workflow.tasks.values():
                if task.state == TaskState.READY:
                    task.data.update(variables)
        error = execution.run(workflow)
        out = execution.outcome(workflow, {}, error)
        now = self.now()
        values = dict(
            id=instance_id, definition_id=row.id, process_key=row.key, process_version=row.version,
            business_key=business_key, status=out.status, variables=out.variables, active=out.active,
            error=out.error, created_at=now, updated_at=now,
            ended_at=now if out.status in execution.FINAL_STATUSES else None,
        )
        thrown = workflow.get_events()  # taken out before saving: a stored state must not throw them again
        q.insert_instance(conn, state=self._dump(workflow), state_format=STATE_FORMAT, lock_version=1, **values)
        details = {"variables": variables, "business_key": business_key, "version": row.version}
        if trigger:
            details["trigger"] = trigger
        started = {"at": now, "event": "instance_started", "details": details}
        created = SimpleNamespace(**values)
        added = self._record(conn, created, out, set(), [started], previous_status=None)
        values["status"] = out.status  # jobs may have turned it into an incident
        self._after_run(conn, created, workflow, out.status, thrown)
        if trigger:
            self._log_outcome(instance_id, f"started by {next(iter(trigger))}", out)
        return SimpleNamespace(id=instance_id, values=values, out=out, added=added)

    def get_instance(self, instance_id: str) -> Instance:
        with self._tx() as conn:
            row = self._instance_row(conn, instance_id)
            tasks = [Task.from_row(t) for t in q.list_human_tasks(conn, instance_id=instance_id)]
            return Instance.from_row(row, tasks)

    def instances(self, status: str | None = None, key: str | None = None, business_key: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[Instance]:
        with self._tx() as conn:
            rows = q.list_instances(conn, status, key, business_key, limit, offset)
            return [Instance.from_row(r) for r in rows]

    def count_by_status(self) -> dict[str, int]:
        with self._tx() as conn:
            return q.count_instances_by_status(conn)

    def history(self, instance_id: str) -> list[HistoryEntry]:
        with self._tx() as conn:
            self._instance_row(conn, instance_id)
            return [HistoryEntry.from_row(r) for r in q.list_history(conn, instance_id)]

    def cancel(self, instance_id: str) -> Instance:
        """Cancel an unfinished instance: its open tasks are cancelled and it is ended."""
        with self._tx() as conn:
            row = self._instance_row(conn, instance_id)
            if row.status in execution.FINAL_STATUSES:
                raise InvalidStateError(f"instance {instance_id} is already {row.status}", status=row.status)
            workflow = self._load(conn, row)
            before = execution.snapshot(workflow)
            workflow.cancel()
            compensation.cancel_handlers(workflow)
            out = execution.outcome(workflow, before, None, cancelled=True)
            jq.resolve_incidents(conn, self.now(), "cancelled", instance_id=instance_id)
            self._save(conn, row, workflow, out, before, [])
            if row.suspended:
                iq.end_suspension(conn, instance_id)
        self._log_outcome(instance_id, "cancelled", out)
        return self.get_instance(instance_id)

    def retry(self, instance_id: str, variables: dict[str, Any] | None = None) -> Instance:
        """Run the failed step of a failed instance again, optionally with changed variables."""
        variables = dict(variables or {})
        check_variables(variables)
        with self._tx() as conn:
            row = self._instance_row(conn, instance_id)
            if row.status != execution.FAILED:
                raise InvalidStateError(f"instance {instance_id} is {row.status}; only failed instances can be "
                                        "retried", status=row.status)
            self._refuse_if_suspended(row, "retrying it")
            workflow = self._load(conn, row)
            before = execution.snapshot(workflow)
            failed = [t for t in execution.all_tasks(workflow) if t.state == TaskState.ERROR]
            for task in failed:
                task.data.update(variables)
                task._set_state(TaskState.READY)
            error = execution.run(workflow)
            out = execution.outcome(workflow, before, error)
            event = {"at": self.now(), "event": "instance_retried",
                     "details": {"variables": variables, "elements": [t.task_spec.bpmn_id for t in failed]}}
            self._save(conn, row, workflow, out, before, [event])
        self._log_outcome(instance_id, "retried", out)
        return self.get_instance(instance_id)

    def _instance_row(self, conn: Connection, instance_id: str) -> Any:
        row = q.get_instance(conn, instance_id)
        if row is None:
            raise InstanceNotFound(f"no instance has id {instance_id!r}", instance_id=instance_id)
        return row

    # ---- human tasks -------------------------------------------------------------------------------------

    def tasks(self, instance_id: str | None = None, key: str | None = None, limit: int = 200,
              offset: int = 0) -> list[Task]:
        with self._tx() as conn:
            return [Task.from_row(r) for r in q.list_human_tasks(conn, instance_id, key, limit, offset)]

    def get_task(self, task_id: str) -> Task:
        with self._tx() as conn:
            row = q.get_human_task(conn, task_id)
            if row is None:
                self._missing_task(conn, task_id)
            return Task.from_row(row)

    def complete_task(self, task_id: str, variables: dict[str, Any] | None = None, user: Any = None) -> Instance:
        """Complete a ready user or manual task with the given variables and run the instance on.

        The variables are checked against the task's form first (``engine/forms.py``): a :class:`FormError`
        names every field that is missing or wrong, and form fields are stored typed (long as int, ...).
        With ``user`` (a signed-in person), it is refused when they may not work on the task
        (see ``engine.assignment``).
        """
        variables = dict(variables or {})
        check_variables(variables)
        with self._tx() as conn:
            human = q.get_human_task(conn, task_id)
            if human is None:
                self._missing_task(conn, task_id)
            if user is not None:
                check_may_work_on(user, human)
            row = self._instance_row(conn, human.instance_id)
            self._refuse_if_suspended(row, f"completing task {human.element_id}")
            variables = forms.check(human.form, variables, row.variables or {})  # FormError names each field
            workflow = self._load(conn, row)
            task = workflow.get_task_from_id(uuid.UUID(task_id))
            if task is None or task.state != TaskState.READY:
                raise TaskAlreadyCompleted(f"task {task_id} is no longer ready", task_id=task_id)
            before = execution.snapshot(workflow)
            task.data.update(variables)
            with execution.applying(workflow, f"completing task {human.element_id}"):
                task.run()
            error = execution.run(workflow)
            out = execution.outcome(workflow, before, error)
            for event in out.events:
                if event["task_id"] == task_id and event["event"] == "activity_completed":
                    event["details"] = {"variables": variables, **({"user": user.name} if user is not None else {})}
            self._save(conn, row, workflow, out, before, [])
        self._log_outcome(row.id, f"task {human.element_id} completed", out)
        return self.get_instance(row.id)

    def _missing_task(self, conn: Connection, task_id: str) -> None:
        done = q.task_completion(conn, task_id)
        if done is not None:
            raise TaskAlreadyCompleted(
                f"task {task_id} was already completed at {done.at:%Y-%m-%d %H:%M:%S} UTC",
                task_id=task_id, instance_id=done.instance_id)
        raise TaskNotFound(f"no ready task has id {task_id!r}", task_id=task_id)

    # ---- saving ------------------------------------------------------------------------------------------

    def _save(self, conn: Connection, row: Any, workflow: BpmnWorkflow, out: execution.Outcome,
              before: dict[Any, int], extra: list[dict[str, Any]]) -> None:
        if out.error is None and any(t.state == TaskState.ERROR for t in execution.all_tasks(workflow)):
            out.status, out.error = execution.FAILED, row.error
        if (out.status == execution.RUNNING and row.status == execution.INCIDENT
                and jq.open_incident_count(conn, row.id)):  # an incident can only be open if it was one
            out.status = execution.INCIDENT
            out.error = out.error or row.error  # the incident's message stays until it is resolved
        now = self.now()
        thrown = workflow.get_events()  # taken out before saving: a stored state must not throw them again
        ok = q.update_instance(
            conn, row.id, row.lock_version, status=out.status, variables=out.variables, active=out.active,
            error=out.error, state=self._dump(workflow), state_format=STATE_FORMAT, updated_at=now,
            ended_at=now if out.status in execution.FINAL_STATUSES else None,
        )
        if not ok:
            raise ConcurrentModification(
                f"instance {row.id} was changed by someone else at the same time; nothing was applied, "
                "reload and try again", instance_id=row.id)
        old = {str(k) for k, state in before.items() if state == TaskState.READY}
        self._record(conn, row, out, old, extra, previous_status=row.status)
        self._after_run(conn, row, workflow, out.status, thrown)

    def _dump(self, workflow: BpmnWorkflow) -> str:
        """The state to store: finished tasks nothing open needs are pruned first (their events are history)."""
        if pruning.enabled(workflow):
            pruning.prune(workflow)
        return dump_state(workflow)

    def _record(self, conn: Connection, row: Any, out: execution.Outcome, old_ready: set[str],
                extra: list[dict[str, Any]], previous_status: str | None) -> list[dict[str, Any]]:
        """History, human-task rows and jobs, in the caller's transaction; returns the new human tasks."""
        instance_id, process_key = row.id, row.process_key
        now = self.now()
        rows = [{"instance_id": instance_id, "element_id": None, "element_name": None, "element_type": None,
                 "task_id": None, **e} for e in extra]
        rows += [{"instance_id": instance_id, **e} for e in out.events]
        final = {execution.COMPLETED_STATUS: "instance_completed", execution.FAILED: "instance_failed",
                 execution.CANCELLED_STATUS: "instance_cancelled"}
        if out.status in final and out.status != previous_status:
            rows.append({"instance_id": instance_id, "at": now, "event": final[out.status], "element_id": None,
                         "element_name": None, "element_type": None, "task_id": None, "details": out.error})
        quality_gates.number_rounds(conn, rows)
        q.insert_history(conn, rows)
        self._remove_jobs(conn, out.gone_jobs)
        if out.new_jobs and self._create_jobs(conn, row, out.new_jobs) and out.status == execution.RUNNING:
            out.status = execution.INCIDENT
            q.set_status(conn, instance_id, out.status)
        current = set(out.human_tasks)
        add = [{"id": tid, "instance_id": instance_id, "element_id": t.task_spec.bpmn_id,
                "name": t.task_spec.bpmn_name, "element_type": execution.element_type(t.task_spec),
                "process_key": process_key, "created_at": now,
                "form": forms.with_defaults(execution.form_of(t.task_spec), self._evaluator(t)),
                "properties": execution.properties_of(t.task_spec)}
               for tid, t in out.human_tasks.items() if tid not in old_ready]
        self._assign(add, out.human_tasks)
        if out.status in execution.FINAL_STATUSES:
            if previous_status is not None:  # a new instance has no task rows yet
                q.delete_human_tasks(conn, instance_id)
        else:
            q.sync_human_tasks(conn, instance_id, sorted(old_ready - current), add)
        return add

    def _evaluator(self, task: Any) -> Callable[[str], Any]:
        """Evaluates an expression over a task's variables (form defaults)."""
        return lambda expr: self.script_engine.environment.evaluate(expr, dict(task.data))

    def _log_outcome(self, instance_id: str, what: str, out: execution.Outcome) -> None:
        extra: dict[str, Any] = {"instance_id": instance_id, "status": out.status}
        if out.error:
            extra.update(element_id=out.error.get("element_id"), error=out.error.get("message"))
            log.warning("instance %s: %s", what, out.status, extra=extra)
        else:
            log.info("instance %s: %s", what, out.status, extra=extra)


def _storage_error(exc: SQLAlchemyError) -> StorageError:
    """A driver error as a Baton error: :class:`DatabaseUnavailable` when the server cannot be reached."""
    reason = getattr(exc, "orig", None) or exc
    if db.is_disconnect(exc):
        return DatabaseUnavailable(f"the database cannot be reached: {str(reason).strip().splitlines()[0]}")
    return StorageError(f"database error: {reason}")
