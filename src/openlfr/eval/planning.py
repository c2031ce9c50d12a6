"""Planning a deployment: expected alerts from faces seen, prevalence and the operating point.

ARCHITECTURE.md section 4, for F faces seen and a prevalence pi of watchlisted people:

- E[false alerts] = F (1 - pi) FPIR
- E[true alerts]  = F pi TPIR
- precision       = pi TPIR / (pi TPIR + (1 - pi) FPIR)

FPIR for a watchlist of N comes from the per-comparison false match rate as FPIR ~= N FMR
(capped at 1). Intervals propagate the Clopper-Pearson intervals of the measured rates: the
expected counts scale monotonically with each rate, and the precision interval pairs the low
TPIR with the high FPIR (and vice versa), so it is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openlfr.eval.intervals import clopper_pearson


@dataclass(frozen=True)
class Rate:
    """A rate with its 95% interval and, when measured, the counts behind it."""

    value: float
    lo: float
    hi: float
    k: int | None = None
    n: int | None = None

    @classmethod
    def exact(cls, value: float) -> Rate:
        return cls(value, value, value)

    @classmethod
    def measured(cls, k: int, n: int, confidence: float = 0.95) -> Rate:
        ci = clopper_pearson(k, n, confidence)
        if ci is None:
            raise ValueError("a measured rate needs n > 0")
        return cls(k / n, ci[0], ci[1], k, n)

    def scaled(self, factor: float) -> Rate:
        """``factor`` times this rate, capped at 1 (FPIR ~= N FMR)."""
        return Rate(
            min(1.0, self.value * factor), min(1.0, self.lo * factor), min(1.0, self.hi * factor), self.k, self.n
        )

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": [self.lo, self.hi], "k": self.k, "n": self.n}


def fpir_from_fmr(fmr: float, watchlist_size: int) -> float:
    """FPIR ~= N * FMR, capped at 1 (the first-order form of 1 - (1 - FMR)^N)."""
    if watchlist_size < 0 or not 0.0 <= fmr <= 1.0:
        raise ValueError("need N >= 0 and 0 <= FMR <= 1")
    return min(1.0, watchlist_size * fmr)


def expected_false_alerts(faces: float, prevalence: float, fpir: float) -> float:
    return faces * (1.0 - prevalence) * fpir


def expected_true_alerts(faces: float, prevalence: float, tpir: float) -> float:
    return faces * prevalence * tpir


def expected_precision(prevalence: float, tpir: float, fpir: float) -> float | None:
    """Share of alerts that are right; ``None`` when no alert is expected at all."""
    num = prevalence * tpir
    den = num + (1.0 - prevalence) * fpir
    return None if den == 0 else num / den


@dataclass(frozen=True)
class Plan:
    faces: float
    watchlist_size: int
    prevalence: float
    threshold: float | None
    fpir: Rate
    tpir: Rate
    false_alerts: tuple[float, float, float]
    true_alerts: tuple[float, float, float]
    precision: tuple[float | None, float | None, float | None]
    source: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def tri(t: tuple[Any, Any, Any]) -> dict[str, Any]:
            return {"value": t[0], "ci": [t[1], t[2]]}

        fa = self.false_alerts[0]
        alerts = fa + self.true_alerts[0]
        return {
            "faces": self.faces,
            "watchlist_size": self.watchlist_size,
            "prevalence": self.prevalence,
            "threshold": self.threshold,
            "fpir": self.fpir.to_dict(),
            "tpir": self.tpir.to_dict(),
            "expected_false_alerts": tri(self.false_alerts),
            "expected_true_alerts": tri(self.true_alerts),
            "expected_alerts": alerts,
            "expected_precision": tri(self.precision),
            "false_alerts_per_face_seen": fa / self.faces if self.faces else None,
            "share_of_alerts_wrong": (fa / alerts) if alerts else None,
            "source": self.source,
            "notes": list(self.notes),
        }


def plan(
    faces: float,
    prevalence: float,
    fpir: Rate,
    tpir: Rate,
    watchlist_size: int,
    threshold: float | None = None,
    source: str = "",
    notes: tuple[str, ...] = (),
) -> Plan:
    if faces < 0:
        raise ValueError("faces must be >= 0")
    if not 0.0 <= prevalence <= 1.0:
        raise ValueError("prevalence must be in [0, 1]")
    fa = (
        expected_false_alerts(faces, prevalence, fpir.value),
        expected_false_alerts(faces, prevalence, fpir.lo),
        expected_false_alerts(faces, prevalence, fpir.hi),
    )
    ta = (
        expected_true_alerts(faces, prevalence, tpir.value),
        expected_true_alerts(faces, prevalence, tpir.lo),
        expected_true_alerts(faces, prevalence, tpir.hi),
    )
    prec = (
        expected_precision(prevalence, tpir.value, fpir.value),
        expected_precision(prevalence, tpir.lo, fpir.hi),
        expected_precision(prevalence, tpir.hi, fpir.lo),
    )
    return Plan(faces, watchlist_size, prevalence, threshold, fpir, tpir, fa, ta, prec, source, notes)
