"""Input and output parameters (``camunda:inputOutput``, ``zeebe:ioMapping``) on every kind of activity.

Job tasks map their inputs into the job's variables and their outputs from its result (``engine.jobs``).
Every other activity (script, user, manual, receive tasks, subprocesses, call activities, events) gets
Camunda's semantics here:

- **input parameters** are evaluated when the activity becomes ready and become *local* variables of it:
  its script, form, subprocess or called process sees them;
- when it ends, locals do not leak: with **output parameters**, only the outputs are written into the
  process variables (evaluated over the activity's variables, locals included) and nothing else the
  new variable the activity set propagates (variables that existed before keep what it changed them to);
  without output parameters, the input names are removed again (a variable
  they shadowed gets its old value back) and whatever else the activity set propagates.

A mapping value is a Python expression (``${...}`` unwrapped), a list or map of them, or a Python
``camunda:script`` whose value is its last expression.

SpiffWorkflow has no hook that every task spec calls when a task becomes ready or completes, so this
module wraps ``TaskSpec._on_ready`` and ``TaskSpec._on_complete`` (the two methods SpiffWorkflow says not to
override; its own hooks run inside them), and ``SubWorkflowTask.start_workflow`` (a subprocess copies its
variables in before its task is ready).  The wrappers do nothing for a spec without ``baton:io`` in its
``extensions`` (read at deploy by :func:`mark`).
"""

from __future__ import annotations

import ast
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.task import Task as SpiffTask

from .extensions import io_mappings
from .scripting import compile_check

IO = "baton:io"
_SAVED = "baton_io_saved"  # internal data: the names inputs added and the values they shadowed
_RESULT = "mapping_result"


def check_mappings(mappings: list[dict[str, Any]], node: Any, filename: str | None = None) -> None:
    """Deploy-time check: every mapping has a name and an expression (or script) that compiles."""
    for mapping in mappings:
        if not mapping.get("name"):
            raise ValidationException("an input/output mapping has no name", node=node, file_name=filename)
        problem = compile_check(mapping["expression"], "exec" if mapping.get("script") else "eval")
        if problem:
            raise ValidationException(
                f"mapping of '{mapping['name']}' ({mapping['expression']!r}) cannot be compiled: {problem}",
                node=node, file_name=filename)


def mark(spec: Any, node: Any, filename: str | None = None) -> None:
    """Keep the input/output parameters of element ``node`` on its task spec (job tasks keep their own)."""
    task_spec = spec.task_specs.get(node.get("id"))
    if task_spec is None or hasattr(task_spec, "job"):
        return
    inputs, outputs = io_mappings(node)
    if not inputs and not outputs:
        return
    check_mappings((inputs or []) + (outputs or []), node, filename)
    if not isinstance(getattr(task_spec, "extensions", None), dict):
        task_spec.extensions = {}
    task_spec.extensions[IO] = {"inputs": inputs or [], "outputs": outputs or []}


def mapping_value(script_engine: Any, task: SpiffTask, mapping: dict[str, Any], scope: dict[str, Any]) -> Any:
    """The value of one mapping over the variables ``scope`` (errors name ``task``'s element)."""
    if not mapping.get("script"):
        return script_engine.evaluate(_Scoped(task, scope), mapping["expression"])
    tree = ast.parse(mapping["expression"])
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.Assign(targets=[ast.Name(_RESULT, ast.Store())], value=last.value)
        ast.fix_missing_locations(tree)
    local = _Scoped(task, dict(scope))
    script_engine.execute(local, ast.unparse(tree))
    return local.data.get(_RESULT)


class _Scoped:
    """A task seen with other variables (the script engine reads ``task.data``; errors name the task)."""

    def __init__(self, task: SpiffTask, data: dict[str, Any]) -> None:
        self._task = task
        self.data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)


def _io(task_spec: Any) -> dict[str, Any] | None:
    ext = getattr(task_spec, "extensions", None)
    return ext.get(IO) if isinstance(ext, dict) else None


def apply_inputs(task: SpiffTask) -> None:
    io = _io(task.task_spec)
    if not io or _SAVED in task.internal_data:
        return
    engine = task.workflow.script_engine
    values = {m["name"]: mapping_value(engine, task, m, task.data) for m in io["inputs"]}
    task.internal_data[_SAVED] = {
        "keys": sorted(task.data),
        "shadowed": {name: task.data[name] for name in values if name in task.data},
    }
    task.data.update(values)


def apply_outputs(task: SpiffTask) -> None:
    io = _io(task.task_spec)
    if not io:
        return
    saved = task.internal_data.pop(_SAVED, {"keys": sorted(task.data), "shadowed": {}})
    engine = task.workflow.script_engine
    outputs = {m["name"]: mapping_value(engine, task, m, task.data) for m in io["outputs"]}
    if io["outputs"]:
        keep = set(saved["keys"])
        for name in [n for n in task.data if n not in keep]:
            del task.data[name]
    else:
        for name in (m["name"] for m in io["inputs"]):
            if name not in saved["keys"]:
                task.data.pop(name, None)
    task.data.update(saved["shadowed"])
    task.data.update(outputs)


_on_ready = TaskSpec._on_ready
_on_complete = TaskSpec._on_complete
_start_workflow = SubWorkflowTask.start_workflow


def _on_ready_with_inputs(self: TaskSpec, my_task: SpiffTask) -> None:
    apply_inputs(my_task)
    _on_ready(self, my_task)


def _on_complete_with_outputs(self: TaskSpec, my_task: SpiffTask) -> None:
    apply_outputs(my_task)
    _on_complete(self, my_task)


def _start_workflow_with_inputs(self: SubWorkflowTask, my_task: SpiffTask) -> None:
    apply_inputs(my_task)  # a subprocess starts (and copies its variables) before its task is ready
    _start_workflow(self, my_task)


TaskSpec._on_ready = _on_ready_with_inputs  # type: ignore[method-assign]
TaskSpec._on_complete = _on_complete_with_outputs  # type: ignore[method-assign]
SubWorkflowTask.start_workflow = _start_workflow_with_inputs  # type: ignore[method-assign]
