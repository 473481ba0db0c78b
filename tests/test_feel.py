"""FEEL (Camunda 8 / Zeebe ``= ...``) translated to Python and evaluated by the restricted engine."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import ExpressionError
from engine.feel import translate
from engine.scripting import DEFAULT_ALLOWED_MODULES, RestrictedEnvironment

ENV = RestrictedEnvironment(5, DEFAULT_ALLOWED_MODULES, {})
VARS = {"amount": 1500, "name": "Ann", "items": [3, 1, 2], "order": {"total": 10, "customer": {"city": "Oslo"}},
        "flag": True, "nothing": None, "people": [{"n": "a"}, {"n": "b"}]}


def run(text: str):
    return ENV.evaluate(translate(text), dict(VARS))


@pytest.mark.parametrize("text, expected", [
    ("amount > 1000", True),  # the example (after the leading '=')
    ("amount = 1500", True), ("amount != 1500", False), ("amount <= 1500", True), ("amount >= 2000", False),
    ('"a" < "b"', True), ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("2 ** 10", 1024), ("-amount", -1500),
    ("10 - 4", 6), ('"Hello " + name', "Hello Ann"), ("1.5", 1.5), ("null", None), ("true", True),
    ('"tab\\tquote\\""', 'tab\tquote"'),
    ("order.total", 10), ("order.customer.city", "Oslo"), ("order.missing", None), ("missing", None),
    ("people.n", ["a", "b"]), ("items[1]", 3), ("items[-1]", 2), ("items[9]", None),
    ("flag and amount > 1000", True), ("flag and false", False), ("false or flag", True), ("not(flag)", False),
    ("nothing and true", None), ("nothing or true", True), ("nothing = null", True), ("amount > nothing", None),
    ('amount = "1500"', None),
    ('if amount > 1000 then "big" else "small"', "big"), ('if nothing then "yes" else "no"', "no"),
    ("amount in [1, 1500]", True), ('name in ["Bob"]', False), ("amount between 1000 and 2000", True),
    ("[1, amount]", [1, 1500]), ('{a: 1, "b c": name, d: {e: []}}', {"a": 1, "b c": "Ann", "d": {"e": []}}),
    ("string length(name)", 3), ("upper case(name)", "ANN"), ("lower case(name)", "ann"),
    ('contains(name, "n")', True), ('starts with(name, "A")', True), ('ends with(name, "x")', False),
    ("substring(name, 2)", "nn"), ("count(items)", 3), ("sum(items)", 6), ("min(items)", 1), ("max(items)", 3),
    ("max(4, 9)", 9), ("is defined(name)", True), ("is defined(zzz)", False), ("string(amount)", "1500"),
    ('number("12.5")', 12.5), ("abs(-3)", 3), ("list contains(items, 2)", True), ("upper case(nothing)", None),
])
def test_expression_values(text, expected):
    assert run(text) == expected


def test_now_and_today():
    assert isinstance(run("now()"), dt.datetime)
    assert run("today()") == dt.datetime.now(dt.UTC).date()


@pytest.mark.parametrize("text, message", [
    ("for x in items return x * 2", "'for' loops are not supported"),
    ("some x in items satisfies x > 2", "'some' quantifiers are not supported"),
    ("items[item > 1]", "filter expressions (list[condition]) are not supported"),
    ("amount in (1..10)", "ranges and unary tests after 'in' are not supported"),
    ("amount in < 5", "unary tests after 'in'"),
    ("myFunction(1)", "function 'myFunction()' is not supported"),
    ("amount >", "the expression ends too early"),
    ("amount = 1 = 2", "unexpected '='"),
    ("", "the expression is empty"),
    ("a ; b", "unexpected character ';'"),
])
def test_untranslatable_expressions_are_refused_with_the_reason(text, message):
    with pytest.raises(ExpressionError) as err:
        translate(text)
    assert message in str(err.value)
