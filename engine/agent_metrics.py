"""Agent performance: per agent (topic), how many calls, how many succeeded, how long they took, how many were
retries and what they cost, from the agent-call log (``engine.agent_calls``).

A call *succeeds* when the agent answered: with a result (``completed``) or with a modelled BPMN error
(``bpmn_error``: the process has a path for it).  ``failed`` and ``timed_out`` are failures.  A *retry* is a
call whose attempt number is above 1.  Durations are the calls' wall-clock times; p50 and p95 are nearest-rank
percentiles.  Cost sums every number the agent reported under ``_cost``, per unit.

The figures feed the dashboard's Agents panel, ``baton agents stats`` and ``/metrics``
(:func:`agent_families`: ``baton_agent_calls_total{agent,outcome}``, ``baton_agent_call_duration_seconds``,
``baton_agent_retries_total{agent}``, ``baton_agent_cost_total{agent,unit}``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .agent_calls import BPMN_ERROR, COMPLETED, OUTCOMES
from .metrics import histogram_buckets, percentile
from .store import call_queries as cq

#: upper bounds (seconds) of the agent-call duration histogram
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
SUCCESS = (COMPLETED, BPMN_ERROR)


class AgentMetricsMixin:
    """Mixed into :class:`engine.runtime.Engine`: read-only figures over ``agent_calls``."""

    def agent_stats(self, window: float | None = None, topic: str | None = None) -> list[dict[str, Any]]:
        """One dict per agent (sorted by topic) over the calls that finished in the last ``window`` seconds
        (None: all of them): ``topic``, ``calls``, ``outcomes`` (outcome -> count), ``success_rate`` (0..1),
        ``p50`` / ``p95`` / ``avg`` / ``total_seconds``, ``retries`` and ``cost`` (unit -> sum)."""
        since = self.now() - dt.timedelta(seconds=window) if window else None  # type: ignore[attr-defined]
        with self._tx() as conn:  # type: ignore[attr-defined]
            rows = cq.calls_for_stats(conn, since, topic)
        return summarize(rows)

    def agent_calls(self, instance_id: str) -> list[dict[str, Any]]:
        """The calls of one instance in the order they started (the instance page's timeline)."""
        with self._tx() as conn:  # type: ignore[attr-defined]
            return [dict(r._mapping) for r in cq.calls_of_instance(conn, instance_id)]


def summarize(rows: list[Any]) -> list[dict[str, Any]]:
    """Per-topic figures of ``(topic, outcome, attempt, duration, cost)`` rows."""
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.topic].append(row)
    result = []
    for topic, calls in sorted(grouped.items()):
        durations = [float(c.duration) for c in calls]
        outcomes = dict.fromkeys(OUTCOMES, 0)
        cost: dict[str, float] = defaultdict(float)
        for call in calls:
            outcomes[call.outcome] = outcomes.get(call.outcome, 0) + 1
            for unit, value in (call.cost or {}).items():
                cost[unit] += value
        ok = sum(outcomes[o] for o in SUCCESS)
        result.append(
            {
                "topic": topic,
                "calls": len(calls),
                "outcomes": outcomes,
                "succeeded": ok,
                "success_rate": ok / len(calls),
                "retries": sum(1 for c in calls if c.attempt > 1),
                "p50": percentile(durations, 0.5),
                "p95": percentile(durations, 0.95),
                "avg": sum(durations) / len(durations),
                "total_seconds": sum(durations),
                "durations": durations,
                "cost": dict(sorted(cost.items())),
            }
        )
    return result


def agent_families(engine: Any) -> Iterator[Any]:
    """The ``baton_agent_*`` Prometheus families (all calls ever recorded, so counters only grow)."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    stats = engine.agent_stats()
    calls = CounterMetricFamily(
        "baton_agent_calls",
        "Agent calls that ended, by outcome (completed, failed, bpmn_error, timed_out)",
        labels=["agent", "outcome"],
    )
    duration = HistogramMetricFamily(
        "baton_agent_call_duration_seconds", "Wall-clock time of agent calls", labels=["agent"]
    )
    retries = CounterMetricFamily(
        "baton_agent_retries", "Agent calls that were retries (attempt 2 or later)", labels=["agent"]
    )
    cost = CounterMetricFamily(
        "baton_agent_cost", "Cost agents reported under _cost, summed per unit", labels=["agent", "unit"]
    )
    for s in stats:
        for outcome, count in s["outcomes"].items():
            calls.add_metric([s["topic"], outcome], count)
        duration.add_metric([s["topic"]], histogram_buckets(s["durations"], CALL_BUCKETS), sum_value=s["total_seconds"])
        retries.add_metric([s["topic"]], s["retries"])
        for unit, total in s["cost"].items():
            cost.add_metric([s["topic"], unit], total)
    yield from (calls, duration, retries, cost)
