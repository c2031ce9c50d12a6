"""Safer enrolment from the console: photo consistency of one entry, and editing entries and lists.

``consistency`` scores every pair of an entry's reference photos against each other with the
matcher's own score. A pair warns only when it scores below the *consistency threshold*: the score
under which ``GENUINE_FRR`` (1%) of the genuine pairs of the embedder's calibration fall (two photos
of one person, ``genuine_lt`` of ``eval.calibration``). So about 1 in 100 pairs of photos of one
person warns, while two photos of different people (which score near 0.5 with fr_feature) nearly
always do: the measured warning rate on every genuine pair of lfw-dev is in docs/console.md
(``benchmarks/bench_enrol_consistency.py``). The matching threshold is not used: it is set for a
false match rate of 1 in thousands, and a third of genuine pairs of ordinary photos score below it.
It warns; it does not remove anything (each photo can be viewed and removed on its own).

Edits change what a person reading the list sees (name, category, reason; a list's description);
each is audited with the old and new values. A deployment's own watchlist is not edited here: it
was fixed when the deployment was authorised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from openlfr.engine.protocols import cosine_to_score, family_of
from openlfr.errors import ConflictError, InputError, NotFoundError, OpenLFRError
from openlfr.services import watchlist_integrity as integrity
from openlfr.services.context import AppContext
from openlfr.services.watchlists import _get, _get_entry, ensure_editable, photo_at
from openlfr.storage import audit
from openlfr.storage.models import WatchlistEntry
from openlfr.storage.repos.watchlists import WatchlistRepo

GENUINE_FRR = 0.01
"""The share of genuine pairs (two photos of one person) of the calibration allowed to warn."""

EDITABLE = {"display_name": 300, "category": 200, "reason": 2000}
"""Entry fields a manager may edit, with their maximum lengths."""


@dataclass(frozen=True)
class ConsistencyRule:
    threshold: float
    """The largest calibration grid score under which at most ``GENUINE_FRR`` of genuine pairs fall."""
    genuine_frr: float
    genuine_pairs: int
    family: str


@dataclass(frozen=True)
class Consistency:
    """Whether a person's photos score as one person against each other (``threshold`` and the rest are None
    below two photos or without a calibration)."""

    person_id: str
    photos: int
    threshold: float | None
    genuine_frr: float | None
    min_score: float | None
    pairs_below: list[list[Any]]
    """``[i, j, score]``: 1-based photo numbers, in the order added, and their score."""
    warning: str | None


@dataclass(frozen=True)
class PhotoMeta:
    index: int
    """What ``entries/{e}/images/{index}`` serves (0-based, in the order added)."""
    image_id: int
    width: int
    height: int
    added_at: str


@dataclass(frozen=True)
class EntryPhotos:
    entry_id: int
    person_id: str
    photos: list[PhotoMeta]
    consistency: Consistency


@dataclass(frozen=True)
class PhotoRemoved:
    entry_id: int
    person_id: str
    removed_image_id: int
    photos_left: int


@dataclass(frozen=True)
class EntryEdited:
    id: int
    person_id: str
    name: str
    """The display name."""
    category: str
    reason: str


@dataclass(frozen=True)
class WatchlistEdited:
    name: str
    description: str


def consistency_threshold(ctx: AppContext) -> ConsistencyRule:
    """The largest calibration grid score under which at most ``GENUINE_FRR`` of the calibration's genuine
    pairs fall. Raises ``NotFoundError`` without a calibration."""
    from openlfr.services.operating_point import load_calibration

    cal = load_calibration(ctx.engine.embedder, ctx.settings)
    if cal.genuine_n <= 0:
        raise NotFoundError(f"the calibration of {cal.family} has no genuine pairs", code="no_calibration")
    ok = np.flatnonzero(cal.genuine_lt <= GENUINE_FRR * cal.genuine_n + 1e-9)
    i = int(ok[-1])
    return ConsistencyRule(
        threshold=float(cal.grid[i]),
        genuine_frr=float(cal.genuine_lt[i]) / cal.genuine_n,
        genuine_pairs=cal.genuine_n,
        family=cal.family,
    )


def consistency_warning(pid: str, pairs: list[list[Any]], rule: ConsistencyRule) -> str | None:
    """The sentence shown when some pairs score below the consistency threshold (None when none does)."""
    if not pairs:
        return None
    worst = min(pairs, key=lambda p: p[2])
    return (
        f"{pid}: photos {worst[0]} and {worst[1]} score {worst[2]:.4f} against each other"
        + (f" ({len(pairs)} pairs below the threshold)" if len(pairs) > 1 else "")
        + f", below {rule.threshold:.4f}, the score under which only "
        f"{100 * GENUINE_FRR:.0f}% of pairs of photos of one person fall for this model: they may not show the "
        "same person. Look at the photos and remove any that is someone else."
    )


def pairs_below(vecs: np.ndarray[Any, Any], threshold: float) -> tuple[list[list[Any]], float]:
    """``([[i, j, score]] 1-based for every pair scoring below threshold, lowest pair score)`` of unit-normed
    ``vecs`` (one row per photo)."""
    scores = cosine_to_score(vecs @ vecs.T)
    n = len(vecs)
    pairs = [
        [i + 1, j + 1, round(float(scores[i, j]), 4)]
        for i in range(n)
        for j in range(i + 1, n)
        if scores[i, j] < threshold
    ]
    iu = np.triu_indices(n, 1)
    return pairs, round(float(scores[iu].min()), 4)


def consistency(ctx: AppContext, watchlist: str, entry_ref: int | str, *, by_person_id: bool = False) -> Consistency:
    """How alike an entry's photos are (pairs under the consistency threshold, with a warning).
    ``by_person_id``: ``entry_ref`` is a person id, never an entry id."""
    family = family_of(ctx.engine.embedder)
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        refs = WatchlistRepo(s, ctx.cipher)
        if by_person_id:
            found = refs.entry_by_person(wl.id, str(entry_ref))
            if found is None:
                raise NotFoundError(f"no entry {entry_ref!r} on watchlist {wl.name!r}", code="entry_not_found")
            entry = found
        else:
            entry = _get_entry(s, wl, entry_ref)
        encs = [refs.vector_bytes(r) for r in refs.embeddings(entry.id, family)]  # in memory only, row-bound
        pid = entry.person_id
    out = Consistency(
        person_id=pid, photos=len(encs), threshold=None, genuine_frr=None, min_score=None, pairs_below=[], warning=None
    )
    if len(encs) < 2:
        return out
    try:
        rule = consistency_threshold(ctx)
    except OpenLFRError:
        return replace(out, warning="no calibration for this model: photos not compared with each other")
    vecs = np.stack([np.frombuffer(e, dtype="<f4") for e in encs]).astype(np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    pairs, lowest = pairs_below(vecs, rule.threshold)
    del vecs
    return replace(
        out,
        threshold=rule.threshold,
        genuine_frr=round(rule.genuine_frr, 6),
        min_score=lowest,
        pairs_below=pairs,
        warning=consistency_warning(pid, pairs, rule),
    )


def entry_photos(ctx: AppContext, watchlist: str, entry_ref: int | str) -> EntryPhotos:
    """An entry's photos (metadata only, in the order added; ``index`` is what ``entries/{e}/images/{index}``
    serves) with the consistency of each pair."""
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        e = _get_entry(s, wl, entry_ref)
        imgs = WatchlistRepo(s).photos(e.id)
        photos = [
            PhotoMeta(index=i, image_id=im.id, width=im.width, height=im.height, added_at=im.added_at.isoformat())
            for i, im in enumerate(imgs)
        ]
        entry_id, pid = e.id, e.person_id
    return EntryPhotos(entry_id, pid, photos, consistency(ctx, watchlist, entry_id))


def remove_photo(
    ctx: AppContext, watchlist: str, entry_ref: int | str, index: int, image_id: int | None, actor: str
) -> PhotoRemoved:
    """Delete one reference photo (0-based ``index``, in the order added) with its embeddings; audited.
    ``image_id``, when given, must be that photo's id (so a page showing an older list removes nothing else).
    The last photo of an entry is not removed here: remove the person instead."""
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        ensure_editable(wl, "remove photos")
        e = _get_entry(s, wl, entry_ref)
        img = photo_at(s, e, index)
        refs = WatchlistRepo(s)
        photos = refs.photo_count(e.id)
        if image_id is not None and img.id != image_id:
            raise ConflictError(
                "the photos of this person changed since the page was loaded; reload it", code="stale_photo"
            )
        if photos == 1:
            raise ConflictError(
                f"this is the only photo of {e.person_id}; remove the person instead", code="last_photo"
            )
        integrity.check(s, ctx.cipher, wl)  # never re-sign (launder) a list changed outside OpenLFR
        n_emb = len(img.embeddings)
        refs.delete_photo(img)
        s.expire(e)
        integrity.reseal(s, ctx.cipher, wl)
        audit.record(
            s,
            actor,
            "watchlist.remove_image",
            "watchlist_entry",
            e.id,
            {"watchlist": watchlist, "image_id": img.id, "embeddings": n_emb, "photos_left": photos - 1},
            private={"person_id": e.person_id},
            cipher=ctx.cipher,
        )
        out = PhotoRemoved(e.id, e.person_id, img.id, photos - 1)
    ctx.db.checkpoint()
    return out


def update_entry(ctx: AppContext, watchlist: str, entry: int | str, actor: str, changes: dict[str, str]) -> EntryEdited:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InputError(f"cannot edit {', '.join(sorted(unknown))}; editable: {', '.join(EDITABLE)}", code="bad_field")
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
        audit.record(
            s,
            actor,
            "watchlist.update_entry",
            "watchlist_entry",
            e.id,
            {"watchlist": watchlist, "fields": sorted(changes)},
            private={"person_id": e.person_id, "before": before, "after": after},
            cipher=ctx.cipher,
        )
        return EntryEdited(e.id, e.person_id, e.display_name, e.category, e.reason)


def update_watchlist(ctx: AppContext, watchlist: str, actor: str, description: str) -> WatchlistEdited:
    if len(description) > 2000:
        raise InputError("description is longer than 2000 characters", code="too_long")
    with ctx.db.session() as s:
        wl = _get(s, watchlist)
        ensure_editable(wl, "edit its description")
        before = wl.description
        wl.description = description.strip()
        audit.record(
            s,
            actor,
            "watchlist.update",
            "watchlist",
            wl.id,
            {"name": watchlist, "before": {"description": before}, "after": {"description": wl.description}},
        )
        return WatchlistEdited(wl.name, wl.description)
