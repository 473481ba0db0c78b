"""The ``baton agents`` commands: how the agents perform (calls, success, durations, retries, cost)."""

from __future__ import annotations

from typing import Any

import click

from .cli import emit, json_option, main, open_engine, pass_settings
from .config import Settings
from .durations import parse_duration
from .errors import ConfigurationError


@main.group()
def agents() -> None:
    """What the agents did: figures from every recorded call."""


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


@agents.command("stats")
@click.option(
    "--since",
    default=None,
    metavar="DURATION",
    help="Only calls that finished in this last span: seconds or ISO 8601 (PT1H, P1D).",
)
@click.option("--agent", "topic", default=None, help="Only this agent (its topic).")
@json_option
@pass_settings
def stats(settings: Settings, since: str | None, topic: str | None, as_json: bool) -> None:
    """Per agent: calls, success rate, p50/p95 call time, retries and the cost agents reported (_cost).

    A call succeeds when the agent answered, with a result or a modelled BPMN error; failed and timed-out
    calls do not.  A retry is a call of attempt 2 or later.
    """
    try:
        window = parse_duration(since) if since else None
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    eng = open_engine(settings)
    try:
        rows = eng.agent_stats(window, topic)
    finally:
        eng.close()
    data = [{k: v for k, v in r.items() if k != "durations"} for r in rows]
    emit(as_json, data, lambda: _print(rows))


def _print(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("no agent calls recorded")
        return
    click.echo(f"{'AGENT':<24} {'CALLS':>6} {'SUCCESS':>8} {'P50':>9} {'P95':>9} {'RETRIES':>8}  COST")
    for r in rows:
        cost = ", ".join(f"{total:g} {unit}" for unit, total in r["cost"].items()) or "-"
        click.echo(
            f"{r['topic']:<24} {r['calls']:>6} {r['success_rate'] * 100:>7.0f}% {_seconds(r['p50']):>9} "
            f"{_seconds(r['p95']):>9} {r['retries']:>8}  {cost}"
        )
