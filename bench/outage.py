"""The database goes away for 30 seconds while `baton worker` and `baton serve` processes are busy.

    python bench/outage.py                    # 30 s outage, 60 instances, 2 workers
    python bench/outage.py --outage 8 --instances 20 --json

It never touches the shared PostgreSQL server: a private one is made for the run (``initdb`` in a temporary folder,
a free port, trust authentication, started with ``pg_ctl``; as root it runs as the ``postgres`` OS user).

What happens: ``baton serve`` (no worker threads of its own) and ``--workers`` ``baton worker`` processes run
against it; ``--instances`` instances of ``bench/processes/bench_nodes.bpmn`` are started (four service tasks whose
agent, ``noop_agent:pause``, takes ``--pause`` seconds; a 0.2 s timer; a ``go`` message, posted to the server with
a ``ttl``).  Once jobs are under way the server is stopped (``pg_ctl stop -m fast``: connections cut, in-flight
transactions rolled back), left down for ``--outage`` seconds, and started again.  Agent calls that finish while it
is down keep their result and record it when it is back.

Reported, and checked (exit status 1 when a check fails): every node process still running after the outage; the
workers and the server logged "database unavailable, retrying ..." lines (with their backoff delay) and
"database reachable again"; every instance completed, each job, the timer and the message exactly once; no result
given up.  Figures: outage length, time from the restart to the last instance completed (drain), retry lines per
node, results recorded after the outage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import httpx  # noqa: E402
from nodes import (  # noqa: E402
    DIAGRAM,
    JOBS_PER_INSTANCE,
    Cluster,
    PrivatePostgres,
    count_completed,
    count_jobs_done,
    send_messages,
    start_instances,
    verify,
    wait_until,
)
from sqlalchemy import func, select  # noqa: E402

from engine import Engine, Settings  # noqa: E402
from engine.store import db as store_db  # noqa: E402
from engine.store import queries as q  # noqa: E402

RETRY = re.compile(r"database unavailable, retrying (.+?) in ([0-9.]+) s")
BACK = "database reachable again"
GAVE_UP = "gave up recording the job's result"


def _ask(server_url: str, token: str) -> dict[str, Any]:
    """Status codes of ``baton serve``'s health check and of a list of instances (with the error code, if any)."""
    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        health = client.get("/api/v1/health")
        listing = client.get("/api/v1/instances", params={"limit": 1})
    error = listing.json().get("error", {}) if listing.status_code >= 400 else {}
    return {"health": health.status_code, "instances": listing.status_code, "error_code": error.get("code")}


def run(
    instances: int,
    outage: float,
    folder: Path,
    workers: int = 2,
    pause: float = 1.0,
    retry_cap: float | None = None,
    progress: Any = print,
) -> dict[str, Any]:
    """The whole scenario on a private PostgreSQL server; returns the figures and what was checked."""
    server = PrivatePostgres()
    engine: Engine | None = None
    cluster: Cluster | None = None
    try:
        server.start()
        store_db.upgrade(migrated := store_db.connect(server.url))
        migrated.dispose()
        engine = Engine(Settings(database_url=server.url, auto_migrate=False))
        engine.deploy([DIAGRAM], source="bench/outage.py")
        env = {"BATON_LOG_LEVEL": "INFO"}
        if retry_cap is not None:
            env["BATON_DB_RETRY_CAP"] = str(retry_cap)
        cluster = Cluster(server.url, folder, threads=4, env=env, function="pause")
        cluster.serve()
        assert cluster.server_url is not None
        ids = start_instances(engine, instances, "outage", pause=pause)
        token = send_messages(engine, cluster.server_url, instances, "outage")
        started = [cluster.worker(f"worker-{k + 1}") for k in range(workers)]
        wait_until(lambda: all(node.started() for node in started), 120, "the workers to start")
        # go down while jobs are under way (a tenth of them done, the rest waiting or running)
        wait_until(
            lambda: count_jobs_done(engine, ids) >= max(1, instances * JOBS_PER_INSTANCE // 10), 120, "the first jobs"
        )
        done_before = count_jobs_done(engine, ids)
        progress(f"{done_before} of {instances * JOBS_PER_INSTANCE} jobs done; stopping PostgreSQL for {outage:g} s")
        t_down = time.monotonic()
        server.stop()
        time.sleep(outage / 2)
        served = _ask(cluster.server_url, token)  # what a client of baton serve gets meanwhile
        time.sleep(max(0.0, outage - (time.monotonic() - t_down)))
        alive_during = {node.name: node.alive for node in cluster.nodes}
        server.start()
        t_up, up_at = time.monotonic(), dt.datetime.now(dt.UTC)
        progress(f"PostgreSQL is back after {t_up - t_down:.1f} s; waiting for the work to drain")

        def finished() -> bool:
            dead = [node for node in cluster.nodes if not node.alive] if cluster else []
            if dead:
                raise AssertionError(f"{dead[0].name} exited after the outage: {dead[0].text()[-3000:]}")
            return count_completed(engine, ids) == instances

        wait_until(finished, 300, f"{instances} instances to complete after the outage", poll=0.2)
        drain = time.monotonic() - t_up
        with engine.db.connect() as conn:  # how soon the nodes were back at work
            first_after = conn.execute(
                select(func.min(q.history.c.at)).where(q.history.c.event == "job_completed", q.history.c.at > up_at)
            ).scalar()
        checked = verify(engine, ids)
        served_after = _ask(cluster.server_url, token)
        alive_after = {node.name: node.alive for node in cluster.nodes}
    finally:
        if cluster is not None:
            cluster.stop()
        if engine is not None:
            engine.close()
        server.destroy()
    logs = {node.name: node.text() for node in cluster.nodes}
    retries = {name: [(m.group(1), float(m.group(2))) for m in RETRY.finditer(text)] for name, text in logs.items()}
    report = {
        "instances": instances,
        "workers": workers,
        "outage_s": round(t_up - t_down, 1),
        "drain_s": round(drain, 1),
        "first_job_after_return_s": round((q.as_utc(first_after) - up_at).total_seconds(), 1) if first_after else None,
        "jobs_done_before_outage": done_before,
        "serve_during_outage": served,
        "serve_after_outage": served_after,
        "alive_during_outage": alive_during,
        "alive_after_outage": alive_after,
        "retry_lines": {name: len(lines) for name, lines in retries.items()},
        "longest_retry_delay_s": max((d for lines in retries.values() for _, d in lines), default=0.0),
        "retried": sorted({what for lines in retries.values() for what, _ in lines}),
        "reachable_again_lines": {name: text.count(BACK) for name, text in logs.items()},
        "results_recorded_after_outage": sum(
            text.count(f"{BACK}, recording the job's result") for text in logs.values()
        ),
        "results_given_up": sum(text.count(GAVE_UP) for text in logs.values()),
        "problems": checked["problems"],
        "jobs_by_worker": checked["jobs_by_worker"],
    }
    report["problems"] += [f"{name} is not running" for name, ok in {**alive_during, **alive_after}.items() if not ok]
    report["problems"] += [f"{name} logged no retry line" for name, n in report["retry_lines"].items() if not n]
    report["problems"] += [
        f"{name} logged no '{BACK}' line" for name, n in report["reachable_again_lines"].items() if not n
    ]
    if report["results_given_up"]:
        report["problems"].append(f"{report['results_given_up']} job result(s) given up")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python bench/outage.py",
        description="Stop a private PostgreSQL server under busy `baton worker` and `baton serve` processes, "
        "start it again, and check that everything completes, each job, timer and message once.",
    )
    ap.add_argument("--outage", type=float, default=30.0, metavar="S", help="seconds the database is down (30)")
    ap.add_argument("--instances", type=int, default=60, metavar="N", help="instances of bench_nodes (60)")
    ap.add_argument("--workers", type=int, default=2, metavar="W", help="baton worker processes (2)")
    ap.add_argument("--pause", type=float, default=1.0, metavar="S", help="seconds each agent call takes (1)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = ap.parse_args(argv)
    if args.outage <= 0 or args.instances < 1 or args.workers < 1 or args.pause < 0:
        ap.error("--outage, --instances and --workers must be positive, --pause at least 0")

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="baton-bench-outage-") as tmp:
        report = run(args.instances, args.outage, Path(tmp), args.workers, args.pause, progress=progress)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"\nDatabase outage of {report['outage_s']} s under {args.workers} workers + baton serve, "
            f"{args.instances} instances ({report['jobs_done_before_outage']} jobs done before it)"
        )
        print(
            f"  first job completed {report['first_job_after_return_s']} s after PostgreSQL came back, all drained "
            f"after {report['drain_s']} s ({args.pause:g} s per agent call)"
        )
        print(f"  retry lines per node: {report['retry_lines']} (longest backoff {report['longest_retry_delay_s']} s)")
        print(f"  what was retried: {', '.join(report['retried'])}")
        print(
            f"  job results computed during the outage and recorded after it: {report['results_recorded_after_outage']}"
        )
        print(f"  jobs per worker: {report['jobs_by_worker']}")
        print("  problems: " + ("; ".join(report["problems"][:10]) or "none (each job, timer and message once)"))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
