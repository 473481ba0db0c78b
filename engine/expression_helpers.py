"""Run-time helpers of translated JUEL and FEEL expressions (``engine/juel.py``, ``engine/feel.py``).

The restricted environment (``engine/scripting.py``) provides these functions to every expression and script
under their ``_juel_`` / ``_feel_`` names (names starting with ``_`` are otherwise refused), next to two
values it sets for each evaluation:

- ``_juel_vars``: the variables the expression sees (``execution.getVariable('x')`` reads it);
- ``_juel_facts``: facts about the instance: ``business_key``, ``instance_id``, ``process_key``,
  ``activity_id`` (empty when an expression is evaluated outside an instance).

They implement the coercions of each language exactly where plain Python differs: JUEL treats ``null`` as 0
in arithmetic and as false in logic, compares ``'1' == 1`` as numbers and never concatenates with ``+``; FEEL
gives ``null`` for most operations on ``null`` or mixed types, concatenates strings with ``+``.
Every helper is a pure function of its arguments.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable, Mapping
from typing import Any

_Number = (int, float, decimal.Decimal)


class JuelCoercionError(ValueError):
    """A value cannot be coerced the way JUEL requires."""


# ---- JUEL -----------------------------------------------------------------------------------------------------

def _juel_num(value: Any) -> Any:
    """JUEL's coercion to a number: null and '' are 0, numeric strings are parsed, booleans are refused."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise JuelCoercionError(f"cannot use the boolean {str(value).lower()} as a number")
    if isinstance(value, _Number):
        return value
    if isinstance(value, str):
        try:
            return int(value) if re.fullmatch(r"\s*[-+]?\d+\s*", value) else float(value)
        except ValueError:
            raise JuelCoercionError(f"cannot use the string {value!r} as a number") from None
    raise JuelCoercionError(f"cannot use a {type(value).__name__} as a number")


def _juel_bool(value: Any) -> bool:
    """JUEL's coercion to a boolean: null and '' are false, a string is true only when it is 'true'."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    raise JuelCoercionError(f"cannot use a {type(value).__name__} ({value!r}) as a boolean")


def _juel_str(value: Any) -> str:
    """JUEL's coercion to a string (composite text): null is '', booleans are 'true' / 'false'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if left is None and right is None:
            return 0
        return op(_juel_num(left), _juel_num(right))
    return apply


_juel_add = _arith(lambda a, b: a + b)
_juel_sub = _arith(lambda a, b: a - b)
_juel_mul = _arith(lambda a, b: a * b)
_juel_mod = _arith(lambda a, b: a % b)
_juel_div = _arith(lambda a, b: a / b)  # JUEL's '/' and 'div' always divide as decimals


def _juel_neg(value: Any) -> Any:
    return -_juel_num(value)


def _coerced_pair(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, bool) or isinstance(right, bool):
        if isinstance(left, str):
            return left.lower() == "true", right
        if isinstance(right, str):
            return left, right.lower() == "true"
        return left, right
    if isinstance(left, _Number) and isinstance(right, str):
        return left, _juel_num(right)
    if isinstance(right, _Number) and isinstance(left, str):
        return _juel_num(left), right
    return left, right


def _juel_eq(left: Any, right: Any) -> bool:
    """``==`` / ``eq``: null equals only null; a number and a numeric string compare as numbers."""
    if left is None or right is None:
        return left is right
    left, right = _coerced_pair(left, right)
    return bool(left == right)


def _juel_ne(left: Any, right: Any) -> bool:
    return not _juel_eq(left, right)


_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def _juel_cmp(op: str, left: Any, right: Any) -> bool:
    """``< > <= >=`` (and ``lt gt le ge``): false when either side is null."""
    if left is None or right is None:
        return False
    left, right = _coerced_pair(left, right)
    return bool(_RELATIONS[op](left, right))


def _juel_empty(value: Any) -> bool:
    """``empty x``: null, '', and empty lists and maps are empty."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


def _juel_item(base: Any, key: Any) -> Any:
    """``a.b`` / ``a['b']`` / ``a[0]``: a key lookup or an index; null when the base or the entry is missing."""
    if base is None or key is None:
        return None
    if isinstance(base, Mapping):
        return base.get(key if isinstance(key, str) else str(key) if key not in base else key)
    if isinstance(base, (list, tuple, str)):
        index = _juel_num(key)
        if not isinstance(index, int):
            raise JuelCoercionError(f"a list index must be a whole number, not {key!r}")
        return base[index] if 0 <= index < len(base) else None
    raise JuelCoercionError(f"cannot read property {key!r} of a {type(base).__name__}")


def _juel_index(base: Any, item: Any) -> int:
    """``indexOf``: the position of ``item`` in a string or list, -1 when absent."""
    if isinstance(base, str):
        return base.find(_juel_str(item))
    return list(base).index(item) if item in base else -1


def _juel_matches(text: Any, pattern: Any) -> bool:
    """``String.matches``: the whole string matches the regular expression."""
    return re.fullmatch(str(pattern), _juel_str(text)) is not None


# builtins under names a variable cannot shadow (a process may well have a variable called 'list')
_juel_len, _juel_list, _juel_dict = len, list, dict


def _juel_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---- FEEL -----------------------------------------------------------------------------------------------------

def _feel_is_number(value: Any) -> bool:
    return isinstance(value, _Number) and not isinstance(value, bool)


def _feel_add(left: Any, right: Any) -> Any:
    """``+``: numbers add, strings concatenate, anything else (null included) gives null."""
    if _feel_is_number(left) and _feel_is_number(right):
        return left + right
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    if isinstance(left, (dt.date, dt.timedelta)) and isinstance(right, dt.timedelta):
        return left + right
    return None


def _feel_num_op(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if not (_feel_is_number(left) and _feel_is_number(right)):
            return None
        try:
            return op(left, right)
        except ZeroDivisionError:
            return None
    return apply


_feel_sub = _feel_num_op(lambda a, b: a - b)
_feel_mul = _feel_num_op(lambda a, b: a * b)
_feel_div = _feel_num_op(lambda a, b: a / b)


def _feel_pow(left: Any, right: Any) -> Any:
    if not (_feel_is_number(left) and _feel_is_number(right)) or abs(right) > 1000:
        return None
    return left ** right


def _feel_neg(value: Any) -> Any:
    return -value if _feel_is_number(value) else None


def _feel_eq(left: Any, right: Any) -> Any:
    """``=``: null equals only null; values of different kinds are not comparable (null)."""
    if left is None or right is None:
        return left is right
    if _feel_is_number(left) and _feel_is_number(right):
        return left == right
    if type(left) is not type(right) and not (isinstance(left, dict) and isinstance(right, dict)):
        return None
    return left == right


def _feel_ne(left: Any, right: Any) -> Any:
    same = _feel_eq(left, right)
    return None if same is None else not same


def _feel_cmp(op: str, left: Any, right: Any) -> Any:
    """``< <= > >=``: null when either side is null or the kinds differ."""
    if left is None or right is None:
        return None
    if not (_feel_is_number(left) and _feel_is_number(right)) and type(left) is not type(right):
        return None
    try:
        return _RELATIONS[op](left, right)
    except TypeError:
        return None


def _feel_and(*values: Any) -> Any:
    """Three-valued ``and``: false wins, then null."""
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def _feel_or(*values: Any) -> Any:
    """Three-valued ``or``: true wins, then null."""
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def _feel_not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


def _feel_path(base: Any, key: str) -> Any:
    """``a.b``: the entry of a context; on a list, the entry of each element; null otherwise."""
    if isinstance(base, Mapping):
        return base.get(key)
    if isinstance(base, list):
        return [_feel_path(item, key) for item in base]
    return None


def _feel_index(base: Any, index: Any) -> Any:
    """``list[i]``: 1-based, negative from the end, null when out of range."""
    if not isinstance(base, list) or not _feel_is_number(index) or int(index) == 0:
        return None
    position = int(index) - 1 if index > 0 else len(base) + int(index)
    return base[position] if 0 <= position < len(base) else None


def _feel_in(value: Any, candidates: Any) -> Any:
    """``x in [a, b]``: true when ``x`` equals one of them (``x in y`` with a single value: equality)."""
    if not isinstance(candidates, list):
        return _feel_eq(value, candidates)
    return any(_feel_eq(value, c) is True for c in candidates)


def _feel_between(value: Any, low: Any, high: Any) -> Any:
    return _feel_and(_feel_cmp(">=", value, low), _feel_cmp("<=", value, high))


def _feel_string(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _feel_number(value: Any) -> Any:
    if _feel_is_number(value):
        return value
    if not isinstance(value, str):
        return None
    try:
        return int(value) if re.fullmatch(r"\s*[-+]?\d+\s*", value) else float(value)
    except ValueError:
        return None


def _strings(func: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        return func(*args) if all(isinstance(a, str) for a in args) else None
    return apply


def _lists(func: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        if not values and func is not len:
            return None
        if func is not len and any(not _feel_is_number(v) for v in values) and func is sum:
            return None
        return func(values)
    return apply


FEEL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "string length": _strings(len),
    "upper case": _strings(str.upper),
    "lower case": _strings(str.lower),
    "contains": _strings(lambda s, part: part in s),
    "starts with": _strings(str.startswith),
    "ends with": _strings(str.endswith),
    "substring": lambda s, start, length=None: None if not isinstance(s, str) else (
        s[int(start) - 1:] if length is None else s[int(start) - 1:int(start) - 1 + int(length)]),
    "count": _lists(len),
    "sum": _lists(sum),
    "min": _lists(min),
    "max": _lists(max),
    "string": _feel_string,
    "number": _feel_number,
    "abs": lambda n: abs(n) if _feel_is_number(n) else None,
    "list contains": lambda items, item: _feel_in(item, items) if isinstance(items, list) else None,
    "now": lambda: dt.datetime.now(dt.UTC),
    "today": lambda: dt.datetime.now(dt.UTC).date(),
}


def _feel_call(name: str, *args: Any) -> Any:
    return FEEL_FUNCTIONS[name](*args)


HELPERS: dict[str, Any] = {name: value for name, value in globals().items()
                           if name.startswith(("_juel_", "_feel_")) and callable(value)}
NAMES = frozenset(HELPERS) | {"_juel_vars", "_juel_facts"}
