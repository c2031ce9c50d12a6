"""Encryption-key rotation (P7).

``rotate``: generate a new key, write the key file as ``NEW,OLD...`` (the old keys stay so every
blob still decrypts), re-encrypt every encrypted column with the new key in batches (each batch
its own transaction), then rewrite the key file with the new key only. If the process dies in
between, the key file still holds both keys: run ``openlfr keys reencrypt`` to finish.

Encrypted columns: watchlist photos and embeddings, alert images, camera stream URLs. With the
key in ``OPENLFR_KEY`` the file cannot be rewritten: set ``OPENLFR_KEY=NEW,OLD``, run
``openlfr keys reencrypt``, then set ``OPENLFR_KEY=NEW``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select, update

from openlfr.errors import ConfigError
from openlfr.services.context import AppContext
from openlfr.storage import audit
from openlfr.storage.audit_anchor import write_anchor
from openlfr.storage.crypto import Cipher, load_cipher
from openlfr.storage.models import AuditEvent, ReferenceEmbedding, ReferenceImage
from openlfr.storage.models_gov import AlertImage, DeploymentCamera

log = logging.getLogger(__name__)
BATCH = 200

ENCRYPTED_COLUMNS: tuple[tuple[Any, str], ...] = (
    (ReferenceImage, "image_enc"),
    (ReferenceEmbedding, "vector_enc"),
    (AlertImage, "data_enc"),
    (DeploymentCamera, "url_enc"),
)


def fingerprint(key: bytes) -> str:
    """A short, non-secret identifier of a key (for the audit log)."""
    return hashlib.sha256(b"openlfr key id\n" + key.strip()).hexdigest()[:12]


def _read_keys(path: Path) -> list[bytes]:
    return [k.strip().encode() for k in path.read_text().replace("\n", ",").split(",") if k.strip()]


def _write_keys(path: Path, keys: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(",".join(k.decode() for k in keys) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def reencrypt_all(ctx: AppContext, cipher: Cipher,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-encrypt every encrypted value with ``cipher``'s first key (decrypting with any of its keys)."""
    counts: dict[str, int] = {}
    for model, column in ENCRYPTED_COLUMNS:
        col = getattr(model, column)
        name = f"{model.__tablename__}.{column}"
        counts[name] = 0
        last = 0
        while True:
            with ctx.db.session() as s:
                rows = s.execute(select(model.id, col).where(model.id > last).order_by(model.id)
                                 .limit(BATCH)).all()
                if not rows:
                    break
                for rid, token in rows:
                    s.execute(update(model).where(model.id == rid).values({column: cipher.rotate(token)}))
                last = int(rows[-1][0])
                counts[name] += len(rows)
            if progress:
                progress(name, counts[name])
    ctx.db.checkpoint()
    return counts


def _refresh_anchor(ctx: AppContext) -> None:
    with ctx.db.session() as s:
        head = s.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    if head is not None:
        write_anchor(ctx.settings, int(head[0]), str(head[1]), force=True)


def rotate(ctx: AppContext, actor: str, progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    if ctx.settings.key is not None:
        raise ConfigError("the key comes from OPENLFR_KEY: set OPENLFR_KEY=NEW,OLD, run `openlfr keys reencrypt`, "
                          "then set OPENLFR_KEY=NEW", code="key_in_environment")
    path = ctx.settings.resolved_key_file
    load_cipher(ctx.settings)  # refuses a missing, malformed or world-readable key file
    old = _read_keys(path)
    new = Fernet.generate_key()
    _write_keys(path, [new, *old])  # old keys kept until every blob is re-encrypted
    cipher = Cipher([new, *old])
    counts = reencrypt_all(ctx, cipher, progress)
    _write_keys(path, [new])
    ctx.__dict__.pop("cipher", None)
    with ctx.db.session() as s:
        audit.record(s, actor, "keys.rotate", "key", fingerprint(new),
                     {"new_key_id": fingerprint(new), "retired_key_ids": [fingerprint(k) for k in old],
                      "reencrypted": counts})
    _refresh_anchor(ctx)  # re-sign the anchor with the new key
    return {"key_file": str(path), "new_key_id": fingerprint(new), "retired_key_ids": [fingerprint(k) for k in old],
            "reencrypted": counts}


def reencrypt(ctx: AppContext, actor: str, drop_old: bool = True,
              progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Finish (or redo) a rotation: re-encrypt everything with the first configured key; with a key file
    and ``drop_old``, then keep only that key."""
    cipher = load_cipher(ctx.settings)
    if ctx.settings.key is not None:
        keys = [k.strip().encode() for k in ctx.settings.key.get_secret_value().split(",") if k.strip()]
    else:
        keys = _read_keys(ctx.settings.resolved_key_file)
    counts = reencrypt_all(ctx, cipher, progress)
    dropped: list[str] = []
    if ctx.settings.key is None and drop_old and len(keys) > 1:
        _write_keys(ctx.settings.resolved_key_file, keys[:1])
        dropped = [fingerprint(k) for k in keys[1:]]
        ctx.__dict__.pop("cipher", None)
    with ctx.db.session() as s:
        audit.record(s, actor, "keys.reencrypt", "key", fingerprint(keys[0]),
                     {"key_id": fingerprint(keys[0]), "retired_key_ids": dropped, "reencrypted": counts})
    _refresh_anchor(ctx)
    return {"key_id": fingerprint(keys[0]), "retired_key_ids": dropped, "reencrypted": counts}
