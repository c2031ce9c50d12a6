"""``openlfr user ...``: console users (there is no default account) and their API tokens."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from openlfr.cli._common import emit_json, settings

if TYPE_CHECKING:
    from openlfr.services.context import AppContext

user_app = typer.Typer(
    no_args_is_help=True, help="Console users and API tokens (roles: admin, supervisor, operator, auditor)."
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _ctx() -> AppContext:
    from openlfr.services.context import AppContext

    return AppContext(settings())


def _password(from_stdin: bool, username: str) -> str:
    if from_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = typer.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True)
    return pw


@user_app.command("create")
def create(
    username: Annotated[str, typer.Option("--username", "-u", help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="admin, supervisor, operator or auditor.")],
    display_name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create a user (the first admin is made this way or with the setup link `openlfr serve` prints)."""
    from openlfr.services import users

    pw = _password(password_stdin, username)
    st = settings()
    u = users.create_user(_ctx(), username, pw, role, actor=f"cli:{st.actor}", display_name=display_name)
    emit_json(u) if json_out else typer.echo(f"created {u.role} {u.username}")


@user_app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List users."""
    from openlfr.services import users

    res = users.list_users(_ctx(), limit=10_000)
    if json_out:
        emit_json(res)
        return
    for u in res.data:
        typer.echo(
            f"{u.username:<24} {u.role:<11} {'active' if u.active else 'inactive':<9} "
            f"last login {u.last_login_at or '-'}"
        )


@user_app.command("set")
def set_(
    username: Annotated[str, typer.Argument(help="User to change.")],
    role: Annotated[str | None, typer.Option("--role")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    reset_password: Annotated[bool, typer.Option("--reset-password", help="Set a new password.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Change a user's role, active flag or password (their sessions end; a new password or a
    deactivation also revokes their API tokens)."""
    from openlfr.services import users

    pw = _password(password_stdin, username) if reset_password else None
    u = users.update_user(_ctx(), username, f"cli:{settings().actor}", role=role, active=active, password=pw)
    emit_json(u) if json_out else typer.echo(f"{u.username}: {u.role}, {'active' if u.active else 'inactive'}")


@user_app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="Whose token (it acts with their role).")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    days: Annotated[
        float | None,
        typer.Option("--days", help="Expire after this many days (default and most: OPENLFR_TOKEN_DAYS, 90)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a bearer API token for scripts; it is printed once."""
    from openlfr.services import users

    t = users.create_token(_ctx(), username, f"cli:{settings().actor}", name=name, expires_days=days)
    emit_json(t) if json_out else typer.echo(t.token)


@user_app.command("tokens")
def tokens(username: Annotated[str, typer.Argument(help="Whose tokens.")], json_out: JsonOpt = False) -> None:
    """List a user's API tokens (prefix, dates, active; never the token itself)."""
    from openlfr.services import users

    res = users.list_user_tokens(_ctx(), username)
    if json_out:
        emit_json(res)
        return
    if not res.data:
        typer.echo(f"{username} has no API tokens")
    for t in res.data:
        typer.echo(
            f"{t.id:<6} {t.prefix}...  {'active' if t.active else 'revoked':<8} "
            f"expires {t.expires_at or '-'}  last used {t.last_used_at or '-'}  {t.name}"
        )


@user_app.command("revoke-token")
def revoke_token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    token_id: Annotated[
        int | None, typer.Argument(metavar="[TOKEN_ID]", help="Token id (see `openlfr user tokens`).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Revoke every token of the user.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Revoke one API token of a user, or all of them with --all (audited)."""
    from openlfr.errors import InputError
    from openlfr.services import users

    if (token_id is None) == (not all_):
        raise InputError("give a TOKEN_ID or --all", code="bad_arguments")
    actor = f"cli:{settings().actor}"
    res = (
        users.revoke_user_tokens(_ctx(), username, actor)
        if token_id is None
        else users.revoke_user_token(_ctx(), username, actor, token_id)
    )
    emit_json(res) if json_out else typer.echo(f"{res.user}: {res.revoked} token(s) revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
