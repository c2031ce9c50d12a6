"""Enrolment success per detector on lfw-dev: does the enrolment path find each photo's subject?

    .venv/bin/python benchmarks/bench_detect_enrol.py --json [--detector NAME ...] [--every N]
    .venv/bin/python benchmarks/bench_detect_enrol.py --fit-box mtcnn [--every 9]

Prints one JSON object on stdout (progress on stderr).

For every ``--every``-th photo of ``../shared/data/lfw-dev`` (default: all 9,207), run what
``services.watchlists._enrol_one`` runs before embedding: ``decode_image``, ``FaceEngine.analyse``
(``embed="none"``) with the detector and the default embedder's aligner and quality gate, then
``pick_main_face``. Outcomes per photo:

- ``enrolled``: a face was picked, it is the subject (its box contains the photo's centre: LFW
  photos are centred on their subject) and it passes the quality gate;
- ``no_face``, ``ambiguous`` (several faces, none clearly the subject), ``wrong_face`` (the picked
  face's box does not contain the centre), ``gate`` (the subject's face fails the quality gate).

``subject_found`` counts the photos where some detection contains the centre, whatever the rest.
Timing: median wall ms per photo of the whole analysis (detector, aligner, quality).

``--fit-box DETECTOR`` instead prints the median map from that detector's *native* box to dlib's
HOG box (upsample 1) for the same face: (dx, dy, k) as in ``blazeface._DLIB_BOX`` /
``mtcnn._DLIB_BOX``, with interquartile ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
LFW_DEV = SHARED / "data" / "lfw-dev"

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "hog_up0": ("dlib-hog", {"upsample": 0, "min_face_px": 40}),
    "hog_up1": ("dlib-hog", {"upsample": 1, "min_face_px": 40}),
    "blazeface_short": ("blazeface", {"range": "short", "min_face_px": 40}),
    "mtcnn_min40": ("mtcnn", {"min_face_px": 40}),
    "mtcnn_min20": ("mtcnn", {"min_face_px": 20}),
    "frdetect": ("frdetect", {"min_face_px": 40}),
    "frdetect_w640": ("frdetect", {"min_face_px": 40, "input_width": 640}),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def photos(every: int) -> list[Path]:
    return sorted(LFW_DEV.glob("*/*.jpg"))[::every]


def enrolment(name: str, every: int, embedder: str) -> dict[str, Any]:
    from openlfr.engine.imageio import decode_image
    from openlfr.engine.pipeline import EngineConfig, FaceEngine, pick_main_face

    det, opts = CONFIGS[name]
    engine = FaceEngine.from_config(EngineConfig(detector=det, detector_options=opts, embedder=embedder))
    counts = {k: 0 for k in ("enrolled", "no_face", "ambiguous", "wrong_face", "gate")}
    found = 0
    failures: dict[str, list[str]] = {k: [] for k in counts if k != "enrolled"}
    times: list[float] = []
    cpu0 = time.process_time()
    files = photos(every)
    for i, f in enumerate(files):
        image = decode_image(f.read_bytes(), name=f.name)
        h, w = image.shape[:2]
        t = time.perf_counter()
        a = engine.analyse(image, embed="none")
        times.append(time.perf_counter() - t)
        b = a.faces.xyxy
        central = (b[:, 0] <= w / 2) & (w / 2 <= b[:, 2]) & (b[:, 1] <= h / 2) & (h / 2 <= b[:, 3])
        found += bool(central.any())
        idx, why = pick_main_face(a.faces)
        if idx is None:
            k = "no_face" if why == "no face" else "ambiguous"
        elif not central[idx]:
            k = "wrong_face"
        elif not a.gate.passed[idx]:
            k = "gate"
        else:
            k = "enrolled"
        counts[k] += 1
        if k != "enrolled":
            failures[k].append(f"{f.parent.name}/{f.name}")
        if (i + 1) % 1000 == 0:
            log(f"{name}: {i + 1}/{len(files)} {counts}")
    n = len(files)
    return {
        "detector": det,
        "options": opts,
        "model_id": engine.detector.model_id,
        "photos": n,
        **counts,
        "enrolled_share": counts["enrolled"] / n,
        "subject_found": found,
        "subject_found_share": found / n,
        "median_ms_per_photo": round(1000 * statistics.median(times), 2),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "failures": {k: v[:50] for k, v in failures.items() if v},
    }


def fit_box(name: str, every: int) -> dict[str, Any]:
    from openlfr.engine import registry
    from openlfr.engine.imageio import decode_image

    det, opts = CONFIGS[name] if name in CONFIGS else (name, {})
    native = registry.create("detector", det, **{**opts, "box": "native"})
    hog = registry.create("detector", "dlib-hog", upsample=1, min_face_px=20)
    rows = []
    for f in photos(every):
        image = decode_image(f.read_bytes(), name=f.name)
        a, b = native.detect(image).xyxy, hog.detect(image).xyxy
        if len(a) != 1 or len(b) != 1:
            continue
        s = ((a[0, 2] - a[0, 0]) + (a[0, 3] - a[0, 1])) / 2.0
        ca, cb = (a[0, :2] + a[0, 2:]) / 2.0, (b[0, :2] + b[0, 2:]) / 2.0
        sb = ((b[0, 2] - b[0, 0]) + (b[0, 3] - b[0, 1])) / 2.0
        rows.append(((cb[0] - ca[0]) / s, (cb[1] - ca[1]) / s, sb / s))
    arr = np.array(rows)
    q = np.percentile(arr, [25, 50, 75], axis=0)
    return {
        "detector": name,
        "pairs": len(rows),
        "dx_dy_k_median": [round(float(v), 3) for v in q[1]],
        "iqr": [round(float(v), 3) for v in q[2] - q[0]],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout (default)")
    p.add_argument(
        "--detector", action="append", choices=sorted(CONFIGS), help="configuration(s) to measure (default: all)"
    )
    p.add_argument("--every", type=int, default=1, help="use every N-th photo (sorted by path)")
    p.add_argument(
        "--embedder", default="dlib-resnet-onnx", help="embedder whose aligner and chip the enrolment path uses"
    )
    p.add_argument("--fit-box", metavar="DETECTOR", help="fit the native-box -> HOG-box map instead")
    args = p.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    la = os.getloadavg()[0]
    if args.fit_box:
        out: dict[str, Any] = fit_box(args.fit_box, args.every)
    else:
        out = {"lfw_dev": str(LFW_DEV), "every": args.every, "embedder": args.embedder, "results": {}}
        for name in args.detector or list(CONFIGS):
            log(f"-- {name}")
            out["results"][name] = enrolment(name, args.every, args.embedder)
    out["load_avg_start_end"] = [round(la, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
