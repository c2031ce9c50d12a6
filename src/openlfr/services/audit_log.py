"""Reading the audit log: search with filters and paging (for the console's audit page)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, select

from openlfr.errors import InputError, OpenLFRError
from openlfr.services.context import AppContext
from openlfr.storage import audit
from openlfr.storage.models import AuditEvent


def _iso(dt: datetime) -> str:
    return (dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)).isoformat()


def with_private(ctx: AppContext, s: Any, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """Each event's details with its private part resolved: ``details.private`` gains ``status``
    (``present``, ``purged`` by retention, ``altered``, or ``encrypted`` without a key) and ``data``."""
    try:
        cipher = ctx.cipher
    except OpenLFRError:
        cipher = None
    resolved = audit.private_details(s, cipher, events)
    out = []
    for e in events:
        det = dict(e.details or {})
        if e.seq in resolved:
            v = resolved[e.seq]
            det["private"] = {**det["private"], "status": "present" if isinstance(v, dict) else v,
                              "data": v if isinstance(v, dict) else None}
        out.append(det)
    return out


def search(ctx: AppContext, *, actor: str | None = None, action: str | None = None,
           object_type: str | None = None, object_id: str | None = None, text: str | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int = 50,
           offset: int = 0) -> dict[str, Any]:
    """``{data, count}``, newest first. ``action`` matches a prefix (``alert.`` = every alert event);
    ``text`` is a case-insensitive substring of the actor, action, object id or details."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InputError("limit must be 1..1000 and offset >= 0", code="bad_paging")
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
    if text:
        pat = f"%{text.lower()}%"
        q = q.where(or_(func.lower(AuditEvent.actor).like(pat), func.lower(AuditEvent.action).like(pat),
                        func.lower(AuditEvent.object_id).like(pat),
                        func.lower(cast(AuditEvent.details, String)).like(pat)))
    with ctx.db.session() as s:
        count = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = list(s.scalars(q.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)))
        details = with_private(ctx, s, rows)
        data = [{"seq": e.seq, "at": _iso(e.at), "actor": e.actor, "action": e.action,
                 "object_type": e.object_type, "object_id": e.object_id, "details": d,
                 "hash": e.hash} for e, d in zip(rows, details, strict=True)]
    return {"data": data, "count": count}
