"""The agent of ``bench/jobs.py``: a Python function that does nothing, so only Baton's job path is measured.

Configured as ``AgentConfig(topic="noop", adapter="python", options={"function": "noop_agent:noop"})``
(``bench/`` is on ``sys.path`` when ``bench/jobs.py`` runs).
"""

from __future__ import annotations

import time
from typing import Any


def noop(variables: dict[str, Any], context: Any) -> None:
    """No outputs: the job completes and the instance moves on."""
    return None


def pause(variables: dict[str, Any], context: Any) -> dict[str, Any]:
    """Wait ``variables["pause"]`` seconds (an agent busy on a slow call), then answer with the attempt it saw.

    ``bench/outage.py`` uses it so that calls are under way when the database goes away.
    """
    time.sleep(float(variables.get("pause", 0)))
    return {"attempt_seen": context.attempt}
