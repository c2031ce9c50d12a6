"""Reading the audit log: search with filters and paging (for the console's audit page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from openlfr.errors import InputError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.services.results import Page
from openlfr.storage import audit
from openlfr.storage.models import AuditEvent
from openlfr.storage.repos.audit import AuditFilter, AuditRepo


def _iso(dt: datetime) -> str:
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)).isoformat()


@dataclass(frozen=True)
class AuditEventView:
    """One audit event as read back: the chained fields, its ``hash`` and its details (free-form: what the event
    recorded), whose ``private`` part is resolved by ``_with_private``."""

    seq: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    hash: str


AuditPage = Page[AuditEventView]
"""Newest first."""


def _with_private(ctx: AppContext, s: Any, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """Each event's details with its private part resolved: ``details.private`` gains ``status``
    (``present``, ``purged`` by retention, ``altered``, or ``encrypted`` without a key) and ``data``."""
    resolved = audit.private_details(s, _cipher_or_none(ctx), events)
    out = []
    for e in events:
        det = dict(e.details or {})
        if e.seq in resolved:
            v = resolved[e.seq]
            det["private"] = {
                **det["private"],
                "status": "present" if isinstance(v, dict) else v,
                "data": v if isinstance(v, dict) else None,
            }
        out.append(det)
    return out


def _cipher_or_none(ctx: AppContext) -> Any:
    """The context's cipher, or None when no key is configured (private details then stay encrypted)."""
    try:
        return ctx.cipher
    except OpenLFRError:
        return None


def _text_matching_seqs(ctx: AppContext, s: Session, f: AuditFilter, text: str) -> list[int]:
    """The seqs (newest first) of the events matching ``f`` whose chained fields (matched in SQL) or private
    details (decrypted here) contain ``text``, case-insensitively."""
    cands = AuditRepo(s).text_candidates(f, text)
    private = audit.resolve_private(s, _cipher_or_none(ctx), [(seq, det) for seq, hit, det in cands if not hit])
    needle = text.lower()
    return [
        seq
        for seq, hit, _ in cands
        if hit
        or (
            isinstance(private.get(seq), dict)
            and needle in json.dumps(private[seq], ensure_ascii=False, default=str).lower()
        )
    ]


def _event_views(
    ctx: AppContext, s: Any, rows: list[AuditEvent], at: Callable[[datetime], str] = _iso
) -> list[AuditEventView]:
    """The rows as views, ``at`` written by ``at`` (default ISO UTC), private details resolved."""
    details = _with_private(ctx, s, rows)
    return [
        AuditEventView(
            seq=e.seq,
            at=at(e.at),
            actor=e.actor,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            details=d,
            hash=e.hash,
        )
        for e, d in zip(rows, details, strict=True)
    ]


def search(
    ctx: AppContext,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    text: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """A page of events, newest first. ``action`` matches a prefix (``alert.`` = every alert event);
    ``text`` is a case-insensitive substring of the actor, action, object id or details, including
    the private details while they exist (e.g. every event about one person id)."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InputError("limit must be 1..1000 and offset >= 0", code="bad_paging")
    f = AuditFilter(actor, action, object_type, object_id, since, until)
    with ctx.db.session() as s:
        events = AuditRepo(s)
        if text:
            seqs = _text_matching_seqs(ctx, s, f, text)
            count = len(seqs)
            rows = events.by_seqs(seqs[offset : offset + limit])
        else:
            count = events.count(f)
            rows = events.page(f, limit, offset)
        return AuditPage(_event_views(ctx, s, rows), count)


def newest(ctx: AppContext, limit: int = 50) -> list[AuditEventView]:
    """The newest ``limit`` events, newest first, each with its private details resolved
    (:func:`_with_private`); ``at`` as stored (``openlfr audit list``)."""
    with ctx.db.session() as s:
        return _event_views(ctx, s, AuditRepo(s).newest(limit), at=datetime.isoformat)
