"""Baton throughput as a fraction of raw SpiffWorkflow, measured in the same run.

    python bench/run.py                  # default run (well under a minute on 2 cores)
    python bench/run.py --quick          # ~5 s smoke run
    python bench/run.py --json           # machine-readable results on stdout
    python bench/run.py --check          # exit 1 when a SQLite ratio is below the goal
    python bench/run.py --database-url postgresql+psycopg://user@host/db   # adds PostgreSQL rows

For each benchmark diagram in ``bench/processes`` it measures instances per second, start to
completed, of:

- ``raw``: SpiffWorkflow alone, in memory, with its default script engine: the same .bpmn parsed
  with Baton's parser, then ``BpmnWorkflow(spec, subs)`` + ``do_engine_steps()`` per instance;
- ``raw+sandbox``: the same with Baton's ``RestrictedScriptEngine`` (the script sandbox alone);
- ``baton``: ``Engine.start(key)`` through the public API, persisted in SQLite (one transaction
  per instance: state, variables, history), and optionally in the database of ``--database-url``.

Measurements are interleaved: every round runs each variant once per process, in alternating
order, after a warm-up; rates are the median over rounds and the ratio is the median of the
per-round ratios baton/raw (paired, so machine noise hits both sides of a ratio alike).  See
bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` from a checkout without the editable install
    sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402

from engine import Engine, Settings  # noqa: E402
from engine.bpmn_parser import BatonParser  # noqa: E402
from engine.scripting import RestrictedScriptEngine  # noqa: E402

PROCESS_DIR = HERE / "processes"
PROCESSES = {
    "bench_sequence": "sequence (10 script tasks)",
    "bench_parallel": "parallel (10 branches)",
}
GOAL = 0.40
Runner = Callable[[], Any]
# many short paired rounds: a burst of load from elsewhere spoils a few rounds, and the median drops them
DEFAULTS = {"instances": 40, "rounds": 21, "warmup": 30}
QUICK = {"instances": 20, "rounds": 7, "warmup": 10}


# ------------------------------------------------------------------------------------------ runners

def load_spec(key: str) -> tuple[Any, dict[str, Any]]:
    """The process spec and the specs it calls, parsed from ``bench/processes/<key>.bpmn``."""
    path = PROCESS_DIR / f"{key}.bpmn"
    parser = BatonParser()
    parser.add_bpmn_xml(etree.parse(str(path)).getroot(), filename=str(path))
    return parser.get_spec(key), parser.get_subprocess_specs(key)


def raw_runner(spec: Any, subs: dict[str, Any], script_engine: Any = None) -> Callable[[], Any]:
    """One in-memory SpiffWorkflow instance per call, run to completion."""
    kwargs = {} if script_engine is None else {"script_engine": script_engine}

    def run_one() -> Any:
        workflow = BpmnWorkflow(spec, subs, **kwargs)
        workflow.do_engine_steps()
        if not workflow.completed:
            raise AssertionError("raw SpiffWorkflow instance did not complete")
        return workflow

    return run_one


class BatonBackend:
    """An Engine over one database with the benchmark diagrams deployed."""

    def __init__(self, label: str, url: str, cleanup: bool) -> None:
        self.label, self.url, self.cleanup = label, url, cleanup
        self.engine = Engine(Settings(database_url=url))
        self.engine.deploy([PROCESS_DIR], source="bench/run.py")
        self.instance_ids: list[str] = []

    def runner(self, key: str) -> Callable[[], Any]:
        start, ids = self.engine.start, self.instance_ids

        def run_one() -> Any:
            inst = start(key)
            if inst.status != "completed":
                raise AssertionError(f"Baton instance of {key} ended {inst.status}: {inst.error}")
            ids.append(inst.id)
            return inst

        return run_one

    def close(self) -> None:
        """Remove this run's instances from a database the user gave (a temporary SQLite is just deleted)."""
        try:
            if self.cleanup and self.instance_ids:
                from engine.store import queries as q

                with self.engine.db.begin() as conn:
                    for i in range(0, len(self.instance_ids), 500):
                        chunk = self.instance_ids[i:i + 500]
                        conn.execute(q.history.delete().where(q.history.c.instance_id.in_(chunk)))
                        conn.execute(q.human_tasks.delete().where(q.human_tasks.c.instance_id.in_(chunk)))
                        conn.execute(q.instances.delete().where(q.instances.c.id.in_(chunk)))
        finally:
            self.engine.close()


@dataclass
class Rates:
    """Instances per second of one variant, one entry per round: wall clock, and CPU time of this process."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def timed(run_one: Runner, n: int, into: Rates) -> None:
    """Run ``n`` instances back to back; record their rate by wall clock and by this process's CPU time."""
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        run_one()
    t1, c1 = time.perf_counter(), time.process_time()
    into.wall.append(n / (t1 - t0))
    into.cpu.append(n / max(c1 - c0, 1e-9))


def paired(of: list[float], to: list[float]) -> list[float]:
    return [a / b for a, b in zip(of, to, strict=True)]


# ------------------------------------------------------------------------------------------ measuring

@dataclass
class Row:
    process: str
    backend: str
    goal_applies: bool
    raw: Rates
    sandbox: Rates
    baton: Rates = field(default_factory=Rates)

    def summary(self) -> dict[str, Any]:
        ratios = paired(self.baton.wall, self.raw.wall)
        ratio = statistics.median(ratios)
        return {
            "process": self.process,
            "description": PROCESSES[self.process],
            "backend": self.backend,
            "raw_per_s": statistics.median(self.raw.wall),
            "raw_sandbox_per_s": statistics.median(self.sandbox.wall),
            "baton_per_s": statistics.median(self.baton.wall),
            "ratio": ratio,
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "sandbox_ratio": statistics.median(paired(self.sandbox.wall, self.raw.wall)),
            "baton_to_sandbox_ratio": statistics.median(paired(self.baton.wall, self.sandbox.wall)),
            # by CPU time of the benchmark process: steadier on a busy machine, but blind to time spent
            # waiting for the disk or (with --database-url) inside the database server
            "cpu_ratio": statistics.median(paired(self.baton.cpu, self.raw.cpu)),
            "goal": GOAL if self.goal_applies else None,
            "passed": (ratio >= GOAL) if self.goal_applies else None,
            "rounds": {"raw": self.raw.wall, "raw_sandbox": self.sandbox.wall, "baton": self.baton.wall},
        }


def measure(args: argparse.Namespace, tmpdir: str, progress: Callable[[str], None]) -> list[Row]:
    sandbox_engine = RestrictedScriptEngine()
    backends = [BatonBackend("sqlite", f"sqlite:///{tmpdir}/bench.db", cleanup=False)]
    if args.database_url:
        name = args.database_url.split(":", 1)[0].split("+", 1)[0]
        name = "sqlite (given)" if name == "sqlite" else name
        backends.append(BatonBackend(name, args.database_url, cleanup=not args.keep_instances))
    try:
        plans: list[tuple[str, list[tuple[Runner, Rates]], list[Row]]] = []
        rows: list[Row] = []
        for key in args.process:
            spec, subs = load_spec(key)
            raw, sandboxed = raw_runner(spec, subs), raw_runner(spec, subs, sandbox_engine)
            raw_rates, sandbox_rates = Rates(), Rates()  # one reference line per process, shared by backends
            steps = [(raw, raw_rates), (sandboxed, sandbox_rates)]
            process_rows = []
            for i, backend in enumerate(backends):
                row = Row(key, backend.label, goal_applies=(i == 0), raw=raw_rates, sandbox=sandbox_rates)
                steps.append((backend.runner(key), row.baton))
                process_rows.append(row)
            check_same_result(key, [run_one for run_one, _ in steps])
            plans.append((key, steps, process_rows))
            rows += process_rows

        progress(f"warm-up: {args.warmup} instances per variant")
        for _key, steps, _rows in plans:
            for run_one, _into in steps:
                for _ in range(args.warmup):
                    run_one()

        for r in range(args.rounds):
            for key, steps, process_rows in plans:
                # alternate the order so that drift within a round favours no variant
                for run_one, into in (reversed(steps) if r % 2 else steps):
                    timed(run_one, args.instances, into)
                first = process_rows[0]
                batons = ", ".join(f"baton/{row.backend} {row.baton.wall[-1]:.0f}/s" for row in process_rows)
                progress(f"round {r + 1}/{args.rounds} {key}: raw {first.raw.wall[-1]:.0f}/s, "
                         f"raw+sandbox {first.sandbox.wall[-1]:.0f}/s, {batons}")
        return rows
    finally:
        for backend in backends:
            backend.close()


def check_same_result(key: str, runners: list[Runner]) -> None:
    """Every variant runs the diagram to the same variables (checked once, outside the timed loops)."""
    results = [run_one() for run_one in runners]
    found = [dict(getattr(r, "variables", None) or r.data) for r in results]
    if any(f != found[0] for f in found[1:]) or not found[0]:
        raise AssertionError(f"{key}: the variants ended with different variables: {found}")


# ------------------------------------------------------------------------------------------ reporting

def environment(args: argparse.Namespace) -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "spiffworkflow": version("SpiffWorkflow"),
        "sqlalchemy": version("SQLAlchemy"),
        "restrictedpython": version("RestrictedPython"),
        "sqlite": sqlite3.sqlite_version,
    }


def table(results: list[dict[str, Any]]) -> str:
    head = ["process", "db", "raw/s", "raw+sandbox/s", "baton/s", "baton/raw", "(min-max)", "baton/sandbox",
            "goal", "result"]
    lines = []
    for r in results:
        lines.append([
            r["description"], r["backend"], f"{r['raw_per_s']:.0f}", f"{r['raw_sandbox_per_s']:.0f}",
            f"{r['baton_per_s']:.0f}", f"{r['ratio']:.3f}", f"{r['ratio_min']:.2f}-{r['ratio_max']:.2f}",
            f"{r['baton_to_sandbox_ratio']:.2f}",
            f">= {r['goal']:.2f}" if r["goal"] is not None else "info",
            ("PASS" if r["passed"] else "FAIL") if r["passed"] is not None else "-",
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    left = {0, 1}

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                 strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *(fmt(line) for line in lines)])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Instances/second of Baton (Engine API, persisted) next to raw in-memory SpiffWorkflow "
                    f"running the same diagrams, and their ratio (goal on SQLite: >= {GOAL:.2f}).")
    ap.add_argument("--quick", action="store_true", help="a ~5 s smoke run (fewer instances and rounds)")
    ap.add_argument("--instances", type=int, metavar="N",
                    help=f"instances per variant per round (default {DEFAULTS['instances']}, "
                         f"--quick {QUICK['instances']})")
    ap.add_argument("--rounds", type=int, metavar="R",
                    help=f"interleaved rounds; the median is reported (default {DEFAULTS['rounds']}, "
                         f"--quick {QUICK['rounds']})")
    ap.add_argument("--warmup", type=int, metavar="W",
                    help=f"untimed instances per variant first (default {DEFAULTS['warmup']}, "
                         f"--quick {QUICK['warmup']})")
    ap.add_argument("--process", action="append", choices=sorted(PROCESSES),
                    help="only this process (repeatable; default: both)")
    ap.add_argument("--database-url", metavar="URL",
                    help="also measure Baton on this database, e.g. postgresql+psycopg://user@host/db "
                         "(informational; the goal is for SQLite). Use a scratch database: the diagrams are "
                         "deployed there; this run's instances are deleted afterwards")
    ap.add_argument("--keep-instances", action="store_true",
                    help="do not delete this run's instances from the --database-url database")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout (no table)")
    ap.add_argument("--check", action="store_true",
                    help=f"exit with status 1 when a SQLite ratio is below {GOAL:.2f} (default: always 0)")
    args = ap.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.instances < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error("--instances and --rounds must be at least 1, --warmup at least 0")
    args.process = list(dict.fromkeys(args.process or PROCESSES))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmpdir:
        rows = measure(args, tmpdir, progress)
    results = [row.summary() for row in rows]
    passed = all(r["passed"] for r in results if r["passed"] is not None)
    report = {
        "goal": GOAL,
        "passed": passed,
        "settings": {"instances": args.instances, "rounds": args.rounds, "warmup": args.warmup,
                     "quick": args.quick, "processes": args.process,
                     "database_url": _redact(args.database_url) if args.database_url else None},
        "environment": environment(args),
        "elapsed_s": round(time.perf_counter() - t0, 2),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        env = report["environment"]
        print()
        print(f"Baton vs raw SpiffWorkflow, instances/second start to completed "
              f"(median of {args.rounds} interleaved rounds x {args.instances} instances; "
              f"ratio = median of per-round baton/raw)")
        print(f"Python {env['python']}, SpiffWorkflow {env['spiffworkflow']}, "
              f"SQLAlchemy {env['sqlalchemy']}, SQLite {env['sqlite']}, {env['cpus']} CPUs; "
              f"run took {report['elapsed_s']:.0f} s")
        print()
        print(table(results))
        cpu = ", ".join(f"{r['description'].split(' ')[0]}/{r['backend']} {r['cpu_ratio']:.2f}" for r in results)
        print(f"baton/raw by CPU time of this process (steadier on a busy machine, blind to I/O waits): {cpu}")
        print()
        verdict = "PASS" if passed else "FAIL"
        print(f"goal: Baton on SQLite >= {GOAL:.2f} x raw SpiffWorkflow in memory: {verdict}"
              + ("" if args.check or passed else " (report only; --check makes this an error)"))
    return 1 if args.check and not passed else 0


def _redact(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL fails later, in the Engine, with a clear error
        return url


if __name__ == "__main__":
    sys.exit(main())
