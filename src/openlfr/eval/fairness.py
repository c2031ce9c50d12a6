"""Fairness: error rates per group at a threshold, their spread, and where differences are significant.

Groups come from a labels file the user supplies; the system never infers sex, ethnicity or age.
Per group, at the operating threshold:

- FPIR: the group's non-mated searches with any candidate >= threshold;
- FNIR: the group's mated searches whose mate is not rank 1 with score >= threshold;
- failure to acquire (FTA): the group's images where no face was found or the quality gate
  rejected the chosen face.

Each rate has a 95% Clopper-Pearson interval. The spread is the max/min ratio over the groups
that have data (``None`` with a reason when the smallest rate is 0 or fewer than two groups
have data).

Significance: at each threshold, the groups with the highest and lowest rate are compared with
Fisher's exact test (two-sided) on their 2x2 table; because that pair is chosen after looking,
the p-value is Bonferroni-adjusted by the number of group pairs, G(G-1)/2. Fisher's test treats
every search as independent, which overstates significance when some people contribute many
images (LFW: one identity has 530). When the searches carry the identity they belong to (as
``openlfr eval fairness`` provides), the decision uses an **identity-level permutation test**
instead: units are (identity, group) clusters, the statistic is max - min of the group rates,
and group labels are permuted across units (``n_perm`` times, seeded); p = (1 + #{permuted
statistic >= observed}) / (1 + n_perm). Because the statistic already spans all groups, no
further correction is applied. Both p-values are reported. A difference is significant when the
deciding p-value is below ``alpha`` (0.05). The sweep reports the highest threshold at which the
FPIR difference is significant (FPIR grows, and differences become measurable, as the threshold
falls) and the lowest at which the FNIR difference is. The sweep tests many thresholds without a
correction across them: read it as a map, not as one test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import fisher_exact

from openlfr.eval.intervals import clopper_pearson
from openlfr.eval.metrics import SearchOutcomes


@dataclass(frozen=True)
class GroupData:
    """One group's searches (against the shared watchlist) and acquisition attempts."""

    name: str
    outcomes: SearchOutcomes
    attempts: int
    failures_to_acquire: int
    mated_units: np.ndarray | None = None
    """Cluster id (e.g. identity) per mated search, for the permutation test."""
    nonmated_units: np.ndarray | None = None
    attempt_units: np.ndarray | None = None
    attempt_failed: np.ndarray | None = None
    """Per attempt (aligned with ``attempt_units``): failed to acquire."""

    @property
    def has_units(self) -> bool:
        return (
            self.mated_units is not None
            and self.nonmated_units is not None
            and self.attempt_units is not None
            and self.attempt_failed is not None
        )

    def unit_events(self, metric: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """(unit id, event) per trial of ``metric`` at ``threshold`` (needs ``has_units``)."""
        o = self.outcomes
        if metric == "fpir":
            assert self.nonmated_units is not None
            return self.nonmated_units, o.nonmated_max >= threshold
        if metric == "fnir":
            assert self.mated_units is not None
            return self.mated_units, ~(o.mated_rank1 & (o.mated_score >= threshold))
        assert self.attempt_units is not None and self.attempt_failed is not None
        return self.attempt_units, self.attempt_failed

    def counts(self, threshold: float) -> dict[str, tuple[int, int]]:
        o = self.outcomes
        fp = int((o.nonmated_max >= threshold).sum())
        miss = int(o.mated - (o.mated_rank1 & (o.mated_score >= threshold)).sum())
        return {"fpir": (fp, o.nonmated), "fnir": (miss, o.mated), "fta": (self.failures_to_acquire, self.attempts)}


METRICS = ("fpir", "fnir", "fta")


@dataclass(frozen=True)
class Comparison:
    """The spread of one metric across groups at one threshold."""

    metric: str
    max_group: str | None
    min_group: str | None
    ratio: float | None
    p_value: float | None
    """Fisher exact, Bonferroni-adjusted; ``None`` when fewer than two groups have data."""
    significant: bool
    reason: str | None = None
    p_value_permutation: float | None = None
    """Identity-level permutation p-value, when the searches carry identities."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_group": self.max_group,
            "min_group": self.min_group,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "p_value_permutation": self.p_value_permutation,
            "significant": self.significant,
            "reason": self.reason,
        }


def compare(metric: str, counts: dict[str, tuple[int, int]], alpha: float = 0.05) -> Comparison:
    """Compare one metric's rate across groups given ``{group: (k, n)}``."""
    have = {g: (k, n) for g, (k, n) in counts.items() if n > 0}
    if len(have) < 2:
        return Comparison(metric, None, None, None, None, False, "fewer than two groups with data")
    rates = {g: k / n for g, (k, n) in have.items()}
    # deterministic order: by rate, then name
    hi = max(sorted(rates), key=lambda g: rates[g])
    lo = min(sorted(rates), key=lambda g: rates[g])
    reason = None
    if rates[lo] == 0.0:
        ratio = None
        reason = "the lowest rate is 0" if rates[hi] > 0 else "every group's rate is 0"
    else:
        ratio = rates[hi] / rates[lo]
    (k1, n1), (k2, n2) = have[hi], have[lo]
    _, p = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    g = len(have)
    p_adj = min(1.0, float(p) * g * (g - 1) / 2)
    return Comparison(metric, hi, lo, ratio, p_adj, p_adj < alpha, reason)


def permutation_p(
    groups: Sequence[GroupData], metric: str, threshold: float, n_perm: int = 2000, seed: int = 0
) -> float | None:
    """Identity-level permutation test of max - min group rate (see the module docstring)."""
    ks, ns, gs = [], [], []
    for gi, gd in enumerate(groups):
        units, events = gd.unit_events(metric, threshold)
        if units.size == 0:
            continue
        uniq, inv = np.unique(units, return_inverse=True)
        ks.append(np.bincount(inv, weights=events.astype(np.float64), minlength=uniq.size))
        ns.append(np.bincount(inv, minlength=uniq.size).astype(np.float64))
        gs.append(np.full(uniq.size, gi))
    if len({int(g[0]) for g in gs}) < 2:
        return None
    k, n, g = np.concatenate(ks), np.concatenate(ns), np.concatenate(gs)
    _, g = np.unique(g, return_inverse=True)
    n_groups = int(g.max()) + 1

    def stat(labels: np.ndarray) -> float:
        kk = np.bincount(labels, weights=k, minlength=n_groups)
        nn = np.bincount(labels, weights=n, minlength=n_groups)
        r = kk / np.maximum(nn, 1e-12)
        return float(r.max() - r.min())

    observed = stat(g)
    rng = np.random.default_rng(seed)
    hits = sum(1 for _ in range(n_perm) if stat(rng.permutation(g)) >= observed - 1e-12)
    return (1 + hits) / (1 + n_perm)


@dataclass(frozen=True)
class FairnessReport:
    threshold: float
    groups: dict[str, dict[str, Any]]
    comparisons: dict[str, Comparison]
    sweep: list[dict[str, Any]]
    fpir_significant_at_or_below: float | None
    fnir_significant_at_or_above: float | None
    reasons: dict[str, str]
    alpha: float
    test: str = "fisher-exact two-sided, extreme groups, bonferroni"

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "alpha": self.alpha,
            "groups": self.groups,
            "ratio": {m: c.ratio for m, c in self.comparisons.items()},
            "comparisons": {m: c.to_dict() for m, c in self.comparisons.items()},
            "significance": {
                "test": self.test,
                "fpir_significant_at_or_below": self.fpir_significant_at_or_below,
                "fnir_significant_at_or_above": self.fnir_significant_at_or_above,
            },
            "sweep": self.sweep,
            "reason": self.reasons,
        }


def _rate(k: int, n: int) -> dict[str, Any]:
    ci = clopper_pearson(k, n)
    return {"value": (k / n) if n else None, "k": k, "n": n, "ci": None if ci is None else [ci[0], ci[1]]}


def fairness_report(
    groups: Sequence[GroupData],
    threshold: float,
    sweep: Sequence[float] | None = None,
    alpha: float = 0.05,
    n_perm: int = 2000,
    seed: int = 0,
) -> FairnessReport:
    if sweep is None:
        sweep = [float(t) for t in np.round(np.arange(0.80, 1.0001, 0.005), 4)]
    per_group: dict[str, dict[str, Any]] = {}
    at: dict[str, dict[str, tuple[int, int]]] = {m: {} for m in METRICS}
    for gd in groups:
        c = gd.counts(threshold)
        per_group[gd.name] = {"images": gd.attempts, **{m: _rate(*c[m]) for m in METRICS}}
        for m in METRICS:
            at[m][gd.name] = c[m]
    comparisons = {m: compare(m, at[m], alpha) for m in METRICS}
    clustered = bool(groups) and all(gd.has_units for gd in groups)
    if clustered:
        for m in METRICS:
            p = permutation_p(groups, m, threshold, n_perm, seed)
            fc = comparisons[m]
            comparisons[m] = Comparison(
                fc.metric, fc.max_group, fc.min_group, fc.ratio, fc.p_value, p is not None and p < alpha, fc.reason, p
            )
    rows = [_sweep_row(groups, t, alpha, clustered, n_perm, seed) for t in sorted(set(sweep))]
    # the highest threshold with a significant FPIR difference, the lowest with a significant FNIR one
    fpir_sig = max((r["threshold"] for r in rows if r["fpir_significant"]), default=None)
    fnir_sig = min((r["threshold"] for r in rows if r["fnir_significant"]), default=None)
    reasons = _reasons(groups, comparisons, fpir_sig, fnir_sig)
    test = (
        "identity-level permutation of max - min group rate (fisher exact reported alongside)"
        if clustered
        else "fisher-exact two-sided, extreme groups, bonferroni"
    )
    return FairnessReport(threshold, per_group, comparisons, rows, fpir_sig, fnir_sig, reasons, alpha, test)


def _sweep_row(
    groups: Sequence[GroupData], t: float, alpha: float, clustered: bool, n_perm: int, seed: int
) -> dict[str, Any]:
    """Per group FPIR and FNIR at threshold ``t``, with the test of their difference."""
    cnt = {gd.name: gd.counts(t) for gd in groups}
    row: dict[str, Any] = {"threshold": t}
    for m in ("fpir", "fnir"):
        cmp = compare(m, {g: cnt[g][m] for g in cnt}, alpha)
        row[m] = {g: (k / n if n else None) for g, (k, n) in ((g, cnt[g][m]) for g in cnt)}
        row[f"{m}_p_value"] = cmp.p_value
        significant = cmp.significant
        if clustered:
            pp = permutation_p(groups, m, t, n_perm, seed)
            row[f"{m}_p_value_permutation"] = pp
            significant = pp is not None and pp < alpha
        row[f"{m}_significant"] = significant
    return row


def _reasons(
    groups: Sequence[GroupData], comparisons: dict[str, Comparison], fpir_sig: float | None, fnir_sig: float | None
) -> dict[str, str]:
    """Why figures of the report are missing: no significant difference, no ratio, empty groups."""
    reasons: dict[str, str] = {}
    if fpir_sig is None:
        reasons["fpir_significant_at_or_below"] = "no FPIR difference is significant in the sweep"
    if fnir_sig is None:
        reasons["fnir_significant_at_or_above"] = "no FNIR difference is significant in the sweep"
    for m, comp in comparisons.items():
        if comp.reason:
            reasons[f"ratio.{m}"] = comp.reason
    empty = [gd.name for gd in groups if gd.attempts == 0]
    if empty:
        reasons["empty_groups"] = ", ".join(sorted(empty))
    return reasons


def finite_or_none(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else x
