"""``openlfr alert ...``: list, show, adjudicate, view images (audited), legal holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._gov import JsonOpt, RoleOpt, TokenOpt, UserOpt, ctx, principal

if TYPE_CHECKING:
    from openlfr.services.alerts import AlertView

alert_app = typer.Typer(no_args_is_help=True, help="Review and adjudicate alerts; legal holds.")
AlertArg = Annotated[str, typer.Argument(metavar="ALERT", help="Alert id (or the runtime's alert_id).")]


def _line(a: AlertView) -> str:
    verdict = a.verdict or "NOT ADJUDICATED"
    flags = (" [hold]" if a.legal_hold else "") + (" [purged]" if a.purged_at else "")
    return (
        f"{a.id}\t{(a.occurred_at or '')[:19]}\tdep {a.deployment_id}\t{a.camera}\t"
        f"{a.person_id or '-'}\t{a.score:.4f}\t{verdict}\t{a.outcome or '-'}{flags}"
    )


@alert_app.command("list")
def list_(
    deployment: Annotated[int | None, typer.Option(help="Only this deployment.")] = None,
    unadjudicated: Annotated[bool, typer.Option(help="Only alerts not yet adjudicated.")] = False,
    include_purged: Annotated[bool, typer.Option(help="Include alerts removed by retention.")] = False,
    limit: int = 100,
    offset: int = 0,
    json_out: JsonOpt = False,
) -> None:
    """List alerts, newest first; unadjudicated ones are marked."""
    from openlfr.services import alerts

    out = alerts.list_alerts(ctx(), deployment, unadjudicated, include_purged, limit, offset)
    if json_out:
        emit_json(out)
        return
    typer.echo(f"{out.count} alert(s)")
    for a in out.data:
        typer.echo(_line(a))


@alert_app.command("show")
def show(ref: AlertArg, json_out: JsonOpt = False) -> None:
    """Show an alert's details (no images)."""
    from openlfr.services import alerts

    a = alerts.show_alert(ctx(), ref)
    emit_json(a) if json_out else typer.echo(_line(a))


@alert_app.command("adjudicate")
def adjudicate(
    ref: AlertArg,
    verdict: Annotated[str, typer.Option(help="true (the right person) or false (wrongly matched).")],
    outcome: Annotated[str | None, typer.Option(help="arrest, other_disposal, no_action or not_engaged.")] = None,
    note: Annotated[str | None, typer.Option(help="Free-text note.")] = None,
    username: UserOpt = None,
    token: TokenOpt = None,
    role: RoleOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record whether an alert was right and what happened (supervisors and operators; audited)."""
    from openlfr.services import alerts

    c = ctx()
    p = principal(c, username, token, role)
    a = alerts.adjudicate(c, ref, p.username, p.role, verdict, outcome, note)
    emit_json(a) if json_out else typer.echo(_line(a))


@alert_app.command("image")
def image(
    ref: AlertArg,
    out: Annotated[Path, typer.Option(help="Write the image here.")],
    kind: Annotated[str, typer.Option(help="probe, frame or reference.")] = "probe",
    username: UserOpt = None,
    token: TokenOpt = None,
    role: RoleOpt = None,
) -> None:
    """Decrypt one of an alert's images to a file for review (audited; refused to auditors)."""
    import os

    from openlfr.services import alerts

    c = ctx()
    p = principal(c, username, token, role)
    data, media = alerts.alert_image(c, ref, kind, p.username, p.role)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    typer.echo(f"wrote {out} ({media}, {len(data)} bytes); this viewing is recorded in the audit log", err=True)


@alert_app.command("hold")
def hold(
    reason: Annotated[str, typer.Option(help="Case or order reference.")],
    alert: Annotated[str | None, typer.Option(help="Hold this alert.")] = None,
    deployment: Annotated[str | None, typer.Option(help="Hold every alert of this deployment.")] = None,
    username: UserOpt = None,
    token: TokenOpt = None,
    role: RoleOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Place a legal hold (admins and supervisors): retention will not delete the held alert(s) (audited)."""
    from openlfr.services import alerts

    c = ctx()
    p = principal(c, username, token, role)
    h = alerts.place_hold(c, p.username, p.role, reason, alert=alert, deployment=deployment)
    emit_json(h) if json_out else typer.echo(f"legal hold {h.id} placed")


@alert_app.command("release")
def release(
    hold_id: Annotated[int, typer.Argument(metavar="HOLD")],
    note: Annotated[str, typer.Option(help="Why the hold ends.")] = "",
    username: UserOpt = None,
    token: TokenOpt = None,
    role: RoleOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Release a legal hold (admins and supervisors; audited); the next retention sweep applies the
    normal rules."""
    from openlfr.services import alerts

    c = ctx()
    p = principal(c, username, token, role)
    h = alerts.release_hold(c, hold_id, p.username, p.role, note)
    emit_json(h) if json_out else typer.echo(f"legal hold {h.id} released")


@alert_app.command("holds")
def holds(
    all_: Annotated[bool, typer.Option("--all", help="Include released holds.")] = False, json_out: JsonOpt = False
) -> None:
    """List legal holds."""
    from openlfr.services import alerts

    rows = alerts.list_holds(ctx(), active_only=not all_)
    if json_out:
        emit_json({"data": rows, "count": len(rows)})
        return
    for h in rows:
        target = f"alert {h.alert_id}" if h.alert_id else f"deployment {h.deployment_id}"
        typer.echo(f"{h.id}\t{target}\t{'active' if h.active else 'released'}\t{h.reason}")


def register(app: typer.Typer) -> None:
    app.add_typer(alert_app, name="alert")
