"""Which columns are encrypted, and what each ciphertext is bound to (AEAD associated data).

Each encrypted column is bound to its own row's identifying columns only (so a value can be
checked from the row alone): its id and its owner (entry, image, alert, deployment). A value
copied into another row, or a row moved under another owner by SQL, fails to decrypt. Moving a
photo to another entry is also caught by the watchlist integrity digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from openlfr.storage.crypto import Cipher, bind
from openlfr.storage.models import AuditDetail, ReferenceEmbedding, ReferenceImage
from openlfr.storage.models_gov import AlertImage, DeploymentCamera


@dataclass(frozen=True)
class Sealed:
    model: Any
    column: str
    parts: tuple[str, ...]
    """Columns of the row that the ciphertext is bound to, in order."""

    def aad(self, values: tuple[Any, ...] | list[Any]) -> bytes:
        return bind(self.model.__tablename__, self.column, *values)

    @property
    def name(self) -> str:
        return f"{self.model.__tablename__}.{self.column}"


SEALED: tuple[Sealed, ...] = (
    Sealed(ReferenceImage, "image_enc", ("id", "entry_id")),
    Sealed(ReferenceEmbedding, "vector_enc", ("id", "image_id")),
    Sealed(AlertImage, "data_enc", ("id", "alert_id", "kind")),
    Sealed(DeploymentCamera, "url_enc", ("id", "deployment_id")),
    Sealed(AuditDetail, "data_enc", ("ref",)),
)
_BY_MODEL = {s.model: s for s in SEALED}


def aad_for(obj: Any) -> bytes:
    """The associated data of ``obj``'s encrypted column (the row must have its id: flush first)."""
    spec = _BY_MODEL[type(obj)]
    values = [getattr(obj, p) for p in spec.parts]
    if any(v is None for v in values):
        raise ValueError(f"{spec.name}: row not flushed yet (no {spec.parts})")
    return spec.aad(values)


def aad_of(model: Any, *values: Any) -> bytes:
    """The associated data of a ``model`` row given its binding columns' values (see ``SEALED``)."""
    return _BY_MODEL[model].aad(values)


def seal(s: Session, cipher: Cipher, obj: Any, data: bytes) -> None:
    """Encrypt ``data`` into ``obj``'s encrypted column, bound to the row (flushing it first if
    it has no id yet; the column holds an empty placeholder until then, never the plaintext)."""
    spec = _BY_MODEL[type(obj)]
    if any(getattr(obj, p) is None for p in spec.parts):
        if getattr(obj, spec.column, None) is None:
            setattr(obj, spec.column, b"")
        s.add(obj)
        s.flush()
    setattr(obj, spec.column, cipher.encrypt(data, aad_for(obj)))


def unseal(cipher: Cipher, obj: Any) -> bytes:
    """Decrypt ``obj``'s encrypted column, checking it belongs to this row."""
    spec = _BY_MODEL[type(obj)]
    return cipher.decrypt(getattr(obj, spec.column), aad_for(obj))
