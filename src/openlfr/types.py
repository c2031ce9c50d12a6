"""Core value types shared by every layer.

``FaceBatch`` is columnar: one row per detected face, one numpy array per attribute.
It lives only in ``engine`` and ``runtime``: storage has no function that accepts one
(privacy invariant P1). What crosses into storage is an ``AlertRecord``, built by the
matcher only for a match at or above the deployment's threshold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Image = npt.NDArray[np.uint8]
"""An RGB image, shape (H, W, 3), dtype uint8."""

QUALITY_FIELDS: tuple[str, ...] = ("inter_eye_px", "sharpness", "brightness", "contrast", "frontal", "det_score")
"""Per-face quality measures, in the column order of ``FaceBatch.quality``."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
"""File suffixes read as photos (image folders, uploads)."""
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mkv", ".avi", ".webm", ".mov", ".m4v", ".gif", ".mjpeg", ".mjpg", ".ts", ".mpg", ".mpeg"}
)
"""File suffixes read as video (retrospective search, walk-throughs)."""
MJPEG_BOUNDARY = "openlfrframe"
"""The multipart boundary of every MJPEG preview stream (the API's and ``runtime.preview``'s)."""


def _as(arr: Any, dtype: Any, shape_tail: tuple[int, ...], name: str, n: int | None) -> Any:
    out = np.asarray(arr, dtype=dtype)
    if out.ndim != 1 + len(shape_tail) or (shape_tail and out.shape[1:] != shape_tail):
        raise ValueError(f"FaceBatch.{name}: expected shape (n, {', '.join(map(str, shape_tail))}), got {out.shape}")
    if n is not None and out.shape[0] != n:
        raise ValueError(f"FaceBatch.{name}: expected {n} rows, got {out.shape[0]}")
    return out


@dataclass(frozen=True, eq=False)
class FaceBatch:
    """Faces found in one image or frame, one row each.

    - ``xyxy``: (n, 4) float32 boxes in image pixels (x1, y1, x2, y2).
    - ``landmarks``: (n, 5, 2) float32 in the canonical order eye, eye, nose tip, mouth corner,
      mouth corner, each pair ordered image-left then image-right (the ArcFace template's order);
      NaN where a model does not give a point, ``None`` before any landmarks are known.
    - ``det_score``: (n,) float32 detector confidence in [0, 1].
    - ``quality``: (n, len(QUALITY_FIELDS)) float32, NaN where not measured.
    - ``embedding``: (n, d) float32, L2-normalised, or ``None`` before embedding.
    - ``track_id``: (n,) int64, -1 when untracked.
    """

    xyxy: FloatArray
    det_score: FloatArray
    landmarks: FloatArray | None = None
    quality: FloatArray | None = None
    embedding: FloatArray | None = None
    track_id: IntArray | None = None
    image_size: tuple[int, int] = (0, 0)
    """(width, height) of the image the boxes refer to."""

    def __post_init__(self) -> None:
        xyxy = _as(self.xyxy, np.float32, (4,), "xyxy", None)
        n = xyxy.shape[0]
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "det_score", _as(self.det_score, np.float32, (), "det_score", n))
        if self.landmarks is not None:
            lm = np.asarray(self.landmarks, dtype=np.float32)
            if lm.ndim != 3 or lm.shape[0] != n or lm.shape[2] != 2:
                raise ValueError(f"FaceBatch.landmarks: expected (n, k, 2), got {lm.shape}")
            object.__setattr__(self, "landmarks", lm)
        if self.quality is not None:
            object.__setattr__(self, "quality", _as(self.quality, np.float32, (len(QUALITY_FIELDS),), "quality", n))
        if self.embedding is not None:
            emb = np.asarray(self.embedding, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != n:
                raise ValueError(f"FaceBatch.embedding: expected (n, d), got {emb.shape}")
            object.__setattr__(self, "embedding", emb)
        if self.track_id is not None:
            object.__setattr__(self, "track_id", _as(self.track_id, np.int64, (), "track_id", n))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls, image_size: tuple[int, int] = (0, 0)) -> FaceBatch:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            det_score=np.zeros((0,), np.float32),
            landmarks=np.zeros((0, 5, 2), np.float32),
            image_size=image_size,
        )

    def replace(self, **changes: Any) -> FaceBatch:
        return dataclasses.replace(self, **changes)

    def select(self, index: Any) -> FaceBatch:
        """Rows by boolean mask or integer indices; keeps every column aligned."""
        idx = np.asarray(index)
        if idx.dtype == np.bool_:
            idx = np.flatnonzero(idx)

        def pick(a: Any) -> Any:
            return None if a is None else a[idx]

        return FaceBatch(
            xyxy=self.xyxy[idx],
            det_score=self.det_score[idx],
            landmarks=pick(self.landmarks),
            quality=pick(self.quality),
            embedding=pick(self.embedding),
            track_id=pick(self.track_id),
            image_size=self.image_size,
        )

    @property
    def areas(self) -> FloatArray:
        w = np.clip(self.xyxy[:, 2] - self.xyxy[:, 0], 0, None)
        h = np.clip(self.xyxy[:, 3] - self.xyxy[:, 1], 0, None)
        out: FloatArray = (w * h).astype(np.float32)
        return out

    def quality_dict(self, i: int) -> dict[str, float | None]:
        if self.quality is None:
            return {}
        row = self.quality[i]
        return {k: (None if np.isnan(v) else round(float(v), 4)) for k, v in zip(QUALITY_FIELDS, row, strict=True)}


@dataclass(frozen=True)
class Match:
    """One watchlist candidate for a probe face. ``score`` in [0, 1], higher is more alike."""

    entry_id: int
    person_id: str
    name: str
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "name": self.name, "score": round(self.score, 6), "rank": self.rank}


@dataclass(frozen=True)
class AlertRecord:
    """What storage may keep about a face: only built for a match at or above threshold.

    ``probe_jpeg`` is the alerted face's crop; ``frame_jpeg`` the frame; both redacted by inversion
    (P3, ``engine.privacy.redact``: a mosaic except the alerted person's face and body region).
    Both are encrypted at rest by storage.
    """

    alert_id: str
    deployment_id: int | None
    watchlist_id: int
    entry_id: int
    person_id: str
    score: float
    threshold: float
    camera: str
    occurred_at: datetime
    track_id: int
    probe_jpeg: bytes
    frame_jpeg: bytes | None = None
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    models: dict[str, str] = field(default_factory=dict)
