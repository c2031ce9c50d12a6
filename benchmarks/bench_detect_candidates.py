"""Default-detector candidates on the same 640-px frames: CPU ms per frame on one core, clip recall,
and (optionally) lfw-dev enrolment "no face" rejections.

    python benchmarks/bench_detect_candidates.py [--detector NAME ...] [--repeats 3] [--lfw-every N]

Prints one JSON object on stdout (progress on stderr).

- **Frames**: the 82 hand-checked frames of ``benchmarks/data/clip_faces.json`` (7 clips of
  ``../shared/data/videos``, 133 faces), each resized to 640 px wide (area / linear), its truth boxes
  scaled with it. So every candidate sees exactly the same 640-px frames.
- **CPU ms per frame**: every detector is created with one thread (``threads=1`` where it has the
  option; dlib HOG is single-threaded) and the process is pinned to one core when the OS allows it;
  each frame is detected ``--repeats`` times after one warm-up pass; the figure is the median over
  frames of the per-frame minimum of ``time.process_time()`` (CPU of the whole process).
- **Recall**: as ``bench_detect_recall.py`` (a truth face is found by the detection that overlaps it
  most with IoU >= 0.3; boxes in dlib HOG style, which is every detector's default ``box``).
- **lfw-dev** (``--lfw-every N``, 0 = skip): the enrolment path of ``bench_detect_enrol.py``
  (decode, ``FaceEngine.analyse`` with the default embedder's aligner and gate, ``pick_main_face``) on
  every N-th photo; ``no_face`` = photos rejected as "no face".
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

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_detect_recall as rec  # noqa: E402

CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "frdetect_w320": ("frdetect", {"threads": 1, "input_width": 320}),
    "frdetect_w480": ("frdetect", {"threads": 1, "input_width": 480}),
    "frdetect": ("frdetect", {"threads": 1}),
    "mtcnn_min20": ("mtcnn", {"threads": 1, "min_face_px": 20}),
    "mtcnn_min40": ("mtcnn", {"threads": 1, "min_face_px": 40}),
    "blazeface_short": ("blazeface", {"threads": 1, "range": "short"}),
    "hog_up1": ("dlib-hog", {"upsample": 1}),
}

WIDTH = 640


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def frames_640() -> list[tuple[np.ndarray, list[dict[str, Any]], list[list[float]]]]:
    """(frame at 640 px width, truth faces with scaled boxes, scaled ignore boxes) for every labelled frame."""
    truth = json.loads(rec.TRUTH.read_text())
    out = []
    cache: dict[str, list[np.ndarray]] = {}
    for fr in truth["frames"]:
        path = rec.VIDEOS / fr["clip"]
        if not path.is_file():
            raise SystemExit(f"{path} not found (set OPENLFR_SHARED_DIR)")
        if fr["clip"] not in cache:
            cache[fr["clip"]] = rec.read_frames(path)
        img = cache[fr["clip"]][fr["frame"]]
        h, w = img.shape[:2]
        s = WIDTH / w
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        img = np.ascontiguousarray(cv2.resize(img, (WIDTH, round(h * s)), interpolation=interp))
        faces = [{**f, "box": [v * s for v in f["box"]]} for f in fr["faces"]]
        ignore = [[v * s for v in g] for g in fr["ignore"]]
        out.append((img, faces, ignore))
    return out


def measure(name: str, frames: list[Any], repeats: int) -> dict[str, Any]:
    from openlfr.engine import registry

    det_type, opts = CANDIDATES[name]
    det = registry.create("detector", det_type, **{"min_face_px": 20, **opts})
    for img, _, _ in frames[:5]:
        det.detect(img)
    cpu: list[float] = []
    hits: list[bool] = []
    sides: list[float] = []
    false = 0
    for img, faces, ignore in frames:
        best = float("inf")
        boxes = None
        for _ in range(repeats):
            c = time.process_time()
            fb = det.detect(img)
            best = min(best, time.process_time() - c)
            boxes = fb.xyxy
        cpu.append(best)
        assert boxes is not None
        hit, f = rec._match(boxes, faces, ignore)
        false += f
        hits.extend(i in hit for i in range(len(faces)))
        sides.extend(min(x["box"][2] - x["box"][0], x["box"][3] - x["box"][1]) for x in faces)
    small = [h for h, s in zip(hits, sides, strict=True) if s < 40]
    return {
        "detector": det_type,
        "options": opts,
        "model_id": getattr(det, "model_id", det_type),
        "cpu_ms_per_frame_median": round(1000 * statistics.median(cpu), 2),
        "cpu_ms_per_frame_mean": round(1000 * statistics.mean(cpu), 2),
        "recall": rec._ratio(sum(hits), len(hits)),
        "recall_under_40px": rec._ratio(sum(small), len(small)),
        "false_per_frame": round(false / len(frames), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detector", action="append", choices=sorted(CANDIDATES), help="default: all")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lfw-every", type=int, default=0, help="lfw-dev enrolment on every N-th photo (0: skip)")
    a = p.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    names = a.detector or list(CANDIDATES)
    frames = frames_640()
    log(f"{len(frames)} frames at {WIDTH} px, {sum(len(f) for _, f, _ in frames)} faces")
    out: dict[str, Any] = {"frames": len(frames), "width": WIDTH, "load_avg": os.getloadavg(), "detectors": {}}
    for n in names:
        log(f"{n} ...")
        out["detectors"][n] = measure(n, frames, a.repeats)
        log(json.dumps(out["detectors"][n]))
    if a.lfw_every:
        import bench_detect_enrol as enr

        for n in names:
            det_type, opts = CANDIDATES[n]
            key = f"cand_{n}"
            enr.CONFIGS[key] = (det_type, {**opts, "min_face_px": opts.get("min_face_px", 40)})
            log(f"lfw-dev enrolment {n} (every {a.lfw_every}) ...")
            r = enr.enrolment(key, a.lfw_every, "fused")
            out["detectors"][n]["lfw_dev"] = {
                k: r[k] for k in ("photos", "enrolled", "no_face", "ambiguous", "wrong_face", "gate", "subject_found")
            }
            out["detectors"][n]["lfw_dev"]["no_face_examples"] = r["failures"].get("no_face", [])[:20]
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
