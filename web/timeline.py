"""The instance page's timeline: who worked when, as a Gantt chart (``templates/_timeline.html``).

One lane per agent (from the agent-call log, ``engine.agent_calls``: one bar per call, so a retry is a bar of
its own, coloured by how the call ended) and one lane per person (from the history: a user task from its
creation to its completion, under the name of whoever completed it).  A task still open runs to now.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.store.queries import as_utc

from .charts import gantt
from .formatting import human_seconds

PERSON_TASKS = ("userTask", "manualTask")


def _epoch(value: dt.datetime | None) -> float:
    stamp = as_utc(value)
    return stamp.timestamp() if stamp is not None else 0.0


def agent_lanes(calls: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    lanes: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        what = c["element_name"] or c["element_id"]
        title = (
            f"{what} · attempt {c['attempt']} · {c['outcome'].replace('_', ' ')} · "
            f"{human_seconds(c['duration'])}" + (f" · {c['error']}" if c["error"] else "")
        )
        if c["cost"]:
            title += " · " + ", ".join(f"{v:g} {unit}" for unit, v in c["cost"].items())
        lanes.setdefault(f"agent {c['topic']}", []).append(
            {
                "start": _epoch(c["started_at"]),
                "end": _epoch(c["finished_at"]),
                "cls": c["outcome"],
                "title": title,
                "attempt": c["attempt"],
                "element_id": c["element_id"],
            }
        )
    return lanes


def person_lanes(history: list[Any], now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    opened: dict[str, Any] = {}
    lanes: dict[str, list[dict[str, Any]]] = {}
    for h in history:
        if h.element_type not in PERSON_TASKS or not h.task_id:
            continue
        if h.event == "task_created":
            opened[h.task_id] = h
        elif h.event in ("activity_completed", "activity_cancelled") and h.task_id in opened:
            created = opened.pop(h.task_id)
            who = (h.details or {}).get("user") or "someone"
            ended = "completed" if h.event == "activity_completed" else "cancelled"
            lanes.setdefault(f"person {who}", []).append(_task_bar(created, h.at, ended))
    for created in opened.values():
        lanes.setdefault("person (not done yet)", []).append(_task_bar(created, now, "open"))
    return lanes


def _task_bar(created: Any, end: dt.datetime, outcome: str) -> dict[str, Any]:
    start, stop = _epoch(created.at), _epoch(end)
    what = created.element_name or created.element_id
    return {
        "start": start,
        "end": stop,
        "cls": f"task-{outcome}",
        "element_id": created.element_id,
        "title": f"{what} · {outcome.replace('-', ' ')} · {human_seconds(stop - start)}",
        "attempt": None,
    }


def timeline(calls: list[dict[str, Any]], history: list[Any], now: dt.datetime) -> dict[str, Any] | None:
    """The chart's geometry (see ``web.charts.gantt``), None when nobody has worked on the instance yet."""
    lanes = {**agent_lanes(calls), **person_lanes(history, now)}
    if not lanes:
        return None
    bars = [b for lane in lanes.values() for b in lane]
    start, end = min(b["start"] for b in bars), max(b["end"] for b in bars)
    rows = [{"label": label, "bars": lane} for label, lane in lanes.items()]
    chart = gantt(rows, start, end, width=1000)
    # the first mark says when (UTC), the others how long after it
    chart["ticks"] = [
        (px, dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M:%S") if n == 0 else f"+{human_seconds(t - start)}")
        for n, (px, t) in enumerate(chart["ticks"])
    ]
    chart["started"] = dt.datetime.fromtimestamp(start, dt.UTC)
    chart["total"] = human_seconds(end - start)
    return chart
