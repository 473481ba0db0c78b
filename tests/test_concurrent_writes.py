"""Two engines (two Engine objects, each with its own connection pool, as two nodes have) write one instance at once.

Each report is one transaction guarded by the instance's version (optimistic locking): a writer that loses the
race gets ``ConcurrentModification`` inside the engine and applies its result again on the new state.  Nothing
is lost (every branch's output is there) and nothing is applied twice (the join passes once; the instance's
version rose by exactly one per report).
"""

from __future__ import annotations

import collections
import threading

import pytest
from helpers import flows, process_xml, script, user_task
from sqlalchemy import select

from engine import Engine
from engine.errors import InvalidStateError, JobNotFound, LockLost
from engine.store.tables import Instance as InstanceRow

BRANCHES = 6
BUSY = "total = 0\nfor i in range(20000):\n    total += i"  # a longer transaction: the writers overlap more


def _diagram() -> bytes:
    parts = [
        '<bpmn:startEvent id="start"/>',
        '<bpmn:parallelGateway id="split"/>',
        '<bpmn:parallelGateway id="join"/>',
        user_task("After").replace("{id}", "after"),
        '<bpmn:endEvent id="end"/>',
    ]
    pairs = ["start>split", "join>after", "after>end"]
    for n in range(1, BRANCHES + 1):
        parts.append(f'<bpmn:serviceTask id="call{n}" name="Call {n}" camunda:type="external" camunda:topic="t"/>')
        parts.append(script(BUSY, f"Busy {n}").replace("{id}", f"busy{n}"))
        pairs += [f"split>call{n}", f"call{n}>busy{n}", f"busy{n}>join"]
    return process_xml("race", "\n".join(parts) + "\n" + flows(*pairs))


def _version(engine: Engine, instance_id: str) -> int:
    with engine.db.connect() as conn:
        return conn.execute(select(InstanceRow.lock_version).where(InstanceRow.id == instance_id)).scalar_one()


def _at_once(calls: list) -> list:
    """Run each call in its own thread, all released together; returns results or the exceptions raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def go(n: int) -> None:
        barrier.wait()
        try:
            results[n] = calls[n]()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each writer got
            results[n] = exc

    threads = [threading.Thread(target=go, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def two_engines(engine, settings):
    other = Engine(settings)
    yield engine, other
    other.close()


def test_two_engines_completing_one_instances_jobs_at_once_lose_nothing(two_engines):
    a, b = two_engines
    a.deploy_bytes([("race.bpmn", _diagram())])
    inst = a.start("race")
    jobs_a = a.claim_jobs("node-a", ["t"], limit=BRANCHES // 2)
    jobs_b = b.claim_jobs("node-b", ["t"], limit=BRANCHES // 2)
    assert len(jobs_a) + len(jobs_b) == BRANCHES
    before = _version(a, inst.id)
    calls = [lambda j=j: a.complete_job(j.id, "node-a", {j.element_id: j.element_id}) for j in jobs_a]
    calls += [lambda j=j: b.complete_job(j.id, "node-b", {j.element_id: j.element_id}) for j in jobs_b]
    results = _at_once(calls)
    assert [r for r in results if r is not None] == []
    final = b.get_instance(inst.id)
    assert {f"call{n}" for n in range(1, BRANCHES + 1)} <= set(final.variables), "a branch's result was lost"
    assert [t.name for t in a.tasks(instance_id=inst.id)] == ["After"], "the join passed more than once, or never"
    assert _version(a, inst.id) == before + BRANCHES, "a report was applied twice or not at all"
    history = a.history(inst.id)
    done = collections.Counter(h.element_id for h in history if h.event == "activity_completed")
    assert all(done[f"call{n}"] == 1 and done[f"busy{n}"] == 1 for n in range(1, BRANCHES + 1)), done
    assert done["join"] == 1
    completed = [h.details["job_id"] for h in history if h.event == "job_completed"]
    assert sorted(completed) == sorted(j.id for j in jobs_a + jobs_b)
    assert a.jobs() == []


def test_one_result_reported_through_two_engines_at_once_is_applied_once(two_engines):
    """A worker that reports again (it did not see the first answer) through another node: one applies it."""
    a, b = two_engines
    a.deploy_bytes([("race.bpmn", _diagram())])
    inst = a.start("race")
    [job] = a.claim_jobs("node-a", ["t"], limit=1)
    before = _version(a, inst.id)
    results = _at_once(
        [lambda: a.complete_job(job.id, "node-a", {"n": 1}), lambda: b.complete_job(job.id, "node-a", {"n": 2})]
    )
    # the loser is told clearly: the job is gone, its lease is gone, or (it read the job just before the winner
    # committed) its task no longer waits for it
    assert sorted(type(r).__name__ for r in results) in (["JobNotFound", "NoneType"], ["LockLost", "NoneType"],
                                                         ["InvalidStateError", "NoneType"])
    assert all(r is None or isinstance(r, JobNotFound | LockLost | InvalidStateError) for r in results)
    assert _version(a, inst.id) == before + 1
    history = a.history(inst.id)
    assert [h.details["job_id"] for h in history if h.event == "job_completed"] == [job.id]
    assert sum(1 for h in history if h.event == "activity_completed" and h.element_id == job.element_id) == 1
