"""The deploy-time pass that turns JUEL and FEEL in a BPMN tree into Python.

:func:`translate_tree` runs on each parsed BPMN file before the expression checks and before SpiffWorkflow
reads it (``engine/parsing.load_resources``).  It rewrites the lxml tree only: the file as uploaded is what
Baton stores and shows.  A text is JUEL when it holds ``${...}`` / ``#{...}``, FEEL when it starts with ``=``,
and is left alone otherwise (SpiffArena diagrams write Python; a literal stays a literal).

After the pass

- places that always hold an expression hold plain Python: ``conditionExpression`` (sequence flows),
  ``condition`` (conditional events), ``loopCardinality``, ``completionCondition``, ``loopCondition``;
- places that hold a literal or an expression hold either the literal, unchanged, or ``${<python>}``:
  timer values, ``camunda:inputOutput`` parameters (text, list values, map entries), ``zeebe:ioMapping``
  sources, ``camunda:assignee`` / ``candidateUsers`` / ``candidateGroups`` (each part of a comma list) /
  ``dueDate`` / ``followUpDate`` / ``priority``, ``zeebe:assignmentDefinition``, ``camunda:in`` / ``out``
  ``sourceExpression``, ``camunda:calledElementVersion`` and ``zeebe:subscription`` correlation keys;
- multi-instance collections are standard BPMN: ``camunda:collection="${items}" camunda:elementVariable="item"``
  and ``<zeebe:loopCharacteristics inputCollection="=items" inputElement="item" outputCollection="results"
  outputElement="=result"/>`` become ``loopDataInputRef`` / ``inputDataItem`` / ``loopDataOutputRef`` /
  ``outputDataItem``, which SpiffWorkflow runs (one instance per item).  A collection that is an expression
  (``${order.items}``) is kept as ``loopDataInputRef`` ``${<python>}``; :func:`adopt_collections` then gives
  the parsed spec an :class:`ExpressionDataReference` that evaluates it when the multi-instance starts.

What cannot be translated raises :class:`ExpressionError` naming the file, line, element and expression.
Processes marked ``isExecutable="false"`` (drawings) are not touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference

from . import feel, juel
from .errors import ExpressionError
from .extensions import BPMN, CAMUNDA, ZEEBE

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_FEEL_NAME = re.compile(r"_juel_vars\.get\('([A-Za-z][A-Za-z0-9_]*)'\)")
_ALWAYS = ("conditionExpression", "condition", "loopCardinality", "completionCondition", "loopCondition")
_TIMERS = ("timeDate", "timeDuration", "timeCycle")
ELEMENT_VARIABLE = "camunda:elementVariable"  # name of the inputDataItem the pass writes (see ElementVariable)
_CAMUNDA_ATTRS = ("assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "priority",
                  "calledElementVersion")


def language(text: str | None) -> str | None:
    """'juel', 'feel' or None (Python, or a literal) for a text as a diagram holds it."""
    if not text:
        return None
    if juel.has_expression(text):
        return "juel"
    if text.strip().startswith("="):
        return "feel"
    return None


def to_python(text: str) -> str | None:
    """The Python form of a JUEL or FEEL text; None when it is neither (raises :class:`ExpressionError`)."""
    kind = language(text)
    if kind == "juel":
        return juel.translate(text)
    if kind == "feel":
        return feel.translate(text.strip()[1:])
    return None


def split_names(text: str) -> list[str]:
    """Comma-separated parts, keeping commas inside ``${...}`` (and brackets) together."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "{[("
        depth -= char in "}])"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def _wrapped(text: str) -> str:
    python = to_python(text)
    return text if python is None else "${" + python + "}"


def _wrapped_list(text: str) -> str:
    if language(text) == "feel" or text.strip().startswith(("${", "#{")) and text.strip().endswith("}") \
            and len(split_names(text)) == 1:
        return _wrapped(text)
    return ", ".join(_wrapped(part) for part in split_names(text))


class _Pass:
    def __init__(self, file: str, root: Any) -> None:
        self.file, self.root = file, root

    def fail(self, el: Any, what: str, text: str, exc: ExpressionError) -> ExpressionError:
        owner = el if el.get("id") else next((a for a in el.iterancestors() if a.get("id")), el)
        shown = text.strip() if len(text.strip()) <= 200 else text.strip()[:197] + "..."
        return ExpressionError(f"{what} {shown!r} cannot be translated to Python: {exc.message}", file=self.file,
                               line=el.sourceline, element_id=owner.get("id"))

    def rewrite(self, el: Any, what: str, text: str, convert: Callable[[str], str | None]) -> str | None:
        try:
            return convert(text)
        except ExpressionError as exc:
            raise self.fail(el, what, text, exc) from None

    def text(self, el: Any, convert: Callable[[str], str | None], what: str | None = None) -> None:
        if el.text and language(el.text):
            new = self.rewrite(el, what or etree.QName(el).localname, el.text, convert)
            if new is not None:
                el.text = new

    def attr(self, el: Any, name: str, convert: Callable[[str], str | None], what: str | None = None) -> None:
        value = el.get(name)
        if value and language(value):
            new = self.rewrite(el, what or etree.QName(name).localname, value, convert)
            if new is not None:
                el.set(name, new)

    def run(self, scope: Any) -> None:
        for el in scope.iter(*(f"{{{BPMN}}}{t}" for t in _ALWAYS)):
            self.text(el, to_python)
        for el in scope.iter(*(f"{{{BPMN}}}{t}" for t in _TIMERS)):
            self.text(el, _wrapped, f"timer {etree.QName(el).localname}")
        for el in scope.iter(f"{{{CAMUNDA}}}inputParameter", f"{{{CAMUNDA}}}outputParameter",
                             f"{{{CAMUNDA}}}value", f"{{{CAMUNDA}}}entry"):
            if not any(isinstance(child.tag, str) for child in el):
                self.text(el, _wrapped, f"{etree.QName(el).localname} '{el.get('name') or el.get('key') or ''}'")
        for el in scope.iter(f"{{{ZEEBE}}}input", f"{{{ZEEBE}}}output"):
            self.attr(el, "source", _wrapped, f"mapping of '{el.get('target')}'")
        for el in scope.iter(f"{{{CAMUNDA}}}in", f"{{{CAMUNDA}}}out"):
            self.attr(el, "sourceExpression", _wrapped)
        for el in scope.iter(f"{{{ZEEBE}}}assignmentDefinition"):
            for name in ("assignee", "candidateGroups", "candidateUsers"):
                self.attr(el, name, _wrapped_list)
        for el in scope.iter(f"{{{ZEEBE}}}taskSchedule"):
            for name in ("dueDate", "followUpDate"):
                self.attr(el, name, _wrapped, f"zeebe:taskSchedule {name}")
        for el in scope.iter(f"{{{ZEEBE}}}priorityDefinition"):
            self.attr(el, "priority", _wrapped, "zeebe:priorityDefinition priority")
        for el in scope.iter():
            if isinstance(el.tag, str):
                for name in _CAMUNDA_ATTRS:
                    self.attr(el, f"{{{CAMUNDA}}}{name}", _wrapped_list if name.startswith(("assignee", "cand"))
                              else _wrapped, f"camunda:{name}")
        for el in scope.iter(f"{{{BPMN}}}multiInstanceLoopCharacteristics"):
            self.multi_instance(el)

    def multi_instance(self, el: Any) -> None:
        """Camunda's and Zeebe's collections as the standard loopDataInputRef / inputDataItem SpiffWorkflow runs."""
        collection, element = el.get(f"{{{CAMUNDA}}}collection"), el.get(f"{{{CAMUNDA}}}elementVariable")
        output, output_element = None, None
        for zeebe in el.iter(f"{{{ZEEBE}}}loopCharacteristics"):
            collection = zeebe.get("inputCollection") or collection
            element = zeebe.get("inputElement") or element
            output, output_element = zeebe.get("outputCollection"), zeebe.get("outputElement")
        if collection:
            python = self.rewrite(el, "multi-instance collection", collection, to_python) or collection.strip()
            name = _FEEL_NAME.fullmatch(python)
            found = name.group(1) if name else python
            self.set_child(el, "loopDataInputRef", found if _IDENTIFIER.fullmatch(found) else "${" + python + "}")
        if element:
            self.data_item(el, "inputDataItem", self.variable(el, element, "element variable"), ELEMENT_VARIABLE)
        if output:
            self.set_child(el, "loopDataOutputRef", self.variable(el, output, "output collection"))
        if output_element:
            self.data_item(el, "outputDataItem", self.variable(el, output_element, "output element"))

    def variable(self, el: Any, text: str, what: str) -> str:
        """The variable name an element / output text stands for (a name, ``${name}`` or ``=name``)."""
        python = self.rewrite(el, what, text, to_python) or text.strip()
        name = _FEEL_NAME.fullmatch(python)
        found = name.group(1) if name else python
        if not _IDENTIFIER.fullmatch(found):
            raise ExpressionError(
                f"{what} {text.strip()!r} must name a variable (like item or =item)", file=self.file,
                line=el.sourceline,
                element_id=el.getparent().get("id"))
        return found

    @staticmethod
    def set_child(el: Any, tag: str, text: str) -> None:
        if el.find(f"{{{BPMN}}}{tag}") is None:
            etree.SubElement(el, f"{{{BPMN}}}{tag}").text = text

    @staticmethod
    def data_item(el: Any, tag: str, name: str, label: str | None = None) -> None:
        if el.find(f"{{{BPMN}}}{tag}") is None:
            etree.SubElement(el, f"{{{BPMN}}}{tag}", id=name, name=label or name)


def translate_tree(file: str, root: Any) -> None:
    """Rewrite every JUEL / FEEL expression of the executable processes of ``root`` to Python (in place)."""
    work = _Pass(file, root)
    for process in root.iter(f"{{{BPMN}}}process"):
        if process.get("isExecutable", "true") == "true":
            work.run(process)
    for sub in root.iter(f"{{{ZEEBE}}}subscription"):
        work.attr(sub, "correlationKey", _wrapped, "correlation key")


class ExpressionDataReference(TaskDataReference):
    """A multi-instance collection computed by a (translated) expression, such as ``${order.items}``."""

    def get(self, my_task: Any) -> Any:
        return my_task.workflow.script_engine.evaluate(my_task, self.bpmn_id)

    def exists(self, my_task: Any) -> bool:
        return True

    def set(self, my_task: Any, value: Any) -> None:
        raise TypeError(f"the multi-instance collection {self.bpmn_id!r} is an expression; it cannot be written")


class ElementVariable(TaskDataReference):
    """A Camunda / Zeebe element variable: each instance's own, so an older value never blocks the next instance.

    SpiffWorkflow refuses to start an instance when a variable of that name already exists (a sequential
    multi-instance always trips on the previous instance's value); Camunda's element variable shadows it.
    """

    def exists(self, my_task: Any) -> bool:
        return False


def adopt_collections(specs: Any) -> None:
    """Swap Baton's data references into multi-instance specs the pass wrote.

    A ``loopDataInputRef`` of ``${<python>}`` becomes an :class:`ExpressionDataReference`, an element variable
    an :class:`ElementVariable`.
    """
    for task_spec in specs:
        item: Any = getattr(task_spec, "input_item", None)
        if type(item) is TaskDataReference and item.bpmn_name == ELEMENT_VARIABLE:
            task_spec.input_item = ElementVariable(item.bpmn_id, item.bpmn_name)
        ref: Any = getattr(task_spec, "data_input", None)
        text = getattr(ref, "bpmn_id", None) or ""
        if type(ref) is TaskDataReference and text.startswith("${") and text.endswith("}"):
            task_spec.data_input = ExpressionDataReference(text[2:-1], ref.bpmn_name)
