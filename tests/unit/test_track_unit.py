"""Tracker association, track expiry, best-shot policy, shot scores and fusion rules (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.engine.track import (
    FUSION_RULES,
    ShotPolicy,
    Track,
    Tracker,
    TrackerConfig,
    fuse_max,
    fuse_mean,
    fuse_top2,
    get_fusion,
    iou_matrix,
    register_fusion,
    shot_score,
)
from openlfr.errors import ConfigError
from openlfr.types import QUALITY_FIELDS, FaceBatch


def faces(*boxes: tuple[float, float, float, float], emb: np.ndarray | None = None) -> FaceBatch:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return FaceBatch(xyxy=b, det_score=np.ones(len(b), np.float32), embedding=emb)


def test_iou_matrix_values() -> None:
    m = iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    assert m.shape == (1, 3)
    assert m[0, 0] == pytest.approx(1.0)
    assert m[0, 1] == pytest.approx(50 / 150)
    assert m[0, 2] == 0.0
    assert iou_matrix(np.zeros((0, 4)), np.zeros((2, 4))).shape == (0, 2)


def test_two_walkers_keep_their_ids() -> None:
    tr = Tracker()
    ids = []
    for k in range(12):
        f, _ = tr.update(faces((10 + 8 * k, 50, 70 + 8 * k, 110), (400 - 8 * k, 60, 460 - 8 * k, 120)), k * 0.1)
        ids.append(tuple(int(i) for i in f.track_id))
    assert len(set(ids)) == 1 and len(set(ids[0])) == 2
    assert len(tr.tracks) == 2


def test_centre_distance_fallback_links_fast_motion() -> None:
    tr = Tracker(TrackerConfig(iou_min=0.3, max_centre_dist=1.0))
    a, _ = tr.update(faces((0, 0, 50, 50)), 0.0)
    b, _ = tr.update(faces((45, 0, 95, 50)), 0.1)  # IoU 0.05, centres 45 px apart (< 1 box width)
    assert int(a.track_id[0]) == int(b.track_id[0])
    tr2 = Tracker(TrackerConfig(iou_min=0.3, max_centre_dist=0.0))
    a, _ = tr2.update(faces((0, 0, 50, 50)), 0.0)
    b, _ = tr2.update(faces((45, 0, 95, 50)), 0.1)
    assert int(a.track_id[0]) != int(b.track_id[0])


def test_track_ends_after_ttl_and_survives_shorter_gaps() -> None:
    tr = Tracker(TrackerConfig(ttl_s=2.0))
    f0, _ = tr.update(faces((0, 0, 50, 50)), 0.0)
    _, ended = tr.update(faces(), 1.5)
    assert ended == []
    f1, ended = tr.update(faces((2, 0, 52, 50)), 1.9)
    assert ended == [] and int(f1.track_id[0]) == int(f0.track_id[0])
    _, ended = tr.update(faces(), 4.0)
    assert [t.track_id for t in ended] == [int(f0.track_id[0])]
    assert tr.tracks == {}


def test_embedding_veto_separates_different_people_in_the_same_place() -> None:
    tr = Tracker(TrackerConfig(emb_veto=0.8))
    e1 = np.array([[1.0, 0.0]], np.float32)
    f0, _ = tr.update(faces((0, 0, 50, 50), emb=e1), 0.0)
    t = tr.tracks[int(f0.track_id[0])]
    from openlfr.engine.track import Shot

    t.shots.append(Shot(t=0.0, quality=1.0, embedding=e1[0]))
    same, _ = tr.update(faces((1, 0, 51, 50), emb=np.array([[0.99, 0.141]], np.float32)), 0.1)
    assert int(same.track_id[0]) == t.track_id
    other, _ = tr.update(faces((2, 0, 52, 50), emb=np.array([[0.0, 1.0]], np.float32)), 0.2)
    assert int(other.track_id[0]) != t.track_id


def test_forget_drops_biometric_state() -> None:
    from openlfr.engine.track import Shot

    t = Track(track_id=1, first_t=0, last_t=0, box=np.zeros(4, np.float32))
    t.shots.append(Shot(t=0, quality=1, embedding=np.ones(4, np.float32), scores={1: 0.9}))
    t.extra["crop"] = b"x"
    t.forget()
    assert t.shots == [] and t.extra == {} and t.embeddings().size == 0


def test_best_shot_policy() -> None:
    p = ShotPolicy(max_attempts=3, min_gap_s=0.2, improve_ratio=1.2, refresh_s=1.0)
    t = Track(track_id=1, first_t=0, last_t=0, box=np.zeros(4, np.float32))
    from openlfr.engine.track import Shot

    def attempt(at: float, q: float) -> None:
        t.shots.append(Shot(t=at, quality=q, embedding=np.zeros(2, np.float32)))
        t.last_attempt_t = at
        t.best_attempt_quality = max(t.best_attempt_quality, q)

    assert t.wants_attempt(0.0, 0.1, p)  # first passing shot: always
    attempt(0.0, 0.5)
    assert not t.wants_attempt(0.1, 0.9, p)  # too soon
    assert not t.wants_attempt(0.5, 0.55, p)  # not better enough, no refresh yet
    assert t.wants_attempt(0.5, 0.61, p)  # 20% better
    attempt(0.5, 0.61)
    assert t.wants_attempt(1.6, 0.3, p)  # refresh after 1 s
    attempt(1.6, 0.3)
    assert not t.wants_attempt(5.0, 1.0, p)  # capped at 3


def test_shot_score_orders_by_resolution_and_pose() -> None:
    q = np.full((3, len(QUALITY_FIELDS)), np.nan, np.float32)
    col = {n: i for i, n in enumerate(QUALITY_FIELDS)}
    q[:, col["det_score"]] = 0.9
    q[0, col["inter_eye_px"]], q[1, col["inter_eye_px"]], q[2, col["inter_eye_px"]] = 15, 40, 40
    q[:, col["frontal"]] = [1.0, 1.0, 0.6]
    s = shot_score(q)
    assert s[1] > s[0] and s[1] > s[2]
    assert np.all((s >= 0) & (s <= 1))


def test_fusion_rules() -> None:
    m = np.array([[0.90, 0.50], [0.98, 0.60], [0.94, 0.70]], np.float32)
    assert fuse_max(m).tolist() == pytest.approx([0.98, 0.70])
    assert fuse_mean(m).tolist() == pytest.approx([0.94, 0.60])
    assert fuse_top2(m).tolist() == pytest.approx([0.96, 0.65])
    assert fuse_top2(m[:1]).tolist() == pytest.approx([0.90, 0.50])
    assert get_fusion("max") is fuse_max
    with pytest.raises(ConfigError) as e:
        get_fusion("nope")
    assert e.value.code == "unknown_fusion"
    register_fusion("min", lambda s: np.asarray(s).min(axis=0))
    try:
        assert get_fusion("min")(m).tolist() == pytest.approx([0.90, 0.50])
    finally:
        FUSION_RULES.pop("min")


def test_track_fused_uses_floor_for_missing_entries() -> None:
    from openlfr.engine.track import Shot

    t = Track(track_id=1, first_t=0, last_t=0, box=np.zeros(4, np.float32))
    t.shots.append(Shot(t=0, quality=1, embedding=np.zeros(2, np.float32), scores={7: 0.97}, floor=0.80))
    t.shots.append(Shot(t=1, quality=1, embedding=np.zeros(2, np.float32), scores={8: 0.90}, floor=0.85))
    assert t.fused(fuse_max) == pytest.approx({7: 0.97, 8: 0.90})
    assert t.fused(fuse_mean) == pytest.approx({7: (0.97 + 0.85) / 2, 8: (0.80 + 0.90) / 2})


def test_live_analyser_expires_tracks_without_new_frames() -> None:
    """P2 while a live source stalls: tracks end ttl after their last sighting, frames or not."""
    from openlfr.engine.live import LiveAnalyser, LiveConfig

    cfg = LiveConfig(tracker=TrackerConfig(ttl_s=2.0, min_hits=1))
    an = LiveAnalyser.__new__(LiveAnalyser)  # the decision state only; no models needed here
    an.config = cfg
    an.tracker = Tracker(cfg.tracker)
    an._last_analysed_t = 10.0
    an.tracker.update(faces((0, 0, 50, 50)), 10.0)
    an._last_seen = (10.0, 1000.0)
    assert an.expire_idle(1001.5).ended == []
    res = an.expire_idle(1002.1)
    assert [s.track_id for s in res.ended] == [1] and res.counters["faces_seen"] == 1
    assert an.tracker.tracks == {}
