"""Timers on time and message correlation at scale: Baton's events, measured.

    python bench/events.py                  # default run: SQLite, plus PostgreSQL at 127.0.0.1 when reachable
    python bench/events.py --quick          # smaller run (200 timers, 10,000 waiting instances)
    python bench/events.py --json           # machine-readable results on stdout
    python bench/events.py --no-postgres    # SQLite only
    python bench/events.py --database-url postgresql+psycopg://user@host/db   # PostgreSQL there instead

A. Timer lateness.  A real ``TimerScheduler`` (APScheduler ``BackgroundScheduler``, the wall clock, the
configured safety-net poll) runs while ``--timers`` instances are started, each waiting on an intermediate
``timeDate`` timer; the due times are spread evenly over ``--spread`` seconds (default 2-5 s after the last
instance is armed).  Lateness = the engine's time when it fired the timer minus its due time (``late_by`` of the
``timer_fired`` history entry).  The goal is that every timer fires within one second of its due time.  Next to
it, the reference of the same run: an APScheduler ``date`` job with an empty callback at each of the same due
times, i.e. how late the scheduler itself wakes up, with no database and no process to run.

B. Correlation cost against the number of waiting instances.  ``Engine.correlate_message(name,
business_key=...)`` is timed on instances waiting on an intermediate message catch, among ``--small`` (100) and
among ``--waiting`` (100,000) waiting instances.  The first ``--samples`` instances are started through
``Engine.start``; the rest are copies of one waiting instance's row, each with its own subscription row,
bulk-inserted (as many as a busy system holds, without starting 100,000 instances one by one).  The measured call
is the real ``correlate_message``: subscription lookup, instance load, run, save.  Calls on the two populations
alternate, and the ratio large/small is the median of the paired ratios (machine noise hits both sides alike).
Goal: a ratio close to 1, i.e. an indexed lookup, not a scan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from jobs import _maybe_schema, _table, pg_problem, pg_version  # noqa: E402
from run import _redact, environment  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from engine import Engine, Settings  # noqa: E402
from engine.scheduler import TimerScheduler  # noqa: E402
from engine.store.tables import Instance, Subscription  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULTS = {"timers": 1000, "waiting": 100_000, "small": 100, "samples": 50}
QUICK = {"timers": 200, "waiting": 10_000, "small": 100, "samples": 15}
BATCH = 5000
HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
          'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs_{key}" '
          'targetNamespace="http://baton.bench/{key}">\n{extra}<bpmn:process id="{key}" isExecutable="true">\n'
          '<bpmn:startEvent id="start"/>\n'
          '<bpmn:intermediateCatchEvent id="wait">{event}</bpmn:intermediateCatchEvent>\n'
          '<bpmn:endEvent id="end"/>\n<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>\n'
          '<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>\n</bpmn:process>\n</bpmn:definitions>\n')
TIMER_XML = HEADER.format(key="bench_timer", extra="", event=(
    "<bpmn:timerEventDefinition><bpmn:timeDate>${due}</bpmn:timeDate></bpmn:timerEventDefinition>"))
MESSAGE_XML = HEADER.format(key="bench_message", extra='<bpmn:message id="Msg_paid" name="paid"/>\n',
                            event='<bpmn:messageEventDefinition messageRef="Msg_paid"/>')


def stats_ms(samples: list[float]) -> dict[str, float]:
    """p50/p99/max/mean of values in seconds, as milliseconds."""
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3, "max_ms": ordered[-1] * 1e3,
            "mean_ms": statistics.fmean(ordered) * 1e3}


# ------------------------------------------------------------------------------------------ A. timers

def due_times(count: int, spread: tuple[float, float], begin: float) -> list[float]:
    """``count`` epoch seconds spread evenly over [begin + spread[0], begin + spread[1]]."""
    low, high = spread
    step = (high - low) / max(count - 1, 1)
    return [begin + low + i * step for i in range(count)]


def timer_lateness(url: str, count: int, spread: tuple[float, float], poll: float) -> dict[str, Any]:
    """Arm ``count`` timers while a real TimerScheduler runs; how late each fired."""
    engine = Engine(Settings(database_url=url, timer_poll=poll))
    try:
        engine.deploy_bytes([("bench_timer.bpmn", TIMER_XML.encode())])
        engine.start("bench_timer", {"due": "2000-01-01T00:00:00Z"})  # warm-up: parse, caches (fires at once)
        calibrate = time.perf_counter()
        probe = [engine.start("bench_timer", {"due": "2999-01-01T00:00:00Z"}).id for _ in range(10)]
        per_start = (time.perf_counter() - calibrate) / len(probe)
        for instance_id in probe:
            engine.cancel(instance_id)
        # the due times start after the last instance is armed (with a wide margin), so arming does not compete
        # with firing; ``arming_overran_s`` says by how much the margin was too short (0 when it was enough)
        begin = time.time() + per_start * count * 2.5 + 1.0
        dues = due_times(count, spread, begin)
        scheduler = TimerScheduler(engine)
        scheduler.start()
        try:
            armed_at = time.perf_counter()
            ids = [engine.start("bench_timer", {"due": _iso(due)}).id for due in dues]
            arming_s = time.perf_counter() - armed_at
            late_start = max(0.0, time.time() - (begin + spread[0]))
            deadline = time.time() + spread[1] + 30
            while engine.next_timer_due() is not None and time.time() < deadline:
                time.sleep(0.1)
        finally:
            scheduler.stop()
        late, last_fired = [], begin
        for instance_id in ids:
            for h in engine.history(instance_id):
                if h.event == "timer_fired":
                    late.append(h.details["late_by"])
                    last_fired = max(last_fired, h.at.timestamp())
        completed = sum(1 for i in ids if engine.get_instance(i).status == "completed")
    finally:
        engine.close()
    return {"timers": count, "fired": len(late), "completed": completed, "arming_s": round(arming_s, 3),
            "arming_overran_s": round(late_start, 3), "within_1s": sum(1 for x in late if x <= 1.0),
            "fired_per_s": round(len(late) / max(last_fired - (begin + spread[0]), 1e-3), 1),
            "lateness": stats_ms(late) if late else None}


def scheduler_reference(count: int, spread: tuple[float, float]) -> dict[str, Any]:
    """How late APScheduler itself runs an empty callback at the same kind of due times."""
    scheduler = BackgroundScheduler(timezone=dt.UTC, job_defaults={"misfire_grace_time": None})
    late: list[float] = []
    lock = threading.Lock()

    def note(due: float) -> None:
        now = time.time()
        with lock:
            late.append(now - due)

    scheduler.start()
    try:
        dues = due_times(count, spread, time.time() + 0.5)
        for due in dues:
            scheduler.add_job(note, "date", run_date=dt.datetime.fromtimestamp(due, dt.UTC), args=[due])
        deadline = dues[-1] + 10
        while len(late) < count and time.time() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    return {"callbacks": len(late), "lateness": stats_ms(late) if late else None}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


# ------------------------------------------------------------------------------------------ B. correlation

class Population:
    """A database with ``waiting`` instances waiting for message ``paid``; ``samples + 1`` of them started for real."""

    def __init__(self, url: str, waiting: int, samples: int) -> None:
        self.engine = Engine(Settings(database_url=url))
        self.engine.deploy_bytes([("bench_message.bpmn", MESSAGE_XML.encode())])
        self.real = [self.engine.start("bench_message", business_key=f"real-{i}").id for i in range(samples + 1)]
        self.waiting = len(self.real) + _fill(self.engine, self.real[0], waiting - len(self.real))
        with self.engine.db.begin() as conn:
            conn.execute(text("ANALYZE"))
        self.correlate(0)  # warm-up, not timed
        self.times: list[float] = []

    def correlate(self, i: int) -> float:
        t0 = time.perf_counter()
        found = self.engine.correlate_message("paid", business_key=f"real-{i}")
        elapsed = time.perf_counter() - t0
        if found.delivered_to != [self.real[i]]:
            raise RuntimeError(f"message for real-{i} reached {found.delivered_to}")
        return elapsed

    def summary(self) -> dict[str, Any]:
        with self.engine.db.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM subscriptions WHERE kind = 'message'")).scalar()
        return {"waiting": self.waiting, "samples": len(self.times), "subscriptions_left": left,
                **stats_ms(self.times), "median_ms": statistics.median(self.times) * 1e3}


def _fill(engine: Engine, template_id: str, count: int) -> int:
    """``count`` copies of a waiting instance's row, each with its own subscription row (never delivered to)."""
    instances, subscriptions = Instance.__table__, Subscription.__table__
    with engine.db.begin() as conn:
        row = dict(conn.execute(select(instances).where(instances.c.id == template_id)).one()._mapping)
        sub = dict(conn.execute(select(subscriptions).where(subscriptions.c.instance_id == template_id)).one()
                   ._mapping)
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        new_instances, new_subs = [], []
        for n in range(done, done + size):
            instance_id = str(uuid.uuid4())
            new_instances.append({**row, "id": instance_id, "business_key": f"fill-{n}"})
            new_subs.append({**sub, "id": str(uuid.uuid4()), "instance_id": instance_id,
                             "task_id": str(uuid.uuid4()), "business_key": f"fill-{n}"})
        with engine.db.begin() as conn:
            conn.execute(insert(instances), new_instances)
            conn.execute(insert(subscriptions), new_subs)
        done += size
    return done


# ------------------------------------------------------------------------------------------ the run

def measure(name: str, url: str, args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    progress(f"{name}: {args.timers} timers with a real TimerScheduler ...")
    timers = timer_lateness(url, args.timers, args.spread, args.poll)
    return {"backend": name, "timers": timers}


def correlations(name: str, urls: list[str], args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """Correlations among ``--small`` and among ``--waiting`` instances, timed in alternating pairs."""
    progress(f"{name}: {args.small} and {args.waiting} waiting instances ...")
    small, large = (Population(url, n, args.samples) for url, n in zip(urls, (args.small, args.waiting), strict=True))
    try:
        ratios = []
        for i in range(1, args.samples + 1):
            pair = (small, large) if i % 2 else (large, small)
            for population in pair:
                population.times.append(population.correlate(i))
            ratios.append(large.times[-1] / small.times[-1])
        return {"backend": name, "small": small.summary(), "large": large.summary(),
                "ratio": statistics.median(ratios)}
    finally:
        small.engine.close()
        large.engine.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Timer lateness with a real scheduler, and correlation cost at scale.")
    ap.add_argument("--quick", action="store_true", help="fewer timers and waiting instances")
    ap.add_argument("--timers", type=int, metavar="N", help=f"timers to arm (default {DEFAULTS['timers']})")
    ap.add_argument("--spread", type=lambda s: tuple(float(x) for x in s.split(",")), metavar="LOW,HIGH",
                    default=(2.0, 5.0), help="due times spread over LOW..HIGH seconds (default 2,5)")
    ap.add_argument("--poll", type=float, default=5.0, help="the scheduler's safety-net poll in seconds (default 5)")
    ap.add_argument("--waiting", type=int, metavar="N",
                    help=f"large waiting population (default {DEFAULTS['waiting']})")
    ap.add_argument("--small", type=int, metavar="N", help=f"small waiting population (default {DEFAULTS['small']})")
    ap.add_argument("--samples", type=int, metavar="S", help=f"correlations timed each (default {DEFAULTS['samples']})")
    ap.add_argument("--database-url", metavar="URL", help=f"PostgreSQL to measure too (default {DEFAULT_PG})")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout (no table)")
    args = ap.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for name, value in base.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.samples + 1 > args.small:
        ap.error("--small must be larger than --samples")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    skipped: list[str] = []
    pg_url = None if args.no_postgres else (args.database_url or DEFAULT_PG)
    if pg_url and (problem := pg_problem(pg_url)):
        if args.database_url:
            print(f"PostgreSQL at {_redact(pg_url)} is not reachable: {problem}", file=sys.stderr)
            return 2
        skipped.append(f"postgresql: not reachable at {_redact(pg_url)} ({problem})")
        pg_url = None
    env = environment(args)
    env["postgresql"] = pg_version(pg_url) if pg_url else None
    progress("reference: APScheduler empty callbacks ...")
    reference = scheduler_reference(args.timers, args.spread)
    timer_rows, corr_rows = [], []
    with tempfile.TemporaryDirectory(prefix="baton-bench-events-") as tmp:
        sqlite = [f"sqlite:///{tmp}/{name}.db" for name in ("timers", "small", "large")]
        timer_rows.append(measure("sqlite", sqlite[0], args, progress))
        corr_rows.append(correlations("sqlite", sqlite[1:], args, progress))
    if pg_url:
        with _maybe_schema(pg_url) as a, _maybe_schema(pg_url) as b, _maybe_schema(pg_url) as c:
            timer_rows.append(measure("postgresql", a, args, progress))
            corr_rows.append(correlations("postgresql", [b, c], args, progress))
    report = {
        "settings": {"timers": args.timers, "spread_s": list(args.spread), "poll_s": args.poll,
                     "small": args.small, "waiting": args.waiting, "samples": args.samples, "quick": args.quick,
                     "database_url": _redact(pg_url) if pg_url else None},
        "environment": env, "elapsed_s": round(time.perf_counter() - t0, 2), "skipped": skipped,
        "scheduler_reference": reference, "timers": timer_rows, "correlation": corr_rows,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    s, ref = report["settings"], report["scheduler_reference"]
    print()
    rate = s["timers"] / max(s["spread_s"][1] - s["spread_s"][0], 1e-3)
    print(f"A. Timer lateness: {s['timers']} intermediate timers due {s['spread_s'][0]:g}-{s['spread_s'][1]:g} s "
          f"after arming ({rate:.0f} due per second), fired by a real TimerScheduler (poll {s['poll_s']:g} s); "
          "goal: all within 1 s")
    print()
    head = ["db", "fired", "within 1 s", "p50 ms", "p99 ms", "max ms", "fired/s", "arming s", "overran s"]
    lines = [["apscheduler (empty callback)", f"{ref['callbacks']}/{s['timers']}", "-",
              *_ms(ref["lateness"]), "-", "-", "-"]]
    for row in report["timers"]:
        t = row["timers"]
        lines.append([row["backend"], f"{t['fired']}/{t['timers']}", f"{t['within_1s']}", *_ms(t["lateness"]),
                      f"{t['fired_per_s']:.0f}", f"{t['arming_s']:.2f}", f"{t['arming_overran_s']:.2f}"])
    print(_table(head, lines, {0}))
    print("fired/s: timers fired per second from the first due time to the last firing (one transaction each); "
          "overran s: how long arming went on past the first due time (0 = arming did not compete with firing)")
    print()
    print(f"B. correlate_message by business key among N waiting instances: median of {s['samples']} calls "
          "each, timed in alternating pairs; large/small = median of the paired ratios")
    print()
    head = ["db", "N small", "ms", "N large", "ms", "large/small"]
    lines = [[r["backend"], str(r["small"]["waiting"]), f"{r['small']['median_ms']:.2f}", str(r["large"]["waiting"]),
              f"{r['large']['median_ms']:.2f}", f"{r['ratio']:.2f}"] for r in report["correlation"]]
    print(_table(head, lines, {0}))
    env = report["environment"]
    print()
    print(f"Python {env['python']}, SpiffWorkflow {env['spiffworkflow']}, SQLite {env['sqlite']}"
          + (f", PostgreSQL {env['postgresql']}" if env["postgresql"] else "")
          + f"; run took {report['elapsed_s']:.0f} s")
    for note in report["skipped"]:
        print(f"skipped: {note}")


def _ms(figures: dict[str, float] | None) -> list[str]:
    if figures is None:
        return ["-", "-", "-"]
    return [f"{figures['p50_ms']:.1f}", f"{figures['p99_ms']:.1f}", f"{figures['max_ms']:.1f}"]


if __name__ == "__main__":
    sys.exit(main())
