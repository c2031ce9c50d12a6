"""Watchlist integrity digest (issue 13, item 9a).

``Watchlist.integrity_digest`` = HMAC-SHA256, under a key derived (HKDF, info ``openlfr watchlist
v1``) from the encryption key, of a canonical listing of the list: its id and model family; each
entry's id, person id, name, category, reason and expiry; each photo's id, entry and plaintext
sha256; each embedding's id, photo, model and plaintext sha256. Every legitimate change (create,
enrol, remove an entry, copy into a deployment, expiry) reseals it in the same transaction. It
is checked whenever a list is loaded for search or live use and when a deployment's plan is
built; loading also checks each decrypted vector against its content hash. A mismatch raises
``ConflictError`` (``watchlist_integrity``) and is audited (``watchlist.integrity_failed``).

Someone who can write SQL but does not hold the key cannot recompute the digest, so adding,
removing, renaming or swapping entries, photos or vectors behind the service's back is detected.
A list with entries but no digest (written before this check existed) is refused
(``watchlist_unsealed``) until an administrator seals it with ``openlfr keys reencrypt``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from openlfr.errors import ConflictError
from openlfr.services.context import AppContext
from openlfr.storage import audit
from openlfr.storage.audit_anchor import derive
from openlfr.storage.crypto import Cipher
from openlfr.storage.models import Watchlist
from openlfr.storage.repos.watchlists import WatchlistRepo
from openlfr.storage.repos.watchlists import content_hash as content_hash

log = logging.getLogger(__name__)


def _when(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)).isoformat()


def _material(s: Session, wl: Watchlist) -> bytes:
    rows = WatchlistRepo(s).digest_rows(wl)
    doc: dict[str, Any] = {
        "v": 1,
        "watchlist": [wl.id, wl.embedder_family, wl.deployment_id],
        "entries": [[i, p, n, c, r, _when(x)] for i, p, n, c, r, x in rows.entries],
        "images": [list(r) for r in rows.images],
        "embeddings": [list(r) for r in rows.embeddings],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _keys(cipher: Cipher) -> list[bytes]:
    return [derive(raw, b"watchlist v1") for raw in cipher.raw_keys]


def _mac(key: bytes, material: bytes) -> str:
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def reseal(s: Session, cipher: Cipher, wl: Watchlist) -> str:
    """Recompute and store the digest with the newest key (call after every legitimate change)."""
    cipher.refresh()
    wl.integrity_digest = _mac(_keys(cipher)[0], _material(s, wl))
    return wl.integrity_digest


def is_valid(s: Session, cipher: Cipher, wl: Watchlist) -> bool | None:
    """True/False; None when the list has no digest (unsealed)."""
    if wl.integrity_digest is None:
        return None
    material = _material(s, wl)
    for attempt in (0, 1):
        if any(hmac.compare_digest(_mac(k, material), wl.integrity_digest) for k in _keys(cipher)):
            return True
        if attempt == 0 and not cipher.refresh():
            break
    return False


def check(s: Session, cipher: Cipher, wl: Watchlist) -> None:
    """Raise ``ConflictError`` unless the list matches its digest (an empty unsealed list passes)."""
    ok = is_valid(s, cipher, wl)
    if ok is None:
        if not WatchlistRepo(s).has_entries(wl.id):
            return
        raise ConflictError(
            f"watchlist {wl.name!r} has no integrity digest (written before integrity "
            "checks); an administrator must review it and run `openlfr keys reencrypt` to "
            "seal it",
            code="watchlist_unsealed",
        )
    if not ok:
        _raise_if_wrong_key(s, cipher, wl)
        raise ConflictError(
            f"watchlist {wl.name!r} does not match its integrity digest: entries, photos "
            "or embeddings were changed outside OpenLFR; refused",
            code="watchlist_integrity",
        )


def _raise_if_wrong_key(s: Session, cipher: Cipher, wl: Watchlist) -> None:
    """A digest also fails under a wrong key: say so (``wrong_key``) rather than report tampering."""
    refs = WatchlistRepo(s, cipher)
    vector = refs.first_vector(wl.id)
    if vector is None:
        return
    try:
        refs.open_vector(vector)
    except ConflictError:
        return  # the key is right; the value itself was tampered with


def record_failure(ctx: AppContext, watchlist_id: int, name: str, exc: ConflictError, during: str) -> None:
    """Audit a failed check in its own transaction (the caller's is rolled back by the raise)."""
    try:
        with ctx.db.session() as s:
            audit.record(
                s,
                ctx.settings.actor,
                "watchlist.integrity_failed",
                "watchlist",
                watchlist_id,
                {"watchlist": name, "code": exc.code, "during": during},
            )
    except Exception:  # never hide the integrity failure behind an audit failure
        log.exception("could not audit a watchlist integrity failure")
