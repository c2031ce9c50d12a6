"""``openlfr eval ...``: verification, open-set identification, thresholds, calibration, planning,
fairness, and the evaluation embedding cache. See docs/evaluation.md and docs/metrics.md."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.cli._common import emit_json
from openlfr.cli._engine_opts import (
    DetectorModelOpt,
    DetectorOpt,
    DetectorOptionOpt,
    EmbedderModelOpt,
    EmbedderOpt,
    EmbedderOptionOpt,
    JitterOpt,
    UpsampleOpt,
    engine_config,
)
from openlfr.errors import ConfigError, InputError

if TYPE_CHECKING:
    from openlfr.eval.calibration import Calibration
    from openlfr.eval.compute import EmbeddingTable, EvalPipeline
    from openlfr.eval.planning import Rate
    from openlfr.eval.protocols import Dataset

PIPELINE: Any = None
"""Default of a command's ``pipe`` parameter, which :func:`with_pipeline` replaces by the pipeline options."""

eval_app = typer.Typer(no_args_is_help=True, help="Evaluation: verification, 1:N identification, "
                                                  "thresholds, calibration, planning, fairness.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object and nothing else.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Worker processes computing embeddings (each has its own engine).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")]
FallbackOpt = Annotated[str, typer.Option(
    "--fallback", help="No face detected: 'box' embeds a centre box (LFW's median HOG box), "
                       "'none' counts a failure to acquire.")]
RedetectOpt = Annotated[str | None, typer.Option(
    "--redetect", help="Second detector tried when the first finds no face (e.g. dlib-mmod).",
    show_default=False)]
LandmarksOpt = Annotated[int | None, typer.Option(
    "--landmarks", help="dlib shape predictor: 5 (default) or 68 points.", show_default=False)]
PaddingOpt = Annotated[float | None, typer.Option(
    "--padding", min=0.0, max=1.0, help="dlib chip padding (default 0.25, as the model was trained).",
    show_default=False)]
ImagesOpt = Annotated[Path, typer.Option("--images", help="Folder of identity folders (LFW layout).")]


_PIPELINE_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("detector", DetectorOpt, None), ("embedder", EmbedderOpt, None), ("upsample", UpsampleOpt, None),
    ("jitter", JitterOpt, None), ("detector_model", DetectorModelOpt, None), ("embedder_model", EmbedderModelOpt, None),
    ("detector_option", DetectorOptionOpt, None), ("embedder_option", EmbedderOptionOpt, None),
    ("landmarks", LandmarksOpt, None), ("padding", PaddingOpt, None), ("fallback", FallbackOpt, "box"),
    ("redetect", RedetectOpt, None),
)
"""The options every embedding command takes to build its ``EvalPipeline`` (:func:`with_pipeline`)."""


def with_pipeline(fn: Callable[..., None]) -> Callable[..., None]:
    """A command whose ``pipe`` parameter is replaced, where it stands, by the pipeline options
    (``--detector`` ... ``--redetect``); the command receives the ``EvalPipeline`` they describe."""
    import functools
    import inspect

    sig = inspect.signature(fn)
    params: list[inspect.Parameter] = []
    for prm in sig.parameters.values():
        if prm.name == "pipe":
            params.extend(inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                          for n, a, d in _PIPELINE_OPTIONS)
            continue
        ann = eval(prm.annotation, fn.__globals__) if isinstance(prm.annotation, str) else prm.annotation  # noqa: S307
        params.append(prm.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=ann))

    @functools.wraps(fn)
    def command(**kwargs: Any) -> None:
        fn(pipe=_pipeline(*(kwargs.pop(n) for n, _, _ in _PIPELINE_OPTIONS)), **kwargs)

    command.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {q.name: q.annotation for q in params}
    return command


def _pipeline(detector: str | None, embedder: str | None, upsample: int | None, jitter: int | None,
              detector_model: str | None, embedder_model: str | None, detector_option: list[str] | None,
              embedder_option: list[str] | None, landmarks: int | None, padding: float | None,
              fallback: str, redetect: str | None) -> EvalPipeline:
    from openlfr.eval.compute import EvalPipeline, FaceChoice

    if fallback not in ("box", "none"):
        raise ConfigError(f"--fallback must be 'box' or 'none', got {fallback!r}", code="bad_option")
    from openlfr.settings import load_settings

    # dlib's jitter on the ONNX twin: the same jittered chips (dlib.jitter_image), same vectors
    twin_jitter = 0
    if jitter and (embedder or load_settings().embedder) == "dlib-resnet-onnx":
        twin_jitter, jitter = jitter, None
    cfg = engine_config(detector, embedder, upsample=upsample, jitter=jitter, detector_model=detector_model,
                        embedder_model=embedder_model, detector_option=detector_option,
                        embedder_option=embedder_option, landmarks=landmarks, padding=padding)
    choice = FaceChoice.model_validate({"fallback": fallback, "redetect": redetect, "jitter": twin_jitter})
    return EvalPipeline(engine=cfg, choice=choice)


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def cb(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield cb


def _embed(paths: list[Path], pipe: EvalPipeline, workers: int, no_cache: bool, quiet: bool,
           label: str = "embedding") -> EmbeddingTable:
    from openlfr.eval.compute import embed_images

    with _progress(label, quiet) as cb:
        return embed_images(paths, pipe, workers=workers, use_cache=not no_cache, progress=cb)


HalfOpt = Annotated[str | None, typer.Option(
    "--half", help="Use one half of the identities only: A or B (a fixed split by a hash of the folder name; "
                   "choose on one, report on the other).", show_default=False)]


def _dataset(images: Path, half: str | None = None) -> Dataset:
    from openlfr.eval.protocols import load_dataset

    return load_dataset(images, half=half.upper() if half else None)


def _fmt(x: float | None, pct: bool = False, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.2f}%" if pct else f"{x:.{digits}f}"


# ------------------------------------------------------------------ verify


@eval_app.command("verify")
@with_pipeline
def verify_cmd(
    pairs: Annotated[Path, typer.Option("--pairs", help="LFW pairs file (official View 2 format).")],
    images: ImagesOpt,
    json_out: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a ROC curve PNG here.")] = None,
    folds: Annotated[int | None, typer.Option("--folds", min=2, help="Use only the first N folds.")] = None,
    pipe: EvalPipeline = PIPELINE, workers: WorkersOpt = 2, no_cache: NoCacheOpt = False,
) -> None:
    """1:1 verification on the LFW View 2 protocol: 10-fold accuracy (threshold from the other 9
    folds), ROC AUC, EER, TAR at FAR 1e-3."""
    from openlfr.eval.protocols import parse_pairs, restrict_folds
    from openlfr.eval.protocols import verify as run_verify

    p = parse_pairs(pairs, images)
    if folds is not None:
        p = restrict_folds(p, folds)
    table = _embed(p.images(), pipe, workers, no_cache, json_out)
    res = run_verify(table, p)
    out = res.to_dict()
    out["embedding_stats"] = table.stats
    if plot is not None:
        from openlfr.eval.plots import roc_png

        roc_png(res.roc, plot, label=f"{table.models['embedder']} (AUC {res.auc:.4f})")
        out["plot"] = str(plot)
    if json_out:
        emit_json(out)
        return
    typer.echo(f"LFW View 2: {res.pairs} pairs in {res.folds} folds; models {table.models['detector']} + "
               f"{table.models['embedder']}")
    typer.echo(f"accuracy {_fmt(res.kfold.mean, True)} ± {_fmt(res.kfold.std, True)} (threshold from the "
               f"other folds); AUC {res.auc:.5f}; EER {_fmt(res.eer, True)}")
    for k, v in res.tar.items():
        typer.echo(f"TAR at FAR {k}: {_fmt(v.value, True)} (threshold {_fmt(v.threshold)})"
                   + (f" [{v.reason}]" if v.reason else ""))
    typer.echo(f"failures to acquire: {res.failures_to_acquire}; images embedded from the fallback box: "
               f"{res.fallbacks}")
    if plot is not None:
        typer.echo(f"ROC written to {plot}")


# ------------------------------------------------------------------ identify


def _default_threshold_or_none(family: str) -> float | None:
    from openlfr.errors import ConfigError
    from openlfr.services.operating_point import default_threshold

    try:
        return default_threshold(family)
    except ConfigError:
        return None


@eval_app.command("identify")
@with_pipeline
def identify_cmd(
    images: ImagesOpt,
    watchlist_size: Annotated[int | None, typer.Option(
        "--watchlist-size", help="Draw N identities for the watchlist (default: every identity with at "
                                 "least K+1 images).", show_default=False)] = None,
    enrol_per_identity: Annotated[int, typer.Option("--enrol-per-identity", min=1,
                                                    help="Images enrolled per watchlist identity (K).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the watchlist draw.")] = 0,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Also report FPIR and FNIR at this threshold (default: the embedder's "
                            "default threshold, when it has one).", show_default=False)] = None,
    json_out: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a DET curve PNG here.")] = None,
    pipe: EvalPipeline = PIPELINE, workers: WorkersOpt = 2, no_cache: NoCacheOpt = False,
    half: HalfOpt = None,
) -> None:
    """Open-set 1:N identification: FNIR at FPIR 1e-2, 1e-3, 1e-4, rank-1, DET curve."""
    from openlfr.eval.metrics import det_curve
    from openlfr.eval.protocols import identify

    ds = _dataset(images, half)
    table = _embed(ds.paths, pipe, workers, no_cache, json_out)
    thr = threshold if threshold is not None else _default_threshold_or_none(table.models["family"])
    res, _ = identify(table, ds, enrol_per_identity, watchlist_size, seed, thr)
    out = res.to_dict()
    out["embedding_stats"] = table.stats
    if plot is not None:
        from openlfr.eval.plots import det_png

        marks = {f"FPIR {k}": [(v.achieved, v.value)] for k, v in res.targets.items()
                 if v.value is not None and v.achieved}
        det_png({f"{table.models['embedder']}, N={res.outcomes.watchlist_size}": det_curve(res.outcomes)},
                plot, marks=marks)
        out["plot"] = str(plot)
    if json_out:
        emit_json(out)
        return
    o = res.outcomes
    typer.echo(f"open-set 1:N: watchlist {o.watchlist_size} (K={enrol_per_identity} enrolled each), "
               f"{o.mated} mated and {o.nonmated} non-mated searches; rank-1 {_fmt(out['rank1'], True)}")
    for k, v in res.targets.items():
        if v.value is None:
            typer.echo(f"FNIR at FPIR {k}: n/a ({v.reason})")
        else:
            typer.echo(f"FNIR at FPIR {k}: {_fmt(v.value, True)} (threshold {_fmt(v.threshold)}, "
                       f"achieved FPIR {_fmt(v.achieved, digits=5)})")
    if res.at_threshold:
        a = res.at_threshold
        typer.echo(f"at threshold {a['threshold']:.4f}: FPIR {_fmt(a['fpir']['rate'], digits=5)}, "
                   f"FNIR {_fmt(a['fnir']['rate'], True)}")
    if plot is not None:
        typer.echo(f"DET written to {plot}")


# ------------------------------------------------------------------ threshold


@eval_app.command("threshold")
@with_pipeline
def threshold_cmd(
    images: ImagesOpt,
    watchlist_size: Annotated[int, typer.Option("--watchlist-size", min=1,
                                                help="Watchlist size N (one image per identity).")] = 1000,
    fpir: Annotated[float, typer.Option("--fpir", help="Target FPIR.")] = 1e-3,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Random watchlist draws.")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_out: JsonOpt = False,
    pipe: EvalPipeline = PIPELINE, workers: WorkersOpt = 2, no_cache: NoCacheOpt = False,
    half: HalfOpt = None,
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", help="Also check this calibration's N x FMR threshold for the target on these draws "
                              "(e.g. a calibration of half A checked on half B).", show_default=False)] = None,
    no_exclusions: Annotated[bool, typer.Option(
        "--no-exclusions", help="Do not leave out the shipped list of known label errors.")] = False,
) -> None:
    """Measure an operating threshold: the score at which a stranger searched against N people
    matches no one with probability >= 1 - FPIR, over random watchlist draws."""
    import json as _json

    from openlfr.eval.calibration import Calibration
    from openlfr.eval.exclusions import load_exclusions
    from openlfr.eval.threshold import measure_threshold

    if not 0.0 < fpir < 1.0:
        raise InputError(f"--fpir must be in (0, 1), got {fpir}", code="bad_option")
    ds = _dataset(images, half)
    at = None
    if calibration is not None:
        at = Calibration.from_dict(_json.loads(calibration.read_text())).threshold_for_fpir(fpir, watchlist_size)
    table = _embed(ds.paths, pipe, workers, no_cache, json_out)
    res = measure_threshold(table, ds, watchlist_size, fpir, draws, seed, at=at,
                            exclusions=None if no_exclusions else load_exclusions())
    out = res.to_dict()
    if json_out:
        emit_json(out)
        return
    pd = out["per_draw_threshold"]
    typer.echo(f"watchlist {watchlist_size}, target FPIR {fpir:g}, {draws} draws of "
               f"{out['nonmated_searches_per_draw']:.0f} non-mated searches")
    typer.echo(f"per-draw threshold: mean {pd['mean']:.4f} (min {pd['min']:.4f}, p90 {pd['p90']:.4f}, "
               f"max {pd['max']:.4f}); pooled {out['pooled_threshold']:.4f}")
    f = out["fpir_at_threshold"]
    typer.echo(f"recommended threshold {res.recommended:.3f}: pooled FPIR {f['rate']:.5f} "
               f"({f['k']}/{f['n']}), target met in {res.draws_meeting_target}/{draws} draws")
    if res.checked is not None:
        c = res.checked
        typer.echo(f"calibration's N x FMR threshold {c['threshold']:.4f}: pooled FPIR {c['fpir']:.5f} "
                   f"({c['k']}/{c['n']}), target {'met' if c['target_met'] else 'NOT met'}, "
                   f"in {c['draws_meeting_target']}/{draws} draws")


# ------------------------------------------------------------------ calibrate


@eval_app.command("calibrate")
@with_pipeline
def calibrate_cmd(
    images: ImagesOpt,
    out_path: Annotated[Path | None, typer.Option("--out", help="Write here instead of "
                                                                "<data_dir>/calibration/<family>.json.")] = None,
    json_out: JsonOpt = False,
    pipe: EvalPipeline = PIPELINE, workers: WorkersOpt = 2, no_cache: NoCacheOpt = False,
    half: HalfOpt = None,
    exclusions: Annotated[Path | None, typer.Option(
        "--exclusions", help="Known label errors to leave out (JSON; default: the LFW list shipped with "
                             "OpenLFR, eval/data/lfw_label_errors.json).", show_default=False)] = None,
    no_exclusions: Annotated[bool, typer.Option(
        "--no-exclusions", help="Count every cross-identity pair as an impostor pair, label errors too.")] = False,
) -> None:
    """Save a calibration (score -> FMR per comparison, with sample sizes) for the embedder, so that
    `--fpir` can be used instead of a raw threshold (FPIR ~= N * FMR)."""
    from openlfr.eval.calibration import calibrate, save_calibration
    from openlfr.eval.exclusions import load_exclusions

    ds = _dataset(images, half)
    excl = None if no_exclusions else load_exclusions(exclusions)
    table = _embed(ds.paths, pipe, workers, no_cache, json_out)
    cal = calibrate(table, ds, exclusions=excl)
    path = save_calibration(cal, path=out_path)
    out = {"path": str(path), **cal.summary()}
    if json_out:
        emit_json(out)
        return
    typer.echo(f"calibration for {cal.family} written to {path}")
    typer.echo(f"{cal.impostor_n:,} impostor and {cal.genuine_n:,} genuine comparisons")
    for n, row in out["threshold_for_fpir"].items():
        typer.echo(f"  watchlist {n:>6}: " + ", ".join(f"FPIR {p} -> {_fmt(t)}" for p, t in row.items()))


# ------------------------------------------------------------------ plan


@eval_app.command("plan")
def plan_cmd(
    faces: Annotated[float, typer.Option("--faces", min=0, help="Faces seen (tracks) expected.")],
    watchlist_size: Annotated[int, typer.Option("--watchlist-size", min=1, help="Watchlist size N.")],
    prevalence: Annotated[float, typer.Option("--prevalence", min=0.0, max=1.0,
                                              help="Share of faces seen that are on the watchlist.")],
    threshold: Annotated[float | None, typer.Option("--threshold", help="Score threshold.",
                                                    show_default=False)] = None,
    fpir: Annotated[float | None, typer.Option("--fpir", help="Target FPIR instead of a threshold.",
                                               show_default=False)] = None,
    tpir: Annotated[float | None, typer.Option("--tpir", help="Assumed TPIR (default: from the calibration).",
                                               show_default=False)] = None,
    no_calibration: Annotated[bool, typer.Option(
        "--no-calibration", help="Use --fpir and --tpir as given (no intervals), e.g. published figures.")] = False,
    embedder: EmbedderOpt = None,
    embedder_model: EmbedderModelOpt = None,
    embedder_option: EmbedderOptionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Expected false alerts, true alerts and precision for a deployment (formulas of
    ARCHITECTURE.md section 4), with intervals from the calibration's sample sizes."""
    from openlfr.eval.planning import plan

    _check_plan_options(threshold, fpir, tpir, no_calibration)
    notes: list[str] = []
    cal = None if no_calibration else _plan_calibration(embedder, embedder_model, embedder_option)
    thr, fpir_rate, tpir_rate, source = _plan_rates(cal, threshold, fpir, tpir, watchlist_size, notes)
    pl = plan(faces, prevalence, fpir_rate, tpir_rate, watchlist_size, thr, source, tuple(notes))
    out = pl.to_dict()
    if json_out:
        emit_json(out)
        return
    _print_plan(out, faces, watchlist_size, prevalence, thr, notes)


def _check_plan_options(threshold: float | None, fpir: float | None, tpir: float | None,
                        no_calibration: bool) -> None:
    if (threshold is None) == (fpir is None):
        raise InputError("give exactly one of --threshold and --fpir", code="bad_option")
    if fpir is not None and not 0.0 < fpir < 1.0:
        raise InputError(f"--fpir must be in (0, 1), got {fpir}", code="bad_option")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be in [0, 1], got {threshold}", code="bad_option")
    if tpir is not None and not 0.0 <= tpir <= 1.0:
        raise InputError(f"--tpir must be in [0, 1], got {tpir}", code="bad_option")
    if no_calibration and (fpir is None or tpir is None):
        raise InputError("--no-calibration needs --fpir and --tpir", code="bad_option")


def _plan_calibration(embedder: str | None, embedder_model: str | None,
                      embedder_option: list[str] | None) -> Calibration:
    """The calibration of the embedder ``plan`` is asked about (settings, overridden by the options)."""
    from openlfr.engine import registry
    from openlfr.errors import NotFoundError
    from openlfr.services.operating_point import load_calibration

    cfg = engine_config(None, embedder, embedder_model=embedder_model, embedder_option=embedder_option)
    emb = registry.create("embedder", cfg.embedder, **cfg.embedder_options)
    try:
        return load_calibration(emb)
    except NotFoundError as exc:
        raise NotFoundError(exc.message + "; or give --fpir and --tpir with --no-calibration",
                            code=exc.code) from exc


def _plan_rates(cal: Calibration | None, threshold: float | None, fpir: float | None, tpir: float | None,
                watchlist_size: int, notes: list[str]) -> tuple[float | None, Rate, Rate, str]:
    """Threshold, FPIR, TPIR and their source for ``plan``: from the calibration, or as given; appends notes."""
    from openlfr.eval.planning import Rate

    if cal is None:
        assert fpir is not None and tpir is not None
        notes.append("no calibration: FPIR and TPIR as given, no intervals")
        return threshold, Rate.exact(fpir), Rate.exact(tpir), "given rates (no calibration)"
    thr = threshold
    if thr is None:
        assert fpir is not None
        thr = cal.threshold_for_fpir(fpir, watchlist_size)
        notes.append(f"threshold {thr:.4f} is the smallest calibrated score with N * FMR <= {fpir:g}")
    value, (lo, hi), k, n = cal.fpir(thr, watchlist_size)
    fpir_rate = Rate(value, lo, hi, k, n)
    notes.append(f"FPIR ~= N * FMR with FMR = {k}/{n} impostor comparisons at >= {thr:.4f}")
    if tpir is None:
        t = cal.tpir(thr)
        if t is None or t[1] == 0:
            raise ConfigError("the calibration has no identification run for TPIR; pass --tpir",
                              code="bad_calibration")
        tpir_rate = Rate.measured(t[0], t[1])
        ident = cal.identify or {}
        notes.append(f"TPIR from {t[1]} mated searches (rank 1, score >= threshold) against a watchlist of "
                     f"{ident.get('watchlist_size')}, one photo enrolled each")
    else:
        tpir_rate = Rate.exact(tpir)
        notes.append("TPIR as given (--tpir)")
    return thr, fpir_rate, tpir_rate, f"calibration {cal.family} ({cal.source.get('images', '?')})"


def _tri(x: dict[str, Any], digits: int = 1) -> str:
    lo, hi = x["ci"]
    if x["value"] is None:
        return "n/a"
    return f"{x['value']:.{digits}f} (95% {lo:.{digits}f} to {hi:.{digits}f})"


def _print_plan(d: dict[str, Any], faces: float, watchlist_size: int, prevalence: float, thr: float | None,
                notes: list[str]) -> None:
    typer.echo(f"{faces:,.0f} faces seen, watchlist {watchlist_size}, prevalence {prevalence:g}, "
               f"threshold {_fmt(thr)}")
    typer.echo(f"FPIR {d['fpir']['value']:.3g}, TPIR {d['tpir']['value']:.3f}")
    typer.echo(f"expected false alerts: {_tri(d['expected_false_alerts'])}")
    typer.echo(f"expected true alerts:  {_tri(d['expected_true_alerts'])}")
    typer.echo(f"expected precision:    {_tri(d['expected_precision'], 3)}")
    for note in notes:
        typer.echo(f"  note: {note}")


# ------------------------------------------------------------------ fairness


@eval_app.command("fairness")
@with_pipeline
def fairness_cmd(
    images: ImagesOpt,
    labels: Annotated[Path, typer.Option("--labels", help="CSV 'image_or_identity,group' (groups are the "
                                                          "user's; nothing is inferred).")],
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Operating threshold (default: the embedder's default threshold).",
        show_default=False)] = None,
    json_out: JsonOpt = False,
    pipe: EvalPipeline = PIPELINE, workers: WorkersOpt = 2, no_cache: NoCacheOpt = False,
) -> None:
    """Per group FPIR, FNIR and failure to acquire at the operating threshold with 95% intervals,
    the max/min ratio, and where differences become significant."""
    from openlfr.eval.fairness import fairness_report
    from openlfr.eval.protocols import fairness_groups, load_labels

    ds = _dataset(images)
    groups = load_labels(labels, ds)
    table = _embed(ds.paths, pipe, workers, no_cache, json_out)
    thr = threshold if threshold is not None else _default_threshold_or_none(table.models["family"])
    if thr is None:
        raise ConfigError(f"no default threshold for {table.models['family']}; pass --threshold",
                          code="no_threshold")
    gd, gal = fairness_groups(table, ds, groups)
    rep = fairness_report(gd, thr)
    out = rep.to_dict()
    out["watchlist_size"] = len(gal.identities)
    out["labelled_images"] = len(groups)
    out["unlabelled_images"] = len(ds) - len(groups)
    out["models"] = table.models
    if json_out:
        emit_json(out)
        return
    typer.echo(f"threshold {thr:.4f}; watchlist {len(gal.identities)}; {len(groups)} labelled images "
               f"({out['unlabelled_images']} unlabelled, ignored)")
    for name, g in rep.groups.items():
        parts = []
        for m in ("fpir", "fnir", "fta"):
            r = g[m]
            ci = r["ci"]
            parts.append(f"{m.upper()} {_fmt(r['value'], digits=4)} ({r['k']}/{r['n']}"
                         + (f", 95% {ci[0]:.4f}-{ci[1]:.4f})" if ci else ")"))
        typer.echo(f"  {name}: " + "; ".join(parts))
    for m, c in rep.comparisons.items():
        ratio = f"{c.ratio:.2f}" if c.ratio is not None else f"n/a ({c.reason})"
        perm = (f", identity-level permutation p = {_fmt(c.p_value_permutation, digits=4)}"
                if c.p_value_permutation is not None else "")
        typer.echo(f"{m.upper()} max/min ratio {ratio}; Fisher p = {_fmt(c.p_value, digits=4)}{perm}"
                   f"{' (significant)' if c.significant else ''}")
    sig = out["significance"]
    typer.echo(f"FPIR differences significant at or below {_fmt(sig['fpir_significant_at_or_below'])}; "
               f"FNIR differences significant at or above {_fmt(sig['fnir_significant_at_or_above'])}")


# ------------------------------------------------------------------ cache


@eval_app.command("cache-clear")
def cache_clear_cmd(json_out: JsonOpt = False) -> None:
    """Delete every cached evaluation embedding (under <data_dir>/cache/embeddings)."""
    from openlfr.eval.cache import clear, default_root

    root = default_root()
    res = clear(root)
    out = {"path": str(root), "files_removed": res["files"], "bytes_removed": res["bytes"]}
    if json_out:
        emit_json(out)
        return
    typer.echo(f"removed {res['files']} file(s), {res['bytes']:,} bytes, from {root}")


@eval_app.command("cache-info")
def cache_info_cmd(json_out: JsonOpt = False) -> None:
    """What the evaluation embedding cache holds."""
    from openlfr.eval.cache import default_root, describe

    root = default_root()
    entries = describe(root)
    if json_out:
        emit_json({"path": str(root), "entries": entries})
        return
    if not entries:
        typer.echo(f"{root}: empty")
    for e in entries:
        key = e["model_key"] or {}
        typer.echo(f"{e['file']}: {e['images']} images, {e['bytes']:,} bytes; "
                   f"{key.get('detector', '?')} + {key.get('embedder', '?')}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
