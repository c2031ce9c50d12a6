"""``openlfr retention sweep``: apply the retention rules (P5) now or at a given time."""

from __future__ import annotations

from typing import Annotated

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._gov import JsonOpt, ctx

ret_app = typer.Typer(no_args_is_help=True, help="Retention of alerts and watchlists.")


@ret_app.command("sweep")
def sweep(
    now: Annotated[
        str | None, typer.Option("--now", help="Act as if it were this ISO time (e.g. to see what day 31 removes).")
    ] = None,
    false_alert_hours: Annotated[
        float | None, typer.Option(help="Override OPENLFR_RETENTION_FALSE_ALERT_HOURS (0-24).")
    ] = None,
    alert_days: Annotated[
        float | None, typer.Option(help="Override OPENLFR_RETENTION_ALERT_DAYS (at most 31).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """End overdue deployments, remove expired alerts' images and identities, keep statistics."""
    from openlfr.services import retention
    from openlfr.services.reports import parse_when

    overrides = {
        k: v for k, v in (("false_alert_hours", false_alert_hours), ("alert_days", alert_days)) if v is not None
    }
    policy = retention.load_policy(**overrides)
    res = retention.sweep(ctx(), now=parse_when(now) if now else None, policy=policy)
    if json_out:
        emit_json(res)
        return
    typer.echo(
        f"retention sweep at {res.now}: ended {len(res.deployments_ended)} deployment(s); removed "
        f"{res.false_alerts_removed} false and {res.expired_alerts_removed} expired alert(s) "
        f"({res.images_deleted} images); kept {res.held_alerts_kept} under legal hold; "
        f"{res.expired_entries_deleted} expired watchlist entries deleted"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(ret_app, name="retention")
