"""The quality-weighted fusion rule: weights by shot quality, registered by name, used by Track."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.engine.live import LiveConfig
from openlfr.engine.track import FUSION_RULES, Shot, Track, fuse_quality, get_fusion


def test_quality_rule_is_registered_and_selectable() -> None:
    assert get_fusion("quality") is fuse_quality and "quality" in FUSION_RULES
    assert LiveConfig(fusion="quality").fusion == "quality"


def test_weighted_mean_follows_quality() -> None:
    scores = np.array([[0.90, 0.50], [0.60, 0.70]], np.float32)  # 2 shots x 2 entries
    out = fuse_quality(scores, weights=np.array([0.8, 0.2], np.float32))
    assert out.shape == (2,)
    assert out[0] == pytest.approx(0.8 * 0.90 + 0.2 * 0.60, abs=1e-6)
    assert out[1] == pytest.approx(0.8 * 0.50 + 0.2 * 0.70, abs=1e-6)
    # equal weights = plain mean; no weights = plain mean; one shot decides alone
    assert np.allclose(fuse_quality(scores, np.array([0.3, 0.3])), scores.mean(axis=0))
    assert np.allclose(fuse_quality(scores), scores.mean(axis=0))
    assert np.allclose(fuse_quality(scores[:1], np.array([0.01])), scores[0])
    # a zero-quality shot is floored at 0.05, not ignored
    z = fuse_quality(scores, weights=np.array([1.0, 0.0]))
    assert z[0] == pytest.approx((0.90 + 0.05 * 0.60) / 1.05, abs=1e-6)


def test_track_passes_shot_qualities_to_the_rule() -> None:
    tr = Track(track_id=1, first_t=0.0, last_t=1.0, box=np.zeros(4, np.float32))
    emb = np.zeros(4, np.float32)
    tr.shots = [
        Shot(t=0.0, quality=0.9, embedding=emb, scores={7: 0.95}),
        Shot(t=0.5, quality=0.1, embedding=emb, scores={7: 0.55}, floor=0.5),
    ]
    fused = tr.fused(fuse_quality)
    assert fused[7] == pytest.approx((0.9 * 0.95 + 0.1 * 0.55) / 1.0, abs=1e-6)
    assert tr.fused(get_fusion("mean"))[7] == pytest.approx(0.75, abs=1e-6)
