"""Durations, retry cycles and backoff: the time arithmetic of agent calls.

- :func:`parse_duration` turns ``"PT10M"``, ``"P1DT2H"``, ``"PT0.5S"``, ``"30"`` or ``30`` into seconds.
  Years and months are refused (they have no fixed length: write days, ``P30D``).
- :func:`parse_retry_cycle` reads Camunda's ``failedJobRetryTimeCycle`` forms: ``"R5/PT1M"`` (five
  retries one minute apart) and ``"PT10S,PT1M,PT10M"`` (one retry per listed delay), or a list of durations.
  The result is the list of delays *before each retry*; its length is the number of retries after the
  first attempt.
- :func:`backoff` is exponential backoff with full jitter: ``uniform(0, min(cap, base * 2 ** (attempt - 1)))``.

Every bad input raises :class:`~engine.errors.ConfigurationError` with a message saying what was expected.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from .errors import ConfigurationError

_NUM = r"(\d+(?:[.,]\d+)?)"
_ISO = re.compile(
    rf"^P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$",
    re.IGNORECASE,
)
_REPEAT = re.compile(r"^R(\d*)/(.+)$", re.IGNORECASE)
_UNITS = (None, None, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0)  # Y, M, W, D, H, M, S
_MAX_RETRIES = 1000
_RNG = random.Random()
_HINT = "use ISO 8601 like 'PT30S', 'PT10M', 'PT1H30M', 'P1DT2H', or a number of seconds"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``: an ISO 8601 duration or a non-negative number of seconds."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ConfigurationError(f"{text!r} is not a duration: {_HINT}")
    if isinstance(text, int | float):
        return _non_negative(float(text), text)
    raw = text.strip()
    try:
        return _non_negative(float(raw), text)
    except ValueError:
        pass
    match = _ISO.match(raw)
    if not match or raw.upper() in ("P", "PT") or raw.upper().endswith("T"):
        raise ConfigurationError(f"{text!r} is not a duration: {_HINT}")
    groups = match.groups()
    if groups[0] is not None or groups[1] is not None:
        raise ConfigurationError(f"{text!r}: years and months have no fixed length; write days instead (P30D)")
    return sum(float(g.replace(",", ".")) * unit for g, unit in zip(groups, _UNITS, strict=True) if g and unit)


def _non_negative(value: float, text: object) -> float:
    if value != value or value < 0 or value == float("inf"):
        raise ConfigurationError(f"{text!r} is not a duration: it must be a finite number of seconds >= 0")
    return value


def parse_retry_cycle(text: str | Sequence[str | int | float]) -> list[float]:
    """The delays (seconds) before each retry: ``"R5/PT1M"`` -> ``[60.0] * 5``; ``"PT10S,PT1M"`` -> ``[10.0, 60.0]``."""
    if isinstance(text, str):
        raw = text.strip()
        if not raw:
            raise ConfigurationError("an empty retry cycle: use 'R3/PT10S' or 'PT10S,PT1M,PT10M'")
        repeat = _REPEAT.match(raw)
        if repeat:
            count, interval = repeat.groups()
            if not count:
                raise ConfigurationError(f"{text!r}: an unbounded repetition is not allowed; give a count (R5/PT1M)")
            if int(count) > _MAX_RETRIES:
                raise ConfigurationError(f"{text!r}: at most {_MAX_RETRIES} retries")
            return [parse_duration(interval)] * int(count)
        items: Sequence[str | int | float] = [part.strip() for part in raw.split(",")]
    elif isinstance(text, Sequence):
        items = text
    else:
        raise ConfigurationError(f"{text!r} is not a retry cycle: use 'R3/PT10S', 'PT10S,PT1M' or a list of durations")
    if len(items) > _MAX_RETRIES:
        raise ConfigurationError(f"a retry cycle of at most {_MAX_RETRIES} retries")
    return [parse_duration(item) for item in items]


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first): full-jitter exponential backoff."""
    exponent = min(max(attempt, 1) - 1, 64)
    ceiling = min(cap, base * 2.0**exponent)
    return (rng or _RNG).uniform(0.0, max(ceiling, 0.0))
