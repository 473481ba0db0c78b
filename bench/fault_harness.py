"""The fault run shared by ``bench/faults.py`` (1,000 instances) and ``tests/test_faults.py`` (a few dozen).

It deploys ``processes/bench_faults.bpmn`` (five service tasks of topic ``effect``, timers of 1 s and 2 s, a
parallel join) into a PostgreSQL database, starts the instances, runs ``--workers`` real ``baton worker``
processes with a short ``--lease``, and while they work it

- kills a random worker (one running jobs, when one is) with SIGKILL every ``kill_every`` seconds and starts
  a new one in its place (new id);
- sends SIGHUP to a random worker every ``hup_every`` seconds: it restarts its database connection pool.

Every service task is an ``http`` agent calling :class:`SideEffects`, a small HTTP server on 127.0.0.1 that
records each call (time, ``Idempotency-Key`` header, job id, attempt, instance, element) before answering
after ``call_time`` seconds, so a worker killed during a call leaves a side effect behind that the next
attempt repeats: those are the duplicates, visible by job id.

:func:`check` then verifies the invariants (:class:`Report`): every instance completed, each service task and
timer completed exactly once in the history with its output in the variables, every call carried its
idempotency key, no job is left (none leased by a dead worker), and every job a killed worker held ran again
elsewhere, within the lease time (recovery = kill to the next attempt's call).
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import Engine, Settings  # noqa: E402

KEY = "bench_faults"
DIAGRAM = HERE / "processes" / f"{KEY}.bpmn"
SERVICE_TASKS = ("Reserve", "Charge", "Ship", "Notify", "Close")
TIMERS = ("Wait1", "Wait2")


@dataclass
class Plan:
    """What one fault run does (the defaults are the full run of ``bench/faults.py``)."""

    instances: int = 1000
    workers: int = 3
    threads: int = 4
    lease: float = 6.0
    kill_every: float = 4.0
    max_kills: int | None = None  # None: keep killing until every instance completed
    min_kills: int = 0  # the run does not end before this many kills (a small run may finish first)
    hup_every: float = 5.0
    call_time: float = 0.05
    give_up_after: float = 1800.0


@dataclass
class Call:
    at: float
    key: str
    job_id: str
    attempt: int
    instance_id: str
    element_id: str


@dataclass
class Kill:
    worker_id: str
    at: float
    held: dict[str, int]  # job id -> attempt the dead worker was running
    recovery: dict[str, float | None] = field(default_factory=dict)  # job id -> seconds until it ran again


@dataclass
class Report:
    instances: int
    completed: int
    kills: int
    pool_restarts: int
    worker_crashes: int
    calls: int
    duplicate_calls: int
    repeated_keys: int
    jobs_left: int
    jobs_left_leased: int
    held_at_kills: int
    leases_lost: int  # by live workers (their heartbeat fell behind): each one is a duplicate call too
    lease: float
    max_recovery: float | None
    p50_recovery: float | None
    seconds: float
    problems: list[str]

    @property
    def recovery_ratio(self) -> float | None:
        """Longest recovery over the lease time: below 1 is the contract."""
        return None if self.max_recovery is None else self.max_recovery / self.lease

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recovery_ratio": self.recovery_ratio}


# ------------------------------------------------------------------------------------------ the side effect


class SideEffects:
    """An HTTP endpoint on 127.0.0.1 that records every call it gets, with its idempotency key."""

    def __init__(self, call_time: float) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                try:
                    context = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["context"]
                except (ValueError, KeyError):  # the caller died while sending: no call, nothing recorded
                    return
                call = Call(
                    time.time(),
                    self.headers.get("Idempotency-Key", ""),
                    context["job_id"],
                    context["attempt"],
                    context["instance_id"],
                    context["element_id"],
                )
                with recorder._lock:
                    recorder.calls.append(call)
                time.sleep(call_time)
                answer = json.dumps({call.element_id: call.attempt}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller was killed during the call: the side effect happened all the same

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/effect"
        self._thread = threading.Thread(target=self.server.serve_forever, name="side-effects", daemon=True)

    def __enter__(self) -> SideEffects:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)


# ------------------------------------------------------------------------------------------ the workers


class Workers:
    """``plan.workers`` real ``baton worker`` processes in ``folder``; killed, hung up on and replaced."""

    def __init__(self, plan: Plan, database_url: str, folder: Path, effects_url: str) -> None:
        self.plan = plan
        self.folder = folder
        (folder / "baton.toml").write_text(
            f'[worker]\nthreads = {plan.threads}\npoll = "PT0.2S"\n\n'
            f'[agents.effect]\nadapter = "http"\nurl = "{effects_url}"\ntimeout = "PT30S"\nretries = 50\n'
            'backoff = { base = "PT0.2S", cap = "PT1S" }\n'
        )
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {
            **os.environ,
            "BATON_DATABASE_URL": database_url,
            "BATON_LOG_LEVEL": "WARNING",
            "BATON_TIMER_POLL": "1",
            "BATON_AUTO_MIGRATE": "false",
            "PYTHONPATH": path,
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ids: list[str] = []
        self.generation = 0
        self.crashes = 0
        self.dead: set[str] = set()

    def _spawn(self, slot: int) -> None:
        self.generation += 1
        worker_id = f"w{slot + 1}-{self.generation}"
        log = open(self.folder / f"{worker_id}.log", "wb")  # noqa: SIM115 - the child keeps it open
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--id", worker_id, "--lease", str(self.plan.lease)],
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if slot == len(self.procs):
            self.procs.append(proc)
            self.ids.append(worker_id)
        else:
            self.procs[slot], self.ids[slot] = proc, worker_id

    def start(self) -> None:
        for slot in range(self.plan.workers):
            self._spawn(slot)

    def kill(self, slot: int) -> str:
        """SIGKILL the worker in ``slot`` (waits until it is gone); returns its id."""
        proc = self.procs[slot]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.dead.add(self.ids[slot])
        return self.ids[slot]

    def replace(self, slot: int) -> None:
        self._spawn(slot)

    def ready(self, slot: int) -> bool:
        """Whether the worker in ``slot`` has started (and handles SIGHUP: before that, SIGHUP ends a process)."""
        return f"worker {self.ids[slot]} running" in self.log_tail(self.ids[slot], 100_000)

    def hang_up(self, slot: int) -> bool:
        """SIGHUP the worker in ``slot`` if it has started; returns whether it was sent."""
        if not self.ready(slot):
            return False
        os.kill(self.procs[slot].pid, signal.SIGHUP)
        return True

    def respawn_crashed(self) -> None:
        for slot, proc in enumerate(self.procs):
            if proc.poll() is not None:  # died without being killed: a bug, counted and reported
                self.crashes += 1
                self.dead.add(self.ids[slot])
                self._spawn(slot)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def count_in_logs(self, text: str) -> int:
        return sum(p.read_text(errors="replace").count(text) for p in self.folder.glob("w*.log"))

    def log_tail(self, worker_id: str, chars: int = 2000) -> str:
        path = self.folder / f"{worker_id}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# ------------------------------------------------------------------------------------------ the run


def run(plan: Plan, database_url: str, folder: Path, progress: Callable[[str], None] = lambda _: None) -> Report:
    """Run ``plan`` against ``database_url`` (a migrated, empty PostgreSQL schema); ``folder`` holds the logs."""
    rng = random.Random()
    engine = Engine(Settings(database_url=database_url))  # migrates an empty schema
    try:
        engine.deploy([DIAGRAM])
        with SideEffects(plan.call_time) as effects:
            workers = Workers(plan, database_url, folder, effects.url)
            t0 = time.monotonic()
            ids = []
            for n in range(plan.instances):
                ids.append(engine.start(KEY, {"order": n}).id)
                if (n + 1) % 200 == 0:
                    progress(f"started {n + 1}/{plan.instances} instances")
            workers.start()
            kills: list[Kill] = []
            hups = 0
            try:
                kills, hups = _faults(plan, engine, workers, rng, progress)
            finally:
                workers.stop()
            seconds = time.monotonic() - t0
            return check(plan, engine, ids, effects.snapshot(), kills, hups, workers, seconds)
    finally:
        engine.close()


def _faults(
    plan: Plan, engine: Engine, workers: Workers, rng: random.Random, progress: Callable[[str], None]
) -> tuple[list[Kill], int]:
    """Kill and hang up on workers until every instance completed (or ``give_up_after``)."""
    kills: list[Kill] = []
    hups = 0
    start = time.monotonic()
    next_kill, next_hup, next_look = start + plan.kill_every, start + plan.hup_every, start
    while True:
        now = time.monotonic()
        if now >= next_look:
            counts = engine.count_by_status()
            done = counts.get("completed", 0)
            stuck = sum(n for status, n in counts.items() if status in ("incident", "failed"))
            if done + stuck >= plan.instances and len(kills) >= plan.min_kills:
                return kills, hups  # all completed, or the rest can go no further (reported by check)
            if now - start > plan.give_up_after:
                return kills, hups
            if set(counts) - {"completed", "running", "waiting"}:
                progress(f"instances by status: {counts}")
            next_look = now + 1.0
        workers.respawn_crashed()
        if now >= next_kill and (plan.max_kills is None or len(kills) < plan.max_kills):
            busy = {j.lock_owner for j in engine.jobs(status="locked", limit=100_000)}
            slots = [n for n, w in enumerate(workers.ids) if w in busy] or list(range(plan.workers))
            slot = rng.choice(slots)  # a worker running jobs, when one is
            at = time.time()
            worker_id = workers.kill(slot)
            held = {j.id: j.attempt for j in engine.jobs(status="locked", limit=100_000) if j.lock_owner == worker_id}
            kills.append(Kill(worker_id, at, held))
            workers.replace(slot)
            progress(f"killed {worker_id} holding {len(held)} job(s); {done}/{plan.instances} completed")
            next_kill = now + plan.kill_every
        if now >= next_hup:
            hups += workers.hang_up(rng.randrange(plan.workers))
            next_hup = now + plan.hup_every
        time.sleep(0.05)


def check(
    plan: Plan,
    engine: Engine,
    ids: list[str],
    calls: list[Call],
    kills: list[Kill],
    hups: int,
    workers: Workers,
    seconds: float,
) -> Report:
    """The invariants after a run; each broken one is a line of ``Report.problems``."""
    problems: list[str] = []
    counts = engine.count_by_status()
    if counts != {"completed": len(ids)}:
        problems.append(f"not every instance completed: {counts}")
    for instance_id in ids:
        problems += _instance_problems(engine, instance_id)
    by_job: dict[str, list[Call]] = collections.defaultdict(list)
    for c in calls:
        by_job[c.job_id].append(c)
        if c.key != f"{c.job_id}:{c.attempt}":
            problems.append(f"call of job {c.job_id} attempt {c.attempt} had idempotency key {c.key!r}")
    keys = collections.Counter(c.key for c in calls)
    per_task = collections.Counter((c.instance_id, c.element_id) for c in calls)
    missing = len(ids) * len(SERVICE_TASKS) - len(per_task)
    if missing:
        problems.append(f"{missing} service task(s) completed without a call to the side-effect endpoint")
    left = engine.jobs(limit=100_000)
    leased = [j for j in left if j.status == "locked"]
    for j in leased:
        owner = "a dead worker" if j.lock_owner in workers.dead else "a worker"
        problems.append(f"job {j.id} ({j.element_id}) is still leased by {owner} {j.lock_owner}")
    recoveries = _recoveries(kills, by_job, engine)
    for kill in kills:
        for job_id, took in kill.recovery.items():
            if took is None:
                problems.append(f"job {job_id} held by killed worker {kill.worker_id} never ran again")
            elif took >= plan.lease:
                problems.append(
                    f"job {job_id} of killed worker {kill.worker_id} ran again after {took:.2f} s, "
                    f"not within the lease ({plan.lease:g} s)"
                )
    if workers.crashes:
        tails = "; ".join(workers.log_tail(w, 400) for w in sorted(workers.dead)[:3])
        problems.append(f"{workers.crashes} worker(s) exited without being killed: {tails}")
    return Report(
        instances=len(ids),
        completed=counts.get("completed", 0),
        kills=len(kills),
        pool_restarts=hups,
        worker_crashes=workers.crashes,
        calls=len(calls),
        duplicate_calls=sum(n - 1 for n in per_task.values()),
        repeated_keys=sum(n - 1 for n in keys.values()),
        jobs_left=len(left),
        jobs_left_leased=len(leased),
        held_at_kills=sum(len(k.held) for k in kills),
        leases_lost=workers.count_in_logs("lease of a running job was lost"),
        lease=plan.lease,
        max_recovery=max(recoveries) if recoveries else None,
        p50_recovery=statistics.median(recoveries) if recoveries else None,
        seconds=seconds,
        problems=problems,
    )


def _instance_problems(engine: Engine, instance_id: str) -> list[str]:
    history = engine.history(instance_id)
    done = collections.Counter(h.element_id for h in history if h.event == "activity_completed")
    jobs = collections.Counter(h.element_id for h in history if h.event == "job_completed")
    fired = collections.Counter(h.element_id for h in history if h.event == "timer_fired")
    problems = [
        f"instance {instance_id}: {e} completed {done[e]} times, job completed {jobs[e]} times"
        for e in SERVICE_TASKS
        if done[e] != 1 or jobs[e] != 1
    ]
    # a timer already due when another call advances the instance fires in that call, with no timer_fired entry
    problems += [
        f"instance {instance_id}: timer {t} completed {done[t]} times, fired {fired[t]} times"
        for t in TIMERS
        if done[t] != 1 or fired[t] > 1
    ]
    variables = engine.get_instance(instance_id).variables
    lost = [e for e in SERVICE_TASKS if e not in variables]
    if lost:
        problems.append(f"instance {instance_id}: the results of {', '.join(lost)} are missing (a lost write)")
    return problems


def _recoveries(kills: list[Kill], by_job: dict[str, list[Call]], engine: Engine) -> list[float]:
    """Fill each kill's ``recovery``: seconds from the kill to the next attempt's call of each job it held.

    A held job with no later call is fine only if the history shows the dead worker completed it (its commit
    was on its way when it died); otherwise it stays None, a problem.
    """
    found = []
    for kill in kills:
        for job_id, attempt in kill.held.items():
            later = [c.at for c in by_job.get(job_id, []) if c.attempt > attempt]
            if later:
                kill.recovery[job_id] = max(0.0, min(later) - kill.at)
                found.append(kill.recovery[job_id])
            elif not _completed_by(engine, by_job.get(job_id, []), job_id, kill.worker_id):
                kill.recovery[job_id] = None
    return found


def _completed_by(engine: Engine, calls: list[Call], job_id: str, worker_id: str) -> bool:
    if not calls:
        return False
    return any(
        h.event == "job_completed" and h.details.get("job_id") == job_id and h.details.get("worker") == worker_id
        for h in engine.history(calls[0].instance_id)
    )


def summary(report: Report) -> str:
    """The report as a few aligned lines."""

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    ratio = "-" if report.recovery_ratio is None else f"{report.recovery_ratio:.2f}"
    return "\n".join(
        [
            f"instances            {report.instances} ({report.completed} completed) in {report.seconds:.0f} s",
            f"kills                {report.kills} (SIGKILL, jobs held at the kills: {report.held_at_kills})",
            f"pool restarts        {report.pool_restarts} (SIGHUP)",
            f"worker crashes       {report.worker_crashes}",
            f"leases lost          {report.leases_lost} (by live workers)",
            f"adapter calls        {report.calls}, duplicates {report.duplicate_calls} "
            f"(repeated idempotency keys {report.repeated_keys})",
            f"jobs left            {report.jobs_left} (leased: {report.jobs_left_leased})",
            f"recovery             max {secs(report.max_recovery)}, p50 {secs(report.p50_recovery)}, "
            f"lease {report.lease:g} s, max/lease {ratio}",
            f"problems             {len(report.problems)}",
            *[f"  - {p}" for p in report.problems[:20]],
        ]
    )
