"""The figures of the dashboard and of ``/metrics``, computed from the database when they are asked for.

Every number is a query over the shared tables (instances, history, jobs, incidents, circuits, timers),
never a counter kept in one process's memory: every node's ``/metrics`` answers the same, and a restart
loses nothing.  Counters ("started", "failed", job attempts) are counts of history events, which only
grow; gauges (queue depth, open incidents, circuit state) are the current rows.

:class:`BatonCollector` turns the figures into Prometheus metric families (``prometheus_client``), and
:func:`exposition` renders them in the text format.  The dashboard reads the same methods.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, case, func, select

from .store import job_queries as jq
from .store import queries as q

#: upper bounds (seconds) of the activity-duration and timer-lateness histograms
DURATION_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400)
LATENESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)
_ACTIVITY_EVENTS = ("task_created", "activity_started", "activity_waiting", "activity_completed")
_NOT_ACTIVITIES = ("startEvent", "endEvent")
_INSTANCE_EVENTS = {"instance_started": "started", "instance_completed": "completed",
                    "instance_failed": "failed", "instance_cancelled": "cancelled"}
_JOB_EVENTS = ("job_completed", "job_failed", "job_bpmn_error", "incident_created", "incident_retried")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.95 for p95) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _seconds(start: Any, end: Any) -> float:
    start, end = q.as_utc(start), q.as_utc(end)
    return max((end - start).total_seconds(), 0.0) if start and end else 0.0


class MetricsMixin:
    """Mixed into :class:`engine.runtime.Engine`: read-only figures, one transaction each."""

    def instance_counts(self) -> dict[str, dict[str, int]]:
        """Per process key: how many instances were started, completed, failed and cancelled (history)."""
        h, i = q.history, q.instances
        query = (select(i.c.process_key, h.c.event, func.count())
                 .select_from(h.join(i, i.c.id == h.c.instance_id))
                 .where(h.c.event.in_(list(_INSTANCE_EVENTS)))
                 .group_by(i.c.process_key, h.c.event))
        out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_INSTANCE_EVENTS.values(), 0))
        with self._tx() as conn:  # type: ignore[attr-defined]
            for key, event, count in conn.execute(query):
                out[key][_INSTANCE_EVENTS[event]] = int(count)
        return dict(out)

    def activity_durations(self) -> list[tuple[str, str, str | None, float]]:
        """(process key, element id, element name, seconds) of every completed activity, from its history.

        An activity's time runs from its first event (created, started or waiting) to its completion.  Start
        and end events and gateways take no time and are left out.
        """
        h, i = q.history, q.instances
        done = func.sum(case((h.c.event == "activity_completed", 1), else_=0))
        per_task = (select(h.c.instance_id, h.c.task_id, h.c.element_id, func.max(h.c.element_name).label("name"),
                           func.min(h.c.at).label("first"), func.max(h.c.at).label("last"))
                    .where(h.c.task_id.is_not(None), h.c.element_id.is_not(None), h.c.event.in_(_ACTIVITY_EVENTS),
                           h.c.element_type.not_in(_NOT_ACTIVITIES), h.c.element_type.not_like("%Gateway"))
                    .group_by(h.c.instance_id, h.c.task_id, h.c.element_id)
                    .having(done > 0).subquery())
        query = select(i.c.process_key, per_task).join(i, i.c.id == per_task.c.instance_id)
        with self._tx() as conn:  # type: ignore[attr-defined]
            return [(r.process_key, r.element_id, r.name, _seconds(r.first, r.last)) for r in conn.execute(query)]

    def slowest_activities(self, limit: int = 10) -> list[dict[str, Any]]:
        """The elements with the longest average time, with their p95 and how many ran."""
        grouped: dict[tuple[str, str], tuple[str | None, list[float]]] = {}
        for key, element, name, seconds in self.activity_durations():
            entry = grouped.setdefault((key, element), (name, []))
            entry[1].append(seconds)
        rows: list[dict[str, Any]] = [
            {"process_key": key, "element_id": element, "name": name or element, "count": len(values),
             "avg": sum(values) / len(values), "p95": percentile(values, 0.95)}
            for (key, element), (name, values) in grouped.items()]
        rows.sort(key=lambda r: (-r["avg"], r["process_key"], r["element_id"]))
        return rows[:limit]

    def per_minute(self, minutes: int = 60) -> dict[str, Any]:
        """Instances started and completed in each of the last ``minutes`` minutes (oldest first)."""
        now: dt.datetime = self.now()  # type: ignore[attr-defined]
        end = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        start = end - dt.timedelta(minutes=minutes)
        h = q.history
        query = select(h.c.event, h.c.at).where(h.c.event.in_(["instance_started", "instance_completed"]),
                                                h.c.at >= start)
        started, completed = [0] * minutes, [0] * minutes
        with self._tx() as conn:  # type: ignore[attr-defined]
            for event, at in conn.execute(query):
                slot = int((q.as_utc(at) - start).total_seconds() // 60)  # type: ignore[operator]
                if 0 <= slot < minutes:
                    (started if event == "instance_started" else completed)[slot] += 1
        return {"minutes": [(start + dt.timedelta(minutes=n)).strftime("%H:%M") for n in range(minutes)],
                "started": started, "completed": completed}

    def job_queue(self) -> list[dict[str, Any]]:
        """Open jobs per topic and status, with the age (s) of the oldest that is due."""
        j = jq.jobs
        query = select(j.c.topic, j.c.status, func.count(), func.min(j.c.due_at)).group_by(j.c.topic, j.c.status)
        now: dt.datetime = self.now()  # type: ignore[attr-defined]
        with self._tx() as conn:  # type: ignore[attr-defined]
            return [{"topic": topic, "status": status, "count": int(count),
                     "oldest_age": _seconds(oldest, now)}  # 0 while the oldest is not due yet
                    for topic, status, count, oldest in conn.execute(query)]

    def job_counts(self) -> dict[str, dict[str, int]]:
        """Per topic, how often each job event happened (completed, failed, bpmn error, incident, retried)."""
        h = q.history
        topic = h.c.details["topic"].as_string()
        query = (select(topic, h.c.event, func.count()).where(h.c.event.in_(_JOB_EVENTS))
                 .group_by(topic, h.c.event))
        out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_JOB_EVENTS, 0))
        with self._tx() as conn:  # type: ignore[attr-defined]
            for name, event, count in conn.execute(query):
                out[name or ""][event] = int(count)
        return dict(out)

    def open_incident_counts(self) -> list[dict[str, Any]]:
        """Open incidents per process key and topic."""
        inc = jq.incidents
        query = (select(inc.c.process_key, inc.c.topic, func.count()).where(inc.c.resolved_at.is_(None))
                 .group_by(inc.c.process_key, inc.c.topic))
        with self._tx() as conn:  # type: ignore[attr-defined]
            return [{"process_key": k, "topic": t, "count": int(n)} for k, t, n in conn.execute(query)]

    def timer_lateness(self) -> dict[str, Any]:
        """How late timers fired (from ``timer_fired`` history): cumulative bucket counts, count and sum."""
        h = q.history
        late = h.c.details["late_by"].as_float()
        columns = [func.sum(case((late <= bound, 1), else_=0)) for bound in LATENESS_BUCKETS]
        query = select(func.count(), func.coalesce(func.sum(late), 0.0), *columns).where(
            and_(h.c.event == "timer_fired", late.is_not(None)))
        with self._tx() as conn:  # type: ignore[attr-defined]
            row = conn.execute(query).one()
        count, total = int(row[0] or 0), float(row[1] or 0.0)
        return {"buckets": [(b, int(n or 0)) for b, n in zip(LATENESS_BUCKETS, row[2:], strict=True)],
                "count": count, "sum": total}


def histogram_buckets(values: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    buckets = [(_bound(b), float(sum(1 for v in values if v <= b))) for b in bounds]
    return buckets + [("+Inf", float(len(values)))]


def _bound(value: float) -> str:
    return str(float(value))


class BatonCollector:
    """A Prometheus collector that queries the engine's database at every scrape."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def describe(self) -> list[Any]:
        return []  # nothing to query when registering; families appear at scrape time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        eng = self.engine
        names = {"started": "Instances started", "completed": "Instances completed",
                 "failed": "Instances that failed (a script, expression or model error)",
                 "cancelled": "Instances cancelled"}
        counts = eng.instance_counts()
        for what, doc in names.items():
            fam = CounterMetricFamily(f"baton_instances_{what}", doc, labels=["process_key"])
            for key, values in sorted(counts.items()):
                fam.add_metric([key], values[what])
            yield fam
        status = GaugeMetricFamily("baton_instances", "Instances by current status", labels=["status"])
        for name, count in sorted(eng.count_by_status().items()):
            status.add_metric([name], count)
        yield status
        yield from self._activities()
        yield from self._jobs()
        incidents = GaugeMetricFamily("baton_incidents_open", "Open incidents", labels=["process_key", "topic"])
        for row in eng.open_incident_counts():
            incidents.add_metric([row["process_key"], row["topic"]], row["count"])
        yield incidents
        circuit = GaugeMetricFamily("baton_circuit_state", "Circuit breaker state of a topic (1 = in this state)",
                                    labels=["topic", "state"])
        failures = GaugeMetricFamily("baton_circuit_failures", "Failures counted by a topic's circuit breaker",
                                     labels=["topic"])
        for c in eng.circuits():
            for state in ("closed", "open", "half_open"):
                circuit.add_metric([c.topic, state], 1.0 if c.state == state else 0.0)
            failures.add_metric([c.topic], c.failures)
        yield circuit
        yield failures
        late = eng.timer_lateness()
        timers = HistogramMetricFamily("baton_timer_lateness_seconds", "How late timers fired after their due time")
        timers.add_metric([], [(_bound(b), float(n)) for b, n in late["buckets"]] + [("+Inf", float(late["count"]))],
                          sum_value=late["sum"])
        yield timers
        from .agent_metrics import agent_families  # (it builds on this module)

        yield from agent_families(eng)

    def _activities(self) -> Iterator[Any]:
        from prometheus_client.core import HistogramMetricFamily

        by_element: dict[tuple[str, str], list[float]] = defaultdict(list)
        for key, element, _name, seconds in self.engine.activity_durations():
            by_element[(key, element)].append(seconds)
        fam = HistogramMetricFamily("baton_activity_duration_seconds",
                                    "Time from an activity's creation to its completion",
                                    labels=["process_key", "element_id"])
        for (key, element), values in sorted(by_element.items()):
            fam.add_metric([key, element], histogram_buckets(values, DURATION_BUCKETS), sum_value=sum(values))
        yield fam

    def _jobs(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        depth = GaugeMetricFamily("baton_job_queue_depth", "Open jobs", labels=["topic", "status"])
        age = GaugeMetricFamily("baton_job_queue_oldest_age_seconds", "How long the oldest due job has waited",
                                labels=["topic", "status"])
        for row in self.engine.job_queue():
            depth.add_metric([row["topic"], row["status"]], row["count"])
            age.add_metric([row["topic"], row["status"]], row["oldest_age"])
        yield depth
        yield age
        counts = self.engine.job_counts()
        families = {
            "attempts": ("Job attempts that ended (completed, failed, BPMN error or incident)",
                         ("job_completed", "job_failed", "job_bpmn_error", "incident_created")),
            "failures": ("Failed job attempts (retried later or turned into an incident)",
                         ("job_failed", "incident_created")),
            "retries": ("Job retries: automatic (after a failed attempt) and incidents retried by a person",
                        ("job_failed", "incident_retried")),
            "incidents": ("Incidents created", ("incident_created",)),
        }
        for name, (doc, events) in families.items():
            fam = CounterMetricFamily(f"baton_job_{name}", doc, labels=["topic"])
            for topic, per_event in sorted(counts.items()):
                fam.add_metric([topic], sum(per_event[e] for e in events))
            yield fam


def exposition(engine: Any) -> tuple[bytes, str]:
    """The figures in Prometheus text format, with the content type to serve them with."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(BatonCollector(engine))
    return generate_latest(registry), CONTENT_TYPE_LATEST
