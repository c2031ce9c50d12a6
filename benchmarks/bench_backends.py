"""Speed of each backend: ms per frame per detector, ms per face per aligner and embedder.

Run: .venv/bin/python benchmarks/bench_backends.py [--frames 30] [--faces 64] [--threads 1 2]
Prints one JSON object. Uses ../shared (videos, lfw-dev faces, ONNX models); a backend whose
model is absent is reported with a reason. Frames: the Hamilton clip at 640x360 and upscaled to
1280x720. Faces: aligned chips from lfw-dev images. The machine's load average is recorded with
the figures, since other work on a shared machine inflates wall times; ``cpu_ms`` (process CPU
time, all threads) is less affected.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
MODELS = SHARED / "models"
VIDEO = SHARED / "data" / "videos" / "short_hamilton_clip.mp4"
LFW = SHARED / "data" / "lfw-dev"


def _time(fn: Any, items: list[Any], repeat: int = 1) -> dict[str, float]:
    fn(items[0])  # warm-up
    per: list[float] = []
    c0 = time.process_time()
    for _ in range(repeat):
        for it in items:
            t = time.perf_counter()
            fn(it)
            per.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - c0) * 1000 / len(per)
    return {
        "mean_ms": round(statistics.fmean(per), 2),
        "median_ms": round(statistics.median(per), 2),
        "p90_ms": round(float(np.percentile(per, 90)), 2),
        "cpu_ms": round(cpu, 2),
        "n": len(per),
    }


def frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    out: list[np.ndarray] = []
    i = 0
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        if i % 5 == 0:
            out.append(np.ascontiguousarray(f[:, :, ::-1]))
        i += 1
    cap.release()
    return out


def bench_detectors(frs: list[np.ndarray], threads: list[int]) -> dict[str, Any]:
    from openlfr.engine import registry

    big = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in frs]
    specs: list[tuple[str, str, dict[str, Any]]] = [
        ("dlib-hog/up0", "dlib-hog", {"upsample": 0, "min_face_px": 0}),
        ("dlib-hog/up1", "dlib-hog", {"upsample": 1, "min_face_px": 0}),
    ]
    for th in threads:
        specs.append(
            (f"yunet/t{th}", "yunet", {"path": str(MODELS / "face_detection_yunet_2023mar.onnx"), "threads": th})
        )
        specs.append(
            (
                f"yunet-max640/t{th}",
                "yunet",
                {"path": str(MODELS / "face_detection_yunet_2023mar.onnx"), "threads": th, "max_side": 640},
            )
        )
        specs.append((f"scrfd-640/t{th}", "scrfd", {"path": str(MODELS / "scrfd_500m_bnkps.onnx"), "threads": th}))
    out: dict[str, Any] = {}
    for label, typ, opts in specs:
        try:
            det = registry.create("detector", typ, **opts)
        except Exception as exc:
            out[label] = {"error": str(exc)}
            continue
        row: dict[str, Any] = {"model_id": det.model_id}
        for size, imgs in (("640x360", frs), ("1280x720", big)):
            if label == "dlib-hog/up1" and size == "1280x720":
                imgs = imgs[: max(3, len(imgs) // 3)]
            row[size] = _time(det.detect, imgs)
            row[size]["faces_per_frame"] = round(statistics.fmean(len(det.detect(f)) for f in imgs[:10]), 2)
        out[label] = row
    return out


def lfw_faces(n: int) -> list[np.ndarray]:
    from openlfr.engine.imageio import load_image

    files = sorted(LFW.glob("*/*.jpg"))
    step = max(1, len(files) // n)
    return [load_image(p) for p in files[::step][:n]]


def bench_align_embed(images: list[np.ndarray], threads: list[int]) -> dict[str, Any]:
    from openlfr.engine import registry
    from openlfr.types import FaceBatch

    yunet = registry.create("detector", "yunet", path=str(MODELS / "face_detection_yunet_2023mar.onnx"))
    faces: list[tuple[np.ndarray, FaceBatch]] = []
    for img in images:
        fb = yunet.detect(img)
        if len(fb):
            faces.append((img, fb.select([int(np.argmax(fb.det_score))])))
    out: dict[str, Any] = {"faces": len(faces)}
    arc = registry.create("aligner", "arcface", size=112)
    out["align arcface (detector landmarks)"] = _time(lambda f: arc.align(*f), faces)
    hog_like = [(img, fb.replace(landmarks=None)) for img, fb in faces]
    out["align arcface (dlib 68-point fallback)"] = _time(lambda f: arc.align(*f), hog_like[:32])
    dl = registry.create("aligner", "dlib", size=150, padding=0.25)
    out["align dlib 5-point"] = _time(lambda f: dl.align(*f), faces[:32])
    arc_chips = np.concatenate([arc.align(*f)[0] for f in faces])
    dlib_chips = np.concatenate([dl.align(*f)[0] for f in faces])

    def per_face(emb: Any, chips: np.ndarray, batch: int) -> dict[str, Any]:
        batches = [chips[i : i + batch] for i in range(0, len(chips), batch)]
        emb.embed(batches[0])
        t, c0 = time.perf_counter(), time.process_time()
        for b in batches:
            emb.embed(b)
        dt = (time.perf_counter() - t) * 1000
        cpu = (time.process_time() - c0) * 1000
        return {
            "ms_per_face": round(dt / len(chips), 2),
            "cpu_ms_per_face": round(cpu / len(chips), 2),
            "batch": batch,
            "faces": len(chips),
        }

    for th in threads:
        try:
            mfn = registry.create(
                "embedder",
                "onnx-arcface",
                path=str(MODELS / "mobilefacenet_paddle_128d.onnx"),
                spec="mobilefacenet-128",
                threads=th,
            )
        except Exception as exc:
            out[f"onnx-arcface mobilefacenet-128/t{th}"] = {"error": str(exc)}
            continue
        for batch in (1, 8, 32):
            out[f"embed onnx-arcface:mobilefacenet-128/t{th}/b{batch}"] = per_face(mfn, arc_chips, batch)
    dres = registry.create("embedder", "dlib-resnet")
    for batch in (1, 16):
        out[f"embed dlib-resnet (dlib)/b{batch}"] = per_face(dres, dlib_chips[:32], batch)
    try:
        fast = registry.create("embedder", "dlib-resnet-onnx")
        for batch in (1, 16):
            out[f"embed dlib-resnet-onnx/b{batch}"] = per_face(fast, dlib_chips, batch)
    except Exception as exc:
        out["embed dlib-resnet-onnx"] = {"error": str(exc)[:200]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--faces", type=int, default=64)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    import onnxruntime

    if not MODELS.is_dir() or not VIDEO.is_file():
        print(json.dumps({"error": f"shared data not found under {SHARED}"}))
        sys.exit(0)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "onnxruntime": onnxruntime.__version__,
            "opencv": cv2.__version__,
            "loadavg_1m_before": round(load0[0], 2),
        },
        "detectors_ms_per_frame": bench_detectors(frames(args.frames), args.threads),
        "align_embed": bench_align_embed(lfw_faces(args.faces), args.threads),
    }
    result["machine"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
