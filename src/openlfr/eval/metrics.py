"""Pure metric code (numpy): verification (1:1) and open-set identification (1:N).

Conventions (ARCHITECTURE.md section 4):

- scores are similarities, higher = more alike; a comparison is *accepted* at threshold tau
  when ``score >= tau``;
- verification: FMR(tau) = impostor scores >= tau / impostors, FNMR(tau) = genuine scores < tau
  / genuines, TMR = TAR = 1 - FNMR;
- open-set identification: FPIR(tau) = non-mated searches whose best candidate scores >= tau /
  non-mated searches; FNIR(tau) = mated searches whose mate is not at rank 1 with score >= tau /
  mated searches (a mate tied with a non-mate at the top is *not* rank 1: ties count against it).

Operating points "at a target rate" (TAR at FAR f, FNIR at FPIR f) use the smallest threshold
whose empirical false-positive rate is <= f, i.e. at most ``k = floor(f * n)`` of the ``n``
negatives may be accepted. A threshold exactly at a negative score accepts it, so the chosen
threshold lies strictly above the (k+1)-th highest negative score; we report the midpoint between
that score and the next higher observed score (any score, positive or negative), so that every
threshold in that gap gives the same empirical rates.

A target is *resolvable* only if ``n * f >= 1`` (the target allows at least one false positive;
otherwise an empirical rate of 0 cannot tell the target from any smaller one). Below that, the
value is ``None`` with a reason. Achieved rates come with Clopper-Pearson intervals elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.eval.intervals import clopper_pearson

ArrayLike = npt.ArrayLike
F64 = npt.NDArray[np.float64]

_EPS = 1e-9


def _as_scores(x: ArrayLike) -> F64:
    a = np.asarray(x, dtype=np.float64).ravel()
    if np.isnan(a).any():
        raise ValueError("scores contain NaN; map failures to acquire to a score first")
    return a


def _split(scores: ArrayLike, labels: ArrayLike) -> tuple[F64, F64]:
    s = _as_scores(scores)
    lab = np.asarray(labels).ravel().astype(bool)
    if s.shape != lab.shape:
        raise ValueError(f"scores {s.shape} and labels {lab.shape} differ in length")
    return s[lab], s[~lab]


def allowed_false(n: int, target: float) -> int:
    """How many of ``n`` negatives may be accepted at a target rate: floor(target * n)."""
    return math.floor(target * n + _EPS)


def resolvable(n: int, target: float) -> bool:
    """The rule for reporting a value at a target rate: ``n * target >= 1``."""
    return n > 0 and n * target + _EPS >= 1.0


def threshold_at_rate(negatives: ArrayLike, target: float, others: ArrayLike = ()) -> float:
    """The smallest threshold whose empirical false-positive rate over ``negatives`` is <= target.

    Returns the midpoint between the (k+1)-th highest negative score and the next higher score
    among ``negatives`` and ``others``; if nothing is higher, ``nextafter(score, +inf)``. With
    ``k >= n`` every negative may be accepted and the threshold is ``-inf``.
    """
    neg = np.sort(_as_scores(negatives))[::-1]
    n = neg.size
    k = allowed_false(n, target)
    if k >= n:
        return -math.inf
    cut = float(neg[k])
    pool = np.concatenate([neg, _as_scores(others)])
    above = pool[pool > cut]
    if above.size == 0:
        return float(np.nextafter(cut, math.inf))
    return (cut + float(above.min())) / 2.0


# ---------------------------------------------------------------- verification (1:1)


@dataclass(frozen=True)
class RocCurve:
    """ROC points from the highest threshold down: (FMR, TMR) after accepting scores >= threshold.

    The first point is (0, 0) at threshold +inf; the last is (1, 1) at the lowest score.
    """

    thresholds: F64
    fmr: F64
    tmr: F64

    def to_dict(self) -> dict[str, Any]:
        return {
            "thresholds": [None if math.isinf(t) else float(t) for t in self.thresholds],
            "fmr": self.fmr.tolist(),
            "tmr": self.tmr.tolist(),
        }


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> RocCurve:
    """ROC over every distinct score; labels True = genuine (same person)."""
    gen, imp = _split(scores, labels)
    if gen.size == 0 or imp.size == 0:
        raise ValueError("ROC needs at least one genuine and one impostor score")
    thr = np.unique(np.concatenate([gen, imp]))[::-1]
    gen_sorted = np.sort(gen)
    imp_sorted = np.sort(imp)
    # count of scores >= t = n - searchsorted(sorted, t, 'left')
    tmr = (gen.size - np.searchsorted(gen_sorted, thr, side="left")) / gen.size
    fmr = (imp.size - np.searchsorted(imp_sorted, thr, side="left")) / imp.size
    return RocCurve(
        thresholds=np.concatenate([[math.inf], thr]), fmr=np.concatenate([[0.0], fmr]), tmr=np.concatenate([[0.0], tmr])
    )


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC = P(genuine > impostor) + P(genuine == impostor) / 2 (Mann-Whitney)."""
    gen, imp = _split(scores, labels)
    if gen.size == 0 or imp.size == 0:
        raise ValueError("AUC needs at least one genuine and one impostor score")
    imp_sorted = np.sort(imp)
    below = np.searchsorted(imp_sorted, gen, side="left")
    not_above = np.searchsorted(imp_sorted, gen, side="right")
    return float((below.sum() + 0.5 * (not_above - below).sum()) / (gen.size * imp.size))


def equal_error_rate(scores: ArrayLike, labels: ArrayLike) -> float:
    """EER: where the piecewise-linear ROC crosses FMR = FNMR (i.e. FMR + TMR = 1).

    Along the ROC polyline FMR + TMR rises strictly from 0 to 2, so the crossing is unique; the
    EER is the FMR (= FNMR) at that point, linearly interpolated within its segment.
    """
    roc = roc_curve(scores, labels)
    total = roc.fmr + roc.tmr
    j = int(np.searchsorted(total, 1.0, side="left"))  # first point with total >= 1
    if total[j] == 1.0 or j == 0:
        return float(roc.fmr[j])
    t0, t1 = total[j - 1], total[j]
    w = (1.0 - t0) / (t1 - t0)
    return float(roc.fmr[j - 1] + w * (roc.fmr[j] - roc.fmr[j - 1]))


@dataclass(frozen=True)
class RateAtTarget:
    """A positive rate at the threshold where the negative rate is at most ``target``."""

    target: float
    value: float | None
    threshold: float | None
    achieved: float | None
    """The empirical negative rate actually reached at ``threshold`` (<= target)."""
    negatives: int
    positives: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "value": self.value,
            "threshold": self.threshold,
            "achieved": self.achieved,
            "negatives": self.negatives,
            "positives": self.positives,
            "reason": self.reason,
        }


def _unresolvable(n: int, target: float, what: str) -> str:
    need = math.ceil(1.0 / target - _EPS)
    return f"{n} {what} cannot resolve {target:g} (need at least {need})"


def tar_at_far(scores: ArrayLike, labels: ArrayLike, far: float) -> RateAtTarget:
    """TAR (= 1 - FNMR) at the smallest threshold with FMR <= ``far``."""
    gen, imp = _split(scores, labels)
    if gen.size == 0:
        return RateAtTarget(far, None, None, None, imp.size, 0, "no genuine pairs")
    if not resolvable(imp.size, far):
        return RateAtTarget(far, None, None, None, imp.size, gen.size, _unresolvable(imp.size, far, "impostor pairs"))
    t = threshold_at_rate(imp, far, gen)
    achieved = float((imp >= t).sum() / imp.size)
    return RateAtTarget(far, float((gen >= t).sum() / gen.size), _finite(t), achieved, imp.size, gen.size)


def _finite(t: float) -> float | None:
    return None if math.isinf(t) else float(t)


def best_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold maximising accuracy on (scores, labels).

    Candidates are the midpoints between consecutive distinct scores, plus one below the lowest
    and one above the highest. When several give the same best accuracy, the median candidate
    (the upper middle one for an even count) is chosen.
    """
    s = _as_scores(scores)
    lab = np.asarray(labels).ravel().astype(bool)
    if s.size == 0:
        raise ValueError("no scores to choose a threshold from")
    u = np.unique(s)
    cands = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2.0, [u[-1] + 1.0]])
    gen_sorted = np.sort(s[lab])
    imp_sorted = np.sort(s[~lab])
    tp = gen_sorted.size - np.searchsorted(gen_sorted, cands, side="left")
    tn = np.searchsorted(imp_sorted, cands, side="left")
    correct = tp + tn
    best = np.flatnonzero(correct == correct.max())
    return float(cands[best[len(best) // 2]])


def accuracy(scores: ArrayLike, labels: ArrayLike, threshold: float) -> float:
    s = _as_scores(scores)
    lab = np.asarray(labels).ravel().astype(bool)
    if s.size == 0:
        raise ValueError("no scores")
    return float(((s >= threshold) == lab).mean())


@dataclass(frozen=True)
class KFoldAccuracy:
    mean: float
    std: float
    """Sample standard deviation (ddof=1) of the per-fold accuracies."""
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.mean,
            "accuracy_std": self.std,
            "fold_accuracies": list(self.fold_accuracies),
            "fold_thresholds": list(self.fold_thresholds),
        }


def kfold_accuracy(scores: ArrayLike, labels: ArrayLike, folds: ArrayLike) -> KFoldAccuracy:
    """LFW protocol: for each fold, the threshold is chosen on all the other folds."""
    s = _as_scores(scores)
    lab = np.asarray(labels).ravel().astype(bool)
    f = np.asarray(folds).ravel()
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError("k-fold accuracy needs at least two folds")
    accs, thrs = [], []
    for k in ids:
        test = f == k
        t = best_threshold(s[~test], lab[~test])
        thrs.append(t)
        accs.append(accuracy(s[test], lab[test], t))
    arr = np.asarray(accs)
    return KFoldAccuracy(float(arr.mean()), float(arr.std(ddof=1)), tuple(accs), tuple(thrs))


# ---------------------------------------------------------------- open-set identification (1:N)


@dataclass(frozen=True)
class SearchOutcomes:
    """What the identification metrics need from a set of searches against one watchlist.

    - ``mated_score``: the mate's score per mated search (``-inf`` when the probe or the mate
      failed to acquire: a miss at every threshold);
    - ``mated_rank1``: whether the mate is strictly above every non-mate for that search;
    - ``nonmated_max``: the best candidate's score per non-mated search (``-inf``: no candidate).
    """

    mated_score: F64
    mated_rank1: npt.NDArray[np.bool_]
    nonmated_max: F64
    watchlist_size: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mated(self) -> int:
        return int(self.mated_score.size)

    @property
    def nonmated(self) -> int:
        return int(self.nonmated_max.size)


def search_outcomes(scores: ArrayLike, mate: ArrayLike, watchlist_size: int | None = None) -> SearchOutcomes:
    """From a (searches x watchlist identities) score matrix and each search's mate column
    (``-1`` for a non-mated search). A row of ``-inf`` marks a failed probe."""
    sc = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mate, dtype=np.int64).ravel()
    if sc.ndim != 2 or sc.shape[0] != m.size:
        raise ValueError(f"scores {sc.shape} do not match {m.size} searches")
    n_ids = sc.shape[1]
    if (m >= n_ids).any():
        raise ValueError("mate index outside the watchlist")
    is_mated = m >= 0
    if n_ids == 0:
        best = np.full(sc.shape[0], -math.inf)
    else:
        best = sc.max(axis=1)
    mrows = sc[is_mated]
    mcols = m[is_mated]
    mate_score = mrows[np.arange(mrows.shape[0]), mcols] if mrows.size else np.zeros(0)
    if mrows.size:
        others = mrows.copy()
        others[np.arange(mrows.shape[0]), mcols] = -math.inf
        rank1 = (mate_score > others.max(axis=1)) & np.isfinite(mate_score)
    else:
        rank1 = np.zeros(0, dtype=bool)
    return SearchOutcomes(
        mated_score=mate_score.astype(np.float64),
        mated_rank1=rank1,
        nonmated_max=best[~is_mated].astype(np.float64),
        watchlist_size=int(watchlist_size if watchlist_size is not None else n_ids),
    )


def fpir(outcomes: SearchOutcomes, threshold: float) -> float | None:
    if outcomes.nonmated == 0:
        return None
    return float((outcomes.nonmated_max >= threshold).sum() / outcomes.nonmated)


def fnir(outcomes: SearchOutcomes, threshold: float) -> float | None:
    if outcomes.mated == 0:
        return None
    hit = outcomes.mated_rank1 & (outcomes.mated_score >= threshold)
    return float(1.0 - hit.sum() / outcomes.mated)


def rank1_rate(outcomes: SearchOutcomes) -> float | None:
    """Closed-set rank-1 identification rate (no threshold)."""
    if outcomes.mated == 0:
        return None
    return float(outcomes.mated_rank1.mean())


def fnir_at_fpir(outcomes: SearchOutcomes, target: float) -> RateAtTarget:
    """FNIR at the smallest threshold with FPIR <= target (``value`` is the FNIR)."""
    n, m = outcomes.nonmated, outcomes.mated
    if m == 0:
        return RateAtTarget(target, None, None, None, n, 0, "no mated searches")
    if not resolvable(n, target):
        return RateAtTarget(target, None, None, None, n, m, _unresolvable(n, target, "non-mated searches"))
    finite_neg = outcomes.nonmated_max
    t = threshold_at_rate(finite_neg, target, outcomes.mated_score[np.isfinite(outcomes.mated_score)])
    return RateAtTarget(target, fnir(outcomes, t), _finite(t), fpir(outcomes, t), n, m)


@dataclass(frozen=True)
class DetCurve:
    """FPIR and FNIR at every distinct observed score (descending), for plotting."""

    thresholds: F64
    fpir: F64
    fnir: F64

    def to_dict(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds.tolist(), "fpir": self.fpir.tolist(), "fnir": self.fnir.tolist()}


def det_curve(outcomes: SearchOutcomes) -> DetCurve:
    if outcomes.mated == 0 or outcomes.nonmated == 0:
        raise ValueError("a DET curve needs mated and non-mated searches")
    pool = np.concatenate([outcomes.nonmated_max, outcomes.mated_score])
    thr = np.unique(pool[np.isfinite(pool)])[::-1]
    neg = np.sort(outcomes.nonmated_max)
    hits = np.sort(outcomes.mated_score[outcomes.mated_rank1])
    fp = (neg.size - np.searchsorted(neg, thr, side="left")) / neg.size
    tp = (hits.size - np.searchsorted(hits, thr, side="left")) / outcomes.mated
    return DetCurve(thresholds=thr, fpir=fp, fnir=1.0 - tp)


def rate_with_interval(k: int, n: int, confidence: float = 0.95) -> dict[str, Any]:
    """``{"rate", "k", "n", "ci"}``; rate and interval ``None`` when n == 0."""
    ci = clopper_pearson(k, n, confidence)
    return {"rate": (k / n) if n else None, "k": int(k), "n": int(n), "ci": None if ci is None else [ci[0], ci[1]]}
