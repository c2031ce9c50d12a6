"""The ONNX backend (onnxruntime): registers its detectors, aligner and embedder.

- detector ``yunet``: YuNet 2023mar (OpenCV zoo, MIT). Options: ``path`` or ``model`` (store
  name, default ``yunet-2023mar``), ``score_threshold`` (0.6), ``nms_threshold`` (0.3), ``top_k``,
  ``min_face_px`` (0), ``max_side`` (None: native size), ``threads`` (2).
- detector ``scrfd``: SCRFD with keypoints (InsightFace, non-commercial). Options as YuNet plus
  ``input_size`` (640); default model ``scrfd-500m``; ``score_threshold`` 0.5, ``nms_threshold`` 0.4.
- aligner ``arcface``: 5-point similarity transform to the 112x112 ArcFace template; landmarks
  from the detector, or dlib's 68-point predictor when the detector gave none.
- embedder ``onnx-arcface``: ``path`` or ``model``, ``spec`` (see ``models.EMBEDDER_SPECS``),
  ``threads`` (2), ``batch_size`` (8).

A ``model`` name is looked up in the local model store at ``models_dir`` (filled from the settings
by the services; without it only ``path`` works).

Every factory rejects unknown options with a ``ConfigError`` naming the accepted ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from openlfr.engine.backends.align_arcface import ArcFaceAligner
from openlfr.engine.registry import register
from openlfr.errors import ConfigError


def _build(kind: str, type_name: str, cls: Callable[..., Any], kw: dict[str, Any]) -> Any:
    params = inspect.signature(cls).parameters
    unknown = sorted(set(kw) - set(params))
    if unknown:
        raise ConfigError(
            f"{kind} {type_name!r}: unknown option(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(p for p in params if p != 'self')}",
            code="bad_option",
        )
    return cls(**kw)


@register("aligner", "arcface")
def _make_arcface_aligner(**kw: Any) -> ArcFaceAligner:
    return _build("aligner", "arcface", ArcFaceAligner, kw)  # type: ignore[no-any-return]


# onnxruntime is needed from here on; the registry tolerates its absence.
from openlfr.engine.backends.onnx_detectors import ScrfdDetector, YuNetDetector  # noqa: E402
from openlfr.engine.backends.onnx_embedders import OnnxArcFaceEmbedder  # noqa: E402


@register("detector", "yunet", dirs=("models_dir",))
def _make_yunet(**kw: Any) -> YuNetDetector:
    return _build("detector", "yunet", YuNetDetector, kw)  # type: ignore[no-any-return]


@register("detector", "scrfd", dirs=("models_dir",))
def _make_scrfd(**kw: Any) -> ScrfdDetector:
    return _build("detector", "scrfd", ScrfdDetector, kw)  # type: ignore[no-any-return]


@register("embedder", "onnx-arcface", dirs=("models_dir",))
def _make_onnx_arcface(**kw: Any) -> OnnxArcFaceEmbedder:
    return _build("embedder", "onnx-arcface", OnnxArcFaceEmbedder, kw)  # type: ignore[no-any-return]


__all__ = ["ArcFaceAligner", "OnnxArcFaceEmbedder", "ScrfdDetector", "YuNetDetector"]
