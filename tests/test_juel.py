"""JUEL (Camunda 7 ``${...}``) translated to Python and evaluated by the restricted engine against variables."""

from __future__ import annotations

import pytest

from engine.errors import ExpressionError
from engine.juel import has_expression, translate
from engine.scripting import DEFAULT_ALLOWED_MODULES, RestrictedEnvironment, ScriptFailure

ENV = RestrictedEnvironment(5, DEFAULT_ALLOWED_MODULES, {})
VARS = {
    "amount": 1500, "approved": True, "rejected": False, "x": "A", "list": [], "items": ["a", "b", "c"],
    "flag": False, "order": {"total": 99.5, "lines": [{"sku": "K1"}]}, "id": 7, "customer": {"name": "Ann"},
    "s": "Hello", "n": None, "m": {"k": 1}, "text": "", "num_text": "12", "class_": 1,
}


def run(text: str, variables=None, external=None):
    return ENV.evaluate(translate(text), dict(VARS if variables is None else variables), external)


@pytest.mark.parametrize("text, expected", [
    # the examples
    ("${amount > 1000}", True),
    ("${approved && !rejected}", True),
    ("${x eq 'A'}", True),
    ("${empty list}", True),
    ("${not flag}", True),
    ("${order.total}", 99.5),
    ("${execution.getVariable('x')}", "A"),
    # literals
    ("${'it\\'s'}", "it's"),
    ('${"say \\"hi\\""}', 'say "hi"'),
    ("${42}", 42), ("${1.5}", 1.5), ("${2e3}", 2000.0), ("${true}", True), ("${false}", False), ("${null}", None),
    # property access on JSON variables
    ("${order['total']}", 99.5), ("${order.lines[0].sku}", "K1"), ("${items[1]}", "b"), ("${items[9]}", None),
    ("${order.missing}", None), ("${n.anything}", None), ("${customer[\"name\"]}", "Ann"),
    # arithmetic: numeric, null is 0, numeric strings are numbers, '/' divides as decimals
    ("${amount + 1}", 1501), ("${amount - 500 * 2}", 500), ("${7 / 2}", 3.5), ("${7 div 2}", 3.5),
    ("${7 % 4}", 3), ("${7 mod 4}", 3), ("${-amount}", -1500), ("${n + 1}", 1), ("${num_text + 1}", 13),
    ("${(1 + 2) * 3}", 9),
    # comparison, including word forms and null
    ("${amount == 1500}", True), ("${amount != 1500}", False), ("${amount lt 2000}", True),
    ("${amount gt 2000}", False), ("${amount le 1500}", True), ("${amount ge 1501}", False),
    ("${num_text == 12}", True), ("${n == null}", True), ("${x == null}", False), ("${n < 5}", False),
    ("${x ne 'B'}", True), ("${approved == 'true'}", True),
    # logic
    ("${approved and rejected}", False), ("${approved or rejected}", True), ("${!approved || flag}", False),
    ("${n && true}", False),
    # empty
    ("${empty n}", True), ("${empty text}", True), ("${empty m}", False), ("${empty items}", False),
    ("${not empty items}", True),
    # ternary
    ("${amount > 1000 ? 'big' : 'small'}", "big"), ("${flag ? 1 : n == null ? 2 : 3}", 2),
    # composite text
    ("Order ${id} for ${customer.name}", "Order 7 for Ann"), ("${approved}!", "true!"), ("no expression", "no expression"),
    ("price: \\${not translated}", "price: ${not translated}"), ("#{amount > 1000}", True),
    # execution facts and methods on variables
    ("${execution.getVariable('nope')}", None), ("${execution.getVariableLocal('id')}", 7),
    ("${execution.hasVariable('x')}", True), ("${execution.hasVariable('nope')}", False),
    ("${execution.getVariable('x') != null}", True),
    ("${s.startsWith('He')}", True), ("${s.endsWith('lo')}", True), ("${s.contains('ell')}", True),
    ("${text.isEmpty()}", True), ("${items.size()}", 3), ("${s.length()}", 5), ("${s.toUpperCase()}", "HELLO"),
    ("${s.toLowerCase()}", "hello"), ("${x.equals('A')}", True), ("${items.contains('b')}", True),
    ("${m.get('k')}", 1), ("${m.get('z')}", None), ("${m.containsKey('k')}", True), ("${s.substring(1, 3)}", "el"),
    ("${s.concat(id)}", "Hello7"), ("${s.trim()}", "Hello"), ("${s.indexOf('l')}", 2), ("${items.indexOf('c')}", 2),
    ("${s.matches('H.*o')}", True), ("${m.keySet()}", ["k"]), ("${m.values()}", [1]), ("${order.toString()}", str(VARS["order"])),
])
def test_expression_values(text, expected):
    assert run(text) == expected


def test_instance_facts_come_from_the_external_context():
    facts = {"_juel_facts": {"business_key": "order-1", "instance_id": "i-1", "activity_id": "Task_1"}}
    assert run("${execution.getProcessBusinessKey()}", external=facts) == "order-1"
    assert run("${execution.processBusinessKey}", external=facts) == "order-1"
    assert run("${execution.getProcessInstanceId()}", external=facts) == "i-1"
    assert run("${execution.getActivityId()}", external=facts) == "Task_1"
    assert run("${execution.currentActivityId}", external=facts) == "Task_1"
    assert run("${execution.getProcessBusinessKey()}") is None  # outside an instance: no facts


def test_plus_does_not_concatenate_strings_as_in_juel():
    with pytest.raises(ScriptFailure, match="cannot use the string 'Hello' as a number"):
        run("${s + '!'}")


def test_an_unknown_variable_is_an_error_like_camunda():
    with pytest.raises(ScriptFailure, match="NameError"):
        run("${nobody > 1}")


@pytest.mark.parametrize("text, message", [
    ("${myBean.doIt()}", "method 'doIt()' is not supported (a bean or Java method call)"),
    ("${someService.method(x)}", "method 'method()' is not supported"),
    ("${T(java.lang.Math).max(1, 2)}", "Java class references (T(...)) are not supported"),
    ("${s.replaceAll('a', 'b')}", "method 'replaceAll()' is not supported"),
    ("${x = 1}", "assignments are not supported"),
    ("${x -> x + 1}", "lambda expressions are not supported"),
    ("${a; b}", "';' (several expressions) is not supported"),
    ("${execution.setVariable('a', 1)}", "'execution.setVariable(..., ...)' is not supported on 'execution'"),
    ("${execution}", "'execution' alone is not a value"),
    ("${amount >}", "the expression ends too early"),
    ("${amount", "the expression is not closed"),
    ("${dateTime()}", "function 'dateTime()' is not supported"),
    ("${x instanceof String}", "'instanceof' (Java types) is not supported"),
])
def test_untranslatable_expressions_are_refused_with_the_reason(text, message):
    with pytest.raises(ExpressionError) as err:
        translate(text)
    assert message in str(err.value)


def test_python_keywords_and_underscore_names_as_variables():
    assert run("${class_ + 1}") == 2
    assert ENV.evaluate(translate("${from}"), {"from": "x"}) == "x"


def test_has_expression():
    assert has_expression("${a}") and has_expression("x #{a}") and not has_expression("\\${a}")
    assert not has_expression("plain") and not has_expression(None)


def test_helpers_cannot_be_rebound_and_variables_not_written_behind_the_sandbox():
    with pytest.raises(ScriptFailure, match="invalid variable name"):
        ENV.execute("_juel_add = 1", {})
    data = {"x": 1}
    with pytest.raises(ScriptFailure, match="only dicts and lists can be changed"):
        ENV.execute("_juel_vars['f'] = len", data)
    assert data == {"x": 1}
