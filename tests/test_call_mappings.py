"""Call activities: camunda:in / camunda:out, Zeebe propagation flags, and calledElementBinding."""

from __future__ import annotations

import pytest
from helpers import chain, process_xml, script

from engine.errors import ModelError

ZEEBE = b'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:camunda='


def child(code: str = "out_value = (x or 0) * 10", tag: str = "") -> bytes:
    xml = process_xml("child", chain(script(code)))
    return xml.replace(b'<bpmn:process id="child"', f'<bpmn:process id="child" {tag}'.encode()) if tag else xml


def caller(ext: str = "", attrs: str = "", after: str = "seen = True") -> bytes:
    call = (f'<bpmn:callActivity id="{{id}}" name="Call" calledElement="child" {attrs}>'
            + (f"<bpmn:extensionElements>{ext}</bpmn:extensionElements>" if ext else "") + "</bpmn:callActivity>")
    return process_xml("parent", chain(call, script(after)))


def test_without_mappings_everything_crosses_both_ways(eng):
    eng.deploy_bytes([("child.bpmn", child()), ("parent.bpmn", caller())])
    inst = eng.start("parent", {"x": 2, "other": "o"})
    assert inst.variables == {"x": 2, "other": "o", "out_value": 20, "seen": True}


def test_in_and_out_mappings_let_only_mapped_variables_cross(eng):
    ext = ('<camunda:in source="amount" target="x"/>'
           '<camunda:in sourceExpression="${amount + 1}" target="y"/>'
           '<camunda:out source="out_value" target="result"/>'
           '<camunda:out sourceExpression="${y * 2}" target="doubled"/>')
    eng.deploy_bytes([("child.bpmn", child("out_value = x * 10\nleaked = 'no'")), ("parent.bpmn", caller(ext))])
    inst = eng.start("parent", {"amount": 3, "secret": "s"})
    assert inst.status == "completed"
    assert inst.variables == {"amount": 3, "secret": "s", "result": 30, "doubled": 8, "seen": True}


def test_an_unmapped_variable_does_not_reach_the_called_process(eng):
    eng.deploy_bytes([("child.bpmn", child("seen_secret = secret")),
                      ("parent.bpmn", caller('<camunda:in source="amount" target="x"/>'))])
    inst = eng.start("parent", {"amount": 3, "secret": "s"})
    assert inst.status == "failed" and "secret" in inst.error["message"]


def test_variables_all_and_out_only(eng):
    ext = '<camunda:in variables="all"/><camunda:out source="out_value" target="r"/>'
    eng.deploy_bytes([("child.bpmn", child()), ("parent.bpmn", caller(ext))])
    assert eng.start("parent", {"x": 1}).variables == {"x": 1, "r": 10, "seen": True}


def test_an_out_mapping_alone_passes_nothing_in(eng):
    ext = '<camunda:out source="out_value" target="r"/>'
    eng.deploy_bytes([("child.bpmn", child("out_value = x")), ("parent.bpmn", caller(ext))])
    inst = eng.start("parent", {"x": 5})
    assert inst.status == "failed" and inst.error["element_id"] == "S1" and "'x'" in inst.error["message"]


def test_zeebe_called_element_with_propagation_flags(eng):
    ext = ('<zeebe:calledElement processId="child" propagateAllChildVariables="false" '
           'propagateAllParentVariables="false"/>'
           '<zeebe:ioMapping><zeebe:input source="=amount" target="x"/>'
           '<zeebe:output source="=out_value" target="result"/></zeebe:ioMapping>')
    parent = caller(ext).replace(b' calledElement="child"', b"").replace(b"xmlns:camunda=", ZEEBE)
    eng.deploy_bytes([("child.bpmn", child("out_value = x * 10\nkept = 'not propagated'")),
                      ("parent.bpmn", parent)])
    inst = eng.start("parent", {"amount": 4})
    assert inst.status == "completed"
    assert inst.variables == {"amount": 4, "result": 40, "seen": True}


def test_bindings_pick_the_version(eng):
    eng.deploy_bytes([("child.bpmn", child("v = 1", 'camunda:versionTag="1.0"'))])
    eng.deploy_bytes([("child.bpmn", child("v = 2", 'camunda:versionTag="2.0"'))])
    eng.deploy_bytes([("child.bpmn", child("v = 3"))])
    cases = {
        "": 3,
        'camunda:calledElementBinding="version" camunda:calledElementVersion="1"': 1,
        'camunda:calledElementBinding="version" camunda:calledElementVersion="${2}"': 2,
        'camunda:calledElementBinding="versionTag" camunda:calledElementVersionTag="1.0"': 1,
    }
    for attrs, expected in cases.items():
        eng.deploy_bytes([("parent.bpmn", caller(attrs=attrs))])
        assert eng.start("parent").variables["v"] == expected, attrs


def test_deployment_binding_uses_the_process_deployed_with_the_caller(eng):
    eng.deploy_bytes([("child.bpmn", child("v = 'old'"))])
    both = [("child.bpmn", child("v = 'new'")),
            ("parent.bpmn", caller(attrs='camunda:calledElementBinding="deployment"'))]
    eng.deploy_bytes(both)
    assert eng.start("parent").variables["v"] == "new"
    with pytest.raises(ModelError, match="not in this deployment"):
        eng.deploy_bytes([("parent.bpmn", caller(attrs='camunda:calledElementBinding="deployment"', after='seen = 1'))])


@pytest.mark.parametrize(("attrs", "message"), [
    ('camunda:calledElementBinding="sometimes"', "not one of latest"),
    ('camunda:calledElementBinding="version" camunda:calledElementVersion="7"', "version 7 of process 'child'"),
    ('camunda:calledElementBinding="version" camunda:calledElementVersion="${v}"', "must be a version number"),
    ('camunda:calledElementBinding="versionTag" camunda:calledElementVersionTag="9.9"', "tagged '9.9'"),
])
def test_bad_bindings_fail_the_deployment_naming_the_element(eng, attrs, message):
    eng.deploy_bytes([("child.bpmn", child())])
    with pytest.raises(ModelError, match=message) as err:
        eng.deploy_bytes([("parent.bpmn", caller(attrs=attrs))])
    assert err.value.element_id == "S1" and err.value.line
