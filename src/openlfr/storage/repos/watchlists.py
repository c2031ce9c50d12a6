"""Watchlists: lists, their entries, reference photos and embeddings (sealed), and the integrity digest's reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from openlfr.errors import ConflictError
from openlfr.storage.crypto import Cipher
from openlfr.storage.models import ReferenceEmbedding, ReferenceImage, Watchlist, WatchlistEntry
from openlfr.storage.models_gov import Deployment
from openlfr.storage.sealed import aad_of, seal, unseal


def content_hash(data: bytes) -> str:
    """The hex sha256 of a plaintext photo or vector (stored beside its ciphertext, covered by the digest)."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SealedVector:
    """One embedding of a list as stored: its entry, the ciphertext and the content hash of the plaintext."""

    entry_id: int
    person_id: str
    name: str
    token: bytes
    embedding_id: int
    image_id: int
    content_sha256: str | None


@dataclass(frozen=True)
class DigestRows:
    """What a list's integrity digest covers, in a fixed order (plain values, no ciphertext)."""

    entries: list[tuple[Any, ...]]
    """``(id, person_id, display_name, category, reason, expires_at)`` by id."""
    images: list[tuple[Any, ...]]
    """``(id, entry_id, media_type, content_sha256)`` by id."""
    embeddings: list[tuple[Any, ...]]
    """``(id, image_id, model_family, model_id, dim, content_sha256)`` by id."""


@dataclass(frozen=True)
class Removed:
    """Rows deleted with a list or an entry."""

    entries: int
    images: int
    embeddings: int


def _vectors(watchlist_id: int) -> Select[int, str, str, bytes, int, int, str | None]:
    """The columns of :class:`SealedVector` for every embedding of a list."""
    return (
        select(
            WatchlistEntry.id,
            WatchlistEntry.person_id,
            WatchlistEntry.display_name,
            ReferenceEmbedding.vector_enc,
            ReferenceEmbedding.id,
            ReferenceEmbedding.image_id,
            ReferenceEmbedding.content_sha256,
        )
        .join(ReferenceImage, ReferenceImage.entry_id == WatchlistEntry.id)
        .join(ReferenceEmbedding, ReferenceEmbedding.image_id == ReferenceImage.id)
        .where(WatchlistEntry.watchlist_id == watchlist_id)
    )


class WatchlistRepo:
    """Watchlists and everything under them, over one open session; ``cipher`` seals and unseals photos and
    vectors (needed only by the methods that read or write them)."""

    def __init__(self, s: Session, cipher: Cipher | None = None) -> None:
        self.s = s
        self._cipher = cipher

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise ValueError("this WatchlistRepo was opened without a cipher")
        return self._cipher

    # ------------------------------------------------------------------ lists

    def by_name(self, name: str) -> Watchlist | None:
        return self.s.scalar(select(Watchlist).where(Watchlist.name == name))

    def get(self, watchlist_id: int) -> Watchlist | None:
        return self.s.get(Watchlist, watchlist_id)

    def all(self) -> list[Watchlist]:
        """Every list, by name."""
        return list(self.s.scalars(select(Watchlist).order_by(Watchlist.name)))

    def all_by_id(self) -> list[Watchlist]:
        """Every list, in the order created."""
        return list(self.s.scalars(select(Watchlist).order_by(Watchlist.id)))

    def sizes(self, watchlist_id: int) -> tuple[int, int]:
        """``(entries, photos)`` of a list."""
        entries = self.s.scalar(
            select(func.count()).select_from(WatchlistEntry).where(WatchlistEntry.watchlist_id == watchlist_id)
        )
        images = self.s.scalar(
            select(func.count())
            .select_from(ReferenceImage)
            .join(WatchlistEntry)
            .where(WatchlistEntry.watchlist_id == watchlist_id)
        )
        return int(entries or 0), int(images or 0)

    def owner_deployment(self, wl: Watchlist) -> Deployment | None:
        """The deployment a bespoke list belongs to (None for a standing list, or when it is gone)."""
        return None if wl.deployment_id is None else self.s.get(Deployment, wl.deployment_id)

    def delete_list(self, wl: Watchlist) -> Removed:
        """Delete a list with every entry, photo and embedding; ``ConflictError`` (``delete_incomplete``) if any
        photo or embedding is left behind (the caller's transaction then rolls back, P4)."""
        entry_ids = list(self.s.scalars(select(WatchlistEntry.id).where(WatchlistEntry.watchlist_id == wl.id)))
        image_ids = list(self.s.scalars(select(ReferenceImage.id).where(ReferenceImage.entry_id.in_(entry_ids))))
        n_emb = self._count_embeddings(image_ids)
        self._delete_images(image_ids)
        self.s.execute(delete(WatchlistEntry).where(WatchlistEntry.id.in_(entry_ids)))
        self.s.execute(delete(Watchlist).where(Watchlist.id == wl.id))
        left = int(
            self.s.scalar(select(func.count()).select_from(ReferenceImage).where(ReferenceImage.id.in_(image_ids))) or 0
        ) + self._count_embeddings(image_ids)
        if left:
            raise ConflictError(f"deletion left {left} biometric rows behind; rolled back", code="delete_incomplete")
        return Removed(len(entry_ids), len(image_ids), n_emb)

    # ------------------------------------------------------------------ entries

    def entry(self, entry_id: int) -> WatchlistEntry | None:
        return self.s.get(WatchlistEntry, entry_id)

    def entry_by_person(self, watchlist_id: int, person_id: str) -> WatchlistEntry | None:
        return self.s.scalar(
            select(WatchlistEntry).where(
                WatchlistEntry.watchlist_id == watchlist_id, WatchlistEntry.person_id == person_id
            )
        )

    def entries(self, watchlist_id: int) -> list[WatchlistEntry]:
        """A list's entries, in the order added."""
        return list(
            self.s.scalars(
                select(WatchlistEntry).where(WatchlistEntry.watchlist_id == watchlist_id).order_by(WatchlistEntry.id)
            )
        )

    def entries_with_photo_counts(self, watchlist_id: int) -> list[tuple[WatchlistEntry, int]]:
        """A list's entries by person id, each with how many reference photos it has."""
        rows = self.s.execute(
            select(WatchlistEntry, func.count(ReferenceImage.id))
            .outerjoin(ReferenceImage)
            .where(WatchlistEntry.watchlist_id == watchlist_id)
            .group_by(WatchlistEntry.id)
            .order_by(WatchlistEntry.person_id)
        ).all()
        return [(e, int(n)) for e, n in rows]

    def has_entries(self, watchlist_id: int) -> bool:
        found = self.s.scalar(select(WatchlistEntry.id).where(WatchlistEntry.watchlist_id == watchlist_id).limit(1))
        return found is not None

    def expired_entries(self, now: datetime) -> list[WatchlistEntry]:
        """Entries (of any list) whose ``expires_at`` is at or before ``now``."""
        q = select(WatchlistEntry).where(WatchlistEntry.expires_at.is_not(None), WatchlistEntry.expires_at <= now)
        return list(self.s.scalars(q).all())

    def first_photo(self, entry_id: int) -> tuple[str, bytes] | None:
        """The entry's first reference photo, unsealed: (media type, bytes); None without one."""
        photos = self.photos(entry_id)
        return None if not photos else (photos[0].media_type, self.image_bytes(photos[0]))

    def delete_entry(self, entry: WatchlistEntry) -> Removed:
        """Delete one entry with its photos and embeddings."""
        image_ids = list(self.s.scalars(select(ReferenceImage.id).where(ReferenceImage.entry_id == entry.id)))
        n_emb = self._count_embeddings(image_ids)
        self._delete_images(image_ids)
        self.s.execute(delete(WatchlistEntry).where(WatchlistEntry.id == entry.id))
        return Removed(1, len(image_ids), n_emb)

    # ------------------------------------------------------------------ photos and embeddings

    def photos(self, entry_id: int) -> list[ReferenceImage]:
        """An entry's reference photos, in the order added."""
        return list(
            self.s.scalars(
                select(ReferenceImage).where(ReferenceImage.entry_id == entry_id).order_by(ReferenceImage.id)
            )
        )

    def photo_count(self, entry_id: int) -> int:
        return int(
            self.s.scalar(select(func.count()).select_from(ReferenceImage).where(ReferenceImage.entry_id == entry_id))
            or 0
        )

    def list_photos(self, watchlist_id: int) -> list[ReferenceImage]:
        """Every reference photo of a list, in the order added."""
        return list(
            self.s.scalars(
                select(ReferenceImage)
                .join(WatchlistEntry)
                .where(WatchlistEntry.watchlist_id == watchlist_id)
                .order_by(ReferenceImage.id)
            )
        )

    def embeddings(self, entry_id: int, family: str) -> list[ReferenceEmbedding]:
        """An entry's embeddings of one model family, in the order of their photos."""
        return list(
            self.s.scalars(
                select(ReferenceEmbedding)
                .join(ReferenceImage, ReferenceImage.id == ReferenceEmbedding.image_id)
                .where(ReferenceImage.entry_id == entry_id, ReferenceEmbedding.model_family == family)
                .order_by(ReferenceImage.id)
            )
        )

    def delete_photo(self, img: ReferenceImage) -> None:
        """Delete one reference photo with its embeddings."""
        self._delete_images([img.id])

    def image_bytes(self, img: ReferenceImage) -> bytes:
        """The photo, decrypted (in memory only; checked to belong to its row)."""
        return unseal(self.cipher, img)

    def vector_bytes(self, emb: ReferenceEmbedding) -> bytes:
        """The vector (little-endian float32), decrypted (checked to belong to its row)."""
        return unseal(self.cipher, emb)

    def add_photo(
        self,
        entry: WatchlistEntry,
        data: bytes,
        *,
        media_type: str,
        width: int,
        height: int,
        box: dict[str, Any],
        quality: dict[str, Any],
    ) -> ReferenceImage:
        """A new reference photo of ``entry``, sealed and bound to its row (the row is flushed; a new entry
        comes in with it)."""
        img = ReferenceImage(
            entry=entry,
            image_enc=b"",
            width=width,
            height=height,
            content_sha256=content_hash(data),
            media_type=media_type,
            box=box,
            quality=quality,
        )
        seal(self.s, self.cipher, img, data)
        return img

    def add_embedding(
        self, img: ReferenceImage, vector: bytes, *, model_family: str, model_id: str, dim: int
    ) -> ReferenceEmbedding:
        """A new embedding of ``img`` (``vector``: little-endian float32), sealed and bound to its row."""
        emb = ReferenceEmbedding(
            model_family=model_family, model_id=model_id, dim=dim, vector_enc=b"", content_sha256=content_hash(vector)
        )
        img.embeddings.append(emb)
        seal(self.s, self.cipher, emb, vector)
        return emb

    def sealed_vectors(self, watchlist_id: int, family: str) -> list[SealedVector]:
        """A list's embeddings of one model family, still encrypted, by entry then photo (decrypt each with
        :meth:`open_vector`, after the list's integrity is checked)."""
        rows = self.s.execute(
            _vectors(watchlist_id)
            .where(ReferenceEmbedding.model_family == family)
            .order_by(WatchlistEntry.id, ReferenceImage.id)
        ).all()
        return [SealedVector(*r) for r in rows]

    def open_vector(self, v: SealedVector) -> bytes:
        """Decrypt a vector read by :meth:`sealed_vectors` (needs no open session)."""
        return self.cipher.decrypt(v.token, aad_of(ReferenceEmbedding, v.embedding_id, v.image_id))

    # ------------------------------------------------------------------ integrity digest

    def digest_rows(self, wl: Watchlist) -> DigestRows:
        """What the list's integrity digest covers (pending changes are flushed first)."""
        self.s.flush()
        entries = self.s.execute(
            select(
                WatchlistEntry.id,
                WatchlistEntry.person_id,
                WatchlistEntry.display_name,
                WatchlistEntry.category,
                WatchlistEntry.reason,
                WatchlistEntry.expires_at,
            )
            .where(WatchlistEntry.watchlist_id == wl.id)
            .order_by(WatchlistEntry.id)
        ).all()
        images = self.s.execute(
            select(ReferenceImage.id, ReferenceImage.entry_id, ReferenceImage.media_type, ReferenceImage.content_sha256)
            .join(WatchlistEntry, WatchlistEntry.id == ReferenceImage.entry_id)
            .where(WatchlistEntry.watchlist_id == wl.id)
            .order_by(ReferenceImage.id)
        ).all()
        embs = self.s.execute(
            select(
                ReferenceEmbedding.id,
                ReferenceEmbedding.image_id,
                ReferenceEmbedding.model_family,
                ReferenceEmbedding.model_id,
                ReferenceEmbedding.dim,
                ReferenceEmbedding.content_sha256,
            )
            .join(ReferenceImage, ReferenceImage.id == ReferenceEmbedding.image_id)
            .join(WatchlistEntry, WatchlistEntry.id == ReferenceImage.entry_id)
            .where(WatchlistEntry.watchlist_id == wl.id)
            .order_by(ReferenceEmbedding.id)
        ).all()
        return DigestRows([tuple(r) for r in entries], [tuple(r) for r in images], [tuple(r) for r in embs])

    def first_vector(self, watchlist_id: int) -> SealedVector | None:
        """Any one embedding of a list, still encrypted (to tell a wrong key from a tampered value)."""
        row = self.s.execute(_vectors(watchlist_id).limit(1)).first()
        return None if row is None else SealedVector(*row)

    # ------------------------------------------------------------------ helpers

    def _count_embeddings(self, image_ids: list[int]) -> int:
        return int(
            self.s.scalar(
                select(func.count()).select_from(ReferenceEmbedding).where(ReferenceEmbedding.image_id.in_(image_ids))
            )
            or 0
        )

    def _delete_images(self, image_ids: list[int]) -> None:
        self.s.execute(delete(ReferenceEmbedding).where(ReferenceEmbedding.image_id.in_(image_ids)))
        self.s.execute(delete(ReferenceImage).where(ReferenceImage.id.in_(image_ids)))
