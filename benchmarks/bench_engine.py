"""Engine speed, in one process so the figures compare (issue 8, item 4).

    .venv/bin/python benchmarks/bench_engine.py --json [--threads 2] [--faces 16] [--repeats 5] [--sweep]

Prints one JSON object on stdout (progress goes to stderr):

- ``descriptor``: ms per face for dlib's ResNet descriptor run by ``dlib-bin`` (``dlib-resnet``) and by
  onnxruntime (``dlib-resnet-onnx``, batch 1 and batch 8, default options), on real aligned lfw-dev
  chips, and the speedups. ``--sweep`` adds onnxruntime graph-optimisation level x batch size and
  threads x thread spinning grids.
- ``detector``: ms per 1280x720 frame (a frame of the Hamilton clip upscaled 2x) for each detector in
  ``DETECTORS``: dlib HOG without and with one upsampling.
- ``end_to_end``: frames/s on the Hamilton clip; a hook (``bench_end_to_end``), not measured yet.

Each timing is the median (and the minimum) wall time over ``--repeats`` runs after one warm-up run;
descriptor figures also give the median CPU time of the process (all threads). The machine is
shared, so the 1-minute load average at the start and the end is reported with the figures.

To add a detector, append ``(name, factory)`` to ``DETECTORS`` (a factory takes no argument and returns
an object with ``detect(image) -> FaceBatch``). To add end-to-end figures, fill in ``bench_end_to_end``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
LFW_DEV = SHARED / "data" / "lfw-dev"
CLIP = SHARED / "data" / "videos" / "short_hamilton_clip.mp4"
FRAME_INDEX = 120
FRAME_SIZE = (1280, 720)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, min) wall seconds of ``fn()`` over ``repeats`` runs after one warm-up run."""
    return timed_cpu(fn, repeats)[:2]


def timed_cpu(fn: Callable[[], Any], repeats: int) -> tuple[float, float, float]:
    """(median wall, min wall, median CPU) seconds of ``fn()``; CPU = this process, all threads."""
    fn()
    runs, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(runs), min(runs), statistics.median(cpu)


def ms(x: float, per: int = 1) -> float:
    return round(1000.0 * x / per, 2)


# ------------------------------------------------------------------------------------------------
# inputs


def lfw_chips(n: int) -> np.ndarray:
    """``n`` aligned 150x150 chips (dlib 5-point, padding 0.25) from lfw-dev, spread over the set."""
    from openlfr.engine.backends.dlib_backend import DlibAligner, DlibHogDetector
    from openlfr.engine.imageio import load_image

    files = sorted(LFW_DEV.glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"lfw-dev not found at {LFW_DEV} (set OPENLFR_SHARED_DIR)")
    det, aligner = DlibHogDetector(upsample=0), DlibAligner()
    chips = []
    for f in files[:: max(1, len(files) // (2 * n))]:
        img = load_image(f)
        faces = det.detect(img)
        if len(faces):
            c, _ = aligner.align(img, faces.select(np.array([0])))
            chips.append(c[0])
            if len(chips) == n:
                break
    return np.stack(chips)


def clip_frame() -> np.ndarray:
    """Frame ``FRAME_INDEX`` of the Hamilton clip (640x360), upscaled to 1280x720, RGB."""
    import cv2

    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, FRAME_INDEX)
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {FRAME_INDEX} of {CLIP}")
    bgr = cv2.resize(bgr, FRAME_SIZE, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


# ------------------------------------------------------------------------------------------------
# descriptor


def bench_descriptors(chips: np.ndarray, threads: int, repeats: int, cache_dir: Path,
                      sweep: bool) -> dict[str, Any]:
    from openlfr.engine import registry

    n = len(chips)
    out: dict[str, Any] = {"faces": n, "chip": "150x150 dlib 5-point, padding 0.25, lfw-dev"}

    ref = registry.create("embedder", "dlib-resnet")
    log(f"dlib-bin descriptor: {n} faces x {repeats}")
    # dlib-bin: one call per face (the usual loop), and one call for the whole list.
    med, low, cpu = timed_cpu(lambda: [ref.embed_raw(chips[i:i + 1]) for i in range(n)], repeats)
    out["dlib_bin_ms_per_face"] = ms(med, n)
    out["dlib_bin_ms_per_face_min"] = ms(low, n)
    out["dlib_bin_cpu_ms_per_face"] = ms(cpu, n)
    med, low = timed(lambda: ref.embed_raw(chips), repeats)
    out["dlib_bin_batched_ms_per_face"] = ms(med, n)

    t = time.perf_counter()
    fast = registry.create("embedder", "dlib-resnet-onnx", threads=threads, cache_dir=cache_dir)
    out["onnx_first_use_s"] = round(time.perf_counter() - t, 3)
    out["onnx_model_id"] = fast.model_id
    out["onnx_threads"] = threads
    diff = float(np.abs(fast.embed_raw(chips) - ref.embed_raw(chips)).max())
    out["onnx_max_abs_diff_vs_dlib"] = float(f"{diff:.3g}")
    for batch in (1, 8):
        fast.batch_size = batch
        log(f"onnx descriptor, batch {batch}")
        med, low, cpu = timed_cpu(lambda: fast.embed_raw(chips), repeats)
        out[f"onnx_batch{batch}_ms_per_face"] = ms(med, n)
        out[f"onnx_batch{batch}_ms_per_face_min"] = ms(low, n)
        out[f"onnx_batch{batch}_cpu_ms_per_face"] = ms(cpu, n)
    base = out["dlib_bin_ms_per_face"]
    out["speedup_batch1"] = round(base / out["onnx_batch1_ms_per_face"], 1)
    out["speedup_batch8"] = round(base / out["onnx_batch8_ms_per_face"], 1)
    # CPU time is less sensitive to other load on a shared machine than wall time.
    out["cpu_speedup_batch8"] = round(out["dlib_bin_cpu_ms_per_face"] / out["onnx_batch8_cpu_ms_per_face"], 1)

    if sweep:
        from openlfr.engine.backends.dlib_onnx import DlibResNetOnnxEmbedder

        def per_face(**kw: Any) -> float:
            e = DlibResNetOnnxEmbedder(cache_dir=cache_dir, **kw)
            log(f"sweep: {kw}")
            return ms(timed(lambda: e.embed_raw(chips), repeats)[0], n)

        batches = (1, 4, 8, 16)
        out["sweep_ms_per_face"] = {
            "optimisation_x_batch": {level: {f"batch{b}": per_face(threads=threads, batch_size=b,
                                                                  optimization=level) for b in batches}
                                     for level in ("disable", "basic", "extended", "all")},
            "threads_x_spinning": {f"threads{t}_spin{int(spin)}": {
                f"batch{b}": per_face(threads=t, batch_size=b, spin=spin) for b in (1, 8)}
                for t in (1, threads) for spin in (False, True)},
        }
    return out


# ------------------------------------------------------------------------------------------------
# detectors


def _hog(upsample: int) -> Callable[[], Any]:
    def make() -> Any:
        from openlfr.engine import registry

        return registry.create("detector", "dlib-hog", upsample=upsample)

    return make


DETECTORS: list[tuple[str, Callable[[], Any]]] = [
    ("dlib_hog_up0", _hog(0)),
    ("dlib_hog_up1", _hog(1)),
]
"""Detectors timed on the 1280x720 frame; append ``(name, factory)`` to add one (e.g. the fast one)."""


def bench_detectors(frame: np.ndarray, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"frame": f"{CLIP.name} frame {FRAME_INDEX}, upscaled to "
                                    f"{frame.shape[1]}x{frame.shape[0]}"}
    for name, factory in DETECTORS:
        det = factory()
        log(f"detector {name}")
        faces = det.detect(frame)
        med, low = timed(lambda det=det: det.detect(frame), repeats)
        out[name] = {"ms_per_frame": ms(med), "ms_per_frame_min": ms(low), "faces": len(faces),
                     "model_id": getattr(det, "model_id", None)}
    return out


# ------------------------------------------------------------------------------------------------
# end to end (hook)


def bench_end_to_end(clip: Path, threads: int) -> dict[str, Any]:
    """Frames/s on ``clip`` for (a) the face_recognition-style loop (HOG + descriptor on every face of
    every frame) and (b) OpenLFR's live pipeline (tracking, best shots), and their ratio.

    Not measured yet (issue 8 items 2-4, other owners): returns nulls with the reason.
    """
    reason = "not measured yet: end-to-end figures are added with the live pipeline (issue 8)"
    return {"clip": clip.name, "usual_loop_fps": None, "openlfr_live_fps": None, "speedup": None,
            "reason": reason}


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout (default)")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (default 2)")
    p.add_argument("--faces", type=int, default=16, help="chips timed per descriptor run (default 16)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default 5)")
    p.add_argument("--sweep", action="store_true", help="also time optimisation levels x batch sizes")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where the converted ONNX is cached (default: a temporary directory)")
    p.add_argument("--only", choices=("descriptor", "detector", "end_to_end"), action="append",
                   help="run only these sections (repeatable)")
    args = p.parse_args(argv)
    sections = set(args.only or ("descriptor", "detector", "end_to_end"))

    import dlib
    import onnxruntime

    result: dict[str, Any] = {
        "benchmark": "bench_engine",
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "dlib": dlib.__version__,
                    "onnxruntime": onnxruntime.__version__,
                    "load_avg_1min_start": round(os.getloadavg()[0], 2)},
    }
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        if "descriptor" in sections:
            result["descriptor"] = bench_descriptors(lfw_chips(args.faces), args.threads, args.repeats,
                                                     cache_dir, args.sweep)
        if "detector" in sections:
            result["detector"] = bench_detectors(clip_frame(), args.repeats)
        if "end_to_end" in sections:
            result["end_to_end"] = bench_end_to_end(CLIP, args.threads)
    result["machine"]["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
