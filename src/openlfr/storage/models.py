"""ORM models. Biometric columns (images, vectors) hold ciphertext only (P7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openlfr.storage.base import Base, utcnow

__all__ = [
    "AuditDetail",
    "AuditEvent",
    "Base",
    "Counter",
    "CounterBatch",
    "ReferenceEmbedding",
    "ReferenceImage",
    "Watchlist",
    "WatchlistEntry",
    "utcnow",
]


class Watchlist(Base):
    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    embedder_family: Mapped[str | None] = mapped_column(String(200), default=None)
    """The vector space of every embedding on this list; comparisons across families are refused."""
    deployment_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    """Set for a deployment's bespoke list (deleted when the deployment ends, P4)."""
    integrity_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    """HMAC-SHA256 (key derived from the encryption key) over the list's entries and the content
    hashes of its photos and embeddings; updated by every legitimate change, checked on load."""
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[WatchlistEntry]] = relationship(
        back_populates="watchlist", cascade="all, delete-orphan", passive_deletes=True
    )


class WatchlistEntry(Base):
    __tablename__ = "watchlist_entries"
    __table_args__ = (UniqueConstraint("watchlist_id", "person_id", name="uq_entry_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(300), default="")
    category: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)

    watchlist: Mapped[Watchlist] = relationship(back_populates="entries")
    images: Mapped[list[ReferenceImage]] = relationship(
        back_populates="entry", cascade="all, delete-orphan", passive_deletes=True
    )


class ReferenceImage(Base):
    __tablename__ = "reference_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("watchlist_entries.id", ondelete="CASCADE"), index=True)
    image_enc: Mapped[bytes] = mapped_column(LargeBinary)
    """The enrolled photo as supplied (encrypted)."""
    media_type: Mapped[str] = mapped_column(String(50), default="image/jpeg")
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    """sha256 of the plaintext photo (covered by the watchlist's integrity digest)."""
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    box: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    entry: Mapped[WatchlistEntry] = relationship(back_populates="images")
    embeddings: Mapped[list[ReferenceEmbedding]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )


class ReferenceEmbedding(Base):
    __tablename__ = "reference_embeddings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("reference_images.id", ondelete="CASCADE"), index=True)
    model_family: Mapped[str] = mapped_column(String(200), index=True)
    model_id: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    vector_enc: Mapped[bytes] = mapped_column(LargeBinary)
    """float32 little-endian vector, L2-normalised (encrypted)."""
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    """sha256 of the plaintext vector, checked when the list is loaded."""

    image: Mapped[ReferenceImage] = relationship(back_populates="embeddings")


class AuditEvent(Base):
    """Append-only, hash-chained (P6). ``hash = sha256(prev_hash || canonical(event))``."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditDetail(Base):
    """The personal part of one audit event (person ids, names, free-text notes), encrypted and
    purgeable. The chained event holds only ``details_ref`` and a salted sha256 of this content,
    so deleting the row (retention, ``purge_key``) leaves the chain verifiable (P6)."""

    __tablename__ = "audit_details"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    purge_key: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    """E.g. ``alert:12``: deleted when that alert is purged by retention."""
    data_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Counter(Base):
    """Aggregate counters (faces seen, quality rejections, alerts...) per scope; the only trace
    a non-matching face leaves (P1)."""

    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("scope", "name", name="uq_counter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CounterBatch(Base):
    """A spooled counter delta already added to ``counters`` (recorded in the same transaction), so a
    delta flushed again after a crash between the commit and the spool file's deletion is skipped."""

    __tablename__ = "counter_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
