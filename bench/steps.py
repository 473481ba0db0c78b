"""Cost of a step late in a long instance, as a ratio to the same instance's early steps.

    python bench/steps.py                 # 10,000 steps (a few minutes on 2 cores)
    python bench/steps.py --quick         # 2,000 steps (well under a minute)
    python bench/steps.py --json          # machine-readable results on stdout
    python bench/steps.py --check         # exit 1 when a step-cost ratio is above the goal (1.5)
    python bench/steps.py --database-url postgresql+psycopg://user@host/db   # Baton on PostgreSQL too

SpiffWorkflow's task tree only grows, so each step of a long instance costs more than the one before and at
tree depth 1000 the library stops silently.  Baton prunes the finished tasks nothing open needs
(``engine/pruning.py``).  This benchmark runs ``processes/bench_loop.bpmn``, a loop of a user task, a script
task (``n = n + 1``) and a gateway, for ``--steps`` iterations and reports:

- step cost: the time of steps 101-200 and of the last 100 steps, per variant, and their ratio (goal <= 1.5):
  ``baton`` completes the user task through ``Engine.complete_task`` (one transaction per step: load, run,
  save, history); ``side by side`` is the same with the long instance's next 100 steps alternated with steps
  101-200 of a fresh instance (robust to a change in the machine's load); ``baton, one call`` is
  ``bench_script_loop.bpmn`` (the loop without the user task) run in a single ``Engine.start``, timed from
  its history's timestamps; ``raw+pruning`` is SpiffWorkflow in memory
  with Baton's pruning after each step; ``raw`` is SpiffWorkflow alone, to show the growth Baton removes:
  it is measured at steps 101-200 and 201-300, since at tree depth 1000 (step 333 of this loop: three tasks
  per iteration) it stops silently;
- state size: the stored state (JSON) after 100 steps and after the last step;
- load + save: the time to read, deserialize, serialize and write back the instance after 10 steps and after
  the last step (the median of ``--repeat`` repetitions), and their ratio; and side by side, an instance
  parked at step 10 and the long one alternately.

See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # `python bench/steps.py` from a checkout without the editable install
    sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.run import load_spec  # noqa: E402
from engine import Engine, Settings, pruning  # noqa: E402
from engine.scripting import RestrictedScriptEngine  # noqa: E402
from engine.serialization import dump_state  # noqa: E402
from engine.store import queries as q  # noqa: E402

GOAL = 1.5
EARLY = (101, 200)
PAIRED = 100  # steps of the side-by-side measure
RAW_LATE = (201, 300)  # raw SpiffWorkflow stops at tree depth 1000: step 333 of this loop


@dataclass
class StepRow:
    variant: str
    early: tuple[int, int]
    late: tuple[int, int]
    early_ms: float  # median time of one step in the early window
    late_ms: float
    ratio: float  # late / early
    goal: float | None
    passed: bool | None
    note: str = ""
    cpu_ratio: float | None = None  # the same by CPU time of this process (steadier on a busy machine)


def window_ms(times: list[float], window: tuple[int, int]) -> float:
    """Median duration (ms) of the steps numbered ``window`` (1-based, end included) of a list of step times."""
    return statistics.median(times[window[0] - 1:window[1]]) * 1000


def step_row(variant: str, times: list[float], late: tuple[int, int], goal: float | None, note: str = "",
             cpu: list[float] | None = None) -> StepRow:
    early_ms, late_ms = window_ms(times, EARLY), window_ms(times, late)
    ratio = late_ms / early_ms
    cpu_ratio = window_ms(cpu, late) / window_ms(cpu, EARLY) if cpu else None
    return StepRow(variant, EARLY, late, early_ms, late_ms, ratio, goal,
                   (ratio <= goal) if goal is not None else None, note, cpu_ratio)


# ------------------------------------------------------------------------------------------ raw SpiffWorkflow


def raw_steps(steps: int, prune: bool) -> tuple[list[float], list[float], int, str]:
    """Per-step times of the user-task loop in memory: complete the ready user task, run the engine steps."""
    spec, subs = load_spec("bench_loop")
    workflow = BpmnWorkflow(spec, subs, script_engine=RestrictedScriptEngine())
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(n=0, limit=steps)
    workflow.do_engine_steps()
    times: list[float] = []
    cpu: list[float] = []
    for _ in range(steps):
        ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
        if not ready:
            break
        c0, t0 = time.process_time(), time.perf_counter()
        ready[0].run()
        workflow.do_engine_steps()
        if prune:
            pruning.prune(workflow)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    done = workflow.get_tasks(state=TaskState.COMPLETED)
    n = max((t.data.get("n", 0) for t in done), default=0)
    note = "" if len(times) == steps else f"stopped after {len(times)} steps (n={n}, completed={workflow.completed})"
    return times, cpu, len(dump_state(workflow)), note


# ------------------------------------------------------------------------------------------ Baton


def state_size(engine: Engine, instance_id: str) -> int:
    with engine._tx() as conn:
        text = conn.execute(select(q.instances.c.state).where(q.instances.c.id == instance_id)).scalar_one()
    return len(text)


def load_save_ms(engine: Engine, instance_id: str, repeat: int, cpu: list[float] | None = None) -> float:
    """Median time (ms) to read the instance row, deserialize it, serialize it and write the state back.

    With ``cpu``, the CPU time of each repetition (ms) is appended to it.
    """
    samples = []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        with engine._tx() as conn:
            row = engine._instance_row(conn, instance_id)
            workflow = engine._load(conn, row)
            conn.execute(q.instances.update().where(q.instances.c.id == instance_id)
                         .values(state=engine._dump(workflow)))
        samples.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(samples) * 1000


@dataclass
class BatonResult:
    backend: str
    steps: list[float]
    cpu: list[float]
    size_100: int
    size_last: int
    load_save_10_ms: float
    load_save_last_ms: float
    one_call: list[float]
    early_paired: list[float]  # steps 101-200 of a fresh instance, each run right after ...
    late_paired: list[float]  # ... one of the steps after the last of the long instance
    load_save_10_paired_ms: float  # load+save of an instance at step 10 and of the long one, alternately
    load_save_last_paired_ms: float
    load_save_paired_cpu_ratio: float  # the same by CPU time: blind to waiting for the disk (SQLite's fsync)


def baton_run(label: str, url: str, steps: int, repeat: int, progress: Callable[[str], None]) -> BatonResult:
    engine = Engine(Settings(database_url=url))
    try:
        engine.deploy([HERE / "processes" / "bench_loop.bpmn", HERE / "processes" / "bench_script_loop.bpmn"],
                      source="bench/steps.py")
        step = engine.complete_task
        inst = engine.start("bench_loop", {"n": 0, "limit": steps + 2 * PAIRED})  # waits after every timed step
        parked = engine.start("bench_loop", {"n": 0, "limit": steps})  # stays at step 10: load+save reference
        for _ in range(10):
            parked = step(parked.tasks[0].id)
        times: list[float] = []
        cpu: list[float] = []
        size_100 = 0
        load_save_10 = 0.0
        for i in range(1, steps + 1):
            task_id = inst.tasks[0].id
            c0, t0 = time.process_time(), time.perf_counter()
            inst = step(task_id)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if i == 10:
                load_save_10 = load_save_ms(engine, inst.id, repeat)
            if i == 100:
                size_100 = state_size(engine, inst.id)
            if i % 1000 == 0:
                progress(f"{label}: {i}/{steps} steps")
        size_last = state_size(engine, inst.id)
        load_save_last = load_save_ms(engine, inst.id, repeat)
        # the same measures side by side, so that a change in the machine's load hits both alike
        fresh = engine.start("bench_loop", {"n": 0, "limit": steps})
        for _ in range(PAIRED):
            fresh = step(fresh.tasks[0].id)
        late_paired, early_paired = [], []
        for _ in range(PAIRED):
            for which, into in ((inst, late_paired), (fresh, early_paired)):
                t0 = time.perf_counter()
                done = step(which.tasks[0].id)
                into.append(time.perf_counter() - t0)
                inst, fresh = (done, fresh) if which is inst else (inst, done)
        ls_last: list[float] = []
        ls_10: list[float] = []
        cpu_last: list[float] = []
        cpu_10: list[float] = []
        for i in range(repeat):  # alternating which goes first
            pair = [(inst.id, ls_last, cpu_last), (parked.id, ls_10, cpu_10)]
            for instance_id, into, cpu_into in pair if i % 2 else reversed(pair):
                into.append(load_save_ms(engine, instance_id, 1, cpu_into))
        while inst.status != "completed":
            inst = step(inst.tasks[0].id)
        if inst.variables.get("n") != steps + 2 * PAIRED:
            raise AssertionError(f"{label}: the loop ended {inst.status} with n={inst.variables.get('n')}")
        progress(f"{label}: {steps} iterations in one engine call")
        one = engine.start("bench_script_loop", {"n": 0, "limit": steps})
        if one.status != "completed" or one.variables.get("n") != steps:
            raise AssertionError(f"{label}: the script loop ended {one.status} with n={one.variables.get('n')}")
        stamps = [h.at.timestamp() for h in engine.history(one.id) if h.element_id == "inc"]
        one_call = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        return BatonResult(label, times, cpu, size_100, size_last, load_save_10, load_save_last, one_call,
                           early_paired, late_paired, statistics.median(ls_10), statistics.median(ls_last),
                           statistics.median(cpu_last) / max(statistics.median(cpu_10), 1e-6))
    finally:
        engine.close()


# ------------------------------------------------------------------------------------------ report


def report(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    steps = args.steps
    late = (steps - 99, steps)
    rows: list[StepRow] = []
    sizes: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("sqlite", f"sqlite:///{tmp}/steps.db")]
        if args.database_url:
            backends.append((args.database_url.split(":", 1)[0].split("+", 1)[0], args.database_url))
        for label, url in backends:
            gc.collect()
            result = baton_run(label, url, steps, args.repeat, progress)
            rows.append(step_row(f"baton ({label})", result.steps, late, GOAL, "one engine call per step",
                                 result.cpu))
            paired = statistics.median(result.late_paired) / statistics.median(result.early_paired)
            rows.append(StepRow(f"baton ({label}), side by side", EARLY, (steps + 1, steps + PAIRED),
                                statistics.median(result.early_paired) * 1000,
                                statistics.median(result.late_paired) * 1000, paired, GOAL, paired <= GOAL,
                                "the long instance's next steps alternated with a fresh instance's steps 101-200"))
            rows.append(step_row(f"baton ({label}), one call", result.one_call, (late[0] - 1, late[1] - 1), GOAL,
                                 "the whole loop in one Engine.start"))
            sizes.append({"backend": label, "state_100": result.size_100, "state_last": result.size_last,
                          "load_save_10_ms": result.load_save_10_ms, "load_save_last_ms": result.load_save_last_ms,
                          "load_save_ratio": result.load_save_last_ms / result.load_save_10_ms,
                          "load_save_paired_10_ms": result.load_save_10_paired_ms,
                          "load_save_paired_last_ms": result.load_save_last_paired_ms,
                          "load_save_paired_ratio": result.load_save_last_paired_ms / result.load_save_10_paired_ms,
                          "load_save_paired_cpu_ratio": result.load_save_paired_cpu_ratio})
    progress("raw SpiffWorkflow with Baton's pruning")
    pruned, pruned_cpu, _, note = raw_steps(steps, prune=True)
    rows.append(step_row("raw+pruning", pruned, late, GOAL, note or "in memory", pruned_cpu))
    progress("raw SpiffWorkflow alone")
    raw, raw_cpu, raw_size, note = raw_steps(min(steps, RAW_LATE[1]), prune=False)
    rows.append(step_row("raw", raw, RAW_LATE, None, "in memory, no pruning", raw_cpu))
    raw_size_100 = raw_steps(100, prune=False)[2]
    stopped = raw_steps(RAW_LATE[1] + 100, prune=False)[3]
    return {
        "goal": GOAL,
        "passed": all(r.passed for r in rows if r.passed is not None),
        "settings": {"steps": steps, "repeat": args.repeat},
        "environment": {"python": platform.python_version(), "spiffworkflow": metadata.version("SpiffWorkflow"),
                        "cpus": __import__("os").cpu_count()},
        "steps": [asdict(r) for r in rows],
        "state": sizes,
        "raw_state": {"state_100": raw_size_100, "state_300": raw_size, "beyond_300": stopped},
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"Step cost, median per step (goal: last 100 steps <= {GOAL} x steps 100-200)")
    print(f"{'variant':<34} {'early':>11} {'ms':>8} {'late':>13} {'ms':>8} {'ratio':>6}  goal")
    for r in result["steps"]:
        goal = "-" if r["goal"] is None else ("ok" if r["passed"] else "MISSED")
        early, late = f"{r['early'][0]}-{r['early'][1]}", f"{r['late'][0]}-{r['late'][1]}"
        print(f"{r['variant']:<34} {early:>11} {r['early_ms']:>8.3f} {late:>13} {r['late_ms']:>8.3f} "
              f"{r['ratio']:>6.2f}  {goal:<6}  {r['note']}"
              + (f" (by CPU time: {r['cpu_ratio']:.2f})" if r["cpu_ratio"] is not None else ""))
    steps = result["settings"]["steps"]
    print(f"\nStored state and load+save ({result['settings']['repeat']} repetitions, median)")
    print(f"{'backend':<12} {'state@100':>10} {'state@' + str(steps):>12} {'load+save@10':>13} "
          f"{'@' + str(steps):>10} {'ratio':>6}   side by side: {'@10':>8} {'@' + str(steps):>9} {'ratio':>6}")
    for s in result["state"]:
        print(f"{s['backend']:<12} {s['state_100']:>10} {s['state_last']:>12} {s['load_save_10_ms']:>11.2f}ms "
              f"{s['load_save_last_ms']:>8.2f}ms {s['load_save_ratio']:>6.2f}   {'':>13} "
              f"{s['load_save_paired_10_ms']:>6.2f}ms {s['load_save_paired_last_ms']:>7.2f}ms "
              f"{s['load_save_paired_ratio']:>6.2f} (by CPU time: {s['load_save_paired_cpu_ratio']:.2f})")
    raw = result["raw_state"]
    print(f"raw SpiffWorkflow state: {raw['state_100']} bytes at 100 steps, {raw['state_300']} at 300; "
          f"asked for 400 steps: {raw['beyond_300'] or 'ran them all'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000, help="loop iterations (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="2,000 steps")
    parser.add_argument("--repeat", type=int, default=50, help="load+save repetitions (median reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--check", action="store_true", help="exit 1 when a step-cost ratio is above the goal")
    parser.add_argument("--database-url", help="also measure Baton on this database (a scratch one)")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps = 2_000
    if args.steps < 300:
        parser.error("--steps must be at least 300 (the early window is steps 100-200)")

    def progress(text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    result = report(args, progress)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 1 if args.check and not result["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
