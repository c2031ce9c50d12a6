"""Alert review at scale: the alert list filtered and sorted, and what a reviewer needs beside one
alert (the watchlist entry's reason, and earlier decisions about the same person)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from openlfr.errors import InputError
from openlfr.services.alerts import AlertPage, _get_alert, alert_views
from openlfr.services.context import AppContext
from openlfr.storage.models import WatchlistEntry
from openlfr.storage.models_gov import Alert

SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (Alert.occurred_at.desc(), Alert.id.desc()),
    "oldest": (Alert.occurred_at.asc(), Alert.id.asc()),
    "score_desc": (Alert.score.desc(), Alert.id.desc()),
    "score_asc": (Alert.score.asc(), Alert.id.asc()),
}
VERDICTS = ("true", "false", "open")


@dataclass(frozen=True)
class ContextEntry:
    """What the watchlist says about the alerted person (while the entry exists)."""

    person_id: str
    name: str
    category: str
    reason: str
    added_by: str | None
    added_at: str | None


@dataclass(frozen=True)
class PreviousDecision:
    """An earlier, adjudicated alert for the same person id."""

    id: int
    deployment_id: int | None
    camera: str
    occurred_at: str | None
    score: float
    verdict: str | None
    outcome: str | None
    adjudicated_by: str | None
    adjudicated_at: str | None


@dataclass(frozen=True)
class ReviewContext:
    alert_id: int
    watchlist_entry: ContextEntry | None
    previous_decisions: list[PreviousDecision]


def filter_alerts(
    ctx: AppContext,
    *,
    deployment: int | None = None,
    unadjudicated: bool = False,
    include_purged: bool = False,
    camera: str | None = None,
    person: str | None = None,
    verdict: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    sort: str = "newest",
    limit: int = 50,
    offset: int = 0,
) -> AlertPage:
    """A page of alerts. ``person`` matches the person id or name (substring, any case); ``verdict``
    is true, false or open; ``since``/``until`` bound the alert time ``[since, until)``."""
    if sort not in SORTS:
        raise InputError(f"sort must be one of {', '.join(SORTS)}", code="bad_sort")
    if verdict is not None and verdict not in VERDICTS:
        raise InputError(f"verdict must be one of {', '.join(VERDICTS)}", code="bad_verdict")
    if not 1 <= limit <= 10_000 or offset < 0:
        raise InputError("limit must be 1..10000 and offset >= 0", code="bad_paging")
    conds: list[ColumnElement[bool]] = []
    if deployment is not None:
        conds.append(Alert.deployment_id == deployment)
    if unadjudicated or verdict == "open":
        conds.append(Alert.verdict.is_(None))
    elif verdict is not None:
        conds.append(Alert.verdict == verdict)
    if not include_purged:
        conds.append(Alert.purged_at.is_(None))
    if camera:
        conds.append(Alert.camera == camera)
    if person:
        needle = person.lower()
        conds.append(
            func.lower(Alert.person_id).contains(needle, autoescape=True)
            | func.lower(Alert.display_name).contains(needle, autoescape=True)
        )
    if since is not None:
        conds.append(Alert.occurred_at >= since)
    if until is not None:
        conds.append(Alert.occurred_at < until)
    if min_score is not None:
        conds.append(Alert.score >= min_score)
    if max_score is not None:
        conds.append(Alert.score <= max_score)
    with ctx.db.session() as s:
        q = select(Alert).where(*conds)
        count = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
        rows = list(s.scalars(q.order_by(*SORTS[sort]).limit(limit).offset(offset)))
        return AlertPage(alert_views(s, rows), count)


def review_context(ctx: AppContext, ref: int | str) -> ReviewContext:
    """The entry's reason and category (while the entry exists) and every other decided alert for the
    same person id, newest first (metadata only)."""
    with ctx.db.session() as s:
        a = _get_alert(s, ref)
        entry = s.get(WatchlistEntry, a.entry_id) if a.entry_id is not None else None
        watchlist = None
        if entry is not None:
            watchlist = ContextEntry(
                person_id=entry.person_id,
                name=entry.display_name,
                category=entry.category,
                reason=entry.reason,
                added_by=entry.added_by,
                added_at=entry.added_at.isoformat() if entry.added_at else None,
            )
        previous: list[PreviousDecision] = []
        if a.person_id:
            earlier = list(
                s.scalars(
                    select(Alert)
                    .where(Alert.person_id == a.person_id, Alert.id != a.id, Alert.verdict.is_not(None))
                    .order_by(Alert.occurred_at.desc())
                    .limit(20)
                )
            )
            previous = [
                PreviousDecision(
                    id=d.id,
                    deployment_id=d.deployment_id,
                    camera=d.camera,
                    occurred_at=d.occurred_at,
                    score=d.score,
                    verdict=d.verdict,
                    outcome=d.outcome,
                    adjudicated_by=d.adjudicated_by,
                    adjudicated_at=d.adjudicated_at,
                )
                for d in alert_views(s, earlier)
            ]
        return ReviewContext(a.id, watchlist, previous)
