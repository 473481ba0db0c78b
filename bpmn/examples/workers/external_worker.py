"""An external worker for the topic charge-card (bpmn/examples/external_charge.bpmn), standard library only.

    BATON_TOKEN=... python bpmn/examples/workers/external_worker.py --url http://127.0.0.1:8080 --topic charge-card

It long-polls Baton's REST API for jobs (up to 30 s per request, answered as soon as a job appears),
computes ``amount_cents`` and ``receipt`` from the job's ``amount`` and completes the job with them.  A
job it cannot handle (no amount, or not a positive number) is reported as a failure: Baton retries it
after ``--retry-timeout`` ms while attempts are left, then makes it an incident.  Ctrl+C stops it.

It signs in with the API token of a user whose role is ``operator`` (``--token``, or ``BATON_TOKEN``):
``baton users add worker --role operator --no-password`` then ``baton tokens create worker``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any


HEADERS = {"Content-Type": "application/json"}  # main() adds "Authorization: Bearer <token>"


def post(url: str, path: str, body: dict[str, Any], timeout: float = 40.0) -> Any:
    """POST JSON to /api/v1/external-tasks<path>; the decoded answer (None for 204 No Content)."""
    request = urllib.request.Request(f"{url}/api/v1/external-tasks{path}", data=json.dumps(body).encode(),
                                     headers=HEADERS, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read()
    return json.loads(data) if data else None


def charge(variables: dict[str, Any], job_id: str) -> dict[str, Any]:
    """The work itself: here, a pretend card charge that computes a receipt."""
    amount = variables.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        raise ValueError(f"amount must be a positive number, not {amount!r}")
    cents = round(amount * 100)
    return {"amount_cents": cents, "receipt": f"R-{cents}-{job_id[:8]}"}


def handle(url: str, worker: str, task: dict[str, Any], retry_timeout: int) -> bool:
    """Run one job and report the outcome; True if it was completed."""
    try:
        result = charge(task["variables"], task["id"])
    except Exception as exc:  # noqa: BLE001 - any failure of the work is reported to Baton
        retries = max(0, task["retries"] - 1)
        post(url, f"/{task['id']}/failure", {"workerId": worker, "errorMessage": str(exc),
                                             "errorDetails": f"{type(exc).__name__}: {exc}",
                                             "retries": retries, "retryTimeout": retry_timeout})
        print(f"failed   {task['id']}: {exc} ({retries} retries left)", flush=True)
        return False
    post(url, f"/{task['id']}/complete", {"workerId": worker, "variables": result})
    print(f"complete {task['id']}: {result}", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="Baton's address")
    parser.add_argument("--topic", default="charge-card", help="the topic to work on")
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}:{os.getpid()}")
    parser.add_argument("--lock", type=int, default=60_000, help="lock duration in ms")
    parser.add_argument("--retry-timeout", type=int, default=10_000, help="ms before a failed job is retried")
    parser.add_argument("--max-jobs", type=int, default=0, help="stop after this many jobs (0: never)")
    parser.add_argument("--token", default=os.environ.get("BATON_TOKEN"),
                        help="API token of an operator (default: $BATON_TOKEN)")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("an API token is needed: --token or BATON_TOKEN (baton tokens create USER)")
    HEADERS["Authorization"] = f"Bearer {args.token}"
    url = args.url.rstrip("/")
    fetch = {"workerId": args.worker_id, "maxTasks": 5, "asyncResponseTimeout": 30_000,
             "topics": [{"topicName": args.topic, "lockDuration": args.lock}]}
    print(f"worker {args.worker_id} waiting for jobs of {args.topic} at {url}", flush=True)
    done = 0
    try:
        while not args.max_jobs or done < args.max_jobs:
            for task in guarded(lambda: post(url, "/fetch-and-lock", fetch)) or []:
                guarded(lambda task=task: handle(url, args.worker_id, task, args.retry_timeout))
                done += 1
    except KeyboardInterrupt:
        pass
    return 0


def guarded(call: Any) -> Any:
    """Run one request; an error answer (e.g. 409: the lock expired meanwhile) or a connection problem is
    printed, and the worker carries on (after 5 s when Baton cannot be reached)."""
    try:
        return call()
    except urllib.error.HTTPError as exc:
        with exc:
            print(f"Baton answered {exc.code}: {exc.read().decode(errors='replace')}", file=sys.stderr, flush=True)
        if exc.code in (401, 403):  # a wrong or revoked token, or too small a role: trying again cannot help
            raise SystemExit(2) from exc
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach Baton: {exc}; trying again in 5 s", file=sys.stderr, flush=True)
        time.sleep(5)
    return None


if __name__ == "__main__":
    sys.exit(main())
