"""The agent-call log: every adapter call and every external worker's attempt, kept for good.

A job row is deleted when its task moves on, so the durable record of what an agent did is written here, in
the same transaction that records the result (``engine.jobs``): the job id and attempt (with the idempotency
key the agent saw), the topic (the agent's name), the adapter kind (``python``, ``http``, ``command``, or
``external`` for workers that fetch and lock over the REST APIs), where in which instance, which worker, when
the call started and finished, how it ended (``completed``, ``failed``, ``bpmn_error`` or ``timed_out``),
whether a failure was retryable, its message, and the cost the agent reported.

**Cost.**  An agent reports cost in its output object under the reserved key ``_cost``: a flat object of
unit -> number (``{"_cost": {"tokens": 1834, "usd": 0.012}}``).  :func:`split_cost` takes it out of the
output variables (it never becomes a variable); :func:`checked_cost` keeps it only when it has that shape and
otherwise logs a warning naming the instance and the element, and records no cost.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from . import continuations
from .store import call_queries as cq
from .store import queries as q

log = logging.getLogger("baton.agents")

COST_KEY = "_cost"
COMPLETED, FAILED, BPMN_ERROR, TIMED_OUT = "completed", "failed", "bpmn_error", "timed_out"
OUTCOMES = (COMPLETED, FAILED, BPMN_ERROR, TIMED_OUT)
EXTERNAL = "external"
MAX_UNIT = 64  # characters of a cost unit's name


@dataclass(frozen=True)
class CallInfo:
    """What the caller of ``complete_job`` / ``fail_job`` / ``job_bpmn_error`` knows about the call.

    A Baton worker passes its adapter kind and the moment the adapter was called; without it the call is an
    external worker's, which started when the job was locked.
    """

    adapter: str = EXTERNAL
    started_at: dt.datetime | None = None


def split_cost(variables: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """(the output variables without ``_cost``, the raw ``_cost`` value or None)."""
    if COST_KEY not in variables:
        return variables, None
    rest = dict(variables)
    return rest, rest.pop(COST_KEY)


def checked_cost(raw: Any, instance_id: str, element_id: str) -> dict[str, float] | None:
    """``raw`` when it is a flat object of unit -> number; else None, with a warning that says why."""
    if raw is None:
        return None
    problem = _cost_problem(raw)
    if problem is None:
        return {unit: value for unit, value in raw.items()} or None
    log.warning(
        "ignored the cost reported at %s: %s",
        element_id,
        problem,
        extra={"instance_id": instance_id, "element_id": element_id},
    )
    return None


def _cost_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return f"'{COST_KEY}' must be an object of unit -> number like {{\"tokens\": 1834}}, not {type(raw).__name__}"
    for unit, value in raw.items():
        if not isinstance(unit, str) or not unit.strip() or len(unit) > MAX_UNIT:
            return f"'{COST_KEY}' unit {unit!r} must be a name of 1 to {MAX_UNIT} characters"
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"'{COST_KEY}.{unit}' must be a number, not {value!r}"
    return None


def record_call(
    conn: Connection,
    job: Any,
    worker_id: str | None,
    outcome: str,
    now: dt.datetime,
    call: CallInfo | None = None,
    *,
    retryable: bool | None = None,
    error: str | None = None,
    cost: dict[str, float] | None = None,
) -> None:
    """Write one call of ``job`` (a locked job row) in the caller's transaction; continuations are not calls."""
    if job.topic == continuations.TOPIC:
        return
    call = call or CallInfo()
    started = q.as_utc(call.started_at) or q.as_utc(job.updated_at) or now  # a locked job's updated_at: its lock
    started = min(started, now)
    cq.insert_call(
        conn,
        {
            "job_id": job.id,
            "attempt": job.attempt,
            "idempotency_key": f"{job.id}:{job.attempt}",
            "topic": job.topic,
            "adapter": call.adapter,
            "instance_id": job.instance_id,
            "process_key": job.process_key,
            "element_id": job.element_id,
            "element_name": job.element_name,
            "worker_id": worker_id,
            "started_at": started,
            "finished_at": now,
            "duration": (now - started).total_seconds(),
            "outcome": outcome,
            "retryable": retryable,
            "error": error[-4000:] if error else None,
            "cost": cost,
        },
    )


def failure_outcome(details: dict[str, Any]) -> str:
    """``timed_out`` when the adapter gave up at its deadline (its details carry ``timeout``), else ``failed``."""
    return TIMED_OUT if details.get("timeout") is not None else FAILED
