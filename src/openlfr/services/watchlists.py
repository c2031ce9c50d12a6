"""Watchlists: create, list, show, delete, enrol photos, import folders, build the search index."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openlfr.engine.imageio import IMAGE_SUFFIXES, decode_image_scaled, read_bytes, strip_metadata
from openlfr.engine.matcher import WatchlistEntryRef, WatchlistIndex
from openlfr.engine.pipeline import enrol_face
from openlfr.engine.protocols import family_of
from openlfr.errors import ConflictError, InputError, NotFoundError
from openlfr.names import check_name
from openlfr.services import watchlist_integrity as integrity
from openlfr.services.context import AppContext
from openlfr.services.media import sniff_image
from openlfr.storage import audit
from openlfr.storage.models import ReferenceImage, Watchlist, WatchlistEntry
from openlfr.storage.repos.watchlists import WatchlistRepo

log = logging.getLogger(__name__)


@dataclass
class Rejection:
    source: str
    person_id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "person_id": self.person_id, "reason": self.reason}


@dataclass(frozen=True)
class EnrolSummary:
    """What an enrolment did: photos accepted, people enrolled, photos refused (per reason code, and each with its
    reason)."""

    accepted_images: int
    people: int
    rejected_images: int
    rejected_by_reason: dict[str, int]
    rejected: list[Rejection]


@dataclass
class EnrolResult:
    accepted: int = 0
    people: set[str] = field(default_factory=set)
    rejected: list[Rejection] = field(default_factory=list)

    def merge(self, other: EnrolResult) -> None:
        self.accepted += other.accepted
        self.people |= other.people
        self.rejected.extend(other.rejected)

    def summary(self) -> EnrolSummary:
        reasons: dict[str, int] = {}
        for r in self.rejected:
            key = r.reason.split(":", 1)[0]
            reasons[key] = reasons.get(key, 0) + 1
        return EnrolSummary(
            accepted_images=self.accepted,
            people=len(self.people),
            rejected_images=len(self.rejected),
            rejected_by_reason=reasons,
            rejected=list(self.rejected),
        )


@dataclass(frozen=True)
class WatchlistCreated:
    id: int
    name: str


@dataclass(frozen=True)
class WatchlistSummary:
    """A watchlist with its sizes (no entries)."""

    id: int
    name: str
    description: str
    entries: int
    images: int
    embedder: str | None
    """The family of the list's vectors (None: no vectors yet)."""
    embedder_current: bool | None
    """False: the vectors are from another model than the current one (re-embed); None: no vectors yet."""
    deployment_id: int | None
    """The deployment a bespoke copy belongs to (None: a standing list)."""
    created_by: str
    created_at: str


@dataclass(frozen=True)
class EntryView:
    """One person on a list (no photos): ``images`` counts their reference photos."""

    id: int
    person_id: str
    name: str
    category: str
    reason: str
    source: str
    added_by: str
    added_at: str
    expires_at: str | None
    images: int


@dataclass(frozen=True)
class WatchlistView:
    id: int
    name: str
    description: str
    embedder: str | None
    embedder_current: bool | None
    deployment_id: int | None
    entries: list[EntryView]
    """By person id."""


@dataclass(frozen=True)
class EntryRemoved:
    entry_id: int
    person_id: str
    images: int
    """Photos deleted with the entry."""
    embeddings: int


@dataclass(frozen=True)
class ReembedRejection:
    person_id: str
    image_id: int
    reason: str


@dataclass(frozen=True)
class ReembedResult:
    watchlist: str
    from_model: str | None
    """The family of the vectors replaced (None: the list had none)."""
    to_model: str
    images: int
    embedded: int
    without_face: int
    """Photos in which the current pipeline found no usable face: they keep no vector."""
    rejected: list[ReembedRejection]


def _get(session: Session, name: str) -> Watchlist:
    wl = WatchlistRepo(session).by_name(name)
    if wl is None:
        raise NotFoundError(f"no watchlist named {name!r}", code="watchlist_not_found")
    return wl


def ensure_editable(wl: Watchlist, action: str) -> None:
    """Refuse to change a deployment's own watchlist through the ordinary watchlist paths: it changes
    only through the deployment (created with it, fixed at authorisation, deleted when it ends)."""
    if wl.deployment_id is not None:
        raise ConflictError(
            f"watchlist {wl.name!r} belongs to deployment {wl.deployment_id} and changes only "
            f"through that deployment (create, authorise, end); cannot {action}",
            code="deployment_watchlist",
        )


def create(
    ctx: AppContext, name: str, actor: str, description: str = "", deployment_id: int | None = None
) -> WatchlistCreated:
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError("watchlist name must be 1-200 characters", code="bad_name")
    check_name(name, "watchlist name", "bad_name")
    try:
        with ctx.db.session() as s:
            wl = Watchlist(name=name, description=description, created_by=actor, deployment_id=deployment_id)
            s.add(wl)
            s.flush()
            integrity.reseal(s, ctx.cipher, wl)
            audit.record(s, actor, "watchlist.create", "watchlist", wl.id, {"name": name})
            return WatchlistCreated(wl.id, wl.name)
    except IntegrityError:
        raise ConflictError(f"a watchlist named {name!r} already exists", code="watchlist_exists") from None


def list_all(ctx: AppContext) -> list[WatchlistSummary]:
    with ctx.db.session() as s:
        out = []
        lists = WatchlistRepo(s)
        for wl in lists.all():
            entries, images = lists.sizes(wl.id)
            out.append(
                WatchlistSummary(
                    id=wl.id,
                    name=wl.name,
                    description=wl.description,
                    entries=entries,
                    images=images,
                    embedder=wl.embedder_family,
                    embedder_current=embeddings_current(ctx, wl.embedder_family),
                    deployment_id=wl.deployment_id,
                    created_by=wl.created_by,
                    created_at=wl.created_at.isoformat(),
                )
            )
        return out


def show(ctx: AppContext, name: str) -> WatchlistView:
    with ctx.db.session() as s:
        wl = _get(s, name)
        rows = WatchlistRepo(s).entries_with_photo_counts(wl.id)
        entries = [
            EntryView(
                id=e.id,
                person_id=e.person_id,
                name=e.display_name,
                category=e.category,
                reason=e.reason,
                source=e.source,
                added_by=e.added_by,
                added_at=e.added_at.isoformat(),
                expires_at=e.expires_at.isoformat() if e.expires_at else None,
                images=n,
            )
            for e, n in rows
        ]
        return WatchlistView(
            id=wl.id,
            name=wl.name,
            description=wl.description,
            embedder=wl.embedder_family,
            embedder_current=embeddings_current(ctx, wl.embedder_family),
            deployment_id=wl.deployment_id,
            entries=entries,
        )


def delete_watchlist(ctx: AppContext, name: str, actor: str) -> dict[str, int]:
    """Delete a watchlist with every entry, image and embedding; verify nothing is left (P4)."""
    with ctx.db.session() as s:
        wl = _get(s, name)
        ensure_editable(wl, "delete it")
        removed = WatchlistRepo(s).delete_list(wl)
        summary = {"entries": removed.entries, "images": removed.images, "embeddings": removed.embeddings}
        audit.record(s, actor, "watchlist.delete", "watchlist", wl.id, {"name": name, **summary})
    ctx.db.checkpoint()
    return summary


def _enrol_one(
    ctx: AppContext, s: Session, wl: Watchlist, entry: WatchlistEntry, data: bytes, source: str, actor: str
) -> str | None:
    """Enrol one photo; return a rejection reason or None."""
    try:
        image, scale = decode_image_scaled(
            data, name=source, max_pixels=ctx.settings.max_image_pixels, max_side=ctx.settings.max_photo_side
        )
    except InputError as exc:
        return f"unreadable: {exc.message}"
    engine = ctx.engine
    face = enrol_face(engine, image)
    if face.vector is None or face.box is None:
        return face.reason
    vec = face.vector.astype("<f4")
    family = family_of(engine.embedder)
    if wl.embedder_family is None:
        wl.embedder_family = family
    elif wl.embedder_family != family:
        raise ConflictError(
            f"watchlist {wl.name!r} holds {wl.embedder_family} vectors but the engine uses "
            f"{family}; re-enrol the list with that model",
            code="model_mismatch",
        )
    h, w = round(image.shape[0] * scale), round(image.shape[1] * scale)  # the photo's own size
    refs = WatchlistRepo(s, ctx.cipher)
    img = refs.add_photo(  # sealed, bound to the row (flushed first)
        entry,
        data,
        media_type=sniff_image(data) or "image/jpeg",
        width=w,
        height=h,
        box=dict(zip(("x1", "y1", "x2", "y2"), (v * scale for v in face.box), strict=True)),
        quality=dict(face.quality or {}),
    )
    refs.add_embedding(
        img, vec.tobytes(), model_family=family, model_id=engine.embedder.model_id, dim=int(vec.shape[0])
    )
    return None


def _image_digests(refs: WatchlistRepo, entry: WatchlistEntry) -> set[bytes]:
    """SHA-256 of each photo already enrolled for ``entry`` (decrypted in memory only)."""
    return {hashlib.sha256(_clean(refs.image_bytes(img))).digest() for img in entry.images}


def _clean(data: bytes) -> bytes:
    """A stored photo without metadata (photos enrolled before stripping was added may carry EXIF)."""
    try:
        return strip_metadata(data)
    except InputError:
        return data


def add_person(
    ctx: AppContext,
    name: str,
    person_id: str,
    sources: Iterable[Path | tuple[str, bytes]],
    actor: str,
    display_name: str = "",
    category: str = "",
    reason: str = "",
    source_note: str = "",
    expires_at: datetime | None = None,
) -> EnrolResult:
    """Enrol one person's photos (files or (name, bytes) uploads); each photo accepted or rejected."""
    person_id = person_id.strip()
    if not person_id or len(person_id) > 200:
        raise InputError("person id must be 1-200 characters", code="bad_person_id")
    if person_id.startswith(ENTRY_ID_PREFIX):
        raise InputError(
            f"a person id may not start with {ENTRY_ID_PREFIX!r} (that form names an entry id)", code="bad_person_id"
        )
    check_name(person_id, "person id", "bad_person_id")
    items = list(sources)
    for attempt in range(3):
        try:
            return _add_person_once(
                ctx, name, person_id, items, actor, display_name, category, reason, source_note, expires_at
            )
        except IntegrityError:
            # another process created this person's entry between our look-up and our commit (two
            # `watchlist add` of one new person at once): nothing of ours was stored; again, now adding
            # the photos to the entry that exists
            if attempt == 2:
                raise ConflictError(
                    f"person {person_id!r} is being changed by someone else; try again", code="concurrent_edit"
                ) from None
            log.info("person %s created concurrently; retrying the enrolment", "<private>")
    raise AssertionError("unreachable")


def _clean_photo(ctx: AppContext, src: Path | tuple[str, bytes]) -> tuple[str, bytes | str]:
    """The photo's label and its bytes without metadata (so what is stored, served or exported carries no
    EXIF/GPS/XMP/comments), or why it is unreadable (too large, not an image, a file that cannot be read)."""
    label, data = (str(src), None) if isinstance(src, Path) else src
    try:
        if data is None:
            data = read_bytes(Path(label), ctx.settings.max_upload_bytes)
        elif len(data) > ctx.settings.max_upload_bytes:
            raise InputError(
                f"{label}: {len(data)} bytes exceeds the limit of {ctx.settings.max_upload_bytes}",
                code="image_too_large",
            )
    except InputError as exc:
        return label, exc.message
    except OSError as exc:  # permission denied, vanished, I/O error: report it, go on
        return label, str(exc.strerror or exc)
    try:
        return label, strip_metadata(data, label, ctx.settings.max_image_pixels)
    except InputError as exc:
        return label, exc.message


def _record_enrolment(
    ctx: AppContext, s: Session, actor: str, name: str, entry: WatchlistEntry, result: EnrolResult
) -> None:
    """The audit event of photos enrolled for one entry: how many added and rejected; the person id, privately."""
    audit.record(
        s,
        actor,
        "watchlist.enrol",
        "watchlist_entry",
        entry.id,
        {"watchlist": name, "images_added": result.accepted, "images_rejected": len(result.rejected)},
        private={"person_id": entry.person_id},
        cipher=ctx.cipher,
    )


def _add_person_once(
    ctx: AppContext,
    name: str,
    person_id: str,
    sources: list[Path | tuple[str, bytes]],
    actor: str,
    display_name: str,
    category: str,
    reason: str,
    source_note: str,
    expires_at: datetime | None,
) -> EnrolResult:
    result = EnrolResult()
    with ctx.db.session() as s:
        wl = _get(s, name)
        ensure_editable(wl, "add people or photos")
        refs = WatchlistRepo(s, ctx.cipher)
        entry = refs.entry_by_person(wl.id, person_id)
        created = entry is None
        if entry is None:
            # Not added to the session yet: the first accepted photo brings it in (cascade), so a
            # person none of whose photos is accepted leaves no entry behind.
            entry = WatchlistEntry(
                watchlist_id=wl.id,
                person_id=person_id,
                display_name=display_name or person_id,
                category=category,
                reason=reason,
                source=source_note,
                added_by=actor,
                expires_at=expires_at,
            )
        # re-enrolling the same photo (a second import of the same folder) adds nothing
        have = _image_digests(refs, entry) if not created else set()
        for src in sources:
            label, data = _clean_photo(ctx, src)
            if isinstance(data, str):
                result.rejected.append(Rejection(label, person_id, f"unreadable: {data}"))
                continue
            digest = hashlib.sha256(data).digest()
            if digest in have:
                result.rejected.append(
                    Rejection(label, person_id, "duplicate: this photo is already enrolled for this person")
                )
                continue
            why = _enrol_one(ctx, s, wl, entry, data, label, actor)
            if why is None:
                have.add(digest)
                result.accepted += 1
                result.people.add(person_id)
            else:
                result.rejected.append(Rejection(label, person_id, why))
        if result.accepted == 0 and created:
            return result
        s.flush()
        integrity.reseal(s, ctx.cipher, wl)
        _record_enrolment(ctx, s, actor, name, entry, result)
    return result


def import_folder(
    ctx: AppContext,
    name: str,
    folder: Path,
    actor: str,
    wrap: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
    limit: int | None = None,
) -> EnrolResult:
    """One subfolder per person; the subfolder's name is the person id."""
    with ctx.db.session() as s:
        ensure_editable(_get(s, name), "import into it")
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder", code="not_a_folder")
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    if limit is not None:
        people = people[:limit]
    if not people:
        raise InputError(f"{folder}: no subfolders (expected one subfolder per person)", code="empty_folder")
    total = EnrolResult()
    items: Iterable[Path] = wrap(people, len(people)) if wrap else people
    for person_dir in items:
        # one bad folder or file is reported and skipped; the import goes on with the rest
        try:
            files = sorted(f for f in person_dir.iterdir() if f.is_file() and not f.name.startswith("."))
        except OSError as exc:
            total.rejected.append(
                Rejection(
                    str(person_dir), person_dir.name, f"unreadable: folder cannot be listed ({exc.strerror or exc})"
                )
            )
            continue
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        for f in files:
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                total.rejected.append(Rejection(str(f), person_dir.name, "unreadable: not an image file type"))
        if images:
            try:
                total.merge(
                    add_person(
                        ctx,
                        name,
                        person_dir.name,
                        images,
                        actor,
                        display_name=person_dir.name.replace("_", " "),
                        source_note=str(person_dir),
                    )
                )
            except InputError as exc:  # e.g. a folder name that is not a valid person id
                total.rejected.extend(Rejection(str(f), person_dir.name, f"{exc.code}: {exc.message}") for f in images)
    return total


@dataclass(frozen=True)
class ListRef:
    """Which stored watchlist an index was loaded from (and the deployment that owns it, if any)."""

    id: int
    name: str
    deployment_id: int | None


def load_index(ctx: AppContext, name: str) -> tuple[WatchlistIndex, ListRef]:
    """Decrypt a watchlist's vectors into an in-memory index for the current engine's model."""
    family = family_of(ctx.engine.embedder)
    with ctx.db.session() as s:
        wl = _get(s, name)
        if wl.embedder_family is not None and wl.embedder_family != family:
            raise ConflictError(
                f"watchlist {name!r} holds {wl.embedder_family} vectors but the engine uses "
                f"{family}; use the same model or re-enrol",
                code="model_mismatch",
            )
        try:
            integrity.check(s, ctx.cipher, wl)
        except ConflictError as exc:
            failed: tuple[int, ConflictError] | None = (wl.id, exc)
        else:
            failed = None
        refs = WatchlistRepo(s, ctx.cipher)
        rows = refs.sealed_vectors(wl.id, family)
        meta = ListRef(wl.id, wl.name, wl.deployment_id)
        wl_id = wl.id
    if failed is not None:
        integrity.record_failure(ctx, failed[0], name, failed[1], "load")
        raise failed[1]
    entries: list[WatchlistEntryRef] = []
    pos: dict[int, int] = {}
    row_entry: list[int] = []
    dim = ctx.engine.embedder.dim
    vecs = np.zeros((len(rows), dim), np.float32)
    for i, row in enumerate(rows):
        if row.entry_id not in pos:
            pos[row.entry_id] = len(entries)
            entries.append(WatchlistEntryRef(entry_id=row.entry_id, person_id=row.person_id, name=row.name))
        row_entry.append(pos[row.entry_id])
        plain = refs.open_vector(row)  # after the session: the repository only decrypts here
        if integrity.content_hash(plain) != row.content_sha256:
            bad = ConflictError(
                f"watchlist {name!r}: an embedding does not match its content hash; refused", code="watchlist_integrity"
            )
            integrity.record_failure(ctx, wl_id, name, bad, "load")
            raise bad
        vecs[i] = np.frombuffer(plain, dtype="<f4")
    return WatchlistIndex(vecs, entries, row_entry, model_id=family, dim=dim), meta


# ---------------------------------------------------------------- console: one entry (added for the API, issue 6)


ENTRY_ID_PREFIX = "entry:"
"""An entry reference is a person id, always (``"12345"`` is the person 12345, never entry id 12345);
an entry's numeric id is given only in the explicit form ``entry:<id>`` (or as a Python ``int``)."""
_MAX_ID = 2_147_483_647


def parse_entry_ref(ref: int | str) -> tuple[str, int | str]:
    """``("id", n)`` for an int or ``"entry:<n>"``; ``("person", person_id)`` otherwise."""
    if isinstance(ref, int):
        return "id", ref
    if ref.startswith(ENTRY_ID_PREFIX):
        num = ref[len(ENTRY_ID_PREFIX) :].strip()
        if not num.isdigit():
            raise InputError(f"entry reference {ref[:60]!r}: expected {ENTRY_ID_PREFIX}<number>", code="bad_entry_ref")
        return "id", int(num)
    return "person", ref


def _get_entry(s: Session, wl: Watchlist, ref: int | str) -> WatchlistEntry:
    kind, value = parse_entry_ref(ref)
    entry: WatchlistEntry | None = None
    if kind == "id":
        assert isinstance(value, int)
        entry = WatchlistRepo(s).entry(value) if 0 <= value <= _MAX_ID else None
        if entry is not None and entry.watchlist_id != wl.id:
            entry = None
    else:
        entry = WatchlistRepo(s).entry_by_person(wl.id, str(value))
    if entry is None:
        what = f"entry id {value}" if kind == "id" else f"person {str(value)[:200]!r}"
        raise NotFoundError(f"no {what} on watchlist {wl.name!r}", code="entry_not_found")
    return entry


def check_editable(ctx: AppContext, name: str, action: str) -> None:
    """404 for an unknown watchlist; 409 ``deployment_watchlist`` for a deployment's own list."""
    with ctx.db.session() as s:
        ensure_editable(_get(s, name), action)


def remove_entry(ctx: AppContext, name: str, entry: int | str, actor: str) -> EntryRemoved:
    """Delete one person (person id, or ``entry:<id>``) with their photos and embeddings (audited)."""
    with ctx.db.session() as s:
        wl = _get(s, name)
        ensure_editable(wl, "remove people")
        e = _get_entry(s, wl, entry)
        was_intact = integrity.is_valid(s, ctx.cipher, wl)  # never reseal (launder) a tampered list
        removed = WatchlistRepo(s).delete_entry(e)
        summary = EntryRemoved(e.id, e.person_id, removed.images, removed.embeddings)
        if was_intact:
            integrity.reseal(s, ctx.cipher, wl)
        audit.record(
            s,
            actor,
            "watchlist.remove_entry",
            "watchlist_entry",
            e.id,
            {
                "watchlist": name,
                "entry_id": summary.entry_id,
                "images": summary.images,
                "embeddings": summary.embeddings,
            },
            private={"person_id": e.person_id},
            cipher=ctx.cipher,
        )
    ctx.db.checkpoint()
    return summary


def entry_image(
    ctx: AppContext, name: str, entry: int | str, index: int, actor: str, role: str, audited: bool = False
) -> tuple[bytes, str]:
    """Decrypt one reference photo of an entry (0-based ``index``) for review; audited (``audited``: already, by
    the page view that declared it, ``services.image_views``), refused to auditors."""
    from openlfr.services.roles import MAY_VIEW_IMAGES, require_role

    require_role(role, MAY_VIEW_IMAGES, "view face images")
    with ctx.db.session() as s:
        wl = _get(s, name)
        e = _get_entry(s, wl, entry)
        img = photo_at(s, e, index)
        data = _clean(WatchlistRepo(s, ctx.cipher).image_bytes(img))
        if not audited:
            audit.record(
                s,
                actor,
                "watchlist.view_image",
                "watchlist_entry",
                e.id,
                {"watchlist": name, "image_id": img.id, "role": role},
            )
        return data, img.media_type


# ---------------------------------------------------------------- model change: re-embed stored photos (issue 17)


def embeddings_current(ctx: AppContext, family: str | None) -> bool | None:
    """Whether a list's vectors are from the current embedder (None: the list has none yet)."""
    return None if family is None else family == family_of(ctx.engine.embedder)


def _refuse_if_live(s: Session, wl: Watchlist) -> None:
    """Refuse while a deployment of the list is live (its running analysers hold the old vectors)."""
    dep = WatchlistRepo(s).owner_deployment(wl)
    if dep is not None and dep.state == "live":
        raise ConflictError(
            f"watchlist {wl.name!r} is in use by live deployment {dep.id}; end or stop it before re-embedding",
            code="deployment_live",
        )


def _reembed_image(ctx: AppContext, s: Session, img: ReferenceImage, family: str) -> str | None:
    """Replace the photo's vectors by the current embedder's (its box and quality too); the reason it has none now
    (unreadable, no usable face), or None."""
    engine = ctx.engine
    refs = WatchlistRepo(s, ctx.cipher)
    data = refs.image_bytes(img)
    try:
        image, scale = decode_image_scaled(data, name=f"image {img.id}", max_pixels=ctx.settings.max_image_pixels)
    except InputError as exc:
        return exc.message
    face = enrol_face(engine, image)
    for old in list(img.embeddings):
        img.embeddings.remove(old)
    if face.vector is None or face.box is None:
        return face.reason or "no face"
    vec = face.vector.astype("<f4")
    img.box = dict(zip(("x1", "y1", "x2", "y2"), (v * scale for v in face.box), strict=True))
    img.quality = dict(face.quality or {})
    refs.add_embedding(
        img, vec.tobytes(), model_family=family, model_id=engine.embedder.model_id, dim=int(vec.shape[0])
    )
    return None


def reembed(ctx: AppContext, name: str, actor: str) -> ReembedResult:
    """Re-embed every stored (encrypted) reference photo of a watchlist with the current embedder.

    The old model's vectors are replaced by the new model's in one transaction, and the list is
    re-sealed; a photo in which the new pipeline finds no usable face keeps no vector and is reported.
    Refused while a deployment of the list is live (its running analysers hold the old vectors) and
    for a list whose integrity check fails (re-embedding never launders a tampered list). Audited."""
    family = family_of(ctx.engine.embedder)
    with ctx.db.session() as s:
        wl = _get(s, name)
        _refuse_if_live(s, wl)
        integrity.check(s, ctx.cipher, wl)
        old_family = wl.embedder_family
        images = WatchlistRepo(s).list_photos(wl.id)
        rejected: list[ReembedRejection] = []
        for img in images:
            why = _reembed_image(ctx, s, img, family)
            if why is not None:
                rejected.append(ReembedRejection(img.entry.person_id, img.id, why))
        done = len(images) - len(rejected)
        s.flush()
        wl.embedder_family = family if done else None
        integrity.reseal(s, ctx.cipher, wl)
        out = ReembedResult(
            watchlist=name,
            from_model=old_family,
            to_model=family,
            images=len(images),
            embedded=done,
            without_face=len(rejected),
            rejected=rejected,
        )
        audit.record(
            s, actor, "watchlist.reembed", "watchlist", wl.id, {k: v for k, v in asdict(out).items() if k != "rejected"}
        )
    ctx.db.checkpoint()
    return out


def photo_at(s: Session, e: WatchlistEntry, index: int) -> ReferenceImage:
    """An entry's ``index``-th reference photo (0-based, in the order added); ``NotFoundError`` if it has none."""
    imgs = WatchlistRepo(s).photos(e.id)
    if not 0 <= index < len(imgs):
        raise NotFoundError(
            f"entry {e.person_id!r} has {len(imgs)} photo(s); no photo {index + 1}", code="image_not_found"
        )
    return imgs[index]
