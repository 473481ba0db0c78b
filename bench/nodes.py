"""Several Baton nodes on one PostgreSQL database: what ``bench/throughput.py``, ``bench/outage.py`` and
``tests/test_db_outage.py`` share.

- :class:`Cluster`: a folder with ``baton.toml`` (topic ``work`` -> ``noop_agent:noop`` or another function
  of ``noop_agent``) from which real
  ``baton worker`` and ``baton serve`` processes are started (``python -m engine``, this checkout), each logging
  to a file of its own;
- :func:`start_instances` and :func:`send_messages`: the instances of ``processes/bench_nodes.bpmn`` and the
  ``go`` message each one waits for (sent to ``baton serve`` over HTTP with a ``ttl``, so it waits for its
  subscription);
- :func:`verify`: every instance completed and the history shows each job, the timer and the message exactly once;
- :class:`PrivatePostgres`: a throw-away PostgreSQL server (``initdb`` + ``pg_ctl``) that may be stopped and
  started again without touching the shared one.
"""

from __future__ import annotations

import collections
import datetime as dt
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from engine import Engine
from engine.store import event_queries as eq
from engine.store import job_queries as jq
from engine.store import queries as q

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "bench_nodes"
DIAGRAM = HERE / "processes" / f"{KEY}.bpmn"
JOBS_PER_INSTANCE = 4
MESSAGE = "go"
TOML = """[worker]
threads = {threads}
poll = "PT0.5S"

[agents.work]
adapter = "python"
function = "noop_agent:{function}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


class Node:
    """One ``baton worker`` or ``baton serve`` process; its log (stderr) goes to ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log = cwd / f"{name}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", *args],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def started(self) -> bool:
        """Whether a ``baton worker`` has said it is running (it then claims jobs); raises if it exited."""
        if not self.alive:
            raise AssertionError(f"{self.name} exited: {self.text()[-2000:]}")
        return " running " in self.text()

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process so far (Linux /proc; None elsewhere or once it exited)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int | None:
        """SIGTERM to its process group; returns the exit status (None when it had already exited: see alive)."""
        was_alive = self.alive
        if was_alive:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(timeout=10)
        return code if not was_alive else None


class Cluster:
    """Worker and server processes of one database, started from ``folder`` (their baton.toml and logs)."""

    def __init__(
        self, url: str, folder: Path, threads: int = 4, env: dict[str, str] | None = None, function: str = "noop"
    ) -> None:
        self.url, self.folder = url, folder
        (folder / "baton.toml").write_text(TOML.format(threads=threads, function=function))
        self.env = {
            **os.environ,
            "BATON_DATABASE_URL": url,
            "BATON_LOG_LEVEL": "WARNING",
            "BATON_TIMER_POLL": "1",
            "BATON_AUTO_MIGRATE": "false",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
            **(env or {}),
        }
        self.nodes: list[Node] = []
        self.server_url: str | None = None

    def worker(self, name: str) -> Node:
        node = Node(name, ["worker", "--id", name], self.env, self.folder)
        self.nodes.append(node)
        return node

    def serve(self, name: str = "serve") -> Node:
        """``baton serve`` with no worker threads of its own (the workers do the jobs); waits until it answers."""
        port = free_port()
        node = Node(name, ["serve", "--port", str(port)], {**self.env, "BATON_WORKERS": "0"}, self.folder)
        self.nodes.append(node)
        self.server_url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if not node.alive:
                raise AssertionError(f"baton serve exited: {node.text()[-2000:]}")
            try:
                return httpx.get(f"{self.server_url}/api/v1/health", timeout=2).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(answers, 60, "baton serve to answer")
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_instances(engine: Engine, n: int, prefix: str, **variables: Any) -> list[str]:
    """``n`` instances of bench_nodes, business keys ``<prefix>-0`` ...; each waits for its first job."""
    return [engine.start(KEY, {"n": i, **variables}, business_key=f"{prefix}-{i}").id for i in range(n)]


def send_messages(engine: Engine, server_url: str, n: int, prefix: str) -> str:
    """The ``go`` message of each instance, through ``baton serve``'s REST API, kept until its instance waits;
    returns the API token it used (an admin's)."""
    user = engine.add_user(f"bench-{prefix}", "admin", None)
    _, token = engine.create_token(user.name, "bench")
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for i in range(n):
            r = client.post("/api/v1/messages", json={"name": MESSAGE, "businessKey": f"{prefix}-{i}", "ttl": 3600})
            if r.status_code != 200:
                raise AssertionError(f"POST /api/v1/messages answered {r.status_code}: {r.text[:300]}")
    return token


def count_completed(engine: Engine, ids: list[str]) -> int:
    total = 0
    with engine.db.connect() as conn:
        for chunk in _chunks(ids):
            total += (
                conn.execute(
                    select(func.count())
                    .select_from(q.instances)
                    .where(q.instances.c.id.in_(chunk), q.instances.c.status == "completed")
                ).scalar()
                or 0
            )
    return total


def count_jobs_done(engine: Engine, ids: list[str]) -> int:
    """Jobs of ``ids`` completed so far (their ``job_completed`` history entries)."""
    total = 0
    with engine.db.connect() as conn:
        for chunk in _chunks(ids):
            query = select(func.count()).select_from(q.history)
            total += (
                conn.execute(
                    query.where(q.history.c.instance_id.in_(chunk), q.history.c.event == "job_completed")
                ).scalar()
                or 0
            )
    return total


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def verify(engine: Engine, ids: list[str]) -> dict[str, Any]:
    """What happened to ``ids``, from the database: problems (empty when every job, timer and message
    happened exactly once and every instance completed), jobs per worker, and the first/last history times."""
    problems: list[str] = []
    by_worker: collections.Counter[str] = collections.Counter()
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    for iid in ids:
        inst = engine.get_instance(iid)
        if inst.status != "completed":
            problems.append(f"instance {iid} is {inst.status}")
            continue
        history = engine.history(iid)
        events = collections.Counter(h.event for h in history)
        done = [h for h in history if h.event == "job_completed"]
        tasks = collections.Counter(
            h.task_id for h in history if h.event == "activity_completed" and h.element_type == "serviceTask"
        )
        expected = {
            "job_completed": JOBS_PER_INSTANCE,
            "timer_fired": 1,
            "message_received": 1,
            "instance_completed": 1,
        }
        seen = {name: events.get(name, 0) for name in expected}
        if seen != expected or len(tasks) != JOBS_PER_INSTANCE or set(tasks.values()) != {1}:
            problems.append(f"instance {iid}: {seen}, service tasks completed {sorted(tasks.values())}")
        by_worker.update(h.details.get("worker", "?") for h in done)
        if done:
            first = min(filter(None, [first, done[0].at]))
        end = [h.at for h in history if h.event == "instance_completed"]
        if end:
            last = max(filter(None, [last, end[-1]]))
    with engine.db.connect() as conn:
        left = {
            "jobs": conn.execute(select(func.count()).select_from(jq.jobs)).scalar(),
            "timers": conn.execute(select(func.count()).select_from(eq.timers)).scalar(),
            "messages": conn.execute(select(func.count()).select_from(eq.messages)).scalar(),
        }
    problems += [f"{count} {table} row(s) left over" for table, count in left.items() if count]
    return {
        "problems": problems,
        "jobs_by_worker": dict(sorted(by_worker.items())),
        "first_job_at": first,
        "last_completed_at": last,
    }


# ---- a private PostgreSQL server ------------------------------------------------------------------------


def pg_bin(name: str) -> str | None:
    """A PostgreSQL server program (``initdb``, ``pg_ctl``): on PATH, else Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class PrivatePostgres:
    """A PostgreSQL server of our own in a temporary folder (trust auth, 127.0.0.1, a free port).

    As root it runs as the ``postgres`` OS user (``runuser``), as PostgreSQL refuses to run as root.
    ``stop()`` and ``start()`` may be called again and again: the data stays.
    """

    def __init__(self) -> None:
        initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if initdb is None or self.pg_ctl is None:
            raise FileNotFoundError("initdb / pg_ctl not found (install PostgreSQL's server package)")
        self.folder = Path(tempfile.mkdtemp(prefix="baton-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        proc = subprocess.run(self.as_user + args, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            [self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start"]
        )

    def stop(self) -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop()
            except RuntimeError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)
