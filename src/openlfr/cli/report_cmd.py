"""``openlfr report ...``: transparency reports per deployment, per period, and of published records."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._gov import ctx as _ctx

report_app = typer.Typer(no_args_is_help=True, help="Transparency reports (deployments, periods, published records).")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
FORMATS = ("html", "csv", "json")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.3g}%"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{100 * ci[0]:.3g}%, {100 * ci[1]:.3g}%]"


@report_app.command("published")
def published(
    csv_path: Annotated[
        Path, typer.Argument(metavar="CSV", help="Deployment records in the layout of met_lfr_deployments.csv.")
    ],
    json_out: JsonOpt = False,
) -> None:
    """Aggregate a force's published deployment records per year, with rates and intervals."""
    from openlfr.services.published import published_report

    rep = published_report(csv_path)
    if json_out:
        emit_json(rep)
        return
    typer.echo(f"{rep.source}: {rep.rows} deployments, {rep.first_date} to {rep.last_date}")
    head = (
        f"{'year':<6}{'deploy':>7}{'faces seen':>12}{'alerts':>8}{'true':>6}{'false':>6}{'arrests':>8}  "
        "false alerts per face [95% CI]            share of alerts wrong [95% CI]"
    )
    typer.echo(head)
    for year, y in rep.years.items():
        arrests = "-" if y["arrests"] is None else str(y["arrests"])
        one_in = f" (1 in {y['faces_per_false_alert']:,})" if y["faces_per_false_alert"] else ""
        typer.echo(
            f"{year:<6}{y['deployments']:>7}{y['faces_seen']:>12,}{y['alerts']:>8,}{y['true_alerts']:>6,}"
            f"{y['false_alerts']:>6,}{arrests:>8}  "
            f"{_pct(y['false_alerts_per_face'])}{_ci(y['false_alerts_per_face_ci'])}{one_in}   "
            f"{_pct(y['share_of_alerts_wrong'])}{_ci(y['share_of_alerts_wrong_ci'])}"
        )
    for year, y in rep.years.items():
        if y["notes"] or y["irregularities"]:
            typer.echo(f"\n{year}:")
            for n in y["notes"]:
                typer.echo(f"  note: {n}")
            for i in y["irregularities"]:
                typer.echo(f"  line {i['line']} {i['date']} {i['location']}: [{i['kind']}] {i['detail']}")


def _write(out: Path | None, content: str | bytes) -> None:
    if out is None:
        typer.echo(content if isinstance(content, str) else content.decode())
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        out.write_text(content, encoding="utf-8")
    else:
        out.write_bytes(content)


def _render(rep: Any, fmt: str, out: Path | None) -> None:
    from openlfr.services import reports

    fmt = fmt.lower()
    if fmt not in FORMATS:
        from openlfr.errors import InputError

        raise InputError(f"format must be one of {', '.join(FORMATS)}", code="bad_format")
    if fmt == "json":
        if out is None:
            emit_json(rep.to_dict())
        else:
            import json

            _write(out, json.dumps(rep.to_dict(), ensure_ascii=False, indent=2, default=str))
    elif fmt == "csv":
        _write(out, reports.to_csv(rep))
    else:
        _write(out, reports.to_html(rep))
    if out is not None:
        typer.echo(f"wrote {out}", err=True)


@report_app.command("deployment")
def deployment(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Deployment id or name.")],
    fmt: Annotated[str, typer.Option("--format", help="html, csv or json.")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """Transparency report of one deployment."""
    from openlfr.services import reports

    ctx = _ctx()
    _render(reports.deployment_report(ctx, ref, actor=ctx.settings.actor), fmt, out)


def _when(text: str, end: bool = False) -> datetime:
    from openlfr.services.reports import parse_when

    return parse_when(text, end=end)


@report_app.command("period")
def period(
    date_from: Annotated[str, typer.Option("--from", help="Start date or time (ISO), inclusive.")],
    date_to: Annotated[str, typer.Option("--to", help="End date or time (ISO); a date includes the day.")],
    fmt: Annotated[str, typer.Option("--format", help="html, csv or json.")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
) -> None:
    """Aggregate report of the deployments that started (or were planned to start) in a period."""
    from openlfr.services import reports

    ctx = _ctx()
    _render(reports.period_report(ctx, _when(date_from), _when(date_to, end=True), actor=ctx.settings.actor), fmt, out)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
