"""The ``python`` adapter: call a function ``fn(variables, context) -> dict | None``.

``function`` names it as ``"pkg.module:attr"`` (``attr`` may be dotted), ``"pkg.module.attr"``, or the name
of an entry point in the group ``baton.agents`` (``[project.entry-points."baton.agents"] tax =
"myorg.tax:compute"``).  It is imported on the first call and cached; a name that cannot be resolved is a
non-retryable failure.

What the function does, and what the job gets:

- returns a dict -> output variables; ``None`` -> no outputs; anything else -> non-retryable failure;
- returns ``{"bpmnError": {"code": ..., "message": ...}}``, raises :class:`engine.adapters.BpmnError`,
  any exception with a ``bpmn_error_code`` attribute, or :class:`~engine.errors.BpmnErrorRaised` -> BPMN error;
- raises :class:`~engine.errors.AgentFailure` -> passed through (so it can say ``retryable=False``);
- raises anything else -> retryable ``AgentFailure`` with ``details["traceback"]``.

Artifacts: ``context.artifacts`` maps each artifact of the instance to its latest version, with ``"path"`` a
file to read (in the folder ``context.artifacts_dir``); to produce an artifact, write a file named after it
into ``context.artifacts_out`` (``Path(context.artifacts_out, "report.json").write_text(...)``): it becomes
the artifact's next version when the call succeeds, stored with the job's result.

The function gets a deep copy of the variables and runs in a daemon thread; the call gives up at
``context.deadline`` with a retryable "timed out" failure.  Python cannot kill a thread: a function that
overruns keeps running in the background until it returns on its own (its result is dropped), so
long-running or untrusted work belongs in a ``command`` agent, which is a killable process.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import threading
import traceback
from collections.abc import Callable
from typing import Any

from ..errors import AgentFailure, BpmnErrorRaised
from . import parse_result, seconds
from .base import CallContext

AgentFunction = Callable[[dict[str, Any], CallContext], Any]
ENTRY_POINT_GROUP = "baton.agents"


class PythonAdapter:
    """Runs an in-process Python function as an agent."""

    def __init__(self, function: str | AgentFunction) -> None:
        self.function = function if isinstance(function, str) else _qualname(function)
        self._fn: AgentFunction | None = None if isinstance(function, str) else function
        self._lock = threading.Lock()

    def call(self, variables: dict[str, Any], context: CallContext) -> dict[str, Any]:
        fn = self._resolve()
        budget = context.timeout
        if budget <= 0:
            raise AgentFailure(f"{self.function}: the deadline had passed before the call", retryable=True)
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome["value"] = fn(copy.deepcopy(variables), context)
            except BaseException as exc:  # noqa: B036 - reported to the caller, not swallowed
                outcome["error"] = exc
                outcome["traceback"] = traceback.format_exc()
            finally:
                done.set()

        worker = threading.Thread(target=run, name=f"baton-agent-{context.topic}", daemon=True)
        worker.start()
        if not done.wait(budget):
            raise AgentFailure(f"{self.function} timed out after {seconds(budget)} s", retryable=True, timeout=budget)
        if "error" in outcome:
            raise _translate(outcome["error"], outcome["traceback"], self.function)
        return parse_result(outcome.get("value"), self.function)

    def close(self) -> None:
        """Nothing to release (present so every adapter can be closed the same way)."""

    def _resolve(self) -> AgentFunction:
        with self._lock:
            if self._fn is None:
                self._fn = resolve_function(self.function)
            return self._fn


def resolve_function(name: str) -> AgentFunction:
    """The callable ``name`` designates (see the module docstring); non-retryable ``AgentFailure`` if none."""
    if ":" not in name:
        for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
            return _checked(_load(entry.load, name), name)
        if "." not in name:
            raise AgentFailure(
                f"no function {name!r}: not 'module:attr', not 'module.attr', and no entry point "
                f"of that name in the group {ENTRY_POINT_GROUP!r}",
                retryable=False,
            )
        module_name, attr = name.rsplit(".", 1)
    else:
        module_name, attr = name.split(":", 1)
    target: Any = _load(lambda: importlib.import_module(module_name), name)
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise AgentFailure(
                f"cannot resolve {name!r}: {module_name} has no attribute {attr!r}", retryable=False
            ) from exc
    return _checked(target, name)


def _load(loader: Callable[[], Any], name: str) -> Any:
    try:
        return loader()
    except Exception as exc:
        raise AgentFailure(
            f"cannot import {name!r}: {type(exc).__name__}: {exc}", retryable=False, traceback=traceback.format_exc()
        ) from exc


def _checked(target: Any, name: str) -> AgentFunction:
    if not callable(target):
        raise AgentFailure(f"{name!r} is not callable", retryable=False)
    return target  # type: ignore[no-any-return]


def _translate(exc: BaseException, trace: str, source: str) -> Exception:
    if isinstance(exc, AgentFailure | BpmnErrorRaised):
        return exc
    code = getattr(exc, "bpmn_error_code", None)
    if isinstance(code, str) and code:
        message = getattr(exc, "bpmn_error_message", None) or str(exc) or None
        variables = getattr(exc, "bpmn_error_variables", None)
        return BpmnErrorRaised(code, message, variables if isinstance(variables, dict) else None)
    failure = AgentFailure(
        f"{source} raised {type(exc).__name__}: {exc}", retryable=True, exception=type(exc).__name__, traceback=trace
    )
    failure.__cause__ = exc
    return failure


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
