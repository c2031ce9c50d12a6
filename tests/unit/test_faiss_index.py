"""The FAISS index behind the VectorIndex protocol (4-bit PQ fast-scan + exact re-rank, and HNSW as
the alternative): recall against exact search, exact scores, selection by size, pickling (worker
processes, Ray's object store), edge cases."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from openlfr.engine.index import ExactIndex  # noqa: E402
from openlfr.engine.index_faiss import FAISS_MIN_ROWS, FaissIndex, auto_index  # noqa: E402
from openlfr.engine.matcher import WatchlistEntryRef, WatchlistIndex  # noqa: E402

D = 128


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, D)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def planted(
    rng: np.random.Generator, base: np.ndarray, n: int, lo: float = 0.5, hi: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Queries at cosine U(lo, hi) from random entries (the entry each was planted near)."""
    tgt = rng.choice(len(base), n, replace=False)
    cos = rng.uniform(lo, hi, n).astype(np.float32)
    g = rng.standard_normal((n, D)).astype(np.float32)
    g -= (g * base[tgt]).sum(1, keepdims=True) * base[tgt]
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return (cos[:, None] * base[tgt] + np.sqrt(1 - cos**2)[:, None] * g).astype(np.float32), tgt


@pytest.fixture(scope="module", params=["pq-refine", "hnsw"])
def data(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray, np.ndarray, FaissIndex]:
    rng = np.random.default_rng(7)
    base = unit(rng, 10_000)
    q, tgt = planted(rng, base, 400)
    fx = FaissIndex(base, kind=request.param)
    assert fx.kind == request.param
    return base, q, tgt, fx


def test_recall_of_the_true_nearest(data: tuple[np.ndarray, np.ndarray, np.ndarray, FaissIndex]) -> None:
    base, q, tgt, fx = data
    ex_s, ex_i = ExactIndex(base).search(q, 10)
    fs, fi = fx.search(q, 10)
    assert fs.shape == fi.shape == (len(q), 10)
    recall = float((fi[:, 0] == ex_i[:, 0]).mean())
    assert recall >= 0.999, recall
    assert (ex_i[:, 0] == tgt).mean() > 0.99  # the planted entry is the true nearest
    # scores are exact cosines, on the project's scale, best first
    np.testing.assert_allclose(fs[:, 0], ex_s[:, 0], atol=1e-5)
    assert np.all(np.diff(fs, axis=1) <= 1e-6)
    assert fs.min() >= 0.0 and fs.max() <= 1.0


def test_selection_by_size() -> None:
    rng = np.random.default_rng(1)
    small = unit(rng, 300)
    assert isinstance(auto_index(small), ExactIndex)
    assert isinstance(auto_index(small, min_rows=300), FaissIndex)
    assert isinstance(auto_index(np.zeros((0, D), np.float32), dim=D), ExactIndex)
    assert FAISS_MIN_ROWS >= 10_000  # the Met's lists (10-20 thousand) stay on exact search


def test_pickle_round_trip(data: tuple[np.ndarray, np.ndarray, np.ndarray, FaissIndex]) -> None:
    _, q, _, fx = data
    back = pickle.loads(pickle.dumps(fx))
    a, b = fx.search(q[:50], 5), back.search(q[:50], 5)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0])
    assert len(back) == len(fx) and back.dim == D and back.kind == fx.kind


def test_watchlist_index_same_people_as_exact() -> None:
    """Several photos per person: FAISS and exact search return the same people with the same scores."""
    rng = np.random.default_rng(3)
    people = 2_000
    vecs = unit(rng, people * 2)
    rows = [i // 2 for i in range(len(vecs))]
    entries = [WatchlistEntryRef(entry_id=i + 1, person_id=f"p{i}", name=f"P {i}") for i in range(people)]
    exact = WatchlistIndex(vecs, entries, rows, model_id="m", index=ExactIndex(vecs))
    approx = WatchlistIndex(vecs, entries, rows, model_id="m", index=FaissIndex(vecs))
    q, _ = planted(rng, vecs, 100, lo=0.7)
    for a, b in zip(exact.search(q, top_k=3), approx.search(q, top_k=3), strict=True):
        assert [m.entry_id for m in a][:1] == [m.entry_id for m in b][:1]
        assert abs(a[0].score - b[0].score) < 1e-5


def test_edges() -> None:
    rng = np.random.default_rng(5)
    fx = FaissIndex(unit(rng, 20))
    assert fx.kind == "flat"  # too few vectors to train codes on: exact inside FAISS
    s, i = fx.search(unit(rng, 3), 50)  # k above the size
    assert s.shape[0] == 3 and 0 < s.shape[1] <= 20 and (i >= 0).all()
    assert fx.search(np.zeros((0, D), np.float32), 5)[0].shape == (0, 0)
    empty = FaissIndex(np.zeros((0, D), np.float32), dim=D)
    assert len(empty) == 0 and empty.search(unit(rng, 2), 5)[1].shape == (2, 0)
    with pytest.raises(ValueError, match="dimension"):
        fx.search(np.ones((1, 64), np.float32), 1)
    from openlfr.errors import ConfigError

    with pytest.raises(ConfigError):
        FaissIndex(unit(rng, 5), kind="ivf-pq")


def test_code_size_follows_pq_dims() -> None:
    """``pq_dims`` dimensions per 4-bit sub-quantiser at most: d/4 by default (64 bytes per 512-d
    entry), lowered to a divisor of d that leaves at least PQ_MIN_M sub-quantisers (128-d: 64); the
    codes shrink with it and recall holds; bad values are refused."""
    from openlfr.engine.index_faiss import PQ_DIMS, PQ_MIN_M
    from openlfr.errors import ConfigError

    assert (PQ_DIMS, PQ_MIN_M) == (4, 64)
    rng = np.random.default_rng(11)
    wide = rng.standard_normal((4_000, 512)).astype(np.float32)
    wide /= np.linalg.norm(wide, axis=1, keepdims=True)
    tgt = rng.choice(len(wide), 100, replace=False)
    q = wide[tgt] * 0.6 + 0.8 * rng.standard_normal((100, 512)).astype(np.float32) / np.sqrt(512)
    sizes = {}
    for pq_dims, m in ((PQ_DIMS, 128), (2, 256), (8, 64), (3, 256), (16, 64)):  # 3 does not divide 512: 2
        fx = FaissIndex(wide, pq_dims=pq_dims)
        assert fx.kind == "pq-refine" and fx.pq_m == m, (pq_dims, fx.pq_m)
        assert float((fx.search(q, 1)[1][:, 0] == tgt).mean()) >= 0.99
        back = pickle.loads(pickle.dumps(fx))
        assert back.pq_m == m
        np.testing.assert_array_equal(back.search(q[:20], 3)[1], fx.search(q[:20], 3)[1])
        sizes[pq_dims] = len(faiss.serialize_index(fx._index))
    # the full vectors (re-rank) are the same; the codes halve per doubling of pq_dims
    assert sizes[8] < sizes[4] < sizes[2] and sizes[16] == sizes[8]
    assert sizes[2] - sizes[4] >= 0.9 * len(wide) * (256 - 128) / 2
    narrow = unit(rng, 2_000)  # 128-d: d/4 would leave 32 sub-quantisers, so 2 dimensions each
    assert FaissIndex(narrow).pq_m == 64 and FaissIndex(narrow, pq_dims=1).pq_m == 128
    with pytest.raises(ConfigError) as err:
        FaissIndex(narrow, pq_dims=0)
    assert err.value.code == "bad_index_parameter"
