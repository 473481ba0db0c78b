"""Service-task jobs per second through Baton's workers next to raw SpiffWorkflow, and the external-worker round trip.

    python bench/jobs.py                  # default run: SQLite, plus PostgreSQL at 127.0.0.1 when reachable
    python bench/jobs.py --quick          # ~10 s smoke run
    python bench/jobs.py --json           # machine-readable results on stdout
    python bench/jobs.py --no-postgres    # SQLite only
    python bench/jobs.py --database-url postgresql+psycopg://user@host/db   # PostgreSQL there instead
    python bench/jobs.py --profile 500    # cProfile of the job path: where the time of one job goes

The diagram is ``bench/processes/bench_service.bpmn``: ten external service tasks (topic ``noop``) in a row.

A. Jobs per second, start to completed (10 jobs per instance):

- ``raw``: SpiffWorkflow alone, in memory: per instance ``BpmnWorkflow(spec, subs)``, ``do_engine_steps()``, then
  ``task.complete()`` for each STARTED service task and ``do_engine_steps()`` until the instance completes;
- ``threads``: ``Engine.start`` N instances while a ``Worker`` (thread pool, ``--threads``) runs the ``noop``
  topic with the ``python`` adapter (``bench/noop_agent.py``), until all N are completed;
- ``run_once``: the same jobs run by ``Worker.run_once()`` in a loop in this thread (no pool, no worker loop),
  which separates the worker's own overhead from the engine's cost per job.

B. External-worker round trip: the real web app (``web.create_app``) served by waitress, as ``baton serve``
does, and an httpx client that does fetch-and-lock (one task) then complete, over and over; p50/p90/p99 of the
round trip and of each call, next to the same round trip in process (``engine.claim_jobs`` then
``engine.complete_job``), so the figure shows what HTTP adds.

Measurements are interleaved (every round runs every variant, in alternating order) and medians are reported,
as in ``bench/run.py``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import math
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):  # the engine from a checkout; run.py and noop_agent.py next to this file
    if _path not in sys.path:
        sys.path.insert(0, _path)

import httpx  # noqa: E402
from run import Rates, _redact, environment, load_spec, paired  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from waitress import wasyncore  # noqa: E402
from waitress.server import create_server  # noqa: E402

from engine import Engine, Settings  # noqa: E402
from engine.agents import AgentConfig  # noqa: E402
from engine.errors import ConcurrentModification  # noqa: E402
from engine.store import job_queries as jq  # noqa: E402
from engine.store import queries as q  # noqa: E402
from engine.worker import Worker  # noqa: E402
from web import create_app  # noqa: E402

KEY = "bench_service"
DIAGRAM = HERE / "processes" / f"{KEY}.bpmn"
TOPIC = "noop"
JOBS_PER_INSTANCE = 10
AGENT = AgentConfig(topic=TOPIC, adapter="python", options={"function": "noop_agent:noop"})
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
API = "/api/v1/external-tasks"
LOCK_MS = 60_000
SERVER_THREADS = 8  # as `baton serve`
ROUND_TIMEOUT = 300.0
DEFAULTS = {"instances": 20, "rounds": 9, "warmup": 5, "round_trips": 300}
QUICK = {"instances": 5, "rounds": 3, "warmup": 2, "round_trips": 60}
RT_CHUNK = 25  # round trips per interleaved block (HTTP, then in process, alternating)


# ------------------------------------------------------------------------------------------ A: jobs per second

def raw_runner(spec: Any, subs: dict[str, Any]) -> Callable[[int], None]:
    """``n`` in-memory SpiffWorkflow instances, each run to completion by completing its STARTED service tasks."""

    def run(n: int) -> None:
        done = 0
        for _ in range(n):
            workflow = BpmnWorkflow(spec, subs)
            workflow.do_engine_steps()
            while not workflow.completed:
                started = workflow.get_tasks(state=TaskState.STARTED)
                if not started:
                    raise AssertionError("raw SpiffWorkflow instance is stuck with no STARTED service task")
                for task in started:
                    task.complete()
                    done += 1
                workflow.do_engine_steps()
        if done != JOBS_PER_INSTANCE * n:
            raise AssertionError(f"raw SpiffWorkflow completed {done} service tasks, expected {JOBS_PER_INSTANCE * n}")

    return run


class Problems(logging.Handler):
    """Counts the warnings and errors Baton logs (failed jobs, rejected results) during the run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.last = f"{record.name}: {record.getMessage()}"


class Backend:
    """An Engine over one database with ``bench_service`` deployed, and the two ways of running its jobs."""

    def __init__(self, label: str, url: str, threads: int) -> None:
        self.label, self.url, self.threads = label, url, threads
        self.engine = Engine(Settings(database_url=url))
        self.engine.deploy([DIAGRAM], source="bench/jobs.py")
        self.agents = {TOPIC: AGENT}
        self.single = Worker(self.engine, self.agents, threads=threads, worker_id="bench-run-once")  # never started
        self.conflicts: list[int] = []  # one entry per complete_job attempt that hit a concurrent writer
        # completed jobs are counted where they are committed, so the main thread can wait for the last one
        # without polling the database (a poll loop would compete with the worker's threads for the GIL)
        self._count_lock = threading.Lock()
        self._completed = 0
        self._target: int | None = None
        self._all_done = threading.Event()
        inner = self.engine._complete_job

        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                result = inner(*args, **kwargs)
            except ConcurrentModification:
                self.conflicts.append(1)  # list.append is atomic: safe from the worker's threads
                raise
            with self._count_lock:
                self._completed += 1
                if self._target is not None and self._completed >= self._target:
                    self._all_done.set()
            return result

        self.engine._complete_job = counted  # type: ignore[method-assign]  # retry_conflicts calls it again

    def start_instances(self, n: int) -> list[str]:
        start = self.engine.start
        return [start(KEY).id for _ in range(n)]

    def _open_jobs(self) -> int:
        stmt = select(func.count()).select_from(jq.jobs).where(jq.jobs.c.status.in_([jq.READY, jq.LOCKED]))
        with self.engine.db.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def check_completed(self, ids: list[str]) -> None:
        """Every instance of the block completed (outside the timed part)."""
        found: dict[str, int] = {}
        with self.engine.db.connect() as conn:
            for i in range(0, len(ids), 500):
                stmt = (select(q.instances.c.status, func.count()).where(q.instances.c.id.in_(ids[i:i + 500]))
                        .group_by(q.instances.c.status))
                for status, count in conn.execute(stmt):
                    found[status] = found.get(status, 0) + count
        if found != {"completed": len(ids)}:
            raise AssertionError(f"{self.label}: instances ended {found}, expected {len(ids)} completed")

    def run_threads(self, n: int, into: Rates | None) -> None:
        """Start ``n`` instances with a started Worker running; timed until their last job is committed."""
        if n < 1:
            raise ValueError("run_threads needs at least one instance")
        gc.collect()
        with self._count_lock:
            self._completed, self._target = 0, JOBS_PER_INSTANCE * n
            self._all_done.clear()
        worker = Worker(self.engine, self.agents, threads=self.threads, worker_id=f"bench-{uuid.uuid4().hex[:6]}")
        worker.start()
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            ids = self.start_instances(n)
            finished = self._all_done.wait(ROUND_TIMEOUT)
            t1, c1 = time.perf_counter(), time.process_time()
        finally:
            worker.stop()
            self._target = None
        if not finished:
            raise AssertionError(f"{self.label}: the worker completed {self._completed} of {JOBS_PER_INSTANCE * n} "
                                 f"jobs in {ROUND_TIMEOUT:.0f} s")
        if self._open_jobs():
            raise AssertionError(f"{self.label}: jobs are still open after {JOBS_PER_INSTANCE * n} completions")
        self.check_completed(ids)
        _record(into, n, t1 - t0, c1 - c0)

    def run_once(self, n: int, into: Rates | None) -> None:
        """Start ``n`` instances, then ``Worker.run_once()`` in this thread until no job is due."""
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        ids = self.start_instances(n)
        run_once = self.single.run_once
        while run_once(self.threads):
            pass
        t1, c1 = time.perf_counter(), time.process_time()
        self.check_completed(ids)
        _record(into, n, t1 - t0, c1 - c0)

    def close(self) -> None:
        self.engine.close()


def _record(into: Rates | None, instances: int, wall: float, cpu: float) -> None:
    if into is not None:
        into.wall.append(JOBS_PER_INSTANCE * instances / wall)
        into.cpu.append(JOBS_PER_INSTANCE * instances / max(cpu, 1e-9))


def _timed_raw(run: Callable[[int], None]) -> Callable[[int, Rates | None], None]:
    def timed(n: int, into: Rates | None) -> None:
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        run(n)
        t1, c1 = time.perf_counter(), time.process_time()
        _record(into, n, t1 - t0, c1 - c0)

    return timed


@dataclass
class JobRow:
    backend: str
    worker: str
    threads: int | None
    raw: Rates
    baton: Rates = field(default_factory=Rates)
    conflicts: int = 0

    def summary(self) -> dict[str, Any]:
        ratios = paired(self.baton.wall, self.raw.wall)
        return {
            "backend": self.backend,
            "worker": self.worker,
            "threads": self.threads,
            "raw_jobs_per_s": statistics.median(self.raw.wall),
            "baton_jobs_per_s": statistics.median(self.baton.wall),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "cpu_ratio": statistics.median(paired(self.baton.cpu, self.raw.cpu)),
            "conflicts": self.conflicts,
            "rounds": {"raw": self.raw.wall, "baton": self.baton.wall},
        }


def measure_jobs(args: argparse.Namespace, backends: list[Backend], progress: Callable[[str], None]) -> list[JobRow]:
    spec, subs = load_spec(KEY)
    raw_rates = Rates()
    steps: list[tuple[str, Callable[[int, Rates | None], None], Rates]] = [
        ("raw", _timed_raw(raw_runner(spec, subs)), raw_rates)]
    rows: list[JobRow] = []
    for backend in backends:
        for worker, run in (("threads", backend.run_threads), ("run_once", backend.run_once)):
            row = JobRow(backend.label, worker, backend.threads if worker == "threads" else None, raw_rates)
            steps.append((f"{backend.label}/{worker}", run, row.baton))
            rows.append(row)

    if args.warmup:
        progress(f"A. warm-up: {args.warmup} instances per variant")
        for _label, run, _into in steps:
            run(args.warmup, None)
    conflicts_before = {b.label: len(b.conflicts) for b in backends}
    for r in range(args.rounds):
        for _label, run, into in (reversed(steps) if r % 2 else steps):
            run(args.instances, into)
        rates = ", ".join(f"{label} {into.wall[-1]:.0f}" for label, _run, into in steps)
        progress(f"A. round {r + 1}/{args.rounds}, jobs/s: {rates}")
    for backend in backends:
        for row in rows:
            if row.backend == backend.label and row.worker == "threads":
                row.conflicts = len(backend.conflicts) - conflicts_before[backend.label]
    return rows


# ------------------------------------------------------------------------------------------ B: round trip

def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean/max of durations in seconds, as milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else samples * 99
    return {"p50_ms": cuts[49] * 1e3, "p90_ms": cuts[89] * 1e3, "p99_ms": cuts[98] * 1e3,
            "mean_ms": statistics.fmean(samples) * 1e3, "max_ms": max(samples) * 1e3}


@dataclass
class Trips:
    """Durations in seconds of each round trip and of its two halves."""

    round_trip: list[float] = field(default_factory=list)
    fetch: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    empty: int = 0  # fetches that found no job (should stay 0: the benchmark keeps jobs available)

    def add(self, t0: float, t1: float, t2: float) -> None:
        self.round_trip.append(t2 - t0)
        self.fetch.append(t1 - t0)
        self.complete.append(t2 - t1)

    def summary(self) -> dict[str, Any]:
        return {"round_trip": percentiles(self.round_trip), "fetch": percentiles(self.fetch),
                "complete": percentiles(self.complete), "samples": len(self.round_trip), "empty_fetches": self.empty}


def http_trip(client: httpx.Client, worker_id: str) -> Callable[[Trips | None], None]:
    fetch_body = {"workerId": worker_id, "maxTasks": 1, "asyncResponseTimeout": 0,
                  "topics": [{"topicName": TOPIC, "lockDuration": LOCK_MS}]}
    complete_body = {"workerId": worker_id, "variables": {}}

    def once(into: Trips | None) -> None:
        t0 = time.perf_counter()
        response = client.post(f"{API}/fetch-and-lock", json=fetch_body)
        if response.status_code != 200:
            raise AssertionError(f"fetch-and-lock answered {response.status_code}: {response.text[:300]}")
        tasks = response.json()
        t1 = time.perf_counter()
        if not tasks:
            if into is not None:
                into.empty += 1
            return
        done = client.post(f"{API}/{tasks[0]['id']}/complete", json=complete_body)
        t2 = time.perf_counter()
        if done.status_code != 204:
            raise AssertionError(f"complete answered {done.status_code}: {done.text[:300]}")
        if into is not None:
            into.add(t0, t1, t2)

    return once


def engine_trip(engine: Engine, worker_id: str) -> Callable[[Trips | None], None]:
    claim, complete = engine.claim_jobs, engine.complete_job

    def once(into: Trips | None) -> None:
        t0 = time.perf_counter()
        jobs = claim(worker_id, [TOPIC], limit=1, lock_seconds=LOCK_MS / 1000)
        t1 = time.perf_counter()
        if not jobs:
            if into is not None:
                into.empty += 1
            return
        complete(jobs[0].id, worker_id, {})
        t2 = time.perf_counter()
        if into is not None:
            into.add(t0, t1, t2)

    return once


@contextmanager
def serving(engine: Engine) -> Iterator[str]:
    """The real app on 127.0.0.1 (a free port), served by waitress in a background thread; yields its URL."""
    server = create_server(create_app({"SECRET_KEY": "bench"}, engine=engine), host="127.0.0.1", port=0,
                           threads=SERVER_THREADS, ident="baton")
    thread = threading.Thread(target=server.run, name="bench-waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)
        thread.join(5)


def measure_round_trips(args: argparse.Namespace, backend: Backend, progress: Callable[[str], None]) -> dict[str, Any]:
    engine = backend.engine
    warmup = max(1, args.warmup * 2)
    needed = 2 * (warmup + args.round_trips)
    backend.start_instances(math.ceil(needed / JOBS_PER_INSTANCE) + 2)  # so a fetch always finds a job
    http, local = Trips(), Trips()
    worker = engine.add_user(f"bench-worker-{uuid.uuid4().hex[:6]}", "operator", None)  # workers use a token
    _, token = engine.create_token(worker.name, "bench")
    headers = {"Authorization": f"Bearer {token}"}
    with serving(engine) as url, httpx.Client(base_url=url, timeout=30.0, headers=headers) as client:
        paths = [(http_trip(client, "bench-http"), http), (engine_trip(engine, "bench-local"), local)]
        for once, _into in paths:
            for _ in range(warmup):
                once(None)
        gc.collect()
        blocks = math.ceil(args.round_trips / RT_CHUNK)
        for b in range(blocks):
            size = min(RT_CHUNK, args.round_trips - b * RT_CHUNK)
            for once, into in (reversed(paths) if b % 2 else paths):
                for _ in range(size):
                    once(into)
        progress(f"B. {backend.label}: {len(http.round_trip)} HTTP and {len(local.round_trip)} in-process "
                 "round trips")
    out = {"backend": backend.label, "server": f"waitress, {SERVER_THREADS} threads", "client": "httpx keep-alive",
           "http": http.summary(), "in_process": local.summary()}
    h, i = out["http"]["round_trip"], out["in_process"]["round_trip"]
    out.update(ratio_p50=h["p50_ms"] / i["p50_ms"], ratio_p99=h["p99_ms"] / i["p99_ms"],
               added_p50_ms=h["p50_ms"] - i["p50_ms"], added_p99_ms=h["p99_ms"] - i["p99_ms"])
    return out


# ------------------------------------------------------------------------------------------ profile

PROFILE_PHASES = [  # (label, depth, file suffix, function name): inclusive cProfile time per job
    ("claim: Engine.claim_jobs (Worker._claim)", 0, "engine/worker.py", "_claim"),
    ("give back expired leases (Engine.expire_locks)", 1, "engine/jobs.py", "expire_locks"),
    ("open circuits (_circuit_filter)", 1, "engine/jobs.py", "_circuit_filter"),
    ("claim UPDATE (jq.claim)", 1, "store/job_queries.py", "claim"),
    ("lease per job: UPDATE (jq.update_job)", 1, "store/job_queries.py", "update_job"),
    ("agent: PythonAdapter.call (thread + deepcopy + noop)", 0, "adapters/python.py", "call"),
    ("complete: Engine.complete_job", 0, "engine/jobs.py", "complete_job"),
    ("read job + lease check (_locked_job)", 1, "engine/jobs.py", "_locked_job"),
    ("read instance row (_instance_row)", 1, "engine/runtime.py", "_instance_row"),
    ("load state: json + deserialize (_load)", 1, "engine/runtime.py", "_load"),
    ("snapshot before (execution.snapshot)", 1, "engine/execution.py", "snapshot"),
    ("SpiffWorkflow: task.complete()", 1, "SpiffWorkflow/task.py", "complete"),
    ("SpiffWorkflow: engine steps (execution.run)", 1, "engine/execution.py", "run"),
    ("outcome: status/variables/events (execution.outcome)", 1, "engine/execution.py", "outcome"),
    ("delete job row (jq.delete_job)", 1, "store/job_queries.py", "delete_job"),
    ("circuit success (jq.record_success)", 1, "store/job_queries.py", "record_success"),
    ("save: Engine._save", 1, "engine/runtime.py", "_save"),
    ("serialize state (dump_state)", 2, "engine/serialization.py", "dump_state"),
    ("UPDATE instance (q.update_instance)", 2, "store/queries.py", "update_instance"),
    ("open incidents check (jq.open_incident_count)", 2, "store/job_queries.py", "open_incident_count"),
    ("history + next job (Engine._record)", 2, "engine/runtime.py", "_record"),
    ("INSERT history (q.insert_history)", 3, "store/queries.py", "insert_history"),
    ("INSERT next job (_create_jobs)", 3, "engine/jobs.py", "_create_jobs"),
    ("jobs of ended tasks: SELECT + DELETE (_remove_jobs)", 3, "engine/jobs.py", "_remove_jobs"),
    ("human tasks sync (q.sync_human_tasks)", 3, "store/queries.py", "sync_human_tasks"),
    ("COMMIT (Connection._commit_impl)", 1, "sqlalchemy/engine/base.py", "_commit_impl"),
    ("start: Engine.start (1 per 10 jobs)", 0, "engine/runtime.py", "start"),
]
CROSS_CUTTING = [  # everywhere in the job path
    ("SQL: SQLAlchemy Connection.execute (build, bind, run, fetch)", "sqlalchemy/engine/base.py", "execute"),
    ("SQL: driver cursor.execute (sqlite3 / psycopg)", None, "execute"),
    ("SQL: COMMIT in the driver", None, "commit"),
    ("transactions: pool checkout", "sqlalchemy/pool/base.py", "_checkout"),
    ("transactions: pool checkin", "sqlalchemy/pool/base.py", "_checkin"),
    ("state: json.dumps + json.loads", "json/__init__.py", None),
]


def _stat(stats: dict[Any, Any], suffix: str | None, name: str | None, driver: bool = False) -> tuple[float, int]:
    """Inclusive seconds and primitive calls of the matching functions (summed when several match)."""
    total, calls = 0.0, 0
    for (filename, _line, fname), (cc, _nc, _tt, ct, _callers) in stats.items():
        if driver:  # C methods: "<method 'execute' of 'sqlite3.Cursor' objects>" or psycopg's Cursor.execute
            hit = (fname in (f"<method '{name}' of 'sqlite3.Cursor' objects>",
                             f"<method '{name}' of 'sqlite3.Connection' objects>")
                   or (filename.endswith(("psycopg/cursor.py", "psycopg/connection.py")) and fname == name))
        else:
            hit = filename.replace("\\", "/").endswith(suffix or "") and (name is None or fname == name)
            if name is None:
                hit = hit and fname in ("dumps", "loads")
        if hit:
            total += ct
            calls += cc
    return total, calls


def profile(args: argparse.Namespace, backend: Backend, out: Callable[[str], None]) -> None:
    """cProfile over ``Worker.run_once`` in this thread: where the time of one job goes."""
    instances = max(1, math.ceil(args.profile / JOBS_PER_INSTANCE))
    jobs = instances * JOBS_PER_INSTANCE
    backend.run_once(max(args.warmup, 5), None)
    gc.collect()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    backend.run_once(instances, None)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    out(f"\nProfile of the job path on {backend.label}: {jobs} jobs ({instances} instances) by Worker.run_once in "
        f"this thread, cProfile; {wall / jobs * 1e3:.2f} ms per job under the profiler "
        f"(profiled total {total / jobs * 1e3:.2f} ms/job)")
    out(f"  {'ms/job':>7}  {'share':>6}  {'calls/job':>9}  phase (inclusive; indented = inside the line above)")
    for label, depth, suffix, name in PROFILE_PHASES:
        seconds, calls = _stat(raw, suffix, name)
        if calls:  # a function the engine no longer has is left out
            out(f"  {seconds / jobs * 1e3:7.3f}  {seconds / total:6.1%}  {calls / jobs:9.2f}  {'  ' * depth}{label}")
    out("  cross-cutting:")
    for label, suffix, name in CROSS_CUTTING:
        seconds, calls = _stat(raw, suffix, name, driver=suffix is None)
        out(f"  {seconds / jobs * 1e3:7.3f}  {seconds / total:6.1%}  {calls / jobs:9.2f}  {label}")
    if args.profile_top:
        buffer = io.StringIO()
        pstats.Stats(prof, stream=buffer).sort_stats("tottime").print_stats(args.profile_top)
        out(f"\ncProfile, top {args.profile_top} functions by own time:")
        out(buffer.getvalue())


# ------------------------------------------------------------------------------------------ databases

def pg_problem(url: str) -> str | None:
    """None when the server answers, else the first line of the error."""
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", reported as such
        return str(exc).strip().splitlines()[0]


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A schema of our own in that database (as tests/conftest.py does); dropped at the end."""
    schema = f"baton_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_version(url: str) -> str | None:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return str(conn.execute(text("show server_version")).scalar())
    finally:
        eng.dispose()


# ------------------------------------------------------------------------------------------ reporting

def _table(head: list[str], lines: list[list[str]], left: set[int]) -> str:
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                 strict=True)))

    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *(fmt(line) for line in lines)])


def jobs_table(rows: list[dict[str, Any]]) -> str:
    head = ["db", "worker", "raw jobs/s", "baton jobs/s", "baton/raw", "(min-max)", "cpu ratio", "conflicts"]
    lines = [[r["backend"], f"threads ({r['threads']})" if r["threads"] else r["worker"],
              f"{r['raw_jobs_per_s']:.0f}", f"{r['baton_jobs_per_s']:.0f}", f"{r['ratio']:.3f}",
              f"{r['ratio_min']:.3f}-{r['ratio_max']:.3f}", f"{r['cpu_ratio']:.3f}",
              str(r["conflicts"]) if r["worker"] == "threads" else "-"] for r in rows]
    return _table(head, lines, {0, 1})


def trips_table(results: list[dict[str, Any]]) -> str:
    head = ["db", "measured", "n", "p50 ms", "p90 ms", "p99 ms", "mean ms", "max ms"]
    lines = []
    for r in results:
        for path, title, parts in (("http", "HTTP fetch-and-lock -> complete", ("fetch-and-lock", "complete")),
                                   ("in_process", "in process claim_jobs -> complete_job",
                                    ("claim_jobs", "complete_job"))):
            s = r[path]
            for key, label in (("round_trip", title), ("fetch", f"  {parts[0]}"), ("complete", f"  {parts[1]}")):
                p = s[key]
                lines.append([r["backend"], label, str(s["samples"]), f"{p['p50_ms']:.2f}", f"{p['p90_ms']:.2f}",
                              f"{p['p99_ms']:.2f}", f"{p['mean_ms']:.2f}", f"{p['max_ms']:.2f}"])
    return _table(head, lines, {0, 1})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python bench/jobs.py",
        description="Service-task jobs/second through Baton's workers next to raw in-memory SpiffWorkflow "
                    "completing the same tasks, and the external-worker round trip over HTTP (p50/p99).")
    ap.add_argument("--quick", action="store_true", help="a ~10 s smoke run (fewer instances, rounds, round trips)")
    ap.add_argument("--instances", type=int, metavar="N",
                    help=f"instances (x10 jobs) per variant per round (default {DEFAULTS['instances']}, "
                         f"--quick {QUICK['instances']})")
    ap.add_argument("--rounds", type=int, metavar="R",
                    help=f"interleaved rounds; the median is reported (default {DEFAULTS['rounds']}, "
                         f"--quick {QUICK['rounds']})")
    ap.add_argument("--warmup", type=int, metavar="W",
                    help=f"untimed instances per variant first; twice as many untimed round trips "
                         f"(default {DEFAULTS['warmup']}, --quick {QUICK['warmup']})")
    ap.add_argument("--round-trips", type=int, metavar="M",
                    help=f"external-worker round trips measured per path and database "
                         f"(default {DEFAULTS['round_trips']}, --quick {QUICK['round_trips']})")
    ap.add_argument("--threads", type=int, default=4, metavar="T",
                    help="threads of the started Worker, and jobs claimed per run_once (default 4)")
    ap.add_argument("--database-url", metavar="URL",
                    help=f"PostgreSQL to measure (default {DEFAULT_PG} when reachable); a schema of its own is "
                         "created there and dropped at the end")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only")
    ap.add_argument("--no-http", action="store_true", help="skip part B (the external-worker round trip)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout (no table)")
    ap.add_argument("--profile", type=int, metavar="JOBS", default=0,
                    help="instead of the benchmark: cProfile JOBS jobs run by Worker.run_once on each database and "
                         "print where the time of one job goes")
    ap.add_argument("--profile-top", type=int, metavar="N", default=0,
                    help="with --profile: also print cProfile's top N functions by own time")
    args = ap.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.instances < 1 or args.rounds < 1 or args.warmup < 0 or args.round_trips < 2 or args.threads < 1:
        ap.error("--instances, --rounds and --threads must be at least 1, --round-trips at least 2, "
                 "--warmup at least 0")
    if args.database_url and not args.database_url.startswith("postgresql"):
        ap.error("--database-url is for PostgreSQL (SQLite always runs in a temporary folder)")
    if args.database_url and args.no_postgres:
        ap.error("--database-url and --no-postgres contradict each other")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    problems = Problems()
    logging.getLogger("baton").addHandler(problems)
    t0 = time.perf_counter()
    skipped: list[str] = []
    pg_url = None if args.no_postgres else (args.database_url or DEFAULT_PG)
    if pg_url:
        problem = pg_problem(pg_url)
        if problem and args.database_url:
            print(f"PostgreSQL at {_redact(pg_url)} is not reachable: {problem}", file=sys.stderr)
            return 2
        if problem:
            skipped.append(f"postgresql: not reachable at {_redact(pg_url)} ({problem})")
            progress(f"PostgreSQL skipped: {skipped[-1]}")
            pg_url = None
    env = environment(args)
    env.update({name: _version(name) for name in ("waitress", "httpx", "Flask", "psycopg")})
    env["postgresql"] = pg_version(pg_url) if pg_url else None

    with tempfile.TemporaryDirectory(prefix="baton-bench-jobs-") as tmpdir, _maybe_schema(pg_url) as schema_url:
        backends = [Backend("sqlite", f"sqlite:///{tmpdir}/bench.db", args.threads)]
        if schema_url:
            backends.append(Backend("postgresql", schema_url, args.threads))
        try:
            if args.profile:
                for backend in backends:
                    profile(args, backend, print)
                return 0
            job_rows = [row.summary() for row in measure_jobs(args, backends, progress)]
            trips = [] if args.no_http else [measure_round_trips(args, b, progress) for b in backends]
        finally:
            for backend in backends:
                backend.close()

    report = {
        "settings": {"instances": args.instances, "rounds": args.rounds, "warmup": args.warmup,
                     "round_trips": args.round_trips, "threads": args.threads, "quick": args.quick,
                     "process": KEY, "jobs_per_instance": JOBS_PER_INSTANCE,
                     "database_url": _redact(pg_url) if pg_url else None},
        "environment": env,
        "elapsed_s": round(time.perf_counter() - t0, 2),
        "skipped": skipped,
        "logged_problems": problems.count,
        "jobs": job_rows,
        "round_trip": trips,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print()
    print(f"A. Service-task jobs/second, start to completed, {KEY} (10 external service tasks, topic '{TOPIC}', "
          f"python no-op agent); median of {args.rounds} interleaved rounds x {args.instances} instances "
          f"({JOBS_PER_INSTANCE * args.instances} jobs); ratio = median of per-round baton/raw")
    print(f"Python {env['python']}, SpiffWorkflow {env['spiffworkflow']}, SQLAlchemy {env['sqlalchemy']}, "
          f"SQLite {env['sqlite']}" + (f", PostgreSQL {env['postgresql']}" if env["postgresql"] else "")
          + f", {env['cpus']} CPUs; run took {report['elapsed_s']:.0f} s")
    print()
    print(jobs_table(job_rows))
    by_db = {}
    for r in job_rows:
        by_db.setdefault(r["backend"], {})[r["worker"]] = r
    overhead = ", ".join(f"{db} {w['threads']['baton_jobs_per_s'] / w['run_once']['baton_jobs_per_s']:.2f}"
                         for db, w in by_db.items())
    print(f"threaded worker / run_once loop (jobs/s): {overhead}; cpu ratio = the same by CPU time of this "
          "process (blind to I/O waits and to the database server)")
    if trips:
        print()
        print(f"B. External-worker round trip (fetch-and-lock 1 task, then complete), {args.round_trips} per path, "
              f"HTTP blocks and in-process blocks interleaved; server: waitress ({SERVER_THREADS} threads) on "
              "127.0.0.1, client: httpx keep-alive")
        print()
        print(trips_table(trips))
        for r in trips:
            empty = r["http"]["empty_fetches"] + r["in_process"]["empty_fetches"]
            print(f"{r['backend']}: HTTP / in process: p50 x{r['ratio_p50']:.2f} (+{r['added_p50_ms']:.2f} ms), "
                  f"p99 x{r['ratio_p99']:.2f} (+{r['added_p99_ms']:.2f} ms)"
                  + (f"; {empty} empty fetches" if empty else ""))
    for note in skipped:
        print(f"skipped: {note}")
    if problems.count:
        print(f"Baton logged {problems.count} warnings/errors during the run; last: {problems.last}")
    return 0


@contextmanager
def _maybe_schema(url: str | None) -> Iterator[str | None]:
    if url is None:
        yield None
        return
    with pg_schema(url) as schema_url:
        yield schema_url


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
