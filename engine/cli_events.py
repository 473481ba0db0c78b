"""The ``baton`` commands about events: message, signal, timers."""

from __future__ import annotations

import click

from .cli import emit, json_option, main, open_engine, parse_vars, pass_settings, var_option, vars_json_option, when
from .config import Settings
from .events import Correlation


def _print_correlation(found: Correlation, what: str) -> None:
    for instance_id in found.delivered_to:
        click.echo(f"delivered to instance {instance_id}")
    for instance_id in found.started:
        click.echo(f"started instance {instance_id}")
    if found.buffered_id:
        click.echo(f"no subscription yet: {what} kept as {found.buffered_id} until one appears or it expires")
    if not (found.delivered_to or found.started or found.buffered_id):
        click.echo(f"no instance waits for {what}")


@main.command()
@click.argument("name")
@click.option("--correlation-key", default=None, help="Only the instance whose subscription has this key.")
@click.option("--business-key", default=None, help="Only the instance with this business key.")
@click.option("--match", "match", multiple=True, metavar="NAME=VALUE",
              help="Only an instance whose variable NAME equals VALUE (read as JSON, else text). Repeatable.")
@click.option("--ttl", type=float, default=None,
              help="Seconds to keep the message when nothing waits for it yet (delivered when something does).")
@click.option("--all", "deliver_all", is_flag=True, help="Deliver to every matching instance, not only the oldest.")
@var_option
@vars_json_option
@json_option
@pass_settings
def message(settings: Settings, name: str, correlation_key: str | None, business_key: str | None,
            match: tuple[str, ...], ttl: float | None, deliver_all: bool, var: tuple[str, ...],
            vars_json: str | None, as_json: bool) -> None:
    """Send message NAME to the instance waiting for it, or start an instance through a message start event."""
    variables = parse_vars(var, vars_json)
    with open_engine(settings) as eng:
        found = eng.correlate_message(name, correlation_key=correlation_key, business_key=business_key,
                                      variables=variables, match=parse_vars(match, None), ttl=ttl,
                                      deliver_all=deliver_all)
    emit(as_json, found.to_dict(), lambda: _print_correlation(found, f"message {name!r}"))


@main.command()
@click.argument("name")
@var_option
@vars_json_option
@json_option
@pass_settings
def signal(settings: Settings, name: str, var: tuple[str, ...], vars_json: str | None, as_json: bool) -> None:
    """Broadcast signal NAME to every waiting instance and every process with that signal start event."""
    variables = parse_vars(var, vars_json)
    with open_engine(settings) as eng:
        found = eng.broadcast_signal(name, variables)
    emit(as_json, found.to_dict(), lambda: _print_correlation(found, f"signal {name!r}"))


@main.command()
@click.option("--instance", "instance_id", default=None, help="Only the timers of this instance.")
@click.option("--fire", is_flag=True, help="Fire the timers that are due now (a running scheduler does it anyway).")
@json_option
@pass_settings
def timers(settings: Settings, instance_id: str | None, fire: bool, as_json: bool) -> None:
    """List armed timers, soonest first (start timers of processes and timers of waiting instances)."""
    with open_engine(settings) as eng:
        fired = eng.fire_due_timers() if fire else []
        found = eng.timers(instance_id)

    def text() -> None:
        for f in fired:
            click.echo(f"fired {f['element_id']} of {f['process_key']} (late by {f['late_by']:.1f} s)")
        if not found:
            click.echo("no timers are armed")
        for t in found:
            owner = "start of a new instance" if t["start"] else f"instance {t['instance_id']}"
            click.echo(f"{when(t['due_at'])}  {t['process_key']}:{t['element_id']}  {owner}")

    emit(as_json, {"fired": fired, "timers": found}, text)
