"""Watchlist search for very large lists: a FAISS HNSW graph behind the ``VectorIndex`` protocol.

**Which index, by measurement** (``benchmarks/bench_scale.py``; 128-d random unit vectors, queries
planted near one entry at cosine 0.5-0.95, recall = share of queries whose top result is the exact
search's top result; 2-core machine shared with other work, one search thread):

- ``IndexIVFFlat`` (nlist = 4 sqrt(N)) stays below the target on such vectors: recall 0.87 / 0.93 /
  0.97 at nprobe 64 / 128 / 256 at 100k entries, worst for the least similar queries.
- ``IndexHNSWFlat`` (M = 32, efConstruction = 80) reaches it: recall 0.999 at efSearch 256 and
  1.000 at efSearch 512 at 100k entries, 1.1-1.5 ms per query. The graph stores the full vectors,
  so returned scores are exact cosines (no quantisation error next to a threshold).
- Product quantisation (IVF-PQ) is not used: its scores are approximate, and an alert threshold
  must be compared with the true score.

HNSW costs build time (tens of seconds per 100k entries here) and about 256 bytes of graph per
entry on top of the vectors, so :func:`auto_index` keeps exact search (``ExactIndex``) below
:data:`FAISS_MIN_ROWS` rows, where it is fast enough, and uses HNSW above it when ``faiss`` is
installed (``pip install 'openlfr[scale]'``); without it, exact search is used at every size.

Scores follow the project's convention: score = (1 + cos) / 2 of L2-normalised vectors.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from openlfr.engine.index import ExactIndex, VectorIndex
from openlfr.engine.protocols import cosine_to_score, l2_normalise
from openlfr.errors import ConfigError
from openlfr.types import FloatArray, IntArray

log = logging.getLogger(__name__)

FAISS_MIN_ROWS = 50_000
"""Below this many reference vectors exact search is used (see the module docstring)."""
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ConfigError("FAISS is not installed; install the 'scale' extra: pip install 'openlfr[scale]'",
                          code="faiss_missing") from exc
    return faiss


class FaissIndex:
    """Approximate top-k over L2-normalised vectors with a FAISS ``IndexHNSWFlat`` (inner product).

    ``ef_search`` is raised to ``k`` when a search asks for more candidates. Picklable (the graph
    is serialised), so it can be sent to worker processes and through Ray's object store."""

    def __init__(self, vectors: FloatArray, dim: int | None = None, *, m: int = HNSW_M,
                 ef_construction: int = HNSW_EF_CONSTRUCTION, ef_search: int = HNSW_EF_SEARCH,
                 build_threads: int | None = None) -> None:
        faiss = _faiss()
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim != 2:
            if vecs.size == 0 and dim is not None:
                vecs = np.zeros((0, dim), np.float32)
            else:
                raise ValueError(f"index vectors must be (n, d), got {vecs.shape}")
        self.dim = int(vecs.shape[1]) if vecs.shape[0] or dim is None else int(dim)
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        index = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        if len(vecs):
            before = faiss.omp_get_max_threads()
            if build_threads is not None:
                faiss.omp_set_num_threads(build_threads)
            try:
                index.add(np.ascontiguousarray(l2_normalise(vecs), dtype=np.float32))
            finally:
                faiss.omp_set_num_threads(before)
        self._index = index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: FloatArray, k: int) -> tuple[FloatArray, IntArray]:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        n = len(self)
        kk = min(max(k, 0), n)
        if kk == 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], 0), np.float32), np.zeros((q.shape[0], 0), np.int64)
        if q.shape[1] != self.dim:
            raise ValueError(f"query dimension {q.shape[1]} != index dimension {self.dim}")
        self._index.hnsw.efSearch = max(self.ef_search, kk)
        sims, idx = self._index.search(np.ascontiguousarray(l2_normalise(q), dtype=np.float32), kk)
        valid = idx >= 0
        if not valid.all():  # fewer than k reachable for some query: keep the columns every row has
            keep = int(valid.sum(axis=1).min())
            sims, idx = sims[:, :keep], idx[:, :keep]
        return cosine_to_score(np.clip(sims, -1.0, 1.0)).astype(np.float32), idx.astype(np.int64)

    def __getstate__(self) -> dict[str, Any]:
        faiss = _faiss()
        return {"dim": self.dim, "m": self.m, "ef_construction": self.ef_construction,
                "ef_search": self.ef_search, "index": faiss.serialize_index(self._index)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        faiss = _faiss()
        self.dim = int(state["dim"])
        self.m = int(state["m"])
        self.ef_construction = int(state["ef_construction"])
        self.ef_search = int(state["ef_search"])
        self._index = faiss.deserialize_index(state["index"])


def auto_index(vectors: FloatArray, dim: int | None = None, *, min_rows: int = FAISS_MIN_ROWS) -> VectorIndex:
    """Exact search below ``min_rows`` vectors (or without FAISS), FAISS HNSW above."""
    vecs = np.asarray(vectors, dtype=np.float32)
    rows = int(vecs.shape[0]) if vecs.ndim == 2 else 0
    if rows >= min_rows:
        if faiss_available():
            log.info("watchlist of %d vectors: FAISS HNSW index", rows)
            return FaissIndex(vecs, dim)
        log.warning("watchlist of %d vectors: FAISS is not installed, using exact search "
                    "(pip install 'openlfr[scale]' for large lists)", rows)
    return ExactIndex(vecs, dim=dim)
