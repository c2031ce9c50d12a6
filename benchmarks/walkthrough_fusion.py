"""Video fusion and multi-photo enrolment on simulated walk-through passes: FNIR at FPIR 1e-2.

Each *pass* is one person walking past the camera: ``--pass-photos`` different photos of them,
each degraded ``--shots-per-photo`` times as a camera would see it (face width drawn from
``--face-px``, Gaussian blur, brightness gain, pasted on a grey canvas), in random order. Every
shot goes through the real engine (detector, quality measures, aligner, embedder); a shot where
no face is found is a failure to acquire and gives no score. Shot quality is
``engine.track.shot_score`` (the live engine's best-shot measure).

Watchlist: ``--watchlisted`` identities with at least 5 photos (enrolment uses their first 1 or 3
photos, never shown in a pass: the pass photos are photos 4.. in both conditions, so the same
passes are scored against both watchlists), plus ``--distractors`` one-photo identities that never
pass. Strangers: ``--strangers`` other identities with at least 2 photos. An entry's score for a
shot is the best over its reference photos (score = (1 + cos) / 2).

Per pass and entry, a method gives a decision score:

- ``first``: the pass's first shot alone; ``best_quality``: its best shot by quality alone.
- a fusion rule (``max``, ``mean``, ``top2`` = best-2 mean, ``quality`` = quality-weighted mean):
  as in the live engine, the rule is re-evaluated after every shot and the pass alerts on an
  entry if the fused score reaches the threshold at any point, so the decision score is the
  maximum of the rule over the prefixes of the shot sequence.

FPIR per pass: the share of stranger passes whose highest decision score over all watchlist
entries reaches the threshold (a stranger pass counts once however many entries or shots match).
The threshold for FPIR 1e-2 is the smallest score with at most floor(0.01 x strangers) stranger
passes at or above it. FNIR: the share of watchlisted passes whose mate's decision score is below
that threshold (no acquired shot = miss). Prints one JSON object.

    .venv/bin/python benchmarks/walkthrough_fusion.py --backend dlib|mfn [--watchlisted 60]
        [--strangers 300] [--distractors 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig, FaceEngine, pick_main_face
from openlfr.engine.track import FUSION_RULES, shot_score

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
MODELS = SHARED / "models"
BACKENDS = {
    "dlib": EngineConfig(embedder="dlib-resnet-onnx"),
    "mfn": EngineConfig(
        detector="yunet",
        detector_options={"path": str(MODELS / "face_detection_yunet_2023mar.onnx")},
        embedder="onnx-arcface",
        embedder_options={"path": str(MODELS / "mobilefacenet_paddle_128d.onnx")},
    ),
}
ENROL_MAX = 3
RULES = ("max", "mean", "top2", "quality")


def degrade(img: np.ndarray, rng: np.random.Generator, face_px: tuple[float, float]) -> np.ndarray:
    """A camera's view of an LFW photo: rescaled so the face (~ 0.42 of the 250 px frame wide) is
    ``face_px`` wide, blurred, brightness scaled, on a grey canvas twice its size."""
    h, w = img.shape[:2]
    scale = rng.uniform(*face_px) / (0.42 * w)
    small = cv2.resize(img, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    sigma = rng.uniform(0.0, 1.5)
    if sigma > 0.2:
        small = cv2.GaussianBlur(small, (0, 0), sigma)
    small = np.clip(small.astype(np.float32) * rng.uniform(0.6, 1.3), 0, 255).astype(np.uint8)
    sh, sw = small.shape[:2]
    canvas = np.full((sh * 2, sw * 2, 3), int(rng.integers(60, 180)), np.uint8)
    canvas[sh // 2 : sh // 2 + sh, sw // 2 : sw // 2 + sw] = small
    return canvas


def embed_main(engine: FaceEngine, img: np.ndarray) -> tuple[np.ndarray, float] | None:
    a = engine.analyse(img, embed="none")
    j, _ = pick_main_face(a.faces)
    if j is None or a.chips is None or len(a.chips) <= j:
        return None
    q = float(shot_score(a.faces.quality[j : j + 1])[0]) if a.faces.quality is not None else 1.0
    return engine.embedder.embed(a.chips[j : j + 1])[0], q


def decision_scores(scores: np.ndarray, quality: np.ndarray) -> dict[str, np.ndarray]:
    """(shots, entries) scores in shot order -> method -> (entries,) decision scores."""
    out: dict[str, np.ndarray] = {"first": scores[0], "best_quality": scores[int(np.argmax(quality))]}
    for name in RULES:
        rule = FUSION_RULES[name]
        prefixes = []
        for k in range(1, len(scores) + 1):
            if getattr(rule, "uses_quality", False):
                prefixes.append(rule(scores[:k], weights=quality[:k]))  # type: ignore[call-arg]
            else:
                prefixes.append(rule(scores[:k]))
        out[name] = np.max(np.stack(prefixes), axis=0)
    return out


def fnir_at_fpir(mated: list[float | None], strangers: list[float], fpir: float) -> dict[str, Any]:
    s = np.sort(np.array(strangers))[::-1]
    allowed = int(np.floor(fpir * len(s)))
    thr = float(np.nextafter(s[allowed], 1.0)) if allowed < len(s) else 0.0
    hits = sum(1 for m in mated if m is not None and m >= thr)
    return {
        "threshold": round(thr, 5),
        "fnir": round(1 - hits / len(mated), 4),
        "misses": len(mated) - hits,
        "mated": len(mated),
        "stranger_passes_alerting": int((s >= thr).sum()),
        "strangers": len(s),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, default=SHARED / "data" / "lfw-dev")
    ap.add_argument("--backend", choices=sorted(BACKENDS), default="dlib")
    ap.add_argument("--watchlisted", type=int, default=60)
    ap.add_argument("--strangers", type=int, default=300)
    ap.add_argument("--distractors", type=int, default=200)
    ap.add_argument("--pass-photos", type=int, default=3)
    ap.add_argument("--shots-per-photo", type=int, default=2)
    ap.add_argument("--face-px", type=float, nargs=2, default=(40.0, 100.0))
    ap.add_argument("--fpir", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    folders = {
        d.name: sorted(p for p in d.iterdir() if p.is_file()) for d in sorted(args.images.iterdir()) if d.is_dir()
    }
    five = sorted(k for k, v in folders.items() if len(v) >= ENROL_MAX + 2)
    rng.shuffle(five)
    watch = five[: args.watchlisted]
    two = sorted(k for k, v in folders.items() if len(v) >= 2 and k not in set(watch))
    rng.shuffle(two)
    strangers = two[: args.strangers]
    one = sorted(k for k, v in folders.items() if len(v) == 1)
    rng.shuffle(one)
    distractors = one[: args.distractors]

    engine = FaceEngine.from_config(BACKENDS[args.backend])
    # gallery: entry -> list of reference vectors (first 1..3 photos; distractors 1)
    entries = watch + distractors
    refs: dict[int, list[tuple[int, np.ndarray]]] = {}
    enrol_fail = 0
    for e, ident in enumerate(entries):
        for k, f in enumerate(folders[ident][: ENROL_MAX if ident in set(watch) else 1]):
            r = embed_main(engine, load_image(f))
            if r is None:
                enrol_fail += 1
                continue
            refs.setdefault(e, []).append((k, r[0]))

    def gallery(n_photos: int) -> tuple[np.ndarray, np.ndarray]:
        vecs, owner = [], []
        for e, lst in refs.items():
            for k, v in lst:
                if k < n_photos:
                    vecs.append(v)
                    owner.append(e)
        return np.array(vecs, np.float32), np.array(owner)

    galleries = {n: gallery(n) for n in (1, ENROL_MAX)}
    passes: list[tuple[int | None, np.ndarray, np.ndarray]] = []  # (mate entry, shot vectors, qualities)
    shots_total = fta = 0
    for ident in watch + strangers:
        files = folders[ident][ENROL_MAX:] if ident in set(watch) else folders[ident]
        files = files[: args.pass_photos]
        views = [f for f in files for _ in range(args.shots_per_photo)]
        rng.shuffle(views)
        vecs, qual = [], []
        for f in views:
            shots_total += 1
            r = embed_main(engine, degrade(load_image(f), nrng, tuple(args.face_px)))  # type: ignore[arg-type]
            if r is None:
                fta += 1
                continue
            vecs.append(r[0])
            qual.append(r[1])
        mate = entries.index(ident) if ident in set(watch) else None
        dim = engine.embedder.dim
        passes.append((mate, np.array(vecs, np.float32).reshape(len(vecs), dim), np.array(qual, np.float32)))

    results: dict[str, Any] = {}
    for n_photos, (gv, owner) in galleries.items():
        mated: dict[str, list[float | None]] = {}
        stranger: dict[str, list[float]] = {}
        for mate, vecs, qual in passes:
            if len(vecs) == 0:
                per = None
            else:
                s = (1 + vecs @ gv.T) / 2  # (shots, refs)
                ent = np.full((len(vecs), len(entries)), 0.0, np.float32)
                for e in np.unique(owner):
                    ent[:, e] = s[:, owner == e].max(axis=1)
                per = decision_scores(ent, qual)
            for m in ("first", "best_quality", *RULES):
                if mate is not None:
                    mated.setdefault(m, []).append(None if per is None else float(per[m][mate]))
                else:
                    stranger.setdefault(m, []).append(0.0 if per is None else float(per[m].max()))
        res = {m: fnir_at_fpir(mated[m], stranger[m], args.fpir) for m in mated}
        base, best = res["first"]["fnir"], res["best_quality"]["fnir"]
        for r in res.values():
            r["relative_fnir_reduction_vs_first"] = round(1 - r["fnir"] / base, 3) if base > 0 else None
            r["relative_fnir_reduction_vs_best_quality"] = round(1 - r["fnir"] / best, 3) if best > 0 else None
        results[f"enrol_{n_photos}"] = res
    print(
        json.dumps(
            {
                "backend": args.backend,
                "models": engine.model_ids,
                "seed": args.seed,
                "target_fpir": args.fpir,
                "watchlist_entries": len(entries),
                "watchlisted_passes": len(watch),
                "stranger_passes": len(strangers),
                "distractor_entries": len(distractors),
                "pass_photos": args.pass_photos,
                "shots_per_photo": args.shots_per_photo,
                "face_px": list(args.face_px),
                "shots": shots_total,
                "shots_no_face": fta,
                "enrol_photos_no_face": enrol_fail,
                "results": results,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
