"""Quality measures on synthetic chips and the gate's decisions on hand-made tables."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from openlfr.engine.quality import QualityGate, apply_gate, measure
from openlfr.types import QUALITY_FIELDS


def _textured_chip(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grey = (rng.random((150, 150)) * 120 + 60).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_blur_lowers_sharpness_and_dark_lowers_brightness() -> None:
    sharp = _textured_chip()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    dark = (sharp // 8).astype(np.uint8)
    lm = np.array([[[50, 60], [100, 60], [75, 90], [60, 115], [90, 115]]] * 3, np.float32)
    q = measure(np.stack([sharp, blurred, dark]), lm, np.array([0.9, 0.9, 0.9], np.float32))
    col = {n: i for i, n in enumerate(QUALITY_FIELDS)}
    assert q[0, col["sharpness"]] > 10 * q[1, col["sharpness"]]
    assert q[2, col["brightness"]] < 30 < q[0, col["brightness"]]
    assert q[:, col["inter_eye_px"]].tolist() == pytest.approx([50, 50, 50])
    assert q[:, col["frontal"]].tolist() == pytest.approx([1, 1, 1])


def test_frontal_estimate_falls_with_turn() -> None:
    chips = np.stack([_textured_chip()] * 2)
    lm = np.array(
        [
            [[50, 60], [100, 60], [75, 90], [np.nan, np.nan], [np.nan, np.nan]],
            [[50, 60], [100, 60], [100, 90], [np.nan, np.nan], [np.nan, np.nan]],
        ],
        np.float32,
    )
    q = measure(chips, lm, np.ones(2, np.float32))
    assert q[0, 4] == pytest.approx(1.0)
    assert q[1, 4] == pytest.approx(0.5)


def test_gate_reasons() -> None:
    gate = QualityGate()
    rows = np.array(
        [
            [40, 50, 120, 30, 0.95, 0.9],  # good
            [10, 50, 120, 30, 0.95, 0.9],  # tiny
            [40, 2, 120, 30, 0.95, 0.9],  # blurred
            [40, 50, 10, 5, 0.95, 0.9],  # dark and low contrast
            [40, 50, 120, 30, 0.2, 0.9],  # turned
            [np.nan, 50, 120, 30, np.nan, 0.9],  # unmeasured values are not held against a face
        ],
        np.float32,
    )
    res = apply_gate(rows, gate)
    assert res.passed.tolist() == [True, False, False, False, False, True]
    assert res.reasons[0] == []
    assert "too small" in res.reasons[1][0]
    assert "blurred" in res.reasons[2][0]
    assert len(res.reasons[3]) == 2 and "dark" in res.reasons[3][0] and "contrast" in res.reasons[3][1]
    assert "turned" in res.reasons[4][0]


def test_gate_config_forbids_unknown_fields() -> None:
    with pytest.raises(ValueError):
        QualityGate(min_sharpnes=3)  # type: ignore[call-arg]
