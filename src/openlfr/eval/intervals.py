"""Binomial confidence intervals used by reports, evaluation and fairness."""

from __future__ import annotations

from scipy.stats import beta


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Exact (Clopper-Pearson) interval for k successes in n trials; ``None`` when n == 0.

    With k == 0 the lower bound is 0 and the upper bound is 1 - (alpha/2)^(1/n) (about 3.7/n at 95%).
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return None
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi
