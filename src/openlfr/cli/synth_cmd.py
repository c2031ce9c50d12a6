"""``openlfr synth walkthrough``: compose a simulated walk-through video with ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli._common import emit_json, progress_callback

synth_app = typer.Typer(no_args_is_help=True, help="Synthetic test material (walk-through videos).")


def _size(text: str) -> tuple[int, int]:
    from openlfr.errors import InputError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 1280x720, got {text!r}", code="bad_option") from None
    return w, h


@synth_app.command("walkthrough")
def walkthrough(
    images: Annotated[Path, typer.Option("--images", help="Labelled photos: one subfolder per person.")],
    out: Annotated[Path, typer.Option("--out", help="Video file to write (.mp4).")],
    truth: Annotated[Path, typer.Option("--truth", help="Ground-truth JSON to write.")],
    people: Annotated[int, typer.Option(help="People passing (one pass each).")] = 40,
    watchlisted: Annotated[int, typer.Option(help="How many of them are on the watchlist.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed (people, order, paths, lighting).")] = 0,
    size: Annotated[str, typer.Option(help="Frame size WxH.")] = "1280x720",
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 10.0,
    enrol_images: Annotated[int, typer.Option(help="Photos per watchlisted person kept for enrolment.")] = 2,
    pass_images: Annotated[int, typer.Option(help="Different photos shown during a pass.")] = 3,
    watchlist_dir: Annotated[
        Path | None,
        typer.Option(
            help="Write enrolment photos here (one folder per watchlisted person; default: the video's name "
            "with .watchlist for its suffix, e.g. walk.watchlist next to walk.mp4)."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compose people from a labelled photo folder walking through a scene at different sizes,
    speeds, lighting and blur; write the video, its ground truth and the watchlist photos."""
    from openlfr.services.walkthrough import synthesise

    dims = _size(size)
    with progress_callback("rendering", quiet=json_out) as progress:
        result = synthesise(
            images,
            out,
            truth,
            people=people,
            watchlisted=watchlisted,
            seed=seed,
            size=dims,
            fps=fps,
            enrol_images=enrol_images,
            pass_images=pass_images,
            watchlist_dir=watchlist_dir,
            progress=progress,
        )
    if json_out:
        emit_json(result.to_dict())
    else:
        typer.echo(
            f"wrote {result.video} ({result.frames} frames, {result.duration_s} s), "
            f"truth {result.truth}, watchlist photos in {result.watchlist_dir}"
        )
        typer.echo(
            f"enrol them with: openlfr watchlist create NAME && openlfr watchlist import NAME {result.watchlist_dir}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")
