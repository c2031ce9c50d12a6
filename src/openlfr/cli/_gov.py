"""Helpers shared by the governance command modules (deployment, alert, report, audit, retention, keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from openlfr.cli._common import settings

RoleOpt = Annotated[str, typer.Option(
    "--as-role", envvar="OPENLFR_ROLE",
    help="Role the command acts in: admin, supervisor, operator or auditor (until the console brings "
         "users and logins, the services check this stated role).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


if TYPE_CHECKING:
    from openlfr.services.context import AppContext


def ctx() -> AppContext:
    from openlfr.services.context import AppContext

    return AppContext(settings())
