"""The operating point for a watchlist's actual size: target FPIR -> threshold, with its figures.

A fixed per-model threshold is set for one list size (``engine/thresholds.py``: 1,000 people).
Smaller lists then run far stricter than needed and miss most people; larger ones raise more false
alerts than planned. Here the threshold comes from the embedder's calibration
(:mod:`openlfr.eval.calibration`) for the list's size N: FPIR(N, tau) ~= N * FMR(tau), so for a
target FPIR P the threshold is the smallest grid score with FMR <= P / N. The same calibration
gives the figures shown before authorisation:

- expected false alerts per 10,000 faces seen = 10,000 * N * FMR(tau) (point estimate and the
  upper end of its 95% Clopper-Pearson interval; N * FMR is the union bound, so it does not
  understate the rate);
- expected TPIR at tau: the share of mated searches in the calibration's own identification run
  (one photo enrolled per person) whose mate was found at rank 1 scoring >= tau. That run used
  the calibration set's gallery size (e.g. 1,147 people for lfw-dev), which is noted; without an
  identification run TPIR is ``None`` with the reason.

The *safe band* (settings ``safe_fpir_min``/``safe_fpir_max``, default 1e-5 to 1e-3, i.e. 0.1 to
10 expected false alerts per 10,000 faces) is where an operating point may be authorised without
a written justification. For a target FPIR the target itself is compared with the band; for a
threshold override, the FPIR the calibration implies at that threshold and list size (an
override without a calibration has unknown figures and is outside the band).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from openlfr.errors import ConfigError, InputError, NotFoundError
from openlfr.eval.calibration import MIN_TAIL_PAIRS, Calibration, calibration_path, load_calibration
from openlfr.eval.intervals import clopper_pearson
from openlfr.settings import Settings

PER = 10_000
"""Expected false alerts are given per this many faces seen."""

SOURCES = ("target_fpir", "override", "model_default")


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold for one embedder family and watchlist size, how it was chosen, and what it implies."""

    family: str
    watchlist_size: int
    threshold: float
    source: str
    """``target_fpir`` (from the calibration), ``override`` (an explicit threshold) or
    ``model_default`` (the family's fixed measured default; only where no calibration exists)."""
    target_fpir: float | None
    fpir: float | None
    """N * FMR at the threshold from the calibration's counts; ``None`` without a calibration."""
    fpir_ci: tuple[float, float] | None
    impostor_ge: int | None
    impostor_n: int | None
    tpir: float | None
    tpir_ci: tuple[float, float] | None
    mated_hits: int | None
    mated_n: int | None
    tpir_reason: str
    calibration: dict[str, Any] | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def false_alerts_per_10000(self) -> float | None:
        return None if self.fpir is None else self.fpir * PER

    @property
    def false_alerts_per_10000_upper(self) -> float | None:
        return None if self.fpir_ci is None else self.fpir_ci[1] * PER

    @property
    def effective_fpir(self) -> float | None:
        """The FPIR the safe band is judged on: the target when one was set, else the estimate."""
        return self.target_fpir if self.source == "target_fpir" else self.fpir

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family, "watchlist_size": self.watchlist_size, "threshold": self.threshold,
            "source": self.source, "target_fpir": self.target_fpir,
            "expected_fpir": self.fpir, "expected_fpir_ci": list(self.fpir_ci) if self.fpir_ci else None,
            "impostor_comparisons_ge": self.impostor_ge, "impostor_comparisons": self.impostor_n,
            "expected_false_alerts_per_10000": self.false_alerts_per_10000,
            "expected_false_alerts_per_10000_upper": self.false_alerts_per_10000_upper,
            "expected_tpir": self.tpir, "expected_tpir_ci": list(self.tpir_ci) if self.tpir_ci else None,
            "mated_hits": self.mated_hits, "mated_searches": self.mated_n, "tpir_reason": self.tpir_reason,
            "calibration": self.calibration, "notes": list(self.notes),
        }


def _cal_info(cal: Calibration, settings: Settings | None) -> dict[str, Any]:
    p = calibration_path(cal.family, settings)
    src = cal.source or {}
    return {"family": cal.family, "embedder_model_id": cal.embedder_model_id, "created_at": cal.created_at,
            "file": p.name if p is not None else None,
            "shipped": bool(p is not None and p.parent.name == "calibrations"),
            "impostor_comparisons": cal.impostor_n, "genuine_comparisons": cal.genuine_n,
            "images": src.get("images"), "identities": src.get("identities")}


def _figures(cal: Calibration, threshold: float, n: int) -> dict[str, Any]:
    fpir, ci, k, total = cal.fpir(threshold, n)
    out: dict[str, Any] = {"fpir": fpir, "fpir_ci": ci, "impostor_ge": k, "impostor_n": total}
    t = cal.tpir(threshold)
    if t is None:
        out.update(tpir=None, tpir_ci=None, mated_hits=None, mated_n=None,
                   tpir_reason="this calibration has no identification run (no mated searches), so it "
                               "cannot estimate TPIR; re-run `openlfr eval calibrate`")
    elif t[1] == 0:
        out.update(tpir=None, tpir_ci=None, mated_hits=0, mated_n=0,
                   tpir_reason="the calibration's identification run has no mated searches")
    else:
        hits, mated = t
        tci = clopper_pearson(hits, mated)
        size = (cal.identify or {}).get("watchlist_size")
        out.update(tpir=hits / mated, tpir_ci=tci, mated_hits=hits, mated_n=mated,
                   tpir_reason=f"rank-1 hit rate of the calibration's {mated:,} mated searches against "
                               f"a {size:,}-person gallery, one photo each (not measured at this list's size)"
                   if isinstance(size, int) else "rank-1 hit rate of the calibration's mated searches")
    return out


def operating_point(family: str, watchlist_size: int, *, target_fpir: float | None = None,
                    threshold: float | None = None, settings: Settings | None = None) -> OperatingPoint:
    """The threshold for ``family`` at ``watchlist_size`` and what it implies.

    With ``threshold`` (an override) the figures are those the calibration implies at it (``None``
    when the family has no calibration). Otherwise the threshold is the calibration's for
    ``target_fpir`` (default ``settings.default_target_fpir``) at this size. Raises
    ``NotFoundError`` (``no_calibration``, naming ``openlfr eval calibrate``) when a target is asked
    for a family without a calibration, and ``ConfigError`` (``calibration_too_small``) when the
    target per comparison (FPIR / N) is below what the calibration's impostor comparisons resolve.
    """
    if settings is None:
        from openlfr.settings import load_settings

        settings = load_settings()
    if watchlist_size < 1:
        raise InputError("the watchlist is empty: an operating point needs at least one person",
                         code="empty_watchlist")
    if threshold is not None and target_fpir is not None:
        raise InputError("give either a threshold or a target FPIR, not both", code="bad_threshold")
    if threshold is not None:
        if not (0.0 <= threshold <= 1.0) or math.isnan(threshold):
            raise InputError(f"threshold must be in [0, 1], got {threshold}", code="bad_threshold")
        try:
            cal = load_calibration(family, settings)
        except NotFoundError:
            return OperatingPoint(family, watchlist_size, float(threshold), "override", None, None, None, None,
                                  None, None, None, None, None,
                                  f"no calibration for {family}: TPIR unknown", None,
                                  (f"no calibration for {family}, so the false-alert rate at this threshold "
                                   "is unknown; make one with `openlfr eval calibrate --images DIR`",))
        f = _figures(cal, float(threshold), watchlist_size)
        notes: list[str] = []
        if f["impostor_ge"] == 0:
            notes.append(f"no impostor comparison of the calibration's {cal.impostor_n:,} scored at or above "
                         f"{threshold:.4f}: the false-alert rate is below what it resolves (upper bound shown)")
        return OperatingPoint(family, watchlist_size, float(threshold), "override", None, f["fpir"], f["fpir_ci"],
                              f["impostor_ge"], f["impostor_n"], f["tpir"], f["tpir_ci"], f["mated_hits"],
                              f["mated_n"], f["tpir_reason"], _cal_info(cal, settings), tuple(notes))
    target = settings.default_target_fpir if target_fpir is None else float(target_fpir)
    if not 0.0 < target < 1.0 or math.isnan(target):
        raise InputError(f"target FPIR must be in (0, 1), got {target}", code="bad_fpir")
    try:
        cal = load_calibration(family, settings)
    except NotFoundError as exc:
        raise NotFoundError(f"no calibration for embedder {family}, so a target FPIR cannot be turned into a "
                            "threshold: make one with `openlfr eval calibrate --images DIR` (a labelled "
                            "folder of faces), or give an explicit threshold", code="no_calibration") from exc
    per = target / watchlist_size
    try:
        thr = cal.threshold_for_fpir(target, watchlist_size)
    except ConfigError as exc:
        if exc.code != "calibration_too_small":
            raise
        raise InputError(  # the caller's target is beyond what the calibration resolves: a 422, not a 500
            f"target FPIR {target:g} at a {watchlist_size:,}-person list needs a false match rate of {per:.3g} per "
            f"comparison; the calibration of {family} has {cal.impostor_n:,} impostor comparisons and resolves "
            f"no less than {MIN_TAIL_PAIRS / cal.impostor_n:.3g} (at least {MIN_TAIL_PAIRS} impostor pairs above the "
            f"threshold; it would need {math.ceil(MIN_TAIL_PAIRS / per):,} comparisons). Not extrapolating: raise "
            "the target, shorten the list, or calibrate on more faces",
            code="calibration_too_small") from exc
    f = _figures(cal, thr, watchlist_size)
    return OperatingPoint(family, watchlist_size, thr, "target_fpir", target, f["fpir"], f["fpir_ci"],
                          f["impostor_ge"], f["impostor_n"], f["tpir"], f["tpir_ci"], f["mated_hits"], f["mated_n"],
                          f["tpir_reason"], _cal_info(cal, settings),
                          (f"smallest calibrated threshold with {watchlist_size:,} x FMR <= {target:g} "
                           f"(FMR <= {per:.3g} per comparison)",))


@dataclass(frozen=True)
class Guardrail:
    """Whether an operating point is inside the safe band, and why not."""

    safe: bool
    problems: tuple[str, ...]
    band: tuple[float, float]
    min_justification_chars: int

    def to_dict(self) -> dict[str, Any]:
        return {"safe": self.safe, "problems": list(self.problems),
                "band": {"fpir_min": self.band[0], "fpir_max": self.band[1],
                         "false_alerts_per_10000_min": self.band[0] * PER,
                         "false_alerts_per_10000_max": self.band[1] * PER},
                "min_justification_chars": self.min_justification_chars}


def _count(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.3g}"


def guardrail(op: OperatingPoint, settings: Settings) -> Guardrail:
    lo, hi = settings.safe_fpir_min, settings.safe_fpir_max
    problems: list[str] = []
    eff = op.effective_fpir
    what = "target FPIR" if op.source == "target_fpir" else "expected FPIR at this threshold"
    if eff is None:
        problems.append("the expected false-alert rate is unknown (no calibration for this model)")
    elif eff > hi:
        problems.append(f"{what} is {eff:.3g}, i.e. {_count(eff * PER)} false alerts per {PER:,} faces, above "
                        f"the safe band's maximum of {_count(hi * PER)}")
    elif eff < lo:
        problems.append(f"{what} is {eff:.3g}, i.e. {_count(eff * PER)} false alerts per {PER:,} faces, below "
                        f"the safe band's minimum of {_count(lo * PER)}: the threshold is so strict that it "
                        "misses most watchlisted people"
                        + (f" (expected TPIR {op.tpir:.2f})" if op.tpir is not None else ""))
    return Guardrail(not problems, tuple(problems), (lo, hi), settings.min_justification_chars)


def justification_substance(text: str) -> tuple[int, int]:
    """(visible characters, distinct words of 2+ letters) of a justification: invisible and format
    characters (zero-width spaces, U+202E...) do not count, a run of whitespace counts once."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch.isspace())
    visible = " ".join(kept.split())  # a run of spaces counts as one
    words = {w.casefold() for w in re.findall(r"[^\W\d_]{2,}", text)}
    return len(visible), len(words)


MIN_JUSTIFICATION_WORDS = 5


def require_justification(g: Guardrail, justification: str) -> str:
    """The stripped justification; ``InputError`` (``justification_required``) when the operating
    point is outside the safe band and the justification is shorter than the minimum: counted in
    visible characters (not zero-width or other invisible ones), with at least
    ``MIN_JUSTIFICATION_WORDS`` different words (``"x" * 50`` is no justification)."""
    j = justification.strip()
    if not g.safe:
        chars, words = justification_substance(j)
        if chars < g.min_justification_chars or words < MIN_JUSTIFICATION_WORDS or _repetitive(j):
            raise InputError("operating point outside the safe band: " + "; ".join(g.problems)
                             + f". Authorising it needs a written justification of at least "
                               f"{g.min_justification_chars} visible characters and {MIN_JUSTIFICATION_WORDS} "
                               "different words", code="justification_required")
    return j


def _repetitive(text: str) -> bool:
    """True when a few characters make up nearly all of the text (``"ab" * 30``, ``"x y " * 20``)."""
    visible = [ch.casefold() for ch in text if ch.isalnum()]
    return len(visible) >= 10 and len(set(visible)) < 6
