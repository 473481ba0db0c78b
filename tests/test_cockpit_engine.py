"""The engine methods behind the cockpit pages, on SQLite and PostgreSQL: variable edits reach every open path,
suspension is recorded, the per-element figures and an instance's path are what the diagram shows."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

from engine.errors import InvalidStateError, VariableError
from engine.search import InstanceFilter


def test_set_variables_reaches_every_parallel_path(engine):
    engine.deploy([EXAMPLES / "parallel_review.bpmn"])
    inst = engine.start("parallel_review", {"amount": 10})
    assert len(inst.tasks) == 3
    engine.set_variables(inst.id, {"amount": 99, "note": "checked"})
    for task in engine.get_instance(inst.id).tasks[:2]:
        engine.complete_task(task.id, {})
    last = engine.get_instance(inst.id).tasks[0]
    done = engine.complete_task(last.id, {"legal_ok": True, "finance_ok": True, "tech_ok": True})
    assert done.status == "completed" and done.variables["amount"] == 99 and done.variables["note"] == "checked"


def test_set_variables_refuses_bad_names_and_finished_instances(engine):
    engine.deploy([EXAMPLES / "approval.bpmn"])
    live = engine.start("approval", {"amount": 500})
    with pytest.raises(VariableError):
        engine.set_variables(live.id, {"not valid": 1})
    done = engine.start("approval", {"amount": 5})
    with pytest.raises(InvalidStateError):
        engine.set_variables(done.id, {"amount": 6})
    assert [h.event for h in engine.history(done.id)].count("variables_changed") == 0


def test_suspend_and_resume_are_recorded_and_refused_when_they_make_no_sense(engine):
    engine.deploy([EXAMPLES / "approval.bpmn"])
    inst = engine.start("approval", {"amount": 500})
    assert engine.suspend(inst.id).suspended is True
    with pytest.raises(InvalidStateError):
        engine.suspend(inst.id)
    assert engine.resume(inst.id).suspended is False
    with pytest.raises(InvalidStateError):
        engine.resume(inst.id)
    engine.cancel(inst.id)
    with pytest.raises(InvalidStateError):
        engine.suspend(inst.id)
    assert engine.search_instances(InstanceFilter(key="approval")).total == 1


def test_element_stats_and_instance_path(engine):
    engine.deploy([EXAMPLES / "approval.bpmn"])
    waiting = engine.start("approval", {"amount": 500})
    done = engine.start("approval", {"amount": 700})
    engine.complete_task(done.tasks[0].id, {"approved": False})
    stats = engine.element_stats(waiting.definition_id)
    assert stats["Task_Review"].waiting == 1 and stats["Task_Review"].completed == 1
    assert stats["Task_Review"].avg_seconds is not None and stats["Task_Review"].avg_seconds >= 0
    assert stats["Task_RecordRejection"].completed == 1 and "Task_RecordApproval" not in stats
    path = engine.instance_path(done.id)
    assert path.active == [] and path.failed == []
    assert {"Task_Review", "Task_RecordRejection", "EndEvent_Rejected"} <= set(path.completed)
    assert "Task_AutoApprove" not in path.reached
    assert engine.process_counts()["approval"] == {"waiting": 1, "completed": 1}
