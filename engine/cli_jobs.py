"""The ``baton`` commands about jobs: retry, incidents, jobs, circuits, worker."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from . import logs
from .cli import (
    emit,
    json_option,
    main,
    open_engine,
    open_node_engine,
    parse_vars,
    pass_settings,
    print_outcome,
    var_option,
    vars_json_option,
    when,
)
from .config import Settings


@main.command()
@click.argument("target", required=False)
@click.option("--topic", default=None, help="Retry every open incident of this topic.")
@click.option("--key", default=None, help="Retry every open incident of this process key.")
@var_option
@vars_json_option
@pass_settings
def retry(settings: Settings, target: str | None, topic: str | None, key: str | None, var: tuple[str, ...],
          vars_json: str | None) -> None:
    """Retry what failed: an INCIDENT id, an instance id, or every incident of --topic / --key.

    An incident's job gets fresh attempts; a failed instance runs its failed step again; an instance with
    incidents has each of them retried.  --var changes variables first.
    """
    variables = parse_vars(var, vars_json)
    if (target is None) == (topic is None and key is None):
        raise click.UsageError("give an incident or instance id, or --topic / --key (not both)")
    with open_engine(settings) as eng:
        if target is None:
            found = eng.incidents(topic=topic, key=key, limit=100_000)
            with click.progressbar(length=len(found), label=f"Retrying {len(found)} incident(s)",
                                   file=sys.stderr) as bar:
                jobs = eng.retry_incidents(topic=topic, key=key, variables=variables,
                                           progress=lambda _incident: bar.update(1))
            click.echo(f"{len(jobs)} incident(s) retried")
            return
        if _is_incident(eng, target):
            job = eng.retry_incident(target, variables)
            click.echo(f"incident {target} retried: job {job.id} is due again (topic {job.topic})")
            return
        inst = eng.get_instance(target)
        if inst.status == "incident":
            jobs = eng.retry_incidents(instance_id=target, variables=variables)
            click.echo(f"{inst.id} {len(jobs)} incident(s) retried")
            return
        inst = eng.retry(target, variables)
    print_outcome(inst)


def _is_incident(eng: Any, target: str) -> bool:
    from .errors import NotFoundError

    try:
        eng.get_incident(target)
    except NotFoundError:
        return False
    return True


@main.command()
@click.option("--all", "show_all", is_flag=True, help="Also resolved incidents.")
@click.option("--topic", default=None)
@click.option("--key", default=None, help="Only incidents of this process key.")
@json_option
@pass_settings
def incidents(settings: Settings, show_all: bool, topic: str | None, key: str | None, as_json: bool) -> None:
    """List incidents: jobs that ran out of attempts or failed for good (the dead-letter queue)."""
    with open_engine(settings) as eng:
        found = eng.incidents(open_only=not show_all, topic=topic, key=key)

    def text() -> None:
        if not found:
            click.echo("no incidents")
        for i in found:
            state = f"  [{i.resolution}]" if i.resolved_at else ""
            click.echo(f"{i.id}  {i.topic}  {i.process_key}/{i.element_name or i.element_id}  "
                       f"instance={i.instance_id}  attempts={i.attempts}{state}")
            click.echo(f"    {i.message}")
            tail = (i.details or {}).get("stderr") or (i.details or {}).get("body") or ""
            if tail:
                click.echo("    " + str(tail).strip().splitlines()[-1][:200])

    emit(as_json, [i.to_dict() for i in found], text)


@main.command()
@click.option("--status", type=click.Choice(["ready", "locked", "incident"]))
@click.option("--topic", default=None)
@click.option("--instance", "instance_id", default=None)
@json_option
@pass_settings
def jobs(settings: Settings, status: str | None, topic: str | None, instance_id: str | None, as_json: bool) -> None:
    """List open jobs (service tasks waiting for an agent or an external worker)."""
    with open_engine(settings) as eng:
        found = eng.jobs(status=status, topic=topic, instance_id=instance_id)

    def text() -> None:
        if not found:
            click.echo("no jobs")
        for j in found:
            lock = f" by {j.lock_owner} until {when(j.lock_expires_at)}" if j.status == "locked" else ""
            click.echo(f"{j.id}  {j.topic:<20} {j.status}{lock}  attempt {j.attempt}/{j.max_attempts}  "
                       f"due {when(j.due_at)}  instance={j.instance_id}")

    emit(as_json, [j.to_dict() for j in found], text)


@main.command()
@json_option
@pass_settings
def circuits(settings: Settings, as_json: bool) -> None:
    """Show the circuit breaker of every topic that has failed (closed, open, half_open)."""
    with open_engine(settings) as eng:
        found = eng.circuits()

    def text() -> None:
        if not found:
            click.echo("no circuit has tripped (all closed)")
        for c in found:
            until = f" until {when(c.opened_until)}" if c.state != "closed" else ""
            click.echo(f"{c.topic:<24} {c.state}{until}  consecutive failures {c.failures}")

    emit(as_json, [c.to_dict() for c in found], text)


@main.command()
@click.option("--threads", type=int, default=None, help="Agent calls run at once [baton.toml [worker] threads; 4].")
@click.option("--topic", "topics", multiple=True, help="Only these topics (default: every configured agent).")
@click.option("--id", "worker_id", default=None, help="Worker id shown in locks and logs (default host:pid:random).")
@click.option("--once", is_flag=True, help="Run the jobs that are due now, one after another, then exit.")
@click.option("--lease", type=float, default=None, metavar="SECONDS",
              help="Renew running jobs' leases so a dead worker's jobs run elsewhere within SECONDS (1 or more) "
                   "[BATON_JOB_LEASE; 0: a lease lasts the job's timeout].")
@pass_settings
def worker(settings: Settings, threads: int | None, topics: tuple[str, ...], worker_id: str | None,
           once: bool, lease: float | None) -> None:
    """Run a worker node: fire due timers, claim jobs of the agents in baton.toml and run them (Ctrl+C to stop).

    Every worker also runs the engine's continuation jobs (the steps after a camunda:asyncBefore /
    asyncAfter boundary), even with no agent configured.  SIGHUP closes the node's database connections
    (new ones are opened as needed), e.g. after a database failover.
    """
    from .agents import load_config
    from .scheduler import TimerScheduler
    from .worker import Worker

    logs.configure(settings.log_level, settings.log_format)
    config = load_config(settings.config)
    agents = {t: a for t, a in config.agents.items() if not topics or t in topics}
    unknown = sorted(set(topics) - set(config.agents))
    if unknown:
        raise click.UsageError(f"no agent is configured for topic(s) {', '.join(unknown)} in baton.toml")
    if lease is not None:
        settings = settings.replace(job_lease=lease)
    eng = open_node_engine(settings)
    node = Worker(eng, agents, threads=threads or config.worker.threads, poll=config.worker.poll,
                  worker_id=worker_id)
    if once:
        try:
            ran = 0
            while (count := node.run_once()):
                ran += count
            click.echo(f"ran {ran} job(s)", err=True)
        finally:
            node.stop()
            eng.close()
        return
    _reconnect_on_sighup(eng)
    timers = TimerScheduler(eng)
    timers.start()
    try:
        if not agents:
            click.echo("no agents are configured in baton.toml: this node fires timers and runs continuation jobs"
                       " (Ctrl+C to stop)", err=True)
        click.echo(f"worker {node.worker_id} running {', '.join(node.topics)} with {node.threads} thread(s)"
                   " and the timer scheduler", err=True)
        node.run_forever()
    finally:
        timers.stop()
        eng.close()


def _reconnect_on_sighup(eng: Any) -> None:
    """SIGHUP: drop the pooled database connections (those in use are dropped when given back)."""
    if not hasattr(signal, "SIGHUP"):  # Windows
        return

    def reconnect(_signum: int, _frame: Any) -> None:
        eng.db.dispose()
        logging.getLogger("baton.worker").info("database connection pool restarted (SIGHUP)")

    signal.signal(signal.SIGHUP, reconnect)
