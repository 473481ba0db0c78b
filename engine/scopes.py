"""Scopes: interrupting event subprocesses, terminate end events and cancelled transactions.

- **Event subprocesses.**  SpiffWorkflow ignores ``isInterrupting``: an event subprocess always runs next to
  the rest of its scope.  :class:`ScopeStartEvent` reads the flag; when an interrupting event subprocess's
  start event fires (whatever its trigger: error, escalation, message, signal, timer), everything else in
  the enclosing scope (process or subprocess) is cancelled, so the scope ends when the event subprocess ends.
  Start events of event subprocesses may also be error and escalation events (SpiffWorkflow's start event
  parser skips those definitions, which turns such an event subprocess into one that starts right away).
- **Terminate end events** are SpiffWorkflow's own: they end the (sub)workflow they are in, which is the
  process, an embedded subprocess or one instance of a multi-instance subprocess.
- **Transactions.**  A cancel end event cancels its transaction and the cancel boundary event's path is
  taken (SpiffWorkflow's behaviour), after the transaction's completed activities are compensated
  (:func:`engine.compensation.compensate_scope`): the cancel end event waits for their handlers.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import (
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TIMER_EVENT_XPATH,
    StartEventParser,
)
from SpiffWorkflow.bpmn.specs.defaults import StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.simple import CancelEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent as EndEventMixin
from SpiffWorkflow.util.task import TaskState

from . import compensation
from .links import LinkProcessParser

_COMPENSATED, _THROW_LATER = "baton_transaction_compensated", "baton_cancel_after_compensation"

START_EVENT_XPATHS = [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH,
                      ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH]


class ScopeStartEvent(StartEvent):
    """A start event that knows whether it interrupts (only meaningful in an event subprocess)."""

    bpmn_type = "startEvent"

    def __init__(self, wf_spec, bpmn_id, event_definition, interrupting=True, **kwargs):
        super().__init__(wf_spec, bpmn_id, event_definition, **kwargs)
        self.interrupting = interrupting

    def _on_ready_hook(self, my_task):
        super()._on_ready_hook(my_task)
        holder = event_subprocess_task(my_task.workflow) if self.interrupting else None
        if holder is not None:
            if not holder.children:  # started by SpiffWorkflow's own trigger: give it its path to the end
                holder.task_spec._predict(holder, mask=holder.state | TaskState.FUTURE | TaskState.PREDICTED_MASK)
            interrupt_scope(holder)


def is_event_subprocess(task: Any) -> bool:
    """True for the task running an event subprocess (SpiffWorkflow parses them as plain subprocesses)."""
    return compensation.is_event_subprocess_spec(task.task_spec)


def event_subprocess_task(workflow: Any) -> Any:
    """The task that runs ``workflow`` if it is an event subprocess, else None."""
    if workflow.parent_task_id is None:
        return None
    task = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
    return task if task is not None and is_event_subprocess(task) else None


def interrupt_scope(holder: Any) -> None:
    """Cancel every open path of the scope that holds event subprocess task ``holder``, except ``holder``."""
    for task in list(holder.workflow.task_tree.children):
        if task is not holder:
            cancel_tree(task)


def cancel_tree(task: Any) -> None:
    """Cancel ``task`` and what follows it, the instances of a multi-instance activity in it included.

    SpiffWorkflow's cancel drops an open task's children from the tree without cancelling them, so the
    called processes and subprocesses of a multi-instance activity's instances would go on running
    without their parent task: cancel those instances first (a cancelled task stays in the tree).
    """
    for child in list(task.children):
        if child.state & TaskState.NOT_FINISHED_MASK:
            cancel_tree(child)
    task.cancel()


def trigger_event_subprocess(workflow: Any, name: str, start_spec: Any) -> Any:
    """Start event subprocess ``name`` of ``workflow`` and return its start event task, waiting to catch.

    The event subprocess task hangs under the scope's start task and leads to the scope's end (see
    :class:`ScopeProcessParser`), as SpiffWorkflow does for the process level.
    """
    spec = workflow.spec.task_specs[name]
    child = workflow.task_tree._add_child(spec, TaskState.FUTURE)
    child.triggered = True
    child.task_spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)  # its path to the end
    child.task_spec._update(child)
    sub = workflow.top_workflow.subprocesses[child.id]
    return next(t for t in sub.get_tasks(spec_name=start_spec.name) if t.state == TaskState.WAITING)


class ScopeProcessParser(LinkProcessParser):
    """The parser of a process or subprocess scope (link events: see ``engine.links``).

    - Each event subprocess is wired at parse time: input from the start task, output to the end.
      SpiffWorkflow wires them when first triggered, on the shared spec, and also adds the event subprocess
      to the start task's outputs, after which every new instance of that spec starts it right away.  With
      the input in place SpiffWorkflow's own trigger leaves the spec alone.  An event subprocess without an
      id (BPMN allows it) gets one, since SpiffWorkflow names specs by id.
    - A flow node without outgoing sequence flow ends its path (BPMN's implicit end event): it leads to
      the scope's end, so a scope whose other paths were cancelled (interrupting catchers) can complete.
    """

    def __init__(self, parser, node, nsmap, data_stores, filename=None, lane=None):
        for n, child in enumerate(node.iterchildren("{*}subProcess")):
            if child.get("triggeredByEvent") == "true" and not child.get("id"):
                child.set("id", f"{node.get('id')}_eventSubProcess_{n}")
        super().__init__(parser, node, nsmap, data_stores, filename=filename, lane=lane)

    def add_tasks(self):
        super().add_tasks()
        for name in self.spec.start.trigger_specs:
            spec = self.spec.task_specs[name]
            if self.spec.start not in spec.inputs:
                spec.inputs = [*spec.inputs, self.spec.start]
            if self.spec.end not in spec.outputs:
                spec.connect(self.spec.end)
        for spec in list(self.spec.task_specs.values()):
            # multi-instance children ("X [child]") have no outputs by design
            if not spec.outputs and getattr(spec, "bpmn_id", None) and spec.name == spec.bpmn_id:
                spec.connect(self.spec.end)


class ScopeStartEventParser(StartEventParser):
    """Start events with error/escalation definitions too, and ``isInterrupting`` (default true)."""

    def create_task(self):
        event_definition = self.get_event_definition(START_EVENT_XPATHS)
        interrupting = self.node.get("isInterrupting", "true").lower() != "false"
        task = self._create_task(event_definition)
        task.interrupting = interrupting
        self.spec.start.connect(task)
        return task


class TransactionCancelMixin:
    """End event behaviour for ``cancelEventDefinition``: compensate, then cancel the transaction.

    The cancel event reaches the cancel boundary event when the end event runs (SpiffWorkflow's throw).
    SpiffWorkflow then cancels the transaction's workflow from the completion hook, which makes the
    completion that follows report the transaction as *completed* (its normal outgoing flow is taken too).
    Here the transaction task itself is cancelled once the end event's completion has been announced.
    """

    event_definition: Any

    def _run_hook(self, my_task):
        """First compensate the transaction's completed activities; the cancel is thrown once they are undone."""
        if isinstance(self.event_definition, CancelEventDefinition) and not my_task._get_internal_data(_COMPENSATED):
            my_task._set_internal_data(**{_COMPENSATED: True})
            if compensation.compensate_scope(my_task, scope=my_task.workflow):
                my_task._set_internal_data(**{_THROW_LATER: True})
                return None  # stays STARTED; compensation.settle completes it when every handler is done
        return super()._run_hook(my_task)  # type: ignore[misc]

    def _on_complete_hook(self, my_task):
        if isinstance(self.event_definition, CancelEventDefinition):
            super(EndEventMixin, self)._on_complete_hook(my_task)  # type: ignore[misc]  # not SpiffWorkflow's cancel
        else:
            super()._on_complete_hook(my_task)  # type: ignore[misc]

    def _on_complete(self, my_task):
        if my_task.internal_data.pop(_THROW_LATER, False):
            self.event_definition.throw(my_task)
        super()._on_complete(my_task)  # type: ignore[misc]
        if isinstance(self.event_definition, CancelEventDefinition):
            workflow = my_task.workflow
            if workflow.parent_task_id is not None:
                workflow.top_workflow.get_task_from_id(workflow.parent_task_id).cancel()
