"""Reads of the audit log (writing stays ``openlfr.storage.audit.record``; the chain, private-detail and
export helpers that walk the whole log stay in ``openlfr.storage.audit``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from openlfr.storage.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    """Which events a page or count covers: exact actor, object type and id, an ``action`` prefix
    (``alert.`` = every alert event) and the time range ``[since, until)``."""

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> Select[AuditEvent]:
        """The select of the events matching the filter."""
        q = select(AuditEvent)
        if self.actor:
            q = q.where(AuditEvent.actor == self.actor)
        if self.action:
            q = q.where(AuditEvent.action.startswith(self.action, autoescape=True))
        if self.object_type:
            q = q.where(AuditEvent.object_type == self.object_type)
        if self.object_id:
            q = q.where(AuditEvent.object_id == self.object_id)
        if self.since is not None:
            q = q.where(AuditEvent.at >= self.since)
        if self.until is not None:
            q = q.where(AuditEvent.at < self.until)
        return q


class AuditRepo:
    """Queries over the audit log in one open session."""

    def __init__(self, s: Session) -> None:
        self.s = s

    def count(self, f: AuditFilter | None = None) -> int:
        """How many events (matching ``f``)."""
        q = (f or AuditFilter()).query()
        return int(self.s.scalar(select(func.count()).select_from(q.subquery())) or 0)

    def page(self, f: AuditFilter, limit: int, offset: int) -> list[AuditEvent]:
        """Events matching ``f``, newest first."""
        return list(self.s.scalars(f.query().order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)))

    def newest(self, limit: int) -> list[AuditEvent]:
        """The newest ``limit`` events, newest first."""
        return list(self.s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)))

    def by_seqs(self, seqs: list[int]) -> list[AuditEvent]:
        """The events with these seqs, newest first."""
        if not seqs:
            return []
        return list(self.s.scalars(select(AuditEvent).where(AuditEvent.seq.in_(seqs)).order_by(AuditEvent.seq.desc())))

    def text_candidates(self, f: AuditFilter, text: str) -> list[tuple[int, bool, Any]]:
        """(seq, whether the chained fields contain ``text``, details) of the events matching ``f`` whose actor,
        action, object id or details contain ``text`` (any case) or that have private details, newest first."""
        pat = f"%{text.lower()}%"
        details_text = func.lower(cast(AuditEvent.details, String))
        chain_match = or_(
            func.lower(AuditEvent.actor).like(pat),
            func.lower(AuditEvent.action).like(pat),
            func.lower(AuditEvent.object_id).like(pat),
            details_text.like(pat),
        )
        rows = self.s.execute(
            f.query()
            .with_only_columns(AuditEvent.seq, chain_match, AuditEvent.details)
            .where(or_(chain_match, details_text.like('%"private"%')))
            .order_by(AuditEvent.seq.desc())
        ).all()
        return [(int(r[0]), bool(r[1]), r[2]) for r in rows]

    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the newest event, or None for an empty log."""
        row = self.s.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def hash_at(self, seq: int) -> str | None:
        """The stored hash of event ``seq`` (None when there is no such event)."""
        return self.s.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
