"""FaceBatch validation and the exact index / per-person matcher on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.engine.index import ExactIndex
from openlfr.engine.matcher import WatchlistEntryRef, WatchlistIndex
from openlfr.engine.pipeline import pick_main_face
from openlfr.engine.protocols import cosine_to_score
from openlfr.types import QUALITY_FIELDS, FaceBatch


def test_facebatch_validates_shapes() -> None:
    with pytest.raises(ValueError, match="xyxy"):
        FaceBatch(xyxy=np.zeros((2, 3)), det_score=np.zeros(2))
    with pytest.raises(ValueError, match="det_score"):
        FaceBatch(xyxy=np.zeros((2, 4)), det_score=np.zeros(3))
    with pytest.raises(ValueError, match="quality"):
        FaceBatch(xyxy=np.zeros((1, 4)), det_score=np.zeros(1), quality=np.zeros((1, 2)))


def test_facebatch_select_keeps_columns_aligned() -> None:
    fb = FaceBatch(
        xyxy=[[0, 0, 10, 10], [5, 5, 25, 25], [0, 0, 1, 1]],
        det_score=[0.1, 0.2, 0.3],
        landmarks=np.arange(30, dtype=np.float32).reshape(3, 5, 2),
        quality=np.tile(np.arange(len(QUALITY_FIELDS), dtype=np.float32), (3, 1)),
        embedding=np.eye(3, 4, dtype=np.float32),
        track_id=[7, 8, 9],
    )
    sub = fb.select(np.array([False, True, True]))
    assert len(sub) == 2
    assert sub.track_id.tolist() == [8, 9]
    assert sub.det_score.tolist() == pytest.approx([0.2, 0.3])
    assert sub.embedding[0].tolist() == [0, 1, 0, 0]
    assert sub.areas.tolist() == [400.0, 1.0]
    assert len(FaceBatch.empty()) == 0


@pytest.mark.parametrize(("cos", "score"), [(1.0, 1.0), (0.0, 0.5), (-1.0, 0.0), (0.5, 0.75)])
def test_score_scale(cos: float, score: float) -> None:
    assert float(cosine_to_score(cos)) == pytest.approx(score)


def test_exact_index_topk_order_and_scores() -> None:
    vecs = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    idx = ExactIndex(vecs)
    scores, rows = idx.search(np.array([[1, 0.1]], np.float32), k=3)
    assert rows.tolist() == [[0, 2, 1]]
    q = np.array([1, 0.1]) / np.linalg.norm([1, 0.1])
    expect = [(1 + q @ (v / np.linalg.norm(v))) / 2 for v in vecs[[0, 2, 1]]]
    assert scores[0].tolist() == pytest.approx(expect, abs=1e-6)
    # k larger than the index, and k = 0
    assert idx.search(np.array([[0, 1]], np.float32), k=10)[1].shape == (1, 4)
    assert idx.search(np.array([[0, 1]], np.float32), k=0)[1].shape == (1, 0)
    with pytest.raises(ValueError, match="dimension"):
        idx.search(np.zeros((1, 3), np.float32), k=1)


def test_empty_index() -> None:
    idx = ExactIndex(np.zeros((0, 8), np.float32), dim=8)
    s, r = idx.search(np.ones((2, 8), np.float32), k=5)
    assert s.shape == (2, 0) and r.shape == (2, 0)


def test_watchlist_index_one_candidate_per_person_and_threshold() -> None:
    # person A has two reference vectors; B and C one each
    vecs = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    entries = [WatchlistEntryRef(1, "A", "Alice"), WatchlistEntryRef(2, "B", "Bob"), WatchlistEntryRef(3, "C", "Cy")]
    wl = WatchlistIndex(vecs, entries, row_entry=[0, 0, 1, 2], model_id="m", dim=3)
    assert wl.size == 3
    [res] = wl.search(np.array([[1, 0.05, 0]], np.float32), top_k=3)
    assert [m.person_id for m in res] == ["A", "B", "C"]
    assert [m.rank for m in res] == [1, 2, 3]
    assert res[0].score > res[1].score >= res[2].score
    [only] = wl.search(np.array([[1, 0.05, 0]], np.float32), top_k=3, threshold=0.9)
    assert [m.person_id for m in only] == ["A"]
    assert wl.search(np.zeros((0, 3), np.float32)) == []


def test_pick_main_face() -> None:
    one = FaceBatch(xyxy=[[0, 0, 50, 50]], det_score=[0.9])
    assert pick_main_face(one) == (0, None)
    assert pick_main_face(FaceBatch.empty()) == (None, "no face")
    dominant = FaceBatch(xyxy=[[0, 0, 10, 10], [0, 0, 100, 100]], det_score=[0.9, 0.9])
    assert pick_main_face(dominant) == (1, None)
    two = FaceBatch(xyxy=[[0, 0, 90, 90], [0, 0, 100, 100]], det_score=[0.9, 0.9], image_size=(400, 400))
    idx, why = pick_main_face(two)
    assert idx is None and "several faces" in (why or "")
    # the larger face is the only one over the photo's centre: the subject
    framed = FaceBatch(xyxy=[[10, 10, 90, 90], [150, 150, 250, 250]], det_score=[0.9, 0.9], image_size=(400, 400))
    assert pick_main_face(framed) == (1, None)
    # the centre face is not the largest: ambiguous
    odd = FaceBatch(xyxy=[[0, 0, 120, 120], [150, 150, 250, 250]], det_score=[0.9, 0.9], image_size=(400, 400))
    assert pick_main_face(odd)[0] is None
