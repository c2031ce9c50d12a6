"""``openlfr init``: create the data dir, database (migrated) and encryption key."""

from __future__ import annotations

from typing import Annotated

import typer

from openlfr.cli._common import emit_json, settings


def init(json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Create the data directory, the database and the encryption key file (0600)."""
    from openlfr.services.keys import initialise

    info = initialise(settings())
    if json_out:
        emit_json(info)
    else:
        typer.echo(f"OpenLFR data dir: {info.data_dir}")
        typer.echo(f"database: {info.database} (migrated)")
        typer.echo(
            f"encryption key: {info.key}{' (new)' if info.key_created else ''} - keep it safe and "
            "outside backups of the database"
        )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
