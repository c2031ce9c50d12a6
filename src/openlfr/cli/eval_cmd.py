"""``openlfr eval ...``: verification, open-set identification, thresholds, calibration, planning,
fairness, and the evaluation embedding cache. See docs/evaluation.md and docs/metrics.md."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
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
)

if TYPE_CHECKING:
    from openlfr.services.evaluation import EvalPipeline, Run

PIPELINE: Any = None
"""Default of a command's ``pipe`` parameter, which :func:`with_pipeline` replaces by the pipeline options."""

eval_app = typer.Typer(
    no_args_is_help=True,
    help="Evaluation: verification, 1:N identification, thresholds, calibration, planning, fairness.",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object and nothing else.")]
WorkersOpt = Annotated[
    int,
    typer.Option("--workers", min=1, max=64, help="Worker processes computing embeddings (each has its own engine)."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")]
FallbackOpt = Annotated[
    str,
    typer.Option(
        "--fallback",
        help="No face detected: 'box' embeds a centre box (LFW's median HOG box), 'none' counts a failure to acquire.",
    ),
]
RedetectOpt = Annotated[
    str | None,
    typer.Option(
        "--redetect", help="Second detector tried when the first finds no face (e.g. dlib-mmod).", show_default=False
    ),
]
LandmarksOpt = Annotated[
    int | None, typer.Option("--landmarks", help="dlib shape predictor: 5 (default) or 68 points.", show_default=False)
]
PaddingOpt = Annotated[
    float | None,
    typer.Option(
        "--padding",
        min=0.0,
        max=1.0,
        help="dlib chip padding (default 0.25, as the model was trained).",
        show_default=False,
    ),
]
ImagesOpt = Annotated[Path, typer.Option("--images", help="Folder of identity folders (LFW layout).")]


_PIPELINE_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("detector", DetectorOpt, None),
    ("embedder", EmbedderOpt, None),
    ("upsample", UpsampleOpt, None),
    ("jitter", JitterOpt, None),
    ("detector_model", DetectorModelOpt, None),
    ("embedder_model", EmbedderModelOpt, None),
    ("detector_option", DetectorOptionOpt, None),
    ("embedder_option", EmbedderOptionOpt, None),
    ("landmarks", LandmarksOpt, None),
    ("padding", PaddingOpt, None),
    ("fallback", FallbackOpt, "box"),
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
            params.extend(
                inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                for n, a, d in _PIPELINE_OPTIONS
            )
            continue
        ann = eval(prm.annotation, fn.__globals__) if isinstance(prm.annotation, str) else prm.annotation  # noqa: S307
        params.append(prm.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=ann))

    @functools.wraps(fn)
    def command(**kwargs: Any) -> None:
        from openlfr.services.evaluation import pipeline

        fn(pipe=pipeline(**{n: kwargs.pop(n) for n, _, _ in _PIPELINE_OPTIONS}), **kwargs)

    command.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {q.name: q.annotation for q in params}
    return command


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


def _measured(json_out: bool, call: Callable[[Callable[[int, int], None] | None], Run]) -> Run | None:
    """Run one evaluation (``call(progress)``) with a progress bar on a terminal; with ``--json`` print its
    JSON and answer None (the command prints nothing else)."""
    with _progress("embedding", json_out) as cb:
        run = call(cb)
    if json_out:
        emit_json(run.out)
        return None
    return run


HalfOpt = Annotated[
    str | None,
    typer.Option(
        "--half",
        help="Use one half of the identities only: A or B (a fixed split by a hash of the folder name; "
        "choose on one, report on the other).",
        show_default=False,
    ),
]

DrawWatchlistSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--watchlist-size",
        help="Draw N identities for the watchlist (default: every identity with at least K+1 images).",
        show_default=False,
    ),
]
EnrolPerIdentityOpt = Annotated[
    int, typer.Option("--enrol-per-identity", min=1, help="Images enrolled per watchlist identity (K).")
]
AlsoThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        help="Also report FPIR and FNIR at this threshold (default: the embedder's "
        "default threshold, when it has one).",
        show_default=False,
    ),
]
WatchlistSizeOpt = Annotated[
    int, typer.Option("--watchlist-size", min=1, help="Watchlist size N (one image per identity).")
]
CheckCalibrationOpt = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        help="Also check this calibration's N x FMR threshold for the target on these draws "
        "(e.g. a calibration of half A checked on half B).",
        show_default=False,
    ),
]
NoExclusionsOpt = Annotated[
    bool, typer.Option("--no-exclusions", help="Do not leave out the shipped list of known label errors.")
]


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
    pipe: EvalPipeline = PIPELINE,
    workers: WorkersOpt = 2,
    no_cache: NoCacheOpt = False,
) -> None:
    """1:1 verification on the LFW View 2 protocol: 10-fold accuracy (threshold from the other 9
    folds), ROC AUC, EER, TAR at FAR 1e-3."""
    from openlfr.services import evaluation

    run = _measured(
        json_out,
        lambda cb: evaluation.verify(
            pairs, images, pipe, folds=folds, workers=workers, use_cache=not no_cache, plot=plot, progress=cb
        ),
    )
    if run is None:
        return
    res, table = run.result, run.table
    assert table is not None
    typer.echo(
        f"LFW View 2: {res.pairs} pairs in {res.folds} folds; models {table.models['detector']} + "
        f"{table.models['embedder']}"
    )
    typer.echo(
        f"accuracy {_fmt(res.kfold.mean, True)} ± {_fmt(res.kfold.std, True)} (threshold from the "
        f"other folds); AUC {res.auc:.5f}; EER {_fmt(res.eer, True)}"
    )
    for k, v in res.tar.items():
        typer.echo(
            f"TAR at FAR {k}: {_fmt(v.value, True)} (threshold {_fmt(v.threshold)})"
            + (f" [{v.reason}]" if v.reason else "")
        )
    typer.echo(
        f"failures to acquire: {res.failures_to_acquire}; images embedded from the fallback box: {res.fallbacks}"
    )
    if plot is not None:
        typer.echo(f"ROC written to {plot}")


# ------------------------------------------------------------------ identify


@eval_app.command("identify")
@with_pipeline
def identify_cmd(
    images: ImagesOpt,
    watchlist_size: DrawWatchlistSizeOpt = None,
    enrol_per_identity: EnrolPerIdentityOpt = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the watchlist draw.")] = 0,
    threshold: AlsoThresholdOpt = None,
    json_out: JsonOpt = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a DET curve PNG here.")] = None,
    pipe: EvalPipeline = PIPELINE,
    workers: WorkersOpt = 2,
    no_cache: NoCacheOpt = False,
    half: HalfOpt = None,
) -> None:
    """Open-set 1:N identification: FNIR at FPIR 1e-2, 1e-3, 1e-4, rank-1, DET curve."""
    from openlfr.services import evaluation

    run = _measured(
        json_out,
        lambda cb: evaluation.identify(
            images,
            pipe,
            half=half,
            enrol_per_identity=enrol_per_identity,
            watchlist_size=watchlist_size,
            seed=seed,
            threshold=threshold,
            workers=workers,
            use_cache=not no_cache,
            plot=plot,
            progress=cb,
        ),
    )
    if run is None:
        return
    res, out = run.result, run.out
    o = res.outcomes
    typer.echo(
        f"open-set 1:N: watchlist {o.watchlist_size} (K={enrol_per_identity} enrolled each), "
        f"{o.mated} mated and {o.nonmated} non-mated searches; rank-1 {_fmt(out['rank1'], True)}"
    )
    for k, v in res.targets.items():
        if v.value is None:
            typer.echo(f"FNIR at FPIR {k}: n/a ({v.reason})")
        else:
            typer.echo(
                f"FNIR at FPIR {k}: {_fmt(v.value, True)} (threshold {_fmt(v.threshold)}, "
                f"achieved FPIR {_fmt(v.achieved, digits=5)})"
            )
    if res.at_threshold:
        a = res.at_threshold
        typer.echo(
            f"at threshold {a['threshold']:.4f}: FPIR {_fmt(a['fpir']['rate'], digits=5)}, "
            f"FNIR {_fmt(a['fnir']['rate'], True)}"
        )
    if plot is not None:
        typer.echo(f"DET written to {plot}")


# ------------------------------------------------------------------ threshold


@eval_app.command("threshold")
@with_pipeline
def threshold_cmd(
    images: ImagesOpt,
    watchlist_size: WatchlistSizeOpt = 1000,
    fpir: Annotated[float, typer.Option("--fpir", help="Target FPIR.")] = 1e-3,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Random watchlist draws.")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_out: JsonOpt = False,
    pipe: EvalPipeline = PIPELINE,
    workers: WorkersOpt = 2,
    no_cache: NoCacheOpt = False,
    half: HalfOpt = None,
    calibration: CheckCalibrationOpt = None,
    no_exclusions: NoExclusionsOpt = False,
) -> None:
    """Measure an operating threshold: the score at which a stranger searched against N people
    matches no one with probability >= 1 - FPIR, over random watchlist draws."""
    from openlfr.services import evaluation

    run = _measured(
        json_out,
        lambda cb: evaluation.measure_threshold(
            images,
            pipe,
            half=half,
            watchlist_size=watchlist_size,
            fpir=fpir,
            draws=draws,
            seed=seed,
            calibration=calibration,
            no_exclusions=no_exclusions,
            workers=workers,
            use_cache=not no_cache,
            progress=cb,
        ),
    )
    if run is None:
        return
    res, out = run.result, run.out
    pd = out["per_draw_threshold"]
    typer.echo(
        f"watchlist {watchlist_size}, target FPIR {fpir:g}, {draws} draws of "
        f"{out['nonmated_searches_per_draw']:.0f} non-mated searches"
    )
    typer.echo(
        f"per-draw threshold: mean {pd['mean']:.4f} (min {pd['min']:.4f}, p90 {pd['p90']:.4f}, "
        f"max {pd['max']:.4f}); pooled {out['pooled_threshold']:.4f}"
    )
    f = out["fpir_at_threshold"]
    typer.echo(
        f"recommended threshold {res.recommended:.3f}: pooled FPIR {f['rate']:.5f} "
        f"({f['k']}/{f['n']}), target met in {res.draws_meeting_target}/{draws} draws"
    )
    if res.checked is not None:
        c = res.checked
        typer.echo(
            f"calibration's N x FMR threshold {c['threshold']:.4f}: pooled FPIR {c['fpir']:.5f} "
            f"({c['k']}/{c['n']}), target {'met' if c['target_met'] else 'NOT met'}, "
            f"in {c['draws_meeting_target']}/{draws} draws"
        )


# ------------------------------------------------------------------ calibrate


@eval_app.command("calibrate")
@with_pipeline
def calibrate_cmd(
    images: ImagesOpt,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of <data_dir>/calibration/<family>.json.")
    ] = None,
    json_out: JsonOpt = False,
    pipe: EvalPipeline = PIPELINE,
    workers: WorkersOpt = 2,
    no_cache: NoCacheOpt = False,
    half: HalfOpt = None,
    exclusions: Annotated[
        Path | None,
        typer.Option(
            "--exclusions",
            help="Known label errors to leave out (JSON; default: the LFW list shipped with "
            "OpenLFR, eval/data/lfw_label_errors.json).",
            show_default=False,
        ),
    ] = None,
    no_exclusions: Annotated[
        bool,
        typer.Option("--no-exclusions", help="Count every cross-identity pair as an impostor pair, label errors too."),
    ] = False,
) -> None:
    """Save a calibration (score -> FMR per comparison, with sample sizes) for the embedder, so that
    `--fpir` can be used instead of a raw threshold (FPIR ~= N * FMR)."""
    from openlfr.services import evaluation

    run = _measured(
        json_out,
        lambda cb: evaluation.calibrate(
            images,
            pipe,
            half=half,
            out_path=out_path,
            exclusions=exclusions,
            no_exclusions=no_exclusions,
            workers=workers,
            use_cache=not no_cache,
            progress=cb,
        ),
    )
    if run is None:
        return
    cal, out = run.result, run.out
    path = out["path"]
    typer.echo(f"calibration for {cal.family} written to {path}")
    typer.echo(f"{cal.impostor_n:,} impostor and {cal.genuine_n:,} genuine comparisons")
    for n, row in out["threshold_for_fpir"].items():
        typer.echo(f"  watchlist {n:>6}: " + ", ".join(f"FPIR {p} -> {_fmt(t)}" for p, t in row.items()))


# ------------------------------------------------------------------ plan


@eval_app.command("plan")
def plan_cmd(
    faces: Annotated[float, typer.Option("--faces", min=0, help="Faces seen (tracks) expected.")],
    watchlist_size: Annotated[int, typer.Option("--watchlist-size", min=1, help="Watchlist size N.")],
    prevalence: Annotated[
        float, typer.Option("--prevalence", min=0.0, max=1.0, help="Share of faces seen that are on the watchlist.")
    ],
    threshold: Annotated[float | None, typer.Option("--threshold", help="Score threshold.", show_default=False)] = None,
    fpir: Annotated[
        float | None, typer.Option("--fpir", help="Target FPIR instead of a threshold.", show_default=False)
    ] = None,
    tpir: Annotated[
        float | None, typer.Option("--tpir", help="Assumed TPIR (default: from the calibration).", show_default=False)
    ] = None,
    no_calibration: Annotated[
        bool,
        typer.Option("--no-calibration", help="Use --fpir and --tpir as given (no intervals), e.g. published figures."),
    ] = False,
    embedder: EmbedderOpt = None,
    embedder_model: EmbedderModelOpt = None,
    embedder_option: EmbedderOptionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Expected false alerts, true alerts and precision for a deployment (formulas of
    ARCHITECTURE.md section 4), with intervals from the calibration's sample sizes."""
    from openlfr.services import evaluation

    pl = evaluation.plan_deployment(
        faces,
        watchlist_size,
        prevalence,
        threshold=threshold,
        fpir=fpir,
        tpir=tpir,
        no_calibration=no_calibration,
        embedder=embedder,
        embedder_model=embedder_model,
        embedder_option=embedder_option,
    )
    out = pl.to_dict()
    if json_out:
        emit_json(out)
        return
    _print_plan(out, faces, watchlist_size, prevalence, pl.threshold, list(pl.notes))


def _tri(x: dict[str, Any], digits: int = 1) -> str:
    lo, hi = x["ci"]
    if x["value"] is None:
        return "n/a"
    return f"{x['value']:.{digits}f} (95% {lo:.{digits}f} to {hi:.{digits}f})"


def _print_plan(
    d: dict[str, Any], faces: float, watchlist_size: int, prevalence: float, thr: float | None, notes: list[str]
) -> None:
    typer.echo(f"{faces:,.0f} faces seen, watchlist {watchlist_size}, prevalence {prevalence:g}, threshold {_fmt(thr)}")
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
    labels: Annotated[
        Path,
        typer.Option("--labels", help="CSV 'image_or_identity,group' (groups are the user's; nothing is inferred)."),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Operating threshold (default: the embedder's default threshold).", show_default=False
        ),
    ] = None,
    json_out: JsonOpt = False,
    pipe: EvalPipeline = PIPELINE,
    workers: WorkersOpt = 2,
    no_cache: NoCacheOpt = False,
) -> None:
    """Per group FPIR, FNIR and failure to acquire at the operating threshold with 95% intervals,
    the max/min ratio, and where differences become significant."""
    from openlfr.services import evaluation

    run = _measured(
        json_out,
        lambda cb: evaluation.fairness(
            images, labels, pipe, threshold=threshold, workers=workers, use_cache=not no_cache, progress=cb
        ),
    )
    if run is None:
        return
    rep, out, thr = run.result, run.out, run.threshold
    typer.echo(
        f"threshold {thr:.4f}; watchlist {out['watchlist_size']}; {out['labelled_images']} labelled images "
        f"({out['unlabelled_images']} unlabelled, ignored)"
    )
    for name, g in rep.groups.items():
        parts = []
        for m in ("fpir", "fnir", "fta"):
            r = g[m]
            ci = r["ci"]
            parts.append(
                f"{m.upper()} {_fmt(r['value'], digits=4)} ({r['k']}/{r['n']}"
                + (f", 95% {ci[0]:.4f}-{ci[1]:.4f})" if ci else ")")
            )
        typer.echo(f"  {name}: " + "; ".join(parts))
    for m, c in rep.comparisons.items():
        ratio = f"{c.ratio:.2f}" if c.ratio is not None else f"n/a ({c.reason})"
        perm = (
            f", identity-level permutation p = {_fmt(c.p_value_permutation, digits=4)}"
            if c.p_value_permutation is not None
            else ""
        )
        typer.echo(
            f"{m.upper()} max/min ratio {ratio}; Fisher p = {_fmt(c.p_value, digits=4)}{perm}"
            f"{' (significant)' if c.significant else ''}"
        )
    sig = out["significance"]
    typer.echo(
        f"FPIR differences significant at or below {_fmt(sig['fpir_significant_at_or_below'])}; "
        f"FNIR differences significant at or above {_fmt(sig['fnir_significant_at_or_above'])}"
    )


# ------------------------------------------------------------------ cache


@eval_app.command("cache-clear")
def cache_clear_cmd(json_out: JsonOpt = False) -> None:
    """Delete every cached evaluation embedding (under <data_dir>/cache/embeddings)."""
    from openlfr.services.evaluation import cache_clear

    out = cache_clear()
    if json_out:
        emit_json(asdict(out))
        return
    typer.echo(f"removed {out.files_removed} file(s), {out.bytes_removed:,} bytes, from {out.path}")


@eval_app.command("cache-info")
def cache_info_cmd(json_out: JsonOpt = False) -> None:
    """What the evaluation embedding cache holds."""
    from openlfr.services.evaluation import cache_info

    root, entries = cache_info()
    if json_out:
        emit_json({"path": str(root), "entries": [asdict(e) for e in entries]})
        return
    if not entries:
        typer.echo(f"{root}: empty")
    for e in entries:
        key = e.model_key or {}
        typer.echo(
            f"{e.file}: {e.images} images, {e.bytes:,} bytes; {key.get('detector', '?')} + {key.get('embedder', '?')}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
