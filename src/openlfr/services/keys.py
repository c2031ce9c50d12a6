"""Encryption-key rotation (P7), safe while deployments run.

``rotate``: generate a new key and write the key file as ``NEW,OLD...``. Every process that uses
the key file notices the change (see :mod:`openlfr.storage.crypto`): from then on it encrypts
with the new key, and a value under a key it does not hold makes it re-read the file. After a
grace period (in-flight writes made with the old key commit), every value not yet under the new
key is re-encrypted in batches (compare-and-swap per row, so a concurrent write is never
overwritten), repeated until a pass finds none; watchlist digests are re-signed (only lists that
verify); then the key file is rewritten with the new key only. If the process dies in between,
the key file still holds both keys: run ``openlfr keys reencrypt`` to finish.

The one remaining window: a write transaction that encrypted with the old key *before* the key
file changed and commits only after the last pass (i.e. one lasting longer than the grace period
plus the re-encryption) would be left under the retired key; ``keys reencrypt`` with the old key
restored first in the file recovers it.

Encrypted columns: watchlist photos and embeddings, alert images, camera stream URLs, private
audit details (see :mod:`openlfr.storage.sealed`). Re-encryption also upgrades version-1
(unbound Fernet) values to the bound v2 format and fills missing content hashes. With the key
in ``OPENLFR_KEY`` the file cannot be rewritten: set ``OPENLFR_KEY=NEW,OLD``, run ``openlfr keys
reencrypt``, then set ``OPENLFR_KEY=NEW``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from openlfr.errors import ConfigError
from openlfr.services import watchlist_integrity
from openlfr.services.context import AppContext
from openlfr.settings import Settings
from openlfr.storage import audit
from openlfr.storage.audit_anchor import write_anchor
from openlfr.storage.crypto import Cipher, create_key_file, load_cipher
from openlfr.storage.db import Database
from openlfr.storage.repos.audit import AuditRepo
from openlfr.storage.repos.sealed import COLUMNS, SealedColumns
from openlfr.storage.repos.sealed import ENCRYPTED_COLUMNS as ENCRYPTED_COLUMNS
from openlfr.storage.repos.watchlists import WatchlistRepo

log = logging.getLogger(__name__)
BATCH = 200
GRACE_S = 2.0
MAX_PASSES = 10


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


def refuse_new_key_over_ciphertext(settings: Settings) -> None:
    """Raise ``ConfigError`` (``key_missing``) if the database already holds encrypted values:
    a new key could not decrypt them. Reads only; changes nothing."""
    if settings.database_url is None and not (settings.data_dir / "openlfr.db").exists():
        return
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            n = SealedColumns(s).stored_values()
    finally:
        db.dispose()
    if n:
        raise ConfigError(
            f"the database holds {n} encrypted value(s) but there is no key file at "
            f"{settings.resolved_key_file}: restore the key file (or set OPENLFR_KEY); a new key "
            "would make that data unreadable, so none was created",
            code="key_missing",
        )


@dataclass(frozen=True)
class InitResult:
    """What ``openlfr init`` set up."""

    data_dir: str
    database: str
    key: str
    key_created: bool


def initialise(settings: Settings) -> InitResult:
    """``openlfr init``: create the data dir (0700), the key file (0600, unless the key is in the
    environment) and the migrated database; returns what was set up. A lost or moved key file is never
    silently replaced (:func:`refuse_new_key_over_ciphertext`, checked before anything changes on disk)."""
    if settings.key is None and not settings.resolved_key_file.exists():
        refuse_new_key_over_ciphertext(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    created_key = False if settings.key is not None else create_key_file(settings.resolved_key_file)
    load_cipher(settings)  # refuses a malformed or world-readable key before anything is stored
    db = Database(settings.db_url)
    db.upgrade()
    db.dispose()
    return InitResult(
        data_dir=str(settings.data_dir),
        database=settings.db_url.split("@")[-1],
        key="environment" if settings.key is not None else str(settings.resolved_key_file),
        key_created=created_key,
    )


def _stale_pass(
    ctx: AppContext, cipher: Cipher, counts: dict[str, int], progress: Callable[[str, int], None] | None
) -> int:
    """Re-encrypt every value not under ``cipher``'s first key; returns how many were rewritten."""
    total = 0
    for column in COLUMNS:
        counts.setdefault(column, 0)
        last = 0
        while True:
            with ctx.db.session() as s:
                batch = SealedColumns(s, cipher).reencrypt_stale(column, last, BATCH)
            if batch.last_id is None:
                break
            last = batch.last_id
            counts[column] += batch.rewritten
            total += batch.rewritten
            if progress:
                progress(column, counts[column])
    return total


def reencrypt_all(
    ctx: AppContext, cipher: Cipher, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Re-encrypt every value with ``cipher``'s first key (decrypting with any of its keys), in
    passes until one finds nothing left under another key (or in the v1 format)."""
    counts: dict[str, int] = {}
    for _ in range(MAX_PASSES):
        if _stale_pass(ctx, cipher, counts, progress) == 0:
            break
    ctx.db.checkpoint()
    return counts


def reseal_watchlists(ctx: AppContext, cipher: Cipher, actor: str, seal_unsealed: bool) -> dict[str, list[str]]:
    """Re-sign each list's integrity digest with the first key; never re-sign one that fails.
    With ``seal_unsealed``, lists without a digest (written before the check existed) are sealed."""
    out: dict[str, list[str]] = {"resealed": [], "sealed": [], "failed": []}
    with ctx.db.session() as s:
        for wl in WatchlistRepo(s).all_by_id():
            ok = watchlist_integrity.is_valid(s, cipher, wl)
            if ok is None and seal_unsealed:
                watchlist_integrity.reseal(s, cipher, wl)
                out["sealed"].append(wl.name)
                audit.record(s, actor, "watchlist.seal", "watchlist", wl.id, {"watchlist": wl.name})
            elif ok:
                watchlist_integrity.reseal(s, cipher, wl)
                out["resealed"].append(wl.name)
            elif ok is False:
                out["failed"].append(wl.name)
    return out


def _refresh_anchor(ctx: AppContext) -> None:
    with ctx.db.session() as s:
        head = AuditRepo(s).head()
    if head is not None:
        write_anchor(ctx.settings, head[0], head[1], force=True)


@dataclass(frozen=True)
class Rotated:
    key_file: str
    new_key_id: str
    retired_key_ids: list[str]
    reencrypted: dict[str, int]
    """Values re-encrypted, per table and column."""
    watchlists: dict[str, list[str]]
    """Names of the lists re-sealed (``resealed``) and of those failing their integrity check (``failed``)."""


@dataclass(frozen=True)
class Reencrypted:
    key_id: str
    """The key everything is now encrypted with."""
    retired_key_ids: list[str]
    reencrypted: dict[str, int]
    watchlists: dict[str, list[str]]
    """Names of the lists sealed now (``sealed``) and of those failing their integrity check (``failed``)."""


def rotate(
    ctx: AppContext, actor: str, progress: Callable[[str, int], None] | None = None, grace_s: float = GRACE_S
) -> Rotated:
    if ctx.settings.key is not None:
        raise ConfigError(
            "the key comes from OPENLFR_KEY: set OPENLFR_KEY=NEW,OLD, run `openlfr keys reencrypt`, "
            "then set OPENLFR_KEY=NEW",
            code="key_in_environment",
        )
    path = ctx.settings.resolved_key_file
    load_cipher(ctx.settings)  # refuses a missing, malformed or world-readable key file
    old = _read_keys(path)
    new = Fernet.generate_key()
    _write_keys(path, [new, *old])  # every process now encrypts with NEW; OLD kept for reading
    cipher = Cipher([new, *old])
    time.sleep(grace_s)  # let writes that encrypted with OLD just before the switch commit
    counts = reencrypt_all(ctx, cipher, progress)
    lists = reseal_watchlists(ctx, cipher, actor, seal_unsealed=False)
    time.sleep(grace_s)
    for name, n in reencrypt_all(ctx, cipher, progress).items():  # stragglers from the passes above
        counts[name] = counts.get(name, 0) + n
    _write_keys(path, [new])
    ctx.__dict__.pop("cipher", None)
    with ctx.db.session() as s:
        audit.record(
            s,
            actor,
            "keys.rotate",
            "key",
            fingerprint(new),
            {
                "new_key_id": fingerprint(new),
                "retired_key_ids": [fingerprint(k) for k in old],
                "reencrypted": counts,
                "watchlists_resealed": len(lists["resealed"]),
                "watchlists_failing_integrity": lists["failed"],
            },
        )
    _refresh_anchor(ctx)  # re-sign the anchor with the new key
    return Rotated(
        key_file=str(path),
        new_key_id=fingerprint(new),
        retired_key_ids=[fingerprint(k) for k in old],
        reencrypted=counts,
        watchlists=lists,
    )


def reencrypt(
    ctx: AppContext, actor: str, drop_old: bool = True, progress: Callable[[str, int], None] | None = None
) -> Reencrypted:
    """Finish (or redo) a rotation: re-encrypt everything with the first configured key; with a key file
    and ``drop_old``, then keep only that key."""
    cipher = load_cipher(ctx.settings)
    if ctx.settings.key is not None:
        keys = [k.strip().encode() for k in ctx.settings.key.get_secret_value().split(",") if k.strip()]
    else:
        keys = _read_keys(ctx.settings.resolved_key_file)
    counts = reencrypt_all(ctx, cipher, progress)
    lists = reseal_watchlists(ctx, cipher, actor, seal_unsealed=True)
    dropped: list[str] = []
    if ctx.settings.key is None and drop_old and len(keys) > 1:
        _write_keys(ctx.settings.resolved_key_file, keys[:1])
        dropped = [fingerprint(k) for k in keys[1:]]
        ctx.__dict__.pop("cipher", None)
    with ctx.db.session() as s:
        audit.record(
            s,
            actor,
            "keys.reencrypt",
            "key",
            fingerprint(keys[0]),
            {
                "key_id": fingerprint(keys[0]),
                "retired_key_ids": dropped,
                "reencrypted": counts,
                "watchlists_sealed": lists["sealed"],
                "watchlists_failing_integrity": lists["failed"],
            },
        )
    _refresh_anchor(ctx)
    return Reencrypted(key_id=fingerprint(keys[0]), retired_key_ids=dropped, reencrypted=counts, watchlists=lists)
