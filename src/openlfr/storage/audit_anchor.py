"""An anchor for the audit chain's head, kept outside the database.

A hash chain detects edits, deletions and reorderings inside the log, but not the removal of the
newest events (the shortened chain is still a valid chain), nor a chain rebuilt from scratch by
someone who can write to the database. The anchor closes both gaps: after every commit that
appended audit events, the head ``(seq, hash)`` is written to ``<data_dir>/audit-anchor.json``,
with an HMAC-SHA256 under a key derived (HKDF-SHA256) from the encryption key, which is itself
outside the database. ``openlfr audit verify`` then checks that the anchored event still exists
with the anchored hash and that the log does not end before it.

Limits (documented in docs/governance.md): someone who holds the encryption key and can write to
both the database and the data dir can forge anything; deleting the anchor file is reported as
"anchor missing"; processes writing from other hosts (PostgreSQL) keep their own anchors.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import logging
import os
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.settings import Settings
from openlfr.storage.models import AuditEvent

log = logging.getLogger(__name__)
ANCHOR_NAME = "audit-anchor.json"


def raw_keys(settings: Settings) -> list[bytes]:
    """The configured Fernet keys (newest first) as raw 32-byte secrets; [] when none is available."""
    if settings.key is not None:
        text = settings.key.get_secret_value()
    else:
        path = settings.resolved_key_file
        if not path.is_file():
            return []
        text = path.read_text()
    out = []
    for k in text.replace("\n", ",").split(","):
        k = k.strip()
        if not k:
            continue
        try:
            raw = base64.urlsafe_b64decode(k.encode())
        except (ValueError, TypeError):
            continue
        if len(raw) == 32:
            out.append(raw)
    return out


def derive(raw_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"openlfr " + purpose).derive(raw_key)


def key_id(derived: bytes) -> str:
    return hashlib.sha256(derived).hexdigest()[:12]


def audit_keys(settings: Settings) -> list[bytes]:
    """HMAC keys for anchors and exports, one per configured encryption key (signing key first)."""
    return [derive(k, b"audit v1") for k in raw_keys(settings)]


def _mac(key: bytes, seq: int, head: str) -> str:
    return hmac.new(key, f"openlfr-audit-anchor\n{seq}\n{head}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str
    mac: str | None
    key_id: str | None

    def check_mac(self, keys: list[bytes]) -> bool | None:
        """True/False, or None when unsigned or no key is available."""
        if self.mac is None or not keys:
            return None
        return any(hmac.compare_digest(_mac(k, self.seq, self.hash), self.mac) for k in keys)


def anchor_path(settings: Settings) -> Path:
    return settings.data_dir / ANCHOR_NAME


def read_anchor(path: Path) -> Anchor | None:
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        return Anchor(int(d["seq"]), str(d["hash"]), str(d.get("at", "")), d.get("mac"), d.get("key_id"))
    except (ValueError, KeyError, TypeError):
        return Anchor(-1, "", "", None, None)  # unreadable: verify reports it


def write_anchor(settings: Settings, seq: int, head: str, force: bool = False) -> None:
    """Atomically record the head, signed; never moves the anchor backwards unless ``force``.

    Never writes an unsigned anchor: without a key it raises ``ConfigError`` (``no_key``)."""
    keys = audit_keys(settings)
    if not keys:
        raise ConfigError("no encryption key available to sign the audit anchor", code="no_key")
    path = anchor_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_suffix(".lock")
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        cur = read_anchor(path)
        if cur is not None and cur.seq >= seq and not force:
            return
        body = {
            "seq": seq,
            "hash": head,
            "at": datetime.now(UTC).isoformat(),
            "mac": _mac(keys[0], seq, head),
            "key_id": key_id(keys[0]),
        }
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(tfd, "w") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


_ENGINES: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()
_INFO_KEY = "openlfr_audit_head"


def _engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    if isinstance(bind, Engine):
        return bind
    return bind.engine if bind is not None else None


def _after_flush(session: Session, _ctx: Any) -> None:
    heads = [(ev.seq, ev.hash) for ev in session.new if isinstance(ev, AuditEvent)]
    if heads:
        cur = session.info.get(_INFO_KEY)
        best = max(heads)
        session.info[_INFO_KEY] = best if cur is None or best > cur else cur


def _after_commit(session: Session) -> None:
    head = session.info.pop(_INFO_KEY, None)
    if head is None:
        return
    try:
        engine = _engine_of(session)
    except Exception:  # a session without a bind: nothing to anchor
        return
    settings = _ENGINES.get(engine) if engine is not None else None
    if settings is None:
        return
    try:
        write_anchor(settings, int(head[0]), str(head[1]))
    except (OSError, ConfigError) as exc:
        log.warning("could not update the audit anchor: %s", exc)


def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


_installed = False


def install_anchor(engine: Engine, settings: Settings) -> None:
    """Keep the anchor of every audit event committed through ``engine`` up to date."""
    global _installed
    _ENGINES[engine] = settings
    if not _installed:
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
        _installed = True
