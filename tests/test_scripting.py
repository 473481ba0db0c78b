"""The restricted script engine, exercised through real SpiffWorkflow workflows built from inline BPMN."""

from __future__ import annotations

import datetime
import decimal
import json
import threading
import time
import uuid
import warnings
from typing import Any
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.errors import ConfigurationError, ScriptError
from engine.scripting import (
    DEFAULT_ALLOWED_MODULES,
    RestrictedScriptEngine,
    ScriptFailure,
    compile_check,
    describe_error,
)

ENGINE = RestrictedScriptEngine(timeout=2.0)  # shared by all tests, like the runtime shares it
FAST = RestrictedScriptEngine(timeout=0.5)

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://baton.test">\n'
    '<bpmn:process id="p" isExecutable="true">\n{body}\n</bpmn:process>\n</bpmn:definitions>\n'
)


def flow(source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{source}_{target}" sourceRef="{source}" targetRef="{target}"/>'
    return (f'<bpmn:sequenceFlow id="{source}_{target}" sourceRef="{source}" targetRef="{target}">'
            f'<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression></bpmn:sequenceFlow>')


def script_task(task_id: str, code: str) -> str:
    return (f'<bpmn:scriptTask id="{task_id}" name="{task_id}" scriptFormat="python">'
            f'<bpmn:script>{escape(code)}</bpmn:script></bpmn:scriptTask>')


def scripts_process(*scripts: str) -> str:
    """start -> t1 -> t2 ... -> end, one script task per script."""
    ids = ["start"] + [f"t{i + 1}" for i in range(len(scripts))] + ["end"]
    body = ['<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>']
    body += [script_task(task_id, code) for task_id, code in zip(ids[1:], scripts, strict=False)]
    body += [flow(a, b) for a, b in zip(ids, ids[1:], strict=False)]
    return HEADER.format(body="\n".join(body))


def gateway_process(condition: str) -> str:
    """start -> exclusive gateway: ``condition`` -> high (result='high'), default -> low (result='low')."""
    body = [
        '<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>',
        '<bpmn:exclusiveGateway id="gw" default="gw_low"/>',
        script_task("high", "result = 'high'"), script_task("low", "result = 'low'"),
        flow("start", "gw"), flow("gw", "high", condition), flow("gw", "low"),
        flow("high", "end"), flow("low", "end"),
    ]
    return HEADER.format(body="\n".join(body))


def workflow(xml: str, engine: RestrictedScriptEngine = ENGINE, data: dict[str, Any] | None = None,
             dmn: str | None = None) -> BpmnWorkflow:
    parser = CamundaParser() if dmn else BpmnParser()
    parser.add_bpmn_str(xml.encode())
    if dmn:
        parser.add_dmn_str(dmn.encode())
    wf = BpmnWorkflow(parser.get_spec("p"), script_engine=engine)
    start = wf.get_next_task(state=TaskState.READY)
    assert start is not None
    start.data.update(data or {})
    return wf


def run(xml: str, engine: RestrictedScriptEngine = ENGINE, **data: Any) -> dict[str, Any]:
    """Run to completion and return the data of the end event."""
    wf = workflow(xml, engine, data)
    wf.do_engine_steps()
    assert wf.is_completed()
    end = wf.get_next_task(spec_name="end")
    assert end is not None
    return end.data


def run_failing(xml: str, engine: RestrictedScriptEngine = ENGINE, **data: Any) -> WorkflowTaskException:
    """Run, expect a task error, check that exactly one task is in ERROR state and return the error."""
    wf = workflow(xml, engine, data)
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    errored = wf.get_tasks(state=TaskState.ERROR)
    assert len(errored) == 1
    assert info.value.task is errored[0]
    return info.value


# ------------------------------------------------------------------------------------------ happy paths
def test_script_tasks_compute_values_with_ordinary_python() -> None:
    first = """
total = 0
for price, qty in zip(prices, quantities):
    total += price * qty
counts = {'a': 1}
counts['a'] += 2
counts['b'] = counts.get('b', 0) + 1
a, (b, c) = 1, (2, 3)
def tax(value, rate=0.2):
    return round(value * rate, 2)
double = lambda v: v * 2
n = 0
while n < 5:
    n += 1
print('total is', total)
summary = f"{customer['name'].upper()} owes {tax(total):.2f}"
"""
    second = """
stats = dict(n=len(prices), lo=min(prices), hi=max(prices), sum=sum(prices), abs=abs(-3))
flags = [any(p > 20 for p in prices), all(isinstance(p, int) for p in prices)]
ranked = sorted([(i, p) for i, p in enumerate(prices)], key=lambda item: -item[1])
evens = list(range(0, 10, 2))
unique = sorted(set(evens) | {1})
words = ' '.join(str(w) for w in reversed(['c', 'b', 'a'])).split()
first = next(iter(sorted(prices)))
del quantities
"""
    data = run(scripts_process(first, second), prices=[10, 25, 5], quantities=[1, 2, 3],
               customer={"name": "ann"})
    assert data == {
        "prices": [10, 25, 5], "customer": {"name": "ann"}, "total": 75, "counts": {"a": 3, "b": 1},
        "price": 5, "qty": 3, "a": 1, "b": 2, "c": 3, "n": 5, "summary": "ANN owes 15.00",
        "stats": {"n": 3, "lo": 5, "hi": 25, "sum": 40, "abs": 3}, "flags": [True, True],
        "ranked": [(1, 25), (0, 10), (2, 5)], "evens": [0, 2, 4, 6, 8], "unique": [0, 1, 2, 4, 6, 8],
        "words": ["a", "b", "c"], "first": 5,
    }  # loop variables stay (as in Python); functions are not stored; `del` removed `quantities`


def test_allowed_imports_work_and_do_not_leak_into_task_data() -> None:
    code = """
import json
import math, re, statistics
from datetime import datetime, timedelta
from decimal import Decimal
from collections import Counter
import uuid
parsed = json.loads('{"k": [1, 2]}')
root = math.sqrt(16)
digits = re.findall(r'[0-9]+', 'a1b22')
mean = statistics.mean([1, 2, 3])
due = datetime(2024, 1, 31) + timedelta(days=1)
price = Decimal('1.10') + Decimal('2.20')
most = Counter('abracadabra').most_common(1)[0][0]
ident = uuid.uuid5(uuid.NAMESPACE_DNS, 'baton.test')
"""
    data = run(scripts_process(code))
    assert data == {
        "parsed": {"k": [1, 2]}, "root": 4.0, "digits": ["1", "22"], "mean": 2,
        "due": datetime.datetime(2024, 2, 1), "price": decimal.Decimal("3.30"), "most": "a",
        "ident": uuid.uuid5(uuid.NAMESPACE_DNS, "baton.test"),
    }
    json.dumps(data, default=str)  # nothing unserializable (modules, classes) was left behind


def test_injected_globals_and_external_context_are_visible_but_not_stored() -> None:
    engine = RestrictedScriptEngine(timeout=1.0, globals={"double": lambda v: v * 2, "RATE": 3})
    assert run(scripts_process("y = double(x) * RATE"), engine, x=5) == {"x": 5, "y": 30}
    data = {"x": 2}
    engine.environment.execute("z = x + offset", data, {"offset": 40})
    assert data == {"x": 2, "z": 42}
    assert engine.environment.evaluate("dmninputexpr > x", data, {"dmninputexpr": 7}) is True
    # SpiffWorkflow calls environment.evaluate directly for some conditions: failures are Baton ScriptErrors
    with pytest.raises(ScriptError, match="ZeroDivisionError in expression '1 / x'") as info:
        engine.environment.evaluate("1 / x", {"x": 0})
    assert isinstance(info.value, ScriptFailure) and info.value.line_number == 1


def test_exclusive_gateway_conditions_use_the_restricted_engine() -> None:
    condition = "amount > 100 and region in ('EU', 'US') and len(items) >= 1"
    assert run(gateway_process(condition), amount=150, region="EU", items=[1])["result"] == "high"
    assert run(gateway_process(condition), amount=50, region="EU", items=[1])["result"] == "low"


def test_dmn_decision_uses_the_restricted_engine() -> None:
    dmn = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="http://baton.test">
  <decision id="discount" name="Discount">
    <decisionTable id="table" hitPolicy="FIRST">
      <input id="i1"><inputExpression id="e1" typeRef="string"><text>tier</text></inputExpression></input>
      <input id="i2"><inputExpression id="e2" typeRef="number"><text>total</text></inputExpression></input>
      <output id="o1" name="discount" typeRef="number"/>
      {rules}
    </decisionTable>
  </decision>
</definitions>"""
    rules = "\n".join(
        f'<rule id="r{i}"><inputEntry id="r{i}a"><text>{escape(tier)}</text></inputEntry>'
        f'<inputEntry id="r{i}b"><text>{escape(total)}</text></inputEntry>'
        f'<outputEntry id="r{i}c"><text>{out}</text></outputEntry></rule>'
        # "? >= 1000" reaches the engine as an expression with external context {"dmninputexpr": total}
        for i, (tier, total, out) in enumerate([('"gold"', "? >= 1000", "0.15"), ('"gold"', "< 1000", "0.1"),
                                                ("-", "-", "0")]))
    dmn = dmn.replace("{rules}", rules)
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:endEvent id="end"/>',
        '<bpmn:businessRuleTask id="decide" camunda:decisionRef="discount"/>',
        flow("start", "decide"), flow("decide", "end"),
    ])
    for tier, total, expected in [("gold", 2000, 0.15), ("gold", 10, 0.1), ("silver", 2000, 0)]:
        wf = workflow(HEADER.format(body=body), data={"tier": tier, "total": total}, dmn=dmn)
        wf.do_engine_steps()
        assert wf.is_completed()
        assert wf.get_next_task(spec_name="end").data["discount"] == expected


def test_storable_types_are_accepted() -> None:
    code = """
from datetime import datetime, date, timedelta
from decimal import Decimal
import uuid
values = {'when': datetime(2024, 5, 1, 12), 'day': date(2024, 5, 1), 'wait': timedelta(hours=2),
          'money': Decimal('9.99'), 'id': uuid.UUID(int=1), 'nested': [(1, 'a'), {'x': None, 'y': 1.5}],
          'flag': True}
"""
    assert run(scripts_process(code))["values"]["id"] == uuid.UUID(int=1)


def test_compile_warnings_are_not_raised() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = run(scripts_process(f"same = 1 is 1  # {uuid.uuid4()}\nescaped = len('\\d')"))
    assert data == {"same": True, "escaped": 2}


# ------------------------------------------------------------------------------------------- escapes
ESCAPES = [
    ("().__class__.__base__.__subclasses__()", "ForbiddenError", "starts with"),
    ("getattr(a, '__class__')", "ForbiddenError", "'__class__' is not allowed"),
    ("hasattr(a, '__globals__')", "ForbiddenError", "'__globals__' is not allowed"),
    ("(lambda: 0).__globals__", "ForbiddenError", "__globals__"),
    ("type(a).__mro__", "ForbiddenError", "__mro__"),
    ("b = type(a)", "ForbiddenError", "'type' is not available"),
    ("b = Exception.mro()", "ForbiddenError", "'mro' is not allowed"),
    ("b = '{0.__class__}'.format(1)", "ForbiddenError", "str.format() is not allowed"),
    ("b = str.format('{0.__class__}', 1)", "ForbiddenError", "str.format() is not allowed"),
    ("b = open('/etc/passwd').read()", "ForbiddenError", "'open' is not available"),
    ("b = __import__('os')", "ForbiddenError", "__import__"),
    ("import os", "ForbiddenError", "import of module 'os' is not allowed"),
    ("import os.path", "ForbiddenError", "import of module 'os.path' is not allowed"),
    ("from os import path", "ForbiddenError", "import of module 'os' is not allowed"),
    ("import subprocess", "ForbiddenError", "import of module 'subprocess' is not allowed"),
    ("import json.decoder", "ForbiddenError", "import of module 'json.decoder' is not allowed"),
    ("from json import codecs", "ForbiddenError", "cannot import 'codecs' from 'json'"),
    ("from . import scripting", "ForbiddenError", "is not allowed"),
    ("import json; b = json.codecs.open('/etc/passwd')", "AttributeError", "no attribute 'codecs'"),
    ("import uuid; b = uuid.os.system('true')", "AttributeError", "no attribute 'os'"),
    ("import time; time.sleep(10)", "AttributeError", "no attribute 'sleep'"),
    ("import operator; b = operator.attrgetter('__class__')", "AttributeError", "no attribute 'attrgetter'"),
    ("import calendar; calendar.mdays[2] = 30", "ForbiddenError", "cannot modify a tuple"),
    ("import math; math.pi = 3", "ForbiddenError", "cannot modify a module"),
    ("import decimal; decimal.getcontext().prec = 5", "AttributeError", "no attribute 'getcontext'"),
    ("b = list(iter(int, 1))", "TypeError", "iter() takes 1 positional argument"),
    ("b = eval('1 + 1')", "ForbiddenError", "Eval calls are not allowed"),
    ("e = eval; b = e('1 + 1')", "ForbiddenError", "'eval' is not available"),
    ("exec('b = 1')", "ForbiddenError", "Exec calls are not allowed"),
    ("b = compile('1', 'x', 'eval')", "ForbiddenError", "'compile' is not available"),
    ("b = globals()", "ForbiddenError", "'globals' is not available"),
    ("b = vars()", "ForbiddenError", "'vars' is not available"),
    ("breakpoint()", "ForbiddenError", "breakpoint"),
    ("class Evil: pass", "ForbiddenError", "class definitions are not allowed"),
    ("b = (i for i in [1]).gi_frame", "ForbiddenError", "gi_frame"),
    ("b = 10 ** 10 ** 8", "ForbiddenError", "too large"),
    ("b = pow(7, 10 ** 9)", "ForbiddenError", "too large"),
    ("b = 1 / 0", "ZeroDivisionError", "division by zero"),
    ("b = missing + 1", "NameError", "'missing' is not defined"),
]


@pytest.mark.parametrize(("code", "error_type", "fragment"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escapes_and_errors_fail_the_task_with_a_clear_error_and_line(code: str, error_type: str,
                                                                      fragment: str) -> None:
    error = run_failing(scripts_process(f"a = 1\n{code}\nc = 3"), a_value=1)
    assert error.error_type == error_type
    assert fragment in str(error)
    assert error.line_number == 2
    assert error.error_line == code
    assert error.__cause__ is not None and type(error.__cause__).__name__ == error_type
    info = describe_error(error)
    assert info["line"] == 2 and info["error_type"] == error_type and fragment in info["reason"]


def test_syntax_error_in_script_reports_its_line() -> None:
    error = run_failing(scripts_process("a = 1\nb = (a +\n"))
    assert error.error_type == "SyntaxError" and error.line_number == 2
    assert "SyntaxError on line 2" in str(error)


def test_condition_with_syntax_error_names_the_expression() -> None:
    error = run_failing(gateway_process("amount >"), amount=1)
    assert error.error_type == "SyntaxError"
    assert "'amount >'" in str(error) and "invalid syntax" in str(error)
    assert describe_error(error) == {"reason": "invalid syntax in expression 'amount >'", "line": 1,
                                     "error_type": "SyntaxError"}
    forbidden = run_failing(gateway_process("amount.__class__ is int"), amount=1)
    assert forbidden.error_type == "ForbiddenError" and "__class__" in str(forbidden)


def test_compile_check_for_deployments() -> None:
    assert compile_check("x = [i for i in range(3)]", "exec") is None
    assert compile_check("amount > 100", "eval") is None
    assert compile_check("amount >", "eval") == "SyntaxError on line 1: invalid syntax"
    problem = compile_check("a = 1\nb = a.__class__", "exec")
    assert problem is not None and problem.startswith("ForbiddenError on line 2:") and "__class__" in problem


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'os' can never be allowed"):
        RestrictedScriptEngine(allowed_modules=[*DEFAULT_ALLOWED_MODULES, "os"])
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        RestrictedScriptEngine(allowed_modules=["no_such_module_for_baton"])
    narrow = RestrictedScriptEngine(timeout=1.0, allowed_modules=["math"])
    assert "import of module 'json'" in str(run_failing(scripts_process("import json"), narrow))


# ------------------------------------------------------------------------------------------ storability
UNSTORABLE = [
    ("x = {1, 2}", "variable 'x' holds a set, which cannot be stored; use a list"),
    ("items = [1, lambda: 2]", "variable 'items' holds a function (at items[1]), which cannot be stored"),
    ("gen = (i for i in range(3))", "variable 'gen' holds a generator object, which cannot be stored"),
    ("import json\nholder = {'m': json}", "variable 'holder' holds a module (at holder['m'])"),
    ("ratio = float('nan')", "variable 'ratio' holds a non-finite float (nan)"),
    ("keyed = {1: 'a'}", "variable 'keyed' holds a dict with the key 1"),
    ("raw = b'abc'", "variable 'raw' holds bytes, which cannot be stored; decode them to a str"),
    ("loop = [1]\nloop.append(loop)", "variable 'loop' holds data nested too deeply"),
]


@pytest.mark.parametrize(("code", "message"), UNSTORABLE, ids=[u[0] for u in UNSTORABLE])
def test_unstorable_values_fail_naming_the_variable(code: str, message: str) -> None:
    wf = workflow(scripts_process("ok = 1\n" + code))
    with pytest.raises(WorkflowTaskException) as info:
        wf.do_engine_steps()
    assert message in str(info.value)
    assert info.value.error_type == "VariableError"
    task = wf.get_tasks(state=TaskState.ERROR)[0]
    assert "ok" not in task.data  # nothing was written back


# ---------------------------------------------------------------------------------------------- timeouts
def test_infinite_loop_is_stopped_by_the_time_limit() -> None:
    started = time.monotonic()
    error = run_failing(scripts_process("n = 0\nwhile True:\n    n += 1"), FAST)
    assert time.monotonic() - started < 2.0
    assert error.error_type == "TimeoutError"
    assert "script exceeded its time limit of 0.5 s" in str(error)
    assert error.line_number in (2, 3)


def test_time_limit_cannot_be_caught_by_the_script() -> None:
    code = "try:\n    while True:\n        pass\nexcept Exception:\n    caught = True\nafter = 1"
    error = run_failing(scripts_process(code), FAST)
    assert error.error_type == "TimeoutError"
    code = "try:\n    while True:\n        pass\nexcept:\n    pass"
    assert "bare 'except:' is not allowed" in str(run_failing(scripts_process(code), FAST))


def test_time_limit_applies_to_expressions() -> None:
    error = run_failing(gateway_process("any(i < 0 for i in range(10 ** 12))"), FAST)
    assert error.error_type == "TimeoutError" and "expression exceeded its time limit" in str(error)


def test_no_time_limit_when_disabled() -> None:
    data: dict[str, Any] = {}
    RestrictedScriptEngine(timeout=0).environment.execute("n = sum(i for i in range(1000))", data)
    assert data == {"n": 499500}


def test_timeout_exception_never_leaks_after_the_script() -> None:
    env = RestrictedScriptEngine(timeout=0.004).environment
    code = "n = 0\nwhile n < limit:\n    n += 1"
    calibrate: dict[str, Any] = {"limit": 20_000}
    started = time.perf_counter()
    RestrictedScriptEngine(timeout=0).environment.execute(code, calibrate)
    per_step = (time.perf_counter() - started) / 20_000
    outcomes = {"ok": 0, "timeout": 0}
    leaked: list[str] = []
    for i in range(200):
        # runtimes from 0.5x to 2.5x the limit, so many scripts end right around their deadline
        limit = int(0.004 * (0.5 + 2.0 * (i % 20) / 19) / per_step)
        try:
            try:
                env.execute(code, {"limit": limit})
                outcomes["ok"] += 1
            except ScriptFailure as failure:
                assert failure.error_type == "TimeoutError", failure
                outcomes["timeout"] += 1
            spin = 0
            for _ in range(3000):  # a pending injection would be raised here
                spin += 1
        except BaseException as exc:  # noqa: BLE001 - anything escaping here is the bug under test
            leaked.append(repr(exc))
    time.sleep(0.02)
    for _ in range(10_000):
        pass
    assert leaked == []
    assert outcomes["ok"] > 0 and outcomes["timeout"] > 0


def test_concurrent_workflows_are_isolated_from_another_threads_timeout() -> None:
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def looping() -> None:
        barrier.wait()
        try:
            workflow(scripts_process("while True:\n    pass"), FAST).do_engine_steps()
        except WorkflowTaskException as exc:
            results["looping"] = exc.error_type

    def working() -> None:
        barrier.wait()
        totals = []
        deadline = time.monotonic() + 0.8  # keeps running while the other thread times out
        while time.monotonic() < deadline:
            data = run(scripts_process("x = sum(range(n))", "y = x * 2", "z = [y] * 3"), FAST, n=100)
            totals.append(data["z"])
        results["working"] = totals

    threads = [threading.Thread(target=looping), threading.Thread(target=working)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results["looping"] == "TimeoutError"
    assert results["working"] and all(z == [9900, 9900, 9900] for z in results["working"])
