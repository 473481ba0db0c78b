"""``/metrics`` in Prometheus text format, parsed with prometheus_client's own parser and checked against
what the test did: instances, activity durations, jobs, incidents, circuit breakers, timer lateness.

The figures come from the database at scrape time, so a second engine (another node) over the same
database serves the same numbers.  The dashboard page shows the same figures.  SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, bearer
from helpers import chain, process_xml, script, service_task, user_task
from prometheus_client.parser import text_string_to_metric_families
from test_timers import catch_process

from engine import Engine


@pytest.fixture
def engine(eng):
    """The app and client fixtures run over the clock-driven engine (timer lateness is exact)."""
    return eng


def scrape(client) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label pairs: value}} from GET /metrics."""
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@pytest.fixture
def activity(eng, clock):
    """Approvals (2 waiting, 1 auto-approved, 1 approved by a person, 1 cancelled), a failed instance,
    jobs (one failed then retried, one incident with an open circuit, one still queued) and a late timer."""
    eng.deploy([EXAMPLES / "approval.bpmn"])
    eng.deploy_bytes([("boom.bpmn", process_xml("boom", chain(script("x = 1 / 0")))),
                      ("jobs.bpmn", process_xml("jobs", chain(service_task("flaky"), user_task("After")))),
                      ("queue.bpmn", process_xml("queue", chain(service_task("mail")))),
                      ("delay.bpmn", catch_process("delay", "timeDuration", '"PT10S"'))])
    waiting = [eng.start("approval", {"amount": 500 + n}) for n in range(3)]
    eng.start("approval", {"amount": 5})
    eng.cancel(eng.start("approval", {"amount": 900}).id)
    review = eng.get_instance(waiting[0].id).tasks[0]
    eng.complete_task(review.id, {"approved": True})
    eng.start("boom", {})
    eng.start("jobs", {})
    [job] = eng.claim_jobs("w", ["flaky"])
    eng.fail_job(job.id, "w", "timeout", retry_in=0)
    [job] = eng.claim_jobs("w", ["flaky"])
    eng.fail_job(job.id, "w", "HTTP 400", retryable=False, circuit=(1, 60.0))
    eng.start("queue", {})
    eng.start("delay", {})
    clock.advance(15)
    fired = eng.fire_due_timers()
    assert [round(f["late_by"]) for f in fired] == [5]
    return {"waiting": waiting}


def test_metrics_count_what_happened(client, activity):
    m = scrape(client)
    assert m["baton_instances_started_total"][(("process_key", "approval"),)] == 5
    assert m["baton_instances_completed_total"][(("process_key", "approval"),)] == 2
    assert m["baton_instances_cancelled_total"][(("process_key", "approval"),)] == 1
    assert m["baton_instances_failed_total"][(("process_key", "boom"),)] == 1
    assert m["baton_instances_started_total"][(("process_key", "delay"),)] == 1
    assert m["baton_instances"][(("status", "waiting"),)] == 2
    review = (("element_id", "Task_Review"), ("process_key", "approval"))
    assert m["baton_activity_duration_seconds_count"][review] == 1
    assert m["baton_activity_duration_seconds_bucket"][(("element_id", "Task_Review"), ("le", "+Inf"),
                                                          ("process_key", "approval"))] == 1
    assert not any(dict(labels)["element_id"].startswith("StartEvent")
                   for labels in m["baton_activity_duration_seconds_count"])


def test_metrics_show_jobs_incidents_circuits_and_timer_lateness(client, activity, clock):
    clock.advance(30)
    m = scrape(client)
    assert m["baton_job_queue_depth"] == {(("status", "ready"), ("topic", "mail")): 1,
                                          (("status", "incident"), ("topic", "flaky")): 1}
    assert m["baton_job_queue_oldest_age_seconds"][(("status", "ready"), ("topic", "mail"))] == pytest.approx(45)
    flaky = (("topic", "flaky"),)
    assert m["baton_job_attempts_total"][flaky] == 2
    assert m["baton_job_failures_total"][flaky] == 2
    assert m["baton_job_retries_total"][flaky] == 1
    assert m["baton_job_incidents_total"][flaky] == 1
    assert m["baton_incidents_open"] == {(("process_key", "jobs"), ("topic", "flaky")): 1}
    assert m["baton_circuit_state"][(("state", "open"), ("topic", "flaky"))] == 1
    assert m["baton_circuit_state"][(("state", "closed"), ("topic", "flaky"))] == 0
    assert m["baton_timer_lateness_seconds_count"][()] == 1
    assert m["baton_timer_lateness_seconds_sum"][()] == pytest.approx(5)
    assert m["baton_timer_lateness_seconds_bucket"][(("le", "2.0"),)] == 0
    assert m["baton_timer_lateness_seconds_bucket"][(("le", "5.0"),)] == 1


def test_a_retried_incident_counts_as_a_retry(client, activity, eng):
    [incident] = eng.incidents()
    eng.retry_incident(incident.id)
    m = scrape(client)
    assert m["baton_job_retries_total"][(("topic", "flaky"),)] == 2
    assert "baton_incidents_open" not in m  # no open incident, no series


def test_every_node_serves_the_same_figures(client, activity, settings, clock):
    from web import create_app

    other = Engine(settings, clock=clock)  # a second process over the same database
    try:
        first = scrape(client)
        second_client = create_app({"SECRET_KEY": "metrics test"}, engine=other).test_client()
        second_client.environ_base["HTTP_AUTHORIZATION"] = bearer(other, "operator")["Authorization"]
        second = scrape(second_client)
    finally:
        other.close()
    assert first == second


def test_the_dashboard_shows_the_same_figures(client, activity):
    html = client.get("/dashboard").get_data(as_text=True)
    assert '<b data-figure="started">9</b>' in html  # 5 approvals, boom, jobs, queue and delay
    assert '<b data-figure="completed">3</b>' in html  # auto-approved, approved, delay
