"""Tamper-evident audit log (P6): an append-only, hash-chained table.

Each event's hash is ``sha256(prev_hash + "\\n" + canonical_json(seq, at, actor, action, object_type,
object_id, details))``; the first event's ``prev_hash`` is 64 zeros. Editing, deleting or reordering
any row breaks the chain from that row on, and :func:`verify` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from openlfr.storage.models import AuditEvent

GENESIS = "0" * 64


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite returns naive datetimes; they were written as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, object_type: str,
               object_id: str, details: dict[str, Any]) -> str:
    body = json.dumps([seq, _iso(at), actor, action, object_type, object_id, details],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def record(session: Session, actor: str, action: str, object_type: str, object_id: str | int = "",
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event in the caller's transaction (so the action and its record commit together).

    Never put face images, crops or embeddings in ``details``.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # One appender at a time across processes, for the length of this transaction.
        session.execute(text("SELECT pg_advisory_xact_lock(7436215)"))
    elif dialect == "sqlite":
        # pysqlite starts the transaction only at the first write: take SQLite's write lock before
        # reading the head, or a concurrent appender can commit the same seq in between.
        session.execute(text("UPDATE audit_events SET seq = seq WHERE 0"))
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
    at = datetime.now(UTC)
    det = json.loads(json.dumps(details or {}, default=str))
    ev = AuditEvent(seq=seq, at=at, actor=actor, action=action, object_type=object_type,
                    object_id=str(object_id), details=det, prev_hash=prev,
                    hash=event_hash(prev, seq, at, actor, action, object_type, str(object_id), det))
    session.add(ev)
    session.flush()
    return ev


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_seq": self.first_bad_seq,
                "problem": self.problem}


def iter_events(session: Session, batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > last)
                               .order_by(AuditEvent.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session) -> VerifyResult:
    """Recompute the chain; report the first event whose link or content does not check out."""
    prev = GENESIS
    expected_seq = 1
    n = 0
    for ev in iter_events(session):
        n += 1
        if ev.seq != expected_seq:
            return VerifyResult(False, n, ev.seq, f"sequence gap: expected {expected_seq}, found {ev.seq} "
                                                  "(an event was deleted or reordered)")
        if ev.prev_hash != prev:
            return VerifyResult(False, n, ev.seq, "prev_hash does not match the previous event's hash")
        h = event_hash(ev.prev_hash, ev.seq, ev.at, ev.actor, ev.action, ev.object_type, ev.object_id,
                       ev.details)
        if h != ev.hash:
            return VerifyResult(False, n, ev.seq, "content does not match its hash (the event was edited)")
        prev = ev.hash
        expected_seq += 1
    return VerifyResult(True, n)
