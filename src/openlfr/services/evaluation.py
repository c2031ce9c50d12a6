"""Evaluation use cases behind ``openlfr eval ...`` and the console's evaluation page: each builds the
embedding pipeline and dataset it needs, runs a protocol of :mod:`openlfr.eval` and returns the result
(the CLI prints it, the API serves it). See docs/evaluation.md and docs/metrics.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlfr.errors import ConfigError, InputError, NotFoundError, OpenLFRError
from openlfr.eval.planning import Plan, Rate, fpir_from_fmr, plan
from openlfr.services import engine_choice

if TYPE_CHECKING:
    from openlfr.eval.calibration import Calibration as Calibration
    from openlfr.eval.compute import EmbeddingTable as EmbeddingTable
    from openlfr.eval.compute import EvalPipeline as EvalPipeline
    from openlfr.eval.protocols import Dataset as Dataset
    from openlfr.services.context import AppContext

Progress = Callable[[int, int], None] | None
"""``progress(done, total)`` while embedding, or None."""


@dataclass(frozen=True)
class Run:
    """One evaluation: its result object (``result``), the embeddings it ran on and its JSON (``out``)."""

    result: Any
    table: EmbeddingTable | None
    out: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None


def pipeline(
    *,
    detector: str | None,
    embedder: str | None,
    upsample: int | None,
    jitter: int | None,
    detector_model: str | None,
    embedder_model: str | None,
    detector_option: list[str] | None,
    embedder_option: list[str] | None,
    landmarks: int | None,
    padding: float | None,
    fallback: str,
    redetect: str | None,
) -> EvalPipeline:
    """The embedding pipeline an evaluation command asks for (unset choices: settings, then backend defaults)."""
    from openlfr.eval.compute import EvalPipeline, FaceChoice
    from openlfr.settings import load_settings

    if fallback not in ("box", "none"):
        raise ConfigError(f"--fallback must be 'box' or 'none', got {fallback!r}", code="bad_option")
    # dlib's jitter on the ONNX twin: the same jittered chips (dlib.jitter_image), same vectors
    twin_jitter = 0
    if jitter and (embedder or load_settings().embedder) == "dlib-resnet-onnx":
        twin_jitter, jitter = jitter, None
    cfg = engine_choice.engine_config(
        detector,
        embedder,
        upsample=upsample,
        jitter=jitter,
        detector_model=detector_model,
        embedder_model=embedder_model,
        detector_option=detector_option,
        embedder_option=embedder_option,
        landmarks=landmarks,
        padding=padding,
    )
    choice = FaceChoice.model_validate({"fallback": fallback, "redetect": redetect, "jitter": twin_jitter})
    return EvalPipeline(engine=cfg, choice=choice)


def embed(
    paths: list[Path], pipe: EvalPipeline, *, workers: int, use_cache: bool, progress: Progress = None
) -> EmbeddingTable:
    """Embeddings of ``paths`` (from the evaluation cache where it holds them)."""
    from openlfr.eval.compute import embed_images

    return embed_images(paths, pipe, workers=workers, use_cache=use_cache, progress=progress)


def dataset(images: Path, half: str | None = None) -> Dataset:
    """A folder of identity folders (LFW layout), or one half of its identities (A or B)."""
    from openlfr.eval.protocols import load_dataset

    return load_dataset(images, half=half.upper() if half else None)


def default_threshold_or_none(family: str) -> float | None:
    """The family's default threshold, or None when it has none."""
    from openlfr.services.operating_point import default_threshold

    try:
        return default_threshold(family)
    except ConfigError:
        return None


def verify(
    pairs: Path,
    images: Path,
    pipe: EvalPipeline,
    *,
    folds: int | None,
    workers: int,
    use_cache: bool,
    plot: Path | None,
    progress: Progress = None,
) -> Run:
    """LFW View 2 verification: 10-fold accuracy, ROC AUC, EER, TAR at FAR; a ROC plot on request."""
    from openlfr.eval.protocols import parse_pairs, restrict_folds
    from openlfr.eval.protocols import verify as run_verify

    p = parse_pairs(pairs, images)
    if folds is not None:
        p = restrict_folds(p, folds)
    table = embed(p.images(), pipe, workers=workers, use_cache=use_cache, progress=progress)
    res = run_verify(table, p)
    out = res.to_dict()
    out["embedding_stats"] = table.stats
    if plot is not None:
        from openlfr.eval.plots import roc_png

        roc_png(res.roc, plot, label=f"{table.models['embedder']} (AUC {res.auc:.4f})")
        out["plot"] = str(plot)
    return Run(res, table, out)


def identify(
    images: Path,
    pipe: EvalPipeline,
    *,
    half: str | None,
    enrol_per_identity: int,
    watchlist_size: int | None,
    seed: int,
    threshold: float | None,
    workers: int,
    use_cache: bool,
    plot: Path | None,
    progress: Progress = None,
) -> Run:
    """Open-set 1:N identification (at ``threshold``, else the embedder's default one); a DET plot on request."""
    from openlfr.eval.metrics import det_curve
    from openlfr.eval.protocols import identify as run_identify

    ds = dataset(images, half)
    table = embed(ds.paths, pipe, workers=workers, use_cache=use_cache, progress=progress)
    thr = threshold if threshold is not None else default_threshold_or_none(table.models["family"])
    res, _ = run_identify(table, ds, enrol_per_identity, watchlist_size, seed, thr)
    out = res.to_dict()
    out["embedding_stats"] = table.stats
    if plot is not None:
        from openlfr.eval.plots import det_png

        marks = {
            f"FPIR {k}": [(v.achieved, v.value)] for k, v in res.targets.items() if v.value is not None and v.achieved
        }
        det_png(
            {f"{table.models['embedder']}, N={res.outcomes.watchlist_size}": det_curve(res.outcomes)}, plot, marks=marks
        )
        out["plot"] = str(plot)
    return Run(res, table, out, thr)


def measure_threshold(
    images: Path,
    pipe: EvalPipeline,
    *,
    half: str | None,
    watchlist_size: int,
    fpir: float,
    draws: int,
    seed: int,
    calibration: Path | None,
    no_exclusions: bool,
    workers: int,
    use_cache: bool,
    progress: Progress = None,
) -> Run:
    """The threshold meeting a target FPIR over random watchlist draws (and a calibration's, checked)."""
    import json

    from openlfr.eval.calibration import Calibration
    from openlfr.eval.exclusions import load_exclusions
    from openlfr.eval.threshold import measure_threshold as measure

    if not 0.0 < fpir < 1.0:
        raise InputError(f"--fpir must be in (0, 1), got {fpir}", code="bad_option")
    ds = dataset(images, half)
    at = None
    if calibration is not None:
        at = Calibration.from_dict(json.loads(calibration.read_text())).threshold_for_fpir(fpir, watchlist_size)
    table = embed(ds.paths, pipe, workers=workers, use_cache=use_cache, progress=progress)
    res = measure(
        table, ds, watchlist_size, fpir, draws, seed, at=at, exclusions=None if no_exclusions else load_exclusions()
    )
    return Run(res, table, res.to_dict())


def calibrate(
    images: Path,
    pipe: EvalPipeline,
    *,
    half: str | None,
    out_path: Path | None,
    exclusions: Path | None,
    no_exclusions: bool,
    workers: int,
    use_cache: bool,
    progress: Progress = None,
) -> Run:
    """Measure and save the embedder's calibration (score -> FMR per comparison); ``out`` holds its path."""
    from openlfr.eval.calibration import calibrate as run_calibrate
    from openlfr.eval.calibration import save_calibration
    from openlfr.eval.exclusions import load_exclusions

    ds = dataset(images, half)
    excl = None if no_exclusions else load_exclusions(exclusions)
    table = embed(ds.paths, pipe, workers=workers, use_cache=use_cache, progress=progress)
    cal = run_calibrate(table, ds, exclusions=excl)
    path = save_calibration(cal, path=out_path)
    return Run(cal, table, {"path": str(path), **cal.summary()})


def fairness(
    images: Path,
    labels: Path,
    pipe: EvalPipeline,
    *,
    threshold: float | None,
    workers: int,
    use_cache: bool,
    progress: Progress = None,
) -> Run:
    """Per group FPIR, FNIR and failure to acquire at the operating threshold, with their comparisons."""
    from openlfr.eval.fairness import fairness_report
    from openlfr.eval.protocols import fairness_groups, load_labels

    ds = dataset(images)
    groups = load_labels(labels, ds)
    table = embed(ds.paths, pipe, workers=workers, use_cache=use_cache, progress=progress)
    thr = threshold if threshold is not None else default_threshold_or_none(table.models["family"])
    if thr is None:
        raise ConfigError(f"no default threshold for {table.models['family']}; pass --threshold", code="no_threshold")
    gd, gal = fairness_groups(table, ds, groups)
    rep = fairness_report(gd, thr)
    out = rep.to_dict()
    out["watchlist_size"] = len(gal.identities)
    out["labelled_images"] = len(groups)
    out["unlabelled_images"] = len(ds) - len(groups)
    out["models"] = table.models
    return Run(rep, table, out, thr)


# ------------------------------------------------------------------ planning


def check_plan_options(threshold: float | None, fpir: float | None, tpir: float | None, no_calibration: bool) -> None:
    """``openlfr eval plan``: exactly one of threshold and FPIR, each in range; no calibration needs both rates."""
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


def plan_calibration(
    embedder: str | None, embedder_model: str | None, embedder_option: list[str] | None
) -> Calibration:
    """The calibration of the embedder ``plan`` is asked about (settings, overridden by the options)."""
    from openlfr.engine import registry
    from openlfr.services.operating_point import load_calibration

    cfg = engine_choice.engine_config(None, embedder, embedder_model=embedder_model, embedder_option=embedder_option)
    emb = registry.create("embedder", cfg.embedder, **cfg.options_for("embedder", cfg.embedder, cfg.embedder_options))
    try:
        return load_calibration(emb)
    except NotFoundError as exc:
        raise NotFoundError(exc.message + "; or give --fpir and --tpir with --no-calibration", code=exc.code) from exc


def _plan_tpir(cal: Calibration, thr: float, tpir: float | None, notes: list[str]) -> Rate:
    if tpir is not None:
        notes.append("TPIR as given (--tpir)")
        return Rate.exact(tpir)
    t = cal.tpir(thr)
    if t is None or t[1] == 0:
        raise ConfigError("the calibration has no identification run for TPIR; pass --tpir", code="bad_calibration")
    ident = cal.identify or {}
    notes.append(
        f"TPIR from {t[1]} mated searches (rank 1, score >= threshold) against a watchlist of "
        f"{ident.get('watchlist_size')}, one photo enrolled each"
    )
    return Rate.measured(t[0], t[1])


def plan_rates(
    cal: Calibration | None,
    threshold: float | None,
    fpir: float | None,
    tpir: float | None,
    watchlist_size: int,
    notes: list[str],
) -> tuple[float | None, Rate, Rate, str]:
    """Threshold, FPIR, TPIR and their source for ``plan``: from the calibration, or as given; appends notes."""
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
    tpir_rate = _plan_tpir(cal, thr, tpir, notes)
    return thr, fpir_rate, tpir_rate, f"calibration {cal.family} ({cal.source.get('images', '?')})"


def plan_deployment(
    faces: float,
    watchlist_size: int,
    prevalence: float,
    *,
    threshold: float | None,
    fpir: float | None,
    tpir: float | None,
    no_calibration: bool,
    embedder: str | None,
    embedder_model: str | None,
    embedder_option: list[str] | None,
) -> Plan:
    """``openlfr eval plan``: expected false and true alerts and precision, with intervals from the
    calibration's sample sizes (or from rates as given)."""
    check_plan_options(threshold, fpir, tpir, no_calibration)
    notes: list[str] = []
    cal = None if no_calibration else plan_calibration(embedder, embedder_model, embedder_option)
    thr, fpir_rate, tpir_rate, source = plan_rates(cal, threshold, fpir, tpir, watchlist_size, notes)
    return plan(faces, prevalence, fpir_rate, tpir_rate, watchlist_size, thr, source, tuple(notes))


def server_calibration(ctx: AppContext) -> Calibration | None:
    """The calibration of the server's embedder (``openlfr eval calibrate``), or None."""
    from openlfr.services.operating_point import load_calibration

    try:
        return load_calibration(ctx.engine.embedder, ctx.settings)
    except OpenLFRError:
        return None


def plan_request(
    ctx: AppContext,
    faces: float,
    prevalence: float,
    watchlist_size: int,
    *,
    threshold: float | None,
    fpir: float | None,
    fmr: float | None,
    tpir: float,
) -> Plan:
    """The console's planning calculator: a threshold alone is read through the server's calibration;
    else the FPIR given, or N x the FMR given."""
    notes = []
    cal = server_calibration(ctx) if threshold is not None and fpir is None and fmr is None else None
    if cal is not None:
        assert threshold is not None
        value, (lo, hi), k, n = cal.fpir(threshold, watchlist_size)
        tp = cal.tpir(threshold)
        tpir_rate = Rate.measured(*tp) if tp and tp[1] else Rate.exact(tpir)
        notes.append(
            f"FPIR ~= N x FMR with FMR = {k}/{n} impostor comparisons at >= {threshold:.4f} "
            f"(calibration of {cal.family})"
        )
        if not (tp and tp[1]):
            notes.append("TPIR as given (the calibration has no identification run)")
        return plan(
            faces,
            prevalence,
            Rate(value, lo, hi, k, n),
            tpir_rate,
            watchlist_size,
            threshold=threshold,
            source="calibration",
            notes=tuple(notes),
        )
    if fpir is not None:
        source = "FPIR given"
    elif fmr is not None:
        fpir = fpir_from_fmr(fmr, watchlist_size)
        source = "FPIR ~= N x FMR"
        notes.append(f"FPIR = min(1, {watchlist_size} x {fmr:g}) = {fpir:.3g}")
    else:
        raise InputError(
            "give the FPIR at this watchlist size or the per-comparison FMR (FPIR ~= N x FMR), or "
            "a threshold once `openlfr eval calibrate` has run for this model",
            code="need_rate",
        )
    return plan(
        faces,
        prevalence,
        Rate.exact(fpir),
        Rate.exact(tpir),
        watchlist_size,
        threshold=threshold,
        source=source,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------ cache


@dataclass(frozen=True)
class CacheCleared:
    path: str
    files_removed: int
    bytes_removed: int


@dataclass(frozen=True)
class CacheEntry:
    """One cached embedding table: its file, how many images, its size, and the models it was made with."""

    file: str
    images: int
    bytes: int
    model_key: dict[str, Any] | None


def cache_clear() -> CacheCleared:
    """Delete every cached evaluation embedding; what was removed, and from where."""
    from openlfr.eval.cache import clear, default_root

    root = default_root()
    res = clear(root)
    return CacheCleared(str(root), res["files"], res["bytes"])


def cache_info() -> tuple[Path, list[CacheEntry]]:
    """The evaluation embedding cache's folder and its entries."""
    from openlfr.eval.cache import default_root, describe

    root = default_root()
    return root, [CacheEntry(**e) for e in describe(root)]
