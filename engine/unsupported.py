"""Camunda constructs Baton cannot run, found at deploy: rejected with advice, or stubbed on request.

Baton runs no Java, Groovy or JavaScript.  :func:`check_tree` looks at every executable process of a BPMN
file for

- Java delegates on service, send and business rule tasks: ``camunda:class``, ``camunda:delegateExpression``,
  ``camunda:expression`` that calls a bean or a Java method (an expression JUEL can evaluate on its own, such
  as ``${true}`` or ``${amount * 2}``, runs: the task becomes a Python script task that evaluates it and
  stores the value in ``camunda:resultVariable`` when one is given);
- call activities that map variables with Java (``camunda:variableMappingClass``,
  ``camunda:variableMappingDelegateExpression``);
- Camunda connectors (``<camunda:connector>``);
- ``camunda:executionListener`` / ``camunda:taskListener`` with a class, delegate expression, expression or a
  script that is not Python;
- script tasks whose ``scriptFormat`` is not Python (no format is Python), or that load ``camunda:resource``;
- ``camunda:inputOutput`` parameters computed by a script that is not Python (or from a resource);
- conditions written in another language (``language="groovy"``, ``camunda:resource``).

Each raises :class:`UnsupportedConstruct` naming the file, line, element and construct, and what to use
instead.  With ``stub=True`` (``baton deploy --stub-unsupported``, ``stubUnsupported=true`` on the REST
deploy) delegate tasks, connectors and non-Python script tasks become external jobs (``camunda:type="external"``)
whose topic is derived from the delegate: the class's simple name, the bean of a delegate expression or
expression, the connector id, else the task id; listeners and script parameters are dropped.  Every stub is
reported as a warning.  Conditions cannot be stubbed.  Processes marked ``isExecutable="false"`` are drawings
and never rejected.  Only the parse tree changes: the stored file stays as uploaded.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from . import juel
from .errors import ExpressionError, UnsupportedConstruct
from .extensions import BPMN, CAMUNDA

_DELEGATES = ("class", "delegateExpression", "expression")
_DELEGATE_TASKS = ("serviceTask", "sendTask", "businessRuleTask")
_PYTHON = ("", "python", "python3")
_CONDITION_LANGUAGES = ("", "python", "python3", "juel", "feel")
INSTEAD = ('give it camunda:type="external" camunda:topic="..." and configure an agent for the topic '
           "(docs/agents.md), or write the logic as a Python script task")


def _c(name: str) -> str:
    return f"{{{CAMUNDA}}}{name}"


def _b(name: str) -> str:
    return f"{{{BPMN}}}{name}"


def _owner(el: Any) -> Any:
    return el if el.get("id") else next((a for a in el.iterancestors() if a.get("id")), el)


def _is_python(fmt: str | None) -> bool:
    return (fmt or "").strip().lower() in _PYTHON


def _topic(task: Any) -> str:
    """The job topic of a stubbed task: the class's simple name, the delegate's bean, the connector, the id."""
    cls = task.get(_c("class"))
    if cls:
        return cls.strip().rsplit(".", 1)[-1].rsplit("$", 1)[-1]
    for attr in ("delegateExpression", "expression"):
        value = task.get(_c(attr))
        found = re.match(r"\s*[$#]\{\s*([A-Za-z_][A-Za-z0-9_]*)", value or "")
        if found and found.group(1) not in ("execution", "task"):
            return found.group(1)
    connector = task.find(f"{_b('extensionElements')}/{_c('connector')}/{_c('connectorId')}")
    if connector is not None and (connector.text or "").strip():
        return connector.text.strip()
    return str(task.get("id"))


def _expression_script(task: Any) -> str | None:
    """The Python script of a ``camunda:expression`` service task, None when the expression needs Java."""
    if task.get(_c("class")) or task.get(_c("delegateExpression")) or not task.get(_c("expression")):
        return None
    try:
        python = juel.translate(task.get(_c("expression")))
    except ExpressionError:
        return None
    target = (task.get(_c("resultVariable")) or "").strip()
    return f"{target} = {python}" if target.isidentifier() else python


class _Check:
    def __init__(self, file: str, stub: bool) -> None:
        self.file, self.stub = file, stub
        self.warnings: list[str] = []

    def problem(self, el: Any, construct: str, instead: str = INSTEAD) -> UnsupportedConstruct:
        return UnsupportedConstruct(
            f"{construct} cannot run in Baton (it runs no Java, Groovy or JavaScript): {instead}; or deploy with "
            "--stub-unsupported to turn it into an external job", file=self.file, line=el.sourceline,
            element_id=_owner(el).get("id"), construct=construct)

    def warn(self, el: Any, text: str) -> None:
        self.warnings.append(f"{self.file}:{el.sourceline} element '{_owner(el).get('id')}': {text}")

    def to_job(self, task: Any, construct: str) -> None:
        topic = _topic(task)
        for attr in (*_DELEGATES, "resultVariable", "resource"):
            task.attrib.pop(_c(attr), None)
        for connector in task.findall(f"{_b('extensionElements')}/{_c('connector')}"):
            connector.getparent().remove(connector)
        if etree.QName(task).localname == "scriptTask":
            for script in task.findall(_b("script")):
                task.remove(script)
            task.attrib.pop("scriptFormat", None)
            task.tag = _b("serviceTask")
        task.set(_c("type"), "external")
        task.set(_c("topic"), topic)
        self.warn(task, f"{construct} stubbed as an external job on topic '{topic}'")

    @staticmethod
    def to_script(task: Any, script: str) -> None:
        for attr in ("expression", "resultVariable"):
            task.attrib.pop(_c(attr), None)
        task.tag = _b("scriptTask")
        etree.SubElement(task, _b("script")).text = script

    def task(self, task: Any) -> None:
        kind = etree.QName(task).localname
        construct = None
        script = _expression_script(task) if kind in _DELEGATE_TASKS else None
        if script is not None and task.get(_c("type")) != "external":
            self.to_script(task, script)
            return
        if kind in _DELEGATE_TASKS and task.get(_c("type")) != "external":
            attr = next((a for a in _DELEGATES if task.get(_c(a))), None)
            if attr:
                construct = f'camunda:{attr}="{task.get(_c(attr))}" (a Java delegate)'
        if construct is None and task.find(f"{_b('extensionElements')}/{_c('connector')}") is not None:
            construct = "a camunda:connector"
        if construct is None and kind == "scriptTask":
            fmt = task.get("scriptFormat")
            if not _is_python(fmt):
                construct = f'a script task with scriptFormat="{fmt}"'
            elif task.get(_c("resource")):
                construct = f'an external script (camunda:resource="{task.get(_c("resource"))}")'
            if construct is not None and not self.stub:
                raise self.problem(task, construct, "write the script in Python (no scriptFormat, or "
                                   'scriptFormat="python"), or make it a service task with camunda:type="external" '
                                   "and an agent for its topic (docs/agents.md)")
        if construct is None:
            return
        if not self.stub:
            raise self.problem(task, construct)
        self.to_job(task, construct)

    def listener(self, el: Any) -> None:
        what = etree.QName(el).localname
        attr = next((a for a in _DELEGATES if el.get(a)), None)
        construct = f'a camunda:{what} with {attr}="{el.get(attr)}"' if attr else None
        for script in el.findall(_c("script")):
            if not _is_python(script.get("scriptFormat")) or script.get("resource"):
                construct = f'a camunda:{what} with a {script.get("scriptFormat") or "resource"} script'
        if construct is None:
            return
        if not self.stub:
            raise self.problem(el, construct, "Baton does not run Camunda listeners; put the logic in a Python "
                               "script task or an external task with an agent (docs/agents.md)")
        self.warn(el, f"{construct} dropped (Baton does not run it)")
        el.getparent().remove(el)

    def io_script(self, script: Any) -> None:
        if _is_python(script.get("scriptFormat")) and not script.get("resource"):
            return
        param = script.getparent()
        construct = (f"the {etree.QName(param).localname} '{param.get('name')}' computed by a "
                     f"{script.get('scriptFormat') or 'resource'} script")
        if not self.stub:
            raise self.problem(param, construct, 'write it as a Python script (scriptFormat="python") or an '
                               "expression")
        self.warn(param, f"{construct} dropped (Baton does not run it)")
        param.getparent().remove(param)

    def condition(self, el: Any) -> None:
        lang = (el.get("language") or "").strip().lower()
        if el.get(_c("resource")) or not (lang in _CONDITION_LANGUAGES or "feel" in lang or "python" in lang):
            construct = f'a condition in {el.get("language") or "an external resource"}'
            raise UnsupportedConstruct(
                f"{construct} cannot run in Baton: write it as a JUEL ${{...}}, FEEL =... or Python expression",
                file=self.file, line=el.sourceline, element_id=_owner(el).get("id"), construct=construct)

    def variable_mapping(self, call: Any) -> None:
        for attr in ("variableMappingClass", "variableMappingDelegateExpression"):
            if not call.get(_c(attr)):
                continue
            construct = f'camunda:{attr}="{call.get(_c(attr))}" (Java that maps the called process\'s variables)'
            if not self.stub:
                raise self.problem(call, construct, "map the variables with camunda:in / camunda:out "
                                   "(docs/camunda.md)")
            self.warn(call, f"{construct} dropped (Baton does not run it)")
            call.attrib.pop(_c(attr))

    def run(self, process: Any) -> None:
        for el in list(process.iter(_b("callActivity"))):
            self.variable_mapping(el)
        for el in list(process.iter(_c("executionListener"), _c("taskListener"))):
            self.listener(el)
        for el in list(process.iter(_c("script"))):
            if etree.QName(el.getparent()).localname in ("inputParameter", "outputParameter"):
                self.io_script(el)
        for el in list(process.iter(*(_b(t) for t in (*_DELEGATE_TASKS, "scriptTask")))):
            self.task(el)
        for el in process.iter(_b("conditionExpression"), _b("condition"), _b("completionCondition")):
            self.condition(el)


def check_tree(file: str, root: Any, stub: bool = False) -> list[str]:
    """Reject (or, with ``stub``, turn into jobs or drop) what Baton cannot run; returns the stub warnings."""
    check = _Check(file, stub)
    for process in root.iter(_b("process")):
        if process.get("isExecutable", "true") == "true":
            check.run(process)
    return check.warnings
