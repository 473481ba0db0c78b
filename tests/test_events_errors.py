"""BPMN errors: error end events, error boundary events and error event subprocesses, as Camunda 7 runs them."""

from __future__ import annotations

from helpers import flows, process_xml

ERRORS = ('<bpmn:error id="errA" errorCode="A" camunda:errorMessage="A went wrong"/>'
          '<bpmn:error id="errB" errorCode="B"/><bpmn:error id="errNoCode" name="any"/>')


def sub_throwing(error_ref: str | None, sub_id: str = "sub") -> str:
    """A subprocess whose only path ends in an error end event throwing ``error_ref`` (None: no errorRef)."""
    ref = f' errorRef="{error_ref}"' if error_ref else ""
    return (f'<bpmn:subProcess id="{sub_id}"><bpmn:startEvent id="{sub_id}_s"/>'
            f'<bpmn:scriptTask id="{sub_id}_work" scriptFormat="python"><bpmn:script>inner = 1</bpmn:script>'
            f'</bpmn:scriptTask>'
            f'<bpmn:endEvent id="{sub_id}_err"><bpmn:errorEventDefinition{ref}/></bpmn:endEvent>'
            + flows(f"{sub_id}_s>{sub_id}_work", f"{sub_id}_work>{sub_id}_err") + "</bpmn:subProcess>")


def boundary(bid: str, error_ref: str | None, attached: str = "sub", attrs: str = "") -> str:
    ref = f' errorRef="{error_ref}"' if error_ref else ""
    return (f'<bpmn:boundaryEvent id="{bid}" attachedToRef="{attached}">'
            f'<bpmn:errorEventDefinition{ref}{attrs}/></bpmn:boundaryEvent>')


def around(inner: str, *boundaries: str) -> str:
    """start -> sub -> afterSub (user task) -> end; each boundary bX -> userTask onX -> end."""
    body = ['<bpmn:startEvent id="start"/>', inner, '<bpmn:userTask id="afterSub"/>', '<bpmn:endEvent id="end"/>']
    pairs = ["start>sub", "sub>afterSub", "afterSub>end"]
    for b in boundaries:
        bid = b.split('id="')[1].split('"')[0]
        body += [b, f'<bpmn:userTask id="on_{bid}"/>', f'<bpmn:endEvent id="end_{bid}"/>']
        pairs += [f"{bid}>on_{bid}", f"on_{bid}>end_{bid}"]
    return "\n".join(body) + flows(*pairs)


def deploy_start(engine, body: str, pid: str = "p", extra: str = ERRORS, variables=None):
    engine.deploy_bytes([(f"{pid}.bpmn", process_xml(pid, body, extra=extra))])
    return engine.start(pid, variables or {})


def ready(engine, inst) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(instance_id=inst.id))


def events(engine, inst, kind: str) -> list[str]:
    return [h.element_id for h in engine.history(inst.id) if h.event == kind]


def test_error_end_event_caught_by_boundary_with_its_code_cancels_the_subprocess(engine):
    inst = deploy_start(engine, around(sub_throwing("errA"), boundary("bA", "errA"), boundary("bB", "errB")))
    assert inst.status == "waiting"
    assert ready(engine, inst) == ["on_bA"]
    assert "sub" in events(engine, inst, "activity_cancelled")
    assert "sub" not in events(engine, inst, "activity_completed")
    assert engine.get_instance(inst.id).variables["inner"] == 1


def test_catch_all_boundary_catches_when_no_code_matches(engine):
    for catch_all in (boundary("bAll", None), boundary("bAll", "errNoCode")):
        inst = deploy_start(engine, around(sub_throwing("errA"), boundary("bB", "errB"), catch_all))
        assert ready(engine, inst) == ["on_bAll"]


def test_boundary_naming_the_code_wins_over_a_catch_all_one(engine):
    inst = deploy_start(engine, around(sub_throwing("errA"), boundary("bAll", None), boundary("bA", "errA")))
    assert ready(engine, inst) == ["on_bA"]


def test_error_code_and_message_variables_are_set_on_the_catching_path(engine):
    attrs = ' camunda:errorCodeVariable="code" camunda:errorMessageVariable="msg"'
    inst = deploy_start(engine, around(sub_throwing("errA"), boundary("bAll", None, attrs=attrs)))
    variables = engine.get_instance(inst.id).variables
    assert (variables["code"], variables["msg"]) == ("A", "A went wrong")


def test_an_error_message_expression_is_evaluated_where_the_error_is_thrown(engine):
    """ErrorEndEventTest#testErrorMessageExpression: camunda:errorMessage="${why}" gives the thrower's value."""
    errors = '<bpmn:error id="errX" errorCode="X" camunda:errorMessage="${why + \'!\'}"/>'
    attrs = ' camunda:errorCodeVariable="code" camunda:errorMessageVariable="msg"'
    inst = deploy_start(engine, around(sub_throwing("errX"), boundary("bAll", None, attrs=attrs)), extra=errors,
                        variables={"why": "out of stock"})
    variables = engine.get_instance(inst.id).variables
    assert (variables["code"], variables["msg"]) == ("X", "out of stock!")


def test_uncaught_error_fails_the_instance_naming_code_and_element(engine):
    inst = deploy_start(engine, around(sub_throwing("errA"), boundary("bB", "errB")))
    got = engine.get_instance(inst.id)
    assert got.status == "failed"
    assert "'A'" in got.error["message"] and "sub_err" in got.error["message"]
    assert got.error["element_id"] == "sub_err"
    assert "instance_completed" not in [h.event for h in engine.history(inst.id)]
    again = engine.retry(inst.id)  # the model did not change: the error is thrown again, nothing is lost
    assert again.status == "failed" and again.error["element_id"] == "sub_err"


def test_error_from_called_process_reaches_the_call_activity_boundary(engine):
    child = process_xml("child", '<bpmn:startEvent id="cs"/><bpmn:endEvent id="child_err">'
                        '<bpmn:errorEventDefinition errorRef="errA"/></bpmn:endEvent>' + flows("cs>child_err"),
                        extra=ERRORS)
    parent = around('<bpmn:callActivity id="sub" calledElement="child"/>',
                    boundary("bA", "errA", attrs=' camunda:errorCodeVariable="code"'))
    engine.deploy_bytes([("child.bpmn", child), ("parent.bpmn", process_xml("parent", parent, extra=ERRORS))])
    inst = engine.start("parent")
    assert ready(engine, inst) == ["on_bA"]
    assert engine.get_instance(inst.id).variables["code"] == "A"


def test_error_of_inner_subprocess_caught_on_outer_subprocess(engine):
    outer = ('<bpmn:subProcess id="sub"><bpmn:startEvent id="os"/>' + sub_throwing("errA", "inner")
             + '<bpmn:endEvent id="oe"/>' + flows("os>inner", "inner>oe") + "</bpmn:subProcess>")
    inst = deploy_start(engine, around(outer, boundary("bA", "errA")))
    assert ready(engine, inst) == ["on_bA"]
    assert {"sub", "inner"} <= set(events(engine, inst, "activity_cancelled"))


ERROR_EVENT_SUBPROCESS = '''
<bpmn:startEvent id="start"/>
<bpmn:parallelGateway id="fork"/>
<bpmn:userTask id="wait"/>
<bpmn:scriptTask id="fail" scriptFormat="python"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
<bpmn:endEvent id="err"><bpmn:errorEventDefinition errorRef="errA"/></bpmn:endEvent>
<bpmn:endEvent id="end"/>
<bpmn:subProcess id="evsub" triggeredByEvent="true">
  <bpmn:startEvent id="es"><bpmn:errorEventDefinition errorRef="errA" camunda:errorCodeVariable="code"
    camunda:errorMessageVariable="msg"/></bpmn:startEvent>
  <bpmn:userTask id="handle"/>
  <bpmn:endEvent id="ee"/>
  <bpmn:sequenceFlow id="g1" sourceRef="es" targetRef="handle"/>
  <bpmn:sequenceFlow id="g2" sourceRef="handle" targetRef="ee"/>
</bpmn:subProcess>
''' + flows("start>fork", "fork>wait", "fork>fail", "fail>err", "wait>end")


def test_error_event_subprocess_interrupts_the_process(engine):
    inst = deploy_start(engine, ERROR_EVENT_SUBPROCESS)
    assert ready(engine, inst) == ["handle"]  # the user task of the other branch was cancelled
    assert "wait" in events(engine, inst, "activity_cancelled")
    done = engine.complete_task(engine.tasks(instance_id=inst.id)[0].id)
    assert done.status == "completed"
    assert (done.variables["code"], done.variables["msg"], done.variables["x"]) == ("A", "A went wrong", 1)
    assert "end" not in events(engine, inst, "activity_completed")


def test_error_event_subprocess_does_not_start_on_its_own(engine):
    body = ERROR_EVENT_SUBPROCESS.replace('errorRef="errA"/></bpmn:endEvent>', 'errorRef="errB"/></bpmn:endEvent>')
    body = body.replace('<bpmn:errorEventDefinition errorRef="errB"/></bpmn:endEvent>', '</bpmn:endEvent>')
    inst = deploy_start(engine, body)
    assert ready(engine, inst) == ["wait"]
    assert engine.complete_task(engine.tasks(instance_id=inst.id)[0].id).status == "completed"


def test_error_thrown_in_event_subprocess_is_caught_by_the_subprocess_boundary(engine):
    inner = ('<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/><bpmn:userTask id="inside"/>'
             '<bpmn:endEvent id="se"/>' + flows("ss>inside", "inside>se")
             + '<bpmn:subProcess id="evsub" triggeredByEvent="true">'
             '<bpmn:startEvent id="es" isInterrupting="false"><bpmn:escalationEventDefinition/></bpmn:startEvent>'
             '<bpmn:endEvent id="ee"><bpmn:errorEventDefinition errorRef="errB"/></bpmn:endEvent>'
             + flows("es>ee") + '</bpmn:subProcess>'
             '<bpmn:intermediateThrowEvent id="esc"><bpmn:escalationEventDefinition/></bpmn:intermediateThrowEvent>'
             '</bpmn:subProcess>')
    # the escalation is thrown by a second path inside the subprocess
    inner = inner.replace('<bpmn:startEvent id="ss"/>', '<bpmn:startEvent id="ss"/><bpmn:parallelGateway id="pf"/>'
                          + flows("pf>esc"))
    inner = inner.replace(flows("ss>inside"), flows("ss>pf", "pf>inside"))
    inst = deploy_start(engine, around(inner, boundary("bB", "errB")))
    assert ready(engine, inst) == ["on_bB"]
    assert "inside" in events(engine, inst, "activity_cancelled")


JOB = '''
<bpmn:startEvent id="start"/>
<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>
  <bpmn:serviceTask id="call" camunda:type="external" camunda:topic="work"/>
  <bpmn:endEvent id="se"/>
''' + flows("ss>call", "call>se") + '''</bpmn:subProcess>
<bpmn:boundaryEvent id="bA" attachedToRef="sub"><bpmn:errorEventDefinition errorRef="errA"
  camunda:errorCodeVariable="code"/></bpmn:boundaryEvent>
<bpmn:userTask id="after"/><bpmn:userTask id="onA"/><bpmn:endEvent id="end"/><bpmn:endEvent id="endA"/>
''' + flows("start>sub", "sub>after", "after>end", "bA>onA", "onA>endA")


def test_worker_bpmn_error_is_caught_by_the_enclosing_subprocess_boundary(engine):
    inst = deploy_start(engine, JOB)
    job = engine.claim_jobs("w1", ["work"])[0]
    assert engine.job_bpmn_error(job.id, "w1", "A", "from the worker") is True
    assert ready(engine, inst) == ["onA"]
    assert engine.get_instance(inst.id).variables["code"] == "A"


def test_uncaught_worker_bpmn_error_is_an_incident(engine):
    inst = deploy_start(engine, JOB)
    job = engine.claim_jobs("w1", ["work"])[0]
    assert engine.job_bpmn_error(job.id, "w1", "Z") is False
    assert engine.get_instance(inst.id).status == "incident"
