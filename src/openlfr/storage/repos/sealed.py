"""Every encrypted column at once (``openlfr.storage.sealed.SEALED``): counting and re-encrypting them for key
rotation, and the audit chain's head whose anchor is signed with the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session

from openlfr.storage.crypto import Cipher
from openlfr.storage.models import ReferenceEmbedding, ReferenceImage
from openlfr.storage.repos.watchlists import content_hash
from openlfr.storage.sealed import SEALED

COLUMNS: tuple[str, ...] = tuple(spec.name for spec in SEALED)
"""Each encrypted column as ``table.column``, in the order they are re-encrypted."""
ENCRYPTED_COLUMNS: tuple[tuple[Any, str], ...] = tuple((spec.model, spec.column) for spec in SEALED)
"""Each encrypted column as ``(model, column attribute name)``."""
_BY_NAME = {spec.name: spec for spec in SEALED}
_HASHED = (ReferenceImage, ReferenceEmbedding)
"""Models that keep the sha256 of their plaintext beside the ciphertext."""


@dataclass(frozen=True)
class Batch:
    """One batch of rows of an encrypted column re-encrypted by :meth:`SealedColumns.reencrypt_stale`."""

    last_id: int | None
    """The highest row id read (None: no rows after the one asked for, the column is done)."""
    rewritten: int


class SealedColumns:
    """The encrypted columns of every table, over one open session; ``cipher`` re-encrypts them."""

    def __init__(self, s: Session, cipher: Cipher | None = None) -> None:
        self.s = s
        self._cipher = cipher

    def stored_values(self) -> int:
        """How many encrypted values the database holds (tables not created yet count none)."""
        tables = set(inspect(self.s.connection()).get_table_names())
        n = 0
        for spec in SEALED:
            if spec.model.__tablename__ in tables:
                n += int(self.s.scalar(select(func.count()).select_from(spec.model.__table__)) or 0)
        return n

    def reencrypt_stale(self, column: str, after: int, limit: int) -> Batch:
        """Re-encrypt, with the cipher's first key, the values of ``column`` (``table.column``) in the next
        ``limit`` rows with an id above ``after`` that are under another key or in the v1 format; fill a missing
        content hash. Compare-and-swap per row: a value rewritten concurrently keeps its newer value."""
        if self._cipher is None:
            raise ValueError("SealedColumns needs a cipher to re-encrypt")
        cipher, spec = self._cipher, _BY_NAME[column]
        model = spec.model
        col = getattr(model, spec.column)
        parts = [getattr(model, p) for p in spec.parts]
        has_hash = model in _HASHED
        extra = [model.content_sha256] if has_hash else []
        rows = self.s.execute(
            select(model.id, col, *parts, *extra).where(model.id > after).order_by(model.id).limit(limit)
        ).all()
        rewritten = 0
        for row in rows:
            rid, token = row[0], bytes(row[1])
            if cipher.is_current(token):
                continue
            aad = spec.aad(tuple(row[2 : 2 + len(parts)]))
            plain = cipher.decrypt(token, aad)
            values: dict[str, Any] = {spec.column: cipher.encrypt(plain, aad)}
            if has_hash and row[-1] is None:
                values["content_sha256"] = content_hash(plain)
            res = self.s.execute(update(model).where(model.id == rid, col == token).values(values))
            rewritten += int(res.rowcount or 0)  # type: ignore[attr-defined]
        return Batch(int(rows[-1][0]) if rows else None, rewritten)
