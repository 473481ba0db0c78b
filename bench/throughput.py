"""Throughput of one `baton worker` process against two, on one PostgreSQL database, with `baton serve` running.

    python bench/throughput.py                 # default: 300 instances x 3 rounds, PostgreSQL at 127.0.0.1
    python bench/throughput.py --quick         # 60 instances x 1 round
    python bench/throughput.py --json          # machine-readable results on stdout
    python bench/throughput.py --database-url postgresql+psycopg://user@host/db

The diagram is ``bench/processes/bench_nodes.bpmn``: four external service tasks (topic ``work``, the
``python`` adapter calling ``bench/noop_agent.py``), a 0.2 s timer after the second and a ``go`` message
(matched by business key) before the last.

Each batch: ``baton serve`` (``BATON_WORKERS=0``: it serves HTTP and fires timers, no jobs) runs; the ``go``
messages of ``--instances`` instances are posted to it with a ``ttl`` (kept until each instance waits for its
message); 1 or 2 ``baton worker`` processes (``--threads`` threads each) are started, and once they are up the
instances are started (``Engine.start`` in this process) and run to the end by the workers.  Instances per second
= instances / (last instance completed - first job completed), both read from the history.  Worker CPU per
instance = CPU time the worker processes used from when they were up to the end, divided by the instances.
Batches alternate 1, 2 / 2, 1 / ...; the ratio is the median of each round's 2-worker rate over its 1-worker rate.
After each batch the history is checked: every instance completed, each job, the timer and the message exactly
once, no job, timer or message row left over.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from jobs import _maybe_schema, _table, pg_problem, pg_version  # noqa: E402
from nodes import (  # noqa: E402
    DIAGRAM,
    Cluster,
    Node,
    count_completed,
    send_messages,
    start_instances,
    verify,
    wait_until,
)
from run import _redact, environment  # noqa: E402

from engine import Engine, Settings  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULTS = {"instances": 300, "rounds": 3}
QUICK = {"instances": 60, "rounds": 1}
BATCH_TIMEOUT = 600.0


def run_batch(engine: Engine, cluster: Cluster, workers: int, n: int, progress: Any) -> dict[str, Any]:
    """``n`` instances run to the end by ``workers`` new worker processes; their rate and the exactly-once check."""
    prefix = f"b{uuid.uuid4().hex[:6]}"
    assert cluster.server_url is not None
    send_messages(engine, cluster.server_url, n, prefix)  # each kept until its instance waits for it
    nodes = [cluster.worker(f"{prefix}-w{k + 1}") for k in range(workers)]
    wait_until(lambda: all(node.started() for node in nodes), 120, f"{workers} worker(s) to start")
    cpu0 = _cpu(nodes)
    t0 = time.perf_counter()
    ids = start_instances(engine, n, prefix)

    def finished() -> bool:
        dead = [node.name for node in cluster.nodes if not node.alive]
        if dead:
            raise AssertionError(f"node(s) {', '.join(dead)} exited: {nodes[0].text()[-2000:]}")
        return count_completed(engine, ids) == n

    try:
        wait_until(finished, BATCH_TIMEOUT, f"{n} instances on {workers} worker(s)", poll=0.5)
        wall = time.perf_counter() - t0
        cpu1 = _cpu(nodes)
    finally:
        for node in nodes:
            node.stop()
        cluster.nodes = [node for node in cluster.nodes if node not in nodes]
    checked = verify(engine, ids)
    if checked["problems"]:
        raise AssertionError(f"{workers} worker(s): " + "; ".join(checked["problems"][:10]))
    window = (checked["last_completed_at"] - checked["first_job_at"]).total_seconds()
    rate = n / max(window, 1e-6)
    cpu_ms = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / n * 1e3  # the workers' CPU per instance
    progress(
        f"{workers} worker(s): {n} instances in {window:.1f} s ({rate:.1f}/s; {wall:.1f} s with start-up), "
        f"jobs by worker {checked['jobs_by_worker']}"
        + (f", worker CPU {cpu_ms:.1f} ms/instance" if cpu_ms is not None else "")
    )
    return {
        "workers": workers,
        "instances": n,
        "seconds": window,
        "wall_seconds": wall,
        "per_s": rate,
        "worker_cpu_ms_per_instance": cpu_ms,
        "jobs_by_worker": checked["jobs_by_worker"],
    }


def _cpu(nodes: list[Node]) -> float | None:
    """CPU seconds the processes of ``nodes`` have used so far (None where /proc is not there)."""
    seconds = [node.cpu_seconds() for node in nodes]
    return None if None in seconds else sum(s for s in seconds if s is not None)


def measure(args: argparse.Namespace, url: str, folder: Path, progress: Any) -> dict[str, Any]:
    engine = Engine(Settings(database_url=url))
    engine.deploy([DIAGRAM], source="bench/throughput.py")
    cluster = Cluster(url, folder, threads=args.threads)
    batches: list[dict[str, Any]] = []
    try:
        cluster.serve()
        for r in range(args.rounds):
            for workers in (2, 1) if r % 2 else (1, 2):
                batches.append(run_batch(engine, cluster, workers, args.instances, progress))
    finally:
        cluster.stop()
        engine.close()
    one = [b["per_s"] for b in batches if b["workers"] == 1]
    two = [b["per_s"] for b in batches if b["workers"] == 2]
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    cpu = {
        w: [
            b["worker_cpu_ms_per_instance"]
            for b in batches
            if b["workers"] == w and b["worker_cpu_ms_per_instance"] is not None
        ]
        for w in (1, 2)
    }
    return {
        "worker_cpu_ms_per_instance": {str(w): statistics.median(v) if v else None for w, v in cpu.items()},
        "one_worker_per_s": statistics.median(one),
        "two_workers_per_s": statistics.median(two),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "batches": batches,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python bench/throughput.py",
        description="Instances/second with 1 and with 2 `baton worker` processes on one "
        "PostgreSQL database (and `baton serve`), and their ratio.",
    )
    ap.add_argument("--quick", action="store_true", help=f"{QUICK['instances']} instances, {QUICK['rounds']} round")
    ap.add_argument("--instances", type=int, metavar="N", help=f"instances per batch (default {DEFAULTS['instances']})")
    ap.add_argument(
        "--rounds",
        type=int,
        metavar="R",
        help=f"rounds of a 1-worker and a 2-worker batch (default {DEFAULTS['rounds']})",
    )
    ap.add_argument("--threads", type=int, default=4, metavar="T", help="threads of each worker process (default 4)")
    ap.add_argument(
        "--database-url",
        metavar="URL",
        default=DEFAULT_PG,
        help=f"PostgreSQL to use (default {DEFAULT_PG}); a schema of its own is created and dropped",
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout (no table)")
    args = ap.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.instances < 1 or args.rounds < 1 or args.threads < 1:
        ap.error("--instances, --rounds and --threads must be at least 1")
    if not args.database_url.startswith("postgresql"):
        ap.error("--database-url must be a PostgreSQL URL (several worker processes need a shared server)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    problem = pg_problem(args.database_url)
    if problem:
        print(f"PostgreSQL at {_redact(args.database_url)} is not reachable: {problem}", file=sys.stderr)
        return 2
    env = environment(args)
    env["postgresql"] = pg_version(args.database_url)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="baton-bench-nodes-") as tmp, _maybe_schema(args.database_url) as url:
        assert url is not None
        result = measure(args, url, Path(tmp), progress)
    report = {
        "settings": {
            "instances": args.instances,
            "rounds": args.rounds,
            "threads": args.threads,
            "process": DIAGRAM.stem,
            "database_url": _redact(args.database_url),
        },
        "environment": env,
        "elapsed_s": round(time.perf_counter() - t0, 1),
        **result,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(
        f"\nInstances/second of {DIAGRAM.stem} (4 service tasks, a 0.2 s timer, a message) on PostgreSQL "
        f"{env['postgresql']}, baton serve + N baton worker processes x {args.threads} threads, "
        f"{args.instances} instances per batch, {args.rounds} round(s); {env['cpus']} CPUs, "
        f"run took {report['elapsed_s']:.0f} s\n"
    )
    lines = [
        [
            str(b["workers"]),
            str(b["instances"]),
            f"{b['seconds']:.2f}",
            f"{b['per_s']:.1f}",
            "-" if b["worker_cpu_ms_per_instance"] is None else f"{b['worker_cpu_ms_per_instance']:.1f}",
            ", ".join(f"{v}" for v in b["jobs_by_worker"].values()),
        ]
        for b in result["batches"]
    ]
    print(
        _table(
            ["workers", "instances", "seconds", "instances/s", "worker CPU ms/inst", "jobs per worker"], lines, set()
        )
    )
    print(
        f"\n2 workers / 1 worker: {result['ratio']:.2f} (min {result['ratio_min']:.2f}, max "
        f"{result['ratio_max']:.2f}); every job, timer and message happened exactly once"
    )
    print(
        "worker CPU ms/inst: CPU time of the worker processes per instance, from their start-up to the end (it stays "
        "about the same with 2 workers when they do not get in each other's way)"
    )
    print(
        f"load average of the machine at the end: {os.getloadavg()[0]:.1f} ({env['cpus']} CPUs): other work on it "
        "lowers instances/s and the ratio"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
