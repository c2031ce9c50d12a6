"""Embedding evaluation images: one face per image, cached, on a pool of worker processes.

Evaluation sets such as LFW have one subject per image, centred. The face evaluated is the
detected face whose box centre is nearest the image centre (ties: the larger box). When no face
is detected, the ``fallback`` rule applies:

- ``"box"`` (default): a fixed box relative to the image size (``FaceChoice.box``, by default the
  median box the HOG detector finds on LFW's 250x250 images) is aligned and embedded as if it had
  been detected; the shape predictor still fits landmarks inside it;
- ``"none"``: the image is a failure to acquire (a verification pair with such an image scores 0,
  an identification search with it is a miss, or no candidate for a non-mated search).

Optionally a second detector (``redetect``, e.g. ``dlib-mmod``) is tried before the fallback.
Each worker process builds its own engine; results go to the parent, which alone writes the
cache.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.engine.imageio import decode_image, read_bytes
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.errors import InputError
from openlfr.eval.cache import DETECTED, FALLBACK, NO_FACE, UNREADABLE, EmbeddingCache, Record, content_hash, file_hash
from openlfr.types import QUALITY_FIELDS, FaceBatch, FloatArray, Image

log = logging.getLogger(__name__)

# Median HOG (upsample 1) box on lfw-dev's 250x250 images, as fractions of width and height.
LFW_HOG_BOX = (0.268, 0.320, 0.704, 0.752)

# Face-choice options added after caches existed: left out of the key at these values so that
# existing cache entries stay valid.
_KEY_OMIT_IF: dict[str, Any] = {"flip": False, "jitter": 0}

_ONNX_EMBEDDERS = frozenset({"dlib-resnet-onnx", "onnx-arcface"})
_ONNX_DETECTORS = frozenset({"yunet", "scrfd", "mtcnn", "blazeface", "frdetect"})  # detectors with a `threads` option

# Engine options that change speed, not vectors: left out of the cache key.
_NON_SEMANTIC_OPTIONS = frozenset({"threads", "batch_size", "cache_dir", "optimization"})


class FaceChoice(BaseModel):
    """How the one evaluated face of an image is chosen (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback: Literal["box", "none"] = Field("box", description="What to do when no face is detected.")
    box: tuple[float, float, float, float] = Field(
        LFW_HOG_BOX, description="Fallback box (x1, y1, x2, y2) as fractions of width and height."
    )
    redetect: str | None = Field(None, description="Second detector type tried before the fallback.")
    redetect_options: dict[str, Any] = Field(default_factory=dict)
    preprocess: Literal["none", "equalize", "clahe"] = Field(
        "none", description="Grey-level preprocessing before detection (an ablation option)."
    )
    flip: bool = Field(
        False,
        description="Average the embeddings of the chip and its mirror image "
        "(test-time augmentation; an ablation option, not in the engine).",
    )
    jitter: int = Field(
        0,
        ge=0,
        le=100,
        description=(
            "Average the raw descriptors of N chips jittered by dlib.jitter_image, as dlib's "
            "compute_face_descriptor(num_jitters=N) does; lets the fast ONNX twin reproduce dlib's jitter."
        ),
    )


class EvalPipeline(BaseModel):
    """An engine configuration plus the face-choice rule: everything that determines a vector."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineConfig = Field(default_factory=lambda: EngineConfig.model_validate({}))
    choice: FaceChoice = Field(default_factory=lambda: FaceChoice.model_validate({}))


def _semantic(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(opts.items()) if k not in _NON_SEMANTIC_OPTIONS}


def model_key(pipeline: EvalPipeline, engine: FaceEngine) -> str:
    """The cache key: model ids and every option that changes the vectors, as canonical JSON."""
    cfg = pipeline.engine
    aligner_opts = {
        "type": type(engine.aligner).__name__,
        "size": engine.aligner.spec.size,
        "padding": engine.aligner.spec.padding,
        **_semantic({k: v for k, v in cfg.aligner_options.items() if k not in ("size", "padding")}),
    }
    key = {
        "detector": engine.detector.model_id,
        "detector_options": _semantic(cfg.detector_options),
        "aligner": aligner_opts,
        "embedder": engine.embedder.model_id,
        "embedder_options": _semantic(cfg.embedder_options),
        "choice": {
            k: v
            for k, v in pipeline.choice.model_dump(mode="json").items()
            if not (k in _KEY_OMIT_IF and v == _KEY_OMIT_IF[k])
        },
        "version": 1,
    }
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def choose_face(faces: FaceBatch) -> int | None:
    """Index of the face whose box centre is nearest the image centre (ties: larger box)."""
    if len(faces) == 0:
        return None
    w, h = faces.image_size
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2.0
    d = np.hypot(centres[:, 0] - w / 2.0, centres[:, 1] - h / 2.0)
    order = np.lexsort((-faces.areas, np.round(d, 3)))
    return int(order[0])


def fallback_box(image: Image, box: tuple[float, float, float, float]) -> FaceBatch:
    h, w = image.shape[:2]
    xyxy = np.array([[box[0] * w, box[1] * h, box[2] * w, box[3] * h]], dtype=np.float32)
    return FaceBatch(xyxy=xyxy, det_score=np.zeros(1, np.float32), landmarks=None, image_size=(w, h))


def _preprocess(image: Image, how: str) -> Image:
    if how == "none":
        return image
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if how == "equalize":
        out = cv2.equalizeHist(grey)
    else:
        out = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)
    return np.ascontiguousarray(np.repeat(out[:, :, None], 3, axis=2))


def _failure(dim: int, status: int, n_faces: int = 0) -> Record:
    return Record(
        embedding=np.full(dim, np.nan, np.float32),
        status=status,
        box=np.full(4, np.nan, np.float32),
        quality=np.full(len(QUALITY_FIELDS), np.nan, np.float32),
        passed=False,
        n_faces=n_faces,
    )


class ImageEmbedder:
    """Embeds one evaluation image with a given pipeline (used inside each worker)."""

    def __init__(self, pipeline: EvalPipeline) -> None:
        self.pipeline = pipeline
        self.engine = FaceEngine.from_config(pipeline.engine)
        self.redetector: Any = None
        if pipeline.choice.redetect:
            from openlfr.engine import registry

            redetect = pipeline.choice.redetect
            self.redetector = registry.create(
                "detector",
                redetect,
                **pipeline.engine.options_for("detector", redetect, pipeline.choice.redetect_options),
            )

    @property
    def dim(self) -> int:
        return int(self.engine.embedder.dim)

    def embed_image(self, image: Image) -> Record:
        choice = self.pipeline.choice
        image = _preprocess(image, choice.preprocess)
        faces = self.engine.detector.detect(image)
        n_faces = len(faces)
        status = DETECTED
        idx = choose_face(faces)
        if idx is None and self.redetector is not None:
            faces = self.redetector.detect(image)
            idx = choose_face(faces)
        if idx is not None:
            chosen = faces.select([idx])
        elif choice.fallback == "box":
            chosen = fallback_box(image, choice.box)
            status = FALLBACK
        else:
            return _failure(self.dim, NO_FACE, n_faces)
        # the chosen box only: landmarks from the aligner (keep detector landmarks if any)
        analysis = self.engine.analyse(image, embed="all", faces=chosen)
        f = analysis.faces
        assert f.embedding is not None and f.quality is not None
        emb = f.embedding[0].astype(np.float32)
        if choice.jitter > 0:
            emb = self._jittered(analysis.chips[0], choice.jitter)
        if choice.flip:
            mirrored = self.engine.embedder.embed(np.ascontiguousarray(analysis.chips[:, :, ::-1]))[0]
            both = emb + mirrored
            emb = (both / max(float(np.linalg.norm(both)), 1e-12)).astype(np.float32)
        return Record(
            embedding=emb,
            status=status,
            box=f.xyxy[0].astype(np.float32),
            quality=f.quality[0].astype(np.float32),
            passed=bool(analysis.gate.passed[0]),
            n_faces=n_faces,
        )

    def _jittered(self, chip: Image, n: int) -> FloatArray:
        import dlib

        jittered = np.stack([np.asarray(j, np.uint8) for j in dlib.jitter_image(np.ascontiguousarray(chip), n)])
        emb = self.engine.embedder
        raw = emb.embed_raw(jittered) if hasattr(emb, "embed_raw") else emb.embed(jittered)
        mean = np.asarray(raw, np.float64).mean(axis=0)
        out: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return out

    def embed_bytes(self, data: bytes, name: str) -> Record:
        try:
            image = decode_image(data, name=name)
        except InputError as exc:
            log.warning("evaluation image unreadable: %s", exc.message)
            return _failure(self.dim, UNREADABLE)
        return self.embed_image(image)


# ------------------------------------------------------------------ worker processes

_WORKER: ImageEmbedder | None = None


def _worker_init(pipeline_json: str) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    _WORKER = ImageEmbedder(EvalPipeline.model_validate_json(pipeline_json))


def _worker_run(job: tuple[int, str]) -> tuple[int, Record]:
    i, path = job
    assert _WORKER is not None
    try:
        data = read_bytes(path)
    except InputError as exc:
        log.warning("evaluation image unreadable: %s", exc.message)
        return i, _failure(_WORKER.dim, UNREADABLE)
    return i, _WORKER.embed_bytes(data, path)


def worker_pipeline(pipeline: EvalPipeline, workers: int) -> EvalPipeline:
    """With several workers, run ONNX models single-threaded in each (same vectors)."""
    if workers <= 1:
        return pipeline
    update: dict[str, Any] = {}
    eng = pipeline.engine
    if eng.embedder in _ONNX_EMBEDDERS and "threads" not in eng.embedder_options:
        update["embedder_options"] = {**eng.embedder_options, "threads": 1}
    if eng.detector in _ONNX_DETECTORS and "threads" not in eng.detector_options:
        update["detector_options"] = {**eng.detector_options, "threads": 1}
    return pipeline.model_copy(update={"engine": eng.model_copy(update=update)}) if update else pipeline


# ------------------------------------------------------------------ the table of embeddings


@dataclass
class EmbeddingTable:
    """Per image (aligned with ``paths``): embedding (NaN row on failure), status, quality, gate."""

    paths: list[Path]
    hashes: list[str]
    embedding: FloatArray
    status: np.ndarray
    quality: FloatArray
    passed: np.ndarray
    n_faces: np.ndarray
    models: dict[str, str]
    model_key: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def acquired(self) -> np.ndarray:
        return np.isin(self.status, (DETECTED, FALLBACK))

    def counts(self) -> dict[str, int]:
        return {
            "images": len(self.paths),
            "detected": int((self.status == DETECTED).sum()),
            "fallback": int((self.status == FALLBACK).sum()),
            "no_face": int((self.status == NO_FACE).sum()),
            "unreadable": int((self.status == UNREADABLE).sum()),
        }


ProgressFn = Callable[[int, int], None]


def embed_images(
    paths: Sequence[Path],
    pipeline: EvalPipeline | None = None,
    *,
    workers: int = 2,
    use_cache: bool = True,
    cache_root: Path | None = None,
    progress: ProgressFn | None = None,
    flush_every: int = 500,
) -> EmbeddingTable:
    """Embed the evaluation face of every image, from the cache where possible.

    Missing images are computed on ``workers`` processes (each with its own engine; 1 = in
    this process). ``progress(done, total)`` is called as images complete.
    """
    pipeline = pipeline or EvalPipeline()
    t0 = time.perf_counter()
    local = ImageEmbedder(pipeline)  # also validates the configuration early
    key = model_key(pipeline, local.engine)
    dim = local.dim
    models = {
        "detector": local.engine.detector.model_id,
        "embedder": local.engine.embedder.model_id,
        "family": str(getattr(local.engine.embedder, "family", local.engine.embedder.model_id)),
    }
    paths = [Path(p) for p in paths]
    hashes = _hash_files(paths)
    t_hash = time.perf_counter() - t0
    cache = EmbeddingCache(key, dim, cache_root) if use_cache else None
    records, todo, first_for_hash = _from_cache(paths, hashes, cache)
    total = len(paths)
    sink = _Collector(records, hashes, cache, progress, flush_every, total)
    if progress:
        progress(sink.done, total)
    t1 = time.perf_counter()
    if todo:
        n_workers = max(1, min(workers, len(todo), os.cpu_count() or 1))
        if n_workers == 1:
            _embed_here(local, todo, sink.accept)
        else:
            del local
            _embed_on_pool(pipeline, n_workers, todo, sink.accept)
    if cache is not None:
        cache.flush()
    t_compute = time.perf_counter() - t1
    # duplicates of computed content
    for i, h in enumerate(hashes):
        if i not in records:
            records[i] = records[first_for_hash[h]]
    stats = {
        "computed": len(todo),
        "cached": total - len(todo),
        "seconds_hashing": round(t_hash, 3),
        "seconds_computing": round(t_compute, 3),
        "workers": workers if todo else 0,
    }
    return _table(paths, hashes, [records[i] for i in range(total)], dim, models, key, stats)


def _hash_files(paths: list[Path]) -> list[str]:
    hashes: list[str] = []
    for p in paths:
        try:
            hashes.append(file_hash(p))
        except OSError:
            hashes.append(content_hash(str(p).encode()))  # unreadable: computed (and failed) below
    return hashes


def _from_cache(
    paths: list[Path], hashes: list[str], cache: EmbeddingCache | None
) -> tuple[dict[int, Record], list[tuple[int, str]], dict[str, int]]:
    """Records found in the cache, the (index, path) jobs still to compute (each content once), and the
    first index of each computed content."""
    records: dict[int, Record] = {}
    todo: list[tuple[int, str]] = []
    first_for_hash: dict[str, int] = {}
    for i, h in enumerate(hashes):
        rec = cache.get(h) if cache is not None else None
        if rec is not None:
            records[i] = rec
        elif h in first_for_hash:
            continue  # identical content: computed once
        else:
            first_for_hash[h] = i
            todo.append((i, str(paths[i])))
    return records, todo, first_for_hash


class _Collector:
    """Takes computed records: into ``records`` and the cache (flushed every ``flush_every``), with progress."""

    def __init__(
        self,
        records: dict[int, Record],
        hashes: list[str],
        cache: EmbeddingCache | None,
        progress: ProgressFn | None,
        flush_every: int,
        total: int,
    ) -> None:
        self.records, self.hashes, self.cache = records, hashes, cache
        self.progress, self.flush_every, self.total = progress, flush_every, total
        self.done = len(records)

    def accept(self, i: int, rec: Record) -> None:
        self.records[i] = rec
        if self.cache is not None:
            self.cache.put(self.hashes[i], rec)
            if self.cache.pending >= self.flush_every:
                self.cache.flush()
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)


def _embed_here(local: ImageEmbedder, todo: list[tuple[int, str]], accept: Callable[[int, Record], None]) -> None:
    for i, path in todo:
        try:
            rec = local.embed_bytes(read_bytes(path), path)
        except InputError as exc:
            log.warning("evaluation image unreadable: %s", exc.message)
            rec = _failure(local.dim, UNREADABLE)
        accept(i, rec)


def _embed_on_pool(
    pipeline: EvalPipeline, n_workers: int, todo: list[tuple[int, str]], accept: Callable[[int, Record], None]
) -> None:
    wp = worker_pipeline(pipeline, n_workers)
    ctx = mp.get_context("spawn")
    with ctx.Pool(n_workers, initializer=_worker_init, initargs=(wp.model_dump_json(),)) as pool:
        for i, rec in pool.imap_unordered(_worker_run, todo, chunksize=4):
            accept(i, rec)


def _table(
    paths: list[Path],
    hashes: list[str],
    recs: list[Record],
    dim: int,
    models: dict[str, str],
    key: str,
    stats: dict[str, Any],
) -> EmbeddingTable:
    q = len(QUALITY_FIELDS)
    return EmbeddingTable(
        paths=paths,
        hashes=hashes,
        embedding=np.stack([r.embedding for r in recs]).astype(np.float32) if recs else np.zeros((0, dim), np.float32),
        status=np.array([r.status for r in recs], dtype=np.int8),
        quality=np.stack([r.quality for r in recs]).astype(np.float32) if recs else np.zeros((0, q), np.float32),
        passed=np.array([r.passed for r in recs], dtype=bool),
        n_faces=np.array([r.n_faces for r in recs], dtype=np.int16),
        models=models,
        model_key=key,
        stats=stats,
    )
