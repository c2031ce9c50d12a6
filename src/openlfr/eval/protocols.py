"""Evaluation protocols: LFW View 2 verification and open-set 1:N identification.

Data layout (LFW's): ``<images>/<identity>/<identity>_<NNNN>.<ext>``, one subject per image.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.engine.imageio import IMAGE_SUFFIXES
from openlfr.engine.protocols import cosine_to_score
from openlfr.errors import InputError
from openlfr.eval import metrics as M
from openlfr.eval.compute import EmbeddingTable
from openlfr.types import FloatArray

FPIR_TARGETS = (1e-2, 1e-3, 1e-4)
FAR_TARGETS = (1e-3,)


def target_key(t: float) -> str:
    """JSON key of a target rate: 0.01, 0.001, 0.0001 (plain decimal)."""
    return format(t, ".12f").rstrip("0").rstrip(".")


# ------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class Dataset:
    """Images grouped by identity (folder name), each list sorted by file name."""

    root: Path
    identities: dict[str, list[Path]]

    @property
    def paths(self) -> list[Path]:
        return [p for name in sorted(self.identities) for p in self.identities[name]]

    @property
    def labels(self) -> list[str]:
        return [name for name in sorted(self.identities) for _ in self.identities[name]]

    def __len__(self) -> int:
        return sum(len(v) for v in self.identities.values())


def identity_half(name: str) -> str:
    """``"A"`` or ``"B"``: a fixed split of identities by the first byte of the sha256 of the folder
    name (even: A). Choices (fusion weights, thresholds) are made on one half and reported on the other."""
    return "A" if hashlib.sha256(name.encode("utf-8")).digest()[0] % 2 == 0 else "B"


def load_dataset(root: Path, identities: Sequence[str] | None = None, half: str | None = None) -> Dataset:
    """Read ``<root>/<identity>/*.<image>``; ``identities`` restricts to those folders, ``half``
    (``"A"``/``"B"``, :func:`identity_half`) to one half of them."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory of identity folders", code="bad_dataset")
    if half is not None and half not in ("A", "B"):
        raise InputError(f"half must be A or B, got {half!r}", code="bad_option")
    wanted = set(identities) if identities is not None else None
    out: dict[str, list[Path]] = {}
    for d in sorted(root.iterdir()):
        if not d.is_dir() or (wanted is not None and d.name not in wanted):
            continue
        if half is not None and identity_half(d.name) != half:
            continue
        imgs = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if imgs:
            out[d.name] = imgs
    if not out:
        raise InputError(f"{root}: no identity folders with images found", code="bad_dataset")
    return Dataset(root, out)


# ------------------------------------------------------------------ LFW pairs


@dataclass(frozen=True)
class Pairs:
    folds: int
    per_fold: int
    a: list[Path]
    b: list[Path]
    same: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    def images(self) -> list[Path]:
        seen: dict[Path, None] = {}
        for p in (*self.a, *self.b):
            seen.setdefault(p, None)
        return list(seen)


def lfw_path(images: Path, name: str, idx: str, line_no: int, pairs_file: Path) -> Path:
    try:
        i = int(idx)
    except ValueError:
        raise InputError(f"{pairs_file}:{line_no}: image number {idx!r} is not an integer", code="bad_pairs") from None
    return images / name / f"{name}_{i:04d}.jpg"


def parse_pairs(pairs_file: Path, images: Path) -> Pairs:
    """The official LFW pairs format: header ``folds pairs_per_fold``, then per fold the matched
    lines ``name i j`` followed by the mismatched lines ``name1 i name2 j`` (tab-separated)."""
    pairs_file = Path(pairs_file)
    try:
        lines = pairs_file.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{pairs_file}: cannot read ({exc.strerror})", code="bad_pairs") from exc
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise InputError(f"{pairs_file}: empty pairs file", code="bad_pairs")
    head = lines[0].split()
    if len(head) == 1:  # View 1 files: just a count, one fold
        head = ["1", head[0]]
    try:
        folds, per = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        raise InputError(f"{pairs_file}:1: header must be 'folds pairs_per_fold'", code="bad_pairs") from None
    body = lines[1:]
    if len(body) != folds * per * 2:
        raise InputError(
            f"{pairs_file}: header promises {folds} folds x {per} matched + {per} mismatched "
            f"= {folds * per * 2} pairs but the file has {len(body)}",
            code="bad_pairs",
        )
    a: list[Path] = []
    b: list[Path] = []
    same: list[bool] = []
    fold: list[int] = []
    for k, line in enumerate(body):
        line_no = k + 2
        parts = line.split("\t") if "\t" in line else line.split()
        f, pos = divmod(k, 2 * per)
        matched = pos < per
        if matched and len(parts) == 3:
            a.append(lfw_path(images, parts[0], parts[1], line_no, pairs_file))
            b.append(lfw_path(images, parts[0], parts[2], line_no, pairs_file))
        elif not matched and len(parts) == 4:
            a.append(lfw_path(images, parts[0], parts[1], line_no, pairs_file))
            b.append(lfw_path(images, parts[2], parts[3], line_no, pairs_file))
        else:
            kind = "matched (name i j)" if matched else "mismatched (name1 i name2 j)"
            raise InputError(f"{pairs_file}:{line_no}: expected a {kind} line, got {line!r}", code="bad_pairs")
        same.append(matched)
        fold.append(f)
    missing = [p for p in dict.fromkeys([*a, *b]) if not p.is_file()]
    if missing:
        raise InputError(
            f"{len(missing)} image(s) named in {pairs_file} not found under {images}, e.g. {missing[0]}",
            code="bad_pairs",
        )
    return Pairs(folds, per, a, b, np.array(same, bool), np.array(fold, np.int64))


def restrict_folds(pairs: Pairs, folds: int) -> Pairs:
    """The first ``folds`` folds only (for quick runs and tests)."""
    keep = pairs.fold < folds
    idx = np.flatnonzero(keep)
    return Pairs(
        min(folds, pairs.folds),
        pairs.per_fold,
        [pairs.a[i] for i in idx],
        [pairs.b[i] for i in idx],
        pairs.same[keep],
        pairs.fold[keep],
    )


# ------------------------------------------------------------------ verification


def pair_scores(table: EmbeddingTable, pairs: Pairs) -> FloatArray:
    """Score per pair; a pair with a failure to acquire scores 0 (rejected at any threshold > 0)."""
    index = {p: i for i, p in enumerate(table.paths)}
    ia = np.array([index[p] for p in pairs.a])
    ib = np.array([index[p] for p in pairs.b])
    cos = np.einsum("ij,ij->i", table.embedding[ia], table.embedding[ib])
    ok = table.acquired[ia] & table.acquired[ib]
    return np.where(ok, cosine_to_score(np.nan_to_num(cos, nan=-1.0)), 0.0).astype(np.float32)


@dataclass(frozen=True)
class VerifyResult:
    pairs: int
    kfold: M.KFoldAccuracy
    auc: float
    eer: float
    tar: dict[str, M.RateAtTarget]
    failures_to_acquire: int
    fallbacks: int
    models: dict[str, str]
    roc: M.RocCurve = field(repr=False)
    folds: int = 10

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "protocol": "lfw-view2",
            "pairs": self.pairs,
            "accuracy": self.kfold.mean,
            "accuracy_std": self.kfold.std,
            "auc": self.auc,
            "eer": self.eer,
            "tar_at_far": {k: v.value for k, v in self.tar.items()},
            "failures_to_acquire": self.failures_to_acquire,
            # extras beyond the required keys
            "folds": self.folds,
            "fold_accuracies": list(self.kfold.fold_accuracies),
            "fold_thresholds": list(self.kfold.fold_thresholds),
            "threshold_at_far": {k: v.threshold for k, v in self.tar.items()},
            "fallback_faces": self.fallbacks,
            "models": self.models,
        }
        reasons = {f"tar_at_far.{k}": v.reason for k, v in self.tar.items() if v.reason}
        if reasons:
            out["reason"] = reasons
        return out


def verify(table: EmbeddingTable, pairs: Pairs) -> VerifyResult:
    scores = pair_scores(table, pairs)
    labels = pairs.same
    index = {p: i for i, p in enumerate(table.paths)}
    used = np.array([index[p] for p in pairs.images()])
    fta = int((~table.acquired[used]).sum())
    fallbacks = int((table.status[used] == 1).sum())
    return VerifyResult(
        pairs=len(pairs),
        kfold=M.kfold_accuracy(scores, labels, pairs.fold),
        auc=M.roc_auc(scores, labels),
        eer=M.equal_error_rate(scores, labels),
        tar={target_key(f): M.tar_at_far(scores, labels, f) for f in FAR_TARGETS},
        failures_to_acquire=fta,
        fallbacks=fallbacks,
        models=table.models,
        roc=M.roc_curve(scores, labels),
        folds=int(np.unique(pairs.fold).size),
    )


# ------------------------------------------------------------------ open-set identification


@dataclass(frozen=True)
class Gallery:
    """Who is enrolled and who searches: indices into an embedding table's rows."""

    identities: list[str]
    """Watchlist identities, in column order."""
    templates: list[list[int]]
    """Rows enrolled per watchlist identity (the first K images)."""
    search_rows: np.ndarray
    mate: np.ndarray
    """Watchlist column of each search's mate, -1 for a non-mated search."""
    search_identity: list[str]
    eligible: int
    """Identities with at least K+1 images."""


def build_gallery(
    dataset: Dataset, enrol_per_identity: int = 1, watchlist_size: int | None = None, seed: int = 0
) -> Gallery:
    """Identities with >= K+1 images are eligible; all, or ``watchlist_size`` drawn at random (seed),
    form the watchlist. Their first K images are enrolled and the rest are mated searches; every
    image of an identity not on the watchlist is a non-mated search."""
    k = enrol_per_identity
    if k < 1:
        raise InputError("--enrol-per-identity must be at least 1", code="bad_option")
    names = sorted(dataset.identities)
    eligible = [n for n in names if len(dataset.identities[n]) >= k + 1]
    if watchlist_size is not None:
        if watchlist_size < 1:
            raise InputError("--watchlist-size must be at least 1", code="bad_option")
        if watchlist_size > len(eligible):
            raise InputError(
                f"--watchlist-size {watchlist_size} exceeds the {len(eligible)} identities "
                f"with at least {k + 1} images",
                code="bad_option",
            )
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(len(eligible), size=watchlist_size, replace=False).tolist())
        on_list = [eligible[i] for i in chosen]
    else:
        on_list = eligible
    col = {n: j for j, n in enumerate(on_list)}
    row = 0
    templates: list[list[int]] = [[] for _ in on_list]
    search_rows: list[int] = []
    mate: list[int] = []
    who: list[str] = []
    for n in names:
        imgs = dataset.identities[n]
        for i in range(len(imgs)):
            if n in col and i < k:
                templates[col[n]].append(row)
            else:
                search_rows.append(row)
                mate.append(col.get(n, -1))
                who.append(n)
            row += 1
    return Gallery(on_list, templates, np.array(search_rows, np.int64), np.array(mate, np.int64), who, len(eligible))


def gallery_scores(table: EmbeddingTable, gallery: Gallery, rows: np.ndarray | None = None) -> FloatArray:
    """(searches x watchlist) scores: per identity the best over its templates; failures -inf."""
    rows = gallery.search_rows if rows is None else rows
    emb = table.embedding
    ok = table.acquired
    flat = [(j, r) for j, ts in enumerate(gallery.templates) for r in ts if ok[r]]
    out = np.full((len(rows), len(gallery.identities)), -np.inf, dtype=np.float32)
    if not flat or len(rows) == 0:
        return out
    cols = np.array([j for j, _ in flat])
    trows = np.array([r for _, r in flat])
    q = np.nan_to_num(emb[rows], nan=0.0)
    sims = cosine_to_score(q @ emb[trows].T)  # (searches, templates)
    for j in np.unique(cols):
        m = cols == j
        out[:, j] = sims[:, m].max(axis=1)
    out[~ok[rows]] = -np.inf
    return out


@dataclass(frozen=True)
class IdentifyResult:
    outcomes: M.SearchOutcomes
    targets: dict[str, M.RateAtTarget]
    enrol_per_identity: int
    seed: int
    eligible: int
    enrol_failures: int
    search_failures: int
    models: dict[str, str]
    at_threshold: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        o = self.outcomes
        reasons = {k: v.reason for k, v in self.targets.items() if v.reason}
        out: dict[str, Any] = {
            "watchlist_size": o.watchlist_size,
            "mated_searches": o.mated,
            "nonmated_searches": o.nonmated,
            "rank1": M.rank1_rate(o),
            "fnir_at_fpir": {k: v.value for k, v in self.targets.items()},
            "threshold_at_fpir": {k: v.threshold for k, v in self.targets.items()},
            "reason": reasons,
            # extras beyond the required keys
            "fpir_achieved": {k: v.achieved for k, v in self.targets.items()},
            "enrol_per_identity": self.enrol_per_identity,
            "seed": self.seed,
            "eligible_identities": self.eligible,
            "enrol_failures": self.enrol_failures,
            "search_failures": self.search_failures,
            "models": self.models,
        }
        if self.at_threshold is not None:
            out["at_threshold"] = self.at_threshold
        return out


def identify(
    table: EmbeddingTable,
    dataset: Dataset,
    enrol_per_identity: int = 1,
    watchlist_size: int | None = None,
    seed: int = 0,
    threshold: float | None = None,
) -> tuple[IdentifyResult, Gallery]:
    if [str(p) for p in table.paths] != [str(p) for p in dataset.paths]:
        raise ValueError("the embedding table must be in the dataset's order")
    g = build_gallery(dataset, enrol_per_identity, watchlist_size, seed)
    scores = gallery_scores(table, g)
    o = M.search_outcomes(scores, g.mate, len(g.identities))
    targets = {target_key(t): M.fnir_at_fpir(o, t) for t in FPIR_TARGETS}
    ok = table.acquired
    enrol_fail = sum(1 for ts in g.templates for r in ts if not ok[r])
    at = None
    if threshold is not None:
        fp_k = int((o.nonmated_max >= threshold).sum())
        hits = int((o.mated_rank1 & (o.mated_score >= threshold)).sum())
        at = {
            "threshold": threshold,
            "fpir": M.rate_with_interval(fp_k, o.nonmated),
            "fnir": M.rate_with_interval(o.mated - hits, o.mated),
        }
    res = IdentifyResult(
        o, targets, enrol_per_identity, seed, g.eligible, enrol_fail, int((~ok[g.search_rows]).sum()), table.models, at
    )
    return res, g


def finite(x: float) -> float | None:
    return None if (math.isinf(x) or math.isnan(x)) else float(x)


# ------------------------------------------------------------------ fairness (groups from a labels file)


def load_labels(csv_path: Path, dataset: Dataset) -> dict[int, str]:
    """Group per table row from ``image_or_identity,group`` lines.

    The first column is an identity (folder name), an image path relative to the images folder
    (``Name/Name_0001.jpg``) or an image file name; image entries override identity entries. A
    header line whose second column is ``group`` is skipped. Returns ``{row: group}``.
    """
    import csv

    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{csv_path}: cannot read ({exc.strerror})", code="bad_labels") from exc
    by_identity: dict[str, str] = {}
    by_image: dict[str, str] = {}
    for line_no, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2:
            raise InputError(
                f"{csv_path}:{line_no}: expected 'image_or_identity,group', got {row!r}", code="bad_labels"
            )
        key, group = row[0].strip(), row[1].strip()
        if line_no == 1 and group.lower() == "group":
            continue
        if not key or not group:
            raise InputError(f"{csv_path}:{line_no}: empty identity or group", code="bad_labels")
        if key in dataset.identities:
            by_identity[key] = group
        else:
            by_image[key.replace("\\", "/")] = group
    out: dict[int, str] = {}
    for row_i, p in enumerate(dataset.paths):
        rel = f"{p.parent.name}/{p.name}"
        g = by_image.get(rel) or by_image.get(p.name) or by_identity.get(p.parent.name)
        if g is not None:
            out[row_i] = g
    if not out:
        raise InputError(f"{csv_path}: no line names an identity or image under {dataset.root}", code="bad_labels")
    return out


def fairness_groups(
    table: EmbeddingTable, dataset: Dataset, groups: dict[int, str], enrol_per_identity: int = 1
) -> tuple[list[Any], Gallery]:
    """Per group: its searches against the shared watchlist (all eligible identities) and its
    acquisition attempts (every labelled image; a failure is no usable face or a quality-gate
    rejection)."""
    from openlfr.eval.fairness import GroupData

    g = build_gallery(dataset, enrol_per_identity)
    scores = gallery_scores(table, g)
    fta = ~(table.acquired & table.passed)
    codes = {n: i for i, n in enumerate(sorted(dataset.identities))}
    row_identity = np.array([codes[n] for n in dataset.labels], np.int64)
    out = []
    for name in sorted(set(groups.values())):
        rows = np.array(sorted(r for r, gr in groups.items() if gr == name), np.int64)
        in_group = np.isin(g.search_rows, rows)
        o = M.search_outcomes(scores[in_group], g.mate[in_group], len(g.identities))
        srows = g.search_rows[in_group]
        mated = g.mate[in_group] >= 0
        out.append(
            GroupData(
                name,
                o,
                attempts=int(rows.size),
                failures_to_acquire=int(fta[rows].sum()),
                mated_units=row_identity[srows[mated]],
                nonmated_units=row_identity[srows[~mated]],
                attempt_units=row_identity[rows],
                attempt_failed=fta[rows],
            )
        )
    return out, g
