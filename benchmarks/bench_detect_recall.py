"""Face detector recall: dlib HOG (upsample 0, 1) vs BlazeFace (short, full) vs MTCNN, one process.

    .venv/bin/python benchmarks/bench_detect_recall.py --json [--min-face-px 20] [--walk-people 16]
        [--only clips|walkthrough] [--detector hog_up1 --detector mtcnn ...]

Prints one JSON object on stdout (progress on stderr).

**Real clips**: the hand-checked frames of ``benchmarks/data/clip_faces.json`` (82 frames sampled
from the 7 clips of ``../shared/data/videos``, 133 faces of at least 20 px; how they were labelled is
in the file). A labelled face is found when a detection overlaps it with IoU >= 0.3 (one detection
per face); a *false detection* overlaps no labelled face and no "ignore" box (blurred background
heads). Recall overall, for frontal faces (both eyes visible) and by face size (box side).

**Walk-through scenes** (``openlfr.eval.synth``, 1280x720, 10 fps; ground truth per frame): a
normal scene (faces 90-150 px wide) and a small-face scene (faces 30-60 px). A truth face is
found when a detection's centre lies in its head box and the detection's side is 0.3-1.3x the head
box width; recall = found truth faces / truth faces; false detections = detections matching no
truth face. Every ``--walk-step``-th frame is analysed.

Timing: median wall and CPU ms per analysed frame for each detector (frames of each source
differ; the load average is reported since the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
VIDEOS = SHARED / "data" / "videos"
LFW_DEV = SHARED / "data" / "lfw-dev"
SIZE_BINS = ((0, 40), (40, 80), (80, 100000))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


DETECTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "hog_up0": ("dlib-hog", {"upsample": 0}),
    "hog_up1": ("dlib-hog", {"upsample": 1}),
    "blazeface_short": ("blazeface", {"range": "short"}),
    "blazeface_full": ("blazeface", {"range": "full"}),
    "mtcnn": ("mtcnn", {}),
    "frdetect": ("frdetect", {}),
    "frdetect_w640": ("frdetect", {"input_width": 640}),
    "frdetect_w960": ("frdetect", {"input_width": 960}),
}


def detectors(min_face_px: int, names: list[str] | None = None) -> dict[str, Any]:
    from openlfr.engine import registry

    return {
        k: registry.create("detector", t, **o, min_face_px=min_face_px)
        for k, (t, o) in DETECTORS.items()
        if names is None or k in names
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    cap.release()
    return frames


def run_all(
    dets: dict[str, Any], image: np.ndarray, timing: dict[str, list[tuple[float, float]]]
) -> dict[str, np.ndarray]:
    out = {}
    for name, d in dets.items():
        t, c = time.perf_counter(), time.process_time()
        faces = d.detect(image)
        timing[name].append((time.perf_counter() - t, time.process_time() - c))
        out[name] = faces.xyxy
    return out


def timing_summary(timing: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    return {
        k: {
            "ms_per_frame": round(1000 * statistics.median(w for w, _ in v), 2),
            "cpu_ms_per_frame": round(1000 * statistics.median(c for _, c in v), 2),
            "frames": len(v),
        }
        for k, v in timing.items()
        if v
    }


def size_bin(side: float) -> str:
    for lo, hi in SIZE_BINS:
        if lo <= side < hi:
            return f"{lo}-{hi}px" if hi < 100000 else f">={lo}px"
    return "?"


# ------------------------------------------------------------------------------------------------
# real clips

TRUTH = REPO / "benchmarks" / "data" / "clip_faces.json"


def _match(boxes: np.ndarray, faces: list[dict[str, Any]], ignore: list[list[float]]) -> tuple[set[int], int]:
    """(indices of truth faces hit, false detections): a detection hits the unmatched truth face it
    overlaps most (IoU >= 0.3); unmatched detections overlapping an ignore box are not counted."""
    hit: set[int] = set()
    false = 0
    for b in boxes:
        best, best_iou = None, 0.3
        for i, f in enumerate(faces):
            v = iou(np.asarray(f["box"], np.float32), b)
            if i not in hit and v >= best_iou:
                best, best_iou = i, v
        if best is not None:
            hit.add(best)
        elif not any(iou(np.asarray(g, np.float32), b) >= 0.3 for g in ignore):
            false += 1
    return hit, false


def clips(dets: dict[str, Any]) -> dict[str, Any]:
    truth = json.loads(TRUTH.read_text())
    by_clip: dict[str, list[dict[str, Any]]] = {}
    for fr in truth["frames"]:
        by_clip.setdefault(fr["clip"], []).append(fr)
    timing: dict[str, list[tuple[float, float]]] = {k: [] for k in dets}
    faces_all: list[dict[str, Any]] = []
    hits: dict[str, list[bool]] = {k: [] for k in dets}
    false = dict.fromkeys(dets, 0)
    for clip, frames_truth in sorted(by_clip.items()):
        path = VIDEOS / clip
        if not path.is_file():
            raise SystemExit(f"{path} not found (set OPENLFR_SHARED_DIR)")
        frames = read_frames(path)
        log(f"clip {clip}: {len(frames_truth)} labelled frames")
        for fr in frames_truth:
            found = run_all(dets, frames[fr["frame"]], timing)
            faces_all.extend(fr["faces"])
            for name, boxes in found.items():
                hit, f = _match(boxes, fr["faces"], fr["ignore"])
                hits[name].extend(i in hit for i in range(len(fr["faces"])))
                false[name] += f
    n_frames = len(truth["frames"])
    out: dict[str, Any] = {
        "truth": str(TRUTH.relative_to(REPO)),
        "frames": n_frames,
        "faces": len(faces_all),
        "profile_faces": sum(f["profile"] for f in faces_all),
        "timing": timing_summary(timing),
    }
    sides = [min(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1]) for f in faces_all]
    recall: dict[str, Any] = {}
    for name in dets:
        h = hits[name]
        row: dict[str, Any] = {
            "all": _ratio(sum(h), len(h)),
            "frontal": _ratio(
                sum(x for x, f in zip(h, faces_all, strict=True) if not f["profile"]),
                sum(not f["profile"] for f in faces_all),
            ),
        }
        for lo, hi in SIZE_BINS:
            sel = [x for x, s in zip(h, sides, strict=True) if lo <= s < hi]
            row[size_bin(lo)] = _ratio(sum(sel), len(sel))
        row["false_detections"] = false[name]
        row["false_per_frame"] = round(false[name] / n_frames, 3)
        recall[name] = row
    out["recall"] = recall
    return out


def _ratio(k: int, n: int) -> dict[str, Any]:
    return {"recall": round(k / n, 4) if n else None, "k": k, "n": n}


# ------------------------------------------------------------------------------------------------
# walk-through scenes


def walkthrough(dets: dict[str, Any], people: int, step: int, tmp: Path) -> dict[str, Any]:
    from openlfr.eval.synth import SynthConfig, render

    out: dict[str, Any] = {}
    for name, face_px in (("normal_90_150px", (90.0, 150.0)), ("small_30_60px", (30.0, 60.0))):
        cfg = SynthConfig(people=people, watchlisted=0, seed=7, size=(1280, 720), fps=10.0, face_px=face_px)
        video, truth_path = tmp / f"{name}.mp4", tmp / f"{name}.json"
        log(f"walk-through {name}: rendering {people} people")
        render(LFW_DEV, video, truth_path, cfg)
        truth = json.loads(truth_path.read_text())
        by_frame: dict[int, list[np.ndarray]] = {}
        for p in truth["passes"]:
            for b in p["boxes"]:
                by_frame.setdefault(int(b[0]), []).append(np.asarray(b[1:5], np.float32))
        frames = read_frames(video)
        timing: dict[str, list[tuple[float, float]]] = {k: [] for k in dets}
        hits = dict.fromkeys(dets, 0)
        false = dict.fromkeys(dets, 0)
        total = 0
        for fi in range(0, len(frames), step):
            gts = by_frame.get(fi, [])
            found = run_all(dets, frames[fi], timing)
            total += len(gts)
            for dname, boxes in found.items():
                used = set()
                for b in boxes:
                    cx, cy, side = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0]
                    match = None
                    for gi, g in enumerate(gts):
                        gw = g[2] - g[0]
                        inside = g[0] <= cx <= g[2] and g[1] <= cy <= g[3]
                        if gi not in used and inside and 0.3 * gw <= side <= 1.3 * gw:
                            match = gi
                            break
                    if match is None:
                        false[dname] += 1
                    else:
                        used.add(match)
                hits[dname] += len(used)
        out[name] = {
            "frames_analysed": len(range(0, len(frames), step)),
            "truth_faces": total,
            "recall": {k: _ratio(v, total) for k, v in hits.items()},
            "false_detections": false,
            "timing": timing_summary(timing),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout (default)")
    p.add_argument("--min-face-px", type=int, default=20, help="smallest face side kept, every detector")
    p.add_argument("--walk-people", type=int, default=16, help="people per walk-through scene")
    p.add_argument("--walk-step", type=int, default=2, help="analyse every N-th walk-through frame")
    p.add_argument("--only", choices=("clips", "walkthrough"), action="append")
    p.add_argument("--detector", choices=sorted(DETECTORS), action="append", help="default: all")
    args = p.parse_args(argv)
    sections = set(args.only or ("clips", "walkthrough"))
    dets = detectors(args.min_face_px, args.detector)
    result: dict[str, Any] = {
        "benchmark": "bench_detect_recall",
        "min_face_px": args.min_face_px,
        "models": {k: d.model_id for k, d in dets.items()},
        "load_avg_1min_start": round(os.getloadavg()[0], 2),
    }
    if "clips" in sections:
        result["clips"] = clips(dets)
    if "walkthrough" in sections:
        with tempfile.TemporaryDirectory(prefix="bench-recall-") as tmp:
            result["walkthrough"] = walkthrough(dets, args.walk_people, args.walk_step, Path(tmp))
    result["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
