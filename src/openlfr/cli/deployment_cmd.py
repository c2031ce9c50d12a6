"""``openlfr deployment ...``: create, authorise, start, stop, show, list."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._gov import JsonOpt, RoleOpt, TokenOpt, UserOpt, ctx, principal

if TYPE_CHECKING:
    from openlfr.services.deployments import CameraSpec, DeploymentDetail, DeploymentSummary

dep_app = typer.Typer(
    no_args_is_help=True,
    help="Deployments: place, time, purpose, cameras, threshold and a "
    "bespoke watchlist; draft -> authorised -> live -> ended.",
)
RefArg = Annotated[str, typer.Argument(metavar="ID", help="Deployment id or name.")]


def _line(d: DeploymentSummary) -> str:
    return (
        f"{d.id}\t{d.state}\t{(d.planned_start or '')[:16]} to {(d.planned_end or '')[:16]}\t{d.location}\t"
        f"watchlist {d.watchlist_size if d.watchlist_size is not None else '-'}\t"
        f"threshold {d.threshold if d.threshold is not None else 'at authorisation'}"
    )


def _show_text(d: DeploymentDetail) -> None:
    typer.echo(f"deployment {d.id}: {d.name} [{d.state}]")
    coords = "" if d.latitude is None else f" ({d.latitude}, {d.longitude})"
    for k, v in (
        ("location", d.location + coords),
        ("purpose", d.purpose),
        ("legal basis", d.legal_basis or "-"),
        ("window", f"{d.planned_start} to {d.planned_end}"),
        (
            "threshold",
            _op_text(d.operating_point)
            if d.operating_point
            else (
                f"{d.threshold} (override)"
                if d.threshold is not None
                else f"from target FPIR {d.target_fpir}, fixed at authorisation for the list's size"
            ),
        ),
        (
            "watchlist",
            f"{d.watchlist} ({d.watchlist_size} people, copied from "
            f"{d.source_watchlist!r})" + (" - deleted" if d.watchlist_deleted_at else ""),
        ),
        ("cameras", ", ".join(f"{c.name} <{c.url}>" for c in d.cameras) or "-"),
        ("authorised", f"{d.authorising_officer} ({d.authorised_by}, {d.authorised_at})" if d.authorised_at else "no"),
        ("live", f"{d.started_at} to {d.ended_at or '-'}" if d.started_at else "no"),
    ):
        typer.echo(f"  {k}: {v}")
    st = d.statistics
    if st:
        typer.echo(
            f"  faces seen {st['faces_seen']}, alerts {st['alerts']} (true {st['true_alerts']}, false "
            f"{st['false_alerts']}, not adjudicated {st['unadjudicated']})"
            + (" [frozen]" if d.statistics_frozen else "")
        )


def _read_entries_file(path: Path) -> list[tuple[str, str]]:
    from openlfr.errors import InputError

    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not row[0].strip() or (n == 1 and row[0].strip().lower() in ("person", "person_id")):
                continue
            if len(row) < 2 or not row[1].strip():
                raise InputError(f"{path}, line {n}: expected person_id,reason", code="bad_selection")
            out.append((row[0].strip(), row[1].strip()))
    return out


LocationOpt = Annotated[str, typer.Option(help="Precise location: street, junction or landmark.")]
PurposeOpt = Annotated[str, typer.Option(help="Why this deployment (e.g. wanted for serious offences).")]
StartOpt = Annotated[str, typer.Option(help="Planned start, ISO date-time (UTC if no offset).")]
EndOpt = Annotated[str, typer.Option(help="Planned end, ISO date-time.")]
SourceWatchlistOpt = Annotated[str, typer.Option("--source-watchlist", help="Copy entries from this list.")]
EntryOpt = Annotated[
    list[str] | None,
    typer.Option("--entry", help="PERSON_ID=REASON; repeat. The reason this person is on the deployment's list."),
]
EntriesFileOpt = Annotated[Path | None, typer.Option(help="CSV of person_id,reason.")]
AllEntriesOpt = Annotated[
    str | None, typer.Option("--all-entries", help="Copy every entry of the source list with this reason.")
]
CameraOpt = Annotated[
    list[str] | None,
    typer.Option("--camera", help="NAME=URL (file path, rtsp://, http://, or a webcam index); repeat."),
]
FpirOpt = Annotated[
    float | None,
    typer.Option(
        help="Or: target FPIR per face seen (default 1e-4); the threshold is fixed at authorisation from the "
        "calibration for the list's size."
    ),
]


def _entry_pairs(entry: list[str] | None, entries_file: Path | None) -> list[tuple[str, str]]:
    """The (person_id, reason) pairs of the --entry options and the --entries-file CSV."""
    from openlfr.errors import InputError

    pairs: list[tuple[str, str]] = []
    for e in entry or []:
        if "=" not in e:
            raise InputError(f"--entry {e!r}: expected PERSON_ID=REASON", code="bad_selection")
        pid, why = e.split("=", 1)
        pairs.append((pid, why))
    if entries_file is not None:
        pairs.extend(_read_entries_file(entries_file))
    return pairs


def _camera_specs(camera: list[str] | None) -> list[CameraSpec]:
    """The --camera NAME=URL options as deployment camera specs."""
    from openlfr.errors import InputError
    from openlfr.services import deployments as dsvc

    cams: list[CameraSpec] = []
    for spec in camera or []:
        if "=" not in spec:
            raise InputError("--camera expects NAME=URL", code="bad_camera")
        cname, url = spec.split("=", 1)
        cams.append(dsvc.CameraSpec(cname.strip(), url.strip()))
    return cams


@dep_app.command("create")
def create(
    location: LocationOpt,
    purpose: PurposeOpt,
    start: StartOpt,
    end: EndOpt,
    source_watchlist: SourceWatchlistOpt,
    entry: EntryOpt = None,
    entries_file: EntriesFileOpt = None,
    all_entries: AllEntriesOpt = None,
    camera: CameraOpt = None,
    name: Annotated[str | None, typer.Option(help="Unique name (default: location and start).")] = None,
    legal_basis: Annotated[str, typer.Option(help="Legal basis / policy reference (required).")] = "",
    lat: Annotated[float | None, typer.Option(help="Latitude (WGS84).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude (WGS84).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Alert threshold (score in [0, 1]).")] = None,
    fpir: FpirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a draft deployment with its bespoke watchlist (copied entries, each with a reason)."""
    from openlfr.services import deployments as dsvc
    from openlfr.services.reports import parse_when

    pairs = _entry_pairs(entry, entries_file)
    cams = _camera_specs(camera)
    c = ctx()
    out = dsvc.create(
        c,
        location=location,
        purpose=purpose,
        planned_start=parse_when(start),
        planned_end=parse_when(end),
        actor=c.settings.actor,
        source_watchlist=source_watchlist,
        entries=[dsvc.EntrySelection(p, r) for p, r in pairs] if all_entries is None else None,
        all_entries_reason=all_entries,
        cameras=cams,
        name=name,
        legal_basis=legal_basis,
        latitude=lat,
        longitude=lon,
        threshold=threshold,
        target_fpir=fpir,
    )
    if json_out:
        emit_json(out.to_dict())
    else:
        typer.echo(
            f"created deployment {out.id} ({out.name}) as a draft: watchlist {out.watchlist!r} with "
            f"{out.watchlist_size} people; a supervisor must authorise it"
        )


def _op_text(op: dict[str, Any]) -> str:
    from openlfr.services.numbers import operating_point_text

    # the same words as the console, the reports and the public page
    text = operating_point_text(
        {
            "threshold": op["threshold"],
            "threshold_source": op["source"],
            "target_fpir": op.get("target_fpir"),
            "watchlist_size": op.get("watchlist_size"),
        }
    )
    fa = op.get("expected_false_alerts_per_10000")
    tp = op.get("expected_tpir")
    return (
        f"threshold {text}; expected false alerts per 10,000 faces "
        f"{'unknown' if fa is None else format(fa, '.3g')}; expected TPIR "
        f"{'unknown' if tp is None else format(tp, '.2f')}"
    )


@dep_app.command("authorise")
def authorise(
    ref: RefArg,
    officer: Annotated[str, typer.Option(help="Authorising officer (rank and name).")],
    note: Annotated[str, typer.Option(help="Authorisation note.")] = "",
    justification: Annotated[
        str, typer.Option(help="Written justification (needed for an operating point outside the safe band).")
    ] = "",
    fpir: Annotated[
        float | None, typer.Option(help="Change the target FPIR per face seen (threshold from the calibration).")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="Or: an explicit threshold (override).")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="Replace the stated legal basis.")] = None,
    username: UserOpt = None,
    token: TokenOpt = None,
    role: RoleOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Authorise a draft (supervisors only; log in with --username or --token): fixes the watchlist and the
    operating point for its size."""
    from openlfr.services import deployments as dsvc

    c = ctx()
    p = principal(c, username, token, role)
    out = dsvc.authorise(
        c,
        ref,
        p.username,
        p.role,
        officer,
        note,
        justification=justification,
        target_fpir=fpir,
        threshold=threshold,
        legal_basis=legal_basis,
    )
    emit_json(out.to_dict()) if json_out else typer.echo(
        f"deployment {out.id} authorised by {out.authorising_officer} for {out.watchlist_size} people: "
        + _op_text(out.operating_point or {})
    )


@dep_app.command("operating-point")
def operating_point(
    ref: RefArg,
    fpir: Annotated[float | None, typer.Option(help="Target FPIR per face seen.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Or: an explicit threshold.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """What authorising a draft now would fix: threshold, expected false alerts, TPIR, safe band."""
    from openlfr.services import deployments as dsvc

    out = dsvc.preview_operating_point(ctx(), ref, target_fpir=fpir, threshold=threshold)
    if json_out:
        emit_json(out.to_dict())
        return
    typer.echo(_op_text(out.point.to_dict()))
    g = out.guardrail
    typer.echo(
        "inside the safe band"
        if g.safe
        else "OUTSIDE the safe band: "
        + "; ".join(g.problems)
        + f" (authorising needs --justification, at least {g.min_justification_chars} characters)"
    )


@dep_app.command("start")
def start(ref: RefArg, json_out: JsonOpt = False) -> None:
    """Mark an authorised deployment live (inside its planned window); `openlfr run --deployment ID` runs it."""
    from openlfr.services import deployments as dsvc

    c = ctx()
    plan = dsvc.mark_live(c, ref, c.settings.actor)
    emit_json(plan.to_dict()) if json_out else typer.echo(
        f"deployment {plan.deployment_id} is live until {plan.planned_end.isoformat()} "
        f"({len(plan.cameras)} camera(s), threshold {plan.threshold})"
    )


@dep_app.command("stop")
def stop(
    ref: RefArg, reason: Annotated[str, typer.Option(help="Why it ended.")] = "stopped", json_out: JsonOpt = False
) -> None:
    """End a deployment: deletes its watchlist photos and embeddings, freezes its statistics."""
    from openlfr.services import deployments as dsvc

    c = ctx()
    out = dsvc.mark_ended(c, ref, c.settings.actor, reason=reason)
    if json_out:
        emit_json(out.to_dict())
        return
    d = out.watchlist_deleted or {}
    typer.echo(
        f"deployment {out.id} ended; watchlist deleted ({d.get('entries', 0)} entries, "
        f"{d.get('images', 0)} images, {d.get('embeddings', 0)} embeddings); statistics frozen"
    )


@dep_app.command("show")
def show(ref: RefArg, json_out: JsonOpt = False) -> None:
    """Show a deployment and its statistics (no images)."""
    from openlfr.services import deployments as dsvc

    out = dsvc.show(ctx(), ref)
    emit_json(out.to_dict()) if json_out else _show_text(out)


@dep_app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None, json_out: JsonOpt = False
) -> None:
    """List deployments."""
    from openlfr.services import deployments as dsvc

    rows = dsvc.list_all(ctx(), state)
    if json_out:
        emit_json({"data": [r.to_dict() for r in rows], "count": len(rows)})
        return
    if not rows:
        typer.echo("no deployments")
    for r in rows:
        typer.echo(_line(r))


def register(app: typer.Typer) -> None:
    app.add_typer(dep_app, name="deployment")
