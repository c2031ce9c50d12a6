"""Operator-initiated check (OIFR): one photo searched against a watchlist. Stores nothing about
the probe; the audit log records that a check happened and which watchlist entries matched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openlfr.engine.imageio import decode_image_scaled, read_bytes
from openlfr.engine.thresholds import default_threshold
from openlfr.errors import InputError
from openlfr.services.context import AppContext
from openlfr.services.watchlists import load_index
from openlfr.storage import audit


def resolve_threshold(ctx: AppContext, threshold: float | None, fpir: float | None, watchlist_size: int) -> float:
    if threshold is not None and fpir is not None:
        raise InputError("give either a threshold or a target FPIR, not both", code="bad_threshold")
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {threshold}", code="bad_threshold")
        return float(threshold)
    if fpir is not None:
        if not 0.0 < fpir < 1.0:
            raise InputError(f"FPIR must be in (0, 1), got {fpir}", code="bad_fpir")
        from openlfr.eval.calibration import threshold_for_fpir

        return float(threshold_for_fpir(ctx.engine.embedder, fpir, max(watchlist_size, 1), ctx.settings))
    return default_threshold(ctx.engine.embedder)


def check_image(ctx: AppContext, image: Path | tuple[str, bytes], watchlist: str, actor: str,
                threshold: float | None = None, fpir: float | None = None, top_k: int = 5) -> dict[str, Any]:
    if top_k < 1 or top_k > 100:
        raise InputError(f"top-k must be 1..100, got {top_k}", code="bad_top_k")
    label, data = (str(image), read_bytes(image, ctx.settings.max_upload_bytes)) if isinstance(image, Path) \
        else image
    if len(data) > ctx.settings.max_upload_bytes:
        raise InputError(f"{label}: {len(data)} bytes exceeds the limit of {ctx.settings.max_upload_bytes}",
                         code="image_too_large")
    pixels, scale = decode_image_scaled(data, name=label, max_pixels=ctx.settings.max_image_pixels)
    index, meta = load_index(ctx, watchlist)
    thr = resolve_threshold(ctx, threshold, fpir, index.size)
    analysis = ctx.engine.analyse(pixels, embed="all")
    faces = analysis.faces
    results = index.search(faces.embedding, top_k=top_k, threshold=thr) if len(faces) and \
        faces.embedding is not None else []
    out_faces = []
    for i in range(len(faces)):
        q = faces.quality_dict(i)
        q["failed"] = analysis.gate.reasons[i]  # type: ignore[assignment]
        out_faces.append({"box": [round(float(v) * scale, 1) for v in faces.xyxy[i]], "quality": q,
                          "passed_quality": bool(analysis.gate.passed[i]),
                          "candidates": [m.to_dict() for m in results[i]]})
    with ctx.db.session() as s:
        audit.record(s, actor, "check", "watchlist", meta["id"],
                     {"watchlist": watchlist, "faces": len(faces), "threshold": thr,
                      "matched_person_ids": sorted({m.person_id for r in results for m in r})})
    return {"image": label, "watchlist": watchlist, "watchlist_size": index.size, "threshold": thr,
            "faces": out_faces}
