"""Safer enrolment from the console: photo consistency of one entry, and editing entries and lists.

``consistency`` scores every pair of an entry's reference photos against each other with the
matcher's own score and the embedder's default threshold: a pair below it means the photos may not
show the same person (e.g. two camera files ``IMG_0001.jpg`` and ``IMG_0002.jpg`` of different
people filed under one id). It warns; it does not remove anything.

Edits change what a person reading the list sees (name, category, reason; a list's description);
each is audited with the old and new values. A deployment's own watchlist is not edited here: it
was fixed when the deployment was authorised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select

from openlfr.engine.protocols import cosine_to_score
from openlfr.engine.thresholds import default_threshold, family_of
from openlfr.errors import ConfigError, InputError, NotFoundError
from openlfr.services import watchlist_integrity as integrity
from openlfr.services.context import AppContext
from openlfr.services.watchlists import _get, _get_entry, ensure_editable
from openlfr.storage import audit
from openlfr.storage.models import ReferenceEmbedding, ReferenceImage, WatchlistEntry
from openlfr.storage.sealed import unseal

EDITABLE = {"display_name": 300, "category": 200, "reason": 2000}
"""Entry fields a manager may edit, with their maximum lengths."""


def consistency(ctx: AppContext, watchlist: str, entry_ref: int | str, *, by_person_id: bool = False
                ) -> dict[str, Any]:
    """``{"photos", "threshold", "min_score", "pairs_below": [[i, j, score]], "warning"}`` (1-based photo numbers,
    in the order the photos were added). ``by_person_id``: ``entry_ref`` is a person id, never an entry id."""
    family = family_of(ctx.engine.embedder)
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        if by_person_id:
            found = s.scalar(select(WatchlistEntry).where(WatchlistEntry.watchlist_id == wl.id,
                                                          WatchlistEntry.person_id == str(entry_ref)))
            if found is None:
                raise NotFoundError(f"no entry {entry_ref!r} on watchlist {wl.name!r}", code="entry_not_found")
            entry = found
        else:
            entry = _get_entry(s, wl, entry_ref)
        rows = list(s.scalars(
            select(ReferenceEmbedding).join(ReferenceImage, ReferenceImage.id == ReferenceEmbedding.image_id)
            .where(ReferenceImage.entry_id == entry.id, ReferenceEmbedding.model_family == family)
            .order_by(ReferenceImage.id)))
        encs = [unseal(ctx.cipher, r) for r in rows]  # decrypted in memory only, bound to their rows
        pid = entry.person_id
    out: dict[str, Any] = {"person_id": pid, "photos": len(encs), "threshold": None, "min_score": None,
                           "pairs_below": [], "warning": None}
    if len(encs) < 2:
        return out
    try:
        thr = default_threshold(ctx.engine.embedder)
    except ConfigError:
        out["warning"] = "no measured threshold for this model: photos not compared"
        return out
    vecs = np.stack([np.frombuffer(e, dtype="<f4") for e in encs]).astype(np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    scores = cosine_to_score(vecs @ vecs.T)
    del vecs
    pairs = [[i + 1, j + 1, round(float(scores[i, j]), 4)] for i in range(len(encs)) for j in range(i + 1, len(encs))
             if scores[i, j] < thr]
    iu = np.triu_indices(len(encs), 1)
    out.update(threshold=thr, min_score=round(float(scores[iu].min()), 4), pairs_below=pairs)
    if pairs:
        worst = min(pairs, key=lambda p: p[2])
        out["warning"] = (f"{pid}: {len(pairs)} pair(s) of photos score below the matching threshold {thr:.3f} "
                          f"against each other (lowest: photos {worst[0]} and {worst[1]}, {worst[2]:.3f}); they may "
                          "not show the same person. Check the photos and remove the entry if they do not.")
    return out


def update_entry(ctx: AppContext, watchlist: str, entry: int | str, actor: str,
                 changes: dict[str, str]) -> dict[str, Any]:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InputError(f"cannot edit {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE)}",
                         code="bad_field")
    for k, v in changes.items():
        if len(v) > EDITABLE[k]:
            raise InputError(f"{k} is longer than {EDITABLE[k]} characters", code="too_long")
    if "display_name" in changes and not changes["display_name"].strip():
        raise InputError("name must not be empty", code="bad_name")
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        ensure_editable(wl, "edit entries")
        e: WatchlistEntry = _get_entry(s, wl, entry)
        integrity.check(s, ctx.cipher, wl)  # never re-sign (launder) a list changed outside OpenLFR
        before = {k: getattr(e, k) for k in changes}
        for k, v in changes.items():
            setattr(e, k, v.strip())
        after = {k: getattr(e, k) for k in changes}
        integrity.reseal(s, ctx.cipher, wl)
        audit.record(s, actor, "watchlist.update_entry", "watchlist_entry", e.id,
                     {"watchlist": watchlist, "fields": sorted(changes)},
                     private={"person_id": e.person_id, "before": before, "after": after}, cipher=ctx.cipher)
        return {"id": e.id, "person_id": e.person_id, "name": e.display_name, "category": e.category,
                "reason": e.reason}


def update_watchlist(ctx: AppContext, watchlist: str, actor: str, description: str) -> dict[str, Any]:
    if len(description) > 2000:
        raise InputError("description is longer than 2000 characters", code="too_long")
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        ensure_editable(wl, "edit its description")
        before = wl.description
        wl.description = description.strip()
        audit.record(s, actor, "watchlist.update", "watchlist", wl.id,
                     {"name": watchlist, "before": {"description": before}, "after": {"description": wl.description}})
        return {"name": wl.name, "description": wl.description}
