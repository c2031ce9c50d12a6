"""Accuracy ablation of the dlib pipeline on the lfw-dev View 2 pairs (issue 3, item 7).

Runs each named configuration through the same code as ``openlfr eval verify`` (cached
embeddings, 2 workers) and prints one JSON object: per configuration the 10-fold accuracy, its
std, AUC, EER, TAR at FAR 1e-3, fallback count and failures to acquire.

    .venv/bin/python benchmarks/ablation_eval.py [--only NAME ...] [--pairs FILE] [--images DIR]

The embedder is ``dlib-resnet-onnx`` (the same network and weights as ``dlib-resnet``, vectors
equal to ~1e-7) except for the jitter rows, which need dlib's own ``compute_face_descriptor``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from openlfr.engine.pipeline import EngineConfig
from openlfr.eval.compute import EvalPipeline, FaceChoice, embed_images
from openlfr.eval.protocols import pair_scores, parse_pairs, verify

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lfw-dev"
FAST = "dlib-resnet-onnx"
BASELINE = "hog-up1"
_correct: dict[str, np.ndarray] = {}


def cfg(
    up: int = 1,
    detector: str = "dlib-hog",
    embedder: str = FAST,
    points: int = 5,
    padding: float | None = None,
    jitter: int = 0,
    fallback: str = "box",
    redetect: str | None = None,
    redetect_options: dict[str, Any] | None = None,
    preprocess: str = "none",
    flip: bool = False,
    tta_jitter: int = 0,
) -> EvalPipeline:
    det_opts: dict[str, Any] = {"upsample": up, "min_face_px": 40}
    emb_opts: dict[str, Any] = {"jitter": jitter} if jitter else {}
    al: dict[str, Any] = {}
    if points != 5:
        al["points"] = points
    if padding is not None:
        al["padding"] = padding
    return EvalPipeline(
        engine=EngineConfig(
            detector=detector,
            detector_options=det_opts,
            embedder=embedder,
            embedder_options=emb_opts,
            aligner_options=al,
        ),
        choice=FaceChoice(
            fallback=fallback,
            redetect=redetect,  # type: ignore[arg-type]
            redetect_options=redetect_options or {},
            preprocess=preprocess,  # type: ignore[arg-type]
            flip=flip,
            jitter=tta_jitter,
        ),
    )


CONFIGS: dict[str, tuple[str, EvalPipeline]] = {
    "naive-hog-up0": ("HOG, no upsampling, 5-point, centre box fallback (the issue's naive pipeline)", cfg(up=0)),
    "hog-up1": ("HOG upsample 1 (engine default)", cfg(up=1)),
    "hog-up2": ("HOG upsample 2", cfg(up=2)),
    "hog-up1-nofallback": (
        "HOG up1, no fallback: undetected = failure to acquire (score 0)",
        cfg(up=1, fallback="none"),
    ),
    "hog-up1-redetect-up2": (
        "HOG up1, retry HOG up2 on misses, then centre box",
        cfg(up=1, redetect="dlib-hog", redetect_options={"upsample": 2, "min_face_px": 40}),
    ),
    "hog-up1-redetect-mmod": (
        "HOG up1, retry MMOD CNN on misses, then centre box",
        cfg(up=1, redetect="dlib-mmod", redetect_options={"upsample": 1, "min_face_px": 40}),
    ),
    "hog-up1-68pt": ("HOG up1, 68-point landmarks for the chip", cfg(up=1, points=68)),
    "hog-up1-pad0.20": ("HOG up1, chip padding 0.20", cfg(up=1, padding=0.20)),
    "hog-up1-pad0.30": ("HOG up1, chip padding 0.30", cfg(up=1, padding=0.30)),
    "hog-up1-equalize": ("HOG up1, histogram equalisation of the grey image", cfg(up=1, preprocess="equalize")),
    "hog-up1-clahe": ("HOG up1, CLAHE on the grey image", cfg(up=1, preprocess="clahe")),
    "hog-up1-flip": ("HOG up1, mean of chip and mirrored chip embeddings (eval-only option)", cfg(up=1, flip=True)),
    "hog-up0-68pt": ("HOG up0, 68-point landmarks", cfg(up=0, points=68)),
    "hog-up1-68pt-flip": ("HOG up1, 68-point, chip + mirror mean", cfg(up=1, points=68, flip=True)),
    "hog-up1-68pt-redetect-mmod": (
        "HOG up1, 68-point, MMOD on misses, then centre box",
        cfg(up=1, points=68, redetect="dlib-mmod", redetect_options={"upsample": 1, "min_face_px": 40}),
    ),
    "hog-up1-68pt-jitter10": (
        "HOG up1, 68-point, 10 jitters (dlib.jitter_image, descriptor on onnx)",
        cfg(up=1, points=68, tta_jitter=10),
    ),
    "hog-up1-68pt-jitter30": (
        "HOG up1, 68-point, 30 jitters (dlib.jitter_image, descriptor on onnx)",
        cfg(up=1, points=68, tta_jitter=30),
    ),
    "hog-up1-jitter10-onnx": (
        "HOG up1, 10 jitters (dlib.jitter_image, descriptor on onnxruntime: what dlib's num_jitters=10 computes)",
        cfg(up=1, tta_jitter=10),
    ),
    "mmod-up0": ("MMOD CNN detector (no upsampling), 5-point", cfg(detector="dlib-mmod", up=0)),
    "hog-up1-dlib": ("HOG up1 with dlib's own descriptor (parity check)", cfg(up=1, embedder="dlib-resnet")),
    "hog-up1-jitter10": ("HOG up1, dlib descriptor with 10 jitters", cfg(up=1, embedder="dlib-resnet", jitter=10)),
}


def correct_per_pair(table: Any, pairs: Any, fold_thresholds: list[float]) -> np.ndarray:
    s = pair_scores(table, pairs)
    thr = np.asarray(fold_thresholds)[pairs.fold]
    return np.asarray((s >= thr) == pairs.same)


def mcnemar(base: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """Exact McNemar test on the discordant pairs (two-sided binomial, p = 1/2)."""
    fixed = int((~base & other).sum())
    broken = int((base & ~other).sum())
    n = fixed + broken
    p = float(binomtest(fixed, n, 0.5).pvalue) if n else 1.0
    return {"fixed": fixed, "broken": broken, "p_value": p}


def run(name: str, pairs_file: Path, images: Path, workers: int) -> dict[str, Any]:
    desc, pipe = CONFIGS[name]
    pairs = parse_pairs(pairs_file, images)
    t0 = time.perf_counter()
    table = embed_images(pairs.images(), pipe, workers=workers)
    res = verify(table, pairs).to_dict()
    ok = correct_per_pair(table, pairs, res["fold_thresholds"])
    if BASELINE not in _correct:
        bpipe = CONFIGS[BASELINE][1]
        btab = embed_images(pairs.images(), bpipe, workers=workers)
        _correct[BASELINE] = correct_per_pair(btab, pairs, verify(btab, pairs).kfold.fold_thresholds)
    return {
        "name": name,
        "description": desc,
        "vs_default": mcnemar(_correct[BASELINE], ok),
        "accuracy": res["accuracy"],
        "accuracy_std": res["accuracy_std"],
        "auc": res["auc"],
        "eer": res["eer"],
        "tar_at_far_1e-3": res["tar_at_far"]["0.001"],
        "errors": round((1 - res["accuracy"]) * res["pairs"]),
        "fallback_faces": res["fallback_faces"],
        "failures_to_acquire": res["failures_to_acquire"],
        "models": res["models"],
        "seconds": round(time.perf_counter() - t0, 1),
        "computed": table.stats["computed"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--pairs", type=Path, default=SHARED / "pairs.txt")
    ap.add_argument("--images", type=Path, default=SHARED)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    names = a.only or list(CONFIGS)
    rows = []
    for n in names:
        row = run(n, a.pairs, a.images, a.workers)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps({"pairs": str(a.pairs), "rows": rows}))


if __name__ == "__main__":
    main()
