"""Workers killed at random while 1,000 instances run: nothing is lost, nothing applied twice, recovery < lease.

    python bench/faults.py                 # the full run: 1,000 instances, 3 workers, a kill every 4 s (minutes)
    python bench/faults.py --quick         # 60 instances, 3 kills (under a minute)
    python bench/faults.py --json          # the report as JSON on stdout
    python bench/faults.py --database-url postgresql+psycopg://user@host/db   # that PostgreSQL instead

PostgreSQL only (several worker processes): a schema of its own in that database, dropped at the end.  The
run itself is ``bench/fault_harness.py`` (shared with ``tests/test_faults.py``): ``--workers`` real
``baton worker --lease`` processes, one killed with SIGKILL every ``--kill-every`` seconds and replaced, one sent
SIGHUP (connection pool restart) every ``--hup-every`` seconds, every service task an HTTP call to a local
endpoint that records its idempotency key.  Exit status 1 when an invariant is broken (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fault_harness import Plan, run, summary  # noqa: E402
from jobs import DEFAULT_PG, pg_problem, pg_schema  # noqa: E402
from run import _redact  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    full = Plan()
    ap = argparse.ArgumentParser(
        description="Kill workers at random during a run of many instances; check the "
        "invariants and report kills, duplicate calls and recovery time."
    )
    ap.add_argument("--quick", action="store_true", help="60 instances and 3 kills (a smoke run)")
    ap.add_argument("--instances", type=int, help=f"instances to start [{full.instances}]")
    ap.add_argument("--workers", type=int, default=full.workers, help="baton worker processes [%(default)s]")
    ap.add_argument("--threads", type=int, default=full.threads, help="threads per worker [%(default)s]")
    ap.add_argument("--lease", type=float, default=full.lease, help="baton worker --lease, seconds [%(default)s]")
    ap.add_argument(
        "--kill-every", type=float, default=full.kill_every, help="seconds between two SIGKILLs [%(default)s]"
    )
    ap.add_argument("--kills", type=int, help="stop killing after this many (default: until every instance is done)")
    ap.add_argument(
        "--hup-every",
        type=float,
        default=full.hup_every,
        help="seconds between two SIGHUPs (pool restarts) [%(default)s]",
    )
    ap.add_argument(
        "--call-time",
        type=float,
        default=full.call_time,
        help="seconds the side-effect endpoint takes per call [%(default)s]",
    )
    ap.add_argument("--database-url", default=DEFAULT_PG, help="PostgreSQL to use [%(default)s]")
    ap.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(
        instances=args.instances or (60 if args.quick else Plan.instances),
        workers=args.workers,
        threads=args.threads,
        lease=args.lease,
        kill_every=args.kill_every,
        max_kills=3 if args.quick and args.kills is None else args.kills,
        hup_every=args.hup_every,
        call_time=args.call_time,
    )
    problem = pg_problem(args.database_url)
    if problem:
        print(f"PostgreSQL is not reachable at {_redact(args.database_url)}: {problem}", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the workers and drop the schema on `kill`

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    progress(
        f"fault run: {plan.instances} instances, {plan.workers} workers x {plan.threads} threads, lease "
        f"{plan.lease:g} s, a kill every {plan.kill_every:g} s, a pool restart every {plan.hup_every:g} s"
    )
    with pg_schema(args.database_url) as url, tempfile.TemporaryDirectory(prefix="baton-faults-") as folder:
        report = run(plan, url, Path(folder), progress)
    if args.json:
        print(json.dumps({"plan": vars(plan), "report": report.to_dict()}, indent=2))
    else:
        print(summary(report))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
