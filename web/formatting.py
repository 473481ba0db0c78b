"""How the pages write figures for people (one place, so every page says it the same way)."""

from __future__ import annotations


def human_seconds(value: float | None) -> str:
    """A duration: ``350 ms``, ``4.2 s``, ``4 min 10 s``, ``3 h 5 min``, ``2 d 4 h``; empty when unknown."""
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, sec = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {sec} s"
