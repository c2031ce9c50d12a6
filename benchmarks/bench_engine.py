"""Engine speed, in one process so the figures compare (issue 8, item 4).

    .venv/bin/python benchmarks/bench_engine.py --json [--threads 2] [--faces 16] [--repeats 5] [--sweep]

Prints one JSON object on stdout (progress goes to stderr):

- ``descriptor``: ms per face for dlib's ResNet descriptor run by ``dlib-bin`` (``dlib-resnet``) and by
  onnxruntime (``dlib-resnet-onnx``, batch 1 and batch 8, default options), on real aligned lfw-dev
  chips, and the speedups. ``--sweep`` adds onnxruntime graph-optimisation level x batch size and
  threads x thread spinning grids.
- ``detector``: ms per 1280x720 frame (a frame of the Hamilton clip upscaled 2x) for each detector in
  ``DETECTORS``: dlib HOG without and with one upsampling, BlazeFace short-range (defaults: 2
  threads, faces from 40 px; also 1 thread, and from 20 px) and full-range; speedups vs HOG.
- ``end_to_end``: frames/s on the Hamilton clip (275 frames, 640x360, up to 7 faces) for (a) the
  face_recognition-style loop (HOG upsample 1 + dlib-bin descriptor on every face of every frame,
  nearest known face at distance <= 0.6) and (b) OpenLFR's live pipeline (``LiveAnalyser``:
  BlazeFace, tracking, best shots, the fast descriptor), at a threshold near face_recognition's rule
  (score 0.954) and at the measured default (0.984), plus (b) with HOG; recall of watchlisted people
  for each (watchlist: 5 people enrolled from frames of the clip, see ``WATCHLIST``); speedups.

Each timing is the median (and the minimum) wall time over ``--repeats`` runs after one warm-up run;
descriptor figures also give the median CPU time of the process (all threads). The machine is
shared, so the 1-minute load average at the start and the end is reported with the figures.

To add a detector, append ``(name, factory)`` to ``DETECTORS`` (a factory takes no argument and returns
an object with ``detect(image) -> FaceBatch``); end-to-end variants are listed in ``bench_end_to_end``.
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


def bench_descriptors(chips: np.ndarray, threads: int, repeats: int, cache_dir: Path, sweep: bool) -> dict[str, Any]:
    from openlfr.engine import registry

    n = len(chips)
    out: dict[str, Any] = {"faces": n, "chip": "150x150 dlib 5-point, padding 0.25, lfw-dev"}

    ref = registry.create("embedder", "dlib-resnet")
    log(f"dlib-bin descriptor: {n} faces x {repeats}")
    # dlib-bin: one call per face (the usual loop), and one call for the whole list.
    med, low, cpu = timed_cpu(lambda: [ref.embed_raw(chips[i : i + 1]) for i in range(n)], repeats)
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
            "optimisation_x_batch": {
                level: {f"batch{b}": per_face(threads=threads, batch_size=b, optimization=level) for b in batches}
                for level in ("disable", "basic", "extended", "all")
            },
            "threads_x_spinning": {
                f"threads{t}_spin{int(spin)}": {
                    f"batch{b}": per_face(threads=t, batch_size=b, spin=spin) for b in (1, 8)
                }
                for t in (1, threads)
                for spin in (False, True)
            },
        }
    return out


# ------------------------------------------------------------------------------------------------
# detectors


def _hog(upsample: int) -> Callable[[], Any]:
    def make() -> Any:
        from openlfr.engine import registry

        return registry.create("detector", "dlib-hog", upsample=upsample)

    return make


def _blazeface(**options: Any) -> Callable[[], Any]:
    def make() -> Any:
        from openlfr.engine import registry

        return registry.create("detector", "blazeface", **options)

    return make


DETECTORS: list[tuple[str, Callable[[], Any]]] = [
    ("dlib_hog_up0", _hog(0)),
    ("dlib_hog_up1", _hog(1)),
    ("blazeface_short", _blazeface(range="short")),
    ("blazeface_short_threads1", _blazeface(range="short", threads=1)),
    ("blazeface_short_min20", _blazeface(range="short", min_face_px=20)),
    ("blazeface_full", _blazeface(range="full")),
]
"""Detectors timed on the 1280x720 frame; append ``(name, factory)`` to add one (e.g. the fast one)."""


def bench_detectors(frame: np.ndarray, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"frame": f"{CLIP.name} frame {FRAME_INDEX}, upscaled to {frame.shape[1]}x{frame.shape[0]}"}
    for name, factory in DETECTORS:
        det = factory()
        log(f"detector {name}")
        faces = det.detect(frame)
        med, low, cpu = timed_cpu(lambda det=det: det.detect(frame), repeats)
        out[name] = {
            "ms_per_frame": ms(med),
            "ms_per_frame_min": ms(low),
            "cpu_ms_per_frame": ms(cpu),
            "faces": len(faces),
            "model_id": getattr(det, "model_id", None),
        }
    for name, _ in DETECTORS:
        if not name.startswith("blazeface"):
            continue
        for ref in ("dlib_hog_up0", "dlib_hog_up1"):
            if ref in out:
                key = ref.removeprefix("dlib_")
                out[name][f"speedup_vs_{key}"] = round(out[ref]["ms_per_frame"] / out[name]["ms_per_frame"], 1)
                out[name][f"cpu_speedup_vs_{key}"] = round(
                    out[ref]["cpu_ms_per_frame"] / out[name]["cpu_ms_per_frame"], 1
                )
    return out


# ------------------------------------------------------------------------------------------------
# end to end

WATCHLIST: list[tuple[str, int, tuple[int, int], tuple[tuple[int, int], ...]]] = [
    # (person, enrolment frame, a point inside the face at the clip's 640x360, shots the person is in)
    ("lin-manuel-miranda", 160, (290, 82), ((0, 19), (82, 210))),
    ("audience-man-left", 230, (81, 106), ((211, 274),)),
    ("audience-woman-centre", 230, (190, 128), ((211, 274),)),
    ("barack-obama", 230, (343, 93), ((211, 274),)),
    ("michelle-obama", 230, (414, 138), ((211, 274),)),
]
"""The watchlist of the end-to-end runs, built from frames of the clip itself (we have no other photos
of these people, so a match is often of a frame much like the enrolment frame: the figure says whether
each pipeline finds, tracks and describes each person at all, while the recogniser's accuracy is
measured on lfw-dev). The clip's shots (cuts found by frame differences): 0-19 stage, wide;
20-81 a close-up in profile; 82-210 stage, medium; 211-274 audience. Enrolment: the face containing the
point in the enrolment frame (found by BlazeFace with a 20 px floor, since HOG finds none of the
audience), aligned by dlib's 5-point predictor, described by dlib's ResNet. The last item lists the
shots (first, last frame) the person is seen in: a match of a person outside them is counted as a
wrong match (a match inside them to the wrong face of a crowded shot is not detected by this rule)."""

TOLERANCE = 0.6
"""face_recognition's default: a known face matches when its raw descriptor distance is <= 0.6."""
TOLERANCE_SCORE = 0.954
"""OpenLFR's score ((1 + cos) / 2 of L2-normalised descriptors) near raw distance 0.6 (raw descriptors
have norm ~1.26-1.54 on LFW: raw 0.6 ~ normalised distance 0.43 ~ score 0.954)."""


def clip_frames(clip: Path, limit: int | None) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(clip))
    frames = []
    while limit is None or len(frames) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    cap.release()
    if not frames:
        raise SystemExit(f"cannot read {clip}")
    return frames


def build_watchlist(frames: list[np.ndarray]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, raw dlib descriptors (n, 128), chips (n, 150, 150, 3)) from ``WATCHLIST``."""
    from openlfr.engine import registry
    from openlfr.engine.backends.dlib_backend import DlibAligner

    det = registry.create("detector", "blazeface", min_face_px=20, threads=1)
    aligner = DlibAligner()
    ref = registry.create("embedder", "dlib-resnet")
    names, chips = [], []
    for name, fi, (px, py), _ in WATCHLIST:
        faces = det.detect(frames[fi])
        b = faces.xyxy
        inside = np.flatnonzero((b[:, 0] <= px) & (px <= b[:, 2]) & (b[:, 1] <= py) & (py <= b[:, 3]))
        if inside.size == 0:
            raise SystemExit(f"watchlist: no face at {(px, py)} in frame {fi} for {name}")
        c, _ = aligner.align(frames[fi], faces.select(inside[:1]))
        names.append(name)
        chips.append(c[0])
    chip_arr = np.stack(chips)
    return names, ref.embed_raw(chip_arr), chip_arr


def usual_models() -> tuple[Any, Any, Any]:
    """dlib's HOG detector, 5-point shape predictor and ResNet descriptor (loaded once, untimed)."""
    import dlib

    from openlfr.engine.backends.dlib_backend import model_path

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat"))),
        dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet_model_v1.dat"))),
    )


def usual_loop(
    frames: list[np.ndarray], known: np.ndarray, models: tuple[Any, Any, Any]
) -> tuple[list[list[tuple[int, float, float]]], int]:
    """face_recognition's recipe written with dlib directly: on every frame, HOG with one upsampling
    (``face_locations``' default), then for every face the 5-point shape (``face_encodings``' default
    "small" model) and the ResNet descriptor (one jitter), then the distance to every known face; the
    nearest known face matches when its distance is <= ``TOLERANCE`` (the webcam example's rule).
    Returns per frame, for every face, (nearest known index, raw distance, OpenLFR score), and the
    number of faces described (the score is computed for reporting only, outside the loop's rule)."""
    detector, predictor, encoder = models
    known_unit = known / np.linalg.norm(known, axis=1, keepdims=True)
    out: list[list[tuple[int, float, float]]] = []
    described = 0
    for img in frames:
        faces = []
        for rect in detector(img, 1):
            shape = predictor(img, rect)
            enc = np.asarray(encoder.compute_face_descriptor(img, shape, 1))
            described += 1
            dist = np.linalg.norm(known - enc, axis=1)
            best = int(np.argmin(dist))
            score = (1.0 + float(known_unit[best] @ (enc / np.linalg.norm(enc)))) / 2.0
            faces.append((best, float(dist[best]), score))
        out.append(faces)
    return out, described


def openlfr_engine(
    names: list[str], chips: np.ndarray, threads: int, cache_dir: Path, detector: str, detector_options: dict[str, Any]
) -> tuple[Any, Any]:
    """(engine, watchlist index) for the live runs: ``detector`` + dlib's 5-point aligner + the fast
    descriptor (``dlib-resnet-onnx``, ``threads``), the watchlist chips embedded (loaded once, untimed)."""
    from openlfr.engine.matcher import WatchlistEntryRef, WatchlistIndex
    from openlfr.engine.pipeline import EngineConfig, FaceEngine

    engine = FaceEngine.from_config(
        EngineConfig(
            detector=detector,
            detector_options=detector_options,
            embedder="dlib-resnet-onnx",
            embedder_options={"threads": threads, "cache_dir": cache_dir},
        )
    )
    vecs = engine.embedder.embed(chips)
    entries = [WatchlistEntryRef(entry_id=i + 1, person_id=n, name=n) for i, n in enumerate(names)]
    return engine, WatchlistIndex(vecs, entries, list(range(len(names))), model_id=engine.embedder.model_id)


def openlfr_live(
    frames: list[np.ndarray], engine: Any, index: Any, threshold: float, shots: dict[str, Any] | None = None
) -> tuple[list[Any], dict[str, int]]:
    """OpenLFR's live decision logic (``engine.live.LiveAnalyser``: detect, track, quality gate, best
    shots embedded in one batch per frame, watchlist search, per-track fusion and alerts) over
    ``frames`` at 30 fps, as a camera worker runs it; ``shots``: ``ShotPolicy`` options (default: its
    defaults, at most 3 shots per track). Returns (alert events, counters)."""
    from openlfr.engine.live import LiveAnalyser, LiveConfig
    from openlfr.engine.sources import Frame
    from openlfr.engine.track import ShotPolicy

    config = LiveConfig(alert_frame=False, shots=ShotPolicy(**(shots or {})))
    analyser = LiveAnalyser(engine, index, threshold, camera="bench", config=config)
    alerts: list[Any] = []
    counters: dict[str, int] = {}
    for i, img in enumerate(frames):
        res = analyser.process(Frame(image=img, t=i / 30.0, wall=0.0, index=i))
        alerts.extend(res.alerts)
        for k, v in res.counters.items():
            counters[k] = counters.get(k, 0) + int(v)
    res = analyser.finish()
    for k, v in res.counters.items():
        counters[k] = counters.get(k, 0) + int(v)
    return alerts, counters


ENROL_MARGIN = 3
"""Frames on each side of a person's enrolment frame whose matches of that person are not counted
(the enrolment chip comes from that frame: matching it again is not recognition)."""


def _people(hits: dict[str, list[int]]) -> dict[str, Any]:
    """Recall of people from {person: [frames where matched]}, right and wrong by the person's shots;
    matches within ``ENROL_MARGIN`` frames of the person's enrolment frame are not counted."""
    shots = {name: rng for name, _, _, rng in WATCHLIST}
    enrol = {name: fi for name, fi, _, _ in WATCHLIST}

    def seen(n: str, f: int) -> bool:
        return any(a <= f <= b for a, b in shots[n])

    hits = {n: [f for f in fs if abs(f - enrol[n]) > ENROL_MARGIN] for n, fs in hits.items()}
    right = sorted(n for n, fs in hits.items() if any(seen(n, f) for f in fs))
    wrong = sum(1 for n, fs in hits.items() for f in fs if not seen(n, f))
    return {
        "people_recall": round(len(right) / len(WATCHLIST), 4),
        "people_recognised": right,
        "wrong_matches": wrong,
        "match_frames": {n: [min(fs), max(fs)] for n, fs in sorted(hits.items()) if fs},
    }


def bench_end_to_end(
    clip: Path, threads: int, repeats: int = 3, limit: int | None = None, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Frames/s on ``clip`` (frames decoded beforehand, at the clip's own size) for (a) the
    face_recognition-style loop and (b) OpenLFR's live pipeline, recall of people for both, and the
    speedups. (a) is timed once (it is slow; its CPU time is reported too), (b) ``repeats`` times."""
    every = clip_frames(clip, None)
    names, known_raw, chips = build_watchlist(every)
    frames = every[:limit] if limit else every
    n = len(frames)
    out: dict[str, Any] = {
        "clip": clip.name,
        "frames": n,
        "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "watchlist": names,
        "timing": "frames decoded beforehand; wall and CPU (all threads)",
    }

    log(f"end to end: usual loop over {n} frames")
    models = usual_models()
    t, c = time.perf_counter(), time.process_time()
    per_frame, described = usual_loop(frames, known_raw, models)
    wall, cpu = time.perf_counter() - t, time.process_time() - c

    def hits_where(ok: Callable[[float, float], bool]) -> dict[str, list[int]]:
        hits: dict[str, list[int]] = {}
        for fi, faces in enumerate(per_frame):
            for k, dist, score in faces:
                if ok(dist, score):
                    hits.setdefault(names[k], []).append(fi)
        return hits

    out["usual_loop"] = {
        "what": "dlib HOG upsample 1 + 5-point + dlib-bin ResNet descriptor on every face of every frame; "
        "nearest known face at raw distance <= 0.6",
        "fps": round(n / wall, 2),
        "cpu_ms_per_frame": ms(cpu, n),
        "cpu_per_wall": round(cpu / wall, 2),
        "faces_described": described,
        **_people(hits_where(lambda d, s: d <= TOLERANCE)),
        "at_score_0954": _people(hits_where(lambda d, s: s >= TOLERANCE_SCORE)),
        "at_score_0984": _people(hits_where(lambda d, s: s >= 0.984)),
    }

    cache = cache_dir or Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    more_shots = {"max_attempts": 30, "refresh_s": 0.2, "min_gap_s": 0.1}
    variants = [  # (key, detector, options, threshold, shot policy); threshold None: the measured default
        ("openlfr_live", "blazeface", {}, TOLERANCE_SCORE, None),
        ("openlfr_live_30_shots", "blazeface", {}, TOLERANCE_SCORE, more_shots),
        ("openlfr_live_default_threshold", "blazeface", {}, None, None),
        ("openlfr_live_hog_up1", "dlib-hog", {"upsample": 1, "min_face_px": 40}, TOLERANCE_SCORE, None),
    ]
    from openlfr.services.operating_point import default_threshold

    for key, det, det_opts, thr, shots in variants:
        log(f"end to end: {key}")
        engine, index = openlfr_engine(names, chips, threads, cache, det, det_opts)
        used_thr = default_threshold(engine.embedder) if thr is None else thr
        runs, cpus = [], []
        alerts: list[Any] = []
        counters: dict[str, int] = {}
        for r in range(repeats + 1):  # the first run warms up (interpreters for each input size)
            t, c = time.perf_counter(), time.process_time()
            alerts, counters = openlfr_live(frames, engine, index, used_thr, shots)
            if r:
                runs.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
        hits: dict[str, list[int]] = {}
        for ev in alerts:
            hits.setdefault(ev.record.person_id, []).append(round(ev.t * 30))
        wall = statistics.median(runs)
        out[key] = {
            "detector": engine.detector.model_id,
            "embedder": engine.embedder.model_id,
            "threshold": used_thr,
            "shots": shots or "ShotPolicy defaults (3 per track)",
            "fps": round(n / wall, 2),
            "fps_best": round(n / min(runs), 2),
            "cpu_ms_per_frame": ms(statistics.median(cpus), n),
            "cpu_per_wall": round(statistics.median(cpus) / wall, 2),
            "faces_seen_tracks": counters.get("faces_seen", 0),
            "faces_detected": counters.get("faces_detected", 0),
            "alerts": len(alerts),
            **_people(hits),
        }
    base = out["usual_loop"]["fps"]
    out["speedup"] = round(out["openlfr_live"]["fps"] / base, 1)
    out["speedup_cpu"] = round(out["usual_loop"]["cpu_ms_per_frame"] / out["openlfr_live"]["cpu_ms_per_frame"], 1)
    out["speedup_30_shots"] = round(out["openlfr_live_30_shots"]["fps"] / base, 1)
    out["speedup_30_shots_cpu"] = round(
        out["usual_loop"]["cpu_ms_per_frame"] / out["openlfr_live_30_shots"]["cpu_ms_per_frame"], 1
    )
    out["speedup_hog_live"] = round(out["openlfr_live_hog_up1"]["fps"] / base, 1)
    return out


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print only the JSON object on stdout (default)")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (default 2)")
    p.add_argument("--faces", type=int, default=16, help="chips timed per descriptor run (default 16)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per figure (default 5)")
    p.add_argument("--sweep", action="store_true", help="also time optimisation levels x batch sizes")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the converted ONNX is cached (default: a temporary directory)",
    )
    p.add_argument("--e2e-frames", type=int, default=None, help="end to end: first N frames only (default all)")
    p.add_argument(
        "--only",
        choices=("descriptor", "detector", "end_to_end"),
        action="append",
        help="run only these sections (repeatable)",
    )
    args = p.parse_args(argv)
    sections = set(args.only or ("descriptor", "detector", "end_to_end"))

    import dlib
    import onnxruntime

    result: dict[str, Any] = {
        "benchmark": "bench_engine",
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "dlib": dlib.__version__,
            "onnxruntime": onnxruntime.__version__,
            "load_avg_1min_start": round(os.getloadavg()[0], 2),
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        if "descriptor" in sections:
            result["descriptor"] = bench_descriptors(
                lfw_chips(args.faces), args.threads, args.repeats, cache_dir, args.sweep
            )
        if "detector" in sections:
            result["detector"] = bench_detectors(clip_frame(), args.repeats)
        if "end_to_end" in sections:
            result["end_to_end"] = bench_end_to_end(
                CLIP, args.threads, repeats=min(args.repeats, 3), limit=args.e2e_frames, cache_dir=cache_dir
            )
    result["machine"]["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
