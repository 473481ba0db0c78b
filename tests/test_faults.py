"""Workers killed with SIGKILL while instances run (bench/fault_harness.py, as bench/faults.py, with a small count).

Three real ``baton worker --lease`` processes on PostgreSQL; a random busy one is killed every 2.5 s and
replaced, and one restarts its connection pool (SIGHUP) every 2 s.  Every service task calls a local HTTP
endpoint that records its idempotency key.  PostgreSQL only: SQLite has one writer at a time.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.append(str(ROOT / "bench"))  # after the tests: bench/ has modules named run, jobs, events
from fault_harness import SERVICE_TASKS, Plan, run, summary  # noqa: E402


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_killed_workers_lose_nothing_and_apply_nothing_twice(db_url, tmp_path):
    plan = Plan(
        instances=40,
        workers=3,
        threads=2,
        lease=4.0,
        kill_every=2.5,
        max_kills=3,
        min_kills=2,
        hup_every=2.0,
        call_time=0.05,
        give_up_after=240,
    )
    report = run(plan, db_url, tmp_path)
    assert report.problems == [], summary(report)
    assert report.completed == plan.instances
    assert report.kills >= 2 and report.pool_restarts >= 1
    assert report.held_at_kills >= 1, "no kill caught a worker running a job: nothing was recovered"
    assert report.max_recovery is not None and report.max_recovery < plan.lease  # the lease is the contract
    assert report.jobs_left == 0 and report.jobs_left_leased == 0
    assert report.repeated_keys == 0, "one attempt was delivered twice"
    # every extra call is a retried attempt of a task that had already called: visible, counted
    assert report.calls == plan.instances * len(SERVICE_TASKS) + report.duplicate_calls


def test_bench_faults_says_clearly_when_postgresql_is_unreachable():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--database-url", "postgresql+psycopg://x@127.0.0.1:9/x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "PostgreSQL is not reachable at" in proc.stderr and "Traceback" not in proc.stderr
