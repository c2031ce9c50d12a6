"""Preview frames (P3) from the run's event bus and the MJPEG-over-HTTP helper."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from openlfr.engine.live import LiveConfig, index_in_memory
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.engine.privacy import cell_size, mosaic
from openlfr.engine.sources import open_source
from openlfr.runtime.events import EventBus, PreviewFrame
from openlfr.runtime.preview import MjpegServer, PreviewHub
from openlfr.runtime.workers import CameraSpec, LiveRunner, RunInputs

pytestmark = pytest.mark.shared_data
REPO = Path(__file__).resolve().parents[2]


def test_preview_frames_are_pixelated_and_served(videos: Path) -> None:
    clip = videos / "intel_asl_thanks.mkv"
    # HOG boxes, on which the mean-step measure below was set: with MTCNN's (the default since issue
    # 12) the inset region crosses one more block edge and the mean sits at the limit (1.5-1.9 vs 1.5)
    # depending on which frame is previewed last; MTCNN's boxes and pixelation: test_mtcnn_real.py
    engine = FaceEngine.from_config(
        EngineConfig(detector="dlib-hog", detector_options={"upsample": 1, "min_face_px": 40})
    )
    listed = Image.open(REPO / "tests" / "data" / "faces" / "Al_Gore" / "Al_Gore_0001.jpg").convert("RGB")
    index, _ = index_in_memory(engine, {"Al_Gore": [np.asarray(listed)]})
    hub = PreviewHub()
    got: list[bytes] = []

    def on_preview(ev: PreviewFrame) -> None:
        got.append(ev.jpeg)
        hub.update(ev.camera, ev.jpeg, ev.t)

    spec = CameraSpec(name="door", url=str(clip), preview_fps=30, live=LiveConfig())
    bus = EventBus()
    bus.subscribe(PreviewFrame, on_preview)
    runner = LiveRunner(RunInputs([spec], EngineConfig(), index, 0.99), bus, mode="thread", engine=engine)
    summary = runner.run()
    assert summary.cameras["door"]["counters"]["frames_analysed"] == 51
    assert len(got) >= 10 and all(j[:3] == b"\xff\xd8\xff" for j in got)

    # the face in the preview is pixelated: compare with the clear frame around the detected face
    src = open_source(str(clip))
    frames = [src.read() for _ in range(51)]
    src.close()
    last = np.asarray(Image.open(io.BytesIO(got[-1])).convert("RGB")).astype(np.int16)
    clear = frames[-1].image  # type: ignore[union-attr]
    faces = engine.detector.detect(clear)
    assert len(faces) == 1
    x1, y1, x2, y2 = (int(v) for v in faces.xyxy[0])
    region = last[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4]
    original = clear[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].astype(np.int16)
    detail = lambda a: float(np.abs(np.diff(a, axis=1)).mean())  # noqa: E731
    assert detail(region) < 0.5 * detail(original)  # blocks, not a face
    # nobody alerted: the whole frame is the mosaic (P3, redaction by inversion), not only the face
    # the detector found, so a face it missed could not be in clear either
    assert np.abs(last - mosaic(clear, cell=cell_size(clear.shape, faces.xyxy)).astype(np.int16)).mean() < 6

    def highpass(a: np.ndarray) -> np.ndarray:
        g = a.astype(np.float32).mean(axis=2)
        return (g - cv2.GaussianBlur(g, (0, 0), 1.5)).ravel()

    hl, hc = highpass(last), highpass(clear)
    assert float(hl @ hc / (np.linalg.norm(hl) * np.linalg.norm(hc))) < 0.35  # none of the fine structure

    server = MjpegServer(hub).start()
    try:
        # issue 18: any local process can reach loopback; without the run's token nothing is served
        for path in ("", "door.jpg", "door.mjpg", "door.mjpg?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(server.url + path, timeout=5)
            assert exc.value.code == 401
        listing = json.loads(urllib.request.urlopen(server.link(), timeout=5).read())
        assert listing == {"cameras": ["door"]}
        req = urllib.request.Request(server.url + "door.jpg", headers={"Authorization": f"Bearer {server.token}"})
        jpg = urllib.request.urlopen(req, timeout=5).read()
        assert jpg == got[-1]
        hub.update("door", got[0], 99.0)
        with urllib.request.urlopen(server.link("door.mjpg"), timeout=5) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = r.read(200)
            assert b"--openlfrframe" in head and b"Content-Type: image/jpeg" in head
    finally:
        server.close()


def test_roi_and_analysis_width_map_boxes_back(videos: Path) -> None:
    from openlfr.engine.live import LiveAnalyser

    engine = FaceEngine.from_config(EngineConfig())
    index, _ = index_in_memory(engine, {})
    src = open_source(str(videos / "intel_asl_thanks.mkv"))
    frame = src.read()
    src.close()
    assert frame is not None
    full = engine.detector.detect(frame.image)
    assert len(full) == 1

    def boxes(cfg: LiveConfig) -> np.ndarray:
        return LiveAnalyser(engine, index, 0.99, "c", cfg).detect(frame.image).xyxy

    assert len(boxes(LiveConfig(roi=(0.0, 0.0, 0.15, 0.15)))) == 0
    tol = 0.15 * float(full.xyxy[0][2] - full.xyxy[0][0])  # HOG's pyramid shifts boxes a little
    inside = boxes(LiveConfig(roi=(0.2, 0.0, 0.9, 1.0)))
    assert len(inside) == 1 and np.abs(inside[0] - full.xyxy[0]).max() <= tol
    half = boxes(LiveConfig(analysis_width=480))  # the 63 px face is 47 px there (>= min_face_px 40)
    assert len(half) == 1 and np.abs(half[0] - full.xyxy[0]).max() <= tol
