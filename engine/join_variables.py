"""Variables at a parallel or inclusive join: each branch contributes only what it changed.

SpiffWorkflow merges the whole data of every incoming branch at a join, the branch that arrived last
merged last, so a variable one branch changed is put back to its value before the split by the stale copy
in a branch that completed later, and a deleted variable comes back.  Camunda keeps process variables in
one scope, where a change made in one branch survives the join.  Baton gives the same result:

- at a split (a parallel or inclusive gateway that starts two or more branches) each branch's first task
  keeps a snapshot of the variables at the split, and the tasks of the branch pass it on as they inherit
  their data;
- when a branch arrives at the join, its changes against that snapshot (variables set to a new value,
  created, deleted) are recorded on the join's waiting task, which hands them to the next one (SpiffWorkflow
  cancels the earlier waiting task when the next branch arrives);
- when the join fires, the changes are applied in the order the branches arrived: when two branches
  changed the same variable, the one that completed last wins.  A variable is compared as a whole (two
  branches changing different keys of one dict: the last one's dict wins).

Splits nest: a task carries a stack of snapshots, one per open split.  A join compares its branches with
the innermost split they all share; a split's snapshot is dropped once as many branches have joined as it
started.  Everything lives in the live tasks' internal data (``baton_splits``, ``baton_join_arrivals``), so
it survives serialization and does not depend on completed tasks staying in the tree: a completed task
hands its stack to its children and keeps only a marker.

A join whose branches share no split (an unstructured diagram) takes each branch's changes since its
outermost split, or its whole data when it passed none, in arrival order.  A join where a branch was
already waiting before Baton recorded arrivals (an instance saved by an older Baton) merges as
SpiffWorkflow does.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

SPLITS = "baton_splits"  # [{"id": split task id, "n": branches this path stands for, "of": branches, "data": {}}]
PASSED = "baton_splits_passed"  # a completed task whose children took its splits
ARRIVALS = "baton_join_arrivals"  # on a waiting join task: each branch's changes, in arrival order
ARRIVED = "baton_join_arrived"  # this join task's own branch is among them
LEGACY = "baton_join_legacy"  # an earlier branch waited here before Baton recorded arrivals


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The variables ``after`` set to a new value (or created) and the ones it deleted, against ``before``."""
    return {
        "set": {k: deepcopy(v) for k, v in after.items() if k not in before or before[k] != v},
        "deleted": sorted(k for k in before if k not in after),
    }


def apply_changes(data: dict[str, Any], change: dict[str, Any]) -> None:
    for name in change["deleted"]:
        data.pop(name, None)
    data.update(deepcopy(change["set"]))


def _is_split(task: SpiffTask) -> bool:
    return isinstance(task.task_spec, UnstructuredJoin) and len(task.children) > 1


def inherit_splits(task: SpiffTask) -> None:
    """Give ``task`` the split stack of its parent (plus the parent's own split when it is one)."""
    parent = task.parent
    if parent is None or parent.internal_data.get(PASSED):
        return  # the task took them when its parent completed
    stack = list(parent.internal_data.get(SPLITS, []))
    if _is_split(parent):
        stack.append({"id": str(parent.id), "n": 1, "of": len(parent.children), "data": deepcopy(parent.data)})
    if stack:
        task.internal_data[SPLITS] = stack
    else:
        task.internal_data.pop(SPLITS, None)


def _arrival(branch_end: SpiffTask) -> dict[str, Any]:
    """What a branch brings to a join: its splits and its changes against each of them."""
    stack = branch_end.internal_data.get(SPLITS, [])
    return {
        "splits": [{"id": e["id"], "n": e["n"], "of": e["of"]} for e in stack],
        "changes": [changes(e["data"], branch_end.data) for e in stack],
        "whole": None if stack else deepcopy(branch_end.data),
    }


def record_arrival(spec: UnstructuredJoin, task: SpiffTask) -> None:
    """Note the branch of join task ``task`` and take over the branches of the join's other waiting tasks."""
    if len(spec.inputs) < 2:
        return  # a split only
    parent = task.parent
    if not task.internal_data.get(ARRIVED) and parent is not None and parent.state == TaskState.COMPLETED:
        task.internal_data.setdefault(ARRIVALS, []).append(_arrival(parent))
        task.internal_data[ARRIVED] = True
    waiting = sorted(
        (
            t
            for t in task.workflow.tasks.values()  # the ones SpiffWorkflow is about to cancel
            if t.task_spec == spec and t is not task and t.state == TaskState.WAITING
        ),
        key=lambda t: t.last_state_change,
    )
    earlier: list[dict[str, Any]] = []
    for other in waiting:
        if not other.internal_data.get(ARRIVED) or other.internal_data.get(LEGACY):
            task.internal_data[LEGACY] = True
        earlier += other.internal_data.pop(ARRIVALS, [])
        other.internal_data.pop(ARRIVED, None)
    if earlier:
        task.internal_data[ARRIVALS] = earlier + task.internal_data.get(ARRIVALS, [])


def _shared_depth(arrivals: list[dict[str, Any]]) -> int:
    depth = 0
    for level in zip(*(a["splits"] for a in arrivals), strict=False):
        if len({entry["id"] for entry in level}) != 1:
            break
        depth += 1
    return depth


def merge_arrivals(task: SpiffTask, arrivals: list[dict[str, Any]]) -> None:
    """Apply each branch's changes to the join task's data (it holds the last branch's) in arrival order."""
    depth = _shared_depth(arrivals)
    for arrival in arrivals:
        if depth:
            change = arrival["changes"][depth - 1]
        elif arrival["whole"] is not None:
            change = {"set": arrival["whole"], "deleted": []}
        else:  # the branches share no split: its changes since its outermost one
            change = arrival["changes"][0]
        apply_changes(task.data, change)
    stack = [dict(e) for e in task.internal_data.get(SPLITS, [])[:depth]]
    if stack:
        joined = sum(a["splits"][depth - 1]["n"] for a in arrivals)
        if joined >= stack[-1]["of"]:
            stack.pop()  # every branch of the innermost shared split is back
        else:
            stack[-1]["n"] = joined
    if stack:
        task.internal_data[SPLITS] = stack
    else:
        task.internal_data.pop(SPLITS, None)


_inherit_data = SpiffTask._inherit_data
_join_update_hook = UnstructuredJoin._update_hook
_join_run_hook = UnstructuredJoin._run_hook
_on_complete = TaskSpec._on_complete


def _inherit_data_and_splits(self: SpiffTask) -> None:
    _inherit_data(self)
    inherit_splits(self)


def _join_update_recording(self: UnstructuredJoin, my_task: SpiffTask) -> Any:
    record_arrival(self, my_task)
    return _join_update_hook(self, my_task)


def _join_run_merging(self: UnstructuredJoin, my_task: SpiffTask) -> Any:
    arrivals = my_task.internal_data.pop(ARRIVALS, None)
    my_task.internal_data.pop(ARRIVED, None)
    if my_task.internal_data.pop(LEGACY, False) or not arrivals:
        return _join_run_hook(self, my_task)  # a split only, or branches from before Baton recorded them
    merge_arrivals(my_task, arrivals)  # its data was inherited from the last branch when it became ready
    data, splits = deepcopy(my_task.data), my_task.internal_data.get(SPLITS)  # its merge shares nested values
    my_task.data = {}
    result = _join_run_hook(self, my_task)  # SpiffWorkflow's tree upkeep (its merge is thrown away)
    my_task.data = data
    if splits:
        my_task.internal_data[SPLITS] = splits
    else:
        my_task.internal_data.pop(SPLITS, None)
    return result


def _on_complete_passing_splits(self: TaskSpec, my_task: SpiffTask) -> None:
    _on_complete(self, my_task)  # its children inherit its data and splits in here
    if my_task.children and my_task.internal_data.pop(SPLITS, None) is not None:
        my_task.internal_data[PASSED] = True


SpiffTask._inherit_data = _inherit_data_and_splits  # type: ignore[method-assign]
UnstructuredJoin._update_hook = _join_update_recording  # type: ignore[method-assign]
UnstructuredJoin._run_hook = _join_run_merging  # type: ignore[method-assign]
TaskSpec._on_complete = _on_complete_passing_splits  # type: ignore[method-assign]
