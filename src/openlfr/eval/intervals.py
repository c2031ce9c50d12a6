"""Binomial confidence intervals used by reports, evaluation and fairness.

:func:`clopper_pearson` solves the binomial tail equations directly (numpy, bisection on the
log-odds) when the shorter tail has at most :data:`_DIRECT_TERMS` terms, which covers the intervals
computed on every command's path (operating points at low FPIR: few impostor scores above the
threshold), so those commands do not import ``scipy.stats`` (~0.5 s). Larger counts use the Beta
quantiles of ``scipy.stats`` (imported then). Both give the same bounds (a test compares them).
"""

from __future__ import annotations

import math

import numpy as np

_DIRECT_TERMS = 4000
"""Largest number of binomial terms summed directly; beyond it scipy's Beta quantiles are used."""


def _log_terms(n: int, lo: int, hi: int) -> np.ndarray:
    """log C(n, i) for i = lo..hi (inclusive)."""
    i = np.arange(lo, hi, dtype=np.float64)
    steps = np.log((n - i) / (i + 1.0))
    first = math.lgamma(n + 1) - math.lgamma(lo + 1) - math.lgamma(n - lo + 1)
    return np.concatenate([[first], first + np.cumsum(steps)])


def _tail(logc: np.ndarray, idx: np.ndarray, n: int, p_logit: float) -> float:
    """sum over i in idx of C(n, i) p^i (1-p)^(n-i), for p = sigmoid(p_logit)."""
    log_p = -math.log1p(math.exp(-p_logit)) if p_logit > -700 else p_logit
    log_q = -math.log1p(math.exp(p_logit)) if p_logit < 700 else -p_logit
    v = logc + idx * log_p + (n - idx) * log_q
    m = float(v.max())
    return math.exp(m) * float(np.exp(v - m).sum()) if m > -745 else 0.0


def _solve(f: object, target: float, increasing: bool) -> float:
    """p in (0, 1) with f(logit p) = target, for a monotone f; bisection on the log-odds."""
    lo, hi = -80.0, 80.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        val = f(mid)  # type: ignore[operator]
        if (val < target) == increasing:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    mid = (lo + hi) / 2.0
    return 1.0 / (1.0 + math.exp(-mid))


def _bound_direct(k: int, n: int, q: float, lower: bool) -> float:
    """Lower bound: p with P(X >= k) = q; upper bound: p with P(X <= k) = q (X ~ Bin(n, p))."""
    # the event whose probability is solved for: lower -> X >= k (i in k..n); upper -> X <= k (0..k)
    a, b = (k, n) if lower else (0, k)
    if b - a + 1 <= n + 1 - (b - a + 1):  # the event's own terms are the fewer
        logc, idx = _log_terms(n, a, b), np.arange(a, b + 1, dtype=np.float64)

        def f(t: float) -> float:
            return _tail(logc, idx, n, t)
    else:  # the complement's terms
        ca, cb = (0, k - 1) if lower else (k + 1, n)
        logc, idx = _log_terms(n, ca, cb), np.arange(ca, cb + 1, dtype=np.float64)

        def f(t: float) -> float:
            return 1.0 - _tail(logc, idx, n, t)

    return _solve(f, q, increasing=lower)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Exact (Clopper-Pearson) interval for k successes in n trials; ``None`` when n == 0.

    With k == 0 the lower bound is 0 and the upper bound is 1 - (alpha/2)^(1/n) (about 3.7/n at 95%).
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return None
    alpha = 1.0 - confidence
    k, n = int(k), int(n)
    if min(k + 1, n - k + 1) <= _DIRECT_TERMS:
        lo = 0.0 if k == 0 else _bound_direct(k, n, alpha / 2, lower=True)
        hi = 1.0 if k == n else _bound_direct(k, n, alpha / 2, lower=False)
        return lo, hi
    from scipy.stats import beta  # imported only here: scipy.stats costs ~0.5 s

    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi
