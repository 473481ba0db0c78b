"""Restricted script engine for script tasks, conditions and DMN expressions.

Security model
--------------
Every script and expression is parsed with :mod:`ast` and compiled with RestrictedPython
(``compile_restricted_exec`` / ``compile_restricted_eval``) under a slightly stricter policy:
names and attributes starting with ``_`` are rejected at compile time (except reading the pure helper functions
of translated JUEL / FEEL, ``_juel_*`` / ``_feel_*`` from ``engine/expression_helpers.py``, and ``_juel_vars`` /
``_juel_facts``: the variables and the instance's business key, id, process key and element), and so are class
definitions and bare ``except:``; ``d[k] += v`` is supported and ``a ** b`` goes through a guard
that refuses results of more than a few million bits.  At run time the code sees a curated
``__builtins__`` (``open``, ``eval``, ``exec``, ``compile``, ``globals``, ``vars``, ``type``... raise
:class:`ForbiddenError`), guarded attribute access (no ``_`` names, no frame/generator internals,
no ``mro``, no ``str.format``), writes into dicts and lists only, and a guarded ``__import__`` that
hands out *views* of allowlisted modules: copies of their public attributes without nested
modules (``json.codecs`` is not there) and without process-global or unsafe functions
(``time.sleep``, ``random.seed``, ``operator.attrgetter``, ``string.Formatter``...).

Time limit
----------
One daemon watchdog thread per process (``engine.watchdog``) keeps ``thread id -> deadline`` entries.  Running code
registers its deadline (a dict insert under a lock; no thread is created per call).  When a
deadline passes, the watchdog removes the entry and injects ``_Timeout`` (a ``BaseException``
that scripts cannot name or catch: ``BaseException`` is not a builtin, ``mro`` is blocked and bare
``except:`` does not compile) into that thread with ``PyThreadState_SetAsyncExc``, at most
once per registration.  Unregistering happens inside the ``try`` that catches ``_Timeout`` and
then clears any injection still pending, so the exception cannot surface after the call.
Known limit: the exception is delivered between bytecodes only, so one long C-level operation
(``sum(range(10**15))``, catastrophic regex backtracking, ``'x' * 10**10``,
``list(itertools.count())``) runs to its end (or forever) first; ``**`` is guarded for that reason.

Data semantics (as SpiffWorkflow's ``TaskDataEnvironment``, minus its leaks): code runs in a fresh
dict holding injected globals, the external context and the task data; afterwards new or rebound
variables are checked for storability (JSON types, datetime/date/timedelta, Decimal, UUID) and
copied back, ``del``-eted ones are removed, and functions, modules and injected names are never
stored.  Values mutated in place (``items.append(...)``) are not re-checked.  Failures raise
:class:`ScriptFailure` from the environment and ``WorkflowTaskException`` from the engine.
"""

from __future__ import annotations

import ast
import builtins
import datetime
import decimal
import importlib
import logging
import math
import operator
import re
import threading
import types
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from time import monotonic
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safe_builtins
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.errors import ConfigurationError, ScriptError

from .expression_helpers import HELPERS as _EXPRESSION_HELPERS
from .expression_helpers import NAMES as _EXPRESSION_NAMES
from .loop_variables import loop_variables
from .watchdog import WATCHDOG as _WATCHDOG
from .watchdog import Deadline as _Deadline
from .watchdog import ScriptTimeout as _Timeout

__all__ = ["DEFAULT_ALLOWED_MODULES", "ForbiddenError", "RestrictedScriptEngine", "ScriptFailure",
           "compile_check", "describe_error"]

logger = logging.getLogger(__name__)

DEFAULT_ALLOWED_MODULES: frozenset[str] = frozenset({
    "calendar", "collections", "datetime", "decimal", "fractions", "functools", "itertools", "json",
    "math", "operator", "random", "re", "statistics", "string", "time", "uuid",
})
_NEVER_ALLOWED = frozenset({
    "asyncio", "builtins", "code", "codeop", "ctypes", "gc", "importlib", "inspect", "io", "marshal",
    "multiprocessing", "os", "pathlib", "pickle", "posix", "pty", "runpy", "shutil", "signal", "socket",
    "subprocess", "sys", "tempfile", "threading", "types", "_thread",
})
_MODULE_EXCLUDES: dict[str, set[str]] = {  # shared/process-global state, blocking calls, getattr-likes
    "time": {"sleep", "tzset", "clock_settime", "clock_settime_ns"}, "random": {"seed", "setstate"},
    "decimal": {"getcontext", "setcontext", "DefaultContext", "BasicContext", "ExtendedContext"},
    "string": {"Formatter"}, "operator": {"attrgetter", "methodcaller"}, "uuid": {"getnode", "uuid1"},
    "re": {"template"}, "calendar": {"c", "setfirstweekday", "different_locale", "LocaleTextCalendar",
                                     "LocaleHTMLCalendar", "main", "prcal", "prmonth", "prweek"},
}
SCRIPT_FILENAME = "<baton-script>"
EXPRESSION_FILENAME = "<baton-expression>"
_MAX_POW_BITS = 4_000_000
_MAX_DEPTH = 100
_MISSING: Any = object()
_NO_ATTR: Any = object()


class ForbiddenError(Exception):
    """The script used something the sandbox does not allow."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


class ScriptFailure(ScriptError):
    """A script or expression failed; carries the line, the source line and the error type."""

    def __init__(self, message: str, *, reason: str, line: int | None, error_line: str,
                 error_type: str) -> None:
        super().__init__(message, line=line, reason=reason, error_type=error_type)
        self.line_number, self.error_line, self.error_type = line, error_line, error_type


_BAD_ATTRS = INSPECT_ATTRIBUTES | {"mro"}


def _guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in _BAD_ATTRS:
        raise ForbiddenError(f"access to attribute '{name}' is not allowed")
    if name in ("format", "format_map") and (isinstance(obj, str) or obj is str):
        raise ForbiddenError("str.format() is not allowed; use an f-string")
    return getattr(obj, name) if default is _MISSING else getattr(obj, name, default)


def _guarded_hasattr(obj: Any, name: str) -> bool:
    return _guarded_getattr(obj, name, _NO_ATTR) is not _NO_ATTR


def _guarded_write(obj: Any) -> Any:
    if isinstance(obj, (dict, list)):
        return obj
    kind = "module" if isinstance(obj, types.ModuleType) else type(obj).__name__
    raise ForbiddenError(f"cannot modify a {kind} object; only dicts and lists can be changed")


def _guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is None and isinstance(exp, int) and abs(exp) > 64 and (
            isinstance(base, int) or type(base).__name__ == "Fraction"):
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits > 1 and (bits - 1) * abs(exp) > _MAX_POW_BITS:
            raise ForbiddenError(f"the result of ** would be too large (exponent {exp})")
    return pow(base, exp) if mod is None else pow(base, exp, mod)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": _guarded_pow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand,
    "@=": operator.imatmul,
}


def _inplace_item(target: Any, key: Any, op: str, value: Any) -> None:
    target[key] = _INPLACE[op](target[key], value)


def _iter(iterable: Any) -> Iterator[Any]:  # no iter(callable, sentinel): it can loop forever in C
    return iter(iterable)


_iter.__name__ = _iter.__qualname__ = "iter"


class _Unavailable:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ForbiddenError(f"'{self.name}' is not available in scripts")


_BUILTINS: dict[str, Any] = {k: v for k, v in safe_builtins.items() if k not in {
    "__build_class__", "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}}
_BUILTINS.update({name: getattr(builtins, name) for name in (
    "all", "any", "ascii", "bin", "dict", "enumerate", "filter", "format", "frozenset", "list", "map",
    "max", "min", "next", "reversed", "set", "sorted", "sum", "tuple", "zip", "NotImplemented")})
_BUILTINS.update({name: _Unavailable(name) for name in (
    "open", "eval", "exec", "compile", "globals", "locals", "vars", "dir", "input", "help", "exit", "quit",
    "type", "object", "super", "memoryview", "setattr", "delattr", "classmethod", "staticmethod",
    "property", "aiter", "anext")})
_BUILTINS.update(getattr=_guarded_getattr, hasattr=_guarded_hasattr, pow=_guarded_pow, iter=_iter)
_GUARDS: dict[str, Any] = {
    "_getattr_": _guarded_getattr, "_getitem_": operator.getitem, "_getiter_": iter,
    "_write_": _guarded_write, "_inplacevar_": lambda op, x, y: _INPLACE[op](x, y),
    "_inplaceitem_": _inplace_item, "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence, "_apply_": lambda f, *a, **kw: f(*a, **kw),
    "_print_": PrintCollector, "_pow_": _guarded_pow, **_EXPRESSION_HELPERS,
}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus ``d[k] op= v`` and guarded ``**``; no classes, no bare except."""

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        if not isinstance(node.target, ast.Subscript) or isinstance(node.target.slice, ast.Slice):
            return super().visit_AugAssign(node)
        node = self.node_contents_visit(node)  # the target becomes _write_(obj)[key]
        target = node.target
        assert isinstance(target, ast.Subscript)
        new_node = ast.Expr(ast.Call(func=ast.Name("_inplaceitem_", ast.Load()), keywords=[], args=[
            target.value, target.slice, ast.Constant(IOPERATOR_TO_STR[type(node.op)]), node.value]))
        copy_locations(new_node, node)
        return new_node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        if not isinstance(node.op, ast.Pow):
            return node
        call = ast.Call(func=ast.Name("_pow_", ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        """Names starting with ``_`` are refused, except reading the helpers of translated JUEL/FEEL."""
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and name in _EXPRESSION_NAMES:
            return
        super().check_name(node, name, allow_magic_methods)

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed in scripts")
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> Any:
        if node.type is None:
            self.error(node, "a bare 'except:' is not allowed; write 'except Exception:'")
        return super().visit_ExceptHandler(node)


_COMPILE_LOCK = threading.Lock()
_ERROR_LINE = re.compile(r"^Line (\d+): ")


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> types.CodeType:
    """Compile restricted code, cached by (source, mode); raises SyntaxError or ForbiddenError."""
    filename = SCRIPT_FILENAME if mode == "exec" else EXPRESSION_FILENAME
    with _COMPILE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # collect SyntaxWarnings instead of printing or raising them
        tree: Any = ast.parse(source if mode == "exec" else source.strip(), filename, mode)
        compiler = compile_restricted_exec if mode == "exec" else compile_restricted_eval
        result = compiler(tree, filename, policy=_Policy)
    for warning in caught:
        logger.debug("script compile warning: %s", warning.message)
    if result.errors:
        match = _ERROR_LINE.match(result.errors[0])
        raise ForbiddenError(_ERROR_LINE.sub("", result.errors[0]), int(match.group(1)) if match else None)
    assert result.code is not None
    return result.code


def compile_check(source: str, mode: str) -> str | None:
    """Deploy-time check: None if ``source`` compiles in ``mode`` ('exec'/'eval'), else the problem."""
    try:
        _compile(source, mode)
    except (SyntaxError, ForbiddenError) as exc:
        detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        return f"{type(exc).__name__}{f' on line {exc.lineno}' if exc.lineno else ''}: {detail}"
    return None



_SCALARS = (str, int, type(None), datetime.date, datetime.timedelta, decimal.Decimal, uuid.UUID)
_HINT = "use str, int, float, bool, None, list, dict, datetime, date, timedelta, Decimal or UUID values"


def _unstorable(value: Any, depth: int = 0) -> tuple[str, list[Any]] | None:
    """``(what is wrong, path)`` if ``value`` cannot be stored, else None."""
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (f"a non-finite float ({value!r}), which cannot be stored",
                                                  [])
    if depth >= _MAX_DEPTH:
        return "data nested too deeply (or containing itself), which cannot be stored", []
    if isinstance(value, dict):
        bad_key = next((key for key in value if type(key) is not str), _MISSING)
        if bad_key is not _MISSING:
            return f"a dict with the key {bad_key!r}, which cannot be stored; use string keys", []
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, (set, frozenset)):
        return f"a {type(value).__name__}, which cannot be stored; use a list", []
    elif isinstance(value, (bytes, bytearray)):
        return "bytes, which cannot be stored; decode them to a str", []
    elif isinstance(value, (Iterator, range)):
        return f"a {type(value).__name__} object, which cannot be stored; use list(...)", []
    else:
        kind = "a module" if isinstance(value, types.ModuleType) else \
            "a function" if callable(value) else f"a {type(value).__name__} object"
        return f"{kind}, which cannot be stored; {_HINT}", []
    for key, item in items:
        found = _unstorable(item, depth + 1)
        if found is not None:
            found[1].append(key)
            return found
    return None


class _ModuleView(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"module '{self.__name__}' has no attribute '{name}' available to scripts")


def _module_view(name: str, allowed: frozenset[str]) -> types.ModuleType:
    module, view = importlib.import_module(name), _ModuleView(name)
    excluded = _MODULE_EXCLUDES.get(name, set())
    for attr, value in vars(module).items():
        if attr.startswith("_") or attr in excluded or type(value).__name__ == "PyCapsule":
            continue
        if isinstance(value, types.ModuleType):  # nested modules only when allowlisted themselves
            if f"{name}.{attr}" not in allowed:
                continue
            value = _module_view(f"{name}.{attr}", allowed)
        elif isinstance(value, (list, set, dict)):  # module-level containers are shared: freeze them
            value = tuple(value) if isinstance(value, list) else frozenset(value) \
                if isinstance(value, set) else types.MappingProxyType(dict(value))
        setattr(view, attr, value)
    return view


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Runs code with the task data as variables; raises :class:`ScriptFailure` on any failure."""

    def __init__(self, timeout: float | None, allowed_modules: Iterable[str],
                 globals: dict[str, Any] | None) -> None:
        super().__init__(dict(globals or {}))
        self.timeout = float(timeout or 0)
        allowed = frozenset(allowed_modules)
        for name in allowed:
            if name.partition(".")[0] in _NEVER_ALLOWED:
                raise ConfigurationError(f"module '{name}' can never be allowed in scripts")
        try:
            self._views = {name: _module_view(name, allowed) for name in sorted(allowed)}
        except ImportError as exc:
            raise ConfigurationError(f"allowed script module cannot be imported: {exc}") from exc
        self._guards = dict(_GUARDS, __builtins__=dict(_BUILTINS, __import__=self._import))

    def _import(self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                level: int = 0) -> types.ModuleType:
        top = name.partition(".")[0]
        if level or name not in self._views or top not in self._views:
            raise ForbiddenError(f"import of module '{name}' is not allowed; allowed modules: "
                                 f"{', '.join(self._views) or 'none'}")
        for attr in fromlist or ():
            if not hasattr(self._views[name], attr):
                raise ForbiddenError(f"cannot import '{attr}' from '{name}' in scripts")
        return self._views[name if fromlist else top]

    def _namespace(self, context: dict[str, Any], external: dict[str, Any] | None) -> dict[str, Any]:
        namespace = {**self.globals, **external, **context} if external else {**self.globals, **context}
        namespace.update(self._guards)
        # translated JUEL/FEEL read variables by name (getVariable('x')); read-only, so nothing bypasses write-back
        namespace["_juel_vars"] = types.MappingProxyType(context)
        namespace.setdefault("_juel_facts", {})
        return namespace

    def _run(self, code: types.CodeType, namespace: dict[str, Any], kind: str) -> Any:
        if not self.timeout:
            return eval(code, namespace)
        deadline = _Deadline(threading.get_ident(), monotonic() + self.timeout)
        done = False
        try:
            try:
                _WATCHDOG.arm(deadline)
                result = eval(code, namespace)
                done = True
            finally:
                _WATCHDOG.disarm(deadline)
        except _Timeout as exc:
            if not deadline.fired:  # injected for an outer call on this thread: let it stop that call
                raise
            if not done:  # (if the code had finished, a late injection is simply dropped)
                message = f"{kind} exceeded its time limit of {self.timeout:g} s"
                raise TimeoutError(message).with_traceback(exc.__traceback__) from None
        return result

    @staticmethod
    def _failure(exc: BaseException, source: str, kind: str) -> ScriptFailure:
        line = exc.lineno if isinstance(exc, (SyntaxError, ForbiddenError)) else None
        if not line:
            filename, tb = (SCRIPT_FILENAME if kind == "script" else EXPRESSION_FILENAME), exc.__traceback__
            while tb is not None:  # the innermost frame of the compiled code gives the line
                line = tb.tb_lineno if tb.tb_frame.f_code.co_filename == filename else line
                tb = tb.tb_next
        lines = source.splitlines()
        error_line = lines[line - 1] if line and 0 < line <= len(lines) else ""
        detail, error_type = (exc.msg if isinstance(exc, SyntaxError) else str(exc)), type(exc).__name__
        if kind == "expression":
            shown = source if len(source) <= 200 else source[:197] + "..."
            reason = f"{detail} in expression {shown!r}"
            message = f"{error_type} in expression {shown!r}: {detail}"
        else:
            where = f" on line {line}" if line else ""
            where += f" ({error_line.strip()!r})" if error_line.strip() else ""
            reason, message = detail, f"{error_type}{where}: {detail}"
        return ScriptFailure(message, reason=reason, line=line, error_line=error_line, error_type=error_type)

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        try:
            code = _compile(expression, "eval")
            return self._run(code, self._namespace(context, external_context), "expression")
        except (Exception, GeneratorExit, SystemExit) as exc:
            raise self._failure(exc, expression, "expression") from exc

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        namespace = self._namespace(context, external_context)
        try:
            self._run(_compile(script, "exec"), namespace, "script")
        except (Exception, GeneratorExit, SystemExit) as exc:
            raise self._failure(exc, script, "script") from exc
        self._write_back(namespace, context, external_context or {})
        return True

    def _write_back(self, namespace: dict[str, Any], data: dict[str, Any], external: dict[str, Any]) -> None:
        """Copy new/rebound storable variables into ``data``; drop deleted ones and functions/modules."""
        injected, changed = self.globals, {}
        removed = [name for name in data if name not in namespace]
        for name, value in namespace.items():
            if name[:1] == "_":  # guards, __builtins__, RestrictedPython temporaries
                continue
            old = data.get(name, _MISSING)
            if value is old or (name in injected and value is injected[name]) \
                    or (name in external and value is external[name]):
                continue
            if callable(value) or isinstance(value, types.ModuleType):
                if old is not _MISSING:
                    removed.append(name)
                continue
            found = _unstorable(value)
            if found is not None:
                what, path = found
                where = "".join(f"[{key!r}]" for key in reversed(path))
                at = f" (at {name}{where})" if 0 < len(path) < 10 else ""
                message = f"variable '{name}' holds {what}".replace(", which", f"{at}, which", 1)
                raise ScriptFailure(message, reason=message, line=None, error_line="",
                                    error_type="VariableError")
            changed[name] = value
        if "_print" in namespace:
            logger.debug("script output: %s", namespace["_print"]())
        data.update(changed)
        for name in removed:
            data.pop(name, None)


class RestrictedScriptEngine(PythonScriptEngine):
    """A SpiffWorkflow script engine that runs every script and expression in the sandbox."""

    environment: RestrictedEnvironment

    def __init__(self, timeout: float | None = 5.0, allowed_modules: Iterable[str] = DEFAULT_ALLOWED_MODULES,
                 globals: dict[str, Any] | None = None) -> None:
        super().__init__(environment=RestrictedEnvironment(timeout, allowed_modules, globals))

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, self.with_facts(task, external_context))
        except ScriptFailure as failure:
            raise self._task_error(task, failure) from failure.__cause__

    def execute(self, task: Any, script: str, external_context: dict[str, Any] | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, self.with_facts(task, external_context))
        except ScriptFailure as failure:
            raise self._task_error(task, failure) from failure.__cause__

    @staticmethod
    def with_facts(task: Any, external_context: dict[str, Any] | None) -> dict[str, Any]:
        """The external context plus ``_juel_facts``: instance id, business key, process key, activity id.

        The runtime puts ``baton_facts`` on the workflows it runs; a workflow without them has no instance facts.
        """
        workflow = getattr(task, "workflow", None)
        workflow = getattr(workflow, "top_workflow", None) or workflow
        facts = dict(getattr(workflow, "baton_facts", None) or {})
        facts["activity_id"] = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        loop = loop_variables(task) if task is not None and getattr(task, "parent", None) is not None else {}
        return {**loop, **(external_context or {}), "_juel_facts": facts}

    @staticmethod
    def _task_error(task: Any, failure: ScriptFailure) -> WorkflowTaskException:
        error = WorkflowTaskException(failure.message, task=task, exception=failure.__cause__,
                                      line_number=failure.line_number, error_line=failure.error_line)
        error.error_type, error.reason = failure.error_type, failure.reason
        return error


def describe_error(exc: BaseException) -> dict[str, Any]:
    """``{"reason", "line", "error_type"}`` of a script error (or any exception), for users."""
    line = getattr(exc, "line_number", None) or getattr(exc, "line", None)
    if not line and isinstance(exc, SyntaxError):
        line = exc.lineno
    reason = getattr(exc, "reason", None) or (str(exc.args[0]) if exc.args else type(exc).__name__)
    notes = [str(note).strip() for note in getattr(exc, "notes", None) or getattr(exc, "__notes__", [])]
    error_type = getattr(exc, "error_type", None)
    if not error_type or error_type == "unknown":
        error_type = type(exc).__name__
    reason = " ".join([str(reason), *filter(None, notes)])
    return {"reason": reason, "line": line or None, "error_type": error_type}
