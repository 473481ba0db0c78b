"""The dashboard (``/`` and ``/dashboard``): instances by status, started and completed per minute, open
incidents, the slowest activities and the agents' performance (``engine/agent_metrics.py``), each as an inline
SVG chart with its numbers.

The figures come from the engine's metrics methods (``engine/metrics.py``), the same ones ``/metrics``
serves.  The page refreshes its figures every few seconds by fetching ``?fragment=1`` (the charts'
HTML only); without JavaScript it is a plain page that shows the figures as they were when loaded.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from engine.execution import STATUSES

from . import get_engine
from .charts import bar_chart, line_chart
from .formatting import human_seconds

bp = Blueprint("dashboard", __name__)


def figures() -> dict[str, object]:
    """Everything the dashboard shows, read from the database now."""
    eng = get_engine()
    counts = eng.count_by_status()
    by_status = [{"label": s, "value": counts.get(s, 0), "cls": s} for s in STATUSES]
    minutes = eng.per_minute(60)
    incidents = sorted(eng.open_incident_counts(), key=lambda r: (-r["count"], r["process_key"], r["topic"]))
    incident_rows = [{"label": f"{r['process_key']} · {r['topic']}", "value": r["count"], "cls": "incident"}
                     for r in incidents[:8]]
    slowest = eng.slowest_activities(8)
    slow_rows = [{**r, "label": r["name"], "value": r["avg"], "cls": "slow"} for r in slowest]
    agents = eng.agent_stats()
    agent_rows = [{"label": r["topic"], "value": r["p50"], "p95": r["p95"], "cls": "agent"} for r in agents[:8]]
    return {
        "agents": agents,
        "agent_chart": bar_chart(agent_rows, mark="p95", width=1140, label_width=160) if agent_rows else None,
        "counts": counts, "total": sum(counts.values()),
        "status_chart": bar_chart(by_status, width=560, label_width=110),
        "minutes": minutes,
        "minute_chart": line_chart(minutes["minutes"], {"started": minutes["started"],
                                                        "completed": minutes["completed"]}, width=560),
        "incidents": incidents, "incident_total": sum(r["count"] for r in incidents),
        "incident_chart": bar_chart(incident_rows, width=560, label_width=220) if incident_rows else None,
        "slowest": slowest,
        "slow_chart": bar_chart(slow_rows, mark="p95", width=560, label_width=220) if slow_rows else None,
        "seconds": human_seconds,
    }


@bp.get("/")
@bp.get("/dashboard")
def index():  # type: ignore[no-untyped-def]
    template = "dashboard_figures.html" if request.args.get("fragment") else "dashboard.html"
    return render_template(template, **figures())
