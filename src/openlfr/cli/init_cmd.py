"""``openlfr init``: create the data dir, database (migrated) and encryption key."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from openlfr.cli._common import emit_json, settings


def init(json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Create the data directory, the database and the encryption key file (0600)."""
    from openlfr.services.keys import refuse_new_key_over_ciphertext
    from openlfr.storage.crypto import create_key_file, load_cipher
    from openlfr.storage.db import Database

    st = settings()
    if st.key is None and not st.resolved_key_file.exists():
        # A lost or moved key file must not be silently replaced: that would orphan every
        # encrypted row. Checked before anything is created or changed on disk.
        refuse_new_key_over_ciphertext(st)
    st.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(st.data_dir, 0o700)
    created_key = False if st.key is not None else create_key_file(st.resolved_key_file)
    load_cipher(st)  # refuses a malformed or world-readable key before anything is stored
    db = Database(st.db_url)
    db.upgrade()
    db.dispose()
    info = {"data_dir": str(st.data_dir), "database": st.db_url.split("@")[-1],
            "key": "environment" if st.key is not None else str(st.resolved_key_file),
            "key_created": created_key}
    if json_out:
        emit_json(info)
    else:
        typer.echo(f"OpenLFR data dir: {info['data_dir']}")
        typer.echo(f"database: {info['database']} (migrated)")
        typer.echo(f"encryption key: {info['key']}{' (new)' if created_key else ''} - keep it safe and "
                   "outside backups of the database")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
