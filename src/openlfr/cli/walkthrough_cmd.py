"""``openlfr eval walkthrough``: score live recognition on a simulated walk-through.

Attaches to the ``eval`` sub-app defined in ``cli/eval_cmd.py`` (owned by the evaluation
command module); if that module is absent, registers a minimal ``eval`` group of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.cli._common import emit_json, progress_callback, settings

if TYPE_CHECKING:
    from openlfr.engine.live import LiveConfig
    from openlfr.services.context import AppContext


def walkthrough(
    video: Annotated[Path, typer.Option("--video", help="Walk-through video (from `openlfr synth walkthrough`).")],
    truth: Annotated[Path, typer.Option("--truth", help="Its ground-truth JSON.")],
    watchlist: Annotated[str, typer.Option("--watchlist", "-w", help="Watchlist name, or a folder of photos "
                                                                     "(one subfolder per person) enrolled in memory.")],
    threshold: Annotated[float | None, typer.Option(
        help="Score threshold (override; default: the threshold for the target FPIR at the list's size).")] = None,
    fpir: Annotated[float | None, typer.Option(
        help="Target false alerts per face seen (default 1e-4, as for deployments).")] = None,
    analysis_width: Annotated[int | None, typer.Option(
        help="Detect on frames scaled down to this width (default 640; 0: the full frame).")] = None,
    analysis_fps: Annotated[float | None, typer.Option(
        help="Analyse at most this many frames per second (a slow camera or a busy machine).")] = None,
    fusion: Annotated[str | None, typer.Option(help="Fusion rule over a track's shots: max, mean, top2.")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Shots embedded per track (cap).")] = None,
    decision: Annotated[str | None, typer.Option(
        help="'track' (default): one search per track on the mean of its best shots; 'shot': search every "
             "shot and fuse the scores (--fusion).")] = None,
    early_margin: Annotated[float | None, typer.Option(
        help="Early decision: a track whose template clears the threshold by this margin after 2 shots alerts "
             "at once (default 0.03; a negative value: never early).")] = None,
    early_first_margin: Annotated[float | None, typer.Option(
        help="Early decision on a track's first shot: it alerts at once when it clears the threshold by this "
             "margin (default 0.06; a negative value: never on one shot).")] = None,
    detector: Annotated[str | None, typer.Option(help="Detector type (default: settings).")] = None,
    detector_model: Annotated[Path | None, typer.Option(help="Detector model file (ONNX backends).")] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder type (default: settings).")] = None,
    embedder_model: Annotated[Path | None, typer.Option(help="Embedder model file (ONNX backends).")] = None,
    fillers: Annotated[int, typer.Option(
        help="Scale benchmark: also enrol this many other identities from the photo folder (none of the walk's "
             "people), so the walk is searched against a list of realistic size; -1: every one available.")] = 0,
    filler_images: Annotated[Path | None, typer.Option(
        help="Photo folder the fillers come from (default: the folder the walk was made from, in the truth).")] = None,
    filler_photos: Annotated[int | None, typer.Option(
        help="Photos enrolled per filler (default: as many as per watchlisted person in the walk).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the filler draw.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON result here.")] = None,
) -> None:
    """Measure per pass TPIR, FPIR, precision and alert latency on a walk-through video."""
    from openlfr.eval.walkthrough import evaluate, load_truth
    from openlfr.services.operating_point import op_fields, resolve_for

    ctx = _walk_context(detector, detector_model, embedder, embedder_model)
    truth_d = load_truth(truth)
    index, filler_info = _walk_index(ctx, watchlist, truth_d, fillers, filler_images, filler_photos, seed)
    # The same operating point a deployment gets: target FPIR (default 1e-4) at this list's size.
    op = resolve_for(ctx, index.size, target_fpir=fpir, threshold=threshold)
    cfg = _walk_config(analysis_fps, analysis_width, fusion, max_attempts, decision,
                       {"early_margin": early_margin, "early_first_margin": early_first_margin})
    with progress_callback("evaluating", quiet=json_out) as progress:
        result = evaluate(ctx.engine, index, op.threshold, video, truth_d, cfg, progress=progress).to_dict()
    result.update(op_fields(op), video=str(video), watchlist=watchlist)
    if filler_info is not None:
        result["scale"] = filler_info
    _report(result, out, json_out)


def _report(result: dict[str, Any], out: Path | None, json_out: bool) -> None:
    """Write the result to ``out`` (if given), then print it as JSON or as text."""
    if out is not None:
        out.write_text(json.dumps(result, indent=1))
    if json_out:
        emit_json(result)
        return
    _print_walk(result)


def _walk_context(detector: str | None, detector_model: Path | None, embedder: str | None,
                  embedder_model: Path | None) -> AppContext:
    """The app context with the engine the walk is scored with (settings, overridden by the options)."""
    from openlfr.engine.pipeline import EngineConfig
    from openlfr.services.context import AppContext, engine_config_from_settings

    st = settings()
    base = engine_config_from_settings(st)
    det = detector or base.detector
    det_opts: dict[str, Any] = dict(base.detector_options) if det == base.detector else {}
    if detector_model is not None:
        det_opts = {"path": str(detector_model)}
    emb = embedder or base.embedder
    emb_opts: dict[str, Any] = {"path": str(embedder_model)} if embedder_model is not None else {}
    return AppContext(st, engine_config=EngineConfig(detector=det, detector_options=det_opts, embedder=emb,
                                                      embedder_options=emb_opts, gate=base.gate))


def _walk_index(ctx: AppContext, watchlist: str, truth_d: dict[str, Any], fillers: int, filler_images: Path | None,
                filler_photos: int | None, seed: int) -> tuple[Any, dict[str, Any] | None]:
    """The index searched: a stored watchlist, or a folder of photos enrolled in memory (with fillers)."""
    from openlfr.engine.imageio import IMAGE_SUFFIXES
    from openlfr.engine.live import index_in_memory
    from openlfr.errors import InputError
    from openlfr.eval.walkthrough import draw_fillers
    from openlfr.services.watchlists import load_index

    wl_path = Path(watchlist)
    filler_info: dict[str, Any] | None = None
    if wl_path.is_dir():
        people: dict[str, list[Path]] = {
            d.name: [f for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
            for d in sorted(wl_path.iterdir()) if d.is_dir()}
        if fillers:
            folder = filler_images or Path(str(truth_d.get("images", "")))
            extra = draw_fillers(folder, truth_d, fillers, filler_photos or int(truth_d.get("enrol_images", 1)),
                                 seed)
            filler_info = {"fillers": len(extra), "filler_images": str(folder),
                           "filler_photos": filler_photos or int(truth_d.get("enrol_images", 1)), "seed": seed}
            people.update(extra)
        index, rejected = index_in_memory(ctx.engine, people)
        if filler_info is not None:
            filler_info["enrol_rejected_photos"] = sum(len(v) for v in rejected.values())
    else:
        if fillers:
            raise InputError("--fillers needs --watchlist to be a folder of photos", code="bad_option")
        index, _meta = load_index(ctx, watchlist)
    return index, filler_info


def _walk_config(analysis_fps: float | None, analysis_width: int | None, fusion: str | None,
                 max_attempts: int | None, decision: str | None, margins: dict[str, float | None]) -> LiveConfig:
    """The live configuration the walk is analysed with (as ``openlfr live run``, plus decision and the early
    margins: ``margins`` maps ShotPolicy fields to a value, None to keep the default, negative to turn off)."""
    from openlfr.cli.live_cmd import _live_config
    from openlfr.engine.live import LiveConfig

    cfg: LiveConfig = _live_config(analysis_fps, analysis_width, fusion, max_attempts)
    if decision is not None:
        cfg = cfg.model_copy(update={"decision": LiveConfig.model_validate({"decision": decision}).decision})
    update = {k: (None if v < 0 else v) for k, v in margins.items() if v is not None}
    if update:
        cfg = cfg.model_copy(update={"shots": cfg.shots.model_copy(update=update)})
    return cfg


def _fmt_rate(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return f"n/a ({r.get('reason', '')})"
    return f"{r['rate']:.3f} ({r['k']}/{r['n']}, 95% CI {r['ci'][0]:.3f}-{r['ci'][1]:.3f})"


def _print_walk(result: dict[str, Any]) -> None:
    """The human-readable summary of a walk-through result."""
    t, f, p, lat = result["tpir"], result["fpir"], result["precision"], result["alert_latency_s"]
    typer.echo(f"{result['passes']} passes ({result['watchlisted_passes']} watchlisted), watchlist of "
               f"{result['watchlist_size']}, threshold {result['threshold']:.4f}")
    typer.echo(f"TPIR {_fmt_rate(t)}\nFPIR {_fmt_rate(f)}\nprecision {_fmt_rate(p)}")
    typer.echo(f"alerts {result['alerts']}: true {result['true_alerts']}, false {result['false_alerts']}; "
               f"latency p50 {lat['p50']} s, p95 {lat['p95']} s; faces seen {result['faces_seen']}")
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
