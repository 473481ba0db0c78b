"""The worker: claims jobs of the configured agents and runs them in a thread pool.

``baton worker`` runs one alone (several can share one PostgreSQL database); ``baton serve`` runs one
next to the web app.  Each job is claimed with a lease, its agent runs with no instance lock held, and
the result goes back through the engine (``complete_job`` / ``fail_job`` / ``job_bpmn_error``), which
rejects it if the lease was lost meanwhile.  With ``settings.job_lease`` set (``baton worker --lease``), leases are
short and a heartbeat thread renews those of the running jobs, so a live worker keeps a job however long its
agent runs and a dead worker's jobs run elsewhere within the lease time.  While the database is unreachable the
worker keeps running: it retries claiming with backoff (``engine.reconnect``), and a result computed meanwhile is
recorded as soon as the database is back, as long as the job's lease lasts.
Topics with no agent are left to external workers.  Every worker,
with agents or without, also runs the engine's continuation jobs (``engine.continuations``: the steps after a
``camunda:asyncBefore`` / ``asyncAfter`` boundary).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from typing import Any

from . import continuations
from .adapters.base import CallContext
from .agent_calls import CallInfo
from .agents import AgentConfig, build_adapter
from .artifact_files import CallFolders, call_folders, collect_outputs
from .artifact_records import ArtifactFile
from .errors import (
    AgentFailure,
    BatonError,
    BpmnErrorRaised,
    ConcurrentModification,
    DatabaseUnavailable,
    JobNotFound,
    LockLost,
    StorageError,
)
from .reconnect import Reconnect
from .records import Job

log = logging.getLogger("baton.worker")


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs the agents of ``agents`` (topic -> config) for jobs of ``engine``."""

    def __init__(self, engine: Any, agents: dict[str, AgentConfig] | None = None, threads: int = 4,
                 poll: float = 1.0, worker_id: str | None = None) -> None:
        self.engine = engine
        self.agents = dict(engine.agents if agents is None else agents)
        self.threads = max(1, threads)
        self.poll = poll
        self.worker_id = worker_id or default_worker_id()
        self._adapters: dict[str, Any] = {}
        self._adapters_lock = threading.Lock()
        self._stop = threading.Event()
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self.processed = 0
        self._claims = Reconnect.of(engine.settings, "claim_jobs", log)
        self.lease = float(engine.settings.job_lease)  # 0 or at least 1 s (checked by Settings)
        self._held: dict[str, float] = {}  # running job -> monotonic time after which its lease is not renewed
        self._heartbeat: threading.Thread | None = None

    @property
    def topics(self) -> list[str]:
        """The topics this worker claims: its agents' and the engine's own continuations (asyncBefore/After)."""
        return sorted(self.agents) + [continuations.TOPIC]

    def _circuits(self) -> dict[str, tuple[int, float]]:
        return {t: (c.circuit_threshold, c.circuit_cooloff) for t, c in self.agents.items()}

    def _adapter(self, topic: str) -> Any:
        with self._adapters_lock:
            if topic not in self._adapters:
                self._adapters[topic] = build_adapter(self.agents[topic])
            return self._adapters[topic]

    # ---- running -------------------------------------------------------------------------------------------

    def start(self) -> Worker:
        """Run in background threads until :meth:`stop`."""
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="baton-job")
        self._thread = threading.Thread(target=self._loop, name="baton-worker", daemon=True)
        self._thread.start()
        if self.lease:
            self._heartbeat = threading.Thread(target=self._renew_loop, name="baton-lease", daemon=True)
            self._heartbeat.start()
        log.info("worker started", extra={"worker_id": self.worker_id, "topics": ",".join(self.topics),
                                          "threads": self.threads, "lease": self.lease or None})
        return self

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self.engine.notify_jobs()
        if self._thread is not None and wait:
            self._thread.join()
        if self._heartbeat is not None and wait:
            self._heartbeat.join()
        if self._pool is not None:
            self._pool.shutdown(wait=wait)
        for adapter in self._adapters.values():
            close = getattr(adapter, "close", None)
            if close is not None:
                close()

    def run_forever(self) -> None:
        """Run in this thread (``baton worker``) until :meth:`stop` or KeyboardInterrupt."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            log.info("worker stopping", extra={"worker_id": self.worker_id})
        finally:
            self.stop()

    def _loop(self) -> None:
        assert self._pool is not None
        while not self._stop.is_set():
            generation = self.engine.jobs_generation
            try:
                free = self.threads - self._in_flight
                if free > 0:
                    jobs = self._claim(free)
                    wait = 0.0 if jobs else self._idle_wait()
                else:  # every thread busy: no query until one is free (it notifies, see _run_and_release)
                    jobs, wait = [], self.poll
            except DatabaseUnavailable as exc:  # keep running; try again later
                self._stop.wait(self._claims.failed(exc, worker_id=self.worker_id))
                continue
            except Exception as exc:  # noqa: BLE001 - a worker node must not die of one bad pass
                log.warning("worker could not claim jobs: %s", exc, extra={"worker_id": self.worker_id},
                            exc_info=not isinstance(exc, BatonError))
                jobs, wait = [], self.poll
            else:
                self._claims.succeeded(worker_id=self.worker_id)
            for job in jobs:
                with self._in_flight_lock:
                    self._in_flight += 1
                    self._held[job.id] = time.monotonic() + self._timeout(job) + self.engine.settings.job_lease_grace
                self._pool.submit(self._run_and_release, job)
            if not jobs and not self._stop.is_set():
                self.engine.wait_for_jobs(generation, wait)

    def _idle_wait(self) -> float:
        due = self.engine.next_job_due(self.topics)
        if due is None:
            return self.poll
        return min(self.poll, max(0.01, (due - self.engine.now()).total_seconds()))

    def _claim(self, limit: int, renewed: bool = True) -> list[Job]:
        """Claim jobs: for half the lease when the heartbeat renews them, else for each job's timeout + grace."""
        timeouts = {t: c.timeout for t, c in self.agents.items() if c.timeout}
        attempts = {t: n for t, c in self.agents.items() if (n := _attempts(c)) is not None}
        lock_seconds = self.lease / 2 if self.lease and renewed else None
        return list(self.engine.claim_jobs(self.worker_id, self.topics, limit=limit, circuits=self._circuits(),
                                           timeouts=timeouts, lock_seconds=lock_seconds, attempts=attempts))

    def _run_and_release(self, job: Job) -> None:
        try:
            self.execute(job)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
                self._held.pop(job.id, None)
            self.engine.notify_jobs()  # a thread is free: claim again

    def _renew_loop(self) -> None:
        """The heartbeat: every sixth of the lease, hold the running jobs for half a lease more.

        A job whose timeout (plus grace) has passed is no longer renewed: its agent is hung, and the job goes
        back to the others when the lease runs out.  Two renewals in a row may fail (a database hiccup, a pool
        restart) before a live worker loses a job.
        """
        while not self._stop.wait(self.lease / 6):
            now = time.monotonic()
            with self._in_flight_lock:
                ids = [job_id for job_id, give_up in self._held.items() if give_up > now]
            if not ids:
                continue
            try:
                held = set(self.engine.renew_leases(self.worker_id, ids, self.lease / 2))
            except BatonError as exc:
                log.warning("could not renew job leases: %s", exc, extra={"worker_id": self.worker_id})
                continue
            with self._in_flight_lock:  # a job that finished meanwhile is gone, not lost
                lost = [job_id for job_id in ids if job_id not in held and job_id in self._held]
                for job_id in lost:
                    del self._held[job_id]
            for job_id in lost:
                log.warning("lease of a running job was lost; its result will be refused",
                            extra={"worker_id": self.worker_id, "job_id": job_id})

    def run_once(self, limit: int | None = None) -> int:
        """Claim due jobs and run them here, one after another; returns how many ran (tests, benchmarks)."""
        jobs = self._claim(limit or self.threads, renewed=False)  # no heartbeat here: leases last the timeout
        for job in jobs:
            self.execute(job)
        return len(jobs)

    # ---- one job ---------------------------------------------------------------------------------------------

    def _timeout(self, job: Job) -> float:
        agent = self.agents.get(job.topic)
        return job.timeout or (agent.timeout if agent is not None else None) or 300.0

    def context(self, job: Job, folders: CallFolders | None = None) -> CallContext:
        timeout = self._timeout(job)
        folders = folders or CallFolders()
        return CallContext(
            instance_id=job.instance_id, business_key=job.business_key, process_key=job.process_key,
            process_version=job.process_version, element_id=job.element_id, element_name=job.element_name,
            topic=job.topic, job_id=job.id, attempt=job.attempt,
            deadline=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout),
            properties=dict(job.properties or {}), artifacts=folders.refs,
            artifacts_dir=None if folders.input_dir is None else str(folders.input_dir),
            artifacts_out=None if folders.output_dir is None else str(folders.output_dir),
        )

    def _call(self, job: Job, cfg: AgentConfig) -> tuple[dict[str, Any], list[ArtifactFile]]:
        """Run the agent with the instance's artifacts at hand; its output variables and the artifacts it left."""
        with ExitStack() as stack:
            try:
                folders = stack.enter_context(call_folders(self.engine, job.instance_id, cfg.adapter != "http"))
            except (OSError, StorageError, ConcurrentModification) as exc:
                raise AgentFailure(f"could not give the agent the instance's artifacts: {exc}") from exc
            result = self._adapter(job.topic).call(dict(job.variables), self.context(job, folders))
            try:
                return result or {}, collect_outputs(folders.output_dir, self.engine.settings.artifact_max_bytes)
            except OSError as exc:
                raise AgentFailure(f"could not read the artifacts the agent left: {exc}") from exc
        raise AssertionError("unreachable")

    def execute(self, job: Job) -> None:
        """Run the agent for one claimed job and report the result to the engine."""
        extra = {"worker_id": self.worker_id, "job_id": job.id, "instance_id": job.instance_id,
                 "topic": job.topic, "attempt": job.attempt}
        if job.topic == continuations.TOPIC:  # the instance's next steps after an async boundary
            self._report(job, extra, partial(self.engine.continue_job, job.id, self.worker_id))
            self.processed += 1
            return
        cfg = self.agents[job.topic]
        call = CallInfo(cfg.adapter, self.engine.now())
        try:
            try:
                result, artifacts = self._call(job, cfg)
            except (AgentFailure, BpmnErrorRaised):
                raise
            except BatonError as exc:
                raise AgentFailure(str(exc), retryable=False) from exc
            except Exception as exc:  # noqa: BLE001 - an adapter bug must not kill the worker
                raise AgentFailure(f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()) from exc
        except BpmnErrorRaised as exc:
            log.info("job answered with BPMN error %s", exc.error_code, extra=extra)
            self._report(job, extra, partial(self.engine.job_bpmn_error, job.id, self.worker_id, exc.error_code,
                                             exc.message, exc.variables, call))
        except AgentFailure as exc:
            log.warning("job failed: %s", exc.message, extra=extra)
            self._report(job, extra, partial(self.engine.fail_job, job.id, self.worker_id, exc.message, exc.details,
                                        retryable=exc.retryable, backoff_base=cfg.backoff_base,
                                        backoff_cap=cfg.backoff_cap,
                                        circuit=(cfg.circuit_threshold, cfg.circuit_cooloff),
                                        default_attempts=_attempts(cfg),
                                        default_cycle=cfg.retry_cycle, call=call))
        else:
            self._report(job, extra, partial(self.engine.complete_job, job.id, self.worker_id, result or {},
                                             artifacts, call))
            log.info("job completed", extra={**extra, "artifacts": ",".join(a.name for a in artifacts)})
        self.processed += 1

    def _report(self, job: Job, extra: dict[str, Any], call: Any) -> None:
        """Record a result; while the database is unreachable, try again with backoff as long as the lease lasts.

        The agent's work is done and may have had side effects, so its result is kept rather than the job run
        again.  Only when the lease ends first (or the worker stops) is it given up: the job then returns to
        the queue and runs again with the next attempt number (the idempotency key tells the two apart).
        """
        with self._in_flight_lock:  # the lease has at least a third left; a job reported is no longer renewed
            self._held.pop(job.id, None)
        retry = Reconnect.of(self.engine.settings, "recording the job's result", log)
        while True:
            try:
                call()
            except DatabaseUnavailable as exc:
                expires = job.lock_expires_at
                if self._stop.is_set() or (expires is not None and self.engine.now() >= expires):
                    log.error("gave up recording the job's result: %s; the job runs again when its lease has "
                              "expired", exc, extra=extra)
                    return
                delay = retry.failed(exc, **extra)
                if expires is not None:  # one last attempt just before the lease ends
                    delay = min(delay, max(0.0, (expires - self.engine.now()).total_seconds() - 0.5))
                self._stop.wait(delay)
                continue
            except (LockLost, JobNotFound) as exc:
                log.warning("result rejected: %s", exc, extra=extra)
            except BatonError as exc:
                log.error("could not record the job's result: %s", exc, extra=extra)
            else:
                retry.succeeded(**extra)
            return


def _attempts(agent: AgentConfig) -> int | None:
    """The attempts an agent allows when it says (``retries`` or ``retry_cycle``), else None: the engine's."""
    return agent.max_attempts if agent.retries or agent.retry_cycle else None
