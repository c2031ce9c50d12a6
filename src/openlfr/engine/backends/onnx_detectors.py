"""ONNX face detectors decoded in numpy: YuNet (OpenCV zoo) and SCRFD (InsightFace).

Both return a ``FaceBatch`` with boxes in image pixels, ``det_score`` in [0, 1] and the 5 canonical
landmarks (eye, eye, nose tip, mouth corner, mouth corner; each pair image-left first).

- **YuNet** (2023mar): input BGR 0..255 NCHW at the image's own size, padded right/bottom to a
  multiple of 32 (the model file declares 640x640; we make height/width symbolic, the graph is
  fully convolutional). Per stride s in (8, 16, 32) and grid cell (r, c): score =
  sqrt(clip(cls) * clip(obj)); box centre ((c + dx) s, (r + dy) s), size (exp(dw) s, exp(dh) s);
  landmark k at ((c + kx) s, (r + ky) s). Same decoding as ``cv2.FaceDetectorYN`` (a test checks
  parity).
- **SCRFD** (bnkps variants): letterbox to ``input_size`` (640) keeping the aspect ratio, image at
  the top-left, zero padding; input RGB (x - 127.5) / 128. Anchor-free: per stride, anchor centres
  on the grid (x s, y s), ``A`` anchors per location (2 for the released models; inferred from the
  output length); boxes and keypoints are distances times the stride from the anchor centre.
  Scores are already sigmoid outputs.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.engine.backends.onnx_common import DEFAULT_THREADS, check_unit, make_session, nms, with_dynamic_hw
from openlfr.engine.imageio import check_rgb
from openlfr.engine.models import ModelStore, ResolvedModel, detector_model_id, resolve_model, warn_licence_once
from openlfr.errors import ConfigError, ModelError
from openlfr.types import FaceBatch, Image

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)


def _finish(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, w: int, h: int, min_face_px: int) -> FaceBatch:
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
    side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = side >= max(min_face_px, 1)
    return FaceBatch(
        xyxy=boxes[keep],
        det_score=np.clip(scores[keep], 0.0, 1.0),
        landmarks=kps[keep].reshape(-1, 5, 2),
        image_size=(w, h),
    )


class _OnnxDetector:
    spec_name = ""

    def _common(
        self,
        path: str | Path | None,
        model: str | None,
        default: str,
        threads: int,
        score_threshold: float,
        nms_threshold: float,
        min_face_px: int,
        top_k: int,
        models_dir: str | Path | None,
    ) -> ResolvedModel:
        r = resolve_model(
            path,
            model,
            kind="detector",
            default=default,
            store=ModelStore(Path(models_dir)) if models_dir is not None else None,
        )
        if r.spec is not None and r.spec != self.spec_name:
            raise ModelError(
                f"model {r.name or r.path.name} is a {r.spec} model, not {self.spec_name}", code="wrong_model_kind"
            )
        warn_licence_once(r)
        self.resolved = r
        self.threads = threads
        self.score_threshold = check_unit("score_threshold", score_threshold)
        self.nms_threshold = check_unit("nms_threshold", nms_threshold)
        if not isinstance(min_face_px, int) or min_face_px < 0:
            raise ConfigError(f"min_face_px must be a non-negative integer, got {min_face_px!r}", code="bad_option")
        if not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"top_k must be a positive integer, got {top_k!r}", code="bad_option")
        self.min_face_px = min_face_px
        self.top_k = top_k
        return r


class YuNetDetector(_OnnxDetector):
    """YuNet decoded from onnxruntime outputs. ``max_side``: downscale larger frames first."""

    spec_name = "yunet"

    def __init__(
        self,
        path: str | Path | None = None,
        model: str | None = None,
        *,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        min_face_px: int = 0,
        max_side: int | None = None,
        threads: int = DEFAULT_THREADS,
        models_dir: str | Path | None = None,
    ) -> None:
        r = self._common(
            path, model, "yunet-2023mar", threads, score_threshold, nms_threshold, min_face_px, top_k, models_dir
        )
        if max_side is not None and (not isinstance(max_side, int) or max_side < 32):
            raise ConfigError(f"max_side must be an integer >= 32, got {max_side!r}", code="bad_option")
        self.max_side = max_side
        self.model_id = detector_model_id("yunet", r.sha256)
        patched = with_dynamic_hw(r.path)
        self._sess = make_session(r.path, threads, model_bytes=patched)
        names = [o.name for o in self._sess.get_outputs()]
        want = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES]
        if sorted(names) != sorted(want):
            raise ModelError(
                f"{r.path.name}: not a YuNet model (outputs {names[:6]}..., expected "
                f"cls/obj/bbox/kps at strides 8/16/32)",
                code="bad_model_shape",
            )
        inp = self._sess.get_inputs()[0]
        if len(inp.shape) != 4 or inp.shape[1] != 3:
            raise ModelError(
                f"{r.path.name}: YuNet input must be (1, 3, H, W), got {inp.shape}", code="bad_model_shape"
            )
        self._input = inp.name
        self._outputs = want

    def raw(self, bgr: np.ndarray) -> dict[str, np.ndarray]:
        """Run the network on a BGR image whose sides are multiples of 32."""
        blob = np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)
        outs = self._sess.run(self._outputs, {self._input: blob})
        return dict(zip(self._outputs, outs, strict=True))

    def detect(self, image: Image) -> FaceBatch:
        image = check_rgb(image)
        h, w = image.shape[:2]
        scale = 1.0
        src: np.ndarray = image
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            src = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        sh, sw = src.shape[:2]
        ph, pw = math.ceil(sh / 32) * 32, math.ceil(sw / 32) * 32
        bgr = np.zeros((ph, pw, 3), np.float32)
        bgr[:sh, :sw] = src[:, :, ::-1]
        out = self.raw(bgr)
        boxes_l, scores_l, kps_l = [], [], []
        for s in STRIDES:
            rows, cols = ph // s, pw // s
            cls = np.clip(out[f"cls_{s}"].reshape(-1), 0, 1)
            obj = np.clip(out[f"obj_{s}"].reshape(-1), 0, 1)
            score = np.sqrt(cls * obj)
            idx = np.flatnonzero(score >= self.score_threshold)
            if idx.size == 0:
                continue
            r_, c_ = (idx // cols).astype(np.float32), (idx % cols).astype(np.float32)
            bb = out[f"bbox_{s}"].reshape(rows * cols, 4)[idx]
            kp = out[f"kps_{s}"].reshape(rows * cols, 10)[idx]
            cx, cy = (c_ + bb[:, 0]) * s, (r_ + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes_l.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            kx = (kp[:, 0::2] + c_[:, None]) * s
            ky = (kp[:, 1::2] + r_[:, None]) * s
            kps_l.append(np.stack([kx, ky], -1))
            scores_l.append(score[idx])
        if not boxes_l:
            return FaceBatch.empty((w, h))
        boxes = np.concatenate(boxes_l).astype(np.float32)
        scores = np.concatenate(scores_l).astype(np.float32)
        kps = np.concatenate(kps_l).astype(np.float32)
        keep = nms(boxes, scores, self.nms_threshold, self.top_k)
        boxes, scores, kps = boxes[keep] / scale, scores[keep], kps[keep] / scale
        return _finish(boxes, scores, kps, w, h, self.min_face_px)


class ScrfdDetector(_OnnxDetector):
    """SCRFD with keypoints (``*_bnkps`` / buffalo ``det_*`` files), letterboxed to ``input_size``."""

    spec_name = "scrfd"

    def __init__(
        self,
        path: str | Path | None = None,
        model: str | None = None,
        *,
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        top_k: int = 5000,
        min_face_px: int = 0,
        input_size: int = 640,
        threads: int = DEFAULT_THREADS,
        models_dir: str | Path | None = None,
    ) -> None:
        r = self._common(
            path, model, "scrfd-500m", threads, score_threshold, nms_threshold, min_face_px, top_k, models_dir
        )
        if not isinstance(input_size, int) or input_size < 64 or input_size % 32:
            raise ConfigError(f"input_size must be a multiple of 32 >= 64, got {input_size!r}", code="bad_option")
        self.input_size = input_size
        self.model_id = detector_model_id("scrfd", r.sha256) + f"/{input_size}"
        self._sess = make_session(r.path, threads)
        inp = self._sess.get_inputs()[0]
        if len(inp.shape) != 4 or inp.shape[1] != 3:
            raise ModelError(
                f"{r.path.name}: SCRFD input must be (N, 3, H, W), got {inp.shape}", code="bad_model_shape"
            )
        for dim in inp.shape[2:]:
            if isinstance(dim, int) and dim != input_size:
                raise ModelError(
                    f"{r.path.name}: fixed input {inp.shape[2:]} but input_size={input_size}", code="bad_model_shape"
                )
        self._input = inp.name
        outs = self._sess.get_outputs()
        names = [o.name for o in outs]
        if len(outs) != 9 or any(o.shape[-1] not in (1, 4, 10) for o in outs):
            raise ModelError(
                f"{r.path.name}: not an SCRFD model with keypoints (expected 9 outputs: "
                f"score/bbox/kps at strides 8/16/32, got {len(outs)}: {names[:9]})",
                code="bad_model_shape",
            )
        # insightface export order: scores (3), boxes (3), keypoints (3), each by stride 8/16/32
        by_last = [o.shape[-1] for o in outs]
        if by_last != [1, 1, 1, 4, 4, 4, 10, 10, 10]:
            raise ModelError(f"{r.path.name}: unexpected SCRFD output layout {by_last}", code="bad_model_shape")
        self._names = names

    def detect(self, image: Image) -> FaceBatch:
        image = check_rgb(image)
        h, w = image.shape[:2]
        size = self.input_size
        scale = min(size / h, size / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        canvas = np.zeros((size, size, 3), np.uint8)
        canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs: list[Any] = self._sess.run(self._names, {self._input: np.ascontiguousarray(blob)})
        boxes_l, scores_l, kps_l = [], [], []
        for i, s in enumerate(STRIDES):
            score = np.asarray(outs[i]).reshape(-1)
            bbox = np.asarray(outs[i + 3]).reshape(-1, 4)
            kps = np.asarray(outs[i + 6]).reshape(-1, 10)
            fh, fw = size // s, size // s
            if score.size % (fh * fw):
                raise ModelError(f"SCRFD stride {s}: {score.size} scores for a {fw}x{fh} grid", code="bad_model_shape")
            anchors = score.size // (fh * fw)
            idx = np.flatnonzero(score >= self.score_threshold)
            if idx.size == 0:
                continue
            cell = idx // anchors
            cx = (cell % fw).astype(np.float32) * s
            cy = (cell // fw).astype(np.float32) * s
            d = bbox[idx] * s
            boxes_l.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1))
            k = kps[idx] * s
            kps_l.append(np.stack([cx[:, None] + k[:, 0::2], cy[:, None] + k[:, 1::2]], -1))
            scores_l.append(score[idx])
        if not boxes_l:
            return FaceBatch.empty((w, h))
        boxes = (np.concatenate(boxes_l) / scale).astype(np.float32)
        scores = np.concatenate(scores_l).astype(np.float32)
        kps = (np.concatenate(kps_l) / scale).astype(np.float32)
        keep = nms(boxes, scores, self.nms_threshold, self.top_k)
        return _finish(boxes[keep], scores[keep], kps[keep], w, h, self.min_face_px)
