"""FEEL (Camunda 8 / Zeebe's ``= ...`` expressions) translated to Python for the restricted engine.

The common subset of FEEL that Zeebe diagrams use: literals (numbers, ``"strings"``, ``true``, ``false``,
``null``), names and ``a.b`` paths, ``+ - * / **``, comparisons (``=`` is equality, ``!=``, ``< <= > >=``),
``and`` / ``or`` / ``not(x)``, ``if c then a else b``, ``x in [1, 2]``, ``x between a and b``, lists
``[...]``, contexts ``{a: 1}``, ``list[1]`` (1-based) and the built-in functions ``string length()``,
``upper case()``, ``lower case()``, ``contains()``, ``starts with()``, ``ends with()``, ``substring()``,
``count()``, ``sum()``, ``min()``, ``max()``, ``abs()``, ``list contains()``, ``is defined()``,
``string()``, ``number()``, ``now()``, ``today()``.

FEEL's semantics are kept by the ``_feel_*`` helpers of ``engine/expression_helpers.py``: a missing variable
is ``null``; most operations on ``null`` or on values of different kinds give ``null``; ``and`` / ``or``
are three-valued; ``+`` concatenates strings.  Anything else (filters, ``for``/``some``/``every``, ranges,
user functions, temporal literals) raises :class:`ExpressionError` naming what is not supported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .errors import ExpressionError
from .expression_helpers import FEEL_FUNCTIONS

__all__ = ["translate"]

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d+|\d+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_?][A-Za-z0-9_?]*)
  | (?P<op>\*\*|<=|>=|!=|\.\.|[-+*/=<>()\[\]{},.:])
""", re.VERBOSE)
_UNSUPPORTED_WORDS = {"for": "'for' loops", "some": "'some' quantifiers", "every": "'every' quantifiers",
                      "function": "function definitions", "instance": "'instance of'"}
_MULTI_WORD = sorted((name.split() for name in [*FEEL_FUNCTIONS, "is defined"] if " " in name),
                     key=len, reverse=True)
_RELATIONS = {"<", ">", "<=", ">="}


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} at position {pos + 1}")
        if match.lastgroup != "ws":
            out.append(_Tok(match.lastgroup or "", match.group()))
        pos = match.end()
    out.append(_Tok("end", ""))
    return out


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks, self.i = tokens, 0

    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind in ("op", "name") and tok.text in texts

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if not self.at(text):
            tok = self.peek()
            raise ExpressionError(f"expected {text!r} but found {tok.text!r}" if tok.kind != "end"
                                  else f"expected {text!r} but the expression ends")
        self.i += 1

    def parse(self) -> str:
        if self.peek().kind == "end":
            raise ExpressionError("the expression is empty")
        result = self.expression()
        if self.peek().kind != "end":
            raise ExpressionError(f"unexpected {self.peek().text!r}")
        return result

    def expression(self) -> str:
        if self.at("if"):
            self.take()
            cond = self.expression()
            self.expect("then")
            yes = self.expression()
            self.expect("else")
            no = self.expression()
            return f"({yes} if {cond} is True else {no})"
        return self.disjunction()

    def disjunction(self, word: str = "or") -> str:
        """``a or b or c`` (then, one level down, ``a and b``): three-valued, all operands evaluated."""
        inner = (lambda: self.disjunction("and")) if word == "or" else self.comparison
        parts = [inner()]
        while self.at(word):
            self.take()
            parts.append(inner())
        return parts[0] if len(parts) == 1 else f"_feel_{word}({', '.join(parts)})"

    def comparison(self) -> str:
        left = self.additive()
        if self.at("="):
            self.take()
            return f"_feel_eq({left}, {self.additive()})"
        if self.at("!="):
            self.take()
            return f"_feel_ne({left}, {self.additive()})"
        if self.peek().kind == "op" and self.peek().text in _RELATIONS:
            op = self.take().text
            return f"_feel_cmp({op!r}, {left}, {self.additive()})"
        if self.at("between"):
            self.take()
            low = self.additive()
            self.expect("and")
            return f"_feel_between({left}, {low}, {self.additive()})"
        if self.at("in"):
            self.take()
            if self.at("("):
                raise ExpressionError("ranges and unary tests after 'in' are not supported; use a list [a, b]")
            if self.peek().kind == "op" and self.peek().text in _RELATIONS:
                raise ExpressionError("unary tests after 'in' (like 'x in < 5') are not supported; write x < 5")
            return f"_feel_in({left}, {self.additive()})"
        return left

    _ARITHMETIC: tuple[dict[str, str], ...] = ({"+": "_feel_add", "-": "_feel_sub"},
                                                {"*": "_feel_mul", "/": "_feel_div"}, {"**": "_feel_pow"})

    def additive(self, level: int = 0) -> str:
        """``+ -``, then ``* /``, then ``**`` (each left-associative)."""
        if level == len(self._ARITHMETIC):
            return self.unary()
        helpers = self._ARITHMETIC[level]
        left = self.additive(level + 1)
        while self.at(*helpers):
            helper = helpers[self.take().text]
            left = f"{helper}({left}, {self.additive(level + 1)})"
        return left

    def unary(self) -> str:
        if self.at("-"):
            self.take()
            return f"_feel_neg({self.unary()})"
        return self.postfix()

    def postfix(self) -> str:
        value = self.primary()
        while True:
            if self.at("."):
                self.take()
                tok = self.take()
                if tok.kind != "name":
                    raise ExpressionError("expected a name after '.'")
                value = f"_feel_path({value}, {tok.text!r})"
            elif self.at("["):
                self.take()
                start = self.i
                index = self.expression()
                if any(t.kind == "name" and t.text == "item" or t.text in _RELATIONS | {"="}
                       for t in self.toks[start:self.i]):
                    raise ExpressionError("filter expressions (list[condition]) are not supported")
                self.expect("]")
                value = f"_feel_index({value}, {index})"
            else:
                return value

    def primary(self) -> str:
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            return tok.text
        if tok.kind == "str":
            self.take()
            try:
                return repr(json.loads(tok.text))
            except ValueError:
                raise ExpressionError(f"bad escape in string {tok.text}") from None
        if self.at("("):
            self.take()
            inner = self.expression()
            self.expect(")")
            return f"({inner})"
        if self.at("["):
            self.take()
            return f"[{', '.join(self.items(']'))}]"
        if self.at("{"):
            return self.context()
        if tok.kind == "name":
            return self.name()
        if tok.kind == "end":
            raise ExpressionError("the expression ends too early")
        raise ExpressionError(f"unexpected {tok.text!r}")

    def items(self, closing: str) -> list[str]:
        out: list[str] = []
        if self.at(closing):
            self.take()
            return out
        while True:
            out.append(self.expression())
            if self.at(closing):
                self.take()
                return out
            self.expect(",")

    def context(self) -> str:
        self.expect("{")
        entries: list[str] = []
        while not self.at("}"):
            tok = self.take()
            if tok.kind == "name":
                key = tok.text
            elif tok.kind == "str":
                key = json.loads(tok.text)
            else:
                raise ExpressionError("a context entry needs a name")
            self.expect(":")
            entries.append(f"{key!r}: {self.expression()}")
            if not self.at("}"):
                self.expect(",")
        self.take()
        return "{" + ", ".join(entries) + "}"

    def name(self) -> str:
        for words in _MULTI_WORD:
            n = len(words)
            if [t.text for t in self.toks[self.i:self.i + n]] == words and self.peek(n).text == "(":
                self.i += n
                return self.call(" ".join(words))
        tok = self.take()
        word = tok.text
        if word in ("true", "false", "null"):
            return {"true": "True", "false": "False", "null": "None"}[word]
        if word in _UNSUPPORTED_WORDS:
            raise ExpressionError(f"{_UNSUPPORTED_WORDS[word]} are not supported")
        if self.at("("):
            if word == "not":
                self.take()
                inner = self.expression()
                self.expect(")")
                return f"_feel_not({inner})"
            return self.call(word)
        return f"_juel_vars.get({word!r})"

    def call(self, name: str) -> str:
        self.expect("(")
        if name == "is defined":
            tok = self.take()
            if tok.kind != "name" or not self.at(")"):
                raise ExpressionError("is defined() takes a variable name")
            self.take()
            return f"({tok.text!r} in _juel_vars)"
        if name not in FEEL_FUNCTIONS:
            raise ExpressionError(f"function '{name}()' is not supported")
        args = self.items(")")
        return f"_feel_call({', '.join([repr(name), *args])})"


def translate(text: str) -> str:
    """Python source for a FEEL expression (the text after the leading ``=``)."""
    return _Parser(_tokens(text)).parse()
