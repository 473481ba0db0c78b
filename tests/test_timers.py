"""Timers: values as editors write them, every kind of timer event, restarts and several nodes.

Time is the test's clock (``eng`` reads ``clock``); ``fire_due_timers`` is what the scheduler calls.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from helpers import Clock, process_xml

from engine import Engine
from engine.errors import ModelError
from engine.timers import add_duration, advance, literal_kind, next_cron, parse_cycle, parse_date


def timer(kind: str, value: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:{kind}>{value}</bpmn:{kind}></bpmn:timerEventDefinition>"


def flows(*pairs: tuple[str, str]) -> str:
    return "\n".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in
                     enumerate(pairs))


def catch_process(pid: str, kind: str, value: str) -> bytes:
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:intermediateCatchEvent id="wait">{timer(kind, value)}</bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="after"><bpmn:script>done = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    {flows(("s", "wait"), ("wait", "after"), ("after", "e"))}"""
    return process_xml(pid, body)


def completed_elements(eng: Engine, instance_id: str) -> list[str]:
    return [h.element_id for h in eng.history(instance_id) if h.event == "activity_completed"]


# ---- values ---------------------------------------------------------------------------------------------

def test_literal_kinds_as_editors_write_them():
    assert literal_kind("PT5M") == "duration"
    assert literal_kind("P1DT2H") == "duration"
    assert literal_kind("2026-12-01T09:00:00Z") == "date"
    assert literal_kind("R3/PT10M") == "cycle"
    assert literal_kind("R/2026-01-01T00:00:00Z/P1D") == "cycle"
    assert literal_kind("0 0/5 * * * ?") == "cron"
    assert literal_kind("*/10 * * * *") == "cron"
    assert literal_kind("delay") is None and literal_kind('"PT5M"') is None


def test_dates_without_a_zone_are_utc_unless_configured():
    assert parse_date("2026-12-01T09:00:00") == dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    from zoneinfo import ZoneInfo
    assert parse_date("2026-12-01T09:00:00", ZoneInfo("Europe/Berlin")) == dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


def test_durations_cycles_and_cron_schedules():
    start = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    assert add_duration("P1M", start) == dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC)  # 31 days of January
    cycle = parse_cycle("R3/PT10M", start)
    assert (cycle.repeat, cycle.first, cycle.period) == (3, start + dt.timedelta(minutes=10), dt.timedelta(minutes=10))
    # Quartz: second minute hour day month day-of-week (6 = Friday)
    assert next_cron("0 30 9 ? * 6", start) == dt.datetime(2026, 2, 6, 9, 30, tzinfo=dt.UTC)
    assert next_cron("0 0/5 * * * ?", start) == dt.datetime(2026, 1, 31, 12, 5, tzinfo=dt.UTC)
    assert next_cron("15 10 * * *", start) == dt.datetime(2026, 2, 1, 10, 15, tzinfo=dt.UTC)


def test_a_missed_cycle_moves_to_the_next_future_due_time_once():
    value = {"next": "2026-01-01T12:00:00+00:00", "duration": 600.0, "cron": None}
    now = dt.datetime(2026, 1, 1, 13, 5, tzinfo=dt.UTC)  # 6 periods and a half missed
    assert advance(value, now) == dt.datetime(2026, 1, 1, 13, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("kind, value, problem", [
    ("timeDuration", "PT5X", "not a valid timer value"),
    ("timeDate", "2026-13-45T00:00:00Z", "not an ISO 8601 date"),
    ("timeCycle", "0 0 25 * * ?", "not a valid cron expression"),
    ("timeDuration", "${delay +}", "cannot be translated to Python: the expression ends too early"),
])
def test_bad_timer_values_are_refused_at_deploy_with_the_element(engine, kind, value, problem):
    with pytest.raises(ModelError) as err:
        engine.deploy_bytes([("bad.bpmn", catch_process("bad", kind, value))])
    assert problem in str(err.value) and err.value.details["element_id"] == "wait"
    assert err.value.details["line"] and engine.definitions() == []


# ---- intermediate timers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["PT5M", "${delay}", "=delay", '"PT5M"', "'PT' + str(minutes) + 'M'"])
def test_intermediate_timer_fires_once_its_due_time_has_passed(eng, clock, value):
    eng.deploy_bytes([("t.bpmn", catch_process("wait5", "timeDuration", value))])
    inst = eng.start("wait5", variables={"delay": "PT5M", "minutes": 5})
    assert inst.status == "waiting"
    [armed] = eng.timers(inst.id)
    assert armed["due_at"] == clock() + dt.timedelta(minutes=5)
    clock.advance(299)
    assert eng.fire_due_timers() == [] and eng.get_instance(inst.id).status == "waiting"
    clock.advance(1)
    [fired] = eng.fire_due_timers()
    assert fired["instance_id"] == inst.id and fired["late_by"] == 0
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["done"] is True
    assert eng.timers() == []
    assert "timer_fired" in [h.event for h in eng.history(inst.id)]


def test_time_date_timer_and_past_dates_fire_right_after_the_start(eng, clock):
    eng.deploy_bytes([("d.bpmn", catch_process("at_date", "timeDate", "2026-01-01T13:00:00Z"))])
    inst = eng.start("at_date")
    assert eng.timers(inst.id)[0]["due_at"] == dt.datetime(2026, 1, 1, 13, tzinfo=dt.UTC)
    clock.advance(3600)
    eng.fire_due_timers()
    assert eng.get_instance(inst.id).status == "completed"
    eng.deploy_bytes([("p.bpmn", catch_process("past", "timeDate", "2020-01-01T00:00:00Z"))])
    past = eng.start("past")  # already due: armed due now, it fires once the start has committed (as in Camunda)
    assert past.status == "waiting"
    assert eng.timers(past.id)[0]["due_at"] <= clock()
    assert len(eng.fire_due_timers()) == 1  # without moving the clock
    assert eng.get_instance(past.id).status == "completed"


def test_an_intermediate_cycle_fires_once_and_goes_on(eng, clock):
    eng.deploy_bytes([("c.bpmn", catch_process("cyc", "timeCycle", "R3/PT1M"))])
    inst = eng.start("cyc")
    clock.advance(60)
    eng.fire_due_timers()
    assert eng.get_instance(inst.id).status == "completed"


def test_restart_between_arming_and_firing_loses_nothing(settings, clock):
    first = Engine(settings, clock=clock)
    first.deploy_bytes([("t.bpmn", catch_process("restart", "timeDuration", "PT10M"))])
    inst = first.start("restart")
    first.close()
    clock.advance(3600)  # the node was down for an hour: the overdue timer fires once on restart
    second = Engine(settings, clock=clock)
    try:
        [fired] = second.fire_due_timers()
        assert fired["late_by"] == 3000
        assert second.get_instance(inst.id).status == "completed"
        assert second.fire_due_timers() == []
    finally:
        second.close()


def test_two_nodes_racing_on_the_same_due_timers_fire_each_once(settings, clock):
    nodes = [Engine(settings, clock=clock) for _ in range(2)]
    try:
        nodes[0].deploy_bytes([("t.bpmn", catch_process("race", "timeDuration", "PT1M"))])
        ids = [nodes[0].start("race").id for _ in range(10)]
        clock.advance(61)
        fired: list[list[dict]] = [[], []]
        barrier = threading.Barrier(2)

        def fire(n: int) -> None:
            barrier.wait()
            fired[n] = nodes[n].fire_due_timers()

        threads = [threading.Thread(target=fire, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fired_ids = sorted(f["instance_id"] for f in fired[0] + fired[1])
        assert fired_ids == sorted(ids)  # every timer fired, none twice
        for instance_id in ids:
            assert nodes[1].get_instance(instance_id).status == "completed"
            events = [h.event for h in nodes[1].history(instance_id)]
            assert events.count("timer_fired") == 1 and events.count("instance_completed") == 1
    finally:
        for node in nodes:
            node.close()


# ---- boundary timers ------------------------------------------------------------------------------------

def boundary_process(pid: str, value: str, interrupting: bool, kind: str = "timeDuration") -> bytes:
    cancel = "true" if interrupting else "false"
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:userTask id="work" name="Work"/>
    <bpmn:boundaryEvent id="late" attachedToRef="work" cancelActivity="{cancel}">{timer(kind, value)}</bpmn:boundaryEvent>
    <bpmn:scriptTask id="nudge"><bpmn:script>reminded = True</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="escalated" name="Escalated"/>
    <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>
    {flows(("s", "work"), ("work", "e1"), ("late", "nudge"), ("nudge", "escalated"), ("escalated", "e2"))}"""
    return process_xml(pid, body)


def test_interrupting_boundary_timer_cancels_the_task(eng, clock):
    eng.deploy_bytes([("b.bpmn", boundary_process("sla", "PT1H", interrupting=True))])
    inst = eng.start("sla")
    clock.advance(3600)
    eng.fire_due_timers()
    names = [t.name for t in eng.tasks(instance_id=inst.id)]
    assert names == ["Escalated"]
    events = [(h.event, h.element_id) for h in eng.history(inst.id)]
    assert ("activity_cancelled", "work") in events


def test_a_task_done_in_time_disarms_its_boundary_timer(eng, clock):
    eng.deploy_bytes([("b.bpmn", boundary_process("sla2", "PT1H", interrupting=True))])
    inst = eng.start("sla2")
    assert len(eng.timers(inst.id)) == 1
    eng.complete_task(eng.tasks(instance_id=inst.id)[0].id)
    assert eng.timers() == [] and eng.get_instance(inst.id).status == "completed"


def test_non_interrupting_cycle_reminds_every_period_until_done(eng, clock):
    eng.deploy_bytes([("b.bpmn", boundary_process("reminders", "R2/PT10M", interrupting=False, kind="timeCycle"))])
    inst = eng.start("reminders")
    for _ in range(2):
        clock.advance(600)
        assert len(eng.fire_due_timers()) == 1
    names = sorted(t.name for t in eng.tasks(instance_id=inst.id))
    assert names == ["Escalated", "Escalated", "Work"]  # the task is still there, reminded twice
    clock.advance(600)
    assert eng.fire_due_timers() == []  # R2: two repetitions only
    assert eng.timers(inst.id) == []


def test_missed_cycle_periods_fire_once_after_downtime(eng, clock):
    eng.deploy_bytes([("b.bpmn", boundary_process("missed", "R/PT10M", interrupting=False, kind="timeCycle"))])
    inst = eng.start("missed")
    clock.advance(3600 + 5)  # six periods passed while nobody looked
    assert len(eng.fire_due_timers()) == 1
    assert eng.fire_due_timers() == []
    assert [t.name for t in eng.tasks(instance_id=inst.id)].count("Escalated") == 1
    assert eng.timers(inst.id)[0]["due_at"] == dt.datetime(2026, 1, 1, 13, 10, tzinfo=dt.UTC)


# ---- event-based gateway ----------------------------------------------------------------------------------

def test_timer_in_an_event_based_gateway_wins_when_no_message_comes(eng, clock):
    body = f"""
    <bpmn:startEvent id="s"/>
    <bpmn:eventBasedGateway id="gw"/>
    <bpmn:intermediateCatchEvent id="paid"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="timeout">{timer("timeDuration", "P1D")}</bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="ship"><bpmn:script>outcome = "shipped"</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="drop"><bpmn:script>outcome = "dropped"</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>
    {flows(("s", "gw"), ("gw", "paid"), ("gw", "timeout"), ("paid", "ship"), ("ship", "e1"),
           ("timeout", "drop"), ("drop", "e2"))}"""
    xml = process_xml("order_wait", body, extra='<bpmn:message id="m" name="payment"/>')
    eng.deploy_bytes([("g.bpmn", xml)])
    late, on_time = eng.start("order_wait"), eng.start("order_wait")
    assert len(eng.timers()) == 2
    clock.advance(3600)
    eng.correlate_message("payment", variables={"amount": 5}, deliver_all=False)
    clock.advance(86400)
    eng.fire_due_timers()
    outcomes = {eng.get_instance(i.id).variables.get("outcome") for i in (late, on_time)}
    assert outcomes == {"shipped", "dropped"}
    assert eng.timers() == []


# ---- timer start events ----------------------------------------------------------------------------------

def start_timer_process(pid: str, kind: str, value: str) -> bytes:
    body = f"""
    <bpmn:startEvent id="tick">{timer(kind, value)}</bpmn:startEvent>
    <bpmn:scriptTask id="work"><bpmn:script>ran = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"/>
    {flows(("tick", "work"), ("work", "e"))}"""
    return process_xml(pid, body)


def test_timer_start_event_with_a_cycle_starts_one_instance_per_period(eng, clock):
    eng.deploy_bytes([("s.bpmn", start_timer_process("nightly", "timeCycle", "R3/PT1H"))])
    [armed] = eng.timers()
    assert armed["start"] and armed["due_at"] == clock() + dt.timedelta(hours=1)
    for hour in range(1, 5):
        clock.advance(3600)
        eng.fire_due_timers()
        assert len(eng.instances(key="nightly")) == min(hour, 3)
    assert all(i.status == "completed" and i.variables["ran"] for i in eng.instances(key="nightly"))
    assert eng.timers() == []


def test_cron_start_event_and_a_new_version_replaces_the_schedule(eng, clock):
    eng.deploy_bytes([("s.bpmn", start_timer_process("cron", "timeCycle", "0 0 * * * ?"))])  # every hour
    assert eng.timers()[0]["due_at"] == dt.datetime(2026, 1, 1, 13, tzinfo=dt.UTC)
    eng.deploy_bytes([("s.bpmn", start_timer_process("cron", "timeCycle", "0 30 * * * ?"))])
    [armed] = eng.timers()
    assert armed["due_at"] == dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)
    clock.advance(1800)
    eng.fire_due_timers()
    [inst] = eng.instances(key="cron")
    assert inst.process_version == 2
    assert eng.timers()[0]["due_at"] == dt.datetime(2026, 1, 1, 13, 30, tzinfo=dt.UTC)


def test_a_process_with_only_a_timer_start_can_be_started_by_hand(eng):
    eng.deploy_bytes([("s.bpmn", start_timer_process("manual", "timeDate", "2030-01-01T00:00:00Z"))])
    assert eng.start("manual").status == "completed"


def test_overdue_start_timer_fires_once_after_downtime(settings):
    clock = Clock()
    eng = Engine(settings, clock=clock)
    try:
        eng.deploy_bytes([("s.bpmn", start_timer_process("every_min", "timeCycle", "R/PT1M"))])
        clock.advance(3600)
        eng.fire_due_timers()
        assert len(eng.instances(key="every_min")) == 1
        assert eng.timers()[0]["due_at"] == clock() + dt.timedelta(minutes=1)
    finally:
        eng.close()


# ---- the example ----------------------------------------------------------------------------------------

EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "bpmn" / "examples" / "payment_reminder.bpmn"


def test_payment_reminder_example_reminds_daily_then_the_payment_ships(eng, clock):
    eng.deploy([EXAMPLE])
    inst = eng.start("payment_reminder", variables={"order_id": 17}, business_key="ORDER-17")
    assert len(eng.timers(inst.id)) == 2  # the daily reminder and the week
    clock.advance(86400)
    eng.fire_due_timers()
    reminded = [h for h in eng.history(inst.id) if h.event == "activity_completed" and h.element_id == "Task_SendReminder"]
    assert len(reminded) == 1 and eng.get_instance(inst.id).status == "waiting"
    eng.correlate_message("payment-received", business_key="ORDER-17", variables={"amount": 12.5})
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["status"] == "paid 12.5, shipping"
    assert eng.timers() == []


def test_payment_reminder_example_cancels_after_a_week_without_payment(eng, clock):
    eng.deploy([EXAMPLE])
    inst = eng.start("payment_reminder", variables={"order_id": 18}, business_key="ORDER-18")
    for _ in range(7):
        clock.advance(86400)
        eng.fire_due_timers()
    done = eng.get_instance(inst.id)
    assert done.status == "completed" and done.variables["status"].startswith("cancelled")
    completed = [h.element_id for h in eng.history(inst.id) if h.event == "activity_completed"]
    assert completed.count("Task_SendReminder") == 3 and "EndEvent_Cancelled" in completed
