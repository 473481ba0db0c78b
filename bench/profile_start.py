"""Where the time of one ``Engine.start`` goes, next to raw SpiffWorkflow running the same diagram.

    python bench/profile_start.py                      # both processes, phase breakdown per start
    python bench/profile_start.py --cprofile 25        # ... plus cProfile's top 25 functions (by own time)
    python bench/profile_start.py --database-url postgresql+psycopg://user@host/scratch_db

The breakdown wraps Baton's and SpiffWorkflow's own functions (in this process only; no file is
changed) and charges each call its *exclusive* wall time: time spent in a wrapped callee is charged
to the callee.  So "SpiffWorkflow engine steps" excludes the scripts, which are charged to "script
sandbox", and "history rows" (``Engine._record``) excludes the SQL it issues.  The wrappers cost
about a microsecond per call, a few dozen calls per start.

The same wrapping measures raw SpiffWorkflow in memory (default script engine) and raw
SpiffWorkflow with Baton's sandbox, so the "beyond raw" line is Baton's own cost per instance.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import sqlalchemy.engine.base as sa_base  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # noqa: E402

import engine.execution as execution  # noqa: E402
import engine.runtime as runtime  # noqa: E402
import engine.serialization as serialization  # noqa: E402
from engine import records  # noqa: E402
from engine.scripting import RestrictedScriptEngine  # noqa: E402
from engine.store import queries as q  # noqa: E402

sys.path.insert(0, str(HERE))
import run  # noqa: E402
from run import PROCESSES, BatonBackend, load_spec, raw_runner  # noqa: E402

# ------------------------------------------------------------------------------------ exclusive timer


class Phases:
    """Exclusive time per phase, by wall clock and by this thread's CPU time (user + system).

    A call is charged its time minus the time of the wrapped calls inside it.  The CPU clock is
    steadier when other processes compete for the machine; wall minus CPU is time spent waiting
    (for the disk, the database server, or a CPU).
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # per open call: [wall, cpu] of wrapped children
        self.enabled = False

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        wall_clock, cpu_clock = time.perf_counter, time.thread_time

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return fn(*args, **kwargs)
            children = [0.0, 0.0]
            self._stack.append(children)
            w0, c0 = wall_clock(), cpu_clock()
            try:
                return fn(*args, **kwargs)
            finally:
                wall, cpu = wall_clock() - w0, cpu_clock() - c0
                self._stack.pop()
                self.wall[phase] += wall - children[0]
                self.cpu[phase] += cpu - children[1]
                if self._stack:
                    self._stack[-1][0] += wall
                    self._stack[-1][1] += cpu

        return wrapper

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()


PH = Phases()


def patch(owner: Any, name: str, phase: str) -> None:
    setattr(owner, name, PH.wrap(phase, getattr(owner, name)))


def instrument() -> None:
    """Wrap the functions one start goes through (this process only)."""
    # the Engine.start call itself: what is left in it after its callees (uuid, dicts, READY loop)
    patch(runtime.Engine, "start", "Engine.start itself (uuid, row dicts)")
    patch(runtime, "check_variables", "Engine.start itself (uuid, row dicts)")
    patch(runtime.Engine, "_spec", "spec cache lookup")
    # SpiffWorkflow
    patch(runtime, "BpmnWorkflow", "SpiffWorkflow: BpmnWorkflow(spec)")
    patch(run, "BpmnWorkflow", "SpiffWorkflow: BpmnWorkflow(spec)")  # the raw variants
    patch(BpmnWorkflow, "do_engine_steps", "SpiffWorkflow: engine steps (excl. scripts)")
    patch(execution, "run", "SpiffWorkflow: engine steps (excl. scripts)")
    patch(RestrictedScriptEngine, "execute", "script sandbox (RestrictedScriptEngine)")
    patch(RestrictedScriptEngine, "evaluate", "script sandbox (RestrictedScriptEngine)")
    patch(PythonScriptEngine, "execute", "scripts (SpiffWorkflow default engine)")
    patch(PythonScriptEngine, "evaluate", "scripts (SpiffWorkflow default engine)")
    # Baton's bookkeeping
    patch(execution, "outcome", "outcome: status/variables/events (execution.outcome)")
    patch(runtime.Engine, "_record", "history + task rows built (Engine._record)")
    patch(runtime, "dump_state", "serialization: json.dumps of the state")
    serialization._SERIALIZER.to_dict = PH.wrap("serialization: to_dict (SpiffWorkflow converters)",
                                                serialization._SERIALIZER.to_dict)
    patch(records.Instance, "from_row", "result records (Instance/Task)")
    patch(runtime.Engine, "_log_outcome", "logging")
    # SQL, one line per query (each includes building the statement, binding JSON columns, executing)
    patch(runtime.Engine, "_definition_row", "SQL: definition lookup")
    patch(q, "insert_instance", "SQL: insert instance")
    patch(q, "insert_history", "SQL: insert history")
    patch(q, "delete_human_tasks", "SQL: delete human tasks")
    patch(q, "sync_human_tasks", "SQL: sync human tasks")
    # the transaction around it
    patch(sa_base.Engine, "connect", "transaction: pool checkout + begin")
    patch(sa_base.Connection, "begin", "transaction: pool checkout + begin")
    patch(sa_base.Connection, "_commit_impl", "transaction: COMMIT")
    patch(sa_base.Connection, "close", "transaction: return connection to pool")


# ------------------------------------------------------------------------------------------- running

Breakdown = dict[str, tuple[float, float]]  # phase -> (wall us, cpu us) per instance
Result = tuple[float, float, Breakdown]  # wall us, cpu us per instance, breakdown


def measure(variants: dict[str, Callable[[], Any]], n: int, blocks: int) -> dict[str, Result]:
    """Per variant and instance: total wall us, total CPU us, the exclusive phases; medians over blocks.

    The blocks of the variants are interleaved so that a burst of load elsewhere hits all of them."""
    totals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    per_block: dict[str, list[Breakdown]] = defaultdict(list)
    for _ in range(blocks):
        for label, run_one in variants.items():
            gc.collect()
            PH.reset()
            PH.enabled = True
            w0, c0 = time.perf_counter(), time.thread_time()
            for _ in range(n):
                run_one()
            wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
            PH.enabled = False
            totals[label].append((wall / n * 1e6, cpu / n * 1e6))
            per_block[label].append({k: (PH.wall[k] / n * 1e6, PH.cpu[k] / n * 1e6) for k in PH.wall})
    results = {}
    for label, got in per_block.items():
        phases = {k for b in got for k in b}
        breakdown = {k: (statistics.median(b.get(k, (0.0, 0.0))[0] for b in got),
                         statistics.median(b.get(k, (0.0, 0.0))[1] for b in got)) for k in phases}
        results[label] = (statistics.median(t[0] for t in totals[label]),
                          statistics.median(t[1] for t in totals[label]), breakdown)
    return results


def report(key: str, results: dict[str, Result]) -> None:
    raw_wall, raw_cpu, _ = results["raw"]
    sandbox_wall, sandbox_cpu, _ = results["raw+sandbox"]
    print(f"\n== {PROCESSES[key]} ({key}): microseconds per instance, exclusive, median of blocks ==")
    for label, (wall, cpu, per) in results.items():
        print(f"\n{label}: {wall:6.0f} us wall ({1e6 / wall:.0f}/s), {cpu:6.0f} us CPU ({1e6 / cpu:.0f}/s)")
        print(f"  {'wall':>6}  {'cpu':>6}  {'cpu%':>6}  phase")
        for phase, (w, c) in sorted(per.items(), key=lambda kv: -kv[1][1]):
            print(f"  {w:6.0f}  {c:6.0f}  {c / cpu:6.1%}  {phase}")
        rest_w, rest_c = wall - sum(w for w, _ in per.values()), cpu - sum(c for _, c in per.values())
        print(f"  {rest_w:6.0f}  {rest_c:6.0f}  {rest_c / cpu:6.1%}  (benchmark loop, wrappers)")
        if label.startswith("baton"):
            print(f"  beyond raw: {wall - raw_wall:.0f} us wall / {cpu - raw_cpu:.0f} us CPU per instance; "
                  f"beyond raw+sandbox: {wall - sandbox_wall:.0f} / {cpu - sandbox_cpu:.0f} us; "
                  f"baton/raw {raw_wall / wall:.2f} by wall clock, {raw_cpu / cpu:.2f} by CPU time")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/profile_start.py", description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=100, help="instances per block (default 100)")
    ap.add_argument("--blocks", type=int, default=5, help="blocks per variant; medians are shown (default 5)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--process", action="append", choices=sorted(PROCESSES))
    ap.add_argument("--database-url", metavar="URL", help="profile on this database, not a temporary SQLite")
    ap.add_argument("--cprofile", type=int, metavar="N", default=0,
                    help="also run cProfile over the Baton starts and print the top N functions by own time")
    args = ap.parse_args(argv)
    instrument()
    with tempfile.TemporaryDirectory(prefix="baton-profile-") as tmpdir:
        url = args.database_url or f"sqlite:///{tmpdir}/bench.db"
        backend = BatonBackend(url.split(":", 1)[0].split("+", 1)[0], url, cleanup=bool(args.database_url))
        sandbox = RestrictedScriptEngine()
        try:
            for key in args.process or PROCESSES:
                spec, subs = load_spec(key)
                variants = {
                    "raw": raw_runner(spec, subs),
                    "raw+sandbox": raw_runner(spec, subs, sandbox),
                    f"baton/{backend.label}": backend.runner(key),
                }
                for run_one in variants.values():
                    for _ in range(args.warmup):
                        run_one()
                report(key, measure(variants, args.instances, args.blocks))
                if args.cprofile:
                    prof = cProfile.Profile()
                    baton = variants[f"baton/{backend.label}"]
                    prof.enable()
                    for _ in range(args.instances):
                        baton()
                    prof.disable()
                    print(f"\ncProfile, {args.instances} Baton starts of {key}, "
                          f"top {args.cprofile} by own time:")
                    pstats.Stats(prof).sort_stats("tottime").print_stats(args.cprofile)
        finally:
            backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
