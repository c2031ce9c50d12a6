"""``openlfr eval walkthrough``: score live recognition on a simulated walk-through.

Attaches to the ``eval`` sub-app defined in ``cli/eval_cmd.py`` (owned by the evaluation
command module); if that module is absent, registers a minimal ``eval`` group of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli._common import emit_json, progress_callback, settings
from openlfr.cli._live_opts import AnalysisWidthOpt, FusionOpt, MaxAttemptsOpt

VideoOpt = Annotated[Path, typer.Option("--video", help="Walk-through video (from `openlfr synth walkthrough`).")]
WatchlistOpt = Annotated[
    str,
    typer.Option(
        "--watchlist", "-w", help="Watchlist name, or a folder of photos (one subfolder per person) enrolled in memory."
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(help="Score threshold (override; default: the threshold for the target FPIR at the list's size)."),
]
FpirOpt = Annotated[
    float | None, typer.Option(help="Target false alerts per face seen (default 1e-4, as for deployments).")
]
AnalysisFpsOpt = Annotated[
    float | None, typer.Option(help="Analyse at most this many frames per second (a slow camera or a busy machine).")
]
DecisionOpt = Annotated[
    str | None,
    typer.Option(
        help="'track' (default): one search per track on the mean of its best shots; 'shot': search every "
        "shot and fuse the scores (--fusion)."
    ),
]
EarlyMarginOpt = Annotated[
    float | None,
    typer.Option(
        help="Early decision: a track whose template clears the threshold by this margin after 2 shots alerts "
        "at once (default 0.03; a negative value: never early)."
    ),
]
EarlyFirstMarginOpt = Annotated[
    float | None,
    typer.Option(
        help="Early decision on a track's first shot: it alerts at once when it clears the threshold by this "
        "margin (default 0.06; a negative value: never on one shot)."
    ),
]
FillersOpt = Annotated[
    int,
    typer.Option(
        help="Scale benchmark: also enrol this many other identities from the photo folder (none of the walk's "
        "people), so the walk is searched against a list of realistic size; -1: every one available."
    ),
]
FillerImagesOpt = Annotated[
    Path | None,
    typer.Option(help="Photo folder the fillers come from (default: the folder the walk was made from, in the truth)."),
]
FillerPhotosOpt = Annotated[
    int | None,
    typer.Option(help="Photos enrolled per filler (default: as many as per watchlisted person in the walk)."),
]


def walkthrough(
    video: VideoOpt,
    truth: Annotated[Path, typer.Option("--truth", help="Its ground-truth JSON.")],
    watchlist: WatchlistOpt,
    threshold: ThresholdOpt = None,
    fpir: FpirOpt = None,
    analysis_width: AnalysisWidthOpt = None,
    analysis_fps: AnalysisFpsOpt = None,
    fusion: FusionOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    decision: DecisionOpt = None,
    early_margin: EarlyMarginOpt = None,
    early_first_margin: EarlyFirstMarginOpt = None,
    detector: Annotated[str | None, typer.Option(help="Detector type (default: settings).")] = None,
    detector_model: Annotated[Path | None, typer.Option(help="Detector model file (ONNX backends).")] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder type (default: settings).")] = None,
    embedder_model: Annotated[Path | None, typer.Option(help="Embedder model file (ONNX backends).")] = None,
    fillers: FillersOpt = 0,
    filler_images: FillerImagesOpt = None,
    filler_photos: FillerPhotosOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the filler draw.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON result here.")] = None,
) -> None:
    """Measure per pass TPIR, FPIR, precision and alert latency on a walk-through video."""
    from openlfr.services import walkthrough as walk
    from openlfr.services.live import live_config

    ctx = walk.walk_context(settings(), detector, detector_model, embedder, embedder_model)
    cfg = walk.walk_config(
        live_config(analysis_fps, analysis_width, fusion, max_attempts),
        decision,
        {"early_margin": early_margin, "early_first_margin": early_first_margin},
    )
    with progress_callback("evaluating", quiet=json_out) as progress:
        scored = walk.score(
            ctx,
            video,
            truth,
            watchlist,
            cfg,
            threshold=threshold,
            fpir=fpir,
            fillers=fillers,
            filler_images=filler_images,
            filler_photos=filler_photos,
            seed=seed,
            progress=progress,
        )
    result = scored.to_dict()
    if out is not None:
        out.write_text(json.dumps(result, indent=1))
    if json_out:
        emit_json(result)
        return
    _print_walk(result)


def _fmt_rate(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return f"n/a ({r.get('reason', '')})"
    return f"{r['rate']:.3f} ({r['k']}/{r['n']}, 95% CI {r['ci'][0]:.3f}-{r['ci'][1]:.3f})"


def _print_walk(result: dict[str, Any]) -> None:
    """The human-readable summary of a walk-through result."""
    t, f, p, lat = result["tpir"], result["fpir"], result["precision"], result["alert_latency_s"]
    typer.echo(
        f"{result['passes']} passes ({result['watchlisted_passes']} watchlisted), watchlist of "
        f"{result['watchlist_size']}, threshold {result['threshold']:.4f}"
    )
    typer.echo(f"TPIR {_fmt_rate(t)}\nFPIR {_fmt_rate(f)}\nprecision {_fmt_rate(p)}")
    typer.echo(
        f"alerts {result['alerts']}: true {result['true_alerts']}, false {result['false_alerts']}; "
        f"latency p50 {lat['p50']} s, p95 {lat['p95']} s; faces seen {result['faces_seen']}"
    )
    if result["missed_watchlisted"]:
        typer.echo("missed: " + ", ".join(result["missed_watchlisted"]))


def _eval_app() -> typer.Typer | None:
    try:
        from openlfr.cli import eval_cmd
    except ImportError:
        return None
    for name in ("eval_app", "app_eval", "app"):
        obj = getattr(eval_cmd, name, None)
        if isinstance(obj, typer.Typer):
            return obj
    for obj in vars(eval_cmd).values():
        if isinstance(obj, typer.Typer):
            return obj
    return None


def register(app: typer.Typer) -> None:
    sub = _eval_app()
    if sub is None:
        sub = typer.Typer(no_args_is_help=True, help="Evaluation protocols.")
        app.add_typer(sub, name="eval")
    sub.command("walkthrough")(walkthrough)
