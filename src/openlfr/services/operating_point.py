"""The operating point for a watchlist's actual size: target FPIR -> threshold, with its figures.

A fixed per-model threshold is set for one list size (:data:`DEFAULT_THRESHOLDS` below: 1,000 people).
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

This module is the one place an operating point is resolved (:func:`resolve`, and :func:`resolve_for` for an
engine's embedder): the threshold-or-target rule, the calibration files it reads (``eval.calibration`` only
measures and writes them), and the fixed per-family fallback (:data:`DEFAULT_THRESHOLDS`) used only where a
family has no calibration and no target was asked for.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from openlfr.engine.protocols import Embedder, family_of
from openlfr.errors import ConfigError, InputError, NotFoundError
from openlfr.eval.calibration import MIN_TAIL_PAIRS, PACKAGED_DIR, Calibration, calibration_dir, safe_name
from openlfr.eval.intervals import clopper_pearson
from openlfr.settings import Settings

if TYPE_CHECKING:
    from openlfr.services.context import AppContext

PER = 10_000
"""Expected false alerts are given per this many faces seen."""

SOURCES = ("target_fpir", "override", "model_default")

# ---------------------------------------------------------------- fixed per-family fallbacks

# Measured with the evaluation harness (docs/evaluation.md), on lfw-dev (3,991 identities, 9,207
# grayscale images; HOG upsample 1, centre-most face, centre box when none is found):
#   openlfr eval threshold --images ../shared/data/lfw-dev --watchlist-size 1000 --fpir 0.001 \
#       --draws 50 --seed 1 [--embedder dlib-resnet-onnx: same vectors, faster]
# 50 draws of a 1,000-identity watchlist (one image each) against every image of the other
# identities (~6,900 non-mated searches per draw): per-draw thresholds for FPIR <= 1e-3 have mean
# 0.9820 (min 0.9801, p90 0.9838, max 0.9870); pooled 0.9817. Rule: max(pooled, p90 of the
# draws), rounded up to 3 decimals -> 0.984 (pooled FPIR 4.99e-4, 173 / 346,779; target met in
# 48 / 50 draws). At this threshold the dlib model misses most watchlisted people (FNIR ~0.84 on
# lfw-dev, one photo enrolled): that is the model's limit at watchlist scale, not a tuning error.
#
# MobileFaceNet (onnx-arcface spec mobilefacenet-128, mobilefacenet_paddle_128d.onnx, sha12
# 6ced4e0c36ab), YuNet 2023mar detector, same run and rule:
#   openlfr eval threshold --images ../shared/data/lfw-dev --watchlist-size 1000 --fpir 0.001 \
#       --draws 50 --seed 1 --detector yunet --detector-model face_detection_yunet_2023mar.onnx \
#       --embedder onnx-arcface --embedder-model mobilefacenet_paddle_128d.onnx
# per-draw thresholds mean 0.7917 (min 0.7435, p50 0.7654, p90 0.8556, max 0.8735); pooled 0.7666.
# Rule -> 0.856 (pooled FPIR 4.35e-4, 151 / 346,779; target met in 47 / 50 draws). The per-draw
# spread is wide (a few draws need 0.85-0.87, most ~0.765), so the p90 term dominates; the pooled
# threshold (0.767; `--fpir 0.001` with the lfw-dev calibration gives 0.7655 at N = 1000) is the
# less conservative choice.
#
# The default embedder, fused dlib ResNet + MobileFaceNet-192 (engine/backends/mobilefacenet.py;
# weights 0.6 / 0.4, no flip), HOG upsample 1, same run and rule:
#   openlfr eval threshold --images ../shared/data/lfw-dev --watchlist-size 1000 --fpir 0.001 \
#       --draws 50 --seed 1
# per-draw thresholds mean 0.9266 (min 0.9108, p50 0.9175, p90 0.9526, max 0.9608); pooled 0.9174.
# Rule -> 0.953 (pooled FPIR 4.70e-4, 163 / 346,779; target met in 47 / 50 draws). As for
# MobileFaceNet alone, a few draws need much more than most (lfw-dev's highest-scoring impostor
# pairs: the calibration's N x FMR also gives 0.9545 at N = 1,000), so the p90 term dominates; the
# shipped calibration gives the threshold for a watchlist's actual size (e.g. 0.897 for FPIR 1e-3
# at N = 40 reference photos).
#
# The default embedder since issue 17, fr_feature (frfeature-512, vendored from npm
# faceplugin-face-recognition-js), with the default detector (frdetect), lfw-dev with the known label
# errors left out (eval/data/lfw_label_errors.json), same run and rule:
#   openlfr eval threshold --images ../shared/data/lfw-dev --watchlist-size 1000 --fpir 0.001 \
#       --draws 50 --seed 1
# per-draw thresholds mean 0.7639 (min 0.7556, p90 0.7682, max 0.7753); pooled 0.7624.
# Rule -> 0.769 (pooled FPIR 6.1e-4, 211 / 346,526; target met in 48 / 50 draws). The shipped
# calibration's N x FMR gives 0.7675 at N = 1,000 (pooled FPIR 6.9e-4 on the same draws, 45 / 50).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "dlib-resnet-v1@55533b28a958": 0.984,
    "onnx-arcface:mobilefacenet-128@6ced4e0c36ab": 0.856,
    "fused:dlib-resnet-v1@55533b28a958+mobilefacenet-192@d8ba40c0127f@w0.4": 0.953,
    "frfeature-512@87aacdfe5751": 0.769,
}


def default_threshold(embedder: Embedder | str) -> float:
    """The family's fixed measured threshold (for 1,000-person lists): the fallback where it has no calibration."""
    fam = family_of(embedder)
    for key, value in DEFAULT_THRESHOLDS.items():
        if fam == key or (key.endswith("@") and fam.startswith(key)):
            return value
    raise ConfigError(
        f"no measured default threshold for embedder {fam}; pass --threshold or "
        "calibrate it with `openlfr eval calibrate`",
        code="no_threshold",
    )


# ---------------------------------------------------------------- calibration files (read here)


def calibration_path(family: Embedder | str, settings: Settings | None = None) -> Path | None:
    """Where the calibration for this family is read from: the data dir's, else the one shipped with the package."""
    name = f"{safe_name(family_of(family))}.json"
    for p in (calibration_dir(settings) / name, PACKAGED_DIR / name):
        if p.is_file():
            return p
    return None


def load_calibration(family: Embedder | str, settings: Settings | None = None) -> Calibration:
    """The calibration for an embedder family (or model id): the data dir's, else one shipped with
    the package; ``NotFoundError`` (``no_calibration``) when neither exists."""
    fam = family_of(family)
    p = calibration_path(fam, settings)
    if p is None:
        raise NotFoundError(
            f"no calibration for embedder {fam}; run `openlfr eval calibrate --images DIR`", code="no_calibration"
        )
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: unreadable calibration ({exc})", code="bad_calibration") from exc
    return Calibration.from_dict(data)


def is_packaged(path: Path) -> bool:
    return path.parent == PACKAGED_DIR


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
            "family": self.family,
            "watchlist_size": self.watchlist_size,
            "threshold": self.threshold,
            "source": self.source,
            "target_fpir": self.target_fpir,
            "expected_fpir": self.fpir,
            "expected_fpir_ci": list(self.fpir_ci) if self.fpir_ci else None,
            "impostor_comparisons_ge": self.impostor_ge,
            "impostor_comparisons": self.impostor_n,
            "expected_false_alerts_per_10000": self.false_alerts_per_10000,
            "expected_false_alerts_per_10000_upper": self.false_alerts_per_10000_upper,
            "expected_tpir": self.tpir,
            "expected_tpir_ci": list(self.tpir_ci) if self.tpir_ci else None,
            "mated_hits": self.mated_hits,
            "mated_searches": self.mated_n,
            "tpir_reason": self.tpir_reason,
            "calibration": self.calibration,
            "notes": list(self.notes),
        }


def _cal_info(cal: Calibration, settings: Settings | None) -> dict[str, Any]:
    p = calibration_path(cal.family, settings)
    src = cal.source or {}
    return {
        "family": cal.family,
        "embedder_model_id": cal.embedder_model_id,
        "created_at": cal.created_at,
        "file": p.name if p is not None else None,
        "shipped": bool(p is not None and is_packaged(p)),
        "impostor_comparisons": cal.impostor_n,
        "genuine_comparisons": cal.genuine_n,
        "images": src.get("images"),
        "identities": src.get("identities"),
    }


def _figures(cal: Calibration, threshold: float, n: int) -> dict[str, Any]:
    fpir, ci, k, total = cal.fpir(threshold, n)
    out: dict[str, Any] = {"fpir": fpir, "fpir_ci": ci, "impostor_ge": k, "impostor_n": total}
    t = cal.tpir(threshold)
    if t is None:
        out.update(
            tpir=None,
            tpir_ci=None,
            mated_hits=None,
            mated_n=None,
            tpir_reason="this calibration has no identification run (no mated searches), so it "
            "cannot estimate TPIR; re-run `openlfr eval calibrate`",
        )
    elif t[1] == 0:
        out.update(
            tpir=None,
            tpir_ci=None,
            mated_hits=0,
            mated_n=0,
            tpir_reason="the calibration's identification run has no mated searches",
        )
    else:
        hits, mated = t
        tci = clopper_pearson(hits, mated)
        size = (cal.identify or {}).get("watchlist_size")
        out.update(
            tpir=hits / mated,
            tpir_ci=tci,
            mated_hits=hits,
            mated_n=mated,
            tpir_reason=f"rank-1 hit rate of the calibration's {mated:,} mated searches against "
            f"a {size:,}-person gallery, one photo each (not measured at this list's size)"
            if isinstance(size, int)
            else "rank-1 hit rate of the calibration's mated searches",
        )
    return out


def check_choice(target_fpir: float | None, threshold: float | None) -> None:
    """The one rule for what a caller may ask: a threshold override or a target FPIR, not both, each in range."""
    if threshold is not None and target_fpir is not None:
        raise InputError("give either a threshold or a target FPIR, not both", code="bad_threshold")
    if threshold is not None and (math.isnan(threshold) or not 0.0 <= threshold <= 1.0):
        raise InputError(f"threshold must be in [0, 1], got {threshold}", code="bad_threshold")
    if target_fpir is not None and (math.isnan(target_fpir) or not 0.0 < target_fpir < 1.0):
        raise InputError(f"target FPIR must be in (0, 1), got {target_fpir}", code="bad_fpir")


def _point(
    family: str,
    size: int,
    threshold: float,
    source: str,
    target: float | None,
    figures: dict[str, Any],
    calibration: dict[str, Any] | None,
    notes: tuple[str, ...],
) -> OperatingPoint:
    return OperatingPoint(
        family=family,
        watchlist_size=size,
        threshold=threshold,
        source=source,
        target_fpir=target,
        calibration=calibration,
        notes=notes,
        **figures,
    )


_UNKNOWN = {
    "fpir": None,
    "fpir_ci": None,
    "impostor_ge": None,
    "impostor_n": None,
    "tpir": None,
    "tpir_ci": None,
    "mated_hits": None,
    "mated_n": None,
}


def _override(family: str, size: int, threshold: float, settings: Settings) -> OperatingPoint:
    """An explicit threshold, with the figures its family's calibration implies (unknown without one)."""
    try:
        cal = load_calibration(family, settings)
    except NotFoundError:
        return _point(
            family,
            size,
            float(threshold),
            "override",
            None,
            {**_UNKNOWN, "tpir_reason": f"no calibration for {family}: TPIR unknown"},
            None,
            (
                f"no calibration for {family}, so the false-alert rate at this threshold is unknown; "
                "make one with `openlfr eval calibrate --images DIR`",
            ),
        )
    f = _figures(cal, float(threshold), size)
    notes: tuple[str, ...] = ()
    if f["impostor_ge"] == 0:
        notes = (
            f"no impostor comparison of the calibration's {cal.impostor_n:,} scored at or above "
            f"{threshold:.4f}: the false-alert rate is below what it resolves (upper bound shown)",
        )
    return _point(family, size, float(threshold), "override", None, f, _cal_info(cal, settings), notes)


def _from_target(family: str, size: int, target: float, settings: Settings) -> OperatingPoint:
    """The calibration's threshold for a target FPIR at this list size (N x FMR), refusing what it cannot resolve."""
    try:
        cal = load_calibration(family, settings)
    except NotFoundError as exc:
        raise NotFoundError(
            f"no calibration for embedder {family}, so a target FPIR cannot be turned into a "
            "threshold: make one with `openlfr eval calibrate --images DIR` (a labelled "
            "folder of faces), or give an explicit threshold",
            code="no_calibration",
        ) from exc
    per = target / size
    try:
        thr = cal.threshold_for_fpir(target, size)
    except ConfigError as exc:
        if exc.code != "calibration_too_small":
            raise
        raise InputError(  # the caller's target is beyond what the calibration resolves: a 422, not a 500
            f"target FPIR {target:g} at a {size:,}-person list needs a false match rate of {per:.3g} per "
            f"comparison; the calibration of {family} has {cal.impostor_n:,} impostor comparisons and resolves "
            f"no less than {MIN_TAIL_PAIRS / cal.impostor_n:.3g} (at least {MIN_TAIL_PAIRS} impostor pairs above the "
            f"threshold; it would need {math.ceil(MIN_TAIL_PAIRS / per):,} comparisons). Not extrapolating: raise "
            "the target, shorten the list, or calibrate on more faces",
            code="calibration_too_small",
        ) from exc
    return _point(
        family,
        size,
        thr,
        "target_fpir",
        target,
        _figures(cal, thr, size),
        _cal_info(cal, settings),
        (f"smallest calibrated threshold with {size:,} x FMR <= {target:g} (FMR <= {per:.3g} per comparison)",),
    )


def resolve(
    family: Embedder | str,
    watchlist_size: int,
    *,
    target_fpir: float | None = None,
    threshold: float | None = None,
    settings: Settings | None = None,
    fallback: bool = False,
) -> OperatingPoint:
    """The threshold for ``family`` at ``watchlist_size`` and what it implies.

    With ``threshold`` (an override) the figures are those the calibration implies at it (``None``
    when the family has no calibration). Otherwise the threshold is the calibration's for
    ``target_fpir`` (default ``settings.default_target_fpir``) at this size. Raises
    ``NotFoundError`` (``no_calibration``, naming ``openlfr eval calibrate``) when a target is asked
    for a family without a calibration, and ``InputError`` (``calibration_too_small``) when the
    target per comparison (FPIR / N) is below what the calibration's impostor comparisons resolve.
    With ``fallback``, a family with no calibration asked for no target gets its fixed measured
    default (:func:`default_threshold`, source ``model_default``) instead of ``no_calibration``.
    """
    if settings is None:
        from openlfr.settings import load_settings

        settings = load_settings()
    fam = family_of(family)
    if watchlist_size < 1:
        raise InputError("the watchlist is empty: an operating point needs at least one person", code="empty_watchlist")
    check_choice(target_fpir, threshold)
    if threshold is not None:
        return _override(fam, watchlist_size, threshold, settings)
    if fallback and target_fpir is None and calibration_path(fam, settings) is None:
        op = _override(fam, watchlist_size, default_threshold(fam), settings)
        return replace(
            op,
            source="model_default",
            notes=(
                f"no calibration for {fam}: using its fixed default threshold (measured for 1,000-person "
                "lists), not one for this list's size; make one with `openlfr eval calibrate --images DIR`",
            ),
        )
    target = settings.default_target_fpir if target_fpir is None else float(target_fpir)
    check_choice(target, None)
    return _from_target(fam, watchlist_size, target, settings)


def resolve_for(
    ctx: AppContext, watchlist_size: int, *, target_fpir: float | None = None, threshold: float | None = None
) -> OperatingPoint:
    """The operating point for ``run``, ``search``, ``check`` and the walk-through, with the context's embedder:
    :func:`resolve` with the fixed default as the fallback when the family has no calibration."""
    return resolve(
        ctx.engine.embedder,
        max(watchlist_size, 1),
        target_fpir=target_fpir,
        threshold=threshold,
        settings=ctx.settings,
        fallback=True,
    )


class OpFields(TypedDict):
    """What a result adds about its operating point: how the threshold was chosen and what it implies."""

    threshold_source: str
    target_fpir: float | None
    operating_point: dict[str, Any]
    """``OperatingPoint.to_dict()``"""


def op_fields(op: OperatingPoint) -> OpFields:
    """What JSON outputs add: which operating point was used and what it implies."""
    return {"threshold_source": op.source, "target_fpir": op.target_fpir, "operating_point": op.to_dict()}


@dataclass(frozen=True)
class Guardrail:
    """Whether an operating point is inside the safe band, and why not."""

    safe: bool
    problems: tuple[str, ...]
    band: tuple[float, float]
    min_justification_chars: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "problems": list(self.problems),
            "band": {
                "fpir_min": self.band[0],
                "fpir_max": self.band[1],
                "false_alerts_per_10000_min": self.band[0] * PER,
                "false_alerts_per_10000_max": self.band[1] * PER,
            },
            "min_justification_chars": self.min_justification_chars,
        }


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
        problems.append(
            f"{what} is {eff:.3g}, i.e. {_count(eff * PER)} false alerts per {PER:,} faces, above "
            f"the safe band's maximum of {_count(hi * PER)}"
        )
    elif eff < lo:
        problems.append(
            f"{what} is {eff:.3g}, i.e. {_count(eff * PER)} false alerts per {PER:,} faces, below "
            f"the safe band's minimum of {_count(lo * PER)}: the threshold is so strict that it "
            "misses most watchlisted people" + (f" (expected TPIR {op.tpir:.2f})" if op.tpir is not None else "")
        )
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
            raise InputError(
                "operating point outside the safe band: "
                + "; ".join(g.problems)
                + f". Authorising it needs a written justification of at least "
                f"{g.min_justification_chars} visible characters and {MIN_JUSTIFICATION_WORDS} "
                "different words",
                code="justification_required",
            )
    return j


def _repetitive(text: str) -> bool:
    """True when a few characters make up nearly all of the text (``"ab" * 30``, ``"x y " * 20``)."""
    visible = [ch.casefold() for ch in text if ch.isalnum()]
    return len(visible) >= 10 and len(set(visible)) < 6
