"""The ``baton`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import logs
from .config import Settings
from .errors import BatonError
from .execution import STATUSES
from .records import Instance

pass_settings = click.make_pass_decorator(Settings)


def open_engine(settings: Settings) -> Any:
    from .runtime import Engine

    return Engine(settings)


def open_node_engine(settings: Settings) -> Any:
    """The engine of a long-running node (``baton serve``, ``baton worker``): while the database cannot be
    reached yet (it is starting, restarting, or the node came up first), wait with backoff instead of exiting."""
    import logging
    import time

    from .errors import DatabaseUnavailable
    from .reconnect import Reconnect

    retry = Reconnect.of(settings, "connecting at start-up", logging.getLogger("baton.cli"))
    while True:
        try:
            eng = open_engine(settings)
        except DatabaseUnavailable as exc:
            time.sleep(retry.failed(exc))
            continue
        retry.succeeded()
        return eng


def parse_vars(pairs: tuple[str, ...], vars_json: str | None) -> dict[str, Any]:
    """``name=value`` pairs (values read as JSON when they parse, else as text) over a JSON file."""
    variables: dict[str, Any] = {}
    if vars_json:
        try:
            loaded = json.loads(Path(vars_json).read_text())
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{vars_json}: {exc}", param_hint="--vars-json") from exc
        if not isinstance(loaded, dict):
            raise click.BadParameter(f"{vars_json} must hold a JSON object", param_hint="--vars-json")
        variables.update(loaded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--var")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        variables[name.strip()] = value
    return variables


var_option = click.option("--var", "var", multiple=True, metavar="NAME=VALUE",
                          help="A variable; VALUE is read as JSON (42, true, \"text\", [1,2]) or else as text. "
                               "Repeat for several.")
vars_json_option = click.option("--vars-json", type=click.Path(exists=True, dir_okay=False),
                                help="A JSON file with an object of variables (--var wins over it).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        text()


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _print_instance_line(inst: Instance) -> None:
    click.echo(f"{inst.id}  {inst.status:<9}  {inst.process_key} v{inst.process_version}"
               f"  {inst.business_key or '-'}  {when(inst.created_at)}  {inst.current_activity}")


def _print_tasks(tasks: list[Any]) -> None:
    for t in tasks:
        fields = ", ".join(f"{f['id']}:{f['type']}" for f in (t.form or {}).get("fields", []))
        who = [f"assignee={t.assignee}"] if t.assignee else []
        who += [f"users={','.join(t.candidate_users)}"] if t.candidate_users else []
        who += [f"groups={','.join(t.candidate_groups)}"] if t.candidate_groups else []
        click.echo(f"{t.id}  {t.name or t.element_id}  instance={t.instance_id}  process={t.process_key}"
                   + (f"  fields=[{fields}]" if fields else "") + "".join(f"  {w}" for w in who))


class BatonGroup(click.Group):
    """Turns Baton errors into one clear line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BatonError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=BatonGroup)
@click.option("--database-url", envvar="BATON_DATABASE_URL", default=None,
              help="SQLAlchemy URL of the database [env BATON_DATABASE_URL; default sqlite:///baton.db].")
@click.option("--log-level", envvar="BATON_LOG_LEVEL", default=None, help="DEBUG, INFO, WARNING or ERROR.")
@click.version_option(package_name="baton")
@click.pass_context
def main(ctx: click.Context, database_url: str | None, log_level: str | None) -> None:
    """Baton runs BPMN 2.0 processes: deploy diagrams, start instances, work on tasks, watch them run.

    State lives in a database (SQLite file baton.db in the working folder by default).
    """
    settings = Settings.from_env(database_url=database_url, log_level=log_level)
    logs.configure(settings.log_level if log_level else "WARNING", settings.log_format)
    ctx.obj = settings


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--stub-unsupported", is_flag=True,
              help="Turn Java delegates (camunda:class, delegateExpression, expression), Groovy/JavaScript script "
                   "tasks and connectors into external jobs (topic: the class's simple name, the bean, or the "
                   "task id) and drop Camunda listeners, instead of rejecting the file. See docs/camunda.md.")
@click.option("--drawing", is_flag=True,
              help="Import every process as a drawing, as a modeler opens a file: the XML is checked (schema, "
                   "references) and the diagram is shown in the cockpit, but it is not checked for execution "
                   "and can never be started. For models that cannot run as they stand.")
@json_option
@pass_settings
def deploy(settings: Settings, paths: tuple[str, ...], stub_unsupported: bool, drawing: bool, as_json: bool) -> None:
    """Deploy .bpmn and .dmn files, or folders of them (all or nothing).

    Each executable process becomes a new version of its key (the process id);
    unchanged content keeps its current version.  JUEL (${...}) and FEEL (=...)
    expressions are translated to Python; what Baton cannot run is rejected
    (use --drawing to import such a model only to look at it).
    """
    from .parsing import collect_files

    files = collect_files(paths)
    with open_engine(settings) as eng, click.progressbar(
        length=len(files), label=f"Checking {len(files)} file(s)", file=sys.stderr,
        item_show_func=lambda name: name, show_pos=True,
    ) as bar:
        def step(res: Any) -> None:
            bar.update(1, Path(res.name).name)

        result = eng.deploy(files, source="cli", progress=step, stub_unsupported=stub_unsupported,
                            drawing=drawing)

    def text() -> None:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        for d in result.definitions:
            state = "new version" if d.new else "unchanged"
            kind = "" if d.executable else "  (not executable: stored as a drawing)"
            click.echo(f"{d.key:<30} v{d.version:<4} {state}{kind}")
        for d in result.decisions:
            click.echo(f"{d['key']:<30} v{d['version']:<4} {'new version' if d['new'] else 'unchanged'}  (decision)")

    emit(as_json, result.to_dict(), text)


@main.command()
@click.option("--key", default=None, help="Only this process key.")
@click.option("--all-versions", is_flag=True, help="List every version, not only the latest.")
@json_option
@pass_settings
def definitions(settings: Settings, key: str | None, all_versions: bool, as_json: bool) -> None:
    """List deployed processes."""
    with open_engine(settings) as eng:
        defs = eng.definitions(key=key, latest_only=not all_versions)

    def text() -> None:
        for d in defs:
            click.echo(f"{d.key:<30} v{d.version:<4} {d.name or ''}{'' if d.executable else '  (drawing)'}")

    emit(as_json, [d.to_dict() for d in defs], text)


@main.command()
@click.argument("key")
@click.option("--version", "version", type=int, default=None, help="Start this version (default: the latest).")
@click.option("--business-key", default=None, help="Your own reference for the instance (an order number...).")
@click.option("--initiator", default=None,
              help="The user who starts it (a start event's camunda:initiator variable gets this name).")
@var_option
@vars_json_option
@json_option
@pass_settings
def start(settings: Settings, key: str, version: int | None, business_key: str | None, initiator: str | None,
          var: tuple[str, ...], vars_json: str | None, as_json: bool) -> None:
    """Start an instance of process KEY and run it until every path waits."""
    variables = parse_vars(var, vars_json)
    with open_engine(settings) as eng:
        inst = eng.start(key, variables=variables, business_key=business_key, version=version, initiator=initiator)
    emit(as_json, inst.to_dict(), lambda: print_outcome(inst))


def print_outcome(inst: Instance) -> None:
    click.echo(f"{inst.id} {inst.status}")
    if inst.error:
        click.echo(f"  error: {inst.error.get('message')}")
    _print_tasks(inst.tasks)


@main.command()
@click.option("--instance", "instance_id", default=None, help="Only tasks of this instance.")
@click.option("--key", default=None, help="Only tasks of this process key.")
@json_option
@pass_settings
def tasks(settings: Settings, instance_id: str | None, key: str | None, as_json: bool) -> None:
    """List ready user and manual tasks (id, name, instance, process, form fields)."""
    with open_engine(settings) as eng:
        found = eng.tasks(instance_id=instance_id, key=key)
    emit(as_json, [t.to_dict() for t in found], lambda: _print_tasks(found) if found else click.echo("no tasks"))


@main.command()
@click.argument("task_id")
@var_option
@vars_json_option
@json_option
@pass_settings
def complete(settings: Settings, task_id: str, var: tuple[str, ...], vars_json: str | None, as_json: bool) -> None:
    """Complete a ready task with variables and run its instance on.

    The variables are checked against the task's form first: every field that is missing or does not fit
    its type or constraints is named, and nothing is stored.
    """
    variables = parse_vars(var, vars_json)
    with open_engine(settings) as eng:
        inst = eng.complete_task(task_id, variables)
    emit(as_json, inst.to_dict(), lambda: print_outcome(inst))


@main.command()
@click.option("--status", type=click.Choice(list(STATUSES)))
@click.option("--key", default=None, help="Only instances of this process key.")
@click.option("--business-key", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
@pass_settings
def instances(settings: Settings, status: str | None, key: str | None, business_key: str | None, limit: int,
              as_json: bool) -> None:
    """List process instances, newest first (id, status, process, business key, started, current activity)."""
    with open_engine(settings) as eng:
        found = eng.instances(status=status, key=key, business_key=business_key, limit=limit)

    def text() -> None:
        if not found:
            click.echo("no instances")
        for inst in found:
            _print_instance_line(inst)

    emit(as_json, [i.to_dict() for i in found], text)


@main.command()
@click.argument("instance_id")
@json_option
@pass_settings
def show(settings: Settings, instance_id: str, as_json: bool) -> None:
    """Show one instance: status, version, business key, active tasks, variables, history."""
    with open_engine(settings) as eng:
        inst = eng.get_instance(instance_id)
        history = eng.history(instance_id)
        open_incidents = eng.incidents(instance_id=instance_id)

    def text() -> None:
        click.echo(f"instance     {inst.id}")
        click.echo(f"process      {inst.process_key} v{inst.process_version}")
        click.echo(f"status       {inst.status}")
        click.echo(f"business key {inst.business_key or '-'}")
        click.echo(f"started      {when(inst.created_at)}   ended {when(inst.ended_at)}")
        if inst.error:
            click.echo(f"error        {inst.error.get('message')}")
        click.echo("active       " + (inst.current_activity))
        for incident in open_incidents:
            click.echo(f"incident     {incident.id}  {incident.message}  (baton retry {incident.id})")
        if inst.tasks:
            click.echo("tasks")
            for t in inst.tasks:
                click.echo(f"  {t.id}  {t.name or t.element_id}")
        click.echo("variables")
        for name, value in sorted(inst.variables.items()):
            click.echo(f"  {name} = {json.dumps(value, default=str)}")
        click.echo("history")
        for h in history:
            what = h.element_name or h.element_id or ""
            click.echo(f"  {when(h.at)}  {h.event:<20} {what}")

    emit(as_json, {**inst.to_dict(), "history": [h.to_dict() for h in history],
                    "incidents": [i.to_dict() for i in open_incidents]}, text)


@main.command()
@click.argument("instance_id")
@pass_settings
def cancel(settings: Settings, instance_id: str) -> None:
    """Cancel an unfinished instance."""
    with open_engine(settings) as eng:
        inst = eng.cancel(instance_id)
    click.echo(f"{inst.id} {inst.status}")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@pass_settings
def db_upgrade(settings: Settings) -> None:
    """Create or migrate the database schema to the current version."""
    from .store import db as store_db

    sa_engine = store_db.connect(settings.database_url)
    before, after = store_db.upgrade(sa_engine)
    sa_engine.dispose()
    click.echo(f"database schema {before or 'empty'} -> {after}" if before != after else f"database schema at {after}")


@db.command("current")
@pass_settings
def db_current(settings: Settings) -> None:
    """Print the schema revision of the database and the one this Baton needs."""
    from .store import db as store_db

    sa_engine = store_db.connect(settings.database_url)
    click.echo(f"database {store_db.current_revision(sa_engine) or 'empty'}, needed {store_db.head_revision()}")
    sa_engine.dispose()


@main.command()
@click.option("--host", default=None, help="Address to listen on [env BATON_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env BATON_PORT; default 8080].")
@click.option("--deploy", "deploy_paths", multiple=True, type=click.Path(exists=True),
              help="Deploy these files or folders before serving (repeatable).")
@pass_settings
def serve(settings: Settings, host: str | None, port: int | None, deploy_paths: tuple[str, ...]) -> None:
    """Run the web server (pages and API) on 127.0.0.1, with the timer scheduler and agent workers.

    The agents come from BATON_CONFIG, else ./baton.toml, else the baton.toml of a folder given to --deploy.
    """
    from web import create_app

    from .agents import config_beside

    settings = settings.replace(host=host or settings.host, port=port or settings.port,
                                config=config_beside(deploy_paths, settings.config))
    logs.configure(settings.log_level, settings.log_format)
    eng = open_node_engine(settings)
    if deploy_paths:
        eng.deploy(deploy_paths, source="serve")  # logs each process and version
    app = create_app(engine=eng)
    from .scheduler import TimerScheduler

    timers = TimerScheduler(eng)
    timers.start()
    node = None
    if settings.workers > 0:  # agents' jobs and the engine's continuation jobs
        from .worker import Worker

        node = Worker(eng, threads=settings.workers).start()
    click.echo(f"Baton is serving on http://{settings.host}:{settings.port}/  (Ctrl+C to stop)", err=True)
    import waitress

    try:
        # lookahead lets a long poll notice that its client hung up (and stop claiming jobs for it)
        waitress.serve(app, host=settings.host, port=settings.port, threads=8, ident="baton",
                       channel_request_lookahead=1)
    finally:
        timers.stop()
        if node is not None:
            node.stop()


from . import cli_agents, cli_artifacts, cli_conformance, cli_events, cli_jobs, cli_users  # noqa: E402,F401  (register their commands on `main`)
