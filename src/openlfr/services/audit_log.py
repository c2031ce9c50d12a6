"""Reading the audit log: search with filters and paging (for the console's audit page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, select

from openlfr.errors import InputError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.services.results import Page
from openlfr.storage import audit
from openlfr.storage.models import AuditEvent


def _iso(dt: datetime) -> str:
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)).isoformat()


@dataclass(frozen=True)
class AuditEventView:
    """One audit event as read back: the chained fields, its ``hash`` and its details (free-form: what the event
    recorded), whose ``private`` part is resolved by ``with_private``."""

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


def with_private(ctx: AppContext, s: Any, events: list[AuditEvent]) -> list[dict[str, Any]]:
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


def _filtered_query(
    actor: str | None,
    action: str | None,
    object_type: str | None,
    object_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Any:
    """The select of audit events matching the exact-field, action-prefix and time filters."""
    q = select(AuditEvent)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    if action:
        q = q.where(AuditEvent.action.startswith(action, autoescape=True))
    if object_type:
        q = q.where(AuditEvent.object_type == object_type)
    if object_id:
        q = q.where(AuditEvent.object_id == object_id)
    if since is not None:
        q = q.where(AuditEvent.at >= since)
    if until is not None:
        q = q.where(AuditEvent.at < until)
    return q


def _text_matching_seqs(ctx: AppContext, s: Any, q: Any, text: str) -> list[int]:
    """The seqs (newest first) of the events of ``q`` whose chained fields (matched in SQL) or private details
    (decrypted here) contain ``text``, case-insensitively."""
    pat = f"%{text.lower()}%"
    details_text = func.lower(cast(AuditEvent.details, String))
    chain_match = or_(
        func.lower(AuditEvent.actor).like(pat),
        func.lower(AuditEvent.action).like(pat),
        func.lower(AuditEvent.object_id).like(pat),
        details_text.like(pat),
    )
    cands = s.execute(
        q.with_only_columns(AuditEvent.seq, chain_match, AuditEvent.details)
        .where(or_(chain_match, details_text.like('%"private"%')))
        .order_by(AuditEvent.seq.desc())
    ).all()
    private = audit.resolve_private(s, _cipher_or_none(ctx), [(int(c[0]), c[2]) for c in cands if not c[1]])
    needle = text.lower()
    return [
        int(c[0])
        for c in cands
        if c[1]
        or (
            isinstance(private.get(int(c[0])), dict)
            and needle in json.dumps(private[int(c[0])], ensure_ascii=False, default=str).lower()
        )
    ]


def _event_views(
    ctx: AppContext, s: Any, rows: list[AuditEvent], at: Callable[[datetime], str] = _iso
) -> list[AuditEventView]:
    """The rows as views, ``at`` written by ``at`` (default ISO UTC), private details resolved."""
    details = with_private(ctx, s, rows)
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
    q = _filtered_query(actor, action, object_type, object_id, since, until)
    with ctx.db.session() as s:
        if text:
            seqs = _text_matching_seqs(ctx, s, q, text)
            count = len(seqs)
            page = seqs[offset : offset + limit]
            rows = (
                list(s.scalars(select(AuditEvent).where(AuditEvent.seq.in_(page)).order_by(AuditEvent.seq.desc())))
                if page
                else []
            )
        else:
            count = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = list(s.scalars(q.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)))
        return AuditPage(_event_views(ctx, s, rows), count)


def newest(ctx: AppContext, limit: int = 50) -> list[AuditEventView]:
    """The newest ``limit`` events, newest first, each with its private details resolved
    (:func:`with_private`); ``at`` as stored (``openlfr audit list``)."""
    with ctx.db.session() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)))
        return _event_views(ctx, s, events, at=datetime.isoformat)
