"""Watchlist search. ``ExactIndex`` is a vectorised brute-force cosine search; other backends
(FAISS for very large lists) implement the same ``VectorIndex`` protocol."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from openlfr.engine.protocols import cosine_to_score, l2_normalise
from openlfr.types import FloatArray, IntArray


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def search(self, queries: FloatArray, k: int) -> tuple[FloatArray, IntArray]:
        """Top-k (scores (m, k') in [0, 1] best first, row indices (m, k')), k' = min(k, len)."""
        ...


def prepare_queries(queries: FloatArray, k: int, n: int, dim: int) -> tuple[FloatArray, int]:
    """Queries as a float32 (m, d) array and the number of results to return, min(k, n); 0 when
    there is nothing to search. Raises ValueError on a dimension mismatch."""
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    kk = min(max(k, 0), n)
    if kk == 0 or q.shape[0] == 0:
        return q, 0
    if q.shape[1] != dim:
        raise ValueError(f"query dimension {q.shape[1]} != index dimension {dim}")
    return q, kk


def empty_result(m: int) -> tuple[FloatArray, IntArray]:
    return np.zeros((m, 0), np.float32), np.zeros((m, 0), np.int64)


def as_matrix(vectors: FloatArray, dim: int | None) -> FloatArray:
    """``vectors`` as a float32 (n, d) matrix; an empty input with a known ``dim`` is (0, dim)."""
    vecs = np.asarray(vectors, dtype=np.float32)
    if vecs.ndim != 2:
        if vecs.size == 0 and dim is not None:
            return np.zeros((0, dim), np.float32)
        raise ValueError(f"index vectors must be (n, d), got {vecs.shape}")
    return vecs


class ExactIndex:
    """Exact top-k over L2-normalised vectors; score = (1 + cos) / 2."""

    def __init__(self, vectors: FloatArray, dim: int | None = None) -> None:
        vecs = as_matrix(vectors, dim)
        self.dim = int(vecs.shape[1]) if vecs.shape[0] or dim is None else dim
        self._vecs = l2_normalise(vecs) if len(vecs) else vecs

    def __len__(self) -> int:
        return int(self._vecs.shape[0])

    def search(self, queries: FloatArray, k: int) -> tuple[FloatArray, IntArray]:
        n = len(self)
        q, kk = prepare_queries(queries, k, n, self.dim)
        if kk == 0:
            return empty_result(q.shape[0])
        sims = l2_normalise(q) @ self._vecs.T  # (m, n)
        if kk < n:
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        else:
            part = np.broadcast_to(np.arange(n), (q.shape[0], n)).copy()
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
        return cosine_to_score(np.take_along_axis(top, order, axis=1)), idx
