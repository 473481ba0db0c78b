"""The step vocabulary of conformance expectations: actions on a running model and assertions about it.

An expectation (``tests/conformance/<category>.toml``, see ``docs/conformance.md``) lists steps run in order
after the start.  Each step is a TOML inline table whose **first key** names it; the other keys are its options:

- ``{ tasks = [ids] }``: the open user, manual and waiting receive tasks of every instance (element ids, sorted)
- ``{ start = key, variables = {}, business_key = "" }``: start another instance (e.g. one that throws a signal)
- ``{ set = {name = value} }``: set variables of the started instance (as a user or an API client would)
- ``{ complete = id, variables = {} }``: complete the open user/manual task with that element id
- ``{ message = name, business_key =, correlation =, variables = {}, all = false }``: correlate a message
- ``{ signal = name, variables = {} }``: broadcast a signal
- ``{ advance = "PT1H" }``: move the clock forward and fire due timers until none is due
- ``{ job = topicOrElementId, variables = {} }``, ``{ job_error = .., code = "E1" }``,
  ``{ job_fail = .., message = "boom" }``: complete, raise a BPMN error on, or fail the open job (``job`` on an
  asyncBefore/asyncAfter continuation runs it, as Camunda's ``executeJob``)
- ``{ status = "completed" }``, ``{ variables_include = {} }``, ``{ passed = [ids] }``, ``{ not_passed = [ids] }``,
  ``{ passed_count = {id = n} }``: assertions about the started instance, or, with ``process = key``, about
  the newest instance of that process (a called one, or one started by a message)
- ``{ business_key = "bk" }``: the instance's business key (with ``process = key`` as above)
- ``{ instances = {key = n} }``: how many instances of each process exist
- ``{ task = id, assignee = "", candidate_groups = [], candidate_users = [], name = "", due = "", priority = 0 }``:
  fields of the first open task with that element id (due: ISO 8601; fields Baton's tasks lack fail the step)
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

from .durations import parse_duration

WORKER = "conformance"
CONTINUE_TOPIC = "baton:continue"  # the jobs of camunda:asyncBefore/asyncAfter continuations


class StepFailed(Exception):
    """A step of an expectation did not hold (its message says what was found instead)."""


class ConformanceClock:
    """The engine's clock during a conformance run: starts at a fixed instant, moved only by ``advance`` steps."""

    def __init__(self) -> None:
        self._now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)


class StepRunner:
    """Runs the steps of one expectation against ``eng``, whose instance ``instance_id`` was just started
    (None when the entry says ``start = false``)."""

    def __init__(self, eng: Any, clock: ConformanceClock, instance_id: str | None) -> None:
        self.eng = eng
        self.clock = clock
        self.instance_id = instance_id
        self.handlers: dict[str, Callable[[Any, dict[str, Any]], None]] = {
            "tasks": self.tasks, "start": self.start, "complete": self.complete, "message": self.message,
            "signal": self.signal, "set": self.set, "task": self.task,
            "advance": self.advance, "job": self.job, "job_error": self.job, "job_fail": self.job,
            "status": self.status, "variables_include": self.variables_include, "passed": self.passed,
            "not_passed": self.not_passed, "passed_count": self.passed_count, "instances": self.instances,
            "business_key": self.business_key,
        }

    def run(self, step: dict[str, Any]) -> None:
        if not step:
            raise StepFailed("empty step")
        kind, value = next(iter(step.items()))
        handler = self.handlers.get(kind)
        if handler is None:
            raise StepFailed(f"unknown step {kind!r} (known: {', '.join(sorted(self.handlers))})")
        options = dict(step)
        options["_kind"] = kind
        handler(value, options)

    # ---- actions ---------------------------------------------------------------------------------------------

    def open_tasks(self) -> list[str]:
        found = [t.element_id for t in self.eng.tasks(limit=1000)]
        for inst in self.eng.instances(limit=1000):
            found += [a["element_id"] for a in inst.active
                      if a.get("type") == "receiveTask" and a.get("state") == "WAITING"]
        return sorted(found)

    def tasks(self, value: Any, options: dict[str, Any]) -> None:
        found = self.open_tasks()
        if found != sorted(value):
            raise StepFailed(f"open tasks are {found}, expected {sorted(value)}")

    def start(self, value: Any, options: dict[str, Any]) -> None:
        self.eng.start(value, options.get("variables"), business_key=options.get("business_key"))

    def set(self, value: Any, options: dict[str, Any]) -> None:
        self.eng.set_variables(self.instance_id, dict(value))

    def complete(self, value: Any, options: dict[str, Any]) -> None:
        task = next((t for t in self.eng.tasks(limit=1000) if t.element_id == value), None)
        if task is None:
            raise StepFailed(f"no open task {value!r} to complete (open: {self.open_tasks()})")
        self.eng.complete_task(task.id, options.get("variables"))

    def message(self, value: Any, options: dict[str, Any]) -> None:
        self.eng.correlate_message(value, correlation_key=options.get("correlation"),
                                   business_key=options.get("business_key"), variables=options.get("variables"),
                                   deliver_all=bool(options.get("all", False)))

    def signal(self, value: Any, options: dict[str, Any]) -> None:
        self.eng.broadcast_signal(value, options.get("variables"))

    def advance(self, value: Any, options: dict[str, Any]) -> None:
        self.clock.advance(parse_duration(value))
        for _ in range(1000):
            if not self.eng.fire_due_timers():
                return
        raise StepFailed(f"timers kept firing after advancing {value} (a cycle without end?)")

    def job(self, value: Any, options: dict[str, Any]) -> None:
        kind = options["_kind"]
        jobs = [j for j in self.eng.jobs(limit=1000) if value in (j.topic, j.element_id)]
        if not jobs:
            open_jobs = sorted(f"{j.element_id}({j.topic})" for j in self.eng.jobs(limit=1000))
            raise StepFailed(f"no open job of topic or element {value!r} (open jobs: {open_jobs})")
        wanted = jobs[0]
        claimed = self.eng.claim_jobs(WORKER, [wanted.topic], limit=1000)
        job = next((j for j in claimed if j.id == wanted.id), None)
        for other in claimed:
            if job is None or other.id != job.id:
                self.eng.unlock_job(other.id, WORKER)
        if job is None:
            raise StepFailed(f"job {value!r} could not be claimed (status {wanted.status})")
        if kind == "job" and job.topic == CONTINUE_TOPIC:  # Camunda: managementService.executeJob
            self.eng.continue_job(job.id, WORKER)
        elif kind == "job":
            self.eng.complete_job(job.id, WORKER, options.get("variables"))
        elif kind == "job_error":
            self.eng.job_bpmn_error(job.id, WORKER, str(options.get("code", "")), options.get("message"),
                                    options.get("variables"))
        else:
            self.eng.fail_job(job.id, WORKER, str(options.get("message", "failed")), retries=0)

    # ---- assertions ------------------------------------------------------------------------------------------

    def _instance(self, options: dict[str, Any]) -> Any:
        key = options.get("process")
        if key is None:
            if self.instance_id is None:
                raise StepFailed("no instance was started (start = false): name one with process = ...")
            return self.eng.get_instance(self.instance_id)
        found = self.eng.instances(key=key, limit=1000)
        if not found:
            raise StepFailed(f"no instance of process {key!r}")
        return max(found, key=lambda i: (i.created_at, i.id))

    def _completed(self, options: dict[str, Any]) -> Counter[str]:
        inst = self._instance(options)
        # a multi-instance activity's body is not counted: Camunda records it as "<id>#multiInstanceBody"
        return Counter(h.element_id for h in self.eng.history(inst.id)
                       if h.event == "activity_completed" and h.element_id and h.element_type != "loop")

    def status(self, value: Any, options: dict[str, Any]) -> None:
        inst = self._instance(options)
        if inst.status != value:
            why = f" ({inst.error.get('message')})" if inst.error else ""
            raise StepFailed(f"status is {inst.status}{why}, expected {value}")

    def variables_include(self, value: Any, options: dict[str, Any]) -> None:
        variables = self._instance(options).variables
        wrong = {k: variables.get(k, "<unset>") for k, v in value.items() if variables.get(k, object()) != v}
        if wrong:
            raise StepFailed(f"variables differ: found {wrong}, expected {dict(value)}")

    def business_key(self, value: Any, options: dict[str, Any]) -> None:
        found = self._instance(options).business_key
        if found != value:
            raise StepFailed(f"business key is {found!r}, expected {value!r}")

    def passed(self, value: Any, options: dict[str, Any]) -> None:
        done = self._completed(options)
        missing = [e for e in value if not done[e]]
        if missing:
            raise StepFailed(f"not completed: {missing} (completed: {sorted(done)})")

    def not_passed(self, value: Any, options: dict[str, Any]) -> None:
        done = self._completed(options)
        wrong = [e for e in value if done[e]]
        if wrong:
            raise StepFailed(f"completed but should not be: {wrong}")

    def passed_count(self, value: Any, options: dict[str, Any]) -> None:
        done = self._completed(options)
        wrong = {e: done[e] for e, n in value.items() if done[e] != n}
        if wrong:
            raise StepFailed(f"completion counts {wrong}, expected {dict(value)}")

    def task(self, value: Any, options: dict[str, Any]) -> None:
        task = next((t for t in self.eng.tasks(limit=1000) if t.element_id == value), None)
        if task is None:
            raise StepFailed(f"no open task {value!r} (open: {self.open_tasks()})")
        for name, wanted in options.items():
            if name in ("task", "_kind"):
                continue
            field = name
            if not hasattr(task, field):
                raise StepFailed(f"Baton's tasks have no {name!r} (expected {wanted!r})")
            found = getattr(task, field)
            if isinstance(found, dt.datetime):
                found = found.isoformat()
            if found != wanted:
                raise StepFailed(f"task {value!r} has {name} {found!r}, expected {wanted!r}")

    def instances(self, value: Any, options: dict[str, Any]) -> None:
        counts = {key: len(self.eng.instances(key=key, limit=1000)) for key in value}
        if counts != dict(value):
            raise StepFailed(f"instance counts {counts}, expected {dict(value)}")
