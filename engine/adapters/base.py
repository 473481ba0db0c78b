"""What every agent adapter gets and gives back.

An adapter turns one job into one call to the outside world: a Python function, an HTTP endpoint, a
command.  ``Adapter.call(variables, context)`` returns the output variables (a dict, possibly empty) or
raises :class:`~engine.errors.AgentFailure` (retryable or not, with details) or
:class:`~engine.errors.BpmnErrorRaised` (for an error boundary event).  It runs with no instance lock
held, in a worker thread, and must give up by ``context.deadline``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CallContext:
    """Who is calling and why; passed to every adapter call."""

    instance_id: str
    business_key: str | None
    process_key: str
    process_version: int
    element_id: str
    element_name: str | None
    topic: str
    job_id: str
    attempt: int
    deadline: dt.datetime  # UTC; the call must be over by then
    #: the task's ``camunda:properties`` / Zeebe task headers (name -> value)
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        """The same for every delivery of one attempt: use it to de-duplicate side effects."""
        return f"{self.job_id}:{self.attempt}"

    @property
    def timeout(self) -> float:
        """Seconds left until the deadline (at least 0)."""
        return max(0.0, (self.deadline - dt.datetime.now(dt.UTC)).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["deadline"] = self.deadline.isoformat()
        data["idempotency_key"] = self.idempotency_key
        return data

    def to_env(self) -> dict[str, str]:
        """The context as environment variables ``BATON_INSTANCE_ID`` ... for command adapters."""
        return {f"BATON_{k.upper()}": "" if v is None else json.dumps(v) if isinstance(v, dict) else str(v)
                for k, v in self.to_dict().items()}


class Adapter(Protocol):
    def call(self, variables: dict[str, Any], context: CallContext) -> dict[str, Any]: ...
