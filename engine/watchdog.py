"""The time limit of scripts: one watchdog thread per process, no signals, no tracing.

A script registers a :class:`Deadline` for its thread (cheap: a dict entry under a lock, no thread per
call).  When a deadline passes, the watchdog injects :class:`ScriptTimeout` into that thread with
``PyThreadState_SetAsyncExc``; unregistering clears an injection still pending, so it can never land
after the script finished.  A single long operation in C code (a huge ``sum``, a catastrophic regular
expression) is only interrupted when it returns.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from time import monotonic


class ScriptTimeout(BaseException):
    """Injected into a thread whose deadline passed; never escapes ``RestrictedEnvironment._run``."""


_SET_ASYNC_EXC = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_CLEAR_ASYNC_EXC = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


class Deadline:
    __slots__ = ("ident", "at", "fired")

    def __init__(self, ident: int, at: float) -> None:
        self.ident, self.at, self.fired = ident, at, False


class _Watchdog:
    LINGER = 1.0  # keep polling this long after the last deadline before sleeping until notified

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._armed: dict[int, Deadline] = {}
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> bool:
        with self._lock:
            if deadline.ident in self._armed:  # nested call on the same thread: the outer deadline rules
                return False
            self._armed[deadline.ident] = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="baton-script-watchdog", daemon=True)
                self._thread.start()
            if deadline.at < self._wake_at:
                self._cond.notify()
            return True

    def disarm(self, deadline: Deadline) -> None:
        with self._lock:
            if self._armed.get(deadline.ident) is deadline:
                del self._armed[deadline.ident]
        if deadline.fired:  # the entry is gone, nothing new can be injected: drop a pending one
            _CLEAR_ASYNC_EXC(deadline.ident, None)

    def _loop(self) -> None:
        lingering = False
        with self._lock:
            while True:
                now, wake = monotonic(), math.inf
                for ident, deadline in list(self._armed.items()):
                    if deadline.at <= now:
                        del self._armed[ident]
                        deadline.fired = True
                        _SET_ASYNC_EXC(ident, ScriptTimeout)
                    else:
                        wake = min(wake, deadline.at)
                if self._armed:
                    lingering = False
                elif not lingering:
                    wake, lingering = now + self.LINGER, True
                self._wake_at = wake
                self._cond.wait(None if wake == math.inf else wake - now)

    def after_fork(self) -> None:
        self.__init__()  # type: ignore[misc]  # the watchdog thread does not survive a fork


WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.after_fork)
