"""Conditional events: a waiting conditional catch event or boundary event fires once its condition holds.

SpiffWorkflow evaluates the condition of a conditional event only when the event is reached.  When variables
change (``Engine.set_variables``: the variables API, the instance page), :func:`reevaluate` evaluates the
condition of every waiting conditional event again and runs the instance on from those that hold, so they
fire at once, as in Camunda.  Not supported yet: conditional start events of event subprocesses and of processes
(a process whose only start event is conditional is started like any other, by ``Engine.start``).
"""

from __future__ import annotations

import logging

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .execution import RunError, all_tasks, run

log = logging.getLogger("baton.engine")


def waiting(workflow: BpmnWorkflow) -> list[Task]:
    """The conditional catch and boundary events of the instance that wait for their condition."""
    return [task for task in all_tasks(workflow) if task.state == TaskState.WAITING
            and isinstance(getattr(task.task_spec, "event_definition", None), ConditionalEventDefinition)]


def reevaluate(workflow: BpmnWorkflow) -> RunError | None:
    """After variables changed: evaluate each waiting condition again and run on from those that hold."""
    found = waiting(workflow)
    if not found:
        return None
    fired = False
    for task in found:
        # evaluated on the task's own (changed) data: SpiffWorkflow's update would merge the older data of the
        # task before it over the change
        try:
            holds = task.task_spec.event_definition.has_fired(task)
        except Exception as exc:  # noqa: BLE001 - e.g. a variable the condition names is not set yet
            log.warning("condition of %s cannot be evaluated yet: %s", task.task_spec.bpmn_id, exc,
                        extra={"element_id": task.task_spec.bpmn_id})
            continue
        if holds:
            task._ready()
            fired = True
    return run(workflow) if fired else None
