"""Per-face quality measures and the configurable quality gate.

Measures (columns of ``FaceBatch.quality``, see ``types.QUALITY_FIELDS``):

- ``inter_eye_px``: distance between eye centres in image pixels (resolution on the face).
- ``sharpness``: variance of the Laplacian of the grey aligned chip, normalised to a 150 px chip.
- ``brightness``: mean grey level of the chip's central region, 0-255.
- ``contrast``: standard deviation of the grey level of that region.
- ``frontal``: 1 - |horizontal nose offset from the eye midpoint| / inter-eye distance, clipped to
  [0, 1]; 1 is frontal, about 0.5 a strong turn. NaN without landmarks.
- ``det_score``: the detector's confidence in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from openlfr.engine.protocols import Chips
from openlfr.types import QUALITY_FIELDS, BoolArray, FloatArray


class QualityGate(BaseModel):
    """Thresholds a face must pass to be searched in live use and to be enrolled.

    Defaults were set from the distribution over 398 detected faces of a random sample of
    lfw-dev (HOG, upsample 1; 0.5th / 50th percentiles): inter-eye 33.8 / 42.5 px, sharpness
    9.6 / 42.6, brightness 72 / 127, contrast 16.3 / 34.3, frontal 0.62 / 0.94. They pass about
    99.5% of those news photos and refuse clearly blurred, dark, tiny or turned faces.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_inter_eye_px: float = Field(20.0, ge=0, le=1000, description="Smallest inter-eye distance (px).")
    min_sharpness: float = Field(8.0, ge=0, description="Smallest variance of the Laplacian on the chip.")
    min_brightness: float = Field(30.0, ge=0, le=255, description="Darkest acceptable mean grey level.")
    max_brightness: float = Field(235.0, ge=0, le=255, description="Brightest acceptable mean grey level.")
    min_contrast: float = Field(12.0, ge=0, le=128, description="Smallest grey-level standard deviation.")
    min_frontal: float = Field(0.5, ge=0, le=1, description="Smallest frontal-pose estimate (1 = frontal).")
    min_det_score: float = Field(0.0, ge=0, le=1, description="Smallest detector confidence.")


@dataclass(frozen=True)
class GateResult:
    passed: BoolArray
    reasons: list[list[str]]


def measure(chips: Chips, landmarks: FloatArray, det_score: FloatArray) -> FloatArray:
    """Quality matrix (n, len(QUALITY_FIELDS)) for aligned chips and canonical landmarks."""
    n = len(chips)
    q = np.full((n, len(QUALITY_FIELDS)), np.nan, dtype=np.float32)
    for i in range(n):
        chip = chips[i]
        grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
        s = grey.shape[0]
        if s != 150:
            grey = cv2.resize(grey, (150, 150), interpolation=cv2.INTER_AREA)
        lap = cv2.Laplacian(grey, cv2.CV_32F)
        centre = grey[30:120, 30:120].astype(np.float32)
        q[i, 1] = float(lap[20:130, 20:130].var())
        q[i, 2] = float(centre.mean())
        q[i, 3] = float(centre.std())
    if n and landmarks is not None and len(landmarks) == n:
        eye_l, eye_r, nose = landmarks[:, 0], landmarks[:, 1], landmarks[:, 2]
        ied = np.linalg.norm(eye_r - eye_l, axis=1)
        q[:, 0] = ied
        mid = (eye_l + eye_r) / 2.0
        axis = (eye_r - eye_l) / np.maximum(ied, 1e-6)[:, None]
        offset = np.abs(((nose - mid) * axis).sum(axis=1))
        q[:, 4] = np.clip(1.0 - offset / np.maximum(ied, 1e-6), 0.0, 1.0)
    q[:, 5] = det_score
    return q


def apply_gate(quality: FloatArray, gate: QualityGate) -> GateResult:
    """Which faces pass, and for those that fail, why (human-readable, stable words)."""
    n = quality.shape[0]
    passed = np.ones(n, dtype=bool)
    reasons: list[list[str]] = [[] for _ in range(n)]
    col = {name: i for i, name in enumerate(QUALITY_FIELDS)}
    checks: list[tuple[str, Callable[[npt.NDArray[np.float32]], npt.NDArray[np.bool_]], str]] = [
        (
            "inter_eye_px",
            lambda v: v < gate.min_inter_eye_px,
            f"face too small (inter-eye < {gate.min_inter_eye_px:g} px)",
        ),
        ("sharpness", lambda v: v < gate.min_sharpness, f"blurred (sharpness < {gate.min_sharpness:g})"),
        ("brightness", lambda v: v < gate.min_brightness, f"too dark (brightness < {gate.min_brightness:g})"),
        ("brightness", lambda v: v > gate.max_brightness, f"overexposed (brightness > {gate.max_brightness:g})"),
        ("contrast", lambda v: v < gate.min_contrast, f"low contrast (< {gate.min_contrast:g})"),
        ("frontal", lambda v: v < gate.min_frontal, f"turned away (frontal < {gate.min_frontal:g})"),
        ("det_score", lambda v: v < gate.min_det_score, f"weak detection (< {gate.min_det_score:g})"),
    ]
    for name, fails, why in checks:
        vals = quality[:, col[name]]
        bad = ~np.isnan(vals) & fails(vals)
        for i in np.flatnonzero(bad):
            passed[i] = False
            reasons[i].append(why)
    return GateResult(passed=passed, reasons=reasons)
