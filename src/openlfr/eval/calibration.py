"""Calibration of an embedder: score -> false match rate per comparison, with sample sizes.

A calibration lets a deployment ask for a target false-positive identification rate instead of
a raw score: for a watchlist of N, FPIR(N, tau) ~= N * FMR(tau), so the threshold for a target
FPIR P is the smallest tau with FMR(tau) <= P / N.

``openlfr eval calibrate --images DIR`` measures it on a labelled image folder: every pair of
acquired images of *different* identities is an impostor comparison, every pair of the *same*
identity a genuine one. Counts are kept on a grid of thresholds (step ``GRID_STEP``) so the file
is small and holds no biometric data: ``impostor_ge[i]`` = impostor comparisons scoring >=
``grid[i]``, ``genuine_lt[i]`` = genuine comparisons scoring < ``grid[i]``. It also stores the
open-set identification outcome of the same images (one image enrolled per identity with two or
more, the rest searched) per grid threshold, for TPIR in planning.

Caveat: comparisons share images and identities, so they are not independent; the binomial
intervals from these counts are narrower than the truth. The sample size to resolve a target
FMR f is n * f >= ``MIN_TAIL_PAIRS`` (10; one or two tail pairs did not hold on held-out data); smaller
targets raise ``ConfigError``.

Files: ``<data_dir>/calibration/<family>.json`` where ``family`` is the embedder's
``family`` (``model_id`` when it has none), so a faster twin of the same network shares it. When
the data dir has none, ``services.operating_point.load_calibration`` falls back to a calibration shipped with the
package (``openlfr/eval/calibrations/``, measured on lfw-dev with the default pipeline; counts
only, no images or embeddings), so ``--fpir`` works out of the box for the embedded default.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from openlfr.errors import ConfigError
from openlfr.eval import metrics as M
from openlfr.eval.intervals import clopper_pearson

if TYPE_CHECKING:
    from openlfr.eval.compute import EmbeddingTable
    from openlfr.eval.exclusions import Exclusions
    from openlfr.eval.protocols import Dataset
    from openlfr.settings import Settings

MIN_TAIL_PAIRS = 10
"""A threshold for a target FMR f is given only when the calibration has at least this many impostor
comparisons allowed above it (n x f >= 10). Checked on held-out draws (docs/evaluation.md): every N x FMR
threshold of a half-lfw-dev calibration that rests on >= 12 pairs kept the measured FPIR of the other half at
or below its target; the one resting on 1.3 pairs (N = 1,000, FPIR 1e-4) gave 5.2e-4."""

GRID_STEP = 0.0005
_BIN_TOL = 1e-3
"""Scores within 1e-3 of a grid step (5e-7) below a grid point count as on it: float32 noise."""
FORMAT_VERSION = 1
I64 = npt.NDArray[np.int64]


def grid() -> npt.NDArray[np.float64]:
    n = round(1.0 / GRID_STEP)
    return np.round(np.arange(n + 1) * GRID_STEP, 6)


def calibration_dir(settings: Settings | None = None) -> Path:
    if settings is None:
        from openlfr.settings import load_settings

        settings = load_settings()
    return settings.data_dir / "calibration"


def safe_name(family: str) -> str:
    """The file name stem for a family (anything but letters, digits and ``-_.@`` becomes ``_``)."""
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in family)


@dataclass(frozen=True)
class Calibration:
    family: str
    embedder_model_id: str
    grid: npt.NDArray[np.float64]
    impostor_n: int
    impostor_ge: I64
    genuine_n: int
    genuine_lt: I64
    identify: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    # ---------------------------------------------------------- lookups

    def _at_or_below(self, t: float) -> int:
        """Index of the largest grid point <= t (counts there include every score >= t)."""
        return int(np.clip(np.searchsorted(self.grid, t + 1e-12, side="right") - 1, 0, len(self.grid) - 1))

    def _at_or_above(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self.grid, t - 1e-12, side="left"), 0, len(self.grid) - 1))

    def fmr(self, threshold: float) -> tuple[int, int]:
        """(impostor comparisons >= threshold, impostor comparisons); conservative on the grid."""
        return int(self.impostor_ge[self._at_or_below(threshold)]), self.impostor_n

    def fnmr(self, threshold: float) -> tuple[int, int]:
        return int(self.genuine_lt[self._at_or_above(threshold)]), self.genuine_n

    def threshold_for_fmr(self, fmr: float) -> float:
        """The smallest grid threshold with FMR <= ``fmr``."""
        if not 0.0 < fmr < 1.0:
            raise ConfigError(f"target FMR must be in (0, 1), got {fmr}", code="bad_fpir")
        if self.impostor_n * fmr < MIN_TAIL_PAIRS - 1e-9:
            raise ConfigError(
                f"calibration of {self.family} has {self.impostor_n:,} impostor comparisons; it cannot "
                f"resolve a false match rate of {fmr:.3g} (needs at least {math.ceil(MIN_TAIL_PAIRS / fmr):,}, so "
                f"that at least {MIN_TAIL_PAIRS} impostor pairs lie above the threshold): use a larger "
                "calibration set, a higher target FPIR or a smaller list",
                code="calibration_too_small",
            )
        ok = np.flatnonzero(self.impostor_ge <= fmr * self.impostor_n + 1e-9)
        return float(self.grid[ok[0]])

    def threshold_for_fpir(self, fpir: float, watchlist_size: int) -> float:
        """Threshold for a target FPIR at watchlist size N, using FPIR ~= N * FMR."""
        if watchlist_size < 1:
            raise ConfigError("watchlist size must be at least 1", code="bad_option")
        if not 0.0 < fpir < 1.0:
            raise ConfigError(f"target FPIR must be in (0, 1), got {fpir}", code="bad_fpir")
        return self.threshold_for_fmr(fpir / watchlist_size)

    def fpir(self, threshold: float, watchlist_size: int) -> tuple[float, tuple[float, float], int, int]:
        """FPIR ~= N * FMR at ``threshold``: (value, 95% interval, k, n) of the underlying FMR."""
        k, n = self.fmr(threshold)
        ci = clopper_pearson(k, n) or (0.0, 1.0)
        return (
            min(1.0, watchlist_size * k / n),
            (min(1.0, watchlist_size * ci[0]), min(1.0, watchlist_size * ci[1])),
            k,
            n,
        )

    def tpir(self, threshold: float) -> tuple[int, int] | None:
        """(mated searches hit at rank 1 with score >= threshold, mated searches) from the
        calibration's identification run; conservative on the grid. ``None`` without one."""
        if not self.identify:
            return None
        hits = self.identify["mated_hits_ge"][self._at_or_above(threshold)]
        return int(hits), int(self.identify["mated"])

    # ---------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "family": self.family,
            "embedder_model_id": self.embedder_model_id,
            "created_at": self.created_at,
            "source": self.source,
            "grid_step": GRID_STEP,
            "comparisons": {"impostor": self.impostor_n, "genuine": self.genuine_n},
            "grid": self.grid.tolist(),
            "impostor_ge": self.impostor_ge.tolist(),
            "genuine_lt": self.genuine_lt.tolist(),
            "identify": self.identify,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        try:
            if d.get("format") != FORMAT_VERSION:
                raise ConfigError(
                    f"calibration format {d.get('format')} is not {FORMAT_VERSION}; re-run `openlfr eval calibrate`",
                    code="bad_calibration",
                )
            return cls(
                family=d["family"],
                embedder_model_id=d["embedder_model_id"],
                grid=np.asarray(d["grid"], np.float64),
                impostor_n=int(d["comparisons"]["impostor"]),
                impostor_ge=np.asarray(d["impostor_ge"], np.int64),
                genuine_n=int(d["comparisons"]["genuine"]),
                genuine_lt=np.asarray(d["genuine_lt"], np.int64),
                identify=d.get("identify"),
                source=d.get("source", {}),
                created_at=d.get("created_at", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"calibration file is malformed ({exc})", code="bad_calibration") from exc

    def summary(self) -> dict[str, Any]:
        """A short description with thresholds for common targets (no arrays)."""
        out: dict[str, Any] = {
            "family": self.family,
            "embedder_model_id": self.embedder_model_id,
            "comparisons": {"impostor": self.impostor_n, "genuine": self.genuine_n},
            "created_at": self.created_at,
        }
        table = {}
        for n in (100, 1000, 10000):
            row: dict[str, float | None] = {}
            for p in (1e-2, 1e-3, 1e-4):
                try:
                    row[format(p, "g")] = self.threshold_for_fpir(p, n)
                except ConfigError:
                    row[format(p, "g")] = None
            table[str(n)] = row
        out["threshold_for_fpir"] = table
        if self.identify:
            out["identify"] = {k: v for k, v in self.identify.items() if not isinstance(v, list)}
        return out


def save_calibration(cal: Calibration, settings: Settings | None = None, path: Path | None = None) -> Path:
    target = path or calibration_dir(settings) / f"{safe_name(cal.family)}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(cal.to_dict(), fh, separators=(",", ":"))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


PACKAGED_DIR = Path(__file__).resolve().parent / "calibrations"
"""Calibrations shipped with the package (read by ``services.operating_point``, which owns reading them)."""


# ------------------------------------------------------------------ measuring one


def _counts_ge(idx: npt.NDArray[np.int64], n_bins: int) -> I64:
    c = np.bincount(idx, minlength=n_bins)[:n_bins]
    return np.cumsum(c[::-1])[::-1].astype(np.int64)


def calibrate(
    table: EmbeddingTable, dataset: Dataset, chunk: int = 1024, exclusions: Exclusions | None = None
) -> Calibration:
    """Count impostor and genuine comparisons over all pairs of acquired images, and the
    identification outcomes (K = 1, all eligible identities) per grid threshold. ``exclusions``
    (known label errors, :mod:`openlfr.eval.exclusions`) are left out: identities that are one person
    are merged, mislabeled images dropped, pairs of one photo under two names skipped."""
    g = grid()
    nb = len(g)
    acquired = table.acquired.copy()
    all_codes = np.unique(np.array(dataset.labels), return_inverse=True)[1]
    skip_pairs: list[tuple[int, int]] = []
    used: dict[str, int] = {}
    if exclusions is not None and not exclusions.empty:
        all_codes, keep, skip_pairs, used = exclusions.apply(table.paths, dataset.labels, dataset.root)
        acquired &= keep
    ok = np.flatnonzero(acquired)
    imp_hist, gen_hist = _pair_histograms(table.embedding[ok], all_codes[ok], nb, chunk)
    for a, b in skip_pairs:  # one photo under two names: not an impostor comparison
        if acquired[a] and acquired[b] and all_codes[a] != all_codes[b]:
            pair = float(np.clip((1.0 + table.embedding[a] @ table.embedding[b]) / 2.0, 0.0, 1.0))
            imp_hist[min(int(np.floor(pair / GRID_STEP + _BIN_TOL)), nb - 1)] -= 1
    impostor_ge = np.cumsum(imp_hist[::-1])[::-1].astype(np.int64)
    genuine_ge = np.cumsum(gen_hist[::-1])[::-1].astype(np.int64)
    genuine_n = int(gen_hist.sum())
    genuine_lt = (genuine_n - genuine_ge).astype(np.int64)
    ident = _identification(table, dataset, acquired, nb)
    emb_id = table.models.get("embedder", "")
    fam = table.models.get("family", emb_id)
    src = {
        "images": str(dataset.root),
        "n_images": len(table.paths),
        "acquired": len(ok),
        "identities": len(dataset.identities),
        "models": table.models,
        "pipeline": json.loads(table.model_key),
    }
    if exclusions is not None and not exclusions.empty:
        src["exclusions"] = {**exclusions.to_dict(), "applied": used}
    return Calibration(
        fam,
        emb_id,
        g,
        int(imp_hist.sum()),
        impostor_ge,
        genuine_n,
        genuine_lt,
        ident,
        src,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def _pair_histograms(emb: npt.NDArray[np.float32], lab_codes: npt.NDArray[Any], nb: int, chunk: int) -> tuple[I64, I64]:
    """Impostor and genuine score histograms (grid bins) over all pairs i < j, ``chunk`` rows at a time."""
    imp_hist = np.zeros(nb, np.int64)
    gen_hist = np.zeros(nb, np.int64)
    n = len(emb)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        cos = emb[s:e] @ emb.T
        score = np.clip((1.0 + cos) / 2.0, 0.0, 1.0)
        # only pairs (i, j) with j > i
        iu = np.arange(s, e)[:, None] < np.arange(n)[None, :]
        same = lab_codes[s:e, None] == lab_codes[None, :]
        bins = np.minimum(np.floor(score / GRID_STEP + _BIN_TOL).astype(np.int64), nb - 1)
        imp_hist += np.bincount(bins[iu & ~same], minlength=nb)[:nb]
        gen_hist += np.bincount(bins[iu & same], minlength=nb)[:nb]
    return imp_hist, gen_hist


def _ge_counts(x: npt.NDArray[np.float64], nb: int) -> list[int]:
    """Per grid threshold, how many of the finite scores ``x`` are at or above it."""
    x = x[np.isfinite(x)]
    idx = np.minimum(np.floor(x / GRID_STEP + _BIN_TOL).astype(np.int64), nb - 1)
    return [int(v) for v in _counts_ge(np.maximum(idx, 0), nb)]


def _identification(
    table: EmbeddingTable, dataset: Dataset, acquired: npt.NDArray[np.bool_], nb: int
) -> dict[str, Any]:
    """Identification outcomes (one photo enrolled per identity, K = 1) counted per grid threshold."""
    from openlfr.eval.protocols import build_gallery, gallery_scores

    gal = build_gallery(dataset, 1)
    sc = gallery_scores(table, gal)
    sc[~acquired[gal.search_rows]] = -np.inf
    o = M.search_outcomes(sc, gal.mate, len(gal.identities))
    return {
        "watchlist_size": o.watchlist_size,
        "mated": o.mated,
        "nonmated": o.nonmated,
        "enrol_per_identity": 1,
        "rank1": M.rank1_rate(o),
        "nonmated_ge": _ge_counts(o.nonmated_max, nb),
        "mated_hits_ge": _ge_counts(o.mated_score[o.mated_rank1], nb),
    }
