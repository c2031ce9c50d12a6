"""``openlfr check IMAGE --watchlist NAME``: operator-initiated one-photo check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli._common import emit_json, settings


def check(
    image: Path,
    watchlist: Annotated[str, typer.Option("--watchlist", "-w", help="Watchlist to search.")],
    threshold: Annotated[
        float | None, typer.Option(help="Score threshold in [0, 1]: an override of the target FPIR.")
    ] = None,
    fpir: Annotated[
        float | None,
        typer.Option(
            help="Target false-positive identification rate per face (default 1e-4 without --threshold); "
            "the threshold comes from the embedder's calibration at the watchlist's size."
        ),
    ] = None,
    top_k: Annotated[
        int,
        typer.Option(
            "--top-k",
            help="Best-scoring people per face: those at or above the threshold are candidates, the rest near misses.",
        ),
    ] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check every face in one photo against a watchlist. Stores nothing about the photo."""
    from openlfr.services.check import check_image
    from openlfr.services.context import AppContext

    ctx = AppContext(settings())
    out = check_image(ctx, image, watchlist, ctx.settings.actor, threshold=threshold, fpir=fpir, top_k=top_k)
    if json_out:
        emit_json(out)
        return
    typer.echo(
        f"{out.image}: {len(out.faces)} face(s); watchlist {out.watchlist} "
        f"({out.watchlist_size} people), threshold {out.threshold:.4f} ({out.threshold_source})"
    )
    for i, f in enumerate(out.faces, 1):
        flag = "" if f.passed_quality else "  [low quality: " + "; ".join(f.quality["failed"]) + "]"
        typer.echo(f"face {i} at {f.box}{flag}")
        if not f.candidates:
            typer.echo("  no candidate at or above the threshold")
        for c in f.candidates:
            typer.echo(f"  #{c.rank} {c.person_id} ({c.name}) score {c.score:.4f}")
        for c in f.near_misses:
            typer.echo(f"  near miss (not a match) #{c.rank} {c.person_id} ({c.name}) score {c.score:.4f}")


def register(app: typer.Typer) -> None:
    app.command("check")(check)
