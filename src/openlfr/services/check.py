"""Operator-initiated check (OIFR): one photo searched against a watchlist. Stores nothing about
the probe; the audit log records that a check happened and which watchlist entries matched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openlfr.engine.imageio import decode_image_scaled, read_bytes
from openlfr.errors import InputError
from openlfr.services.context import AppContext
from openlfr.services.operating_point import resolve_for
from openlfr.services.watchlists import load_index
from openlfr.storage import audit
from openlfr.types import Match


@dataclass(frozen=True)
class Candidate:
    person_id: str
    name: str
    score: float
    """Rounded to 6 decimals."""
    rank: int
    entry_id: int

    @classmethod
    def of(cls, m: Match) -> Candidate:
        return cls(m.person_id, m.name, round(m.score, 6), m.rank, m.entry_id)


@dataclass(frozen=True)
class CheckedFace:
    box: list[float]
    """``[x1, y1, x2, y2]`` in the photo's pixels."""
    quality: dict[str, Any]
    """The quality measures and ``failed`` (the checks the face failed)."""
    passed_quality: bool
    candidates: list[Candidate]
    """At or above the threshold."""
    near_misses: list[Candidate]
    """Among the top-k but under the threshold: shown as "not a match"."""


@dataclass(frozen=True)
class CheckResult:
    image: str
    watchlist: str
    watchlist_size: int
    threshold: float
    threshold_source: str
    target_fpir: float | None
    operating_point: dict[str, Any]
    """``OperatingPoint.to_dict()``: how the threshold was chosen and what it implies."""
    faces: list[CheckedFace]
    analysed_size: list[int]
    """``[width, height]`` of the photo as analysed."""


def _decode_photo(ctx: AppContext, image: Path | tuple[str, bytes]) -> tuple[str, Any, float]:
    """The photo's label, its pixels (scaled down to the configured limits) and the scale back to its own pixels;
    an over-size upload is refused."""
    label, data = (str(image), read_bytes(image, ctx.settings.max_upload_bytes)) if isinstance(image, Path) else image
    if len(data) > ctx.settings.max_upload_bytes:
        raise InputError(
            f"{label}: {len(data)} bytes exceeds the limit of {ctx.settings.max_upload_bytes}", code="image_too_large"
        )
    pixels, scale = decode_image_scaled(
        data, name=label, max_pixels=ctx.settings.max_image_pixels, max_side=ctx.settings.max_photo_side
    )
    return label, pixels, scale


def _checked_faces(
    analysis: Any, scale: float, results: list[list[Match]], misses: list[list[Match]]
) -> list[CheckedFace]:
    """Each detected face with its box in the photo's pixels, its quality and its candidates and near misses."""
    faces = analysis.faces
    out_faces = []
    for i in range(len(faces)):
        q = faces.quality_dict(i)
        q["failed"] = analysis.gate.reasons[i]
        out_faces.append(
            CheckedFace(
                box=[round(float(v) * scale, 1) for v in faces.xyxy[i]],
                quality=q,
                passed_quality=bool(analysis.gate.passed[i]),
                candidates=[Candidate.of(m) for m in results[i]] if i < len(results) else [],
                near_misses=[Candidate.of(m) for m in misses[i]] if i < len(misses) else [],
            )
        )
    return out_faces


def check_image(
    ctx: AppContext,
    image: Path | tuple[str, bytes],
    watchlist: str,
    actor: str,
    threshold: float | None = None,
    fpir: float | None = None,
    top_k: int = 5,
) -> CheckResult:
    if top_k < 1 or top_k > 100:
        raise InputError(f"top-k must be 1..100, got {top_k}", code="bad_top_k")
    label, pixels, scale = _decode_photo(ctx, image)
    index, meta = load_index(ctx, watchlist)
    op = resolve_for(ctx, index.size, target_fpir=fpir, threshold=threshold)
    thr = op.threshold
    analysis = ctx.engine.analyse(pixels, embed="all")
    faces = analysis.faces
    # the top-k of each face whatever its score: those at or above the threshold are candidates, the rest near
    # misses (shown as "not a match", so an operator sees how far the photo is from the list)
    ranked = (
        index.search(faces.embedding, top_k=top_k, threshold=0.0) if len(faces) and faces.embedding is not None else []
    )
    results = [[m for m in r if m.score >= thr] for r in ranked]
    misses = [[m for m in r if m.score < thr] for r in ranked]
    out_faces = _checked_faces(analysis, scale, results, misses)
    with ctx.db.session() as s:
        matched = sorted({m.person_id for r in results for m in r})
        near = sorted({m.person_id for r in misses for m in r})
        audit.record(
            s,
            actor,
            "check",
            "watchlist",
            meta.id,
            {
                "watchlist": watchlist,
                "faces": len(faces),
                "threshold": thr,
                "threshold_source": op.source,
                "target_fpir": op.target_fpir,
                "matches": len(matched),
            },
            private={"matched_person_ids": matched, "near_miss_person_ids": near} if matched or near else None,
            cipher=ctx.cipher,
        )
    return CheckResult(
        image=label,
        watchlist=watchlist,
        watchlist_size=index.size,
        threshold=thr,
        threshold_source=op.source,
        target_fpir=op.target_fpir,
        operating_point=op.to_dict(),
        faces=out_faces,
        analysed_size=[int(pixels.shape[1]), int(pixels.shape[0])],
    )
