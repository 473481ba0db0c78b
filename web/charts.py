"""Geometry for the dashboard's charts, drawn as inline SVG by ``templates/charts.html`` (no chart library).

The functions return plain numbers (coordinates in the SVG's own units); the templates only draw them.
"""

from __future__ import annotations

import math
from typing import Any

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 36, 8, 8, 22


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 × a power of ten); 1 for an empty chart."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def line_chart(labels: list[str], series: dict[str, list[int]], width: int = 640, height: int = 200,
               every: int = 10) -> dict[str, Any]:
    """Lines for several series over the same x labels, with y ticks and an x label every ``every`` points."""
    top = nice_max(max((max(v) for v in series.values() if v), default=0))
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(labels) - 1, 1)

    def y(v: float) -> float:
        return round(PAD_TOP + plot_h - v / top * plot_h, 1)

    lines = []
    for name, values in series.items():
        points = [(round(PAD_LEFT + i * step, 1), y(v)) for i, v in enumerate(values)]
        lines.append({"name": name, "points": " ".join(f"{px},{py}" for px, py in points),
                      "dots": [(px, py, v, labels[i]) for i, ((px, py), v) in enumerate(zip(points, values,
                                                                                             strict=True)) if v],
                      "total": sum(values)})
    ticks_y = [(y(top * f), _fmt(top * f)) for f in (0, 0.5, 1)]
    ticks_x = [(round(PAD_LEFT + i * step, 1), label) for i, label in enumerate(labels)
               if i % every == 0 or i == len(labels) - 1]
    return {"width": width, "height": height, "lines": lines, "ticks_y": ticks_y, "ticks_x": ticks_x,
            "left": PAD_LEFT, "right": width - PAD_RIGHT, "bottom": PAD_TOP + plot_h}


def bar_chart(rows: list[dict[str, Any]], value: str = "value", mark: str | None = None, width: int = 640,
              label_width: int = 220, bar_height: int = 22) -> dict[str, Any]:
    """Horizontal bars, one per row (``rows[i][value]``), with an optional tick at ``rows[i][mark]``."""
    top = nice_max(max((max(r[value], r.get(mark, 0) if mark else 0) for r in rows), default=0))
    plot_w = width - label_width - 60
    bars = []
    for i, row in enumerate(rows):
        bars.append({**row, "y": i * (bar_height + 6), "w": round(row[value] / top * plot_w, 1),
                     "mark_x": round(label_width + row[mark] / top * plot_w, 1) if mark else None})
    return {"width": width, "height": max(len(rows), 1) * (bar_height + 6), "bars": bars, "x0": label_width,
            "bar_height": bar_height, "top": top}


def gantt(rows: list[dict[str, Any]], start: float, end: float, width: int = 760, label_width: int = 170,
          row_height: int = 26, ticks: int = 5) -> dict[str, Any]:
    """A Gantt chart: one lane per row (``{"label", "bars": [{"start", "end", ...}]}``, times in epoch
    seconds) over the time span ``start``..``end``, with ``ticks`` time marks (``x``, epoch seconds)."""
    span = max(end - start, 1e-3)
    plot_w = width - label_width - PAD_RIGHT

    def x(t: float) -> float:
        return round(label_width + (t - start) / span * plot_w, 1)

    lanes = []
    for i, row in enumerate(rows):
        bars = [{**bar, "x": x(bar["start"]), "w": max(round(x(bar["end"]) - x(bar["start"]), 1), 2.0)}
                for bar in row["bars"]]
        lanes.append({**row, "y": PAD_TOP + i * row_height, "bars": bars})
    bottom = PAD_TOP + len(rows) * row_height
    marks = [(x(start + span * n / (ticks - 1)), start + span * n / (ticks - 1)) for n in range(ticks)]
    return {"width": width, "height": bottom + PAD_BOTTOM, "lanes": lanes, "x0": label_width,
            "right": width - PAD_RIGHT, "bottom": bottom, "row_height": row_height, "bar_height": row_height - 8,
            "ticks": marks, "span": span}
