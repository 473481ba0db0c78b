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
    #: the latest version of each artifact of the instance: name -> {"path" (local agents only), "url",
    #: "version", "sha256", "size", "media_type", "produced_by"} (see engine.artifacts)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: local agents (command, python): the folder holding those files, and an empty folder whose top-level
    #: files become new artifact versions when the call succeeds
    artifacts_dir: str | None = None
    artifacts_out: str | None = None

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
        """The context as environment variables ``BATON_INSTANCE_ID`` ... for command adapters.

        The artifacts are files in ``BATON_ARTIFACTS_DIR`` (their details are in the stdin JSON only).
        """
        return {f"BATON_{k.upper()}": "" if v is None else json.dumps(v) if isinstance(v, dict) else str(v)
                for k, v in self.to_dict().items() if k != "artifacts"}


class Adapter(Protocol):
    def call(self, variables: dict[str, Any], context: CallContext) -> dict[str, Any]: ...
