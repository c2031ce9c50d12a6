"""Measuring an operating threshold for a watchlist size and a target FPIR by repeated draws.

Protocol (``openlfr eval threshold``): in each of ``draws`` random draws (seeded), ``N``
identities are drawn from the dataset and one image of each (its first) is enrolled; every image
of every other identity is a non-mated search. Per draw, the threshold is the smallest one with
empirical FPIR <= target (see ``metrics.threshold_at_rate``). The draws' non-mated best scores
are also pooled, and the *recommended* threshold is the pooled one, rounded **up** to 3 decimals,
or, if larger, the rounded-up 90th percentile of the per-draw thresholds: a stranger then matches
no one in at least ``1 - target`` of searches in the pooled data and in at least 90% of draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from openlfr.engine.protocols import cosine_to_score
from openlfr.errors import InputError
from openlfr.eval import metrics as M
from openlfr.eval.compute import EmbeddingTable
from openlfr.eval.intervals import clopper_pearson
from openlfr.eval.protocols import Dataset

if TYPE_CHECKING:
    from openlfr.eval.exclusions import Exclusions


@dataclass(frozen=True)
class ThresholdResult:
    watchlist_size: int
    target_fpir: float
    draws: int
    seed: int
    searches_per_draw: float
    per_draw: list[float]
    pooled: float
    recommended: float
    pooled_fpir_at_recommended: float
    pooled_k: int
    pooled_n: int
    draws_meeting_target: int
    models: dict[str, str]
    checked: dict[str, Any] | None = None
    """With ``at``: the pooled FPIR of the direct draws at that threshold (e.g. a calibration's N x FMR one)."""

    def to_dict(self) -> dict[str, Any]:
        ci = clopper_pearson(self.pooled_k, self.pooled_n)
        arr = np.asarray(self.per_draw)
        return {
            "watchlist_size": self.watchlist_size,
            "target_fpir": self.target_fpir,
            "draws": self.draws,
            "seed": self.seed,
            "nonmated_searches_per_draw": self.searches_per_draw,
            "threshold": self.recommended,
            "pooled_threshold": self.pooled,
            "per_draw_threshold": {
                "mean": float(arr.mean()),
                "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
                "min": float(arr.min()),
                "p50": float(np.percentile(arr, 50)),
                "p90": float(np.percentile(arr, 90)),
                "max": float(arr.max()),
            },
            "fpir_at_threshold": {
                "rate": self.pooled_fpir_at_recommended,
                "k": self.pooled_k,
                "n": self.pooled_n,
                "ci": None if ci is None else list(ci),
            },
            "draws_meeting_target": self.draws_meeting_target,
            "rule": "max(pooled, p90 of per-draw thresholds), rounded up to 3 decimals",
            "models": self.models,
            **({"at_threshold": self.checked} if self.checked is not None else {}),
        }


def _round_up(x: float, digits: int = 3) -> float:
    f = 10**digits
    return float(math.ceil(x * f - 1e-9) / f)


@dataclass(frozen=True)
class _Rows:
    """The table's rows per identity (dataset order), which may be searched or enrolled, and who is who."""

    starts: np.ndarray  # first row of each identity, then the row count
    ident_of_row: np.ndarray
    ok: np.ndarray  # acquired and not left out by the exclusions
    person: np.ndarray  # identity -> person (identities that are one person share a number)


def _rows(table: EmbeddingTable, dataset: Dataset, names: list[str], exclusions: Exclusions | None) -> _Rows:
    """Row ranges per identity, with the known label errors of ``exclusions`` applied."""
    starts = np.cumsum([0] + [len(dataset.identities[n]) for n in names])
    ident_of_row = np.repeat(np.arange(len(names)), np.diff(starts))
    ok = table.acquired.copy()
    person = np.arange(len(names))
    if exclusions is not None and not exclusions.empty:
        codes, keep, pairs, _used = exclusions.apply(table.paths, dataset.labels, dataset.root)
        ok &= keep
        for _first, second in pairs:  # one photo under two names: search and enrol only one copy
            ok[second] = False
        person = codes[starts[:-1]]
    return _Rows(starts, ident_of_row, ok, person)


def _draw_best_scores(
    table: EmbeddingTable, rows: _Rows, watchlist_size: int, draws: int, seed: int
) -> list[np.ndarray]:
    """For each random watchlist draw, the best score of every non-mated search (-inf: not acquired)."""
    emb = np.nan_to_num(table.embedding, nan=0.0)
    rng = np.random.default_rng(seed)
    pooled: list[np.ndarray] = []
    for _ in range(draws):
        on = rng.choice(len(rows.person), size=watchlist_size, replace=False)
        enrol_rows = rows.starts[on]
        enrol_rows = enrol_rows[rows.ok[enrol_rows]]
        is_on = np.isin(rows.person, rows.person[on])
        search = np.flatnonzero(~is_on[rows.ident_of_row])
        best = cosine_to_score((emb[search] @ emb[enrol_rows].T).max(axis=1)).astype(np.float64)
        best[~rows.ok[search]] = -np.inf
        pooled.append(best)
    return pooled


def _check_threshold(at: float, allbest: np.ndarray, pooled: list[np.ndarray], target_fpir: float) -> dict[str, Any]:
    """Pooled and per draw FPIR at a given threshold ``at`` (e.g. a calibration's N x FMR threshold)."""
    ka = int((allbest >= at).sum())
    ci = clopper_pearson(ka, int(allbest.size))
    return {
        "threshold": at,
        "fpir": ka / allbest.size,
        "k": ka,
        "n": int(allbest.size),
        "ci": None if ci is None else list(ci),
        "target_met": ka / allbest.size <= target_fpir,
        "draws_meeting_target": sum(1 for b in pooled if (b >= at).sum() / b.size <= target_fpir),
    }


def measure_threshold(
    table: EmbeddingTable,
    dataset: Dataset,
    watchlist_size: int = 1000,
    target_fpir: float = 1e-3,
    draws: int = 20,
    seed: int = 0,
    *,
    at: float | None = None,
    exclusions: Exclusions | None = None,
) -> ThresholdResult:
    """Direct draws: ``draws`` watchlists of N identities (first image each) and every image of the other
    identities searched against each. ``exclusions`` (known label errors) leave out mislabeled images and the
    second copy of a photo filed under two names, and never count a search of one person filed under another
    name as non-mated. ``at``: also the pooled
    FPIR at this threshold (to check a calibration's N x FMR threshold on data it was not made from)."""
    names = sorted(dataset.identities)
    if watchlist_size >= len(names):
        raise InputError(
            f"--watchlist-size {watchlist_size} needs more than {len(names)} identities", code="bad_option"
        )
    rows = _rows(table, dataset, names, exclusions)
    pooled = _draw_best_scores(table, rows, watchlist_size, draws, seed)
    per_draw = [M.threshold_at_rate(best, target_fpir) for best in pooled]
    allbest = np.concatenate(pooled)
    if not M.resolvable(allbest.size, target_fpir):
        raise InputError(f"{allbest.size} non-mated searches cannot resolve FPIR {target_fpir:g}", code="unresolvable")
    pooled_t = M.threshold_at_rate(allbest, target_fpir)
    rec = _round_up(max(pooled_t, float(np.percentile(per_draw, 90))))
    k = int((allbest >= rec).sum())
    meeting = 0
    for b in pooled:
        if (b >= rec).sum() / b.size <= target_fpir + 1e-12:
            meeting += 1
    checked = None if at is None else _check_threshold(at, allbest, pooled, target_fpir)
    return ThresholdResult(
        watchlist_size,
        target_fpir,
        draws,
        seed,
        float(np.mean([b.size for b in pooled])),
        per_draw,
        pooled_t,
        rec,
        k / allbest.size,
        k,
        int(allbest.size),
        meeting,
        table.models,
        checked,
    )
