"""Live pipeline benchmark: a simulated 1280x720 camera at 25 fps with 1, 5 and 15 faces in view.

A synthetic live source renders frames in real time (faces from lfw-dev, or tests/data/faces when
absent, swaying in place on a static scene; each slot shows a person for 3.8 s, then stays empty for
2.2 s, longer than the tracker's 2 s time-to-live, before the next person: new tracks keep
arriving and on average the given number of faces is in view), feeding the real camera worker
(reader thread, drop-oldest queue, tracker, best shots, embedding, fusion, alerts). Every person
shown is enrolled, so alerts happen and their latency can be measured.

Prints one JSON object: per configuration and face count, sustained analysed frames/s, faces/s,
queue drops, end-to-end alert latency (capture of the alerting frame -> alert in the sink) p50/p95 over the
alerts of the measured window (and over every alert, warm-up and stop included), early decisions,
time from a face's first appearance to its alert p50/p95, CPU use (cores, and CPU ms per analysed
frame, which does not depend on other load on the machine; ``load_average_1m`` says how busy it
was) and peak memory.

    .venv/bin/python benchmarks/bench_live.py [--seconds 20] [--faces 1,5,15] [--configs default,hog640-onnx,mtcnn-onnx]
        [--embedder TYPE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.imageio import IMAGE_SUFFIXES, load_image
from openlfr.engine.live import LiveConfig, index_in_memory
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.engine.sources import Frame
from openlfr.runtime.workers import AlertMsg, CameraSpec, CameraWorker, CountEvent

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared"))
W, H, FPS = 1280, 720, 25.0


def people_photos(n: int) -> dict[str, Image]:  # type: ignore[name-defined]  # noqa: F821
    roots = [SHARED / "data" / "lfw-dev", REPO / "tests" / "data" / "faces"]
    out: dict[str, Any] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if files:
                out[d.name] = load_image(files[0])
            if len(out) >= n:
                return out
    return out


class SyntheticCamera:
    """A live source: renders ``faces`` moving heads per frame at ``fps`` in real time."""

    live = True

    def __init__(
        self,
        photos: dict[str, Any],
        faces: int,
        fps: float = FPS,
        swap_s: float = 6.0,
        gap_s: float = 2.2,
        seed: int = 0,
    ) -> None:
        self.name = f"synthetic-{faces}"
        self.fps = fps
        self.faces = faces
        self.swap_s = swap_s
        self.gap_s = gap_s  # a slot is empty this long between people (> the tracker's 2 s ttl)
        rng = np.random.default_rng(seed)
        self.bg = np.clip(rng.normal(120, 25, (H, W, 3)), 0, 255).astype(np.uint8)
        self.bg = cv2.GaussianBlur(self.bg, (0, 0), 3)
        self.names = sorted(photos)
        self.patches = {k: self._patch(v) for k, v in photos.items()}
        # enough slots that on average ``faces`` are in view
        slots = int(np.ceil(faces * swap_s / (swap_s - gap_s)))
        cols = int(np.ceil(np.sqrt(slots * W / H)))
        rows = int(np.ceil(slots / cols))
        self.cells = [((c + 0.5) * W / cols, (r + 0.5) * H / rows) for r in range(rows) for c in range(cols)][:slots]
        self.size = min(W / cols, H / rows) * 0.85
        self.t0: float | None = None
        self.n = 0

    @staticmethod
    def _patch(img: Any) -> Any:
        h, w = img.shape[:2]
        return img[int(h * 0.12) : int(h * 0.88), int(w * 0.18) : int(w * 0.82)]

    def open(self) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic()

    def who(self, slot: int, t: float) -> tuple[int, str] | None:
        """(epoch, person) in ``slot`` at ``t``, or None while the slot is empty."""
        u = t + slot * self.swap_s / len(self.cells)
        if u % self.swap_s >= self.swap_s - self.gap_s:
            return None
        epoch = int(u // self.swap_s)
        return epoch, self.names[(slot * 7 + epoch * 3) % len(self.names)]

    def slot_at(self, x: float, y: float) -> int | None:
        d = [abs(cx - x) + abs(cy - y) for cx, cy in self.cells]
        k = int(np.argmin(d))
        return k if d[k] < self.size else None

    def read(self) -> Frame:
        self.open()
        assert self.t0 is not None
        due = self.t0 + self.n / self.fps
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        t = self.n / self.fps
        frame = self.bg.copy()
        for slot, (cx, cy) in enumerate(self.cells):
            who = self.who(slot, t)
            if who is None:
                continue
            name = who[1]
            p = self.patches[name]
            s = self.size / p.shape[0]
            ph, pw = int(p.shape[0] * s) // 2 * 2, int(p.shape[1] * s) // 2 * 2
            patch = cv2.resize(p, (pw, ph), interpolation=cv2.INTER_AREA)
            dx = int(10 * np.sin(t * 1.3 + slot))
            x1, y1 = int(cx - pw / 2) + dx, int(cy - ph / 2)
            x1 = min(max(x1, 0), W - pw)
            y1 = min(max(y1, 0), H - ph)
            frame[y1 : y1 + ph, x1 : x1 + pw] = patch
        self.n += 1
        return Frame(image=frame, t=t, wall=time.time(), index=self.n - 1)

    def close(self) -> None:
        pass


CONFIGS: dict[str, dict[str, Any]] = {
    "hog640": {
        "engine": EngineConfig(
            detector="dlib-hog", detector_options={"upsample": 1, "min_face_px": 40}, embedder="dlib-resnet"
        ),
        "live": {"analysis_width": 640},
    },
    "hog640-onnx": {
        "engine": EngineConfig(
            detector="dlib-hog", detector_options={"upsample": 1, "min_face_px": 40}, embedder="dlib-resnet-onnx"
        ),
        "live": {"analysis_width": 640},
    },
    # the engine's default models (EngineConfig()): HOG @640 + the fused dlib + MobileFaceNet-192 embedder
    "default": {"engine": EngineConfig(), "live": {"analysis_width": 640}},
    "yunet-onnx": {
        "engine": EngineConfig(
            detector="yunet",
            detector_options={"path": str(SHARED / "models" / "face_detection_yunet_2023mar.onnx")},
            embedder="dlib-resnet-onnx",
        ),
        "live": {},
    },
    "mtcnn-onnx": {
        "engine": EngineConfig(detector="mtcnn", detector_options={"min_face_px": 40}, embedder="dlib-resnet-onnx"),
        "live": {},
    },
    "mtcnn640-onnx": {
        "engine": EngineConfig(detector="mtcnn", detector_options={"min_face_px": 20}, embedder="dlib-resnet-onnx"),
        "live": {"analysis_width": 640},
    },
    "blazeface-onnx": {
        "engine": EngineConfig(detector="blazeface", detector_options={"min_face_px": 40}, embedder="dlib-resnet-onnx"),
        "live": {},
    },
}


class TimedDetector:
    """Wraps the engine's detector to measure its share of the analysis time (wall ms per call)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.calls: list[tuple[float, float]] = []  # (monotonic end, wall seconds)

    def detect(self, image: Any) -> Any:
        t = time.perf_counter()
        out = self.inner.detect(image)
        self.calls.append((time.monotonic(), time.perf_counter() - t))
        return out


def run_one(
    engine: FaceEngine, live: dict[str, Any], faces: int, seconds: float, photos: dict[str, Any]
) -> dict[str, Any]:
    index, _ = index_in_memory(engine, {k: [v] for k, v in photos.items()})
    timed = TimedDetector(engine.detector)
    engine = FaceEngine(timed, engine.aligner, engine.embedder, engine.gate)
    cam = SyntheticCamera(photos, faces)
    spec = CameraSpec(name="bench", url="synthetic", live=LiveConfig(**live), queue_size=2)
    from openlfr.engine.live import LiveAnalyser
    from openlfr.services.operating_point import default_threshold

    analyser = LiveAnalyser(engine, index, default_threshold(engine.embedder), "bench", spec.live)
    stop = threading.Event()
    counts: dict[str, int] = {}
    latencies: list[float] = []
    alert_mono: list[float] = []  # when each alert reached the sink (to keep those of the measured window)
    appear_to_alert: list[float] = []
    lock = threading.Lock()
    counts_false = [0]

    def emit(ev: Any) -> None:
        with lock:
            if isinstance(ev, CountEvent):
                for k, v in ev.deltas.items():
                    counts[k] = counts.get(k, 0) + v
            elif isinstance(ev, AlertMsg):
                latencies.append(time.time() - ev.event.record.occurred_at.timestamp())
                alert_mono.append(time.monotonic())
                box = ev.event.record.box
                slot = cam.slot_at((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
                who = cam.who(slot, ev.event.t) if slot is not None else None
                if who is None or who[1] != ev.event.record.person_id:
                    counts_false[0] += 1
                appear_to_alert.append(ev.event.t - ev.event.track_first_t)

    worker = CameraWorker(spec, analyser, emit, stop, source=cam, count_every_s=0.5)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    th = threading.Thread(target=worker.run, daemon=True)
    t0 = time.monotonic()
    th.start()
    time.sleep(2.0)  # warm-up
    with lock:
        base = dict(counts)
    tw = time.monotonic()
    ru_w = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(seconds)
    with lock:
        end = dict(counts)
    te = time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    th.join(30)
    dt = te - tw

    def d(k: str) -> int:
        return end.get(k, 0) - base.get(k, 0)

    false_alerts = counts_false[0]
    lat_all = np.asarray(latencies, np.float64)
    in_window = np.asarray([tw <= m <= te for m in alert_mono], bool)
    # steady state: alerts that reached the sink inside the measured window (not the warm-up's, whose first
    # inferences are slow, nor those the stop flushes out of unfinished tracks with their last shot's frame)
    lat = lat_all[in_window] if in_window.size else lat_all
    ata_all = np.asarray(appear_to_alert, np.float64)
    ata = ata_all[in_window] if in_window.size else ata_all

    def pct(a: Any, q: float) -> float | None:
        return round(float(np.percentile(a, q)), 3) if a.size else None

    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru_w.ru_utime + ru_w.ru_stime)
    det_calls = [w for end, w in timed.calls if tw <= end <= te]
    _ = ru0, t0
    return {
        "faces_per_frame": faces,
        "seconds": round(dt, 2),
        "camera_fps": FPS,
        "analysed_fps": round(d("frames_analysed") / dt, 2),
        "faces_per_s": round(d("faces_detected") / dt, 1),
        "faces_detected_per_frame": round(d("faces_detected") / max(d("frames_analysed"), 1), 2),
        "queue_drops_per_s": round(d("queue_drops") / dt, 1),
        "tracks_ended": d("faces_seen"),
        "alerts": len(latencies),
        "false_alerts": false_alerts,
        "alert_latency_s": {
            "p50": pct(lat, 50),
            "p95": pct(lat, 95),
            "n": int(lat.size),
            "what": "capture of the alerting frame -> alert received by the sink, "
            "alerts received in the measured window",
        },
        "alert_latency_all_s": {
            "p50": pct(lat_all, 50),
            "p95": pct(lat_all, 95),
            "n": int(lat_all.size),
            "what": "the same over every alert, warm-up and stop included",
        },
        "alerts_early": d("alerts_early"),
        "appearance_to_alert_s": {"p50": pct(ata, 50), "p95": pct(ata, 95)},
        "detector_ms_per_frame_p50": round(1000 * float(np.median(det_calls)), 1) if det_calls else None,
        "detector_share_of_wall": round(sum(det_calls) / dt, 3),
        "cpu_cores_used": round(cpu / dt, 2),
        "cpu_ms_per_analysed_frame": round(1000 * cpu / max(d("frames_analysed"), 1), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--faces", default="1,5,15")
    ap.add_argument("--configs", default="default,hog640-onnx,yunet-onnx")
    ap.add_argument(
        "--embedder",
        default=None,
        help="replace every configuration's embedder by this registry type (e.g. a fused one)",
    )
    args = ap.parse_args()
    photos = people_photos(40)
    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "stream": {"width": W, "height": H, "fps": FPS},
        "people": len(photos),
        "results": {},
    }
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        if args.embedder:
            cfg = {**cfg, "engine": cfg["engine"].model_copy(update={"embedder": args.embedder})}
        try:
            engine = FaceEngine.from_config(cfg["engine"])
        except Exception as exc:  # a backend that is not available here
            out["results"][name] = {"error": str(exc)}
            continue
        rows = [run_one(engine, cfg["live"], int(n), args.seconds, photos) for n in args.faces.split(",")]
        out["results"][name] = {"models": engine.model_ids, "live": cfg["live"], "runs": rows}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
