"""Watchlist search for very large lists: FAISS behind the ``VectorIndex`` protocol.

**Which index, by measurement** (``benchmarks/bench_scale.py --dim 512``: 512-d random unit vectors,
the default embedder fr_feature's dimension; queries planted near one entry at cosine U(0.5, 0.95);
recall = share of 1000 queries whose top result is exact search's top result; 2-core machine shared
with other work (load average 4-7), one search thread, one query at a time, k=10):

| index | 10k | 100k | 1M |
|---|---|---|---|
| exact (numpy ``ExactIndex``) | 1, 0.98 ms | 1, 26 ms | 1, 186 ms |
| HNSW Flat (M=32, efC=80, efSearch=512) | 1.000, 2.1 ms, 9 s | **0.998**, 6.1 ms, 236 s | not built (*) |
| IVF-Flat (nlist=4 sqrt(N), nprobe=256) | 1.000, 0.55 ms | **0.975**, 3.3 ms, 10 s | **0.899**, 8.5 ms, 137 s |
| **PQ128x4fs fast-scan + re-rank** | 1.000, 0.20 ms, 0.9 s | 1.000, 0.51 ms, 4 s | 1.000, 3.5 ms (p95 4.2), 15 s |

(recall, p50 latency, build time; (*) at 128-d: 0.945 after 16 min.) The code size was chosen at
1M x 512 (one run, same queries): PQ256x4fs (2 dimensions per sub-quantiser, 128-byte codes) 1.000
at 10 ms p50 (6 ms CPU), PQ128x4fs (4 dimensions, 64 bytes) 1.000 at 2.4-2.6 ms, PQ64x4fs (8, 32
bytes) 1.000 at 1.6-1.7 ms; k_factor 10 or 50 made no difference to recall. ``pq_dims`` = 4 keeps
headroom for real embeddings (which cluster more than random vectors), and :data:`PQ_MIN_M` keeps
64 sub-quantisers for 128-d embedders: at 1M x 128, PQ64x4fs had recall 1.000 at 1.1 ms, PQ32x4fs
0.997 at 1.0 ms.

Graph and inverted-file indexes miss the nearest entry when it is only moderately similar (cosine
0.5-0.7, where the best of a million unrelated vectors comes close), so they fail the 0.999 target.
The chosen index scans *every* entry's code with SIMD (no entry can be skipped), keeps the
``k_factor`` x k best and re-ranks them with the full vectors: returned scores are exact cosines,
which matters next to an alert threshold. Memory: the full vectors (2 GB per million 512-d entries)
plus the codes (64 MB).

:func:`auto_index` keeps exact search (``ExactIndex``) below :data:`FAISS_MIN_ROWS` rows (about
1 ms per query there, no build step) and uses the chosen FAISS index above it when ``faiss`` is
installed (``pip install 'openlfr[scale]'``); without it, exact search is used at every size.

Scores follow the project's convention: score = (1 + cos) / 2 of L2-normalised vectors.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from openlfr.engine.index import ExactIndex, VectorIndex, as_matrix, empty_result, prepare_queries
from openlfr.engine.protocols import cosine_to_score, l2_normalise
from openlfr.errors import ConfigError
from openlfr.types import FloatArray, IntArray

log = logging.getLogger(__name__)

FAISS_MIN_ROWS = 50_000
"""Below this many reference vectors exact search is used (see the module docstring)."""
DEFAULT_KIND = "pq-refine"
"""The chosen index: 4-bit PQ fast-scan over every entry, exact re-rank (``"hnsw"``, ``"flat"``: others)."""
K_FACTOR = 50
"""Candidates re-ranked exactly per result asked for (k=1: 50; k=10: 500)."""
PQ_DIMS = 4
"""Dimensions per 4-bit sub-quantiser of the default index, at most: d/4 sub-quantisers, a 64-byte
code per 512-d entry (2 was measured too: 128-byte codes, 3-4x the scan time at 512-d, the same
recall)."""
PQ_MIN_M = 64
"""Sub-quantisers at least (when d allows): at 128-d, d/4 = 32 (16-byte codes) missed 3 of 1000
planted queries at 1M where 64 missed none."""
TRAIN_ROWS = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512
KINDS = ("pq-refine", "hnsw", "flat")
THREADS = 1
"""OpenMP threads for building and searching. One: the live path runs a camera per core, and on a
busy machine OpenMP's spinning threads slow FAISS down badly (measured here: building the default
index over 10k vectors took 0.7 s with one thread, 18 s with two on a loaded 2-core machine)."""


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
        raise ConfigError(
            "FAISS is not installed; install the 'scale' extra: pip install 'openlfr[scale]'", code="faiss_missing"
        ) from exc
    return faiss


class FaissIndex:
    """Top-k over L2-normalised vectors (inner product) with a FAISS index of the given ``kind``:

    - ``"pq-refine"`` (default, see the module docstring): ``PQ{d/pq_dims}x4fs,RFlat`` (``pq_dims``
      dimensions per 4-bit sub-quantiser, lowered to a divisor of d that leaves at least
      ``PQ_MIN_M`` sub-quantisers: 512-d: PQ128, 128-d: PQ64);
    - ``"hnsw"``: ``IndexHNSWFlat`` (M=32; ``ef_search`` raised to k when needed);
    - ``"flat"``: ``IndexFlatIP``, exact (also used for lists too small to train PQ codes on).

    Picklable (the index is serialised), so it can be sent to worker processes and through Ray's
    object store."""

    def __init__(
        self,
        vectors: FloatArray,
        dim: int | None = None,
        *,
        kind: str = DEFAULT_KIND,
        k_factor: int = K_FACTOR,
        ef_search: int = HNSW_EF_SEARCH,
        threads: int = THREADS,
        pq_dims: int = PQ_DIMS,
        seed: int = 0,
    ) -> None:
        faiss = _faiss()
        if kind not in KINDS:
            raise ConfigError(f"unknown FAISS index kind {kind!r}; one of {', '.join(KINDS)}", code="bad_index_kind")
        vecs = as_matrix(vectors, dim)
        self.dim = int(vecs.shape[1]) if vecs.shape[0] or dim is None else int(dim)
        if pq_dims < 1:
            raise ConfigError(f"pq_dims must be at least 1, got {pq_dims}", code="bad_index_parameter")
        sub = min(pq_dims, max(self.dim, 1))
        # the largest sub-vector size up to pq_dims that divides the dimension into >= PQ_MIN_M parts
        while sub > 1 and (self.dim % sub or self.dim // sub < PQ_MIN_M):
            sub -= 1
        self.pq_m = self.dim // sub
        """Sub-quantisers of the ``pq-refine`` codes (``pq_m`` / 2 bytes per entry)."""
        if kind == "pq-refine" and (len(vecs) < 1000 or self.pq_m % 2):
            kind = "flat"  # too few vectors to train 16-centroid codes on (or an odd number of sub-quantisers)
        self.kind = kind
        self.k_factor = k_factor
        self.ef_search = ef_search
        self.threads = threads
        metric = faiss.METRIC_INNER_PRODUCT
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, HNSW_M, metric)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        elif kind == "pq-refine":
            index = faiss.index_factory(self.dim, f"PQ{self.pq_m}x4fs,RFlat", metric)
        else:
            index = faiss.IndexFlatIP(self.dim)
        if len(vecs):
            data = np.ascontiguousarray(l2_normalise(vecs), dtype=np.float32)
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(threads)
            try:
                if not index.is_trained:
                    rng = np.random.default_rng(seed)
                    sample = (
                        data
                        if len(data) <= TRAIN_ROWS
                        else data[np.sort(rng.choice(len(data), TRAIN_ROWS, replace=False))]
                    )
                    index.train(sample)
                index.add(data)
            finally:
                faiss.omp_set_num_threads(before)
        self._index = index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: FloatArray, k: int) -> tuple[FloatArray, IntArray]:
        q, kk = prepare_queries(queries, k, len(self), self.dim)
        if kk == 0:
            return empty_result(q.shape[0])
        if self.kind == "hnsw":
            self._index.hnsw.efSearch = max(self.ef_search, kk)
        elif self.kind == "pq-refine":
            self._index.k_factor = float(self.k_factor)
        faiss = _faiss()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.threads)
        try:
            sims, idx = self._index.search(np.ascontiguousarray(l2_normalise(q), dtype=np.float32), kk)
        finally:
            faiss.omp_set_num_threads(before)
        valid = idx >= 0
        if not valid.all():  # fewer than k reachable for some query: keep the columns every row has
            keep = int(valid.sum(axis=1).min())
            sims, idx = sims[:, :keep], idx[:, :keep]
        return cosine_to_score(np.clip(sims, -1.0, 1.0)).astype(np.float32), idx.astype(np.int64)

    def __getstate__(self) -> dict[str, Any]:
        faiss = _faiss()
        return {
            "dim": self.dim,
            "kind": self.kind,
            "k_factor": self.k_factor,
            "ef_search": self.ef_search,
            "threads": self.threads,
            "pq_m": self.pq_m,
            "index": faiss.serialize_index(self._index),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        faiss = _faiss()
        self.dim = int(state["dim"])
        self.kind = str(state["kind"])
        self.k_factor = int(state["k_factor"])
        self.ef_search = int(state["ef_search"])
        self.threads = int(state.get("threads", THREADS))
        self.pq_m = int(state.get("pq_m", self.dim // 2))
        self._index = faiss.deserialize_index(state["index"])


def auto_index(vectors: FloatArray, dim: int | None = None, *, min_rows: int = FAISS_MIN_ROWS) -> VectorIndex:
    """Exact search below ``min_rows`` vectors (or without FAISS), the chosen FAISS index above."""
    vecs = np.asarray(vectors, dtype=np.float32)
    rows = int(vecs.shape[0]) if vecs.ndim == 2 else 0
    if rows >= min_rows:
        if faiss_available():
            log.info("watchlist of %d vectors: FAISS %s index", rows, DEFAULT_KIND)
            return FaissIndex(vecs, dim)
        log.warning(
            "watchlist of %d vectors: FAISS is not installed, using exact search "
            "(pip install 'openlfr[scale]' for large lists)",
            rows,
        )
    return ExactIndex(vecs, dim=dim)
