"""Detector speed per 1280x720 and 480x270 frame (2 threads where the backend has threads), one process.

    .venv/bin/python benchmarks/bench_detect_speed.py --json [--repeats 10]

Frames: frame 232 of the Hamilton clip (the audience: four faces, 640x360) scaled to 1280x720, and
frame 12 of ``intel_face-demographics-walking-and-pause.gif`` (480x270, three faces of 53-76 px).
For each detector: median wall and CPU ms (the process's CPU time, all threads) over ``--repeats``
runs after one warm-up run, and the number of faces found. The machine is shared: the 1-minute load
average is reported; CPU ms is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
VIDEOS = SHARED / "data" / "videos"

DETECTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "hog_up0": ("dlib-hog", {"upsample": 0, "min_face_px": 40}),
    "hog_up1": ("dlib-hog", {"upsample": 1, "min_face_px": 40}),
    "blazeface_short": ("blazeface", {"range": "short", "min_face_px": 40, "threads": 2}),
    "mtcnn_min40": ("mtcnn", {"min_face_px": 40, "threads": 2}),
    "mtcnn_min40_pyrcrops": ("mtcnn", {"min_face_px": 40, "threads": 2, "pyramid_crops": True}),
    "mtcnn_min20": ("mtcnn", {"min_face_px": 20, "threads": 2}),
}


def frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    for _ in range(index + 1):
        ok, bgr = cap.read()
        if not ok:
            raise SystemExit(f"{path}: no frame {index}")
    cap.release()
    return np.ascontiguousarray(bgr[:, :, ::-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout (default)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--detector", action="append", choices=sorted(DETECTORS), help="default: all")
    args = p.parse_args(argv)
    from openlfr.engine import registry

    images = [
        np.ascontiguousarray(
            cv2.resize(frame(VIDEOS / "short_hamilton_clip.mp4", 232), (1280, 720), interpolation=cv2.INTER_LINEAR)
        ),
        frame(VIDEOS / "intel_face-demographics-walking-and-pause.gif", 12),
    ]
    frames = {f"{im.shape[1]}x{im.shape[0]}": im for im in images}
    out: dict[str, Any] = {
        "benchmark": "bench_detect_speed",
        "load_avg_1min_start": round(os.getloadavg()[0], 2),
        "frames": {k: list(v.shape) for k, v in frames.items()},
        "results": {},
    }
    for name in args.detector or list(DETECTORS):
        kind, opts = DETECTORS[name]
        det = registry.create("detector", kind, **opts)
        row: dict[str, Any] = {"model_id": det.model_id}
        for fname, img in frames.items():
            faces = det.detect(img)
            walls, cpus = [], []
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                det.detect(img)
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
            row[fname] = {
                "ms": round(1000 * statistics.median(walls), 1),
                "cpu_ms": round(1000 * statistics.median(cpus), 1),
                "faces": len(faces),
            }
        out["results"][name] = row
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
