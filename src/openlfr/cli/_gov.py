"""Helpers shared by the governance command modules (deployment, alert, report, audit, retention, keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from openlfr.cli._common import settings

UserOpt = Annotated[
    str | None,
    typer.Option(
        "--username",
        "-u",
        envvar="OPENLFR_USERNAME",
        help="Act as this user (role-restricted command): the password is read from OPENLFR_PASSWORD or asked "
        "for; the user's role is checked and the user is named in the audit log.",
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="OPENLFR_TOKEN",
        show_default=False,
        help="Or act as the owner of this API token (olfr_...; see `openlfr user token`).",
    ),
]
RoleOpt = Annotated[
    str | None,
    typer.Option(
        "--as-role", hidden=True, help="Removed: a stated role is not accepted; log in with --username or --token."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


if TYPE_CHECKING:
    from openlfr.services.context import AppContext
    from openlfr.services.users import Principal


def principal(c: AppContext, username: str | None, token: str | None, stated_role: str | None = None) -> Principal:
    """Who runs a role-restricted command: a real user, by password (``--username`` with
    ``OPENLFR_PASSWORD`` or a hidden prompt) or by API token (``--token`` / ``OPENLFR_TOKEN``),
    checked by the same service as the API's logins (throttling and failures audited)."""
    import os

    from openlfr.errors import AuthError
    from openlfr.services import users

    if stated_role is not None:
        raise AuthError(
            "--as-role is no longer accepted: a role comes from a user's login; give --username "
            "(password from OPENLFR_PASSWORD or a prompt) or --token",
            code="role_not_accepted",
        )
    if token:
        p = users.token_principal(c, token.strip())
        if p is None:
            raise AuthError("invalid, expired or revoked API token", code="unauthenticated")
        return p
    if not username:
        raise AuthError(
            "this command needs a user: give --username (password from OPENLFR_PASSWORD or a "
            "prompt) or --token (OPENLFR_TOKEN)",
            code="unauthenticated",
        )
    password = os.environ.get("OPENLFR_PASSWORD")
    if password is None:
        password = typer.prompt(f"Password for {username}", hide_input=True, err=True)
    return users.authenticate(c, username, password, client="cli")


def ctx() -> AppContext:
    from openlfr.services.context import AppContext

    return AppContext(settings())
