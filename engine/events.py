"""Timers, messages and signals between the database and the instances (the Engine's events half).

After every run the engine calls :meth:`EventsMixin._after_run`: the rows of
``timers`` and ``subscriptions`` are brought in step with what the instance
now waits for, and the messages and signals it threw are queued.  The queue
is drained in the same transaction (:meth:`_drain_outbox`): a thrown message
reaches the instance waiting for it, or starts one through a message start
event; a thrown signal reaches every waiting instance and signal start event.
Sender and receivers commit together, or not at all.

From outside, :meth:`correlate_message`, :meth:`broadcast_signal` and
:meth:`fire_due_timers` (called by :mod:`engine.scheduler`) each run one
transaction per instance they touch.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Connection

from . import event_specs, execution, scopes, timers
from .errors import BatonError, ConcurrentModification, DatabaseUnavailable, InvalidStateError, NoSubscription
from .jobs import retry_conflicts
from .serialization import check_variables
from .store import event_queries as eq
from .store import queries as q

log = logging.getLogger("baton.engine")

OUTBOX = "baton_outbox"
ARMED = "baton_timer_armed"
MAX_CASCADE = 1000  # deliveries one engine call may cause before Baton calls it a loop


@dataclass
class Correlation:
    """What a message or a signal did: instances it reached, instances it started, or where it waits."""

    name: str
    delivered_to: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    buffered_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "delivered_to": self.delivered_to, "started": self.started,
                "buffered_id": self.buffered_id}


class EventsMixin:
    """Timers, message correlation and signal broadcast; mixed into :class:`engine.runtime.Engine`."""

    now: Callable[[], dt.datetime]
    settings: Any
    script_engine: Any
    on_timer_armed: Callable[[dt.datetime], None] | None
    _tx: Any
    _load: Any
    _save: Any
    _spec: Any
    _start_in: Any

    # ---- keeping the tables in step (called after every run) ---------------------------------------------

    def _after_run(self, conn: Connection, row: Any, workflow: BpmnWorkflow, status: str,
                   thrown: list[BpmnEvent]) -> None:
        if thrown:
            conn.info.setdefault(OUTBOX, []).extend(("thrown", row.id, event) for event in thrown)
        if status in execution.FINAL_STATUSES:
            if getattr(workflow, "baton_waited", False):
                eq.delete_instance_waits(conn, row.id)
            return
        waiting = list(workflow.event_manager.tasks.values())
        found = event_specs.event_subprocess_triggers(workflow, row.id)
        triggers = {tid: (t.start_id, t.waits) for tid, t in found.items()}
        if waiting or triggers or getattr(workflow, "baton_waited", False):
            self._sync_waits(conn, row, waiting, triggers)

    def _sync_waits(self, conn: Connection, row: Any, waiting: list[Any],
                    triggers: dict[str, tuple[str, set[tuple[str, str, str | None]]]]) -> None:
        armed, subscribed = eq.instance_waits(conn, row.id)
        now = self.now()
        want_timers: dict[str, tuple[Any, dt.datetime]] = {}
        want_subs = dict(triggers)  # {task id: (element id, {(kind, name, key)})}
        for task in waiting:
            due = event_specs.timer_due(task)
            if due is not None:
                want_timers[str(task.id)] = (task, due)
            subs = event_specs.subscriptions_of(task)
            if subs:
                want_subs[str(task.id)] = (task.task_spec.bpmn_id, subs)
        eq.delete_timers(conn, [t for t in armed if t not in want_timers])
        changed = [t for t, subs in subscribed.items() if t not in want_subs or want_subs[t][1] != subs]
        eq.delete_subscriptions(conn, changed)
        new_timers = []
        for task_id, (task, due) in want_timers.items():
            if task_id not in armed:
                new_timers.append({"id": str(uuid.uuid4()), "instance_id": row.id, "task_id": task_id,
                                   "definition_id": row.definition_id, "process_key": row.process_key,
                                   "element_id": task.task_spec.bpmn_id, "due_at": due, "cycle": None,
                                   "created_at": now})
            elif q.as_utc(armed[task_id]) != due:
                eq.set_timer_due(conn, task_id, due)
                self._armed(conn, due)
        eq.insert_timers(conn, new_timers)
        for timer in new_timers:
            self._armed(conn, timer["due_at"])
        new_subs = []
        for task_id, (element_id, subs) in want_subs.items():
            if subscribed.get(task_id) == subs:
                continue
            for kind, name, key in sorted(subs, key=str):
                new_subs.append({"id": str(uuid.uuid4()), "kind": kind, "name": name, "correlation_key": key,
                                 "business_key": row.business_key, "instance_id": row.id, "task_id": task_id,
                                 "definition_id": row.definition_id, "process_key": row.process_key,
                                 "element_id": element_id, "created_at": now})
        eq.insert_subscriptions(conn, new_subs)
        claimed: set[str] = set()
        held = getattr(row, "suspended", False)  # a suspended instance takes its buffered messages on resume
        for new in new_subs:  # one buffered message per waiting task (a gateway waits for one of several)
            if (new["kind"] == "message" and new["task_id"] not in claimed and not held
                    and self._claim_buffered(conn, new)):
                claimed.add(new["task_id"])

    def _armed(self, conn: Connection, due: dt.datetime) -> None:
        earliest = conn.info.get(ARMED)
        conn.info[ARMED] = due if earliest is None else min(earliest, due)

    def _claim_buffered(self, conn: Connection, sub: dict[str, Any]) -> bool:
        for message in eq.buffered_for(conn, sub["name"], sub["correlation_key"], sub["business_key"], self.now()):
            if eq.take_message(conn, message.id):
                conn.info.setdefault(OUTBOX, []).append(
                    ("deliver", sub["instance_id"], sub["task_id"], "message", sub["name"], message.variables,
                     {"buffered_message": message.id}))
                return True
        return False

    # ---- the outbox: what instances threw, delivered in the same transaction -----------------------------

    def _drain_outbox(self, conn: Connection) -> None:
        queue = conn.info.get(OUTBOX) or []
        for count, item in enumerate(_drain(queue)):
            if count >= MAX_CASCADE:
                raise InvalidStateError(f"messages and signals kept triggering each other ({MAX_CASCADE} "
                                        "deliveries in one step); nothing was applied")
            if item[0] == "thrown":
                self._route_thrown(conn, item[1], item[2])
            else:
                _, instance_id, task_id, kind, name, payload, details = item
                self._deliver(conn, instance_id, task_id, kind, name, payload, details)

    def _route_thrown(self, conn: Connection, source_id: str, event: BpmnEvent) -> None:
        definition = event.event_definition
        payload = event.payload if isinstance(event.payload, dict) else {}
        details = {"from_instance": source_id}
        if isinstance(definition, MessageEventDefinition):
            key = event_specs.correlation_key_of(event)
            found = self._correlate_in(conn, definition.name, key, None, {}, payload, details)
            if not found.delivered_to and not found.started:
                q.insert_history(conn, [{"instance_id": source_id, "at": self.now(), "event": "message_unmatched",
                                         "element_id": None, "element_name": None, "element_type": None,
                                         "task_id": None,
                                         "details": {"message": definition.name, "correlation_key": key}}])
        elif isinstance(definition, SignalEventDefinition):
            business_key = None
            if getattr(definition, "passes_business_key", False):  # camunda:in businessKey on the throw
                source = q.get_instance(conn, source_id)
                business_key = None if source is None else source.business_key
            self._signal_in(conn, definition.name, payload, details, exclude=source_id, business_key=business_key)

    def _deliver(self, conn: Connection, instance_id: str, task_id: str, kind: str, name: str,
                 payload: dict[str, Any], details: dict[str, Any]) -> bool:
        """Hand a message or signal to one waiting task and run its instance on; False if it no longer waits."""
        row = q.get_instance(conn, instance_id)
        if row is None or row.status in execution.FINAL_STATUSES or row.suspended:
            return False
        workflow = self._load(conn, row)
        trigger = event_specs.event_subprocess_triggers(workflow, instance_id).get(task_id)
        task = None if trigger else workflow.get_task_from_id(uuid.UUID(task_id))
        definition = (event_specs.trigger_definition(trigger, kind, name) if trigger
                      else _matching(task, kind, name) if task is not None and task.state == TaskState.WAITING
                      else None)
        if definition is None:
            eq.delete_subscriptions(conn, [task_id])
            return False
        before = execution.snapshot(workflow)
        event = BpmnEvent(definition, payload=dict(payload))
        with execution.applying(workflow, f"delivering {kind} {name!r}"):
            self._catch(workflow, trigger, task, event)
        out = execution.outcome(workflow, before, execution.run(workflow))
        spec = task.task_spec if task is not None else None
        history = {"at": self.now(), "event": f"{kind}_received",
                   "element_id": spec.bpmn_id if spec else trigger.start_id if trigger else None,
                   "element_name": spec.bpmn_name if spec else None,
                   "element_type": execution.element_type(spec) if spec else "startEvent",
                   "task_id": task_id if task is not None else None,
                   "details": {kind: name, "variables": payload, **details}}
        self._save(conn, row, workflow, out, before, [history])
        return True

    @staticmethod
    def _catch(workflow: BpmnWorkflow, trigger: Any, task: Any, event: BpmnEvent) -> None:
        if trigger is not None and not trigger.scope:  # SpiffWorkflow starts the process's own when it catches
            workflow.catch(event)
        elif trigger is not None:  # one of an embedded subprocess: Baton starts it, its start event catches
            start = scopes.trigger_event_subprocess(workflow.subprocesses[uuid.UUID(trigger.scope)], trigger.name,
                                                    trigger.start_spec)
            start.task_spec.catch(start, event)
            start.task_spec._update(start)
        elif task is not None:
            task.task_spec.catch(task, event)
            event_specs.rearm_boundary(task)
            task.task_spec._update(task)

    # ---- messages ----------------------------------------------------------------------------------------

    def correlate_message(self, name: str, correlation_key: str | None = None, business_key: str | None = None,
                          variables: dict[str, Any] | None = None, match: dict[str, Any] | None = None,
                          ttl: float | None = None, deliver_all: bool = False) -> Correlation:
        """Deliver a message to the instance waiting for it, or start one through a message start event.

        A waiting instance matches when the message name is the same and, where given, its correlation key
        (from the diagram's correlation properties or Zeebe correlationKey), its business key and its
        process variables (``match``) are equal.  With no match and a ``ttl`` (seconds) the message is kept
        and delivered when a matching subscription appears; with neither, :class:`NoSubscription`.
        """
        variables = dict(variables or {})
        check_variables(variables)
        with self._tx() as conn:
            found = self._correlate_in(conn, name, correlation_key, business_key, dict(match or {}), variables,
                                       {}, deliver_all=deliver_all)
            if found.delivered_to or found.started:
                return found
            if not ttl or ttl <= 0:
                raise NoSubscription(_no_subscription(name, correlation_key, business_key, match),
                                     message_name=name, correlation_key=correlation_key,
                                     business_key=business_key)
            found.buffered_id = str(uuid.uuid4())
            now = self.now()
            eq.insert_message(conn, id=found.buffered_id, name=name, correlation_key=correlation_key,
                              business_key=business_key, variables=variables, created_at=now,
                              expires_at=now + dt.timedelta(seconds=ttl))
        log.info("message %s buffered for %s s", name, ttl,
                 extra={"message_name": name, "message_id": found.buffered_id})
        return found

    def _correlate_in(self, conn: Connection, name: str, key: str | None, business_key: str | None,
                      match: dict[str, Any], payload: dict[str, Any], details: dict[str, Any],
                      deliver_all: bool = False) -> Correlation:
        found = Correlation(name)
        for sub in eq.find_waiting(conn, "message", name, key, business_key):
            if match and not _variables_match(conn, sub.instance_id, match):
                continue
            if self._deliver(conn, sub.instance_id, sub.task_id, "message", name, payload,
                             {**details, "correlation_key": key} if key else details):
                found.delivered_to.append(sub.instance_id)
                if not deliver_all:
                    return found
        if found.delivered_to or match:
            return found
        for sub in eq.start_subscriptions(conn, "message_start", name):
            found.started.append(self._start_by(conn, sub, payload, business_key, {"message": name, **details}))
        return found

    # ---- signals -----------------------------------------------------------------------------------------

    def broadcast_signal(self, name: str, variables: dict[str, Any] | None = None) -> Correlation:
        """Send a signal to every instance waiting for it and start every process with that signal start event.

        Each waiting instance is reached in its own transaction, so one busy instance does not hold up the
        others (it is retried a few times).
        """
        variables = dict(variables or {})
        check_variables(variables)
        found = Correlation(name)
        with self._tx() as conn:
            waiting = [(s.instance_id, s.task_id) for s in eq.find_waiting(conn, "signal", name)]
            for sub in eq.start_subscriptions(conn, "signal_start", name):
                found.started.append(self._start_by(conn, sub, variables, None, {"signal": name}))
        for instance_id, task_id in waiting:
            if retry_conflicts(partial(self._deliver_one, instance_id, task_id, "signal", name, variables)):
                found.delivered_to.append(instance_id)
        log.info("signal %s reached %d instance(s), started %d", name, len(found.delivered_to),
                 len(found.started), extra={"signal": name})
        return found

    def _deliver_one(self, instance_id: str, task_id: str, kind: str, name: str, payload: dict[str, Any]) -> bool:
        with self._tx() as conn:
            return self._deliver(conn, instance_id, task_id, kind, name, payload, {})

    def _signal_in(self, conn: Connection, name: str, payload: dict[str, Any], details: dict[str, Any],
                   exclude: str | None = None, business_key: str | None = None) -> None:
        for sub in eq.find_waiting(conn, "signal", name):
            if sub.instance_id != exclude:
                self._deliver(conn, sub.instance_id, sub.task_id, "signal", name, payload, details)
        for sub in eq.start_subscriptions(conn, "signal_start", name):
            self._start_by(conn, sub, payload, business_key, {"signal": name, **details})

    def _start_by(self, conn: Connection, sub: Any, variables: dict[str, Any], business_key: str | None,
                  details: dict[str, Any]) -> str:
        row = q.definition_by_id(conn, sub.definition_id)
        return str(self._start_in(conn, row, dict(variables), business_key, start_event=sub.element_id,
                                  trigger=details).id)

    # ---- start events when a version is deployed ---------------------------------------------------------

    def _arm_start_events(self, conn: Connection, definition: Any) -> None:
        """The timer, message and signal start events of a newly deployed version replace the old version's."""
        spec, _ = self._spec(conn, definition.id)
        now = self.now()
        timer_rows, sub_rows = [], []
        base = {"definition_id": definition.id, "process_key": definition.key, "instance_id": None,
                "task_id": None, "created_at": now}
        for kind, value, task_spec in event_specs.start_triggers(spec):
            if kind == "timer":
                cycle = self._first_start_due(value, now, task_spec.bpmn_id)
                timer_rows.append({**base, "id": str(uuid.uuid4()), "element_id": task_spec.bpmn_id,
                                   "due_at": dt.datetime.fromisoformat(cycle["next"]), "cycle": cycle})
            else:
                sub_rows.append({**base, "id": str(uuid.uuid4()), "kind": f"{kind}_start", "name": value,
                                 "correlation_key": None, "business_key": None, "element_id": task_spec.bpmn_id})
        eq.replace_start_events(conn, definition.key, timer_rows, sub_rows)
        for timer in timer_rows:
            self._armed(conn, timer["due_at"])

    def _first_start_due(self, expression: str, now: dt.datetime, element_id: str) -> dict[str, Any]:
        text, is_expression = timers.unwrap(expression or "")
        zone = timers.zone_of_settings(self.settings)
        try:
            value: Any = text
            if is_expression or not timers.literal_kind(text):
                value = self.script_engine.environment.evaluate(text, {})
            return timers.start_schedule(value, now, zone)
        except BatonError:
            raise
        except Exception as exc:
            raise InvalidStateError(f"timer start event '{element_id}': {exc}", element_id=element_id) from exc

    # ---- timers ------------------------------------------------------------------------------------------

    def next_timer_due(self) -> dt.datetime | None:
        with self._tx() as conn:
            return q.as_utc(eq.next_timer_due(conn))

    def timers(self, instance_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self._tx() as conn:
            return [{"id": r.id, "instance_id": r.instance_id, "process_key": r.process_key,
                     "element_id": r.element_id, "due_at": q.as_utc(r.due_at), "start": r.instance_id is None}
                    for r in eq.list_timers(conn, instance_id, limit)]

    def fire_due_timers(self, limit: int = 500) -> list[dict[str, Any]]:
        """Fire every timer whose due time has passed (each in its own transaction); returns what fired.

        Safe on several nodes at once: a timer another node is firing is skipped (row lock on PostgreSQL,
        the instance's optimistic lock everywhere), so each timer fires once.
        """
        with self._tx() as conn:
            due = [r.id for r in eq.due_timers(conn, self.now(), limit)]
            eq.purge_expired_messages(conn, self.now())
            parallel = conn.dialect.name == "postgresql"  # SQLite has one writer: threads would only wait
        threads = max(1, int(self.settings.timer_threads)) if parallel else 1
        if threads == 1 or len(due) < 2:
            results = [self._try_fire(t) for t in due]
        else:
            with ThreadPoolExecutor(max_workers=min(threads, len(due)), thread_name_prefix="baton-timer") as pool:
                results = list(pool.map(self._try_fire, due))
        return [r for r in results if r is not None]

    def _try_fire(self, timer_id: str) -> dict[str, Any] | None:
        try:
            return self._fire_timer(timer_id)
        except ConcurrentModification:
            return None  # another node fired it, or the instance moved on: the next pass looks again
        except DatabaseUnavailable:
            raise  # the scheduler waits for the database and looks again; the timer is still due
        except BatonError as exc:
            log.warning("timer %s could not fire: %s", timer_id, exc, extra={"timer_id": timer_id})
            return None

    def _fire_timer(self, timer_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            now = self.now()
            timer = eq.lock_timer(conn, timer_id, now)
            if timer is None:
                return None
            due: dt.datetime = q.as_utc(timer.due_at) or now
            fired: dict[str, Any] = {
                "timer_id": timer.id, "process_key": timer.process_key, "element_id": timer.element_id,
                "due_at": due, "fired_at": now, "late_by": (now - due).total_seconds()}
            if timer.instance_id is None:
                fired["instance_id"] = self._fire_start_timer(conn, timer, due, now)
                return fired
            fired["instance_id"] = timer.instance_id
            row = q.get_instance(conn, timer.instance_id)
            if row is None or row.status in execution.FINAL_STATUSES:
                eq.delete_timer(conn, timer.id)
                return None
            if row.suspended:  # it fires once the instance is resumed
                return None
            workflow = self._load(conn, row)
            task = workflow.get_task_from_id(uuid.UUID(timer.task_id))
            if task is None or task.state != TaskState.WAITING:
                eq.delete_timer(conn, timer.id)
                return None
            armed, _ = eq.instance_waits(conn, row.id)
            before = execution.snapshot(workflow)
            workflow.refresh_timers()  # fires every due timer of the instance, not only this one: record each
            history = []
            for task_id, task_due in armed.items():
                fired_task = workflow.get_task_from_id(uuid.UUID(task_id))
                if fired_task is None or (task_id != timer.task_id and fired_task.state == TaskState.WAITING):
                    continue  # not due yet (a repeating timer that fired stays waiting: it is this one)
                task_due = q.as_utc(task_due) or now
                history.append({"at": now, "event": "timer_fired", "element_id": fired_task.task_spec.bpmn_id,
                                "element_name": fired_task.task_spec.bpmn_name, "task_id": task_id,
                                "element_type": execution.element_type(fired_task.task_spec),
                                "details": {"due_at": task_due.isoformat(),
                                            "late_by": (now - task_due).total_seconds()}})
            out = execution.outcome(workflow, before, execution.run(workflow))
            self._save(conn, row, workflow, out, before, history)
        log.info("timer %s fired", timer.element_id, extra={"instance_id": timer.instance_id,
                                                             "late_by": fired["late_by"]})
        return fired

    def _fire_start_timer(self, conn: Connection, timer: Any, due: dt.datetime, now: dt.datetime) -> str | None:
        cycle = dict(timer.cycle or {})
        nxt: dt.datetime | None = None
        if cycle.get("cycles", 0) != 0 and (cycle.get("duration") or cycle.get("cron")):
            cycle["cycles"] = cycle["cycles"] - 1 if cycle["cycles"] > 0 else -1
            if cycle["cycles"] != 0:
                cycle["next"] = due.isoformat()
                nxt = timers.advance(cycle, now, timers.zone_of_settings(self.settings))
                cycle["next"] = nxt.isoformat()
        if not eq.move_start_timer(conn, timer.id, timer.due_at, nxt, cycle):
            raise ConcurrentModification("another node fired this start timer")
        if nxt is not None:
            self._armed(conn, nxt)
        row = q.definition_by_id(conn, timer.definition_id)
        return str(self._start_in(conn, row, {}, None, start_event=timer.element_id,
                                  trigger={"timer": timer.element_id, "due_at": due.isoformat()}).id)


def _drain(queue: list[Any]) -> Any:
    while queue:
        yield queue.pop(0)


def _matching(task: Any, kind: str, name: str) -> Any:
    wanted = MessageEventDefinition if kind == "message" else SignalEventDefinition
    for definition in event_specs.definitions_of(getattr(task.task_spec, "event_definition", None)):
        if isinstance(definition, wanted) and definition.name == name:
            return definition
    return None


def _variables_match(conn: Connection, instance_id: str, match: dict[str, Any]) -> bool:
    row = q.get_instance(conn, instance_id)
    variables = row.variables if row is not None else {}
    return all(k in variables and variables[k] == v for k, v in match.items())


def _no_subscription(name: str, key: str | None, business_key: str | None, match: dict[str, Any] | None) -> str:
    parts = [f"correlation key {key!r}"] if key else []
    parts += [f"business key {business_key!r}"] if business_key else []
    parts += [f"variables {match!r}"] if match else []
    which = f" with {' and '.join(parts)}" if parts else ""
    return (f"no subscription: no instance waits for message {name!r}{which} and no process starts with it "
            "(send it with a time to live to keep it until one does)")


