"""Camunda's multi-instance variables, visible to the expressions of a multi-instance activity.

Camunda 7 gives each multi-instance activity ``nrOfInstances``, ``nrOfCompletedInstances`` and
``nrOfActiveInstances``, and each of its instances ``loopCounter`` (0, 1, ...).  SpiffWorkflow sets none of
them.  Baton computes them from the task tree whenever an expression or script of the activity runs (its
``completionCondition``, assignee, input mappings, scripts, and the tasks of a multi-instance embedded
subprocess): they are local, as in Camunda, so they never become process variables.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import ParallelMultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.util.task import TaskState


def is_loop_instance(task: Any) -> bool:
    """True for one instance ("X [child]") of a multi-instance activity."""
    parent = task.parent
    return (parent is not None and hasattr(parent.task_spec, "condition")
            and getattr(parent.task_spec, "task_spec", None) == task.task_spec.name
            and parent.task_spec.name != task.task_spec.name)


def _instance_of(task: Any) -> Any:
    """The multi-instance instance task that ``task`` is, or runs inside (through embedded subprocesses)."""
    while task is not None:
        if is_loop_instance(task):
            return task
        workflow = task.workflow
        if workflow.parent_task_id is None:
            return None
        task = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
        if task is not None and isinstance(task.task_spec, CallActivity) and not is_loop_instance(task):
            return None  # a called process does not see its caller's loop
    return None


def loop_variables(task: Any) -> dict[str, Any]:
    """``{nrOfInstances, nrOfCompletedInstances, nrOfActiveInstances, loopCounter}`` for ``task``, or {}."""
    try:
        instance = _instance_of(task)
    except Exception:  # a task outside any workflow (tests, previews): no loop
        return {}
    if instance is None:
        return {}
    body = instance.parent
    spec = body.task_spec
    instances = [c for c in body.children if c.task_spec.name == instance.task_spec.name]
    completed = len(body.internal_data.get("merged", []))
    active = sum(1 for c in instances if c.state & TaskState.NOT_FINISHED_MASK)
    if isinstance(spec, ParallelMultiInstanceTask):
        total = len(instances)
    elif body.internal_data.get("cardinality") is not None:
        total = int(body.internal_data["cardinality"])
    else:
        data_input = spec.data_input.get(body) if getattr(spec, "data_input", None) is not None else None
        total = len(data_input) if data_input is not None else len(instances)
    return {"nrOfInstances": total, "nrOfCompletedInstances": completed, "nrOfActiveInstances": active,
            "loopCounter": instances.index(instance)}
