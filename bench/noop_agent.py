"""The agent of ``bench/jobs.py``: a Python function that does nothing, so only Baton's job path is measured.

Configured as ``AgentConfig(topic="noop", adapter="python", options={"function": "noop_agent:noop"})``
(``bench/`` is on ``sys.path`` when ``bench/jobs.py`` runs).
"""

from __future__ import annotations

from typing import Any


def noop(variables: dict[str, Any], context: Any) -> None:
    """No outputs: the job completes and the instance moves on."""
    return None
