"""Operating threshold for a walk-through's watchlist, measured on identities it does not use.

FPIR(N, tau) ~= R * FMR(tau) for a list with R reference photos in all; the threshold for a target
FPIR is the impostor-score quantile at FMR = FPIR / R, over impostor pairs of lfw-dev identities
NOT in the walk-through's truth file (two photos each, up to ``--identities`` of them, seeded).
Prints one JSON object.

    .venv/bin/python benchmarks/walkthrough_threshold.py --truth truth.json --backend dlib|mfn \
        [--fpir 1e-3] [--identities 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np

from openlfr.engine.imageio import load_image
from openlfr.engine.pipeline import EngineConfig, FaceEngine, pick_main_face

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--images", type=Path, default=SHARED / "data" / "lfw-dev")
    ap.add_argument("--backend", choices=sorted(BACKENDS), default="dlib")
    ap.add_argument("--fpir", type=float, default=1e-3)
    ap.add_argument("--identities", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    truth = json.loads(args.truth.read_text())
    excluded = set(truth["identities"])
    refs = sum(len(p["enrol_images"]) for p in truth["passes"] if p["watchlisted"])
    engine = FaceEngine.from_config(BACKENDS[args.backend])
    ids = sorted(d.name for d in args.images.iterdir() if d.is_dir() and d.name not in excluded)
    random.Random(args.seed).shuffle(ids)
    ids = ids[: args.identities]
    t0 = time.perf_counter()
    vecs, labels = [], []
    for k, ident in enumerate(ids):
        for f in sorted((args.images / ident).iterdir())[:2]:
            a = engine.analyse(load_image(f), embed="none")
            j, _ = pick_main_face(a.faces)
            if j is not None:
                vecs.append(engine.embedder.embed(a.chips[j : j + 1])[0])
                labels.append(k)
    v, lab = np.array(vecs), np.array(labels)
    s = (1 + v @ v.T) / 2
    iu = np.triu_indices(len(v), 1)
    same = lab[iu[0]] == lab[iu[1]]
    imp, gen = s[iu][~same], s[iu][same]
    fmr = args.fpir / max(refs, 1)
    thr = float(np.quantile(imp, 1 - fmr))
    print(
        json.dumps(
            {
                "backend": args.backend,
                "models": engine.model_ids,
                "excluded_identities": len(excluded),
                "identities": len(ids),
                "images": len(v),
                "impostor_pairs": int(imp.size),
                "genuine_pairs": int(gen.size),
                "reference_photos": refs,
                "target_fpir": args.fpir,
                "fmr": fmr,
                "threshold": round(thr, 4),
                "impostor_pairs_at_or_above": int((imp >= thr).sum()),
                "fnmr_at_threshold": round(float((gen < thr).mean()), 3),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
