"""Timer values as diagrams write them, and the timer event definitions Baton runs.

SpiffWorkflow's timers evaluate their value as a Python expression (so the
unquoted ``PT5M`` that every editor writes fails), read the wall clock,
treat dates without a zone as local time, know no cron, and fire a missed
cycle once per missed period.  Baton's timer definitions replace them:

- a value may be an ISO 8601 literal (``2026-12-01T09:00:00Z``, ``PT5M``,
  ``R3/PT10M``, ``R/2026-01-01T00:00:00Z/P1D``), a cron expression (Quartz's
  six or seven fields as Camunda Modeler writes them, or the classic five),
  a JUEL expression (``${delay}``), a FEEL ``=delay`` (both translated to
  ``${<python>}`` at deploy, see ``engine/expressions.py``), or a Python
  expression; an expression may give a literal string, a ``datetime`` or a
  ``timedelta``;
- time comes from the engine's clock (tests drive it), and dates without a
  zone are in the configured zone (UTC unless ``BATON_TIMEZONE`` says
  otherwise);
- the due time is computed once, when the timer is armed, and kept in the
  task's ``event_value`` so it survives save and load;
- a cycle that missed several periods (the engine was down) fires once and
  moves to the next due time in the future.

The engine stores each armed timer's due time in an indexed column and
fires it by re-running the instance once the clock has passed it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

UTC = dt.UTC
_ISO_CYCLE = re.compile(r"^R\d*/", re.IGNORECASE)
_ISO_DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?$", re.I)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$", re.I)
_LOOKS_ISO = re.compile(r"^(R\d*/|PT?\d)", re.IGNORECASE)
_CRON_FIELD = re.compile(r"^[0-9*?/,\-LW#A-Za-z]+$")


class TimerValueError(ValueError):
    """A timer value that is neither a date, a duration, a cycle nor a cron expression."""


@dataclass(frozen=True)
class Cycle:
    """A repeating timer: ``repeat`` more firings (-1 = forever), every ``period`` or on a ``cron`` schedule."""

    repeat: int
    first: dt.datetime
    period: dt.timedelta | None = None
    cron: str | None = None


# ---- reading values ---------------------------------------------------------------------------------------

def unwrap(text: str) -> tuple[str, bool]:
    """(text, is_expression): ``${python}`` (what deploy made of JUEL and FEEL) is an expression, else a literal."""
    text = text.strip()
    if len(text) > 3 and text.startswith("${") and text.endswith("}"):
        return text[2:-1].strip(), True
    return text, False


def literal_kind(text: str) -> str | None:
    """'cycle', 'duration', 'date', 'cron' for a literal timer value, else None (an expression)."""
    text = text.strip()
    if _ISO_CYCLE.match(text):
        return "cycle"
    if _ISO_DURATION.match(text):
        return "duration"
    if _ISO_DATE.match(text):
        return "date"
    fields = text.split()
    if 5 <= len(fields) <= 7 and all(_CRON_FIELD.match(f) for f in fields) and any(
            c.isdigit() or c in "*?" for c in text):
        return "cron"
    return None


def parse_date(text: str, zone: dt.tzinfo = UTC) -> dt.datetime:
    text = text.strip().replace(" ", "T")
    if text[-1:] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimerValueError(f"{text!r} is not an ISO 8601 date") from exc
    return as_aware(value, zone)


def as_aware(value: dt.datetime, zone: dt.tzinfo = UTC) -> dt.datetime:
    return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)


def add_duration(text: str, start: dt.datetime) -> dt.datetime:
    """``start`` plus an ISO 8601 duration, with calendar months and years."""
    text = text.strip()
    if not _ISO_DURATION.match(text):
        raise TimerValueError(f"{text!r} is not an ISO 8601 duration (like PT5M or P1DT12H)")
    negative = text.startswith("-")
    try:
        parsed = TimerEventDefinition.parse_iso_duration(text.lstrip("-").upper())
        delta = TimerEventDefinition.get_timedelta_from_start(parsed, start)
    except Exception as exc:
        raise TimerValueError(f"{text!r} is not an ISO 8601 duration (like PT5M or P1DT12H)") from exc
    return start - delta if negative else start + delta


def parse_cycle(text: str, now: dt.datetime, zone: dt.tzinfo = UTC) -> Cycle:
    """An ISO ``R[n]/...`` repeating interval or a cron expression, first due after ``now``."""
    text = text.strip()
    if literal_kind(text) == "cron":
        trigger = cron_trigger(text, zone)
        return Cycle(repeat=-1, first=next_cron(trigger, now), cron=text)
    if not _ISO_CYCLE.match(text):
        raise TimerValueError(f"{text!r} is neither an ISO 8601 repeating interval (R3/PT10M) nor a cron expression")
    head, *parts = text.split("/")
    repeat = int(head[1:]) if head[1:] else -1
    if len(parts) == 1:
        first = add_duration(parts[0], now)
        return Cycle(repeat=repeat, first=first, period=first - now)
    if len(parts) == 2:
        if literal_kind(parts[0]) == "date":
            start = parse_date(parts[0], zone)
            return Cycle(repeat=repeat, first=start, period=add_duration(parts[1], start) - start)
        end = parse_date(parts[1], zone)
        period = end - add_duration("-" + parts[0], end)
        return Cycle(repeat=repeat, first=end - period, period=period)
    raise TimerValueError(f"{text!r} is not an ISO 8601 repeating interval (R3/PT10M or R/start/PT1H)")


_QUARTZ_DOW = {str(n): name for n, name in enumerate(["", "sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


def cron_trigger(text: str, zone: dt.tzinfo = UTC) -> CronTrigger:
    """A cron expression as an APScheduler trigger: Quartz (sec min hour day month dow [year]) or 5 fields."""
    fields = text.split()
    try:
        if len(fields) == 5:
            return CronTrigger.from_crontab(text, timezone=zone)
        if len(fields) in (6, 7):
            second, minute, hour, day, month, dow = fields[:6]
            year = fields[6] if len(fields) == 7 else None
            day = "*" if day == "?" else day.replace("L", "last") if day == "L" else day
            dow = "*" if dow == "?" else re.sub(r"(?<![#\d])[1-7](?![\d])", lambda m: _QUARTZ_DOW[m.group()], dow)
            return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                               day_of_week=dow.lower(), year=year, timezone=zone)
    except ValueError as exc:
        raise TimerValueError(f"{text!r} is not a valid cron expression: {exc}") from exc
    raise TimerValueError(f"{text!r} is not a cron expression (5 fields, or Quartz's 6 or 7)")


def next_cron(trigger: CronTrigger | str, after: dt.datetime, zone: dt.tzinfo = UTC) -> dt.datetime:
    if isinstance(trigger, str):
        trigger = cron_trigger(trigger, zone)
    start = after.replace(microsecond=0) + dt.timedelta(seconds=1)
    found = trigger.get_next_fire_time(None, start)
    if found is None:
        raise TimerValueError("the cron expression never fires again")
    return found.astimezone(UTC)


def check_literal(text: str, element: str) -> str | None:
    """Deploy-time check of a timer value; an error text, or None when it is fine (or an expression)."""
    value, is_expression = unwrap(text)
    if is_expression or not value:
        return None if value else f"the {element} is empty"
    kind = literal_kind(value)
    if kind is None and _LOOKS_ISO.match(value):
        return f"{value!r} is not an ISO 8601 duration or repeating interval (like PT5M, P1DT12H or R3/PT10M)"
    try:
        now = dt.datetime.now(UTC)
        if kind == "date":
            parse_date(value)
        elif kind == "duration":
            add_duration(value, now)
        elif kind in ("cycle", "cron"):
            parse_cycle(value, now)
    except TimerValueError as exc:
        return str(exc)
    return None


# ---- the timer event definitions -------------------------------------------------------------------------

def _engine_attr(task: Any, name: str, default: Any) -> Any:
    return getattr(task.workflow.script_engine, name, None) or default


def now_of(task: Any) -> dt.datetime:
    clock = _engine_attr(task, "clock", None)
    return clock() if clock is not None else dt.datetime.now(UTC)


def zone_of(task: Any) -> dt.tzinfo:
    return zone_named(_engine_attr(task, "timer_zone", "UTC"))


def zone_named(name: str | dt.tzinfo) -> dt.tzinfo:
    if not isinstance(name, str):
        return name
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def zone_of_settings(settings: Any) -> dt.tzinfo:
    return zone_named(getattr(settings, "timezone", "UTC") or "UTC")


def start_schedule(value: Any, now: dt.datetime, zone: dt.tzinfo = UTC) -> dict[str, Any]:
    """The schedule of a timer start event: {'cycles', 'next', 'duration', 'cron'} (cycles 1 = fires once)."""
    if isinstance(value, str) and literal_kind(value) in ("cycle", "cron"):
        cycle = parse_cycle(value, now, zone)
        return {"cycles": cycle.repeat, "next": cycle.first.isoformat(),
                "duration": cycle.period.total_seconds() if cycle.period else None, "cron": cycle.cron}
    due = _due_from(value, now, zone, "start event")
    return {"cycles": 1, "next": due.isoformat(), "duration": None, "cron": None}


def evaluate(task: Any, expression: str) -> Any:
    """The timer's value: a literal as written, or what its expression gives."""
    text, is_expression = unwrap(expression or "")
    if not is_expression and literal_kind(text):
        return text
    value = task.workflow.script_engine.evaluate(task, text)
    if isinstance(value, str):
        value = value.strip()
        inner, _ = unwrap(value)
        return inner
    return value


def _due_from(value: Any, start: dt.datetime, zone: dt.tzinfo, element: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return as_aware(value, zone)
    if isinstance(value, dt.timedelta):
        return start + value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return start + dt.timedelta(seconds=value)
    if isinstance(value, str):
        kind = literal_kind(value)
        if kind == "date":
            return parse_date(value, zone)
        if kind == "duration":
            return add_duration(value, start)
    raise TimerValueError(f"{element} timer value {value!r} is neither a date nor a duration")


ARMED_NOW = "baton_armed_now"


def mark_armed(task: Any) -> None:
    """Remember that ``task``'s timer was armed by the engine call now running (see :func:`armed_now`)."""
    workflow = task.workflow.top_workflow
    armed = getattr(workflow, ARMED_NOW, None)
    if armed is None:
        armed = set()
        setattr(workflow, ARMED_NOW, armed)
    armed.add(task.id)


def armed_now(task: Any) -> bool:
    """True for a timer armed by the engine call now running: it fires only after that call has committed.

    As in Camunda, whose job executor runs a due timer job after the transaction that created it, a timer
    already due when armed (``PT0S``, a past date) does not fire inside the call that armed it, so a message
    or signal sent right after that call can still win; the scheduler fires it as soon as the call commits.
    The marks live on the workflow object, which every engine call loads (or creates) anew.
    """
    return task.id in (getattr(task.workflow.top_workflow, ARMED_NOW, None) or ())


def _other_event_caught(task: Any) -> bool:
    """True when an event-based gateway (or multiple catch event) already caught another of its events: the
    first event wins, its timers no longer fire (SpiffWorkflow would take the timer's path too)."""
    multiple = getattr(task.task_spec, "event_definition", None)
    return bool(task.internal_data.get("seen_events")) and not getattr(multiple, "parallel", True)


class _Armed:
    """Shared behaviour: a due time computed once, and fired when the engine's clock has passed it."""

    expression: str

    def due(self, task: Any) -> dt.datetime:
        raise NotImplementedError

    def has_fired(self, task: Any) -> bool:
        if task._get_internal_data("event_fired", False):
            return True
        if _other_event_caught(task):
            return False
        if self.due(task) <= now_of(task) and not armed_now(task):
            task._set_internal_data(event_fired=True)
            return True
        return False

    def reset(self, task: Any) -> None:
        task.internal_data.pop("event_value", None)
        task._set_internal_data(event_fired=False)


class BatonTimeDate(_Armed, TimeDateEventDefinition):
    """A timer at a date (``timeDate``)."""

    def due(self, task: Any) -> dt.datetime:
        value = task._get_internal_data("event_value")
        if value is None:
            due = _due_from(evaluate(task, self.expression), now_of(task), zone_of(task), "timeDate")
            value = due.isoformat()
            task._set_internal_data(event_value=value)
            mark_armed(task)
        return dt.datetime.fromisoformat(value)


class BatonDuration(BatonTimeDate, DurationTimerEventDefinition):
    """A timer after a duration from the moment it is armed (``timeDuration``)."""


class BatonCycle(_Armed, CycleTimerEventDefinition):
    """A repeating timer (``timeCycle``): ISO ``R[n]/...`` or cron.

    On a non-interrupting boundary event each due time starts the boundary path again, until the repetitions
    run out; anywhere else (intermediate events, interrupting boundaries) the first due time fires it once.
    """

    def cycle(self, task: Any) -> dict[str, Any]:
        value = task._get_internal_data("event_value")
        if value is None:
            value = start_schedule(evaluate(task, self.expression), now_of(task), zone_of(task))
            task._set_internal_data(event_value=value)
            mark_armed(task)
        return dict(value)

    def due(self, task: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(self.cycle(task)["next"])

    def repeats(self, task: Any) -> bool:
        return getattr(task.task_spec, "cancel_activity", True) is False

    def has_fired(self, task: Any) -> bool:
        if self.repeats(task):
            return bool(task._get_internal_data("event_fired", False))
        fired = super().has_fired(task)
        if fired and not task.children:  # SpiffWorkflow does not predict the path after a cycle timer
            _add_paths(task)
        return fired

    def update_task(self, task: Any) -> None:
        if not self.repeats(task) or task.state != TaskState.WAITING:
            return
        value = self.cycle(task)
        now = now_of(task)
        if value["cycles"] == 0 or dt.datetime.fromisoformat(value["next"]) > now:
            return
        value["next"] = advance(value, now, zone_of(task)).isoformat()
        if value["cycles"] > 0:
            value["cycles"] -= 1
        task._set_internal_data(event_value=value)
        for child in _add_paths(_occurrence(task)):
            child.task_spec._update(child)

    def exhausted(self, task: Any) -> bool:
        return self.repeats(task) and self.cycle(task)["cycles"] == 0


def _occurrence(task: Any) -> Any:
    """A completed sibling of a repeating boundary timer, to carry the path one firing starts.

    The timer itself stays WAITING and is cancelled when its activity ends; SpiffWorkflow drops the children of
    a cancelled waiting task, which would take the paths already started (their open tasks) with it.
    """
    if task.parent is None:
        return task
    occurrence = task.parent._add_child(task.task_spec, TaskState.COMPLETED)
    occurrence.data = dict(task.data)
    return occurrence


def _add_paths(task: Any) -> list[Any]:
    """New children for the task's outgoing paths (what a cycle timer starts each time it fires)."""
    children = []
    for output in task.task_spec.outputs:
        child = task._add_child(output, TaskState.FUTURE)
        child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
        children.append(child)
    return children


def advance(value: dict[str, Any], now: dt.datetime, zone: dt.tzinfo = UTC) -> dt.datetime:
    """The first due time of a cycle after ``now``: missed periods are skipped, not fired one by one."""
    if value.get("cron"):
        return next_cron(value["cron"], now, zone)
    due = dt.datetime.fromisoformat(value["next"])
    period = dt.timedelta(seconds=value.get("duration") or 0)
    if period <= dt.timedelta(0):
        return now
    missed = int((now - due) / period) + 1 if due <= now else 0
    return due + missed * period


REPLACEMENTS: dict[type, type] = {
    TimeDateEventDefinition: BatonTimeDate,
    DurationTimerEventDefinition: BatonDuration,
    CycleTimerEventDefinition: BatonCycle,
}


def due_of(task: Any) -> dt.datetime | None:
    """When a waiting timer task (or event-based gateway) is due, arming it if needed; None if it has no timer."""
    definition = getattr(task.task_spec, "event_definition", None)
    if task._get_internal_data("event_fired", False):
        return None
    children = getattr(definition, "event_definitions", None)
    dues = [d.due(task) for d in (children if children is not None else [definition])
            if isinstance(d, _Armed) and not (isinstance(d, BatonCycle) and d.exhausted(task))]
    return min(dues) if dues else None
