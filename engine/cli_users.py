"""The ``baton users ...`` and ``baton tokens ...`` commands: people who sign in and their API tokens."""

from __future__ import annotations

import sys

import click

from .cli import emit, json_option, main, open_engine, pass_settings, when
from .config import Settings
from .users import ROLES


def _read_password(password_stdin: bool) -> str:
    """The new password: the first line of stdin with --password-stdin, else asked twice (not echoed)."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@main.group()
def users() -> None:
    """People who sign in to the web pages and the API: roles user < operator < admin."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="user: start processes and work on their tasks; operator: also cancel, retry, edit variables, "
                   "run external workers; admin: also deploy and manage users.")
@click.option("--group", "groups", multiple=True, help="A group whose tasks they work on (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--no-password", is_flag=True, help="An account that cannot sign in, only use API tokens (a worker).")
@pass_settings
def users_add(settings: Settings, name: str, role: str, groups: tuple[str, ...], password_stdin: bool,
              no_password: bool) -> None:
    """Add a user NAME (asks for the password unless --password-stdin or --no-password)."""
    password = None if no_password else _read_password(password_stdin)
    with open_engine(settings) as eng:
        user = eng.add_user(name, role, password, groups)
    click.echo(f"added {user.name} ({user.role}{', groups ' + ', '.join(user.groups) if user.groups else ''})")


@users.command("list")
@json_option
@pass_settings
def users_list(settings: Settings, as_json: bool) -> None:
    """List the users with their role, groups and whether they are disabled."""
    with open_engine(settings) as eng:
        found = eng.users()

    def text() -> None:
        for u in found:
            state = f"  disabled {when(u.disabled_at)}" if u.disabled else ""
            click.echo(f"{u.name:<20} {u.role:<9} groups={','.join(u.groups) or '-'}{state}")
        if not found:
            click.echo("no users yet: baton users add NAME --role admin")

    emit(as_json, [u.to_dict() for u in found], text)


@users.command("disable")
@click.argument("name")
@pass_settings
def users_disable(settings: Settings, name: str) -> None:
    """Disable NAME: they can no longer sign in, and their API tokens stop working."""
    with open_engine(settings) as eng:
        user = eng.disable_user(name)
    click.echo(f"disabled {user.name}")


@users.command("edit")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default=None, help="The new role.")
@click.option("--group", "groups", multiple=True, help="The groups (repeatable; replaces the current ones).")
@click.option("--no-groups", is_flag=True, help="Remove every group.")
@click.option("--enable", is_flag=True, help="Enable a disabled user again.")
@pass_settings
def users_edit(settings: Settings, name: str, role: str | None, groups: tuple[str, ...], no_groups: bool,
               enable: bool) -> None:
    """Change the role or the groups of NAME, or enable them again."""
    with open_engine(settings) as eng:
        user = eng.update_user(name, role=role, groups=[] if no_groups else (groups or None),
                               disabled=False if enable else None)
    click.echo(f"{user.name}: {user.role}, groups {', '.join(user.groups) or '-'}"
               f"{', disabled' if user.disabled else ''}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_settings
def users_passwd(settings: Settings, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME."""
    with open_engine(settings) as eng:
        eng.get_user(name)  # an unknown name is reported before the password is asked for
        eng.set_password(name, _read_password(password_stdin))
    click.echo(f"password of {name} changed")


@users.command("ensure-admin")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="Where the pages are served.")
@pass_settings
def users_ensure_admin(settings: Settings, url: str) -> None:
    """Create the user ``admin`` when there is no admin yet (password from BATON_ADMIN_PASSWORD or generated).

    Prints how to sign in, once; does nothing when an admin exists.
    """
    import os

    with open_engine(settings) as eng:
        password = eng.ensure_admin("admin", os.environ.get("BATON_ADMIN_PASSWORD") or None)
    if password is None:
        return
    shown = "(from BATON_ADMIN_PASSWORD)" if os.environ.get("BATON_ADMIN_PASSWORD") else password
    click.echo(f"Created the first admin. Sign in at {url.rstrip('/')}/login as: admin  password: {shown}\n"
               "This password is shown only now; change it with: baton users passwd admin")


@main.group()
def tokens() -> None:
    """API tokens (Authorization: Bearer ...) for scripts and external workers."""


@tokens.command("create")
@click.argument("user")
@click.option("--name", default="api", show_default=True, help="What the token is for (shown in the list).")
@pass_settings
def tokens_create(settings: Settings, user: str, name: str) -> None:
    """Create a token for USER and print it: it is shown only this once."""
    with open_engine(settings) as eng:
        token, secret = eng.create_token(user, name)
    click.echo(secret)
    click.echo(f"token {token.id} for {token.user} ({token.name}); store it now: it is not shown again. "
               f"Use it as the header 'Authorization: Bearer <token>'.", err=True)


@tokens.command("revoke")
@click.argument("token_id")
@pass_settings
def tokens_revoke(settings: Settings, token_id: str) -> None:
    """Revoke the token TOKEN_ID (from ``baton tokens list``): it stops working at once."""
    with open_engine(settings) as eng:
        token = eng.revoke_token(token_id)
    click.echo(f"revoked {token.id} ({token.user}, {token.name})")


@tokens.command("list")
@click.argument("user", required=False)
@json_option
@pass_settings
def tokens_list(settings: Settings, user: str | None, as_json: bool) -> None:
    """List the API tokens (of USER): id, owner, name, last use, revoked or not; never the secrets."""
    with open_engine(settings) as eng:
        found = eng.tokens(user)

    def text() -> None:
        for t in found:
            used = when(t.last_used_at) if t.last_used_at else "never"
            state = f"revoked {when(t.revoked_at)}" if t.revoked_at else f"last used {used}"
            click.echo(f"{t.id}  {t.user:<16} {t.name:<20} {state}")
        if not found:
            click.echo("no API tokens")

    emit(as_json, [t.to_dict() for t in found], text)
