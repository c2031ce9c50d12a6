"""``openlfr audit ...``: verify the hash chain and its anchor; signed export; check an export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._gov import JsonOpt, ctx

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")


@audit_app.command("verify")
def verify(
    no_anchor: Annotated[bool, typer.Option("--no-anchor", help="Check the chain only.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Recompute the hash chain and check its anchor; exit 1 naming the first broken event."""
    from openlfr.services import audit_admin

    res = audit_admin.verify(ctx(), use_anchor=not no_anchor)
    if json_out:
        emit_json(res)
    elif res.ok:
        anchor = res.anchor.get("status", "not checked") if res.anchor.get("checked") else "not checked"
        typer.echo(f"audit log OK: {res.events} events, chain intact, anchor {anchor}")
    else:
        where = f" at seq {res.first_bad_seq}" if res.first_bad_seq is not None else ""
        typer.echo(f"audit log BROKEN{where}: {res.problem}", err=True)
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="JSON-lines file to write.")], json_out: JsonOpt = False
) -> None:
    """Write every event as JSON lines plus a signature line (SHA-256 and HMAC-SHA256)."""
    from openlfr.services import audit_admin

    c = ctx()
    res = audit_admin.export(c, out, c.settings.actor)
    emit_json(res) if json_out else typer.echo(
        f"wrote {res.events} events to {res.file} (sha256 {res.sha256[:16]}..., key {res.key_id})"
    )


@audit_app.command("verify-export")
def verify_export(path: Annotated[Path, typer.Argument(metavar="FILE")], json_out: JsonOpt = False) -> None:
    """Check an export's checksum, signature (with the configured key) and chain; exit 1 if not OK."""
    from openlfr.errors import OpenLFRError
    from openlfr.services import audit_admin

    try:
        c = ctx()
        c.settings  # noqa: B018
    except OpenLFRError:
        c = None
    res = audit_admin.verify_export(c, path)
    if json_out:
        emit_json(res.to_dict())
    else:
        typer.echo(
            f"{path}: {'OK' if res.ok else 'NOT OK'} ({res.events or 0} events)"
            + (f": {res.problem}" if res.problem else "")
        )
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def list_(limit: Annotated[int, typer.Option(help="Newest N events.")] = 50, json_out: JsonOpt = False) -> None:
    """Show the newest events."""
    from dataclasses import asdict

    from openlfr.services.audit_log import newest

    rows = [{k: v for k, v in asdict(e).items() if k != "hash"} for e in newest(ctx(), limit)]
    if json_out:
        emit_json({"data": rows, "count": len(rows)})
        return
    for r in reversed(rows):
        priv = r["details"].get("private") if isinstance(r["details"], dict) else None
        extra = (
            ""
            if not isinstance(priv, dict)
            else (f"\t{priv['data']}" if priv.get("data") is not None else f"\t[details {priv.get('status')}]")
        )
        typer.echo(
            f"{r['seq']}\t{r['at'][:19]}\t{r['actor']}\t{r['action']}\t{r['object_type']}:{r['object_id']}" + extra
        )


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
