"""Pruning completed tasks from SpiffWorkflow's task tree, so a step costs the same after 10,000 steps as after 10.

SpiffWorkflow 3.2 keeps every task an instance ever ran: each loop iteration hangs its tasks under the
previous ones, so the tree only grows.  Every engine step walks the tree (``get_tasks``, waiting tasks,
joins), the stored state grows with it, and at depth 1000 (about 500 loop iterations) the library's tree
iterator stops looking: ``do_engine_steps`` silently does nothing more and the instance looks finished.

:func:`prune` removes the finished tasks that nothing still open can need and hangs each kept task under its
nearest kept ancestor, so the tree keeps only what execution still reads.  What happened is not lost: every
state change is in the history table (``engine.execution.outcome``), which is what the cockpit draws.

Kept, in the process and in each of its subprocesses:

- the root, the last completed task (a finished subprocess hands its data to its caller from it) and every
  open task (future, waiting, ready, started or failed) with its parent (data flows from the parent; a
  parallel or inclusive join looks at the task its path came from) and its children (the instances of a
  multi-instance or standard loop activity);
- for an open structured join (the one after an activity with boundary events): its split and the split's
  children;
- for a join still waiting: the tasks of that join cancelled since it last fired and their parents (their
  paths' data is merged when it fires);
- the last completed task of each element flowing into a parallel or inclusive gateway with several incoming
  flows (a loop back into such a gateway is recognised by finding them among the new pass's ancestors);
- start events and event-subprocess tasks (whether an interrupting event subprocess ended a scope);
- when the process uses compensation: completed activities that a compensation can still undo, with the
  multi-instance task around them, and completed embedded subprocesses (their data is what the handlers
  read); nothing is pruned while a compensation is in progress;
- a task whose subprocess has not finished, and, in the middle of an engine pass, every task that owns a
  subprocess.

Everything else that is finished goes, and so do the subprocesses of the tasks that go.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any
from weakref import WeakKeyDictionary

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from . import compensation, continuations

log = logging.getLogger("baton.engine")

_OPEN = TaskState.NOT_FINISHED_MASK | TaskState.ERROR
MIN_BATCH = 64  # engine steps between two prunes in one engine call, at least


def enabled(workflow: BpmnWorkflow) -> bool:
    """Whether the engine that loaded ``workflow`` prunes it (setting ``prune_completed_tasks``)."""
    return bool(getattr(workflow, "baton_prune", False))


def prune(workflow: BpmnWorkflow, drop_subprocesses: bool = True) -> list[Task]:
    """Remove the finished tasks of ``workflow`` (a top workflow) that nothing open can need.

    Returns the removed tasks that stand for BPMN elements.  With ``drop_subprocesses`` False (in the middle
    of an engine pass, when SpiffWorkflow holds a list of subprocesses) tasks owning a subprocess are kept.
    """
    if _compensating(workflow):
        return []
    undoable = _compensation_targets(workflow)
    removed: list[Task] = []
    for sub_id, sub in list(workflow.subprocesses.items()):
        if sub_id in workflow.subprocesses:  # not deleted with a pruned parent task meanwhile
            removed += _prune_one(sub, undoable, drop_subprocesses)
    removed += _prune_one(workflow, undoable, drop_subprocesses)
    return [t for t in removed if getattr(t.task_spec, "bpmn_id", None) is not None]


def stand_in(task: Task) -> SimpleNamespace:
    """What ``engine.execution.outcome`` reads of a pruned task to write its history event."""
    held = {continuations.HOLD: True} if continuations.HOLD in task.internal_data else {}
    return SimpleNamespace(
        id=task.id,
        state=task.state,
        task_spec=task.task_spec,
        last_state_change=task.last_state_change,
        internal_data=held,
    )


class DuringRun:
    """Prunes an instance now and then while ``engine.execution.run`` advances it, once enough steps ran.

    Pruned element tasks are kept as stand-ins on ``workflow.baton_pruned`` so that the engine call's
    history still has their events.
    """

    def __init__(self, workflow: BpmnWorkflow) -> None:
        self.workflow = workflow
        self.steps = 0
        self.batch = MIN_BATCH
        workflow.baton_pruned = getattr(workflow, "baton_pruned", [])

    def after_step(self, _task: Task | None = None) -> None:
        """Called after each task SpiffWorkflow runs (subprocesses are kept: it holds a list of them)."""
        self.steps += 1
        if self.steps >= 2 * self.batch:  # a long pass (a loop inside a subprocess): prune in its middle
            self._prune(drop_subprocesses=False)

    def between_passes(self) -> None:
        """Called between two of SpiffWorkflow's engine passes (nothing is in the middle of running)."""
        if self.steps >= self.batch:
            self._prune(drop_subprocesses=True)

    def _prune(self, drop_subprocesses: bool) -> None:
        removed = prune(self.workflow, drop_subprocesses)
        self.workflow.baton_pruned.extend(stand_in(t) for t in removed)
        size = len(self.workflow.tasks) + sum(len(s.tasks) for s in self.workflow.subprocesses.values())
        self.steps, self.batch = 0, max(MIN_BATCH, size)


# ---- what is kept --------------------------------------------------------------------------------------


def _compensating(workflow: BpmnWorkflow) -> bool:
    """True while a compensation throw waits for its handlers (they find their targets by id)."""
    for wf in (workflow, *workflow.subprocesses.values()):
        for task in wf.tasks.values():
            if task.state & _OPEN and (
                compensation.WAITING_FOR in task.internal_data or compensation.HANDLING in task.internal_data
            ):
                return True
    return False


def _compensation_targets(workflow: BpmnWorkflow) -> dict[Any, set[str]] | None:
    """Per process spec, the elements a compensation can undo; None when the instance has no compensation."""
    specs = [workflow.spec, *workflow.subprocess_specs.values()]
    found = {spec: {str(b.attached_to) for b in compensation._boundaries(spec)} for spec in specs}
    uses = any(compensation._boundaries(spec) for spec in specs)
    return found if uses else None


def _kept(wf: Any, undoable: dict[Any, set[str]] | None, drop_subprocesses: bool) -> set[Any]:
    tasks = wf.tasks
    top = wf.top_workflow
    keep = {wf.task_tree.id}
    if wf.last_task is not None:
        keep.add(wf.last_task.id)
    targets = undoable.get(wf.spec, set()) if undoable is not None else set()
    waiting_joins: set[Any] = set()
    join_inputs = _join_inputs(wf.spec)
    last_inputs: dict[Any, Task] = {}
    for task in tasks.values():
        spec = task.task_spec
        state = task.state
        if state == TaskState.COMPLETED and spec in join_inputs:
            seen = last_inputs.get(spec)
            if seen is None or task.last_state_change >= seen.last_state_change:
                last_inputs[spec] = task
        if state & _OPEN:
            keep.add(task.id)
            if task._parent is not None:
                keep.add(task._parent)
            keep.update(task._children)
            if isinstance(spec, UnstructuredJoin):
                waiting_joins.add(spec)
            split_name = getattr(spec, "split_task", None)
            if split_name:
                split = _ancestor(task, split_name)
                if split is not None:
                    keep.add(split.id)
                    keep.update(split._children)
            continue
        if isinstance(spec, StartEvent) or compensation.is_event_subprocess_spec(spec):
            keep.add(task.id)
        sub = top.subprocesses.get(task.id)
        if sub is not None and (not drop_subprocesses or not sub.completed):
            keep.add(task.id)
        if (
            undoable is not None
            and state == TaskState.COMPLETED
            and not task.internal_data.get(compensation.COMPENSATED)
        ):
            if getattr(spec, "bpmn_id", None) in targets or (sub is not None and compensation._is_embedded(spec)):
                keep.add(task.id)
                parent = task.parent
                if parent is not None and isinstance(parent.task_spec, LoopTask):
                    keep.add(parent.id)
    for spec in waiting_joins:
        _keep_join_arrivals(wf, spec, keep)
    keep.update(task.id for task in last_inputs.values())
    return keep


def _join_inputs(process_spec: Any) -> frozenset[Any]:
    """The elements that flow into a parallel or inclusive gateway with several incoming flows, whose last
    completed task is kept.  When such a gateway is the target of a loop, SpiffWorkflow decides whether it may
    fire by looking up the new pass's ancestors for a task of each input (``_check_threshold_unstructured``):
    one per input, so the tree stays bounded.  Read once per process spec."""
    inputs = _JOIN_INPUTS.get(process_spec)
    if inputs is None:
        inputs = _JOIN_INPUTS[process_spec] = frozenset(
            source
            for spec in process_spec.task_specs.values()
            if isinstance(spec, UnstructuredJoin) and len(spec.inputs) > 1
            for source in spec.inputs
        )
    return inputs


_JOIN_INPUTS: WeakKeyDictionary[Any, frozenset[Any]] = WeakKeyDictionary()


def _ancestor(task: Task, spec_name: str) -> Task | None:
    """``task.find_ancestor`` without recursion (a tree not yet pruned can be deeper than Python's stack)."""
    parent = task.parent
    while parent is not None and parent.task_spec.name != spec_name:
        parent = parent.parent
    return parent


def _keep_join_arrivals(wf: Any, spec: Any, keep: set[Any]) -> None:
    """Keep the tasks of join ``spec`` finished since it last fired, with the paths they came from."""
    mine = [t for t in wf.tasks.values() if t.task_spec is spec and t.state & TaskState.FINISHED_MASK]
    fired = max((t.last_state_change for t in mine if t.state == TaskState.COMPLETED), default=0.0)
    for task in mine:
        if task.state != TaskState.COMPLETED and task.last_state_change >= fired:
            keep.add(task.id)
            if task._parent is not None:
                keep.add(task._parent)


# ---- removing ------------------------------------------------------------------------------------------


def _prune_one(wf: Any, undoable: dict[Any, set[str]] | None, drop_subprocesses: bool) -> list[Task]:
    """Drop what ``wf`` need not keep; each kept task hangs under its nearest kept ancestor (order kept)."""
    keep = _kept(wf, undoable, drop_subprocesses)
    if len(keep) >= len(wf.tasks):
        return []
    tasks = wf.tasks
    root = wf.task_tree
    removed: list[Task] = []
    new_children: dict[Any, list[Any]] = {root.id: []}
    stack: list[tuple[Any, Any]] = [(cid, root.id) for cid in reversed(root._children)]
    while stack:
        task_id, anchor = stack.pop()
        task = tasks.get(task_id)
        if task is None:
            continue
        if task_id in keep:
            task._parent = anchor
            new_children[anchor].append(task_id)
            new_children[task_id] = []
            anchor = task_id
        else:
            removed.append(task)
        stack.extend((cid, anchor) for cid in reversed(task._children))
    for task_id, children in new_children.items():
        tasks[task_id]._children = children
    top = wf.top_workflow
    for task in removed:
        if task.id in top.subprocesses:
            top.delete_subprocess(task)
        tasks.pop(task.id, None)
    if wf.last_task is not None and wf.last_task.id not in tasks:
        wf.last_task = None
    if removed:
        log.debug(
            "pruned %d finished tasks, %d kept",
            len(removed),
            len(tasks),
            extra={"instance_id": (getattr(top, "baton_facts", None) or {}).get("instance_id")},
        )
    return removed
