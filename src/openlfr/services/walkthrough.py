"""Walk-through material and its scoring: ``openlfr synth walkthrough`` composes a video of people
passing a camera with its ground truth; ``openlfr eval walkthrough`` runs live recognition on it (the
operating point a deployment would get) and measures per pass TPIR, FPIR, precision and alert latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openlfr.errors import InputError
from openlfr.settings import Settings

if TYPE_CHECKING:
    from openlfr.engine.live import LiveConfig
    from openlfr.engine.matcher import WatchlistIndex
    from openlfr.eval.walkthrough import WalkthroughResult
    from openlfr.services.context import AppContext
    from openlfr.services.operating_point import OperatingPoint


@dataclass(frozen=True)
class Synthesised:
    """What ``synthesise`` wrote: the video (frames, seconds), its ground truth and the watchlist photos."""

    video: str
    truth: str
    frames: int
    duration_s: float
    people: int
    watchlisted: int
    watchlist_dir: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fillers:
    """The strangers added to an in-memory watchlist to bring it to a real list's size."""

    fillers: int
    filler_images: str
    filler_photos: int
    seed: int
    enrol_rejected_photos: int


@dataclass(frozen=True)
class WalkScore:
    """A walk scored: the evaluation's result, the operating point it ran at, and what was searched."""

    result: WalkthroughResult
    op: OperatingPoint
    video: str
    watchlist: str
    scale: Fillers | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``, ``--out``)."""
        from openlfr.services.operating_point import op_fields

        out = {**self.result.to_dict(), **op_fields(self.op), "video": self.video, "watchlist": self.watchlist}
        if self.scale is not None:
            out["scale"] = asdict(self.scale)
        return out


def synthesise(
    images: Path,
    out: Path,
    truth: Path,
    *,
    people: int,
    watchlisted: int,
    seed: int,
    size: tuple[int, int],
    fps: float,
    enrol_images: int,
    pass_images: int,
    watchlist_dir: Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> Synthesised:
    """Write the video, its ground truth and the watchlist photos (default folder: the video's name with
    ``.watchlist`` for its suffix); what was written."""
    from openlfr.eval.synth import SynthConfig, render

    cfg = SynthConfig(
        people=people,
        watchlisted=watchlisted,
        seed=seed,
        size=size,
        fps=fps,
        enrol_images=enrol_images,
        pass_images=pass_images,
    )
    wl_dir = watchlist_dir or out.with_name(out.stem + ".watchlist")
    return Synthesised(**render(images, out, truth, cfg, watchlist_dir=wl_dir, progress=progress))


def walk_context(
    settings: Settings,
    detector: str | None,
    detector_model: Path | None,
    embedder: str | None,
    embedder_model: Path | None,
) -> AppContext:
    """The app context with the engine the walk is scored with (settings, overridden by the options):
    another detector or embedder drops the settings' options for it; a model file replaces them."""
    from openlfr.engine.pipeline import EngineConfig
    from openlfr.services.context import AppContext, engine_config_from_settings

    base = engine_config_from_settings(settings)
    det = detector or base.detector
    det_opts: dict[str, Any] = dict(base.detector_options) if det == base.detector else {}
    if detector_model is not None:
        det_opts = {"path": str(detector_model)}
    emb = embedder or base.embedder
    emb_opts: dict[str, Any] = {"path": str(embedder_model)} if embedder_model is not None else {}
    return AppContext(
        settings,
        engine_config=EngineConfig(
            detector=det, detector_options=det_opts, embedder=emb, embedder_options=emb_opts, gate=base.gate
        ),
    )


def walk_index(
    ctx: AppContext,
    watchlist: str,
    truth_d: dict[str, Any],
    fillers: int,
    filler_images: Path | None,
    filler_photos: int | None,
    seed: int,
) -> tuple[WatchlistIndex, Fillers | None]:
    """The index searched: a stored watchlist, or a folder of photos enrolled in memory (with fillers)."""
    from openlfr.engine.live import index_in_memory
    from openlfr.eval.walkthrough import draw_fillers
    from openlfr.services.watchlists import load_index
    from openlfr.types import IMAGE_SUFFIXES

    wl_path = Path(watchlist)
    filler_info: Fillers | None = None
    if wl_path.is_dir():
        people: dict[str, list[Path]] = {
            d.name: [f for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
            for d in sorted(wl_path.iterdir())
            if d.is_dir()
        }
        extra: dict[str, list[Path]] = {}
        folder = filler_images or Path(str(truth_d.get("images", "")))
        photos = filler_photos or int(truth_d.get("enrol_images", 1))
        if fillers:
            extra = draw_fillers(folder, truth_d, fillers, photos, seed)
            people.update(extra)
        index, rejected = index_in_memory(ctx.engine, people)
        if fillers:
            filler_info = Fillers(len(extra), str(folder), photos, seed, sum(len(v) for v in rejected.values()))
    else:
        if fillers:
            raise InputError("--fillers needs --watchlist to be a folder of photos", code="bad_option")
        index, _meta = load_index(ctx, watchlist)
    return index, filler_info


def walk_config(cfg: LiveConfig, decision: str | None, margins: dict[str, float | None]) -> LiveConfig:
    """The live configuration of ``openlfr run``'s options with the walk's decision rule and early margins
    (``margins`` maps ShotPolicy fields to a value: None keeps the default, a negative value turns it off)."""
    from openlfr.engine.live import LiveConfig

    if decision is not None:
        cfg = cfg.model_copy(update={"decision": LiveConfig.model_validate({"decision": decision}).decision})
    update = {k: (None if v < 0 else v) for k, v in margins.items() if v is not None}
    if update:
        cfg = cfg.model_copy(update={"shots": cfg.shots.model_copy(update=update)})
    return cfg


def score(
    ctx: AppContext,
    video: Path,
    truth: Path,
    watchlist: str,
    cfg: LiveConfig,
    *,
    threshold: float | None,
    fpir: float | None,
    fillers: int,
    filler_images: Path | None,
    filler_photos: int | None,
    seed: int,
    progress: Callable[[int, int | None], None] | None = None,
) -> WalkScore:
    """Run live recognition on the walk at the operating point a deployment gets (target FPIR, default
    1e-4, at the list's size, unless a threshold is given) and score it against the truth."""
    from openlfr.eval.walkthrough import evaluate, load_truth
    from openlfr.services.operating_point import resolve_for

    truth_d = load_truth(truth)
    index, filler_info = walk_index(ctx, watchlist, truth_d, fillers, filler_images, filler_photos, seed)
    op = resolve_for(ctx, index.size, target_fpir=fpir, threshold=threshold)
    result = evaluate(ctx.engine, index, op.threshold, video, truth_d, cfg, progress=progress)
    return WalkScore(result, op, str(video), watchlist, filler_info)
