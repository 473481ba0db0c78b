"""Asynchronous continuations: ``camunda:asyncBefore`` / ``camunda:asyncAfter`` as transaction boundaries.

When a path reaches an element marked ``camunda:asyncBefore="true"`` (or leaves one marked
``camunda:asyncAfter="true"``) the engine call stops there: the next task is *held* (kept in the
STARTED state with ``HOLD`` in its internal data, so SpiffWorkflow's engine steps pass it by) and the
caller's transaction stores the instance together with a **continuation job** on the internal topic
``baton:continue`` (transactional outbox, like any job).  Every worker claims these jobs, agents or not,
and :meth:`ContinuationsMixin.continue_job` runs the held task and everything after it in the job's own
transaction.  A failure there (a script error after the boundary) is not the caller's: it is a failed
attempt of the job, retried after the element's ``camunda:failedJobRetryTimeCycle`` (else the default
policy) and finally an incident that ``baton retry`` resolves, as in Camunda.

``camunda:asyncBefore`` on a ``multiInstanceLoopCharacteristics`` holds each instance of the loop.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from .durations import parse_retry_cycle
from .errors import ConfigurationError
from .extensions import BPMN as _BPMN
from .extensions import CAMUNDA as _CAMUNDA

TOPIC = "baton:continue"
HOLD = "baton_hold"  # internal data of a held task: "before" or "after:<element id>"
PASSED = "baton_passed"  # internal data of a task whose boundary was passed (run it, do not hold it again)
_AFTER_DONE = "baton_after_done"
BEFORE, AFTER, CYCLE = "baton:asyncBefore", "baton:asyncAfter", "baton:retryCycle"



def _flag(node: Any, name: str) -> bool:
    value = (node.get(f"{{{_CAMUNDA}}}{name}") or "").strip().lower()
    return value == "true"


def mark(spec: Any, node: Any, filename: str | None = None) -> None:
    """Read the async flags and retry cycle of element ``node`` onto its task spec(s) in process ``spec``."""
    element_id = node.get("id")
    task_spec = spec.task_specs.get(element_id)
    if task_spec is None:
        return
    marks: dict[str, Any] = {}
    if _flag(node, "asyncBefore"):
        marks[BEFORE] = True
    if _flag(node, "asyncAfter"):
        marks[AFTER] = True
    cycle = node.find(f"{{{_BPMN}}}extensionElements/{{{_CAMUNDA}}}failedJobRetryTimeCycle")
    if cycle is not None and (cycle.text or "").strip():
        try:
            parse_retry_cycle(cycle.text.strip())
        except ConfigurationError as exc:
            raise ValidationException(f"camunda:failedJobRetryTimeCycle is not valid: {exc}", node=node,
                                      file_name=filename) from None
        marks[CYCLE] = cycle.text.strip()
    if marks:
        _extensions(task_spec).update(marks)
    loop = node.find(f"{{{_BPMN}}}multiInstanceLoopCharacteristics")
    child = spec.task_specs.get(f"{element_id} [child]")
    if loop is not None and child is not None and (_flag(loop, "asyncBefore") or _flag(loop, "asyncAfter")):
        _extensions(child).update({BEFORE: _flag(loop, "asyncBefore") or None,
                                   AFTER: _flag(loop, "asyncAfter") or None,
                                   CYCLE: marks.get(CYCLE)})


def _extensions(task_spec: Any) -> dict[str, Any]:
    if not isinstance(getattr(task_spec, "extensions", None), dict):
        task_spec.extensions = {}
    return task_spec.extensions  # type: ignore[no-any-return]


def _marks(task: SpiffTask) -> dict[str, Any]:
    return _marks_of(task.task_spec)


def is_held(task: SpiffTask) -> bool:
    return task.state == TaskState.STARTED and HOLD in task.internal_data


def retry_cycle(task: SpiffTask) -> str | None:
    """The retry cycle the continuation job of ``task`` follows (its own, or the element it leaves)."""
    hold = str(task.internal_data.get(HOLD, ""))
    if hold.startswith("after:"):
        source = next((t for t in _ancestors(task) if t.task_spec.bpmn_id == hold[6:]), None)
        return _marks(source).get(CYCLE) if source is not None else None
    return _marks(task).get(CYCLE)


def _ancestors(task: SpiffTask) -> Any:
    parent = task.parent
    while parent is not None:
        yield parent
        parent = parent.parent


class _Held(Exception):
    """A task was held at an async boundary in the middle of SpiffWorkflow's engine steps."""


def _hold(task: SpiffTask, why: str) -> None:
    task._set_state(TaskState.STARTED)
    task.internal_data[HOLD] = why


def _before(task: SpiffTask) -> None:
    if _marks(task).get(BEFORE) and not task.internal_data.get(PASSED) and task.state == TaskState.READY:
        _hold(task, "before")
        raise _Held()


def _after(task: SpiffTask) -> None:
    if task.state != TaskState.COMPLETED or not _marks(task).get(AFTER) or task.internal_data.get(_AFTER_DONE):
        return
    task.internal_data[_AFTER_DONE] = True
    for child in task.children:
        if child.state == TaskState.READY:
            _hold(child, f"after:{task.task_spec.bpmn_id}")


def _has_boundaries(workflow: BpmnWorkflow) -> bool:
    """Whether any spec the instance runs has an async boundary (remembered on the spec objects)."""
    specs = [workflow.spec, *workflow.subprocess_specs.values()]
    for spec in specs:
        if not hasattr(spec, "_baton_async"):
            spec._baton_async = any(_marks_of(t).get(BEFORE) or _marks_of(t).get(AFTER)
                                    for t in spec.task_specs.values())
    return any(spec._baton_async for spec in specs)


def _marks_of(task_spec: Any) -> dict[str, Any]:
    ext = getattr(task_spec, "extensions", None)
    return ext if isinstance(ext, dict) else {}


def engine_steps(workflow: BpmnWorkflow, tasks: Any, pruner: Any = None) -> None:
    """``workflow.do_engine_steps()`` that stops at async boundaries (``tasks`` lists every task, subprocesses
    included: tasks completed outside the engine steps, a user task or a job, are looked at for asyncAfter).

    ``pruner`` (an ``engine.pruning.DuringRun``) is told of every step and of every pause between passes.
    """
    boundaries = _has_boundaries(workflow)
    if boundaries:
        for task in tasks(workflow):
            if task.state == TaskState.COMPLETED:
                _after(task)
            elif task.state == TaskState.READY and task.task_spec.manual and _marks(task).get(BEFORE):
                if not task.internal_data.get(PASSED):
                    _hold(task, "before")
    while True:
        try:
            _passes(workflow, _before if boundaries else None, _after if boundaries else None, pruner)
        except (_Held, _Pruned):
            continue
        if boundaries:
            for task in tasks(workflow):  # a user task that just became ready behind an asyncBefore boundary
                if task.state == TaskState.READY and task.task_spec.manual and _marks(task).get(BEFORE) \
                        and not task.internal_data.get(PASSED):
                    _hold(task, "before")
        return


class _Pruned(Exception):
    """SpiffWorkflow was about to run a task that a pass ended and pruning removed: start a new pass."""


def _passes(workflow: BpmnWorkflow, will: Any, did: Any, pruner: Any) -> None:
    """``do_engine_steps`` (its passes, then the timers), with the pruner called between and inside passes."""
    if pruner is None:
        workflow.do_engine_steps(will_complete_task=will, did_complete_task=did)
        return
    def will_run(task: SpiffTask) -> None:
        if task.workflow.tasks.get(task.id) is not task:  # pruned: the pass ended it (cancelled it) earlier
            raise _Pruned()
        if will is not None:
            will(task)

    def did_run(task: SpiffTask) -> None:
        if did is not None:
            did(task)
        pruner.after_step(task)

    while workflow._do_engine_steps(will_run, did_run):
        pruner.between_passes()
    workflow.refresh_timers()


def release(task: SpiffTask) -> None:
    """Make a held task ready to run (its boundary passed)."""
    task.internal_data.pop(HOLD, None)
    task.internal_data[PASSED] = True
    task._set_state(TaskState.READY)


class ContinuationsMixin:
    """``continue_job``: what a worker does with a ``baton:continue`` job (mixed into the Engine)."""

    _tx: Any
    _save: Any
    _reported_job: Any
    _job_event: Any
    fail_job: Any

    def continue_job(self, job_id: str, worker_id: str) -> bool:
        """Run the held task of a continuation job and everything after it; True if it went through.

        A failure becomes a failed attempt of the job (retried, then an incident); the instance stays held.
        """
        from . import execution
        from .jobs import retry_conflicts
        from .store import job_queries as jq

        def attempt() -> execution.RunError | None:
            with self._tx() as conn:
                job, row, workflow, task, before = self._reported_job(conn, job_id, worker_id)
                release(task)
                error = execution.run(workflow)
                if error is not None:
                    raise _Rollback(error)  # nothing of this attempt is stored
                out = execution.outcome(workflow, before, None)
                if execution.waits_for_job(task) and task.state == TaskState.STARTED and task not in out.new_jobs:
                    out.new_jobs.append(task)  # a job task behind the boundary: its own job starts now
                jq.delete_job(conn, job.id)
                if job.task_id in out.gone_jobs:
                    out.gone_jobs.remove(job.task_id)
                self._save(conn, row, workflow, out, before,
                           [self._job_event(job, "job_completed", worker_id, {"continuation": True})])
                return None

        try:
            error = retry_conflicts(attempt)
        except _Rollback as exc:
            error = exc.error
        if error is None:
            return True
        self.fail_job(job_id, worker_id, error.message, {k: v for k, v in error.to_dict().items()
                                                         if k in ("element_id", "line", "error_type")})
        return False


class _Rollback(Exception):
    def __init__(self, error: Any) -> None:
        super().__init__(error.message)
        self.error = error

