"""A script that breaks a rule fails its task and the instance, harms nothing else, and can be retried."""

from __future__ import annotations

import pytest
from conftest import row_counts
from helpers import chain, process_xml, script, user_task

from engine.errors import InvalidStateError, ModelError


def deploy_script(engine, code: str, key: str = "s"):
    engine.deploy_bytes([(f"{key}.bpmn", process_xml(key, chain(script("ready = True"), script(code, "Risky"),
                                                                   user_task("After"))))])


@pytest.mark.parametrize("code, reason", [
    ("import os\nx = os.getcwd()", "os"),
    ("data = open('/etc/passwd').read()", "open"),
    ("while True:\n    pass", "time limit"),
    ("x = 1\ny = [1, 2][5]", "IndexError"),
], ids=["import-os", "open", "endless-loop", "runtime-error"])
def test_rule_breaking_script_fails_the_instance(engine, code, reason):
    deploy_script(engine, code)
    inst = engine.start("s")
    assert inst.status == "failed"
    error = inst.error
    assert error["element_id"] == "S2" and error["element_name"] == "Risky"
    assert reason in error["message"]
    assert error["line"] is not None
    assert engine.tasks(instance_id=inst.id) == []
    events = [h.event for h in engine.history(inst.id)]
    assert "activity_failed" in events and events[-1] == "instance_failed"
    # nothing else is harmed: the engine keeps running other processes
    engine.deploy_bytes([("ok.bpmn", process_xml("ok", chain(script("fine = 1"))))])
    assert engine.start("ok").status == "completed"


@pytest.mark.parametrize("code, name", [
    ("x = ().__class__.__base__.__subclasses__()", "__class__"),
    ("x = 1\ny = __import__('subprocess')", "__import__"),
])
def test_dunder_escape_is_refused_at_deploy(engine, code, name):
    before = row_counts(engine)
    with pytest.raises(ModelError) as err:
        deploy_script(engine, code)
    assert err.value.element_id == "S2" and err.value.line is not None
    assert name in str(err.value)
    assert row_counts(engine) == before


def test_dunder_escape_through_getattr_fails_at_run_time(engine):
    deploy_script(engine, "x = getattr((), '__cla' + 'ss__')")
    inst = engine.start("s")
    assert inst.status == "failed"
    assert inst.error["element_id"] == "S2"


def test_retry_after_fixing_the_variable(engine):
    deploy_script(engine, "share = total / people")
    inst = engine.start("s", {"total": 10, "people": 0})
    assert inst.status == "failed" and "ZeroDivisionError" in inst.error["message"]
    still_failed = engine.retry(inst.id)
    assert still_failed.status == "failed", "retrying without a fix fails again"
    fixed = engine.retry(inst.id, {"people": 4})
    assert fixed.status == "waiting" and fixed.error is None
    assert fixed.variables["share"] == 2.5
    [task] = engine.tasks(instance_id=inst.id)
    assert engine.complete_task(task.id).status == "completed"
    events = [h.event for h in engine.history(inst.id)]
    assert events.count("instance_retried") == 2


def test_only_failed_instances_can_be_retried(engine):
    deploy_script(engine, "x = 1")
    inst = engine.start("s")
    with pytest.raises(InvalidStateError, match="only failed"):
        engine.retry(inst.id)


def test_script_setting_unstorable_value_fails_with_its_name(engine):
    deploy_script(engine, "tags = {1, 2}")
    inst = engine.start("s")
    assert inst.status == "failed"
    assert "tags" in inst.error["message"]
