"""Tamper-evident audit log (P6): an append-only, hash-chained table.

Each event's hash is ``sha256(prev_hash + "\\n" + canonical_json(seq, at, actor, action, object_type,
object_id, details))``; the first event's ``prev_hash`` is 64 zeros. Editing, deleting or reordering
any row breaks the chain from that row on, and :func:`verify` names the first broken link.

Personal data (person ids, names, free-text notes) stays out of the chain: ``record(...,
private=..., purge_key=...)`` writes it to an encrypted :class:`AuditDetail` row and puts only
``{"private": {"ref", "sha256"}}`` in the chained details, where ``sha256`` covers a random salt and
the content (so a short person id cannot be guessed back from it). Retention deletes the detail
rows of a purged alert (:func:`purge_private`); the chain still verifies, and readers show
"purged" (:func:`private_details`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from openlfr.storage.crypto import Cipher, bind
from openlfr.storage.models import AuditDetail, AuditEvent

GENESIS = "0" * 64


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite returns naive datetimes; they were written as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
) -> str:
    body = json.dumps(
        [seq, _iso(at), actor, action, object_type, object_id, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _aad(ref: str) -> bytes:
    return bind(AuditDetail.__tablename__, "data_enc", ref)


def record(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int = "",
    details: dict[str, Any] | None = None,
    *,
    private: dict[str, Any] | None = None,
    cipher: Cipher | None = None,
    purge_key: str | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (so the action and its record commit together).

    Never put face images, crops or embeddings in ``details``. Personal identifiers and free text
    go in ``private`` (needs ``cipher``): stored encrypted outside the chain, deletable by
    ``purge_key``.
    """
    if private:
        if cipher is None:
            raise ValueError("private audit details need the cipher")
        ref = secrets.token_hex(16)
        body = _canonical({"salt": secrets.token_hex(16), "data": private})
        session.add(AuditDetail(ref=ref, purge_key=purge_key, data_enc=cipher.encrypt(body, _aad(ref))))
        details = {**(details or {}), "private": {"ref": ref, "sha256": hashlib.sha256(body).hexdigest()}}
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
    ev = AuditEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=det,
        prev_hash=prev,
        hash=event_hash(prev, seq, at, actor, action, object_type, str(object_id), det),
    )
    session.add(ev)
    session.flush()
    return ev


def purge_private(session: Session, purge_key: str) -> int:
    """Delete the private details filed under ``purge_key`` (e.g. ``alert:12``); returns the count."""
    res = session.execute(delete(AuditDetail).where(AuditDetail.purge_key == purge_key))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


def private_details(
    session: Session, cipher: Cipher | None, events: list[AuditEvent]
) -> dict[int, dict[str, Any] | str]:
    """For each event with private details: the details, ``"purged"`` when deleted by retention,
    ``"altered"`` when the row no longer matches the chained digest, ``"encrypted"`` without a key."""
    return resolve_private(session, cipher, [(ev.seq, ev.details) for ev in events])


def resolve_private(
    session: Session, cipher: Cipher | None, events: list[tuple[int, Any]]
) -> dict[int, dict[str, Any] | str]:
    """:func:`private_details` for ``(seq, details)`` pairs."""
    refs = {
        seq: det["private"] for seq, det in events if isinstance(det, dict) and isinstance(det.get("private"), dict)
    }
    if not refs:
        return {}
    rows = {
        r.ref: r
        for r in session.scalars(
            select(AuditDetail).where(AuditDetail.ref.in_([str(p.get("ref")) for p in refs.values()]))
        )
    }
    out: dict[int, dict[str, Any] | str] = {}
    for seq, p in refs.items():
        row = rows.get(str(p.get("ref")))
        if row is None:
            out[seq] = "purged"
        elif cipher is None:
            out[seq] = "encrypted"
        else:
            try:
                body = cipher.decrypt(row.data_enc, _aad(row.ref))
            except Exception:
                out[seq] = "altered"
                continue
            if hashlib.sha256(body).hexdigest() != p.get("sha256"):
                out[seq] = "altered"
            else:
                out[seq] = dict(json.loads(body)["data"])
    return out


def check_private(session: Session, cipher: Cipher) -> tuple[int, int, list[int]]:
    """(present, purged, seqs whose detail row does not match its digest) over the whole log."""
    present = purged = 0
    bad: list[int] = []
    batch: list[AuditEvent] = []

    def flush() -> None:
        nonlocal present, purged
        for seq, v in private_details(session, cipher, batch).items():
            if v == "purged":
                purged += 1
            elif v == "altered":
                bad.append(seq)
            else:
                present += 1
        batch.clear()

    for ev in iter_events(session):
        batch.append(ev)
        if len(batch) >= 500:
            flush()
    flush()
    return present, purged, bad


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_seq": self.first_bad_seq, "problem": self.problem}


def iter_events(session: Session, batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
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
            return VerifyResult(
                False,
                n,
                ev.seq,
                f"sequence gap: expected {expected_seq}, found {ev.seq} (an event was deleted or reordered)",
            )
        if ev.prev_hash != prev:
            return VerifyResult(False, n, ev.seq, "prev_hash does not match the previous event's hash")
        h = event_hash(ev.prev_hash, ev.seq, ev.at, ev.actor, ev.action, ev.object_type, ev.object_id, ev.details)
        if h != ev.hash:
            return VerifyResult(False, n, ev.seq, "content does not match its hash (the event was edited)")
        prev = ev.hash
        expected_seq += 1
    return VerifyResult(True, n)
