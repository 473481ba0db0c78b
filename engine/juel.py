"""JUEL (Camunda 7's ``${...}`` / ``#{...}`` expressions) translated to Python for the restricted engine.

:func:`translate` takes the text of an attribute or element as the diagram holds it and returns Python source
that :mod:`engine.scripting` evaluates against the task's variables:

- ``${amount > 1000}`` (one expression) becomes an expression with the value's own type;
- ``Order ${id} for ${customer.name}`` (composite text) becomes a string concatenation.

A real tokenizer and a recursive-descent parser (JUEL's precedence: ternary, ``||``, ``&&``, equality,
relational, ``+ -``, ``* / div % mod``, unary ``- ! not empty``, then ``.name`` / ``[key]`` / calls) build
the Python text.  JUEL's coercions (``null`` is 0 in arithmetic and false in logic, ``'1' == 1``, ``+`` never
concatenates, relations with ``null`` are false, ``a.b`` on a missing key is ``null``) are kept by small
helpers named ``_juel_*`` that the restricted environment provides (``engine/expression_helpers.py``).

Baton variables are JSON, so ``a.b`` and ``a['b']`` are key lookups and ``a[0]`` an index.  Method calls are
translated for the base they are called on: ``execution`` / ``task`` (``getVariable``, ``hasVariable``,
``getProcessBusinessKey``, ``getProcessInstanceId``, ``getActivityId`` and their property forms) and the common
String / List / Map methods on variables.  Anything else (a Spring bean call, ``T(java.lang.Math)``, an unknown
method or function, lambdas, assignments) raises :class:`ExpressionError`.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ExpressionError

__all__ = ["ExpressionError", "has_expression", "translate", "translate_inner"]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||->|\+=|[-+*/%<>!?:.\[\](),;={}])
""", re.VERBOSE)
_WORD_OPS = {"and", "or", "not", "eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "empty", "instanceof"}
_CONSTANTS = {"true": "True", "false": "False", "null": "None"}
_SYNONYMS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=",
             "ge": ">=", "div": "/", "mod": "%"}
_COMPARE = {"==": "_juel_eq", "!=": "_juel_ne"}
_RELATION = {"<", ">", "<=", ">="}
_ARITH = {"+": "_juel_add", "-": "_juel_sub", "*": "_juel_mul", "/": "_juel_div", "%": "_juel_mod"}


@dataclass
class _Tok:
    kind: str  # num, str, name, op, end
    text: str
    pos: int


def has_expression(text: str | None) -> bool:
    """True when ``text`` holds a ``${...}`` or ``#{...}`` part (not escaped with a backslash)."""
    return bool(text) and re.search(r"(?<!\\)[$#]\{", text or "") is not None


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: m.group(1), body)


def _tokens(text: str, start: int) -> tuple[list[_Tok], int]:
    """Tokens of the expression starting at ``start`` up to its closing ``}``; returns (tokens, end index)."""
    out: list[_Tok] = []
    pos, depth = start, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} at position {pos + 1}")
        kind, value = match.lastgroup or "", match.group()
        pos = match.end()
        if kind == "ws":
            continue
        if kind == "op" and value == "{":
            depth += 1
        if kind == "op" and value == "}":
            if depth == 0:
                out.append(_Tok("end", "", match.start()))
                return out, pos
            depth -= 1
        if kind == "name" and value in _WORD_OPS:
            kind = "op"
        out.append(_Tok(kind, value, match.start()))
    raise ExpressionError("the expression is not closed with '}'")


class _Parser:
    """Recursive descent over one ``${...}`` body, producing Python source."""

    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks, self.i = tokens, 0

    # -- token helpers
    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def at(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok.kind != "op":
            return None
        value = _SYNONYMS.get(tok.text, tok.text)
        return value if value in ops else None

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        if self.at(op) is None:
            tok = self.peek()
            found = repr(tok.text) if tok.kind != "end" else "the end"
            raise ExpressionError(f"expected {op!r} but found {found}")
        self.i += 1

    # -- grammar
    def parse(self) -> str:
        if self.peek().kind == "end":
            raise ExpressionError("the expression is empty")
        result = self.ternary()
        tok = self.peek()
        if tok.kind != "end":
            self._reject_syntax(tok)
            raise ExpressionError(f"unexpected {tok.text!r}")
        return result

    def _reject_syntax(self, tok: _Tok) -> None:
        if tok.text in ("=", "+="):
            raise ExpressionError("assignments are not supported")
        if tok.text == "->":
            raise ExpressionError("lambda expressions are not supported")
        if tok.text == ";":
            raise ExpressionError("';' (several expressions) is not supported")
        if tok.text == "instanceof":
            raise ExpressionError("'instanceof' (Java types) is not supported")

    def ternary(self) -> str:
        cond = self.binary(0)
        if self.at("?"):
            self.take()
            yes = self.ternary()
            self.expect(":")
            no = self.ternary()
            return f"({yes} if _juel_bool({cond}) else {no})"
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="),
                                             ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> str:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.at(*self._LEVELS[level])) is not None:
            self.take()
            right = self.binary(level + 1)
            if op == "||":
                left = f"(_juel_bool({left}) or _juel_bool({right}))"
            elif op == "&&":
                left = f"(_juel_bool({left}) and _juel_bool({right}))"
            elif op in _COMPARE:
                left = f"{_COMPARE[op]}({left}, {right})"
            elif op in _RELATION:
                left = f"_juel_cmp({op!r}, {left}, {right})"
            else:
                left = f"{_ARITH[op]}({left}, {right})"
        return left

    def unary(self) -> str:
        op = self.at("-", "!", "empty")
        if op is None:
            return self.postfix()
        self.take()
        operand = self.unary()
        return {"-": f"_juel_neg({operand})", "!": f"(not _juel_bool({operand}))",
                "empty": f"_juel_empty({operand})"}[op]

    def postfix(self) -> str:
        tok = self.peek()
        if tok.kind == "name" and self.peek(1).text == "(" and self.peek(1).kind == "op":
            return self.suffixes(self.function(), [])
        if tok.kind == "name" and tok.text in ("execution", "task"):
            self.take()
            return self.suffixes(None, [tok.text])
        return self.suffixes(self.primary(), [])

    def function(self) -> str:
        name = self.take().text
        self.expect("(")
        args = self.arguments()
        if name == "T":
            raise ExpressionError("Java class references (T(...)) are not supported")
        if name == "now" and not args:
            return "_juel_now()"
        raise ExpressionError(f"function '{name}()' is not supported")

    def arguments(self) -> list[str]:
        args: list[str] = []
        if self.at(")"):
            self.take()
            return args
        while True:
            args.append(self.ternary())
            if self.at(")"):
                self.take()
                return args
            self.expect(",")

    def suffixes(self, value: str | None, path: list[str]) -> str:
        """``.name``, ``[key]`` and ``.method(args)`` after a value; ``path`` names an execution/task base."""
        while True:
            if self.at("."):
                self.take()
                tok = self.take()
                if tok.kind not in ("name", "op") or not re.match(r"[A-Za-z_$]", tok.text or " "):
                    raise ExpressionError("expected a property name after '.'")
                if self.at("("):
                    self.take()
                    args = self.arguments()
                    value = self.method(value, path, tok.text, args)
                    path = []
                elif path:
                    value = self.fact(path[0], tok.text, None)
                    path = []
                else:
                    assert value is not None
                    value = f"_juel_item({value}, {tok.text!r})"
            elif self.at("["):
                self.take()
                key = self.ternary()
                self.expect("]")
                if path:
                    raise ExpressionError(f"'{path[0]}[...]' is not supported")
                value = f"_juel_item({value}, {key})"
            else:
                break
        if path:
            raise ExpressionError(f"'{path[0]}' alone is not a value; use {path[0]}.getVariable('name')")
        assert value is not None
        return value

    def fact(self, base: str, name: str, args: list[str] | None) -> str:
        """A property or method of ``execution`` / ``task``."""
        call = args is not None
        args = args or []
        one = len(args) == 1
        if name in ("getVariable", "getVariableLocal") and one:
            return f"_juel_vars.get({args[0]})"
        if name in ("hasVariable", "hasVariableLocal") and one:
            return f"({args[0]} in _juel_vars)"
        if name in ("getVariables", "getVariablesLocal") and not args:
            return "_juel_dict(_juel_vars)"
        facts = {"processBusinessKey": "business_key", "businessKey": "business_key",
                 "processInstanceId": "instance_id", "currentActivityId": "activity_id",
                 "activityId": "activity_id", "taskDefinitionKey": "activity_id", "id": "instance_id",
                 "processDefinitionId": "process_key", "eventName": "event_name"}
        key = name[3].lower() + name[4:] if call and name.startswith("get") and len(name) > 3 else name
        if (call and not args and name.startswith("get") or not call) and key in facts:
            return f"_juel_facts.get({facts[key]!r})"
        what = f"{base}.{name}({', '.join('...' for _ in args)})" if call else f"{base}.{name}"
        raise ExpressionError(f"'{what}' is not supported on '{base}'")

    def method(self, value: str | None, path: list[str], name: str, args: list[str]) -> str:
        if path:
            return self.fact(path[0], name, args)
        if value is None:
            raise ExpressionError(f"method '{name}' has no object")
        build = _METHODS.get((name, len(args)))
        if build is None:
            raise ExpressionError(
                f"method '{name}()' is not supported (a bean or Java method call); Baton translates the "
                "String, List and Map methods common in diagrams and execution.getVariable(...)")
        return build(value, args)

    def primary(self) -> str:
        tok = self.take()
        if tok.kind == "num":
            return tok.text if re.fullmatch(r"\d+", tok.text) is None else str(int(tok.text))
        if tok.kind == "str":
            return repr(_unescape(tok.text))
        if tok.kind == "name":
            if tok.text in _CONSTANTS:
                return _CONSTANTS[tok.text]
            if "$" in tok.text or tok.text.startswith("_") or keyword.iskeyword(tok.text) \
                    or tok.text in ("True", "False", "None"):
                return f"_juel_vars[{tok.text!r}]"
            return tok.text
        if tok.kind == "op" and tok.text == "(":
            inner = self.ternary()
            self.expect(")")
            return f"({inner})"
        if tok.kind == "op" and tok.text in ("[", "{"):
            raise ExpressionError("collection literals are not supported in JUEL")
        self._reject_syntax(tok)
        if tok.kind == "end":
            raise ExpressionError("the expression ends too early")
        raise ExpressionError(f"unexpected {tok.text!r}")


_Build = Callable[[str, list[str]], str]
_METHODS: dict[tuple[str, int], _Build] = {
    ("startsWith", 1): lambda v, a: f"_juel_str({v}).startswith(_juel_str({a[0]}))",
    ("endsWith", 1): lambda v, a: f"_juel_str({v}).endswith(_juel_str({a[0]}))",
    ("contains", 1): lambda v, a: f"({a[0]} in {v})",
    ("containsKey", 1): lambda v, a: f"({a[0]} in {v})",
    ("containsValue", 1): lambda v, a: f"({a[0]} in {v}.values())",
    ("isEmpty", 0): lambda v, a: f"(_juel_len({v}) == 0)",
    ("size", 0): lambda v, a: f"_juel_len({v})",
    ("length", 0): lambda v, a: f"_juel_len({v})",
    ("toUpperCase", 0): lambda v, a: f"{v}.upper()",
    ("toLowerCase", 0): lambda v, a: f"{v}.lower()",
    ("trim", 0): lambda v, a: f"{v}.strip()",
    ("concat", 1): lambda v, a: f"({v} + _juel_str({a[0]}))",
    ("toString", 0): lambda v, a: f"_juel_str({v})",
    ("equals", 1): lambda v, a: f"({v} == {a[0]})",
    ("equalsIgnoreCase", 1): lambda v, a: f"(_juel_str({v}).lower() == _juel_str({a[0]}).lower())",
    ("get", 1): lambda v, a: f"_juel_item({v}, {a[0]})",
    ("indexOf", 1): lambda v, a: f"_juel_index({v}, {a[0]})",
    ("substring", 1): lambda v, a: f"{v}[{a[0]}:]",
    ("substring", 2): lambda v, a: f"{v}[{a[0]}:{a[1]}]",
    ("matches", 1): lambda v, a: f"_juel_matches({v}, {a[0]})",
    ("keySet", 0): lambda v, a: f"_juel_list({v})",
    ("values", 0): lambda v, a: f"_juel_list({v}.values())",
}


def translate_inner(body: str) -> str:
    """The Python form of one expression body (what is between ``${`` and ``}``)."""
    tokens, end = _tokens(body + "}", 0)
    if end != len(body) + 1:
        raise ExpressionError(f"unexpected '}}' at position {end}")
    return _Parser(tokens).parse()


def translate(text: str) -> str:
    """Python source for a JUEL text: one ``${...}`` keeps its type, composite text becomes a string."""
    parts: list[str] = []
    literal, pos = "", 0
    stripped = text.strip()
    while pos < len(text):
        if text.startswith("\\${", pos) or text.startswith("\\#{", pos):
            literal += text[pos + 1:pos + 3]
            pos += 3
        elif text.startswith("${", pos) or text.startswith("#{", pos):
            tokens, end = _tokens(text, pos + 2)
            expr = _Parser(tokens).parse()
            if text[pos:end] == stripped:
                return expr
            if literal:
                parts.append(repr(literal))
                literal = ""
            parts.append(f"_juel_str({expr})")
            pos = end
        else:
            literal += text[pos]
            pos += 1
    if literal:
        parts.append(repr(literal))
    return " + ".join(parts) if parts else "''"
