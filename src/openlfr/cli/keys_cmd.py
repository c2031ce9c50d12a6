"""``openlfr keys ...``: rotate the encryption key; finish an interrupted rotation."""

from __future__ import annotations

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._gov import JsonOpt, ctx

keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys for biometric data at rest.")


@keys_app.command("rotate")
def rotate(json_out: JsonOpt = False) -> None:
    """New key first in the key file, re-encrypt everything, then retire the old key."""
    from openlfr.services import keys

    c = ctx()
    res = keys.rotate(c, c.settings.actor)
    if json_out:
        emit_json(res)
        return
    total = sum(res.reencrypted.values())
    typer.echo(
        f"rotated to key {res.new_key_id}: {total} values re-encrypted; retired "
        f"{', '.join(res.retired_key_ids)}. Old database backups need the old key: destroy it "
        "only when they expire."
    )


@keys_app.command("reencrypt")
def reencrypt(json_out: JsonOpt = False) -> None:
    """Re-encrypt everything with the first configured key (finishes an interrupted rotation)."""
    from openlfr.services import keys

    c = ctx()
    res = keys.reencrypt(c, c.settings.actor)
    if json_out:
        emit_json(res)
        return
    typer.echo(
        f"re-encrypted {sum(res.reencrypted.values())} values with key {res.key_id}"
        + (f"; retired {', '.join(res.retired_key_ids)}" if res.retired_key_ids else "")
    )


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
