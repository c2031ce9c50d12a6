"""1:N search of probe embeddings against a watchlist, one candidate per person.

A person may have several reference images; their score is the best over those images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openlfr.engine.index import VectorIndex
from openlfr.engine.index_faiss import auto_index
from openlfr.types import FloatArray, Match


@dataclass(frozen=True)
class WatchlistEntryRef:
    entry_id: int
    person_id: str
    name: str


class WatchlistIndex:
    """Reference vectors (one row per reference image) with the entry each belongs to."""

    def __init__(
        self,
        vectors: FloatArray,
        entries: list[WatchlistEntryRef],
        row_entry: list[int],
        model_id: str,
        index: VectorIndex | None = None,
        dim: int = 128,
    ) -> None:
        vecs = np.asarray(vectors, dtype=np.float32).reshape(-1, vectors.shape[-1] if len(vectors) else dim)
        if len(row_entry) != len(vecs):
            raise ValueError("row_entry must give the entry of every vector row")
        self.model_id = model_id
        self.entries = entries
        self._row_entry = np.asarray(row_entry, dtype=np.int64)  # index into self.entries
        # exact search, or FAISS HNSW for very large lists (engine.index_faiss.auto_index)
        self._index: VectorIndex = index if index is not None else auto_index(vecs, dim=vecs.shape[1])
        self._max_rows_per_entry = int(np.bincount(self._row_entry).max()) if len(vecs) else 0

    @property
    def size(self) -> int:
        """Number of people (entries) on the list."""
        return len(self.entries)

    def search(self, queries: FloatArray, top_k: int = 5, threshold: float = 0.0) -> list[list[Match]]:
        """For each query, up to ``top_k`` distinct people scoring >= ``threshold``, best first."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.shape[0] == 0:
            return []
        if not self.entries or top_k <= 0:
            return [[] for _ in range(q.shape[0])]
        rows = min(len(self._index), top_k * max(self._max_rows_per_entry, 1))
        scores, idx = self._index.search(q, rows)
        out: list[list[Match]] = []
        for srow, irow in zip(scores, idx, strict=True):
            seen: set[int] = set()
            matches: list[Match] = []
            for s, r in zip(srow, irow, strict=True):
                if s < threshold or len(matches) >= top_k:
                    break
                e = int(self._row_entry[r])
                if e in seen:
                    continue
                seen.add(e)
                ref = self.entries[e]
                matches.append(
                    Match(
                        entry_id=ref.entry_id,
                        person_id=ref.person_id,
                        name=ref.name,
                        score=float(s),
                        rank=len(matches) + 1,
                    )
                )
            out.append(matches)
        return out
