"""The database goes away under busy `baton worker` and `baton serve` processes and comes back: nothing is lost.

A private PostgreSQL server is made for the test (``initdb``, ``pg_ctl``; the shared one is never stopped), stopped
for a few seconds while jobs are under way, and started again (``bench/outage.py`` runs the same for 30 s).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import outage  # noqa: E402
from nodes import pg_bin  # noqa: E402

RETRY_CAP = 2.0


@pytest.fixture
def have_initdb():
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        if os.environ.get("CI"):
            pytest.fail("initdb / pg_ctl are required in CI (PostgreSQL's server package)")
        pytest.skip("initdb / pg_ctl not installed: no private PostgreSQL server to stop")


@pytest.mark.postgres
@pytest.mark.slow
def test_workers_and_server_outlive_a_database_outage_and_everything_completes_once(have_initdb, tmp_path):
    report = outage.run(
        instances=12,
        outage=6.0,
        folder=tmp_path,
        workers=2,
        pause=1.0,
        retry_cap=RETRY_CAP,
        progress=lambda _message: None,
    )

    # every instance completed; each job, the timer and the message exactly once; no row left over
    assert report["problems"] == []
    assert sum(report["jobs_by_worker"].values()) == 12 * 4
    # no node crashed or exited, during the outage or after it
    assert all(report["alive_during_outage"].values()) and all(report["alive_after_outage"].values())
    assert set(report["alive_after_outage"]) == {"serve", "worker-1", "worker-2"}
    # the web app said so to its clients meanwhile, and answers normally again
    assert report["serve_during_outage"] == {"health": 503, "instances": 503, "error_code": "database_unavailable"}
    assert report["serve_after_outage"] == {"health": 200, "instances": 200, "error_code": None}
    # they waited with backoff (capped) and said when the database was back
    assert all(report["retry_lines"].values()) and all(report["reachable_again_lines"].values())
    assert {"claim_jobs", "firing due timers"} <= set(report["retried"])
    assert 0 < report["longest_retry_delay_s"] <= RETRY_CAP
    # agent calls that finished while the database was down kept their result and recorded it afterwards
    assert report["results_recorded_after_outage"] >= 1 and report["results_given_up"] == 0

    worker_log = (tmp_path / "worker-1.log").read_text()
    retry = re.search(r"WARNING baton\.worker database unavailable, retrying claim_jobs in [0-9.]+ s (.*)", worker_log)
    assert retry, worker_log[-3000:]
    fields = dict(pair.split("=", 1) for pair in retry.group(1).split(" ") if "=" in pair)
    assert {"worker_id", "what", "attempt", "retry_in", "error"} <= set(fields)
    assert "Traceback" not in worker_log and "Traceback" not in (tmp_path / "serve.log").read_text()
