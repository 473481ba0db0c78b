"""Business rule tasks: where a DMN decision's result goes (``camunda:resultVariable``, ``mapDecisionResult``).

Without ``camunda:resultVariable`` the outputs of the matching rule are merged into the process variables
(SpiffWorkflow's behaviour, kept: ``discount`` becomes a variable).  With it, only that variable is set, to
the result shaped as ``camunda:mapDecisionResult`` says (Camunda's names and rules):

- ``resultList`` (the default): a list with one dict per matching rule (output name -> value);
- ``singleResult``: the one matching rule's dict (None when nothing matched; an error for several);
- ``singleEntry``: the one output value of the one matching rule (errors for several rules or outputs);
- ``collectEntries``: a list of the one output value of each matching rule.

Hit policies that keep several rules (COLLECT, RULE ORDER, OUTPUT ORDER) give every match; the others the
first.  ``camunda:decisionRefBinding`` is ``latest`` (a decision of this deployment, else the latest deployed)
or ``deployment`` (this deployment's only).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask

from .extensions import CAMUNDA

DECISION = "baton:decision"
MAPPINGS = ("resultList", "singleResult", "singleEntry", "collectEntries")
BINDINGS = ("latest", "deployment")
_MANY = ("COLLECT", "RULE ORDER", "OUTPUT ORDER")


def read_decision(node: Any) -> dict[str, Any]:
    return {
        "result_variable": node.get(f"{{{CAMUNDA}}}resultVariable") or None,
        "map": node.get(f"{{{CAMUNDA}}}mapDecisionResult") or "resultList",
        "binding": node.get(f"{{{CAMUNDA}}}decisionRefBinding") or "latest",
    }


def problem(info: dict[str, Any]) -> str | None:
    """What is wrong with a business rule task's result settings, or None."""
    if info["map"] not in MAPPINGS:
        return f"camunda:mapDecisionResult {info['map']!r} is not one of {', '.join(MAPPINGS)}"
    if info["binding"] not in BINDINGS:
        return (f"camunda:decisionRefBinding {info['binding']!r} is not supported: use latest or deployment "
                "(Baton binds decisions when the process is deployed)")
    if info["result_variable"] is not None and not info["result_variable"].isidentifier():
        return f"camunda:resultVariable {info['result_variable']!r} is not a valid variable name"
    return None


class BatonBusinessRuleTask(BusinessRuleTask):
    """A business rule task that can put its result into ``camunda:resultVariable``."""

    def _run_hook(self, my_task: Any) -> bool:
        ext = getattr(self, "extensions", None)
        info = ext.get(DECISION) if isinstance(ext, dict) else None
        if not info or not info.get("result_variable"):
            return bool(super()._run_hook(my_task))
        engine = self.dmnEngine
        rules = engine.decide(my_task)
        if str(engine.decision_table.hit_policy).upper() not in _MANY:
            rules = rules[:1]
        rows = [dict(rule.output_as_dict(my_task)) for rule in rules]
        my_task.data[info["result_variable"]] = shape(rows, info["map"], my_task)
        return True


def shape(rows: list[dict[str, Any]], how: str, task: Any) -> Any:
    """The decision result ``rows`` (one dict per matching rule) as ``camunda:mapDecisionResult`` ``how``."""
    if how == "resultList":
        return rows
    if how == "collectEntries":
        return [_single_entry(row, task) for row in rows]
    if len(rows) > 1:
        raise WorkflowTaskException(f"mapDecisionResult {how!r} needs at most one matching rule, "
                                    f"{len(rows)} matched", task=task)
    if not rows:
        return None
    return rows[0] if how == "singleResult" else _single_entry(rows[0], task)


def _single_entry(row: dict[str, Any], task: Any) -> Any:
    if len(row) != 1:
        raise WorkflowTaskException(f"the decision result has {len(row)} outputs ({', '.join(row)}); "
                                    "singleEntry and collectEntries need exactly one", task=task)
    return next(iter(row.values()))
